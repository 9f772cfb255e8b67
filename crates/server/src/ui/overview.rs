//! `/`: events and alerts over time, open incidents by priority band, the riskiest entities
//! and the top of the queue.

use axum::extract::{Query, State};
use chrono::{Duration, Utc};
use maud::html;
use palisade_store::{IncidentFilter, Series, Store};
use serde::Deserialize;

use super::layout::{self, Nav};
use super::{PageResult, SignedIn, charts};
use crate::api::entities::top_entities;
use crate::api::misc::status_of;
use crate::state::AppState;

/// Chart ranges offered: (name, span seconds, bucket seconds).
const RANGES: [(&str, i64, i64); 4] = [
    ("1h", 3600, 120),
    ("24h", 86_400, 1800),
    ("7d", 7 * 86_400, 3 * 3600),
    ("30d", 30 * 86_400, 12 * 3600),
];

const BANDS: [&str; 5] = ["critical", "high", "medium", "low", "informational"];

#[derive(Debug, Deserialize)]
pub struct OverviewQuery {
    range: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<OverviewQuery>,
) -> PageResult {
    let (range, span, step) = RANGES
        .iter()
        .copied()
        .find(|r| Some(r.0) == q.range.as_deref())
        .unwrap_or(RANGES[1]);
    let since = Utc::now() - Duration::seconds(span);
    let start = charts::bucket_start(since, step);
    let n = (span / step + 1) as usize;
    let (events, alerts, open) = state
        .db(move |s| {
            let e = s.histogram(Series::Events, start, step)?;
            let a = s.histogram(Series::Alerts, start, step)?;
            let open = s.incidents(&IncidentFilter {
                statuses: vec!["new".into(), "acknowledged".into()],
                limit: Some(10_000),
                ..IncidentFilter::default()
            })?;
            Ok((e, a, open))
        })
        .await?;
    let events = charts::bucketed(&events, start, step, n);
    let alerts = charts::bucketed(&alerts, start, step, n);
    let mut by_band = [0u64; 5];
    for i in &open {
        let band = palisade_triage::engine::priority_band(i.priority).as_str();
        if let Some(k) = BANDS.iter().position(|b| *b == band) {
            by_band[k] += 1;
        }
    }
    let band_rows: Vec<(String, f64, String)> = BANDS
        .iter()
        .zip(by_band)
        .map(|(b, n)| (b.to_string(), n as f64, format!("band-{b}")))
        .collect();
    let risky = top_entities(&state, 10);
    let max_risk = risky.iter().map(|r| r.risk).fold(1.0, f64::max);
    let status = status_of(&state);
    let body = html! {
        h1 { "Overview" }
        section.tiles {
            div.tile { span.n { (open.len()) } span.l { "open incidents" } }
            div.tile { span.n { (by_band[0] + by_band[1]) } span.l { "critical or high" } }
            div.tile { span.n { (status.events) } span.l { "events processed since start" } }
            div.tile { span.n { (status.alerts) } span.l { "alerts since start" } }
            div.tile { span.n { (status.rules) } span.l { "rules loaded" } }
        }
        nav.ranges aria-label="Chart range" {
            "Range: "
            @for (r, _, _) in RANGES {
                @if r == range { strong { (r) } } @else { a href={"/?range=" (r)} { (r) } }
                " "
            }
            span.muted { "(event time, UTC)" }
        }
        div.grid2 {
            section.card #events-chart {
                h2 { "Events" }
                (charts::bars("events-over-time", "events", "ev", start, step, &events))
            }
            section.card #alerts-chart {
                h2 { "Alerts" }
                (charts::bars("alerts-over-time", "alerts", "al", start, step, &alerts))
            }
        }
        div.grid2 {
            section.card #incidents-by-priority {
                h2 { "Open incidents by priority" }
                (charts::hbars("bands", &band_rows))
                p { a href="/incidents" { "Open the queue →" } }
            }
            section.card #risky-entities {
                h2 { "Riskiest entities" }
                @if risky.is_empty() {
                    p.muted { "No entity has accumulated risk yet." }
                } @else {
                    table.compact {
                        thead { tr { th { "Entity" } th.num { "Risk" } th {} } }
                        tbody {
                            @for r in &risky {
                                tr {
                                    td { a.entity href={"/entities/" (r.kind) "/" (layout::enc(&r.value))} { span.kind { (r.kind) } " " (r.value) } }
                                    td.num { (format!("{:.1}", r.risk)) }
                                    td.bar {
                                        svg.mini viewBox="0 0 100 10" width="100" height="10" {
                                            rect.risk x="0" y="1" width=(format!("{:.1}", r.risk / max_risk * 100.0)) height="8" {}
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card #top-incidents {
            h2 { "Top of the queue" }
            @if open.is_empty() {
                p.muted { "No open incidents." }
            } @else {
                table {
                    thead { tr { th.num { "Priority" } th { "Incident" } th { "Status" } th { "Last seen" } } }
                    tbody {
                        @for i in open.iter().take(5) {
                            tr {
                                td.num { (layout::priority(i.priority)) }
                                td { a href={"/incidents/" (i.id)} { (i.title) } }
                                td { (layout::status(&i.status)) }
                                td { (layout::time_tag(i.last_seen)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page("Overview", &who, Nav::Overview, body))
}

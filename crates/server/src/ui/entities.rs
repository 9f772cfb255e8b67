//! `/entities/{kind}/{value}`: an entity's risk over time, its learned hour-of-week baseline as
//! a heat map, the countries, devices and other values seen with it, and its incidents.

use axum::extract::{Path, Query, State};
use chrono::{DateTime, Duration, Utc};
use maud::{Markup, html};
use palisade_anomaly::ueba::{ProfileSummary, RelKind, RelSummary};
use palisade_store::{IncidentFilter, Store};
use serde::Deserialize;

use super::layout::{self, Nav};
use super::{PageResult, SignedIn, charts};
use crate::api::entities::{entity_of, load_entity};
use crate::state::AppState;

const RANGES: [(&str, i64); 3] = [("24h", 1), ("7d", 7), ("30d", 30)];

/// Relations shown first: what an analyst checks first for an account or a machine.
const FIRST: [&str; 3] = ["country", "device", "source_ip"];

#[derive(Debug, Deserialize)]
pub struct EntityQuery {
    range: Option<String>,
}

fn noun(key: &str) -> String {
    RelKind::ALL
        .iter()
        .find(|k| k.key() == key)
        .map_or_else(|| key.replace('_', " "), |k| k.noun().to_string())
}

fn when(unix: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(unix, 0)
}

/// A date, with the full time as a tooltip (tables of related values stay narrow).
fn day(t: Option<DateTime<Utc>>) -> Markup {
    match t {
        Some(t) => {
            html! { time datetime=(t.to_rfc3339()) title=(layout::time(Some(t))) { (t.format("%Y-%m-%d")) } }
        }
        None => html! { "—" },
    }
}

fn relation(r: &RelSummary) -> Markup {
    html! {
        section.card.relation id={"rel-" (r.relation)} {
            h3 { (noun(&r.relation)) " " span.muted.small { "≈" (r.distinct_estimate) " distinct, " (r.events) " events" } }
            @if r.top.is_empty() { p.muted { "none seen" } } @else {
                table.compact {
                    thead { tr { th { "Value" } th.num { "Share" } th { "First seen" } th { "Last seen" } } }
                    tbody {
                        @for t in &r.top {
                            tr {
                                td { (t.value) }
                                td.num { (format!("{:.0} %", if r.decayed_total > 0.0 { t.decayed_count / r.decayed_total * 100.0 } else { 0.0 })) }
                                td.small { (day(when(t.first_seen))) }
                                td.small { (day(when(t.last_seen))) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn baseline(p: &ProfileSummary) -> Markup {
    html! {
        section.card #baseline {
            h2 { "Learned baseline" }
            p.small {
                (p.events) " events, seen " (layout::time_tag(when(p.first_seen))) " → " (layout::time_tag(when(p.last_seen)))
                @if let Some(h) = &p.usual_hours { " · usual hours " (h) " UTC" }
                @if let Some(g) = &p.peer_group { " · peer group " (g) }
                " · " @if p.warm { "warmed up" } @else { "still warming up (no alerts yet)" }
            }
            h3 { "Hour of week (UTC)" }
            (charts::heat_map("hour-of-week", &p.hour_of_week))
        }
    }
}

fn relations(p: &ProfileSummary) -> Markup {
    let mut rels: Vec<&RelSummary> = p.relations.iter().collect();
    rels.sort_by_key(|r| {
        FIRST
            .iter()
            .position(|f| *f == r.relation)
            .unwrap_or(FIRST.len())
    });
    html! {
        div.grid3.relations {
            @for r in rels { (relation(r)) }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    Path((kind, value)): Path<(String, String)>,
    Query(q): Query<EntityQuery>,
) -> PageResult {
    let e = entity_of(&kind, &value)?;
    let (range, days) = RANGES
        .iter()
        .copied()
        .find(|r| Some(r.0) == q.range.as_deref())
        .unwrap_or(RANGES[2]);
    let now = Utc::now();
    let since = now - Duration::days(days);
    let page = load_entity(&state, e.clone(), since).await?;
    let profile: Option<ProfileSummary> = page
        .baseline
        .clone()
        .and_then(|b| serde_json::from_value(b).ok());
    // Incidents that name the entity, among the most recent (the store has no entity index
    // for incidents; the queue is small).
    let key = serde_json::json!({ "kind": e.kind.as_str(), "value": e.value });
    let incidents = state
        .db(move |s| {
            s.incidents(&IncidentFilter {
                limit: Some(500),
                ..IncidentFilter::default()
            })
        })
        .await?
        .into_iter()
        .filter(|r| {
            r.body
                .get("entities")
                .and_then(|v| v.as_array())
                .is_some_and(|a| a.contains(&key))
        })
        .take(20)
        .collect::<Vec<_>>();
    let risk: Vec<(DateTime<Utc>, f64)> =
        page.risk_history.iter().map(|p| (p.at, p.risk)).collect();
    let body = html! {
        p.crumbs { "Entities / " (e.kind.as_str()) }
        h1 { span.kind { (e.kind.as_str()) } " " (e.value) }
        dl.facts {
            dt { "Risk now" } dd #risk-now { @if let Some(r) = page.risk { (format!("{r:.1}")) } @else { "none" } }
            dt { "Events" } dd { a href={"/search?entity=" (layout::enc(&e.value))} { "Search this entity's events →" } }
        }
        div.grid2 {
        section.card #risk {
            h2 { "Risk over time" }
            nav.ranges {
                @for (r, _) in RANGES {
                    @if r == range { strong { (r) } } @else { a href={(layout::entity_href(&e)) "?range=" (r)} { (r) } }
                    " "
                }
            }
            (charts::line("risk-over-time", "risk", &risk, since, now))
        }
        @if let Some(p) = &profile { (baseline(p)) } @else {
            section.card #baseline {
                h2 { "Learned baseline" }
                p.muted { "No behaviour baseline for this entity (UEBA learns users, hosts and source addresses once they are seen)." }
            }
        }
        }
        @if let Some(p) = &profile { (relations(p)) }
        section.card #entity-incidents {
            h2 { "Incidents" }
            @if incidents.is_empty() { p.muted { "No recent incident names this entity." } } @else {
                table.compact {
                    tbody {
                        @for i in &incidents {
                            tr {
                                td.num { (layout::priority(i.priority)) }
                                td { a href={"/incidents/" (i.id)} { (i.title) } }
                                td { (layout::status(&i.status)) }
                                td.small { (layout::time_tag(i.last_seen)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&e.to_string(), &who, Nav::None, body))
}

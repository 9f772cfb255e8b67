//! `/search`: stored events by text, entity, field values and time, newest first.

use axum::extract::{Query, State};
use maud::{Markup, html};
use palisade_store::{EventFilter, Store, StoredEvent};
use serde::Deserialize;

use super::layout::{self, Nav};
use super::{PageResult, SignedIn};
use crate::api::events::parse_fields;
use crate::api::{ApiError, parse_time};
use crate::state::AppState;

const PAGE: usize = 100;

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    entity: Option<String>,
    field: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<i64>,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn filter_of(q: &SearchQuery) -> Result<EventFilter, ApiError> {
    Ok(EventFilter {
        from: nonempty(&q.from).as_deref().map(parse_time).transpose()?,
        to: nonempty(&q.to).as_deref().map(parse_time).transpose()?,
        entity: nonempty(&q.entity),
        fields: nonempty(&q.field)
            .as_deref()
            .map(parse_fields)
            .transpose()?
            .unwrap_or_default(),
        text: nonempty(&q.q),
        before_seq: q.before,
        limit: PAGE,
    })
}

/// The query string of this search with another `before`.
fn next_page(q: &SearchQuery, before: i64) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("q", &q.q),
        ("entity", &q.entity),
        ("field", &q.field),
        ("from", &q.from),
        ("to", &q.to),
    ] {
        if let Some(v) = nonempty(v) {
            parts.push(format!("{k}={}", layout::enc(&v)));
        }
    }
    parts.push(format!("before={before}"));
    format!("/search?{}", parts.join("&"))
}

fn entity_cell(kind: &str, v: &Option<String>) -> Markup {
    html! {
        @if let Some(v) = v {
            a href={"/entities/" (kind) "/" (layout::enc(v))} { (v) }
        } @else { "—" }
    }
}

/// Fields that say what happened, shown first in a row's one-line summary.
const SALIENT: [&str; 8] = [
    "message",
    "event.action",
    "EventID",
    "CommandLine",
    "Image",
    "event.outcome",
    "query",
    "url.original",
];

/// Fields the row's columns already show or that say little (boilerplate of a format).
const OMIT: [&str; 9] = [
    "@timestamp",
    "TimeCreated",
    "UtcTime",
    "Computer",
    "host.name",
    "user.name",
    "source.ip",
    "destination.ip",
    "Provider_Name",
];

/// `name=value` pairs, what-happened fields first, at most 200 characters.
fn summary(body: &serde_json::Value) -> String {
    let Some(obj) = body.as_object() else {
        return body.to_string();
    };
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    let mut parts: Vec<String> = SALIENT
        .iter()
        .filter_map(|k| obj.get(*k).map(|v| format!("{k}={}", text(v))))
        .collect();
    parts.extend(
        obj.iter()
            .filter(|(k, _)| !SALIENT.contains(&k.as_str()) && !OMIT.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={}", text(v))),
    );
    let line = parts.join(" · ");
    if line.chars().count() > 200 {
        line.chars().take(200).chain(std::iter::once('…')).collect()
    } else {
        line
    }
}

fn row(e: &StoredEvent) -> Markup {
    let short = summary(&e.body);
    html! {
        tr.event {
            td.small { (layout::time_tag(e.timestamp)) }
            td.small { (e.source) }
            td { (entity_cell("host", &e.host)) }
            td { (entity_cell("user", &e.user)) }
            td.small { (entity_cell("ip", &e.source_ip)) " → " (entity_cell("ip", &e.destination_ip)) }
            td.event {
                details {
                    summary { code { (short) } }
                    pre { (serde_json::to_string_pretty(&e.body).unwrap_or_default()) }
                }
            }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<SearchQuery>,
) -> PageResult {
    let (rows, error) = match filter_of(&q) {
        Ok(f) => (state.db(move |s| s.events(&f)).await?, None),
        Err(ApiError::BadRequest(m)) => (Vec::new(), Some(m)),
        Err(e) => return Err(e.into()),
    };
    let v = |s: &Option<String>| s.clone().unwrap_or_default();
    let body = html! {
        h1 { "Search events" }
        form.searchform method="get" action="/search" {
            div.fields {
                label { "Text" input type="search" name="q" value=(v(&q.q)) placeholder="powershell"; }
                label { "Entity (host, user or IP)" input type="text" name="entity" value=(v(&q.entity)) placeholder="WS01"; }
                label { "Fields (name=value, comma-separated)" input type="text" name="field" value=(v(&q.field)) placeholder="EventID=4625"; }
                label { "From" input type="text" name="from" value=(v(&q.from)) placeholder="24h or 2025-03-02T08:00:00Z"; }
                label { "To" input type="text" name="to" value=(v(&q.to)) placeholder="RFC 3339 or 1h"; }
            }
            button type="submit" { "Search" }
        }
        @if let Some(e) = &error { p.flash.error role="alert" { (e) } }
        @if rows.is_empty() && error.is_none() { p.muted { "No stored events match." } }
        @if !rows.is_empty() {
            table #results {
                thead { tr { th { "Time" } th { "Source" } th { "Host" } th { "User" } th { "Addresses" } th { "Event" } } }
                tbody { @for e in &rows { (row(e)) } }
            }
            @if rows.len() == PAGE {
                @if let Some(last) = rows.last() { p { a href=(next_page(&q, last.seq)) { "Older events →" } } }
            }
        }
    };
    Ok(layout::page("Search", &who, Nav::Search, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_lead_with_what_happened() {
        let body = serde_json::json!({
            "Provider_Name": "Microsoft-Windows-Sysmon",
            "Computer": "WS01",
            "User": "CORP\\alice",
            "CommandLine": "whoami /all",
            "EventID": 1
        });
        assert_eq!(
            summary(&body),
            "EventID=1 · CommandLine=whoami /all · User=CORP\\alice"
        );
        let long = serde_json::json!({ "message": "x".repeat(500) });
        assert_eq!(summary(&long).chars().count(), 201);
    }

    #[test]
    fn paging_keeps_the_search() {
        let q = SearchQuery {
            q: Some("a b".into()),
            field: Some("EventID=1".into()),
            ..SearchQuery::default()
        };
        assert_eq!(
            next_page(&q, 42),
            "/search?q=a%20b&field=EventID%3D1&before=42"
        );
    }
}

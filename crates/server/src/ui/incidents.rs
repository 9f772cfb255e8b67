//! `/incidents` (the queue, highest priority first, with each score's breakdown) and
//! `/incidents/{id}` (timeline, entities, evidence, notes and the status actions).

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use palisade_store::{IncidentFilter, IncidentRecord, Store};
use palisade_triage::Status;
use palisade_triage::incident::{AlertGroup, Incident};
use palisade_triage::score::Contribution;
use serde::Deserialize;

use super::layout::{self, Nav};
use super::{PageError, PageResult, SignedIn};
use crate::api::incidents::{IncidentUpdate, apply_update, load_incident};
use crate::state::AppState;

/// Status filters the queue offers: (query value, label).
const FILTERS: [(&str, &str); 7] = [
    ("open", "Open"),
    ("new", "New"),
    ("acknowledged", "Acknowledged"),
    ("resolved", "Resolved"),
    ("false-positive", "False positive"),
    ("true-positive", "True positive"),
    ("all", "All"),
];

#[derive(Debug, Deserialize)]
pub struct QueueQuery {
    status: Option<String>,
}

/// The incident body as triage wrote it, if it reads.
fn body_of(r: &IncidentRecord) -> Option<Incident> {
    serde_json::from_value(r.body.clone()).ok()
}

/// Positive contributions as one stacked bar (100 points = full width) and the factors in
/// words.
fn breakdown_bar(cs: &[Contribution]) -> Markup {
    let mut x = 0.0;
    let mut parts = Vec::new();
    for c in cs.iter().filter(|c| c.points > 0.0) {
        let w = (c.points * 2.0).min(200.0 - x).max(0.0);
        parts.push((c, x, w));
        x += w;
    }
    html! {
        svg.stack viewBox="0 0 200 12" width="200" height="12" role="img" aria-label="score breakdown" {
            @for (c, x, w) in parts {
                rect class={"f f-" (c.factor)} x=(format!("{x:.1}")) y="0" width=(format!("{w:.1}")) height="12" {
                    title { (c.factor) " +" (format!("{:.1}", c.points)) ": " (c.reason) }
                }
            }
        }
    }
}

fn breakdown_words(cs: &[Contribution]) -> Markup {
    html! {
        ul.factors {
            @for c in cs.iter().filter(|c| c.points.abs() >= 0.05) {
                li class={"f-" (c.factor)} title=(c.reason) {
                    (c.factor) " " (format!("{:+.1}", c.points))
                }
            }
        }
    }
}

/// The live alert group that scores highest: its contributions explain most of the priority.
fn top_group(i: &Incident) -> Option<&AlertGroup> {
    i.timeline
        .iter()
        .filter(|g| g.suppressed_by.is_none())
        .max_by(|a, b| a.priority.total_cmp(&b.priority))
}

/// The queue's breakdown: the strongest detection's factors as a bar and in words, then how
/// the incident's priority follows from its detections (combination, risk floor).
fn queue_breakdown(i: &Incident) -> Markup {
    let rules: std::collections::BTreeSet<&str> =
        i.timeline.iter().map(|g| g.rule_id.as_str()).collect();
    let extra: Vec<&Contribution> = i
        .contributions
        .iter()
        .filter(|c| c.factor != "combined" && c.points.abs() >= 0.05)
        .collect();
    html! {
        @if let Some(g) = top_group(i) {
            (breakdown_bar(&g.contributions))
            div.small { span.muted { "top: " } (g.rule_title) " " (format!("{:.0}", g.priority)) }
            (breakdown_words(&g.contributions))
            @if rules.len() > 1 || !extra.is_empty() {
                ul.factors {
                    @if rules.len() > 1 {
                        li.f-combined title="noisy-or over the best score of each rule" {
                            "+ " (rules.len() - 1) " more rule" @if rules.len() > 2 { "s" }
                        }
                    }
                    @for c in extra { li class={"f-" (c.factor)} title=(c.reason) { (c.factor) " " (format!("{:+.1}", c.points)) } }
                }
            }
        } @else {
            (breakdown_bar(&i.contributions))
            (breakdown_words(&i.contributions))
        }
    }
}

pub async fn queue(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<QueueQuery>,
) -> PageResult {
    let filter = q.status.as_deref().unwrap_or("open").to_string();
    let statuses = match filter.as_str() {
        "all" => Vec::new(),
        "open" => vec!["new".to_string(), "acknowledged".to_string()],
        s => {
            let st: Status = s.parse().map_err(PageError::BadRequest)?;
            vec![st.as_str().to_string()]
        }
    };
    let rows = state
        .db(move |s| {
            s.incidents(&IncidentFilter {
                statuses,
                limit: Some(200),
                ..IncidentFilter::default()
            })
        })
        .await?;
    let body = html! {
        h1 { "Incidents" }
        nav.filters aria-label="Status" {
            @for (v, label) in FILTERS {
                @if v == filter { strong { (label) } } @else { a href={"/incidents?status=" (v)} { (label) } }
                " "
            }
        }
        @if rows.is_empty() {
            p.muted { "No incidents with this status." }
        } @else {
            table #queue {
                thead { tr {
                    th.num { "#" } th.num { "Priority" } th { "Incident" } th { "Entities" }
                    th.num { "Alerts" } th { "Status" } th { "Last seen" } th { "Score breakdown" }
                } }
                tbody {
                    @for (k, r) in rows.iter().enumerate() {
                        @let inc = body_of(r);
                        tr.incident data-priority=(format!("{:.3}", r.priority)) {
                            td.num { (k + 1) }
                            td.num { (layout::priority(r.priority)) }
                            td {
                                a.title href={"/incidents/" (r.id)} { (r.title) }
                                div.muted.small { (r.reason) }
                            }
                            td.small {
                                @if let Some(i) = &inc {
                                    @for e in i.entities.iter().take(3) { (layout::entity_link(e)) " " }
                                    @if i.entities.len() > 3 { span.muted { "+" (i.entities.len() - 3) } }
                                }
                            }
                            td.num { (r.alert_count) }
                            td { (layout::status(&r.status)) @if let Some(o) = &r.owner { div.small.muted { (o) } } }
                            td.small { (layout::time_tag(r.last_seen)) }
                            td.breakdown {
                                @if let Some(i) = &inc { (queue_breakdown(i)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page("Incidents", &who, Nav::Incidents, body))
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    updated: Option<String>,
    suppressions: Option<usize>,
}

fn flash_of(q: &PageQuery) -> Option<String> {
    // Only known words reach the page (the query is the visitor's to edit).
    let status: Option<Status> = q.updated.as_deref().and_then(|s| s.parse().ok());
    let mut msg = match (q.updated.as_deref(), status) {
        (_, Some(s)) => format!("Marked {}.", s.as_str()),
        (Some("note"), None) => "Note added.".to_string(),
        (Some("owner"), None) => "Owner set.".to_string(),
        _ => return None,
    };
    if let Some(n) = q.suppressions.filter(|&n| n > 0) {
        msg.push_str(&format!(
            " {n} suppression{} created (see Suppressions).",
            if n == 1 { "" } else { "s" }
        ));
    }
    Some(msg)
}

pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
) -> PageResult {
    let p = load_incident(&state, id).await?;
    let rec = &p.incident;
    let inc: Option<Incident> = serde_json::from_value(rec.detail.clone()).ok();
    let flash = flash_of(&q);
    let body = html! {
        p.crumbs { a href="/incidents" { "Incidents" } " / #" (rec.id) }
        h1 { (layout::priority(rec.priority)) " " (rec.title) }
        (layout::flash(flash.as_deref()))
        dl.facts {
            dt { "Status" } dd #status { (layout::status(&rec.status)) }
            dt { "Priority" } dd { (format!("{:.1}", rec.priority)) " " (layout::band_badge(&rec.band)) }
            dt { "Owner" } dd { (rec.owner.as_deref().unwrap_or("—")) }
            dt { "Seen" } dd { (layout::time_tag(rec.first_seen)) " → " (layout::time_tag(rec.last_seen)) }
            dt { "Alerts" } dd { (rec.alert_count) }
            dt { "Why" } dd { (rec.reason) }
        }
        (actions(&who, rec.id))
        @if let Some(i) = &inc {
            div.grid2 {
                section.card #breakdown {
                    h2 { "Score breakdown" }
                    table.compact {
                        thead { tr { th { "Factor" } th.num { "Points" } th { "Because" } } }
                        tbody {
                            @for c in &i.contributions {
                                tr { td { span class={"sw f-" (c.factor)} {} " " (c.factor) } td.num { (format!("{:+.1}", c.points)) } td { (c.reason) } }
                            }
                        }
                        tfoot { tr { th { "Priority" } th.num { (format!("{:.1}", i.priority)) } th {} } }
                    }
                    h3 { "How each detection scored" }
                    @for g in by_priority(&i.timeline) {
                        div.group {
                            div { (layout::priority(g.priority)) " " strong { (g.rule_title) }
                                @if let Some(s) = g.suppressed_by { " " span.muted.small { "(suppressed by #" (s) ")" } } }
                            (breakdown_bar(&g.contributions))
                            table.compact.contrib {
                                tbody {
                                    @for c in g.contributions.iter().filter(|c| c.points.abs() >= 0.05) {
                                        tr { td { span class={"sw f-" (c.factor)} {} " " (c.factor) } td.num { (format!("{:+.1}", c.points)) } td.small { (c.reason) } }
                                    }
                                }
                            }
                        }
                    }
                }
                section.card #entities {
                    h2 { "Entities" }
                    ul.entities { @for e in &i.entities { li { (layout::entity_link(e)) } } }
                    @if !i.tactics.is_empty() {
                        h3 { "ATT&CK tactics (kill-chain order)" }
                        ol.tactics { @for t in i.tactic_names() { li { (t) } } }
                    }
                }
            }
            section.card #timeline {
                h2 { "Timeline" }
                table {
                    thead { tr { th { "When" } th { "Detection" } th { "Severity" } th.num { "Count" } th { "Tactics" } th { "Entities" } } }
                    tbody {
                        @for g in &i.timeline {
                            tr {
                                td.small { (layout::time_tag(g.first)) @if g.last != g.first { br; "→ " (layout::time_tag(g.last)) } }
                                td {
                                    strong { (g.rule_title) } " " span.muted.small { (g.detector) }
                                    @if !g.explanation.is_empty() && g.explanation != g.rule_title { div.small { (g.explanation) } }
                                    @if let Some(s) = g.suppressed_by { div.small.muted { "suppressed by #" (s) } }
                                }
                                td { (layout::band_badge(g.severity.as_str())) }
                                td.num { (g.count) }
                                td.small { @for t in &g.tactics { (palisade_triage::attack::tactic_name(*t)) br; } }
                                td.small { @for e in g.entities.iter().take(4) { (layout::entity_link(e)) " " } }
                            }
                        }
                    }
                }
            }
        }
        section.card #evidence {
            h2 { "Evidence (" (p.alerts.len()) " alerts)" }
            table {
                thead { tr { th { "Time" } th { "Rule" } th { "Severity" } th { "Host" } th { "Source" } th { "Event" } } }
                tbody {
                    @for a in &p.alerts {
                        tr {
                            td.small { (layout::time_tag(a.timestamp)) }
                            td { (a.rule_title) div.small.muted { (a.detector) } }
                            td { (layout::band_badge(&a.severity)) }
                            td { (a.host.as_deref().unwrap_or("—")) }
                            td.small { (a.source.as_deref().unwrap_or("—")) @if let Some(n) = a.position { ":" (n) } }
                            td.event {
                                @if let Some(ev) = &a.event {
                                    details {
                                        summary { "fields" }
                                        pre { (serde_json::to_string_pretty(ev).unwrap_or_default()) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card #notes {
            h2 { "Notes" }
            @if p.notes.is_empty() { p.muted { "No notes yet." } }
            @for n in &p.notes {
                article.note {
                    div.small.muted { (n.author) " · " (layout::time_tag(Some(n.at))) }
                    p { (n.text) }
                }
            }
        }
    };
    Ok(layout::page(&rec.title, &who, Nav::Incidents, body))
}

fn by_priority(groups: &[AlertGroup]) -> Vec<&AlertGroup> {
    let mut v: Vec<&AlertGroup> = groups.iter().collect();
    v.sort_by(|a, b| b.priority.total_cmp(&a.priority));
    v
}

fn actions(who: &SignedIn, id: i64) -> Markup {
    if !who.is_analyst() {
        return html! {
            section.card #actions {
                h2 { "Actions" }
                p.muted { "Read-only: changing an incident needs the analyst role (you are a " (who.principal.role) ")." }
            }
        };
    }
    html! {
        section.card #actions {
            h2 { "Actions" }
            form.actions method="post" action={"/incidents/" (id)} {
                input type="hidden" name="csrf" value=(who.csrf);
                label for="note" { "Note (optional; kept with the incident and the verdict)" }
                textarea #note name="note" rows="2" maxlength="10000" {}
                div.row {
                    label for="scope" { "A false positive suppresses" }
                    select #scope name="scope" {
                        option value="service" selected { "this rule on this service (network) or entity" }
                        option value="entity" { "this rule on this entity" }
                    }
                }
                div.buttons {
                    button type="submit" name="status" value="" { "Add note" }
                    button type="submit" name="status" value="acknowledged" { "Acknowledge" }
                    button type="submit" name="status" value="resolved" { "Resolve" }
                    button.tp type="submit" name="status" value="true-positive" { "True positive" }
                    button.fp type="submit" name="status" value="false-positive" { "False positive" }
                }
            }
            form.inline method="post" action={"/incidents/" (id) "/owner"} {
                input type="hidden" name="csrf" value=(who.csrf);
                button type="submit" { "Assign to me" }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    #[serde(default)]
    csrf: String,
    status: Option<String>,
    note: Option<String>,
    scope: Option<String>,
}

pub async fn update(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<i64>,
    Form(f): Form<UpdateForm>,
) -> PageResult {
    who.may_change(&f.csrf)?;
    let status = f.status.filter(|s| !s.trim().is_empty());
    let note = f.note.filter(|n| !n.trim().is_empty());
    if status.is_none() && note.is_none() {
        return Err(PageError::BadRequest(
            "nothing to do: choose a status or write a note".into(),
        ));
    }
    let what = status.clone().unwrap_or_else(|| "note".to_string());
    let result = apply_update(
        &state,
        &who.principal,
        id,
        IncidentUpdate {
            status,
            owner: None,
            note,
            scope: f.scope.filter(|s| !s.is_empty()),
        },
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/incidents/{id}?updated={}&suppressions={}",
        layout::enc(&what),
        result.suppressions.len()
    ))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct TakeForm {
    #[serde(default)]
    csrf: String,
}

/// Makes the signed-in token's name the owner.
pub async fn take(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<i64>,
    Form(f): Form<TakeForm>,
) -> PageResult {
    who.may_change(&f.csrf)?;
    apply_update(
        &state,
        &who.principal,
        id,
        IncidentUpdate {
            status: None,
            owner: Some(who.principal.name.clone()),
            note: None,
            scope: None,
        },
    )
    .await?;
    Ok(Redirect::to(&format!("/incidents/{id}?updated=owner")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_shows_only_known_words() {
        let q = |u: &str, n| PageQuery {
            updated: Some(u.into()),
            suppressions: n,
        };
        assert_eq!(
            flash_of(&q("false-positive", Some(2))).as_deref(),
            Some("Marked false-positive. 2 suppressions created (see Suppressions).")
        );
        assert_eq!(flash_of(&q("note", None)).as_deref(), Some("Note added."));
        assert_eq!(flash_of(&q("<b>you were hacked</b>", None)), None);
    }
}

//! `/respond`: what playbooks did and propose — approvals waiting, active actions with revert,
//! recent actions, the response log and the playbooks.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, Nav};
use super::{PageError, PageResult, SignedIn};
use crate::api::respond::{ActionOut, ActionQuery, LogOut, Step, actions, log, operate};
use crate::state::AppState;

/// Rows of the recent-actions and log sections.
const RECENT: usize = 100;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    done: Option<String>,
    id: Option<i64>,
}

fn step_of(word: &str) -> Option<Step> {
    match word {
        "approve" => Some(Step::Approve),
        "deny" => Some(Step::Deny),
        "revert" => Some(Step::Revert),
        _ => None,
    }
}

fn flash_of(q: &PageQuery) -> Option<String> {
    // Only known words reach the page (the query is the visitor's to edit).
    let id = q.id?;
    let what = match q.done.as_deref()? {
        "approve" => "approved",
        "deny" => "denied",
        "revert" => "reverted",
        _ => return None,
    };
    Some(format!("Response action #{id} {what}."))
}

fn state_badge(s: &str) -> Markup {
    html! { span class={"badge state-" (s)} { (s) } }
}

fn incident_link(i: Option<i64>) -> Markup {
    html! {
        @if let Some(i) = i { a href={"/incidents/" (i)} { "#" (i) } } @else { "—" }
    }
}

/// One operator button (with the CSRF token), and for deny a reason field.
fn step_form(who: &SignedIn, id: i64, step: &str, label: &str) -> Markup {
    html! {
        form.inline method="post" action={"/respond/" (id) "/" (step)} {
            input type="hidden" name="csrf" value=(who.csrf);
            @if step == "deny" {
                input.reason type="text" name="reason" maxlength="2000" placeholder="reason (optional)" aria-label="Reason for denying";
                " "
            }
            button type="submit" { (label) }
        }
    }
}

fn detail_field(d: &serde_json::Value, k: &str) -> String {
    match d.get(k) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

async fn render(
    state: &AppState,
    who: &SignedIn,
    flash: Option<String>,
    error: Option<String>,
) -> Result<Markup, PageError> {
    let q = |s: &str, limit: usize| ActionQuery {
        state: (!s.is_empty()).then(|| s.to_string()),
        limit: Some(limit),
        ..ActionQuery::default()
    };
    let pending: Vec<ActionOut> = actions(state, q("pending", 200)).await?;
    let active: Vec<ActionOut> = actions(state, q("active", 200)).await?;
    let recent: Vec<ActionOut> = actions(state, q("", RECENT)).await?;
    let lines: Vec<LogOut> = log(state, None, RECENT).await?;
    let books = state
        .respond
        .as_ref()
        .map(|e| e.playbooks.clone())
        .unwrap_or_default();
    let analyst = who.is_analyst();
    Ok(html! {
        h1 { "Respond" }
        (layout::flash(flash.as_deref()))
        @if let Some(e) = &error { p.flash.error role="alert" { (e) } }
        @if state.respond.is_none() {
            p.muted { "respond.enabled is off in this server's configuration: playbooks do not run and actions cannot be approved or reverted here." }
        }
        section.card #pending {
            h2 { "Pending approvals (" (pending.len()) ")" }
            @if pending.is_empty() { p.muted { "Nothing waits for approval." } } @else {
                table.respond {
                    thead { tr { th.num { "#" } th { "Would run" } th { "Why" } th { "Playbook" } th { "Incident" } th { "Created" } @if analyst { th {} } } }
                    tbody {
                        @for a in &pending {
                            tr {
                                td.num { (a.id) }
                                td.wrap { div { span.badge { (a.kind) } " " (a.target) } code { (a.runs) } }
                                td.wrap.small { (a.reason) }
                                td.small { (a.playbook) }
                                td { (incident_link(a.incident)) }
                                td.small { (layout::time_tag(Some(a.created))) }
                                @if analyst {
                                    td.ops {
                                        (step_form(who, a.id, "approve", "Approve"))
                                        (step_form(who, a.id, "deny", "Deny"))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card #active {
            h2 { "Active actions (" (active.len()) ")" }
            @if active.is_empty() { p.muted { "No action is in force." } } @else {
                table.respond {
                    thead { tr { th.num { "#" } th { "Target" } th { "Kind" } th { "Expires" } th { "Detail" } th { "Playbook" } th { "Incident" } @if analyst { th {} } } }
                    tbody {
                        @for a in &active {
                            tr {
                                td.num { (a.id) }
                                td.wrap { (a.target) }
                                td { span.badge { (a.kind) } }
                                td.small { @if a.expires.is_some() { (layout::time_tag(a.expires)) } @else { "never" } }
                                td.wrap.small {
                                    (a.detail)
                                    @if let Some(r) = &a.revert { div.muted { "revert: " code { (r) } } }
                                }
                                td.small { (a.playbook) }
                                td { (incident_link(a.incident)) }
                                @if analyst {
                                    td.ops {
                                        @if a.revert.is_some() { (step_form(who, a.id, "revert", "Revert")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card #recent {
            h2 { "Recent actions" }
            @if recent.is_empty() { p.muted { "No response actions yet." } } @else {
                table.respond.compact {
                    thead { tr { th.num { "#" } th { "Created" } th { "State" } th { "Mode" } th { "Kind" } th { "Target" } th { "Playbook" } th { "Incident" } th { "Detail" } th { "By" } } }
                    tbody {
                        @for a in &recent {
                            tr {
                                td.num { (a.id) }
                                td.small { (layout::time_tag(Some(a.created))) }
                                td { (state_badge(&a.state)) }
                                td.small { (a.mode) }
                                td.small { (a.kind) }
                                td.wrap { (a.target) }
                                td.small { (a.playbook) }
                                td { (incident_link(a.incident)) }
                                td.wrap.small { (a.detail) }
                                td.small { (a.decided_by.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
        section.card #log {
            h2 { "Response log" }
            @if lines.is_empty() { p.muted { "The response log is empty." } } @else {
                table.respond.compact {
                    thead { tr { th { "Time" } th { "Actor" } th { "Event" } th.num { "Action" } th { "Target" } th { "Result" } th { "Revert" } } }
                    tbody {
                        @for l in &lines {
                            tr {
                                td.small { (layout::time_tag(Some(l.at))) }
                                td.small { (l.actor) }
                                td { (state_badge(&l.event)) }
                                td.num { @if let Some(id) = l.action { "#" (id) } }
                                td.wrap.small { (detail_field(&l.detail, "target")) }
                                td.wrap.small { (detail_field(&l.detail, "result")) }
                                td.wrap.small { code { (detail_field(&l.detail, "revert")) } }
                            }
                        }
                    }
                }
            }
        }
        section.card #playbooks {
            h2 { "Playbooks" }
            @if books.is_empty() { p.muted { "No playbooks run." } } @else {
                table.compact {
                    thead { tr { th { "Id" } th { "Title" } th { "Mode" } th { "Enabled" } th { "Source" } } }
                    tbody {
                        @for b in &books {
                            tr class=(if b.enabled { "active" } else { "inactive" }) {
                                td { code { (b.id) } }
                                td { (b.title) @if !b.description.is_empty() { div.small.muted { (b.description) } } }
                                td { (b.mode) }
                                td { (if b.enabled { "yes" } else { "no" }) }
                                td.small { (b.source) }
                            }
                        }
                    }
                }
            }
        }
    })
}

pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<PageQuery>,
) -> PageResult {
    let body = render(&state, &who, flash_of(&q), None).await?;
    Ok(layout::page("Respond", &who, Nav::Respond, body))
}

#[derive(Debug, Deserialize)]
pub struct StepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /respond/{id}/{approve|deny|revert}`: the step, then back to the page with a flash;
/// a step that cannot be done shows the page again with the reason.
pub async fn step(
    State(state): State<AppState>,
    who: SignedIn,
    Path((id, word)): Path<(i64, String)>,
    Form(f): Form<StepForm>,
) -> PageResult {
    who.may_change(&f.csrf)?;
    let step = step_of(&word).ok_or_else(|| PageError::NotFound(format!("no step {word:?}")))?;
    let reason = f.reason.trim().to_string();
    if reason.len() > 2000 {
        return Err(PageError::BadRequest("reason: at most 2000 bytes".into()));
    }
    match operate(&state, &who.principal, id, step, reason).await {
        Ok(_) => Ok(Redirect::to(&format!("/respond?done={word}&id={id}")).into_response()),
        Err(e) => {
            use crate::api::ApiError as A;
            let (status, msg) = match e {
                A::NotFound(m) => (StatusCode::NOT_FOUND, m),
                A::BadRequest(m) => (StatusCode::CONFLICT, m),
                A::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
                other => return Err(other.into()),
            };
            let body = render(&state, &who, None, Some(format!("Could not {word}: {msg}"))).await?;
            let mut resp = layout::page("Respond", &who, Nav::Respond, body);
            *resp.status_mut() = status;
            Ok(resp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_shows_only_known_words() {
        let q = |d: &str, id: Option<i64>| PageQuery {
            done: Some(d.into()),
            id,
        };
        assert_eq!(
            flash_of(&q("approve", Some(3))).as_deref(),
            Some("Response action #3 approved.")
        );
        assert_eq!(flash_of(&q("approve", None)), None);
        assert_eq!(flash_of(&q("<b>owned</b>", Some(3))), None);
    }
}

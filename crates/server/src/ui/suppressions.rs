//! `/suppressions`: what false-positive verdicts and analysts have silenced, with revoke.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use maud::html;
use serde::Deserialize;

use super::layout::{self, Nav};
use super::{PageResult, SignedIn};
use crate::api::misc::{all_suppressions, revoke as revoke_suppression};
use crate::api::rules::all_rules;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    revoked: Option<u64>,
}

pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let titles: std::collections::HashMap<String, String> = all_rules(&state)
        .into_iter()
        .map(|r| (r.id, r.title))
        .collect();
    let mut rows = all_suppressions(&state);
    // Active first, newest first.
    rows.sort_by(|a, b| b.active.cmp(&a.active).then(b.created.cmp(&a.created)));
    let flash = q.revoked.map(|id| format!("Suppression #{id} revoked."));
    let body = html! {
        h1 { "Suppressions" }
        (layout::flash(flash.as_deref()))
        p.muted { "Alerts a suppression matches are kept but leave the queue. False-positive verdicts create them; revoking one stops it at once." }
        @if rows.is_empty() { p.muted { "No suppressions." } } @else {
            table #suppressions {
                thead { tr { th.num { "#" } th { "What" } th { "Why" } th { "By" } th { "Created" } th { "Expires" } th { "State" } @if who.is_analyst() { th {} } } }
                tbody {
                    @for s in &rows {
                        tr class=(if s.active { "active" } else { "inactive" }) {
                            td.num { (s.id) }
                            td {
                                (s.description)
                                @if let Some(t) = s.rule.as_ref().and_then(|r| titles.get(r)) { div.small.muted { (t) } }
                            }
                            td.small { (s.reason) @if let Some(i) = s.incident { " · " a href={"/incidents/" (i)} { "incident #" (i) } } }
                            td.small { (s.author) }
                            td.small { (layout::time_tag(Some(s.created))) }
                            td.small { (layout::time_tag(s.expires)) }
                            td {
                                @if s.active { "active" }
                                @else if let Some(by) = &s.revoked_by { "revoked by " (by) }
                                @else { "expired" }
                            }
                            @if who.is_analyst() {
                                td {
                                    @if s.active {
                                        form.inline method="post" action={"/suppressions/" (s.id) "/revoke"} {
                                            input type="hidden" name="csrf" value=(who.csrf);
                                            button type="submit" { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page("Suppressions", &who, Nav::Suppressions, body))
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
}

pub async fn revoke(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<u64>,
    Form(f): Form<RevokeForm>,
) -> PageResult {
    who.may_change(&f.csrf)?;
    revoke_suppression(&state, &who.principal, id).await?;
    Ok(Redirect::to(&format!("/suppressions?revoked={id}")).into_response())
}

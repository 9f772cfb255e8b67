//! `/rules`: the loaded Sigma rules and correlations, with enable/disable for analysts.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use maud::html;
use serde::Deserialize;

use super::layout::{self, Nav};
use super::{PageResult, SignedIn};
use crate::api::rules::{all_rules, set_enabled};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct RulesQuery {
    q: Option<String>,
    changed: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<RulesQuery>,
) -> PageResult {
    let needle = q.q.clone().unwrap_or_default().to_lowercase();
    let rules: Vec<_> = all_rules(&state)
        .into_iter()
        .filter(|r| {
            needle.is_empty()
                || r.title.to_lowercase().contains(&needle)
                || r.id.to_lowercase().contains(&needle)
                || r.tags.iter().any(|t| t.to_lowercase().contains(&needle))
        })
        .collect();
    let disabled = rules.iter().filter(|r| !r.enabled).count();
    let flash = match q.changed.as_deref() {
        Some("enabled") => Some("Rule enabled."),
        Some("disabled") => Some("Rule disabled: it raises no alerts until enabled again."),
        _ => None,
    };
    let body = html! {
        h1 { "Rules" }
        (layout::flash(flash))
        form.filter method="get" action="/rules" {
            input type="search" name="q" value=(q.q.as_deref().unwrap_or("")) placeholder="Title, id or tag" aria-label="Filter rules";
            button type="submit" { "Filter" }
            span.muted { (rules.len()) " rules, " (disabled) " disabled" }
        }
        @if !who.is_analyst() {
            p.muted { "Read-only: enabling and disabling rules needs the analyst role." }
        }
        table #rules {
            thead { tr { th { "Rule" } th { "Level" } th { "Tags" } th { "State" } @if who.is_analyst() { th {} } } }
            tbody {
                @for r in &rules {
                    tr class=(if r.enabled { "rule" } else { "rule off" }) {
                        td {
                            strong { (r.title) } @if r.correlation { " " span.badge { "correlation" } }
                            div.small.muted { code { (r.id) } @if let Some(p) = &r.path { " · " (p) } }
                        }
                        td { @if let Some(l) = &r.level { (layout::band_badge(l)) } }
                        td.small { @for t in &r.tags { span.tag { (t) } " " } }
                        td { @if r.enabled { "enabled" } @else { strong { "disabled" } } }
                        @if who.is_analyst() {
                            td {
                                form.inline method="post" action="/rules" {
                                    input type="hidden" name="csrf" value=(who.csrf);
                                    input type="hidden" name="id" value=(r.id);
                                    input type="hidden" name="enabled" value=(if r.enabled { "false" } else { "true" });
                                    button type="submit" { @if r.enabled { "Disable" } @else { "Enable" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page("Rules", &who, Nav::Rules, body))
}

#[derive(Debug, Deserialize)]
pub struct ToggleForm {
    #[serde(default)]
    csrf: String,
    id: String,
    enabled: bool,
}

pub async fn toggle(
    State(state): State<AppState>,
    who: SignedIn,
    Form(f): Form<ToggleForm>,
) -> PageResult {
    who.may_change(&f.csrf)?;
    set_enabled(&state, &who.principal, &f.id, f.enabled).await?;
    let word = if f.enabled { "enabled" } else { "disabled" };
    Ok(Redirect::to(&format!("/rules?changed={word}")).into_response())
}

//! Sigma rules: list, enable/disable, test against sample events.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use palisade_event::Origin;
use palisade_ingest::Format;
use palisade_sigma::Scratch;
use palisade_store::Store;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Analyst, ApiError, Auth};
use crate::pipeline::DISABLED_RULES;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules))
        .routes(routes!(set_rule))
        .routes(routes!(test_rule))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleOut {
    pub id: String,
    pub title: String,
    pub level: Option<String>,
    pub tags: Vec<String>,
    pub path: Option<String>,
    pub enabled: bool,
    /// Correlation rule (fires on counts/sequences of other rules' matches).
    pub correlation: bool,
}

/// Every loaded rule (shared with the web UI).
pub fn all_rules(state: &AppState) -> Vec<RuleOut> {
    let Some(loaded) = &state.rules else {
        return Vec::new();
    };
    let disabled = state.disabled.read().unwrap_or_else(|e| e.into_inner());
    let mut out: Vec<RuleOut> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for k in 0..loaded.rules.len() as u32 {
        let info = &loaded.rules.rule(k).info;
        if !seen.insert(info.id.clone()) {
            continue;
        }
        out.push(RuleOut {
            id: info.id.clone(),
            title: info.title.clone(),
            level: info.level.map(|l| l.as_str().to_string()),
            tags: info.tags.clone(),
            path: info.path.clone(),
            enabled: !disabled.contains(&info.id),
            correlation: false,
        });
    }
    for c in &loaded.correlations {
        if !seen.insert(c.info.id.clone()) {
            continue;
        }
        out.push(RuleOut {
            id: c.info.id.clone(),
            title: c.info.title.clone(),
            level: c.info.level.map(|l| l.as_str().to_string()),
            tags: c.info.tags.clone(),
            path: c.info.path.clone(),
            enabled: !disabled.contains(&c.info.id),
            correlation: true,
        });
    }
    out.sort_by(|a, b| a.title.cmp(&b.title));
    out
}

/// Loaded Sigma rules with whether each is enabled.
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules",
    responses((status = 200, body = Vec<RuleOut>), (status = 401, description = "No valid token")))]
pub async fn list_rules(
    State(state): State<AppState>,
    _auth: Auth,
) -> Result<Json<Vec<RuleOut>>, ApiError> {
    Ok(Json(all_rules(&state)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RuleChange {
    pub enabled: bool,
}

/// Enables or disables a rule (persisted; set by a user with the analyst role or higher).
pub async fn set_enabled(
    state: &AppState,
    who: &crate::auth::Principal,
    id: &str,
    enabled: bool,
) -> Result<RuleOut, ApiError> {
    let known = all_rules(state).into_iter().any(|r| r.id == id);
    if !known {
        return Err(ApiError::NotFound(format!("no rule with id {id:?}")));
    }
    let ids: Vec<String> = {
        let mut d = state.disabled.write().unwrap_or_else(|e| e.into_inner());
        if enabled {
            d.remove(id);
        } else {
            d.insert(id.to_string());
        }
        let mut v: Vec<String> = d.iter().cloned().collect();
        v.sort();
        v
    };
    let bytes = serde_json::to_vec(&ids).unwrap_or_default();
    state
        .db(move |s| s.save_state(DISABLED_RULES, &bytes))
        .await?;
    state
        .audit(
            who,
            if enabled {
                "rule.enable"
            } else {
                "rule.disable"
            },
            format!("rule:{id}"),
            serde_json::json!({ "enabled": enabled }),
        )
        .await?;
    all_rules(state)
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no rule with id {id:?}")))
}

/// Enable or disable a rule. Analyst or admin; audited.
#[utoipa::path(patch, path = "/api/v1/rules/{id}", tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    request_body = RuleChange,
    responses((status = 200, body = RuleOut), (status = 401, description = "No valid token"),
        (status = 403, description = "Role below analyst"), (status = 404, body = super::ErrorBody)))]
pub async fn set_rule(
    State(state): State<AppState>,
    auth: Analyst,
    Path(id): Path<String>,
    Json(c): Json<RuleChange>,
) -> Result<Json<RuleOut>, ApiError> {
    let who = auth.0;
    Ok(Json(set_enabled(&state, &who, &id, c.enabled).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RuleTest {
    /// Sample records, one per line (NDJSON by default).
    pub sample: String,
    /// Their format (json, syslog, zeek, cef, leef, flow-csv).
    pub format: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleTestResult {
    pub records: u64,
    /// 1-based line numbers of the records the rule matched.
    pub matched_lines: Vec<u64>,
    /// Lines that could not be parsed, with the reason.
    pub errors: Vec<String>,
}

/// Runs one rule over sample records without storing anything (single-event rules).
#[utoipa::path(post, path = "/api/v1/rules/{id}/test", tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    request_body = RuleTest,
    responses((status = 200, body = RuleTestResult), (status = 400, body = super::ErrorBody),
        (status = 401, description = "No valid token"), (status = 404, body = super::ErrorBody)))]
pub async fn test_rule(
    State(state): State<AppState>,
    _auth: Auth,
    Path(id): Path<String>,
    Json(t): Json<RuleTest>,
) -> Result<Json<RuleTestResult>, ApiError> {
    if t.sample.len() > 4 << 20 {
        return Err(ApiError::TooLarge("sample is larger than 4 MiB".into()));
    }
    let loaded = state
        .rules
        .clone()
        .ok_or_else(|| ApiError::NotFound("the sigma detector is off".into()))?;
    let format = crate::config::parse_format(t.format.as_deref().unwrap_or("json"))
        .map_err(ApiError::BadRequest)?;
    let targets: Vec<u32> = (0..loaded.rules.len() as u32)
        .filter(|&k| loaded.rules.rule(k).info.id == id)
        .collect();
    if targets.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no single-event rule with id {id:?}"
        )));
    }
    let result =
        tokio::task::spawn_blocking(move || run_test(&loaded, &targets, format, &t.sample))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(result))
}

fn run_test(
    loaded: &palisade_sigma::LoadedRules,
    targets: &[u32],
    format: Format,
    sample: &str,
) -> RuleTestResult {
    let mut parser = format.line_parser();
    let source: Arc<str> = Arc::from("rule-test");
    let mut scratch = Scratch::default();
    let mut hits = Vec::new();
    let mut out = RuleTestResult {
        records: 0,
        matched_lines: Vec::new(),
        errors: Vec::new(),
    };
    let Some(parser) = parser.as_mut() else {
        return out;
    };
    for (k, line) in sample.lines().enumerate() {
        let n = k as u64 + 1;
        match parser.parse_line(line, Origin::new(Arc::clone(&source), n)) {
            Ok(Some(ev)) => {
                out.records += 1;
                hits.clear();
                loaded.rules.match_event(&ev, &mut scratch, &mut hits);
                if hits.iter().any(|h| targets.contains(h)) {
                    out.matched_lines.push(n);
                }
            }
            Ok(None) => {}
            Err(e) => {
                if out.errors.len() < 20 {
                    out.errors.push(format!("line {n}: {e}"));
                }
            }
        }
    }
    out
}

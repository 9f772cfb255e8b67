//! Response actions: what playbooks did or propose, approvals, reverts and the response log.
//!
//! - `GET /api/v1/respond/actions?state=&playbook=&incident=&limit=` — newest first;
//! - `GET /api/v1/respond/actions/{id}` — one action with its log lines;
//! - `POST /api/v1/respond/actions/{id}/approve|deny|revert` — analyst or admin, audited;
//! - `GET /api/v1/respond/log?action=&limit=` — the append-only response log;
//! - `GET /api/v1/respond/playbooks` — the playbooks the responder runs.

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, TimeZone, Utc};
use palisade_respond::{Planned, Revert};
use palisade_store::{ResponseAction, ResponseActionFilter, ResponseLogRecord, ResponseStore};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Analyst, ApiError, Auth};
use crate::respond::OpError;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_actions))
        .routes(routes!(get_action))
        .routes(routes!(approve_action))
        .routes(routes!(deny_action))
        .routes(routes!(revert_action))
        .routes(routes!(list_log))
        .routes(routes!(list_playbooks))
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// A response action as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActionOut {
    pub id: i64,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub playbook: String,
    pub incident: Option<i64>,
    /// block, decision, lock_user, kill_process, quarantine, webhook, exec.
    pub kind: String,
    pub target: String,
    /// auto, approve or dry-run.
    pub mode: String,
    /// pending, active, done, failed, refused, denied, reverted, expired or dry-run.
    pub state: String,
    /// What happened (or would run), in words.
    pub detail: String,
    /// Why the playbook fired.
    pub reason: String,
    /// The exact command or request the action runs.
    pub runs: String,
    /// How to undo it, when it can be undone.
    pub revert: Option<String>,
    pub expires: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
}

/// Converts a stored action (shared with the web UI and the CLI).
pub fn action_out(a: &ResponseAction, exec: Option<&palisade_respond::Executors>) -> ActionOut {
    let planned: Option<Planned> = serde_json::from_str(&a.action_json).ok();
    let revert: Option<Revert> = a
        .revert_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok());
    ActionOut {
        id: a.id,
        created: time(a.created_at),
        updated: time(a.updated_at),
        playbook: a.playbook.clone(),
        incident: a.incident_id,
        kind: a.kind.clone(),
        target: a.target.clone(),
        mode: a.mode.clone(),
        state: a.state.clone(),
        detail: a.detail.clone(),
        reason: planned
            .as_ref()
            .map(|p| p.reason.clone())
            .unwrap_or_default(),
        runs: planned
            .as_ref()
            .map(|p| match exec {
                Some(e) => e.describe(&p.action),
                None => p.action.describe(),
            })
            .unwrap_or_default(),
        revert: revert.as_ref().map(Revert::describe),
        expires: a.expires_at.map(time),
        decided_by: a.decided_by.clone(),
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ActionQuery {
    /// Comma-separated states (e.g. `pending` or `active,pending`).
    pub state: Option<String>,
    pub playbook: Option<String>,
    pub incident: Option<i64>,
    pub limit: Option<usize>,
}

/// Actions matching `q`, newest first (shared with the web UI).
pub async fn actions(state: &AppState, q: ActionQuery) -> Result<Vec<ActionOut>, ApiError> {
    let filter = ResponseActionFilter {
        states: q
            .state
            .as_deref()
            .map(|s| {
                s.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        playbook: q.playbook,
        incident_id: q.incident,
        limit: Some(super::limit(q.limit, 200)),
    };
    let rows = state.db(move |s| s.response_actions(&filter)).await?;
    let exec = state.respond.as_ref().map(|e| e.executors());
    Ok(rows.iter().map(|a| action_out(a, exec)).collect())
}

/// Response actions, newest first.
#[utoipa::path(get, path = "/api/v1/respond/actions", tag = "respond", params(ActionQuery),
    responses((status = 200, body = Vec<ActionOut>), (status = 401, description = "No valid token")))]
pub async fn list_actions(
    State(state): State<AppState>,
    _auth: Auth,
    Query(q): Query<ActionQuery>,
) -> Result<Json<Vec<ActionOut>>, ApiError> {
    actions(&state, q).await.map(Json)
}

/// One line of the response log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogOut {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: Option<i64>,
    /// planned state or operator step: active, pending, refused, dry-run, failed, approved,
    /// denied, reverted, expired, …
    pub event: String,
    /// JSON: playbook, mode, action, target, why, result, revert.
    pub detail: serde_json::Value,
}

/// Converts a stored log line (shared with the CLI).
pub fn log_out(r: &ResponseLogRecord) -> LogOut {
    LogOut {
        id: r.id,
        at: time(r.at),
        actor: r.actor.clone(),
        action: r.action_id,
        event: r.event.clone(),
        detail: serde_json::from_str(&r.detail)
            .unwrap_or_else(|_| serde_json::Value::String(r.detail.clone())),
    }
}

/// The newest log lines (of one action when given), shared with the web UI.
pub async fn log(
    state: &AppState,
    action: Option<i64>,
    limit: usize,
) -> Result<Vec<LogOut>, ApiError> {
    let rows = state.db(move |s| s.response_log(action, limit)).await?;
    Ok(rows.iter().map(log_out).collect())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionDetail {
    #[serde(flatten)]
    pub action: ActionOut,
    pub log: Vec<LogOut>,
}

/// One response action and its log lines.
#[utoipa::path(get, path = "/api/v1/respond/actions/{id}", tag = "respond",
    params(("id" = i64, Path, description = "Action id")),
    responses((status = 200, body = ActionDetail), (status = 401, description = "No valid token"),
        (status = 404, body = super::ErrorBody)))]
pub async fn get_action(
    State(state): State<AppState>,
    _auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<ActionDetail>, ApiError> {
    let a = state
        .db(move |s| s.response_action(id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no response action {id}")))?;
    let exec = state.respond.as_ref().map(|e| e.executors());
    Ok(Json(ActionDetail {
        action: action_out(&a, exec),
        log: log(&state, Some(id), 200).await?,
    }))
}

/// What an operator does to an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Approve,
    Deny,
    Revert,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Step::Approve => "approve",
            Step::Deny => "deny",
            Step::Revert => "revert",
        }
    }
}

/// Approves, denies or reverts an action as `who` (shared with the web UI); audited.
pub async fn operate(
    state: &AppState,
    who: &crate::auth::Principal,
    id: i64,
    step: Step,
    reason: String,
) -> Result<ActionOut, ApiError> {
    let Some(engine) = state.respond.clone() else {
        return Err(ApiError::Unavailable(
            "respond.enabled is off in this server's configuration".into(),
        ));
    };
    let actor = who.actor();
    let a = {
        let actor = actor.clone();
        let reason = reason.clone();
        let db = std::sync::Arc::clone(&state.db);
        tokio::task::spawn_blocking(move || {
            let mut s = db.lock().unwrap_or_else(|e| e.into_inner());
            let now = Utc::now();
            match step {
                Step::Approve => engine.approve(&mut s, id, &actor, now),
                Step::Deny => engine.deny(&mut s, id, &actor, &reason, now),
                Step::Revert => engine.revert(&mut s, id, &actor, now),
            }
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| match e {
            OpError::NotFound(_) => ApiError::NotFound(e.to_string()),
            OpError::Conflict(m) => ApiError::BadRequest(m),
            OpError::Failed(m) => ApiError::Internal(m),
            OpError::Store(e) => ApiError::Internal(e.to_string()),
        })?
    };
    let exec = state.respond.as_ref().map(|e| e.executors());
    let out = action_out(&a, exec);
    state
        .audit(
            who,
            &format!("respond.{}", step.as_str()),
            format!("response-action:{id}"),
            serde_json::json!({ "kind": out.kind, "target": out.target, "state": out.state, "reason": reason }),
        )
        .await?;
    Ok(out)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StepIn {
    /// Why (kept in the log; optional).
    #[serde(default)]
    pub reason: String,
}

/// Approves a pending action: it runs now. Analyst or admin; audited.
#[utoipa::path(post, path = "/api/v1/respond/actions/{id}/approve", tag = "respond",
    params(("id" = i64, Path, description = "Action id")),
    responses((status = 200, body = ActionOut), (status = 400, body = super::ErrorBody),
        (status = 401, description = "No valid token"), (status = 403, description = "Role below analyst"),
        (status = 404, body = super::ErrorBody)))]
pub async fn approve_action(
    State(state): State<AppState>,
    auth: Analyst,
    Path(id): Path<i64>,
) -> Result<Json<ActionOut>, ApiError> {
    operate(&state, &auth.0, id, Step::Approve, String::new())
        .await
        .map(Json)
}

/// Denies a pending action. Analyst or admin; audited.
#[utoipa::path(post, path = "/api/v1/respond/actions/{id}/deny", tag = "respond",
    params(("id" = i64, Path, description = "Action id")), request_body = StepIn,
    responses((status = 200, body = ActionOut), (status = 400, body = super::ErrorBody),
        (status = 401, description = "No valid token"), (status = 403, description = "Role below analyst"),
        (status = 404, body = super::ErrorBody)))]
pub async fn deny_action(
    State(state): State<AppState>,
    auth: Analyst,
    Path(id): Path<i64>,
    body: Option<Json<StepIn>>,
) -> Result<Json<ActionOut>, ApiError> {
    let reason = body.map(|b| b.0.reason).unwrap_or_default();
    if reason.len() > 2000 {
        return Err(ApiError::BadRequest("reason: at most 2000 bytes".into()));
    }
    operate(&state, &auth.0, id, Step::Deny, reason)
        .await
        .map(Json)
}

/// Reverts an active action (unblock, unlock, restore) and withdraws its decisions. Analyst
/// or admin; audited.
#[utoipa::path(post, path = "/api/v1/respond/actions/{id}/revert", tag = "respond",
    params(("id" = i64, Path, description = "Action id")),
    responses((status = 200, body = ActionOut), (status = 400, body = super::ErrorBody),
        (status = 401, description = "No valid token"), (status = 403, description = "Role below analyst"),
        (status = 404, body = super::ErrorBody)))]
pub async fn revert_action(
    State(state): State<AppState>,
    auth: Analyst,
    Path(id): Path<i64>,
) -> Result<Json<ActionOut>, ApiError> {
    operate(&state, &auth.0, id, Step::Revert, String::new())
        .await
        .map(Json)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct LogQuery {
    pub action: Option<i64>,
    pub limit: Option<usize>,
}

/// The append-only response log, newest first.
#[utoipa::path(get, path = "/api/v1/respond/log", tag = "respond", params(LogQuery),
    responses((status = 200, body = Vec<LogOut>), (status = 401, description = "No valid token")))]
pub async fn list_log(
    State(state): State<AppState>,
    _auth: Auth,
    Query(q): Query<LogQuery>,
) -> Result<Json<Vec<LogOut>>, ApiError> {
    log(&state, q.action, super::limit(q.limit, 200))
        .await
        .map(Json)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlaybookOut {
    pub id: String,
    pub title: String,
    pub description: String,
    pub enabled: bool,
    pub mode: String,
    /// Where it was loaded from (`builtin:` for the shipped ones).
    pub source: String,
}

impl From<&palisade_respond::Playbook> for PlaybookOut {
    fn from(b: &palisade_respond::Playbook) -> PlaybookOut {
        PlaybookOut {
            id: b.id.clone(),
            title: b.title.clone(),
            description: b.description.clone().unwrap_or_default(),
            enabled: b.enabled,
            mode: b.mode.as_str().to_string(),
            source: b.source.clone(),
        }
    }
}

/// The playbooks the responder runs.
#[utoipa::path(get, path = "/api/v1/respond/playbooks", tag = "respond",
    responses((status = 200, body = Vec<PlaybookOut>), (status = 401, description = "No valid token")))]
pub async fn list_playbooks(
    State(state): State<AppState>,
    _auth: Auth,
) -> Result<Json<Vec<PlaybookOut>>, ApiError> {
    Ok(Json(
        state
            .respond
            .as_ref()
            .map(|e| e.playbooks.clone())
            .unwrap_or_default(),
    ))
}

//! Threat intel, suppressions, the audit log, tokens and service status.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use palisade_store::Store;
use palisade_triage::{Entity, Suppression};
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, Analyst, ApiError, Auth, limit};
use crate::auth::Role;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_intel))
        .routes(routes!(list_suppressions, add_suppression))
        .routes(routes!(revoke_suppression))
        .routes(routes!(audit_log))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(status))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct IntelQuery {
    /// Only this feed/source.
    pub source: Option<String>,
    /// Case-insensitive substring of the indicator value.
    pub q: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorOut {
    pub id: String,
    pub kind: String,
    pub value: String,
    pub source: String,
    pub confidence: u8,
    pub valid_until: Option<chrono::DateTime<Utc>>,
    pub description: Option<String>,
    pub labels: Vec<String>,
}

/// Stored threat-intel indicators (import them with `palisade intel import`).
#[utoipa::path(get, path = "/api/v1/intel", tag = "intel", params(IntelQuery),
    responses((status = 200, body = Vec<IndicatorOut>), (status = 401, description = "No valid token")))]
pub async fn list_intel(
    State(state): State<AppState>,
    _auth: Auth,
    Query(q): Query<IntelQuery>,
) -> Result<Json<Vec<IndicatorOut>>, ApiError> {
    let n = limit(q.limit, 200);
    let source = q.source.clone();
    let rows = state.db(move |s| s.indicators(source.as_deref())).await?;
    let needle = q.q.map(|s| s.to_lowercase());
    Ok(Json(
        rows.into_iter()
            .filter(|i| {
                needle
                    .as_ref()
                    .is_none_or(|n| i.value.to_lowercase().contains(n))
            })
            .take(n)
            .map(|i| IndicatorOut {
                id: i.id,
                kind: i.kind,
                value: i.value,
                source: i.source,
                confidence: i.confidence,
                valid_until: i.valid_until,
                description: i.description,
                labels: i.labels,
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressionOut {
    pub id: u64,
    pub rule: Option<String>,
    pub entity: Option<String>,
    pub fields: Vec<(String, String)>,
    pub expires: Option<chrono::DateTime<Utc>>,
    pub author: String,
    pub reason: String,
    pub created: chrono::DateTime<Utc>,
    pub revoked: Option<chrono::DateTime<Utc>>,
    pub revoked_by: Option<String>,
    pub incident: Option<i64>,
    pub active: bool,
    pub description: String,
}

fn suppression_out(s: &Suppression) -> SuppressionOut {
    SuppressionOut {
        id: s.id,
        rule: s.rule.clone(),
        entity: s.entity.as_ref().map(Entity::to_string),
        fields: s.fields.clone(),
        expires: s.expires,
        author: s.author.clone(),
        reason: s.reason.clone(),
        created: s.created,
        revoked: s.revoked.as_ref().map(|r| r.at),
        revoked_by: s.revoked.as_ref().map(|r| r.by.clone()),
        incident: s.incident,
        active: s.active(Utc::now()),
        description: s.describe(),
    }
}

/// Every suppression (shared with the web UI).
pub fn all_suppressions(state: &AppState) -> Vec<SuppressionOut> {
    let t = state.triage.lock().unwrap_or_else(|e| e.into_inner());
    t.suppressions().iter().map(suppression_out).collect()
}

/// Every suppression and allowlist entry, active or not, with author and reason.
#[utoipa::path(get, path = "/api/v1/suppressions", tag = "suppressions",
    responses((status = 200, body = Vec<SuppressionOut>), (status = 401, description = "No valid token")))]
pub async fn list_suppressions(
    State(state): State<AppState>,
    _auth: Auth,
) -> Result<Json<Vec<SuppressionOut>>, ApiError> {
    Ok(Json(all_suppressions(&state)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SuppressionIn {
    /// Rule id; none makes an allowlist entry (every rule).
    pub rule: Option<String>,
    /// `kind:value` (`user:alice`, `host:ws-1`, `ip:10.0.0.0/8`).
    pub entity: Option<String>,
    /// Exact field values alerts must carry.
    #[serde(default)]
    pub fields: Vec<(String, String)>,
    /// Days until it expires (none: never).
    pub days: Option<u32>,
    pub reason: String,
}

/// Adds a suppression or allowlist entry. Analyst or admin; audited.
#[utoipa::path(post, path = "/api/v1/suppressions", tag = "suppressions",
    request_body = SuppressionIn,
    responses((status = 201, body = SuppressionOut), (status = 400, body = super::ErrorBody),
        (status = 401, description = "No valid token"), (status = 403, description = "Role below analyst")))]
pub async fn add_suppression(
    State(state): State<AppState>,
    auth: Analyst,
    Json(s): Json<SuppressionIn>,
) -> Result<(StatusCode, Json<SuppressionOut>), ApiError> {
    let who = auth.0;
    if s.reason.trim().is_empty() || s.reason.len() > 2000 {
        return Err(ApiError::BadRequest(
            "reason is required (at most 2000 bytes)".into(),
        ));
    }
    let entity = s
        .entity
        .as_deref()
        .map(|e| Entity::parse(e).map_err(|m| ApiError::BadRequest(format!("entity: {m}"))))
        .transpose()?;
    if s.rule.is_none() && entity.is_none() && s.fields.is_empty() {
        return Err(ApiError::BadRequest(
            "give a rule, an entity or fields: an empty suppression would silence everything"
                .into(),
        ));
    }
    let now = Utc::now();
    let sup = Suppression {
        id: 0,
        rule: s.rule,
        entity,
        fields: s.fields,
        expires: s.days.map(|d| now + chrono::Duration::days(i64::from(d))),
        author: who.actor(),
        reason: s.reason,
        created: now,
        revoked: None,
        incident: None,
    };
    let out = {
        let mut t = state.triage.lock().unwrap_or_else(|e| e.into_inner());
        let id = t.add_suppression(sup);
        t.suppressions()
            .iter()
            .find(|s| s.id == id)
            .map(suppression_out)
            .ok_or_else(|| ApiError::Internal("suppression vanished".into()))?
    };
    state.progress.request_snapshot();
    state
        .audit(
            &who,
            "suppression.add",
            format!("suppression:{}", out.id),
            serde_json::json!({ "description": out.description, "reason": out.reason }),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// Revokes a suppression. Analyst or admin; audited.
#[utoipa::path(delete, path = "/api/v1/suppressions/{id}", tag = "suppressions",
    params(("id" = u64, Path, description = "Suppression id")),
    responses((status = 200, body = SuppressionOut), (status = 401, description = "No valid token"),
        (status = 403, description = "Role below analyst"), (status = 404, body = super::ErrorBody)))]
pub async fn revoke_suppression(
    State(state): State<AppState>,
    auth: Analyst,
    Path(id): Path<u64>,
) -> Result<Json<SuppressionOut>, ApiError> {
    let who = auth.0;
    revoke(&state, &who, id).await.map(Json)
}

/// Revokes a suppression (shared with the web UI).
pub async fn revoke(
    state: &AppState,
    who: &crate::auth::Principal,
    id: u64,
) -> Result<SuppressionOut, ApiError> {
    let out = {
        let mut t = state.triage.lock().unwrap_or_else(|e| e.into_inner());
        if !t.revoke(id, &who.actor(), Utc::now()) {
            return Err(ApiError::NotFound(format!("no active suppression {id}")));
        }
        t.suppressions()
            .iter()
            .find(|s| s.id == id)
            .map(suppression_out)
            .ok_or_else(|| ApiError::Internal("suppression vanished".into()))?
    };
    state.progress.request_snapshot();
    state
        .audit(
            who,
            "suppression.revoke",
            format!("suppression:{id}"),
            serde_json::json!({}),
        )
        .await?;
    Ok(out)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditOut {
    pub at: chrono::DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// The audit log, newest first: who changed what, when. Admin.
#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = Vec<AuditOut>), (status = 401, description = "No valid token"),
        (status = 403, description = "Role below admin")))]
pub async fn audit_log(
    State(state): State<AppState>,
    _auth: Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditOut>>, ApiError> {
    let n = limit(q.limit, 100);
    let rows = state.db(move |s| s.audit_log(n)).await?;
    Ok(Json(
        rows.into_iter()
            .map(|a| AuditOut {
                at: a.at,
                actor: a.actor,
                action: a.action,
                target: a.target,
                detail: a.detail,
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOut {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub created: chrono::DateTime<Utc>,
    pub revoked: Option<chrono::DateTime<Utc>>,
}

/// API tokens (never their secrets). Admin.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "admin",
    responses((status = 200, body = Vec<TokenOut>), (status = 401, description = "No valid token"),
        (status = 403, description = "Role below admin")))]
pub async fn list_tokens(
    State(state): State<AppState>,
    _auth: Admin,
) -> Result<Json<Vec<TokenOut>>, ApiError> {
    let rows = state.db(|s| s.tokens()).await?;
    Ok(Json(
        rows.into_iter()
            .map(|t| TokenOut {
                id: t.id,
                name: t.name,
                role: t.role,
                created: t.created,
                revoked: t.revoked,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenIn {
    pub name: String,
    /// viewer, analyst or admin.
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewTokenOut {
    pub id: i64,
    pub name: String,
    pub role: String,
    /// The secret: shown this once, only its hash is stored.
    pub token: String,
}

/// Creates a token. Admin; audited (without the secret).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "admin",
    request_body = TokenIn,
    responses((status = 201, body = NewTokenOut), (status = 400, body = super::ErrorBody),
        (status = 401, description = "No valid token"), (status = 403, description = "Role below admin")))]
pub async fn create_token(
    State(state): State<AppState>,
    auth: Admin,
    Json(t): Json<TokenIn>,
) -> Result<(StatusCode, Json<NewTokenOut>), ApiError> {
    let who = auth.0;
    let role: Role = t.role.parse().map_err(ApiError::BadRequest)?;
    let name = t.name.trim().to_string();
    if name.is_empty() || name.len() > 64 || name.contains(char::is_control) {
        return Err(ApiError::BadRequest(
            "name must be 1–64 printable characters".into(),
        ));
    }
    let (actor, n) = (who.actor(), name.clone());
    let (id, secret) = state
        .db(move |s| crate::auth::issue_token(s, &n, role, &actor))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewTokenOut {
            id,
            name,
            role: role.as_str().to_string(),
            token: secret,
        }),
    ))
}

/// Revokes a token (its sessions end too). Admin; audited.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "admin",
    params(("id" = i64, Path, description = "Token id")),
    responses((status = 204, description = "Revoked"), (status = 401, description = "No valid token"),
        (status = 403, description = "Role below admin"), (status = 404, body = super::ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    auth: Admin,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let who = auth.0;
    if !state.db(move |s| s.revoke_token(id)).await? {
        return Err(ApiError::NotFound(format!("no live token {id}")));
    }
    state.sessions.remove_token(id);
    state.tokens.clear();
    state
        .audit(
            &who,
            "token.revoke",
            format!("token:{id}"),
            serde_json::json!({}),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusOut {
    pub version: String,
    pub started: chrono::DateTime<Utc>,
    /// Highest write-ahead-log sequence number applied (stored).
    pub applied_seq: u64,
    /// Highest sequence number in the last baseline snapshot.
    pub snapshot_seq: u64,
    /// Records acknowledged and not yet applied.
    pub queue_depth: u64,
    pub events: u64,
    pub alerts: u64,
    pub parse_errors: u64,
    /// Records replayed from the log at start-up.
    pub replayed: u64,
    pub detectors: Vec<String>,
    pub rules: usize,
    pub indicators: usize,
}

/// Service status and pipeline progress.
#[utoipa::path(get, path = "/api/v1/status", tag = "admin",
    responses((status = 200, body = StatusOut), (status = 401, description = "No valid token")))]
pub async fn status(
    State(state): State<AppState>,
    _auth: Auth,
) -> Result<Json<StatusOut>, ApiError> {
    Ok(Json(status_of(&state)))
}

/// Current status (shared with the web UI).
pub fn status_of(state: &AppState) -> StatusOut {
    let p = &state.progress;
    StatusOut {
        version: env!("CARGO_PKG_VERSION").to_string(),
        started: state.started,
        applied_seq: p.applied.load(Ordering::Acquire),
        snapshot_seq: p.snapshot.load(Ordering::Acquire),
        queue_depth: state.ingress.in_flight(),
        events: p.events.load(Ordering::Relaxed),
        alerts: p.alerts.load(Ordering::Relaxed),
        parse_errors: p.parse_errors.load(Ordering::Relaxed),
        replayed: p.replayed.load(Ordering::Relaxed),
        detectors: state.cfg.pipeline.detectors.clone(),
        rules: state.rules.as_ref().map_or(0, |r| r.rules.len()),
        indicators: state.intel.as_ref().map_or(0, |i| i.len()),
    }
}

//! Alerts and incidents: list, filter, show, change status/owner, notes; verdicts feed triage
//! (false positive → scoped, expiring suppressions and lower rule fidelity).

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::Utc;
use palisade_store::{AlertFilter, IncidentChange, IncidentFilter, Store, StoredAlert};
use palisade_triage::{Incident, Scope, Status};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Analyst, ApiError, Auth, limit, parse_time};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_alerts))
        .routes(routes!(list_incidents))
        .routes(routes!(get_incident, update_incident))
        .routes(routes!(add_note))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertOut {
    pub id: i64,
    pub detector: String,
    pub rule_id: String,
    pub rule_title: String,
    pub severity: String,
    pub timestamp: Option<chrono::DateTime<Utc>>,
    pub host: Option<String>,
    pub source: Option<String>,
    pub position: Option<u64>,
    #[schema(value_type = Option<Object>)]
    pub event: Option<serde_json::Value>,
}

impl From<StoredAlert> for AlertOut {
    fn from(a: StoredAlert) -> Self {
        AlertOut {
            id: a.id,
            detector: a.detector,
            rule_id: a.rule_id,
            rule_title: a.rule_title,
            severity: a.severity.as_str().to_string(),
            timestamp: a.timestamp,
            host: a.host,
            source: a.source,
            position: a.position,
            event: a.event,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AlertQuery {
    pub rule: Option<String>,
    pub host: Option<String>,
    /// sigma, sigma-correlation, ioc, anomaly, ueba, beacon.
    pub detector: Option<String>,
    /// Alerts at or after (RFC 3339 or `24h`).
    pub from: Option<String>,
    /// Only alerts with a smaller id (next page).
    pub before: Option<i64>,
    pub limit: Option<usize>,
}

/// Alerts, newest first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, body = Vec<AlertOut>), (status = 401, description = "No valid token")))]
pub async fn list_alerts(
    State(state): State<AppState>,
    _auth: Auth,
    Query(q): Query<AlertQuery>,
) -> Result<Json<Vec<AlertOut>>, ApiError> {
    let f = AlertFilter {
        rule: q.rule,
        host: q.host,
        detector: q.detector,
        from: q.from.as_deref().map(parse_time).transpose()?,
        before_id: q.before,
        limit: limit(q.limit, 100),
    };
    let rows = state.db(move |s| s.recent_alerts(&f)).await?;
    Ok(Json(rows.into_iter().map(AlertOut::from).collect()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentOut {
    pub id: i64,
    pub status: String,
    pub owner: Option<String>,
    pub priority: f64,
    /// low / medium / high / critical band of the priority.
    pub band: String,
    pub title: String,
    pub reason: String,
    pub first_seen: Option<chrono::DateTime<Utc>>,
    pub last_seen: Option<chrono::DateTime<Utc>>,
    pub alert_count: i64,
    pub created: chrono::DateTime<Utc>,
    pub updated: chrono::DateTime<Utc>,
    /// The whole incident: entities, timeline (kill-chain order) and score breakdown.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<palisade_store::IncidentRecord> for IncidentOut {
    fn from(r: palisade_store::IncidentRecord) -> Self {
        IncidentOut {
            id: r.id,
            band: palisade_triage::engine::priority_band(r.priority)
                .as_str()
                .to_string(),
            status: r.status,
            owner: r.owner,
            priority: r.priority,
            title: r.title,
            reason: r.reason,
            first_seen: r.first_seen,
            last_seen: r.last_seen,
            alert_count: r.alert_count,
            created: r.created,
            updated: r.updated,
            detail: r.body,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct IncidentQuery {
    /// Comma-separated statuses (new, acknowledged, resolved, false-positive, true-positive);
    /// `open` = new + acknowledged.
    pub status: Option<String>,
    pub min_priority: Option<f64>,
    pub limit: Option<usize>,
}

fn statuses(s: &str) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part == "open" {
            out.extend(["new".to_string(), "acknowledged".to_string()]);
            continue;
        }
        let st: Status = part.parse().map_err(ApiError::BadRequest)?;
        out.push(st.as_str().to_string());
    }
    Ok(out)
}

/// Incidents, highest priority first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentQuery),
    responses((status = 200, body = Vec<IncidentOut>), (status = 400, body = super::ErrorBody), (status = 401, description = "No valid token")))]
pub async fn list_incidents(
    State(state): State<AppState>,
    _auth: Auth,
    Query(q): Query<IncidentQuery>,
) -> Result<Json<Vec<IncidentOut>>, ApiError> {
    let f = IncidentFilter {
        statuses: q
            .status
            .as_deref()
            .map(statuses)
            .transpose()?
            .unwrap_or_default(),
        min_priority: q.min_priority,
        limit: Some(limit(q.limit, 100)),
        ..IncidentFilter::default()
    };
    let rows = state.db(move |s| s.incidents(&f)).await?;
    Ok(Json(rows.into_iter().map(IncidentOut::from).collect()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoteOut {
    pub author: String,
    pub at: chrono::DateTime<Utc>,
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentPage {
    pub incident: IncidentOut,
    pub notes: Vec<NoteOut>,
    /// The stored alerts it groups (evidence), oldest first.
    pub alerts: Vec<AlertOut>,
}

/// Loads one incident with notes and alerts.
pub async fn load_incident(state: &AppState, id: i64) -> Result<IncidentPage, ApiError> {
    let (rec, notes, alerts) = state
        .db(move |s| {
            let rec = s
                .incidents(&IncidentFilter {
                    id: Some(id),
                    ..IncidentFilter::default()
                })?
                .into_iter()
                .next();
            let notes = s.notes(id)?;
            let alerts = s.incident_alerts(id)?;
            Ok((rec, notes, alerts))
        })
        .await?;
    let rec = rec.ok_or_else(|| ApiError::NotFound(format!("no incident {id}")))?;
    Ok(IncidentPage {
        incident: rec.into(),
        notes: notes
            .into_iter()
            .map(|n| NoteOut {
                author: n.author,
                at: n.at,
                text: n.text,
            })
            .collect(),
        alerts: alerts.into_iter().take(500).map(AlertOut::from).collect(),
    })
}

/// One incident with its notes and alerts.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")),
    responses((status = 200, body = IncidentPage), (status = 404, body = super::ErrorBody), (status = 401, description = "No valid token")))]
pub async fn get_incident(
    State(state): State<AppState>,
    _auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<IncidentPage>, ApiError> {
    Ok(Json(load_incident(&state, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct IncidentUpdate {
    /// New status; false-positive and true-positive are verdicts that teach triage.
    pub status: Option<String>,
    /// New owner (empty string clears it).
    pub owner: Option<String>,
    /// A note to add.
    pub note: Option<String>,
    /// Reach of a false positive's suppressions: service (default) or entity.
    pub scope: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateResult {
    pub incident: IncidentOut,
    /// Suppressions a false-positive verdict created.
    #[schema(value_type = Vec<Object>)]
    pub suppressions: Vec<serde_json::Value>,
}

/// Applies an analyst's change to an incident (shared by the API and the web UI).
pub async fn apply_update(
    state: &AppState,
    who: &crate::auth::Principal,
    id: i64,
    u: IncidentUpdate,
) -> Result<UpdateResult, ApiError> {
    if let Some(n) = &u.note
        && n.len() > 10_000
    {
        return Err(ApiError::BadRequest(
            "note is longer than 10000 bytes".into(),
        ));
    }
    if let Some(o) = &u.owner
        && o.len() > 200
    {
        return Err(ApiError::BadRequest(
            "owner is longer than 200 bytes".into(),
        ));
    }
    let status: Option<Status> = u
        .status
        .as_deref()
        .map(|s| s.parse().map_err(ApiError::BadRequest))
        .transpose()?;
    let scope: Scope = u
        .scope
        .as_deref()
        .map(|s| s.parse().map_err(ApiError::BadRequest))
        .transpose()?
        .unwrap_or_default();
    let page = load_incident(state, id).await?;
    let mut made = Vec::new();
    if let Some(s @ (Status::FalsePositive | Status::TruePositive)) = status {
        let mut inc: Incident = serde_json::from_value(page.incident.detail.clone())
            .map_err(|e| ApiError::Internal(format!("incident {id} body: {e}")))?;
        // A body stored before the incident had its id says 0; the suppressions name it.
        inc.id = id;
        let mut t = state.triage.lock().unwrap_or_else(|e| e.into_inner());
        made = t.verdict_scoped(&inc, s, &who.actor(), Utc::now(), scope);
    }
    for m in &made {
        state
            .audit(
                who,
                "suppression.add",
                format!("suppression:{}", m.id),
                serde_json::to_value(m).unwrap_or_default(),
            )
            .await?;
    }
    if status.is_some_and(|s| !s.is_open()) {
        state.progress.close(id);
    }
    if status.is_some() || !made.is_empty() {
        state.progress.request_snapshot();
    }
    let change = IncidentChange {
        actor: who.actor(),
        status: status.map(|s| s.as_str().to_string()),
        owner: u.owner,
        note: u.note,
    };
    let found = state.db(move |s| s.update_incident(id, &change)).await?;
    if !found {
        return Err(ApiError::NotFound(format!("no incident {id}")));
    }
    let page = load_incident(state, id).await?;
    Ok(UpdateResult {
        incident: page.incident,
        suppressions: made
            .iter()
            .map(|m| {
                let mut v = serde_json::to_value(m).unwrap_or_default();
                if let serde_json::Value::Object(o) = &mut v {
                    o.insert("description".into(), json!(m.describe()));
                }
                v
            })
            .collect(),
    })
}

/// Change status (a verdict teaches triage), owner, or add a note. Analyst or admin.
#[utoipa::path(patch, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")),
    request_body = IncidentUpdate,
    responses((status = 200, body = UpdateResult), (status = 400, body = super::ErrorBody),
        (status = 401, description = "No valid token"), (status = 403, description = "Role below analyst"),
        (status = 404, body = super::ErrorBody)))]
pub async fn update_incident(
    State(state): State<AppState>,
    auth: Analyst,
    Path(id): Path<i64>,
    Json(u): Json<IncidentUpdate>,
) -> Result<Json<UpdateResult>, ApiError> {
    let who = auth.0;
    Ok(Json(apply_update(&state, &who, id, u).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NoteIn {
    pub text: String,
}

/// Adds a note to an incident. Analyst or admin.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/notes", tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")),
    request_body = NoteIn,
    responses((status = 200, body = UpdateResult), (status = 401, description = "No valid token"),
        (status = 403, description = "Role below analyst"), (status = 404, body = super::ErrorBody)))]
pub async fn add_note(
    State(state): State<AppState>,
    auth: Analyst,
    Path(id): Path<i64>,
    Json(n): Json<NoteIn>,
) -> Result<Json<UpdateResult>, ApiError> {
    let who = auth.0;
    if n.text.trim().is_empty() {
        return Err(ApiError::BadRequest("note text is empty".into()));
    }
    Ok(Json(
        apply_update(
            &state,
            &who,
            id,
            IncidentUpdate {
                status: None,
                owner: None,
                note: Some(n.text),
                scope: None,
            },
        )
        .await?,
    ))
}

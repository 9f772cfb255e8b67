//! Entities: the riskiest now, and one entity's risk over time and learned baseline.

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::Utc;
use palisade_anomaly::ueba::EntityKind as UebaKind;
use palisade_anomaly::ueba::ProfileSummary;
use palisade_store::{EventFilter, Store};
use palisade_triage::{Entity, EntityKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, Auth, limit, parse_time};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(riskiest))
        .routes(routes!(get_entity))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntityRisk {
    /// `kind:value`, e.g. `user:alice`, `host:ws-07`, `ip:203.0.113.9`.
    pub entity: String,
    pub kind: String,
    pub value: String,
    pub risk: f64,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RiskQuery {
    pub limit: Option<usize>,
}

/// The entities with the highest accumulated risk now.
#[utoipa::path(get, path = "/api/v1/entities", tag = "entities", params(RiskQuery),
    responses((status = 200, body = Vec<EntityRisk>), (status = 401, description = "No valid token")))]
pub async fn riskiest(
    State(state): State<AppState>,
    _auth: Auth,
    Query(q): Query<RiskQuery>,
) -> Result<Json<Vec<EntityRisk>>, ApiError> {
    Ok(Json(top_entities(&state, limit(q.limit, 20))))
}

/// The riskiest entities (shared with the web UI).
pub fn top_entities(state: &AppState, n: usize) -> Vec<EntityRisk> {
    let t = state.triage.lock().unwrap_or_else(|e| e.into_inner());
    t.riskiest(risk_clock(&t), n)
        .into_iter()
        .map(|(e, r)| EntityRisk {
            entity: e.to_string(),
            kind: e.kind.as_str().to_string(),
            value: e.value.clone(),
            risk: (r * 10.0).round() / 10.0,
        })
        .collect()
}

/// The time risk is read at: now, unless the newest alert is more than a week old (events
/// replayed from an archive), then the newest alert's time — so an archive's entities are seen
/// as they stood, not decayed to nothing.
pub fn risk_clock(t: &palisade_triage::Triage) -> i64 {
    let now = Utc::now().timestamp();
    match t.latest() {
        Some(l) if now - l > 7 * 86_400 => l,
        _ => now,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RiskPoint {
    pub at: chrono::DateTime<Utc>,
    pub risk: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntityPage {
    pub entity: String,
    /// Risk now (decayed), if the entity ever had any.
    pub risk: Option<f64>,
    /// Risk samples over time (one per pipeline batch that touched the entity).
    pub risk_history: Vec<RiskPoint>,
    /// The learned UEBA baseline (hour-of-week profile, rates, related values such as
    /// countries, devices, hosts), when UEBA knows the entity.
    #[schema(value_type = Option<Object>)]
    pub baseline: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EntityQuery {
    /// Risk history since (RFC 3339 or `7d`; default 7 days).
    pub since: Option<String>,
}

/// Parses the kind of an entity path segment.
pub fn entity_of(kind: &str, value: &str) -> Result<Entity, ApiError> {
    let text = format!("{kind}:{value}");
    let e =
        Entity::parse(&text).map_err(|e| ApiError::BadRequest(format!("entity {text:?}: {e}")))?;
    Ok(e)
}

fn ueba_kind(k: EntityKind) -> Option<UebaKind> {
    match k {
        EntityKind::User => Some(UebaKind::User),
        EntityKind::Host => Some(UebaKind::Host),
        EntityKind::Ip => Some(UebaKind::SourceIp),
        _ => None,
    }
}

/// Loads an entity page (shared with the web UI).
pub async fn load_entity(
    state: &AppState,
    e: Entity,
    since: chrono::DateTime<Utc>,
) -> Result<EntityPage, ApiError> {
    let name = e.to_string();
    let risk = {
        let t = state.triage.lock().unwrap_or_else(|e| e.into_inner());
        t.entity_risk(&e, risk_clock(&t))
    };
    let key = name.clone();
    let history = state.db(move |s| s.risk_history(&key, since)).await?;
    let direct = match (&state.learned, ueba_kind(e.kind)) {
        (Some(l), Some(kind)) => {
            let l = l.lock().unwrap_or_else(|e| e.into_inner());
            l.profile(kind, &e.value)
        }
        _ => None,
    };
    let profile = match direct {
        Some(p) => Some(p),
        None => baseline_as_written(state, &e).await?,
    };
    let baseline = profile.and_then(|p| serde_json::to_value(p).ok());
    Ok(EntityPage {
        entity: name,
        risk: risk.map(|r| (r * 10.0).round() / 10.0),
        risk_history: history
            .into_iter()
            .map(|(at, risk)| RiskPoint { at, risk })
            .collect(),
        baseline,
    })
}

/// UEBA keys an entity by its name as the logs write it (`CORP\alice`, `WS01.corp…`) while
/// triage normalises (`alice`, `ws01.corp…`): find the written forms among recent stored
/// events that normalise to this entity and take the baseline with the most events.
pub(crate) async fn baseline_as_written(
    state: &AppState,
    e: &Entity,
) -> Result<Option<ProfileSummary>, crate::api::ApiError> {
    let (Some(learned), Some(kind)) = (state.learned.clone(), ueba_kind(e.kind)) else {
        return Ok(None);
    };
    let filter = EventFilter {
        text: Some(e.value.clone()),
        limit: 200,
        ..EventFilter::default()
    };
    let events = state.db(move |s| s.events(&filter)).await?;
    let mut names: Vec<String> = Vec::new();
    for ev in events {
        let raw = match e.kind {
            EntityKind::User => ev.user,
            EntityKind::Host => ev.host,
            _ => ev.source_ip,
        };
        if let Some(raw) = raw
            && !names.contains(&raw)
            && Entity::parse(&format!("{}:{raw}", e.kind.as_str())).as_ref() == Ok(e)
        {
            names.push(raw);
        }
        if names.len() >= 8 {
            break;
        }
    }
    let l = learned.lock().unwrap_or_else(|p| p.into_inner());
    Ok(names
        .iter()
        .filter_map(|n| l.profile(kind, n))
        .max_by_key(|p| p.events))
}

/// One entity: risk now and over time, and its learned baseline.
#[utoipa::path(get, path = "/api/v1/entities/{kind}/{value}", tag = "entities",
    params(("kind" = String, Path, description = "user, host, ip, process or file"),
           ("value" = String, Path, description = "The entity's value"), EntityQuery),
    responses((status = 200, body = EntityPage), (status = 400, body = super::ErrorBody), (status = 401, description = "No valid token")))]
pub async fn get_entity(
    State(state): State<AppState>,
    _auth: Auth,
    Path((kind, value)): Path<(String, String)>,
    Query(q): Query<EntityQuery>,
) -> Result<Json<EntityPage>, ApiError> {
    let e = entity_of(&kind, &value)?;
    let since = match q.since.as_deref() {
        Some(s) => parse_time(s)?,
        None => {
            let clock = {
                let t = state.triage.lock().unwrap_or_else(|e| e.into_inner());
                risk_clock(&t)
            };
            chrono::DateTime::from_timestamp(clock, 0).unwrap_or_else(Utc::now)
                - chrono::Duration::days(7)
        }
    };
    Ok(Json(load_entity(&state, e, since).await?))
}

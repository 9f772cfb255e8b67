//! The decisions API of CrowdSec's local API (LAPI), as bouncers use it, so the bouncers
//! people already run (crowdsec-firewall-bouncer, nginx, HAProxy, …) enforce Palisade's
//! decisions.
//!
//! - `GET /v1/decisions/stream?startup=true|false&scopes=ip,range&origins=…&scenarios_containing=…&scenarios_not_containing=…`
//!   → `{"new": [...] | null, "deleted": [...] | null}`. Startup: every active decision;
//!   otherwise what changed since this bouncer's last pull (a per-bouncer cursor over the
//!   store's change feed). Scopes default to `ip,range` as in CrowdSec.
//! - `GET /v1/decisions?ip=…|range=…|scope=…&value=…&type=…&contains=true|false` → an array,
//!   or `null` when nothing matches (as CrowdSec answers).
//!
//! Both need `X-Api-Key: <bouncer key>` (`palisade bouncer add`); without a valid one the
//! answer is CrowdSec's `403 {"message":"access forbidden"}`. HEAD is answered like GET,
//! without a body. Decision JSON follows CrowdSec's model: `duration` is the time left as a
//! Go duration string (negative for deleted ones), scope `Ip`/`Range`.

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use palisade_store::{AddressMatch, Decision, DecisionFilter, ResponseStore, Scope};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{hash_secret, secrets_equal};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stream))
        .routes(routes!(decisions))
}

/// How long a permanent decision is announced for: bouncers need a finite timeout (nftables
/// set elements, caches); ten years is as good as forever and within Go's duration range.
const PERMANENT_MS: i64 = 10 * 365 * 86_400_000;

/// A failure in CrowdSec's shape, `{"message": "..."}`.
#[derive(Debug)]
pub enum LapiError {
    Forbidden,
    BadRequest(String),
    Internal(String),
}

#[derive(Serialize, ToSchema)]
pub struct LapiMessage {
    pub message: String,
}

impl IntoResponse for LapiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            LapiError::Forbidden => (StatusCode::FORBIDDEN, "access forbidden".to_string()),
            LapiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            LapiError::Internal(m) => {
                tracing::error!("decisions API: {m}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_string(),
                )
            }
        };
        (status, Json(LapiMessage { message })).into_response()
    }
}

impl From<crate::api::ApiError> for LapiError {
    fn from(e: crate::api::ApiError) -> Self {
        LapiError::Internal(format!("{e:?}"))
    }
}

/// A bouncer authenticated by its `X-Api-Key`; its pull is recorded (time, address, user
/// agent) and counted.
pub struct Bouncer {
    pub id: i64,
    pub name: String,
}

impl FromRequestParts<AppState> for Bouncer {
    type Rejection = LapiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, LapiError> {
        let key = parts
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 256)
            .ok_or(LapiError::Forbidden)?;
        // Only the key's SHA-256 is stored and looked up, so the lookup's timing says nothing
        // about a valid key; the final comparison is constant-time as well.
        let hash = hash_secret(key);
        let lookup = hash.clone();
        let found = state
            .db(move |s| s.bouncer_by_key_hash(&lookup))
            .await?
            .ok_or(LapiError::Forbidden)?;
        if !secrets_equal(&found.key_hash, &hash) {
            return Err(LapiError::Forbidden);
        }
        let ip = parts
            .extensions
            .get::<ConnectInfo<crate::tls::PeerAddr>>()
            .map(|c| c.0.0.ip().to_canonical().to_string());
        let agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect::<String>());
        let id = found.id;
        state
            .db(move |s| s.touch_bouncer(id, now_ms(), ip.as_deref(), agent.as_deref()))
            .await?;
        state.metrics.bouncer_pulls.inc();
        Ok(Bouncer {
            id,
            name: found.name,
        })
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A decision as CrowdSec's model has it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LapiDecision {
    pub id: i64,
    pub uuid: String,
    pub origin: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `Ip` or `Range`.
    pub scope: String,
    pub value: String,
    /// Time left as a Go duration (`3599s`, `1h0m0s`); negative once deleted or expired.
    pub duration: String,
    /// When it ends (RFC 3339); absent for a permanent decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    pub scenario: String,
    pub simulated: bool,
}

impl LapiDecision {
    pub fn new(d: &Decision, now: i64) -> LapiDecision {
        let end = d.ends_at();
        let left = match end {
            Some(e) => e - now,
            None => PERMANENT_MS,
        };
        LapiDecision {
            id: d.id,
            uuid: d.uuid.clone(),
            origin: d.origin.clone(),
            kind: d.kind.clone(),
            scope: d.scope.as_str().to_string(),
            value: d.value.clone(),
            duration: go_duration(left),
            until: end.and_then(|e| {
                chrono::DateTime::from_timestamp_millis(e)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            }),
            scenario: d.scenario.clone(),
            simulated: d.simulated,
        }
    }
}

/// `ms` as Go's `time.Duration.String()` writes it (`1h2m3.5s`, `-5s`, `250ms`, `0s`), which
/// bouncers parse with `time.ParseDuration`.
pub fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        let f = format!("{frac:03}");
        format!("{s}.{}s", f.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => format!("{sign}{secs}"),
        (0, m) => format!("{sign}{m}m{secs}"),
        (h, m) => format!("{sign}{h}h{m}m{secs}"),
    }
}

fn list(s: Option<&str>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

fn truthy(s: Option<&str>, default: bool) -> Result<bool, LapiError> {
    match s.map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(s) if s.is_empty() => Ok(default),
        Some(s) if s == "true" || s == "1" => Ok(true),
        Some(s) if s == "false" || s == "0" => Ok(false),
        Some(s) => Err(LapiError::BadRequest(format!(
            "{s:?} is not a boolean (true or false)"
        ))),
    }
}

/// Scopes a bouncer asked for; unknown ones (CrowdSec's `country`, `as`, …) match nothing
/// here, since Palisade only decides on addresses and ranges.
fn scopes(s: Option<&str>) -> Vec<Scope> {
    let asked = list(s.or(Some("ip,range")));
    let known: Vec<Scope> = asked.iter().filter_map(|a| Scope::parse(a)).collect();
    if known.is_empty() && !asked.is_empty() {
        // Only unknown scopes: a filter nothing passes.
        return vec![];
    }
    known
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct StreamQuery {
    /// `true` on a bouncer's first pull: every active decision.
    pub startup: Option<String>,
    /// Comma-separated scopes (default `ip,range`).
    pub scopes: Option<String>,
    /// Comma-separated origins (`palisade`, `palisade-cli`).
    pub origins: Option<String>,
    /// Comma-separated substrings; a decision's scenario must contain one.
    pub scenarios_containing: Option<String>,
    /// Comma-separated substrings; a decision's scenario must contain none.
    pub scenarios_not_containing: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StreamOut {
    /// Decisions to apply (`null` when none).
    pub new: Option<Vec<LapiDecision>>,
    /// Decisions to lift (`null` when none).
    pub deleted: Option<Vec<LapiDecision>>,
}

fn none_if_empty(v: Vec<LapiDecision>) -> Option<Vec<LapiDecision>> {
    (!v.is_empty()).then_some(v)
}

/// Decisions for a bouncer to apply and lift (CrowdSec LAPI).
#[utoipa::path(get, path = "/v1/decisions/stream", tag = "bouncers", params(StreamQuery),
    security(("api_key" = [])),
    responses((status = 200, body = StreamOut),
              (status = 403, description = "No valid bouncer key", body = LapiMessage)))]
pub async fn stream(
    State(state): State<AppState>,
    bouncer: Bouncer,
    Query(q): Query<StreamQuery>,
) -> Result<Json<StreamOut>, LapiError> {
    let startup = truthy(q.startup.as_deref(), false)?;
    let scopes = scopes(q.scopes.as_deref());
    if scopes.is_empty() {
        return Ok(Json(StreamOut {
            new: None,
            deleted: None,
        }));
    }
    let filter = DecisionFilter {
        scopes,
        origins: list(q.origins.as_deref()),
        scenarios_containing: list(q.scenarios_containing.as_deref()),
        scenarios_not_containing: list(q.scenarios_not_containing.as_deref()),
        ..DecisionFilter::default()
    };
    let now = now_ms();
    let id = bouncer.id;
    let (new, deleted) = state
        .db(move |s| s.decision_stream(id, startup, &filter, now))
        .await?;
    tracing::debug!(
        "bouncer {} pulled {} new, {} deleted (startup: {startup})",
        bouncer.name,
        new.len(),
        deleted.len()
    );
    let out =
        |v: Vec<Decision>| none_if_empty(v.iter().map(|d| LapiDecision::new(d, now)).collect());
    Ok(Json(StreamOut {
        new: out(new),
        deleted: out(deleted),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DecisionsQuery {
    /// An address: Ip decisions equal to it and Range decisions holding it.
    pub ip: Option<String>,
    /// A CIDR: with `contains=true` (default) decisions holding it, with `false` decisions
    /// inside it.
    pub range: Option<String>,
    /// `ip` or `range`.
    pub scope: Option<String>,
    /// Exact value (with `scope`).
    pub value: Option<String>,
    /// Decision type (`ban`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub contains: Option<String>,
    pub origins: Option<String>,
    pub scenarios_containing: Option<String>,
    pub scenarios_not_containing: Option<String>,
}

/// Active decisions matching an address, range or value (CrowdSec LAPI); `null` when none.
#[utoipa::path(get, path = "/v1/decisions", tag = "bouncers", params(DecisionsQuery),
    security(("api_key" = [])),
    responses((status = 200, body = Option<Vec<LapiDecision>>),
              (status = 400, description = "A malformed address or range", body = LapiMessage),
              (status = 403, description = "No valid bouncer key", body = LapiMessage)))]
pub async fn decisions(
    State(state): State<AppState>,
    _bouncer: Bouncer,
    Query(q): Query<DecisionsQuery>,
) -> Result<Json<Option<Vec<LapiDecision>>>, LapiError> {
    let contains = truthy(q.contains.as_deref(), true)?;
    let scope = match q.scope.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match Scope::parse(s) {
            Some(sc) => Some(sc),
            // A scope Palisade never decides on (country, as, …): nothing matches.
            None => return Ok(Json(None)),
        },
    };
    let query = q.ip.as_deref().or(q.range.as_deref()).map(str::trim);
    let address = match query.filter(|s| !s.is_empty()) {
        Some(a) => {
            if palisade_store::canonical_value(Scope::Ip, a).is_err()
                && palisade_store::canonical_value(Scope::Range, a).is_err()
            {
                return Err(LapiError::BadRequest(format!(
                    "{a:?} is not an IP address or range"
                )));
            }
            Some(AddressMatch {
                query: a.to_string(),
                contains,
            })
        }
        None => None,
    };
    let filter = DecisionFilter {
        kind: q.kind.clone().filter(|k| !k.is_empty()),
        scopes: scope.into_iter().collect(),
        value: q.value.clone().filter(|v| !v.is_empty()),
        origins: list(q.origins.as_deref()),
        scenarios_containing: list(q.scenarios_containing.as_deref()),
        scenarios_not_containing: list(q.scenarios_not_containing.as_deref()),
        address,
        ..DecisionFilter::default()
    };
    let now = now_ms();
    let found = state.db(move |s| s.decisions(&filter, now)).await?;
    Ok(Json(none_if_empty(
        found.iter().map(|d| LapiDecision::new(d, now)).collect(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_writes_them() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(250), "250ms");
        assert_eq!(go_duration(3_599_000), "59m59s");
        assert_eq!(go_duration(3_600_000), "1h0m0s");
        assert_eq!(go_duration(14_400_500), "4h0m0.5s");
        assert_eq!(go_duration(-5_000), "-5s");
        assert_eq!(go_duration(-61_250), "-1m1.25s");
        assert_eq!(go_duration(PERMANENT_MS), "87600h0m0s");
    }

    #[test]
    fn scopes_default_to_ip_and_range() {
        assert_eq!(scopes(None), [Scope::Ip, Scope::Range]);
        assert_eq!(scopes(Some("Ip")), [Scope::Ip]);
        assert_eq!(scopes(Some("ip,country")), [Scope::Ip]);
        assert!(scopes(Some("country")).is_empty());
    }
}

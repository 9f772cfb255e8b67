//! The REST API (`/api/v1/…`), its OpenAPI document (`/api/openapi.json`) and `/metrics`.
//!
//! Every route is registered through `utoipa_axum::routes!`, which takes the path and method
//! from the handler's `#[utoipa::path]` annotation: the document cannot drift from the
//! routes. Every route needs a bearer token (`Authorization: Bearer pal_…`): none or an
//! unknown one is 401, a role below the route's is 403. Changes are audited.
//!
//! Beside them, outside `/api/v1`, CrowdSec's bouncer routes (`/v1/decisions…`,
//! [`crowdsec`]), authenticated by a bouncer key (`X-Api-Key`) instead of a token.

pub mod auth;
pub(crate) mod crowdsec;
pub(crate) mod entities;
pub(crate) mod events;
pub mod guard;
pub(crate) mod incidents;
pub(crate) mod misc;
pub mod respond;
pub(crate) mod rules;

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::auth::{Principal, Role};
use crate::state::AppState;

/// An API failure as JSON `{"error": "..."}` with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    Unauthorized,
    Forbidden(Role),
    NotFound(String),
    BadRequest(String),
    TooLarge(String),
    Busy { retry_after_secs: u64 },
    Unavailable(String),
    Internal(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, msg) = match &self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "a valid API token is required (Authorization: Bearer <token>)".to_string(),
            ),
            ApiError::Forbidden(r) => (
                StatusCode::FORBIDDEN,
                format!("this needs the {r} role or higher"),
            ),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            ApiError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m.clone()),
            ApiError::Busy { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                format!("the ingest queue is full; retry in {retry_after_secs} s"),
            ),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m.clone()),
            ApiError::Internal(m) => {
                tracing::error!("internal error: {m}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error (see the server log)".to_string(),
                )
            }
        };
        let mut resp = (status, Json(ErrorBody { error: msg })).into_response();
        match self {
            ApiError::Busy { retry_after_secs } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            ApiError::Unauthorized => {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"palisade\""),
                );
            }
            ApiError::Unavailable(_) => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        resp
    }
}

/// The caller, from its bearer token, with at least role `R` (0 viewer, 1 analyst, 2 admin):
/// checked before the request body is read, so a weak token gets 403 whatever it sent.
pub struct Authed<const R: u8>(pub Principal);

/// Any valid token.
pub type Auth = Authed<0>;
/// An analyst or admin token.
pub type Analyst = Authed<1>;
/// An admin token.
pub type Admin = Authed<2>;

fn role_of(r: u8) -> Role {
    match r {
        0 => Role::Viewer,
        1 => Role::Analyst,
        _ => Role::Admin,
    }
}

impl<const R: u8> Authed<R> {
    /// The principal, if its role is at least `role`.
    pub fn require(&self, role: Role) -> Result<&Principal, ApiError> {
        if self.0.role >= role {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden(role))
        }
    }
}

impl<const R: u8> FromRequestParts<AppState> for Authed<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        let p = state
            .principal(secret)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        let need = role_of(R);
        if p.role < need {
            return Err(ApiError::Forbidden(need));
        }
        Ok(Authed(p))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Palisade API",
        description = "Events, alerts, incidents, entities, rules, threat intel, suppressions and tokens of a running `palisade serve`. Every /api route needs `Authorization: Bearer <token>` (create one with `palisade token create --role R`); roles are viewer < analyst < admin. The /v1/decisions routes speak CrowdSec's bouncer protocol and need `X-Api-Key: <key>` from `palisade bouncer add`."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("pal_…")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "A bouncer key from `palisade bouncer add` (the /v1/decisions routes only)",
            ))),
        );
    }
}

/// Every API route with its OpenAPI document.
pub fn router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(events::routes())
        .merge(incidents::routes())
        .merge(entities::routes())
        .merge(rules::routes())
        .merge(misc::routes())
        .merge(respond::routes())
        .merge(auth::routes())
        .merge(guard::routes())
        .merge(crowdsec::routes())
        .split_for_parts();
    (router, doc)
}

/// Parses an RFC 3339 time or a relative one (`15m`, `24h`, `7d` ago).
pub fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| {
        ApiError::BadRequest(format!("bad time {s:?}: give RFC 3339 or 15m/24h/7d"))
    })?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => {
            return Err(ApiError::BadRequest(format!(
                "bad time {s:?}: give RFC 3339 or 15m/24h/7d"
            )));
        }
    };
    Ok(chrono::Utc::now() - chrono::Duration::seconds(secs.clamp(0, 3650 * 86_400)))
}

/// Most rows any list returns.
pub const MAX_LIMIT: usize = 1000;

pub fn limit(l: Option<usize>, default: usize) -> usize {
    l.unwrap_or(default).clamp(1, MAX_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_is_429_with_retry_after() {
        let r = ApiError::Busy {
            retry_after_secs: 2,
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        let r = ApiError::Unauthorized.into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
    }

    #[test]
    fn relative_and_absolute_times_parse() {
        let t = parse_time("15m").unwrap();
        let d = chrono::Utc::now() - t;
        assert!(d.num_seconds() >= 899 && d.num_seconds() <= 901);
        assert!(parse_time("2026-01-01T00:00:00Z").is_ok());
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("").is_err());
    }
}

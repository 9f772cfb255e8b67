//! Risk-based authentication: login systems ask whether an attempt looks right and report what
//! happened (see `palisade-auth` for the signals and the policy).
//!
//! - `POST /api/v1/auth/assess` — `{user, ip, user_agent, device_id?, timestamp?, app?,
//!   outcome?}` → `{decision, risk, reasons: [{signal, score, evidence}]}`; with `outcome` the
//!   engine also learns from it (one call instead of two);
//! - `POST /api/v1/auth/outcome` — the same request with `outcome` (`success`, `failure`,
//!   `mfa_passed`, `mfa_failed`) → 204; only confirmed logins (success, MFA passed) update a
//!   user's profile, failures feed brute-force, spraying and stuffing windows;
//! - `GET /api/v1/auth/nginx` — for nginx `auth_request`: the user from `auth.nginx_user_header`
//!   (default `X-Auth-User`), the address from `X-Real-IP`, else the first hop of
//!   `X-Forwarded-For`, else the peer; 204 allow, 401 challenge (`X-Palisade-Decision:
//!   challenge`), 403 deny, always with `X-Palisade-Risk` and `X-Palisade-Reasons`.
//!
//! **Role: analyst.** A login system both reads a verdict and changes learned state (outcomes),
//! which is what analyst tokens are for in this API (viewer is read-only; admin manages tokens
//! and configuration, which a login frontend must never hold). Give each login system its own
//! analyst token (`palisade token create --role analyst --name sso`) so it can be revoked alone.
//! The forwarded-address headers are trusted because only a token holder (the proxy) can call.
//!
//! Challenges, denies and outcomes become ECS events (`event.category: authentication`,
//! `event.action: palisade-assess` / `palisade-outcome`, `palisade.auth.*`) submitted to the
//! ingress as NDJSON from source `auth` without waiting: when the queue is full the event is
//! dropped and counted (`palisade_auth_events_dropped`), the answer is never delayed.
//! Assessment takes the engine's read lock only; no store access besides the token check.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use palisade_auth::{Assessment, Decision, Engine, Outcome, Request};
use palisade_ingest::Format;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Analyst, ApiError};
use crate::metrics::DecisionLabel;
use crate::state::AppState;
use crate::wal::Record;

/// Longest user name, bytes.
pub const MAX_USER: usize = 256;
/// Longest user agent, bytes.
pub const MAX_USER_AGENT: usize = 1024;
/// Longest device id, bytes.
pub const MAX_DEVICE: usize = 256;
/// Longest app name, bytes.
pub const MAX_APP: usize = 128;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(assess))
        .routes(routes!(outcome))
        .routes(routes!(nginx))
}

/// One login attempt.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttemptIn {
    /// The user name as the login system knows it (1..=256 bytes).
    pub user: String,
    /// The client address (IPv4 or IPv6).
    pub ip: String,
    /// The User-Agent header (≤ 1024 bytes).
    #[serde(default)]
    pub user_agent: String,
    /// A device fingerprint or cookie id (≤ 256 bytes).
    #[serde(default)]
    pub device_id: Option<String>,
    /// When the attempt happened (RFC 3339); now when absent.
    #[serde(default)]
    pub timestamp: Option<DateTime<Utc>>,
    /// Which application (selects per-app thresholds; ≤ 128 bytes).
    #[serde(default)]
    pub app: Option<String>,
    /// success, failure, mfa_passed or mfa_failed.
    #[serde(default)]
    pub outcome: Option<String>,
}

/// One signal behind the risk.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReasonOut {
    /// e.g. new_country, impossible_travel, password_spraying.
    pub signal: String,
    /// Points it added.
    pub score: u8,
    /// Why, in words.
    pub evidence: String,
}

/// The verdict.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssessOut {
    /// allow, challenge or deny.
    pub decision: String,
    /// 0..=100.
    pub risk: u8,
    pub reasons: Vec<ReasonOut>,
}

fn decision_str(d: Decision) -> &'static str {
    match d {
        Decision::Allow => "allow",
        Decision::Challenge => "challenge",
        Decision::Deny => "deny",
    }
}

fn parse_outcome(s: &str) -> Result<Outcome, ApiError> {
    match s {
        "success" => Ok(Outcome::Success),
        "failure" => Ok(Outcome::Failure),
        "mfa_passed" => Ok(Outcome::MfaPassed),
        "mfa_failed" => Ok(Outcome::MfaFailed),
        _ => Err(ApiError::BadRequest(format!(
            "outcome: {s:?} is not one of success, failure, mfa_passed, mfa_failed"
        ))),
    }
}

fn check_len(field: &str, v: &str, max: usize) -> Result<(), ApiError> {
    if v.len() > max {
        return Err(ApiError::BadRequest(format!(
            "{field}: {} bytes is longer than the {max}-byte limit",
            v.len()
        )));
    }
    Ok(())
}

/// Parses and checks a JSON attempt (errors name the field).
fn attempt(body: &[u8]) -> Result<Request, ApiError> {
    let a: AttemptIn = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("bad attempt JSON: {e}")))?;
    to_request(a)
}

fn to_request(a: AttemptIn) -> Result<Request, ApiError> {
    if a.user.is_empty() {
        return Err(ApiError::BadRequest("user: must not be empty".into()));
    }
    check_len("user", &a.user, MAX_USER)?;
    check_len("user_agent", &a.user_agent, MAX_USER_AGENT)?;
    if let Some(d) = &a.device_id {
        check_len("device_id", d, MAX_DEVICE)?;
    }
    if let Some(app) = &a.app {
        check_len("app", app, MAX_APP)?;
    }
    let ip: IpAddr = a.ip.trim().parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "ip: {:?} is not an IPv4 or IPv6 address",
            a.ip.chars().take(64).collect::<String>()
        ))
    })?;
    let outcome = a.outcome.as_deref().map(parse_outcome).transpose()?;
    Ok(Request {
        user: a.user,
        ip: ip.to_canonical(),
        user_agent: a.user_agent,
        device_id: a.device_id,
        timestamp: a.timestamp.unwrap_or_else(Utc::now),
        app: a.app,
        outcome,
    })
}

fn engine(state: &AppState) -> Result<&Arc<RwLock<Engine>>, ApiError> {
    state.auth.as_ref().ok_or_else(|| {
        ApiError::Unavailable("risk-based authentication is off (auth.enabled = false)".into())
    })
}

/// Scores under the read lock; counts the decision; hands challenges and denies to the pipeline.
fn run_assess(state: &AppState, req: &Request) -> Result<Assessment, ApiError> {
    let a = engine(state)?
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .assess(req);
    state
        .metrics
        .auth_assessments
        .get_or_create(&DecisionLabel {
            decision: decision_str(a.decision).into(),
        })
        .inc();
    if a.decision != Decision::Allow {
        emit(state, assess_event(req, &a));
    }
    Ok(a)
}

/// Learns under the write lock and hands the outcome to the pipeline.
fn run_outcome(state: &AppState, req: &Request, outcome: Outcome) -> Result<(), ApiError> {
    engine(state)?
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .outcome(req, outcome);
    emit(state, outcome_event(req, outcome));
    Ok(())
}

fn emit(state: &AppState, line: serde_json::Value) {
    let record = Record {
        source: Arc::from("auth"),
        format: Format::Json,
        line: line.to_string().into_bytes(),
    };
    if state.ingress.try_submit(vec![record]).is_err() {
        state.metrics.auth_events_dropped.inc();
    }
}

fn base_event(req: &Request, action: &str, outcome: &str) -> serde_json::Value {
    let mut v = serde_json::json!({
        "@timestamp": req.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "event": {
            "kind": "event",
            "category": "authentication",
            "action": action,
            "outcome": outcome,
            "module": "palisade-auth",
        },
        "user": {"name": req.user},
        "source": {"ip": req.ip.to_string()},
    });
    if !req.user_agent.is_empty() {
        v["user_agent"] = serde_json::json!({"original": req.user_agent});
    }
    if let Some(app) = &req.app {
        v["service"] = serde_json::json!({"name": app});
    }
    v
}

/// The ECS event of a challenge or deny.
pub fn assess_event(req: &Request, a: &Assessment) -> serde_json::Value {
    let outcome = match a.decision {
        Decision::Allow => "success",
        Decision::Challenge => "unknown",
        Decision::Deny => "failure",
    };
    let mut v = base_event(req, "palisade-assess", outcome);
    let signals: Vec<&str> = a.reasons.iter().map(|r| r.signal.as_str()).collect();
    let evidence: Vec<String> = a
        .reasons
        .iter()
        .map(|r| format!("{} (+{}): {}", r.signal, r.score, r.evidence))
        .collect();
    v["palisade"] = serde_json::json!({"auth": {
        "decision": decision_str(a.decision),
        "risk": a.risk,
        "signals": signals.join(","),
        "reasons": evidence,
    }});
    v["message"] = serde_json::Value::String(format!(
        "login of {} from {}: {} (risk {}; {})",
        req.user,
        req.ip,
        decision_str(a.decision),
        a.risk,
        signals.join(", ")
    ));
    v
}

/// The ECS event of a reported outcome.
pub fn outcome_event(req: &Request, o: Outcome) -> serde_json::Value {
    let name = match o {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
        Outcome::MfaPassed => "mfa_passed",
        Outcome::MfaFailed => "mfa_failed",
    };
    let mut v = base_event(
        req,
        "palisade-outcome",
        if o.is_confirmed() {
            "success"
        } else {
            "failure"
        },
    );
    v["palisade"] = serde_json::json!({"auth": {"outcome": name}});
    v
}

fn out(a: Assessment) -> AssessOut {
    AssessOut {
        decision: decision_str(a.decision).into(),
        risk: a.risk,
        reasons: a
            .reasons
            .into_iter()
            .map(|r| ReasonOut {
                signal: r.signal,
                score: r.score,
                evidence: r.evidence,
            })
            .collect(),
    }
}

/// Scores a login attempt: allow, challenge (ask for a second factor) or deny, with reasons.
/// With `outcome`, also learns from it. Needs an analyst token (see the module docs).
#[utoipa::path(post, path = "/api/v1/auth/assess", tag = "auth", request_body = AttemptIn,
    responses((status = 200, body = AssessOut), (status = 400, body = super::ErrorBody),
        (status = 401, description = "No valid token"), (status = 403, description = "Below analyst"),
        (status = 503, body = super::ErrorBody, description = "auth.enabled is off")))]
pub async fn assess(
    State(state): State<AppState>,
    _auth: Analyst,
    body: Bytes,
) -> Result<Json<AssessOut>, ApiError> {
    let req = attempt(&body)?;
    let a = run_assess(&state, &req)?;
    if let Some(o) = req.outcome {
        run_outcome(&state, &req, o)?;
    }
    Ok(Json(out(a)))
}

/// Reports what happened to an attempt; only confirmed logins (success, mfa_passed) teach the
/// user's profile. Needs an analyst token.
#[utoipa::path(post, path = "/api/v1/auth/outcome", tag = "auth", request_body = AttemptIn,
    responses((status = 204, description = "Learned"), (status = 400, body = super::ErrorBody),
        (status = 401, description = "No valid token"), (status = 403, description = "Below analyst"),
        (status = 503, body = super::ErrorBody, description = "auth.enabled is off")))]
pub async fn outcome(
    State(state): State<AppState>,
    _auth: Analyst,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let req = attempt(&body)?;
    let o = req
        .outcome
        .ok_or_else(|| ApiError::BadRequest("outcome: required here".into()))?;
    run_outcome(&state, &req, o)?;
    Ok(StatusCode::NO_CONTENT)
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The client address nginx forwarded: `X-Real-IP`, else the first hop of `X-Forwarded-For`.
fn forwarded(h: &HeaderMap) -> Result<Option<IpAddr>, ApiError> {
    let (name, v) = match (header(h, "x-real-ip"), header(h, "x-forwarded-for")) {
        (Some(v), _) => ("X-Real-IP", v),
        (None, Some(v)) => ("X-Forwarded-For", v.split(',').next().unwrap_or("").trim()),
        (None, None) => return Ok(None),
    };
    v.parse::<IpAddr>().map(Some).map_err(|_| {
        ApiError::BadRequest(format!(
            "{name}: {:?} is not an address",
            v.chars().take(64).collect::<String>()
        ))
    })
}

/// nginx `auth_request`: 204 allow, 401 challenge, 403 deny; `X-Palisade-Risk` and
/// `X-Palisade-Reasons` (signals, comma-separated) always. Assesses only (nginx does not know
/// the outcome). Needs an analyst token (`proxy_set_header Authorization "Bearer …"`).
#[utoipa::path(get, path = "/api/v1/auth/nginx", tag = "auth",
    params(("X-Auth-User" = String, Header, description = "The user (header name: auth.nginx_user_header)"),
        ("X-Real-IP" = Option<String>, Header, description = "Client address (else X-Forwarded-For's first hop, else the peer)")),
    responses((status = 204, description = "Allow"),
        (status = 401, description = "Challenge (X-Palisade-Decision: challenge), or no valid token"),
        (status = 403, description = "Deny, or a token below analyst"),
        (status = 400, body = super::ErrorBody)))]
pub async fn nginx(
    State(state): State<AppState>,
    _auth: Analyst,
    parts: Parts,
) -> Result<Response, ApiError> {
    let headers = &parts.headers;
    let peer = parts
        .extensions
        .get::<ConnectInfo<crate::tls::PeerAddr>>()
        .map(|c| c.0.0.ip().to_canonical());
    let user_header = state.cfg.auth.nginx_user_header.as_str();
    let user = header(headers, user_header)
        .ok_or_else(|| ApiError::BadRequest(format!("{user_header}: header missing")))?;
    let ip = match forwarded(headers)? {
        Some(ip) => ip,
        None => peer.ok_or_else(|| ApiError::BadRequest("X-Real-IP: header missing".into()))?,
    };
    let req = to_request(AttemptIn {
        user: user.to_string(),
        ip: ip.to_string(),
        user_agent: header(headers, "user-agent").unwrap_or("").to_string(),
        device_id: None,
        timestamp: None,
        app: None,
        outcome: None,
    })
    .map_err(|e| match e {
        ApiError::BadRequest(m) if m.starts_with("user:") => {
            ApiError::BadRequest(format!("{user_header}: {}", &m[6..]))
        }
        ApiError::BadRequest(m) if m.starts_with("user_agent:") => {
            ApiError::BadRequest(format!("User-Agent: {}", &m[12..]))
        }
        e => e,
    })?;
    let a = run_assess(&state, &req)?;
    let status = match a.decision {
        Decision::Allow => StatusCode::NO_CONTENT,
        Decision::Challenge => StatusCode::UNAUTHORIZED,
        Decision::Deny => StatusCode::FORBIDDEN,
    };
    let signals: Vec<&str> = a.reasons.iter().map(|r| r.signal.as_str()).collect();
    let mut resp = status.into_response();
    let h = resp.headers_mut();
    h.insert(
        "x-palisade-decision",
        HeaderValue::from_static(decision_str(a.decision)),
    );
    h.insert("x-palisade-risk", HeaderValue::from(u16::from(a.risk)));
    if let Ok(v) = HeaderValue::from_str(&signals.join(",")) {
        h.insert("x-palisade-reasons", v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_checked_field_by_field() {
        let ok = br#"{"user":"alice","ip":"192.0.2.1","user_agent":"Mozilla/5.0"}"#;
        let r = attempt(ok).unwrap();
        assert_eq!(r.user, "alice");
        assert!(r.outcome.is_none());
        let long = format!(r#"{{"user":"{}","ip":"192.0.2.1"}}"#, "u".repeat(257));
        let e = attempt(long.as_bytes()).unwrap_err();
        assert!(
            matches!(&e, ApiError::BadRequest(m) if m.starts_with("user:")),
            "{e:?}"
        );
        let e = attempt(br#"{"user":"a","ip":"nope"}"#).unwrap_err();
        assert!(
            matches!(&e, ApiError::BadRequest(m) if m.starts_with("ip:")),
            "{e:?}"
        );
        let e = attempt(br#"{"user":"a","ip":"192.0.2.1","outcome":"maybe"}"#).unwrap_err();
        assert!(
            matches!(&e, ApiError::BadRequest(m) if m.starts_with("outcome:")),
            "{e:?}"
        );
        let e = attempt(br#"{"user":"a","ip":"192.0.2.1","extra":1}"#).unwrap_err();
        assert!(
            matches!(&e, ApiError::BadRequest(m) if m.contains("extra")),
            "{e:?}"
        );
        let mapped = attempt(br#"{"user":"a","ip":"::ffff:192.0.2.1"}"#).unwrap();
        assert_eq!(mapped.ip.to_string(), "192.0.2.1");
    }
}

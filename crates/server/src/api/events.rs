//! `POST /api/v1/events` (NDJSON ingest, gzip accepted) and `GET /api/v1/events` (search).

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use palisade_store::{EventFilter, Store};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Analyst, ApiError, Auth, limit, parse_time};
use crate::config::parse_format;
use crate::ingress::SubmitError;
use crate::state::AppState;
use crate::wal::Record;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest, search))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct IngestQuery {
    /// Source name (letters, digits, `.`, `_`, `-`; default `http`); becomes the events' origin.
    pub source: Option<String>,
    /// Record format: json (default), syslog, zeek, cef, leef, flow-csv.
    pub format: Option<String>,
}

/// A line that was not taken.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rejected {
    /// 1-based line number in the (decompressed) body.
    pub line: u64,
    pub error: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResponse {
    /// Records written to the write-ahead log (durable: they will be processed).
    pub accepted: u64,
    /// Sequence number of the first accepted record.
    pub first_seq: u64,
    /// Lines refused (bad JSON, too long), the rest of the body still accepted.
    pub rejected: Vec<Rejected>,
}

/// Most rejected lines listed in a response (all are counted).
const LISTED_REJECTS: usize = 20;

fn valid_source(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Ingest events: one record per line (NDJSON by default). `Content-Encoding: gzip` accepted.
/// Answers 202 once the records are in the write-ahead log; 429 with Retry-After when the
/// ingest queue is full.
#[utoipa::path(
    post,
    path = "/api/v1/events",
    tag = "events",
    params(IngestQuery),
    request_body(content = String, content_type = "application/x-ndjson", description = "One event per line"),
    responses(
        (status = 202, description = "Accepted into the write-ahead log", body = IngestResponse),
        (status = 400, description = "Bad query or body", body = super::ErrorBody),
        (status = 401, description = "No valid token"),
        (status = 403, description = "Role below analyst"),
        (status = 413, description = "Body too large"),
        (status = 429, description = "Queue full; retry after the Retry-After header"),
    )
)]
pub async fn ingest(
    State(state): State<AppState>,
    _auth: Analyst,
    Query(q): Query<IngestQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<IngestResponse>), ApiError> {
    let started = Instant::now();
    let name = q.source.as_deref().unwrap_or("http");
    if !valid_source(name) {
        return Err(ApiError::BadRequest(format!(
            "source {name:?}: use 1–64 letters, digits, '.', '_' or '-'"
        )));
    }
    let format = parse_format(q.format.as_deref().unwrap_or("json"))
        .map_err(|e| ApiError::BadRequest(format!("format: {e}")))?;
    let max = state.cfg.server.max_body_bytes;
    let gz = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let body: Vec<u8> = match gz.as_deref() {
        None | Some("identity") => body.to_vec(),
        Some("gzip" | "x-gzip") => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&body[..])
                .take(max as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| ApiError::BadRequest(format!("body is not valid gzip: {e}")))?;
            if out.len() > max {
                return Err(ApiError::TooLarge(format!(
                    "decompressed body is larger than {max} bytes"
                )));
            }
            out
        }
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "Content-Encoding {other:?} is not supported (use gzip or none)"
            )));
        }
    };
    let source: Arc<str> = Arc::from(format!("http/{name}"));
    let max_record = state.cfg.server.max_record_bytes;
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    let mut rejected_count = 0u64;
    for (k, line) in body.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let problem = if line.len() > max_record {
            Some(format!(
                "record of {} bytes is longer than the {max_record}-byte limit",
                line.len()
            ))
        } else if format == palisade_ingest::Format::Json {
            serde_json::from_slice::<serde::de::IgnoredAny>(line)
                .err()
                .map(|e| format!("not JSON: {e}"))
        } else {
            None
        };
        match problem {
            Some(error) => {
                rejected_count += 1;
                if rejected.len() < LISTED_REJECTS {
                    rejected.push(Rejected {
                        line: k as u64 + 1,
                        error,
                    });
                }
            }
            None => records.push(Record {
                source: Arc::clone(&source),
                format,
                line: line.to_vec(),
            }),
        }
    }
    if rejected_count > 0 {
        state
            .metrics
            .parse_errors
            .get_or_create(&state.metrics.source("http"))
            .inc_by(rejected_count);
    }
    let n = records.len() as u64;
    let ack = state.ingress.submit(records).await.map_err(|e| match e {
        SubmitError::Busy { retry_after_secs } => ApiError::Busy { retry_after_secs },
        SubmitError::Closed => ApiError::Unavailable("palisade is shutting down".into()),
        SubmitError::Wal(m) => ApiError::Internal(m),
    })?;
    state
        .metrics
        .events_in
        .get_or_create(&state.metrics.source("http"))
        .inc_by(n);
    state
        .metrics
        .ingest_ack_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok((
        StatusCode::ACCEPTED,
        Json(IngestResponse {
            accepted: n,
            first_seq: ack.first_seq,
            rejected,
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Events at or after this time (RFC 3339, or `15m`, `24h`, `7d` ago).
    pub from: Option<String>,
    /// Events before this time.
    pub to: Option<String>,
    /// A host, user or IP address.
    pub entity: Option<String>,
    /// `field=value` (exact, e.g. `event.outcome=failure`); repeat with commas.
    pub field: Option<String>,
    /// Case-insensitive text anywhere in the event.
    pub q: Option<String>,
    /// Only events with a lower sequence number (next page).
    pub before: Option<i64>,
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    pub seq: i64,
    pub timestamp: Option<chrono::DateTime<chrono::Utc>>,
    pub source: String,
    pub host: Option<String>,
    pub user: Option<String>,
    pub source_ip: Option<String>,
    pub destination_ip: Option<String>,
    #[schema(value_type = Object)]
    pub fields: serde_json::Value,
}

/// Parses `a=b,c=d`.
pub fn parse_fields(s: &str) -> Result<Vec<(String, String)>, ApiError> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("field filter {p:?} is not name=value"))
                })
        })
        .collect()
}

/// Search stored events, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    params(SearchQuery),
    responses(
        (status = 200, body = Vec<EventOut>),
        (status = 400, body = super::ErrorBody),
        (status = 401, description = "No valid token"),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    _auth: Auth,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Vec<EventOut>>, ApiError> {
    let filter = EventFilter {
        from: q.from.as_deref().map(parse_time).transpose()?,
        to: q.to.as_deref().map(parse_time).transpose()?,
        entity: q.entity.filter(|e| !e.is_empty()),
        fields: q
            .field
            .as_deref()
            .map(parse_fields)
            .transpose()?
            .unwrap_or_default(),
        text: q.q.filter(|t| !t.is_empty()),
        before_seq: q.before,
        limit: limit(q.limit, 100),
    };
    let rows = state.db(move |s| s.events(&filter)).await?;
    Ok(Json(
        rows.into_iter()
            .map(|e| EventOut {
                seq: e.seq,
                timestamp: e.timestamp,
                source: e.source,
                host: e.host,
                user: e.user,
                source_ip: e.source_ip,
                destination_ip: e.destination_ip,
                fields: e.body,
            })
            .collect(),
    ))
}

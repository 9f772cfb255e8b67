//! The guard over HTTP (see `palisade-guard` for the detectors):
//!
//! - `POST /api/v1/guard/prompt` — `{"text": …}` or `{"prompts": [ … ]}` → per prompt
//!   `{score, verdict: injection|clean, model_score, signals: [{name, evidence, weight}]}`;
//! - `POST /api/v1/guard/mail` — the raw message (`message/rfc822`, any content type) →
//!   `{score, verdict: malicious|suspicious|clean, from, subject, reasons}`.
//!
//! **Role: analyst** (a mail filter or an LLM gateway acts on the answer). Injections and
//! malicious or suspicious mail become ECS events (`event.category: intrusion_detection`,
//! `event.module: palisade-guard`) handed to the ingress from source `guard` without waiting,
//! like the auth routes: a full queue drops and counts them, the answer is never delayed. The
//! events carry the verdict and signals, never the prompt or message itself (it may hold the
//! very secrets the guard protects). The models are the ones embedded in the binary, loaded
//! once per process.

use std::sync::{Arc, LazyLock};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use palisade_guard::mail::{MailGuard, MailVerdict, MailVerdictKind};
use palisade_guard::prompt::{PromptGuard, PromptVerdict, PromptVerdictKind};
use palisade_ingest::Format;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Analyst, ApiError};
use crate::state::AppState;
use crate::wal::Record;

/// Prompts per request.
pub const MAX_PROMPTS: usize = 1000;
/// Bytes per prompt.
pub const MAX_PROMPT_BYTES: usize = 1 << 20;

static PROMPT_GUARD: LazyLock<Result<PromptGuard, String>> =
    LazyLock::new(|| PromptGuard::embedded().map_err(|e| e.to_string()));
static MAIL_GUARD: LazyLock<Result<MailGuard, String>> =
    LazyLock::new(|| MailGuard::embedded().map_err(|e| e.to_string()));

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(prompt))
        .routes(routes!(mail))
}

/// One prompt, or many.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptIn {
    /// One prompt (or a document an LLM will read).
    #[serde(default)]
    pub text: Option<String>,
    /// Several prompts (at most 1000).
    #[serde(default)]
    pub prompts: Option<Vec<String>>,
}

/// One reason behind a verdict.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignalOut {
    pub name: String,
    pub evidence: String,
    /// What it added to the log-odds.
    pub weight: f32,
}

/// The verdict on one prompt.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromptOut {
    /// 0–1, higher = more likely an injection.
    pub score: f32,
    /// injection or clean.
    pub verdict: String,
    pub model_score: f32,
    pub signals: Vec<SignalOut>,
}

/// Verdicts in the order of the prompts.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromptsOut {
    pub results: Vec<PromptOut>,
}

/// The verdict on one message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MailOut {
    /// 0–1, higher = worse.
    pub score: f32,
    /// malicious, suspicious or clean.
    pub verdict: String,
    pub from: String,
    pub subject: String,
    pub reasons: Vec<SignalOut>,
}

fn signals(s: &[palisade_guard::Signal]) -> Vec<SignalOut> {
    s.iter()
        .map(|s| SignalOut {
            name: s.name.to_string(),
            evidence: s.evidence.clone(),
            weight: s.weight,
        })
        .collect()
}

fn prompt_out(v: &PromptVerdict) -> PromptOut {
    PromptOut {
        score: v.score,
        verdict: match v.verdict {
            PromptVerdictKind::Injection => "injection",
            PromptVerdictKind::Clean => "clean",
        }
        .into(),
        model_score: v.model_score,
        signals: signals(&v.signals),
    }
}

pub fn mail_verdict_str(v: MailVerdictKind) -> &'static str {
    match v {
        MailVerdictKind::Malicious => "malicious",
        MailVerdictKind::Suspicious => "suspicious",
        MailVerdictKind::Clean => "clean",
    }
}

/// The embedded injection detector (loaded once per process), shared with the LLM firewall
/// proxy.
pub fn prompt_guard() -> Result<&'static PromptGuard, String> {
    PROMPT_GUARD.as_ref().map_err(Clone::clone)
}

fn loaded<T>(g: &'static Result<T, String>) -> Result<&'static T, ApiError> {
    g.as_ref()
        .map_err(|e| ApiError::Unavailable(format!("guard model unavailable: {e}")))
}

/// Hands a finding to the pipeline without waiting (dropped when the queue is full).
fn emit(state: &AppState, line: serde_json::Value) {
    let record = Record {
        source: Arc::from("guard"),
        format: Format::Json,
        line: line.to_string().into_bytes(),
    };
    if state.ingress.try_submit(vec![record]).is_err() {
        tracing::debug!("guard event dropped: ingress queue full");
    }
}

/// The ECS event for one guard finding: verdict, score and the names of the signals that
/// raised it, never the text judged. `palisade guard milter` writes the same shape.
pub fn finding_event(
    action: &str,
    score: f32,
    verdict: &str,
    s: &[palisade_guard::Signal],
) -> serde_json::Value {
    let names: Vec<&str> = s
        .iter()
        .filter(|s| s.weight > 0.0)
        .map(|s| s.name)
        .collect();
    serde_json::json!({
        "@timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "event": {
            "kind": "alert",
            "category": "intrusion_detection",
            "action": action,
            "module": "palisade-guard",
        },
        "palisade": {"guard": {"score": score, "verdict": verdict, "signals": names}},
    })
}

/// Judges prompts for injection and jailbreaks. Needs an analyst token.
#[utoipa::path(post, path = "/api/v1/guard/prompt", tag = "guard", request_body = PromptIn,
    responses((status = 200, body = PromptsOut), (status = 400, body = super::ErrorBody),
        (status = 401, description = "No valid token"), (status = 403, description = "Below analyst"),
        (status = 503, body = super::ErrorBody, description = "No model in this build")))]
pub async fn prompt(
    State(state): State<AppState>,
    _auth: Analyst,
    body: Bytes,
) -> Result<Json<PromptsOut>, ApiError> {
    let input: PromptIn = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("bad prompt JSON: {e}")))?;
    let prompts: Vec<String> = match (input.text, input.prompts) {
        (Some(t), None) => vec![t],
        (None, Some(p)) => p,
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of `text` and `prompts`".into(),
            ));
        }
    };
    if prompts.len() > MAX_PROMPTS {
        return Err(ApiError::BadRequest(format!(
            "prompts: {} is more than {MAX_PROMPTS}",
            prompts.len()
        )));
    }
    if let Some((i, p)) = prompts
        .iter()
        .enumerate()
        .find(|(_, p)| p.len() > MAX_PROMPT_BYTES)
    {
        return Err(ApiError::BadRequest(format!(
            "prompts[{i}]: {} bytes is longer than the {MAX_PROMPT_BYTES}-byte limit",
            p.len()
        )));
    }
    let guard = loaded(&PROMPT_GUARD)?;
    let verdicts = tokio::task::spawn_blocking(move || {
        prompts.iter().map(|p| guard.check(p)).collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("prompt check failed: {e}")))?;
    for v in verdicts
        .iter()
        .filter(|v| v.verdict == PromptVerdictKind::Injection)
    {
        emit(
            &state,
            finding_event("prompt-injection", v.score, "injection", &v.signals),
        );
    }
    Ok(Json(PromptsOut {
        results: verdicts.iter().map(prompt_out).collect(),
    }))
}

/// Judges one raw e-mail message for phishing. Needs an analyst token.
#[utoipa::path(post, path = "/api/v1/guard/mail", tag = "guard",
    request_body(content = String, content_type = "message/rfc822", description = "The raw message"),
    responses((status = 200, body = MailOut), (status = 400, body = super::ErrorBody),
        (status = 401, description = "No valid token"), (status = 403, description = "Below analyst"),
        (status = 503, body = super::ErrorBody, description = "No model in this build")))]
pub async fn mail(
    State(state): State<AppState>,
    _auth: Analyst,
    body: Bytes,
) -> Result<Json<MailOut>, ApiError> {
    let guard = loaded(&MAIL_GUARD)?;
    let v: MailVerdict = tokio::task::spawn_blocking(move || guard.check(&body))
        .await
        .map_err(|e| ApiError::Internal(format!("mail check failed: {e}")))?
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if v.verdict != MailVerdictKind::Clean {
        emit(
            &state,
            finding_event("phishing", v.score, mail_verdict_str(v.verdict), &v.reasons),
        );
    }
    Ok(Json(MailOut {
        score: v.score,
        verdict: mail_verdict_str(v.verdict).into(),
        from: v.from,
        subject: v.subject,
        reasons: signals(&v.reasons),
    }))
}

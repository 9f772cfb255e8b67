//! The LLM firewall: an OpenAI-compatible HTTP proxy in front of a model provider (OpenAI,
//! Azure, vLLM, Ollama, LiteLLM — anything that speaks `/v1/chat/completions`).
//!
//! ```text
//! client ──► POST /v1/chat/completions ──► scan messages ──► block (400) │ redact │ flag
//!                      /v1/completions        (injection in user/tool text; secrets, PII)
//!                                                   │
//!                                                   ▼
//!                                               upstream ──► answer: JSON (scan choices) or
//!                                                            SSE (scan chunk by chunk, hold-back
//!                                                            buffer, cut with [DONE] on a block)
//! every other path, header and field ─────────────────────────► forwarded unchanged
//! findings ──► ECS events (event.module: palisade-guard, event.action: llm-firewall) ──► sink
//! ```
//!
//! The sink is the ingress when the proxy runs inside `palisade serve` (`[guard_proxy]`), or
//! an NDJSON writer (and optionally `POST /api/v1/events` of a running Palisade) for the
//! standalone `palisade guard proxy`. Events never carry prompt or answer text, nor the secret:
//! only the kind, the rule, a masked preview (`AKIA…(20 chars)`), the verdict, the score, the
//! model name and the client's address. The client's `Authorization` header goes to the
//! upstream unchanged and is never logged.
//!
//! Which messages are judged for injection: `user`, `tool` and `function` (text from outside
//! the application: people, documents, tool results) and the `prompt` of `/v1/completions`;
//! `system` and `developer` messages are the application's own and are scanned for secrets and
//! personal data only (a canary there is where it belongs). `assistant` messages are the
//! model's earlier answers, already scanned on their way out.

pub mod policy;
pub mod report;
pub mod sse;
pub mod stream;
pub mod upstream;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use palisade_guard::dlp::{Category, Finding, Scanner, redact_with};
use palisade_guard::prompt::{PromptGuard, PromptVerdictKind};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::config::GuardProxySection;
use policy::{Action, Direction, Policy};
use stream::{SseGuard, TextField};
use upstream::{Upstream, UpstreamError};

/// Where findings go (one ECS event each).
pub type Sink = Arc<dyn Fn(Value) + Send + Sync>;

/// Most bytes of one server-sent event from the upstream.
pub const MAX_SSE_EVENT: usize = 1 << 20;

/// A private-key block is held back at most this long in a stream.
pub const MAX_HOLD: usize = 16 << 10;

/// The guarded endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Completion,
}

impl Endpoint {
    /// The endpoint a request goes to, judged the way a lenient upstream would route it: the
    /// percent-decoded path, any case, trailing and doubled slashes, and a deployment prefix
    /// (Azure's `/openai/deployments/{name}/chat/completions`) all count, so no spelling of the
    /// path slips past the guard.
    fn of(method: &Method, path: &str) -> Option<Endpoint> {
        if method != Method::POST {
            return None;
        }
        let decoded = percent_decode(path).to_ascii_lowercase();
        let p = decoded.trim_end_matches('/');
        if p.ends_with("/chat/completions") {
            Some(Endpoint::Chat)
        } else if p.ends_with("/completions") {
            Some(Endpoint::Completion)
        } else {
            None
        }
    }

    fn field(self) -> TextField {
        match self {
            Endpoint::Chat => TextField::ChatDelta,
            Endpoint::Completion => TextField::CompletionText,
        }
    }
}

/// `%XX` sequences decoded (bytes that are not UTF-8 are replaced).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The running proxy's shared state.
pub struct GuardProxy {
    cfg: GuardProxySection,
    prompt: &'static PromptGuard,
    scanner: Arc<Scanner>,
    upstream: Upstream,
    sink: Sink,
    /// `palisade serve`'s metrics (none standalone).
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// Who asked, for the events.
#[derive(Clone, Debug)]
struct Ctx {
    peer: SocketAddr,
    path: String,
    model: Option<String>,
    stream: bool,
}

/// One recorded finding (aggregated per request: kind + rule).
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub direction: Direction,
    /// `injection`, `secret`, `pii` or `canary`.
    pub kind: &'static str,
    /// The DLP detector (`aws_access_key_id`) or the injection signals that fired.
    pub rule: String,
    /// A masked preview of the value; for injections, the signal names (never prompt text).
    pub evidence: String,
    pub verdict: Action,
    pub score: Option<f32>,
    pub count: usize,
}

fn category_kind(c: Category) -> &'static str {
    match c {
        Category::Secret => "secret",
        Category::Pii => "pii",
        Category::Canary => "canary",
    }
}

fn add_report(reports: &mut Vec<Report>, dir: Direction, f: &Finding, verdict: Action) {
    if verdict == Action::Allow {
        return;
    }
    let kind = category_kind(f.category);
    if let Some(r) = reports
        .iter_mut()
        .find(|r| r.direction == dir && r.kind == kind && r.rule == f.kind)
    {
        r.count += 1;
        if verdict == Action::Block {
            r.verdict = Action::Block;
        }
        return;
    }
    reports.push(Report {
        direction: dir,
        kind,
        rule: f.kind.to_string(),
        evidence: f.preview.clone(),
        verdict,
        score: None,
        count: 1,
    });
}

/// Marks an answer the proxy wrote itself (for the request metrics).
#[derive(Clone, Copy, Debug)]
struct OwnAnswer(&'static str);

/// The answer to a blocked request: OpenAI's error shape.
pub fn error_response(status: StatusCode, code: &'static str, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": "palisade_guard", "param": null, "code": code}});
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    r.extensions_mut().insert(OwnAnswer(code));
    r
}

/// The request metric's outcome for an answer.
fn outcome(r: &Response) -> &'static str {
    match r.extensions().get::<OwnAnswer>().map(|a| a.0) {
        None => "forwarded",
        Some(c) if c.starts_with("upstream_") => "upstream_error",
        Some(
            "prompt_injection" | "secret_in_request" | "pii_in_request" | "canary_in_response"
            | "secret_in_response" | "pii_in_response",
        ) => "blocked",
        Some(_) => "refused",
    }
}

/// What the request check decided.
enum RequestOutcome {
    /// Forward this body (the original when nothing was redacted).
    Forward(Bytes),
    Block {
        code: &'static str,
        message: String,
    },
}

impl GuardProxy {
    /// The proxy for `cfg` (validated) with findings going to `sink`, counted in `metrics`.
    pub fn new(
        cfg: GuardProxySection,
        sink: Sink,
        metrics: Option<Arc<crate::metrics::Metrics>>,
    ) -> Result<GuardProxy> {
        let prompt =
            crate::api::guard::prompt_guard().map_err(|e| anyhow::anyhow!("guard_proxy: {e}"))?;
        let upstream = Upstream::new(
            &cfg.upstream,
            cfg.upstream_ca.as_deref(),
            Duration::from_secs(cfg.connect_timeout_secs),
            Duration::from_secs(cfg.timeout_secs),
        )
        .map_err(|e| anyhow::anyhow!("guard_proxy.upstream: {e}"))?;
        let scanner = Arc::new(Scanner::new().with_canaries(cfg.canaries.iter().cloned()));
        Ok(GuardProxy {
            cfg,
            prompt,
            scanner,
            upstream,
            sink,
            metrics,
        })
    }

    fn policy(&self) -> Policy {
        self.cfg.policy
    }

    fn emit(&self, ctx: &Ctx, reports: &[Report]) {
        for r in reports {
            if let Some(m) = &self.metrics {
                m.guard_proxy_findings
                    .get_or_create(&crate::metrics::GuardFindingLabel {
                        direction: r.direction.as_str().into(),
                        kind: r.kind.into(),
                        verdict: r.verdict.as_str().into(),
                    })
                    .inc_by(r.count as u64);
            }
            (self.sink)(finding_event(ctx, r));
        }
    }

    /// Judges a request body; the redacted body to forward, or a block.
    fn check_request(
        &self,
        ep: Endpoint,
        body: &Bytes,
        reports: &mut Vec<Report>,
    ) -> RequestOutcome {
        let Ok(mut doc) = serde_json::from_slice::<Value>(body) else {
            return RequestOutcome::Block {
                code: "invalid_json",
                message: "Palisade guard: the request body is not valid JSON".into(),
            };
        };
        let policy = self.policy();
        let mut block: Option<(&'static str, String)> = None;
        let mut changed = false;
        for (trust, text) in text_slots(&mut doc, ep) {
            if trust == Trust::Outside && policy.injection != Action::Allow {
                let v = self.prompt.check(text);
                if v.verdict == PromptVerdictKind::Injection {
                    // Signal names and weights only: their evidence quotes the prompt.
                    let fired: Vec<&palisade_guard::Signal> = v
                        .signals
                        .iter()
                        .filter(|s| s.weight > 0.0 && s.name != "text_model")
                        .collect();
                    let rule = if fired.is_empty() {
                        "text_model".to_string()
                    } else {
                        fired.iter().map(|s| s.name).collect::<Vec<_>>().join(",")
                    };
                    let evidence = format!(
                        "model {:.3}; {}",
                        v.model_score,
                        fired
                            .iter()
                            .map(|s| format!("{} {:+.1}", s.name, s.weight))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    reports.push(Report {
                        direction: Direction::Request,
                        kind: "injection",
                        evidence,
                        rule,
                        verdict: policy.injection,
                        score: Some(v.score),
                        count: 1,
                    });
                    if policy.injection == Action::Block && block.is_none() {
                        block = Some((
                            "prompt_injection",
                            "blocked by Palisade guard: the request looks like a prompt injection or jailbreak".into(),
                        ));
                    }
                }
            }
            let mut redact = Vec::new();
            for f in self.scanner.scan(text) {
                if f.category == Category::Canary && trust == Trust::App {
                    continue;
                }
                let action = policy.for_finding(Direction::Request, &f);
                add_report(reports, Direction::Request, &f, action);
                match action {
                    Action::Block if block.is_none() => {
                        let (code, what) = match f.category {
                            Category::Pii => ("pii_in_request", "personal data"),
                            _ => ("secret_in_request", "a secret"),
                        };
                        block = Some((
                            code,
                            format!(
                                "blocked by Palisade guard: the request contains {what} ({})",
                                f.kind
                            ),
                        ));
                    }
                    Action::Redact => redact.push(f),
                    _ => {}
                }
            }
            if !redact.is_empty() {
                *text = redact_with(text, &redact);
                changed = true;
            }
        }
        if let Some((code, message)) = block {
            return RequestOutcome::Block { code, message };
        }
        if changed {
            RequestOutcome::Forward(Bytes::from(doc.to_string()))
        } else {
            RequestOutcome::Forward(body.clone())
        }
    }

    /// Judges a non-streamed answer; the body to return, or a block.
    fn check_answer(
        &self,
        ep: Endpoint,
        body: &Bytes,
        reports: &mut Vec<Report>,
    ) -> RequestOutcome {
        let Ok(mut doc) = serde_json::from_slice::<Value>(body) else {
            return RequestOutcome::Forward(body.clone());
        };
        let policy = self.policy();
        let mut changed = false;
        let mut block = None;
        if let Some(Value::Array(choices)) = doc.get_mut("choices") {
            for c in choices.iter_mut() {
                let slot = match ep {
                    Endpoint::Chat => c.get_mut("message").and_then(|m| m.get_mut("content")),
                    Endpoint::Completion => c.get_mut("text"),
                };
                let Some(Value::String(text)) = slot else {
                    continue;
                };
                let mut redacted = false;
                let mut redact = Vec::new();
                for f in self.scanner.scan(text) {
                    let action = policy.for_finding(Direction::Response, &f);
                    add_report(reports, Direction::Response, &f, action);
                    match action {
                        Action::Block if block.is_none() => block = Some(stream::block_reason(&f)),
                        Action::Redact => redact.push(f),
                        _ => {}
                    }
                }
                if !redact.is_empty() {
                    *text = redact_with(text, &redact);
                    redacted = true;
                }
                // The tokens of the original text would undo the redaction.
                if redacted && let Value::Object(c) = c {
                    c.insert("logprobs".into(), Value::Null);
                }
                changed |= redacted;
            }
        }
        if let Some(cut) = block {
            return RequestOutcome::Block {
                code: cut.code,
                message: cut.message,
            };
        }
        if changed {
            RequestOutcome::Forward(Bytes::from(doc.to_string()))
        } else {
            RequestOutcome::Forward(body.clone())
        }
    }
}

/// Whose text it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trust {
    /// People, documents, tools: judged for injection too.
    Outside,
    /// The application's own system/developer messages.
    App,
}

/// The text a request hands the model, as mutable strings inside the document.
fn text_slots(doc: &mut Value, ep: Endpoint) -> Vec<(Trust, &mut String)> {
    let mut out = Vec::new();
    match ep {
        Endpoint::Chat => {
            let Some(Value::Array(msgs)) = doc.get_mut("messages") else {
                return out;
            };
            for m in msgs.iter_mut() {
                let Value::Object(m) = m else { continue };
                let trust = match m.get("role").and_then(Value::as_str) {
                    Some("user" | "tool" | "function") => Trust::Outside,
                    Some("system" | "developer") => Trust::App,
                    _ => continue,
                };
                match m.get_mut("content") {
                    Some(Value::String(s)) => out.push((trust, s)),
                    Some(Value::Array(parts)) => {
                        for p in parts.iter_mut() {
                            let Value::Object(p) = p else { continue };
                            if p.get("type").and_then(Value::as_str) != Some("text") {
                                continue;
                            }
                            if let Some(Value::String(s)) = p.get_mut("text") {
                                out.push((trust, s));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Endpoint::Completion => match doc.get_mut("prompt") {
            Some(Value::String(s)) => out.push((Trust::Outside, s)),
            Some(Value::Array(a)) => {
                for v in a.iter_mut() {
                    if let Value::String(s) = v {
                        out.push((Trust::Outside, s));
                    }
                }
            }
            _ => {}
        },
    }
    out
}

/// One finding as an ECS event.
fn finding_event(ctx: &Ctx, r: &Report) -> Value {
    let event_type = match r.verdict {
        Action::Block => "denied",
        Action::Redact => "change",
        _ => "info",
    };
    let mut guard = json!({
        "proxy": "llm-firewall",
        "direction": r.direction.as_str(),
        "kind": r.kind,
        "rule": r.rule,
        "evidence": r.evidence,
        "verdict": r.verdict.as_str(),
        "count": r.count,
        "stream": ctx.stream,
    });
    if let Some(s) = r.score {
        guard["score"] = json!((s as f64 * 1e4).round() / 1e4);
    }
    let mut ev = json!({
        "@timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "event": {
            "kind": "alert",
            "category": "intrusion_detection",
            "type": event_type,
            "action": "llm-firewall",
            "module": "palisade-guard",
        },
        "source": {"ip": ctx.peer.ip().to_string(), "port": ctx.peer.port()},
        "url": {"path": ctx.path},
        "palisade": {"guard": guard},
    });
    if let Some(m) = &ctx.model {
        ev["gen_ai"] = json!({"request": {"model": m}});
    }
    ev
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the ones the
/// proxy sets itself (`Host`, `Content-Length`) and `Expect` (the body is already read).
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "expect"
            | "host"
            | "content-length"
    )
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (k, v) in from {
        if !hop_by_hop(k) {
            to.append(k.clone(), v.clone());
        }
    }
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

fn upstream_error(e: UpstreamError) -> Response {
    match e {
        UpstreamError::Timeout(..) => error_response(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            &format!("Palisade guard: {e}"),
        ),
        _ => error_response(
            StatusCode::BAD_GATEWAY,
            "upstream_unavailable",
            &format!("Palisade guard: the upstream is unavailable: {e}"),
        ),
    }
}

async fn handle(
    State(p): State<Arc<GuardProxy>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let r = judge_and_forward(Arc::clone(&p), peer, req).await;
    if let Some(m) = &p.metrics {
        m.guard_proxy_requests
            .get_or_create(&crate::metrics::OutcomeLabel {
                outcome: outcome(&r).into(),
            })
            .inc();
    }
    r
}

async fn judge_and_forward(p: Arc<GuardProxy>, peer: SocketAddr, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let ep = Endpoint::of(&parts.method, parts.uri.path());
    let max = p.cfg.max_body_bytes;
    let too_large = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            &format!("Palisade guard: the request body is larger than {max} bytes"),
        )
    };
    if parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > max as u64)
    {
        return too_large();
    }
    let bytes = match axum::body::to_bytes(body, max).await {
        Ok(b) => b,
        Err(e) if is_length_limit(&e) => return too_large(),
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "bad_request_body",
                &format!("Palisade guard: reading the request body: {e}"),
            );
        }
    };
    let mut ctx = Ctx {
        peer,
        path: parts.uri.path().to_string(),
        model: None,
        stream: false,
    };
    let mut forward = bytes.clone();
    if let Some(ep) = ep {
        // Fail closed: what the guard cannot read is not forwarded to a judged endpoint (an
        // upstream might decompress it, or parse JSON more leniently, and see a prompt).
        let encoded = parts
            .headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity"));
        if encoded {
            return error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "request_encoding",
                "Palisade guard: send the request body uncompressed (no Content-Encoding)",
            );
        }
        let Ok(doc) = serde_json::from_slice::<Value>(&bytes) else {
            return error_response(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                "Palisade guard: the request body is not valid JSON",
            );
        };
        ctx.model = doc
            .get("model")
            .and_then(Value::as_str)
            .map(|m| m.chars().take(128).collect());
        ctx.stream = doc.get("stream").and_then(Value::as_bool).unwrap_or(false);
        drop(doc);
        let outcome = match judged(&p, &ctx, "request", move |q, reports| {
            q.check_request(ep, &bytes, reports)
        })
        .await
        {
            Ok(o) => o,
            Err(failed) => return failed,
        };
        match outcome {
            RequestOutcome::Block { code, message } => {
                return error_response(StatusCode::BAD_REQUEST, code, &message);
            }
            RequestOutcome::Forward(b) => forward = b,
        }
    }
    let mut up = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.path_and_query().map_or("/", |x| x.as_str()))
        .version(axum::http::Version::HTTP_11);
    if let Some(h) = up.headers_mut() {
        copy_headers(&parts.headers, h);
        if ep.is_some() {
            // The guard reads the answer, so it must not come compressed.
            h.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            );
        }
    }
    let Ok(up) = up.body(Full::new(forward)) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Palisade guard: unusable request",
        );
    };
    let answer = match p.upstream.send(up).await {
        Ok(a) => a,
        Err(e) => return upstream_error(e),
    };
    let (head, body) = answer.into_parts();
    let guarded = ep.filter(|_| head.status.is_success());
    let Some(ep) = guarded else {
        return pass_through(head, Body::new(body));
    };
    let encoded = head
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.eq_ignore_ascii_case("identity"));
    if encoded {
        return error_response(
            StatusCode::BAD_GATEWAY,
            "upstream_encoding",
            "Palisade guard: the upstream answered compressed although asked not to; the guard cannot read it",
        );
    }
    let ctype = head
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ctype.starts_with("text/event-stream") {
        ctx.stream = true;
        let body = GuardedStream {
            inner: body,
            guard: SseGuard::new(
                ep.field(),
                Arc::clone(&p.scanner),
                p.policy(),
                p.cfg.hold_bytes,
                MAX_HOLD,
                MAX_SSE_EVENT,
            ),
            proxy: Arc::clone(&p),
            ctx,
            seen: HashSet::new(),
            idle: Duration::from_secs(p.cfg.timeout_secs),
            sleep: Box::pin(tokio::time::sleep(Duration::from_secs(p.cfg.timeout_secs))),
            done: false,
            failed: None,
        };
        return pass_through(head, Body::new(body));
    }
    // Anything else (JSON under any or no content type) is read and judged; a body that is
    // not JSON after all is returned as it came.
    let limit = p.cfg.max_response_bytes;
    let collected = tokio::time::timeout(
        Duration::from_secs(p.cfg.timeout_secs),
        http_body_util::Limited::new(body, limit).collect(),
    )
    .await;
    let bytes = match collected {
        Err(_) => {
            return upstream_error(UpstreamError::Timeout(
                p.upstream.shown().to_string(),
                p.cfg.timeout_secs,
            ));
        }
        Ok(Err(e)) => {
            return error_response(
                StatusCode::BAD_GATEWAY,
                "upstream_answer",
                &format!(
                    "Palisade guard: reading the upstream's answer: {e} (limit {limit} bytes)"
                ),
            );
        }
        Ok(Ok(c)) => c.to_bytes(),
    };
    let outcome = match judged(&p, &ctx, "answer", move |q, reports| {
        q.check_answer(ep, &bytes, reports)
    })
    .await
    {
        Ok(o) => o,
        Err(failed) => return failed,
    };
    match outcome {
        RequestOutcome::Block { code, message } => {
            error_response(StatusCode::BAD_REQUEST, code, &message)
        }
        RequestOutcome::Forward(b) => pass_through(head, Body::from(b)),
    }
}

/// The upstream's status and headers with `body`.
/// Runs a check on a blocking thread (the detectors are CPU work), emits its findings, and
/// answers 500 if the check itself failed.
async fn judged(
    p: &Arc<GuardProxy>,
    ctx: &Ctx,
    what: &str,
    check: impl FnOnce(&GuardProxy, &mut Vec<Report>) -> RequestOutcome + Send + 'static,
) -> Result<RequestOutcome, Response> {
    let q = Arc::clone(p);
    let checked = tokio::task::spawn_blocking(move || {
        let mut reports = Vec::new();
        let outcome = check(&q, &mut reports);
        (outcome, reports)
    })
    .await;
    let Ok((outcome, reports)) = checked else {
        return Err(error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "guard_failed",
            &format!("Palisade guard: the {what} check failed"),
        ));
    };
    p.emit(ctx, &reports);
    Ok(outcome)
}

fn pass_through(head: axum::http::response::Parts, body: Body) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = head.status;
    copy_headers(&head.headers, r.headers_mut());
    r
}

/// A streamed answer going through the [`SseGuard`].
struct GuardedStream {
    inner: Incoming,
    guard: SseGuard,
    proxy: Arc<GuardProxy>,
    ctx: Ctx,
    /// Kinds and rules already reported for this stream (one event each).
    seen: HashSet<(&'static str, &'static str)>,
    idle: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    done: bool,
    /// An upstream failure, returned after the held text went out.
    failed: Option<String>,
}

impl GuardedStream {
    fn report(&mut self) {
        let mut reports = Vec::new();
        for (f, action) in self.guard.take_findings() {
            if action != Action::Block && !self.seen.insert((category_kind(f.category), f.kind)) {
                continue;
            }
            add_report(&mut reports, Direction::Response, &f, action);
        }
        self.proxy.emit(&self.ctx, &reports);
    }
}

impl hyper::body::Body for GuardedStream {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        loop {
            if let Some(e) = this.failed.take() {
                this.done = true;
                return Poll::Ready(Some(Err(std::io::Error::other(e))));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let deadline = tokio::time::Instant::now() + this.idle;
                    this.sleep.as_mut().reset(deadline);
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers: not forwarded
                    };
                    let out = this.guard.push(&data);
                    this.report();
                    if this.guard.ended() {
                        this.done = true;
                    }
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.failed = Some(format!("upstream stream failed: {e}"));
                    let out = this.guard.finish();
                    this.report();
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                }
                Poll::Ready(None) => {
                    this.done = true;
                    let out = this.guard.finish();
                    this.report();
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    if this.sleep.as_mut().poll(cx).is_ready() {
                        this.failed = Some(format!(
                            "the upstream sent nothing for {} s",
                            this.idle.as_secs()
                        ));
                        let out = this.guard.finish();
                        this.report();
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                        }
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

/// The proxy's HTTP application.
pub fn router(proxy: Arc<GuardProxy>) -> Router {
    Router::new().fallback(handle).with_state(proxy)
}

/// A started proxy.
pub struct RunningProxy {
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
}

/// Binds `cfg.listen` and serves until `shutdown` turns true.
pub async fn start(
    cfg: GuardProxySection,
    sink: Sink,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<RunningProxy> {
    let proxy = Arc::new(GuardProxy::new(cfg.clone(), sink, metrics)?);
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("guard_proxy.listen: cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let app = router(proxy);
    let task = tokio::spawn(async move {
        let stopped = async move {
            while shutdown.changed().await.is_ok() {
                if *shutdown.borrow() {
                    break;
                }
            }
        };
        let r = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stopped)
        .await;
        if let Err(e) = r {
            tracing::error!("guard proxy failed: {e}");
        }
    });
    Ok(RunningProxy { addr, task })
}

/// The sink of `palisade serve`: events handed to the ingress from source `guard-proxy`
/// without waiting (a full queue drops them, counted in `palisade_guard_proxy_events_dropped`),
/// as the guard API does.
/// [`IngressSink::detach`] lets go of the ingress at shutdown even while a client still holds
/// a stream open (the log writer ends only when every ingress handle is gone).
pub struct IngressSink(Arc<std::sync::RwLock<Option<crate::ingress::Ingress>>>);

impl IngressSink {
    pub fn new(
        ingress: crate::ingress::Ingress,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> (IngressSink, Sink) {
        let slot = Arc::new(std::sync::RwLock::new(Some(ingress)));
        let held = Arc::clone(&slot);
        let source: Arc<str> = Arc::from("guard-proxy");
        let sink: Sink = Arc::new(move |ev: Value| {
            let guard = held.read().unwrap_or_else(|e| e.into_inner());
            let Some(ingress) = guard.as_ref() else {
                return;
            };
            let record = crate::wal::Record {
                source: Arc::clone(&source),
                format: palisade_ingest::Format::Json,
                line: ev.to_string().into_bytes(),
            };
            if ingress.try_submit(vec![record]).is_err() {
                metrics.guard_proxy_events_dropped.inc();
                tracing::debug!("guard proxy event dropped: ingress queue full");
            }
        });
        (IngressSink(slot), sink)
    }

    /// Drops the ingress handle; later findings are not recorded.
    pub fn detach(&self) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).take();
    }
}

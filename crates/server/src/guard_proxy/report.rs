//! Where the standalone proxy's findings go: NDJSON lines (stdout or a file) and, when asked,
//! `POST /api/v1/events?source=guard-proxy` of a running Palisade, whose pipeline and rules then
//! make them alerts exactly as for `[guard_proxy]` inside `palisade serve`.
//!
//! One thread writes and reports, fed through a bounded queue: the proxy never waits for it (a
//! full queue drops the event and counts it). Events the server did not take (down, 429, 5xx)
//! are kept, at most [`MAX_UNSENT`], and sent with the next batch.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderValue, Request, header};
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use super::Sink;
use super::upstream::Upstream;

/// Events waiting for the server, at most (the oldest are dropped beyond).
pub const MAX_UNSENT: usize = 10_000;
/// Events in the queue between the proxy and the writer.
pub const QUEUE: usize = 4096;

/// A running Palisade to report to.
pub struct ReportTo {
    /// Its base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// An API token with the analyst role.
    pub token: String,
}

/// What the writer thread did, for the operator.
#[derive(Debug, Default)]
pub struct Counts {
    pub written: AtomicU64,
    pub reported: AtomicU64,
    pub dropped: AtomicU64,
}

/// The writer thread; it ends once every [`Sink`] clone is gone.
pub struct Writer {
    pub counts: Arc<Counts>,
    pub thread: std::thread::JoinHandle<()>,
}

/// A sink writing NDJSON to `out` and reporting to `report`. `rt` runs the HTTP client.
pub fn ndjson_sink(
    mut out: Box<dyn Write + Send>,
    report: Option<ReportTo>,
    rt: tokio::runtime::Handle,
) -> Result<(Sink, Writer), String> {
    let client = match &report {
        Some(r) => Some((
            Upstream::new(
                &r.url,
                None,
                Duration::from_secs(5),
                Duration::from_secs(30),
            )
            .map_err(|e| format!("--report-to: {e}"))?,
            HeaderValue::from_str(&format!("Bearer {}", r.token))
                .map_err(|_| "--token-file: the token is not a header value".to_string())?,
        )),
        None => None,
    };
    let (tx, rx): (SyncSender<Value>, Receiver<Value>) = std::sync::mpsc::sync_channel(QUEUE);
    let counts = Arc::new(Counts::default());
    let c = Arc::clone(&counts);
    let thread = std::thread::Builder::new()
        .name("palisade-guard-events".into())
        .spawn(move || {
            let mut unsent: std::collections::VecDeque<String> = Default::default();
            let mut open = true;
            while open {
                let mut batch = Vec::new();
                match rx.recv_timeout(Duration::from_secs(2)) {
                    Ok(v) => batch.push(v),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => open = false,
                }
                while batch.len() < 1000 {
                    match rx.try_recv() {
                        Ok(v) => batch.push(v),
                        Err(_) => break,
                    }
                }
                for v in &batch {
                    let line = v.to_string();
                    if writeln!(out, "{line}").is_ok() {
                        c.written.fetch_add(1, Ordering::Relaxed);
                    }
                    if client.is_some() {
                        if unsent.len() >= MAX_UNSENT {
                            unsent.pop_front();
                            c.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        unsent.push_back(line);
                    }
                }
                let _ = out.flush();
                if let Some((up, auth)) = &client
                    && !unsent.is_empty()
                {
                    let body: String = unsent.iter().map(|l| format!("{l}\n")).collect();
                    match rt.block_on(post(up, auth, body)) {
                        Ok(()) => {
                            c.reported.fetch_add(unsent.len() as u64, Ordering::Relaxed);
                            unsent.clear();
                        }
                        Err(e) => tracing::warn!(
                            "reporting {} guard events to {}: {e}; kept for the next try",
                            unsent.len(),
                            up.shown()
                        ),
                    }
                }
            }
        })
        .map_err(|e| format!("starting the event writer: {e}"))?;
    let dropped = Arc::clone(&counts);
    let sink: Sink = Arc::new(move |v: Value| match tx.try_send(v) {
        Ok(()) => {}
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            dropped.dropped.fetch_add(1, Ordering::Relaxed);
        }
    });
    Ok((sink, Writer { counts, thread }))
}

async fn post(up: &Upstream, auth: &HeaderValue, body: String) -> Result<(), String> {
    let req = Request::post("/api/v1/events?source=guard-proxy&format=json")
        .header(header::AUTHORIZATION, auth.clone())
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = up.send(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let text = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&text[..text.len().min(300)])
        ))
    }
}

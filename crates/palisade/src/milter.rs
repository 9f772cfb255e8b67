//! `palisade guard milter`: the phishing guard inside a mail server (Postfix `smtpd_milters`,
//! Sendmail `INPUT_MAIL_FILTER`), speaking the milter protocol through `miltr-server`.
//!
//! Per message the filter collects headers and body (up to `--max-bytes`), judges the message
//! with [`MailGuard`] at end of message and answers by policy: it always adds
//! `X-Palisade-Verdict`, `X-Palisade-Score` and `X-Palisade-Reasons` (and deletes such headers
//! the sender put there), and per verdict tags, quarantines (the MTA's hold queue) or rejects
//! with a 5xx reply naming the reasons. Non-clean verdicts are also written as NDJSON ECS events
//! of the same shape as `palisade serve`'s guard events (verdict, score, signal names; never the
//! message).
//!
//! It never stands in the mail path by accident: a message over the size limit is accepted with
//! `X-Palisade-Verdict: unscanned`, and any internal failure is logged and answered by
//! `--on-error` (accept by default, `tempfail` to fail closed). If the filter is down the MTA's
//! own setting decides (`milter_default_action` in Postfix).
//!
//! The decision (`decide`) is a pure function of verdict and policy, unit-tested here; the
//! protocol with a real Postfix is tested in `tests/milter_postfix.rs`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use clap::{Args, ValueEnum};
use miltr_common::actions::{Action, Continue, Replycode, Tempfail};
use miltr_common::commands::{Body, Header};
use miltr_common::modifications::ModificationResponse;
use miltr_common::modifications::headers::{AddHeader, ChangeHeader};
use miltr_common::modifications::quarantine::Quarantine;
use miltr_common::optneg::{Capability, OptNeg, Protocol};
use miltr_server::{Milter, Server};
use palisade_guard::mail::{self, MailGuard, MailVerdict, MailVerdictKind};
use palisade_guard::seen::SeenDomains;

use crate::guard_cmd::{SeenArgs, save_seen, unix_now};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::compat::TokioAsyncReadCompatExt;

/// The headers the filter adds (and removes from incoming mail, so a sender cannot forge them).
pub const VERDICT_HEADER: &str = "X-Palisade-Verdict";
pub const SCORE_HEADER: &str = "X-Palisade-Score";
pub const REASONS_HEADER: &str = "X-Palisade-Reasons";
const OUR_HEADERS: [&str; 3] = [VERDICT_HEADER, SCORE_HEADER, REASONS_HEADER];

/// What to do with a message of a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnVerdict {
    /// Deliver it with the X-Palisade-* headers only.
    Tag,
    /// Put it in the MTA's quarantine (Postfix: the hold queue; `postsuper -H` releases it).
    Quarantine,
    /// Refuse it at SMTP time with `550 5.7.1` and the reasons; the sender gets a bounce.
    Reject,
}

/// What to answer when the filter itself fails on a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnError {
    /// Fail open: accept the message (with `X-Palisade-Verdict: error`), log a warning.
    Accept,
    /// Fail closed: answer 4xx so the sending MTA retries later.
    Tempfail,
}

#[derive(Args, Clone, Debug)]
pub struct GuardMilterArgs {
    /// Where to listen: `inet:HOST:PORT` (also Sendmail's `inet:PORT@HOST`) or `unix:PATH`.
    #[arg(long, value_name = "inet:HOST:PORT|unix:PATH")]
    pub listen: String,
    /// What to do with malicious mail.
    #[arg(long, value_enum, default_value_t = OnVerdict::Quarantine)]
    pub on_malicious: OnVerdict,
    /// What to do with suspicious mail.
    #[arg(long, value_enum, default_value_t = OnVerdict::Tag)]
    pub on_suspicious: OnVerdict,
    /// Internal failure on a message: accept it (fail open) or tempfail (fail closed).
    #[arg(long, value_enum, default_value_t = OnError::Accept)]
    pub on_error: OnError,
    /// Messages larger than this (headers + body) are accepted unscanned, with
    /// `X-Palisade-Verdict: unscanned`.
    #[arg(long, default_value_t = mail::MAX_MESSAGE_BYTES, value_name = "BYTES")]
    pub max_bytes: usize,
    /// Connections served at once (each holds at most --max-bytes of one message).
    #[arg(long, default_value_t = 64)]
    pub max_connections: usize,
    /// Append the NDJSON events for malicious and suspicious mail to this file (default:
    /// stdout).
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    #[command(flatten)]
    pub seen: SeenArgs,
}

/// The seen-domain memory is written back every this many messages (and at exit).
const SAVE_EVERY: u64 = 100;

/// Where the filter listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    Inet(String),
    Unix(PathBuf),
}

/// Parses a milter socket specification as Postfix and Sendmail write them.
pub fn parse_listen(spec: &str) -> Result<Listen> {
    if let Some(path) = spec
        .strip_prefix("unix:")
        .or_else(|| spec.strip_prefix("local:"))
    {
        if path.is_empty() {
            bail!("--listen {spec}: no socket path");
        }
        return Ok(Listen::Unix(PathBuf::from(path)));
    }
    let Some(rest) = spec
        .strip_prefix("inet:")
        .or_else(|| spec.strip_prefix("inet6:"))
    else {
        bail!("--listen {spec}: expected inet:HOST:PORT, inet:PORT@HOST or unix:PATH");
    };
    let addr = match rest.split_once('@') {
        // Sendmail's form: inet:PORT@HOST.
        Some((port, host)) => {
            if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }
        }
        None => rest.to_string(),
    };
    let port_ok = addr
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
    if !port_ok {
        bail!("--listen {spec}: expected inet:HOST:PORT");
    }
    Ok(Listen::Inet(addr))
}

/// The policy the filter applies.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub on_malicious: OnVerdict,
    pub on_suspicious: OnVerdict,
    pub on_error: OnError,
    pub max_bytes: usize,
}

/// What the filter does with one message.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// Headers to add, in order.
    pub headers: Vec<(&'static str, String)>,
    pub action: Act,
    /// The verdict word for headers, logs and events.
    pub verdict: &'static str,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Act {
    Accept,
    Quarantine(String),
    /// The reply text after `550 5.7.1`.
    Reject(String),
    Tempfail,
}

impl Act {
    pub fn name(&self) -> &'static str {
        match self {
            Act::Accept => "accept",
            Act::Quarantine(_) => "quarantine",
            Act::Reject(_) => "reject",
            Act::Tempfail => "tempfail",
        }
    }
}

/// What the judge made of a message before policy.
pub enum Outcome {
    Judged(MailVerdict),
    /// Larger than `max_bytes`.
    TooLarge(usize),
    /// Not judged: the input was no message (`Err` from the guard).
    Unreadable(String),
    /// The filter failed (a panic in the judge, a lost worker).
    Failed(String),
}

/// Printable ASCII only, at most `max` bytes: header values and SMTP replies must not carry
/// line breaks, NULs or 8-bit text that the sender controls.
pub fn clean_text(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    if out.len() > max {
        out.truncate(max);
    }
    out
}

/// The reasons that raised the score, strongest first, as `name (+weight)`.
fn reasons_list(v: &MailVerdict, n: usize) -> String {
    let r: Vec<String> = v
        .reasons
        .iter()
        .filter(|s| s.weight > 0.0)
        .take(n)
        .map(|s| format!("{} (+{:.2})", s.name, s.weight))
        .collect();
    if r.is_empty() {
        "the model's overall score".into()
    } else {
        r.join(", ")
    }
}

/// The pure policy: headers and action for an outcome.
pub fn decide(outcome: &Outcome, policy: &Policy) -> Decision {
    match outcome {
        Outcome::Judged(v) => {
            let verdict = mail_verdict_word(v.verdict);
            let reasons = reasons_list(v, 5);
            let headers = vec![
                (VERDICT_HEADER, verdict.to_string()),
                (SCORE_HEADER, format!("{:.3}", v.score)),
                (REASONS_HEADER, clean_text(&reasons, 900)),
            ];
            let on = match v.verdict {
                MailVerdictKind::Malicious => policy.on_malicious,
                MailVerdictKind::Suspicious => policy.on_suspicious,
                MailVerdictKind::Clean => OnVerdict::Tag,
            };
            let action = match on {
                OnVerdict::Tag => Act::Accept,
                OnVerdict::Quarantine => Act::Quarantine(clean_text(
                    &format!(
                        "Palisade: {verdict} (score {:.3}): {}",
                        v.score,
                        reasons_list(v, 3)
                    ),
                    400,
                )),
                // `%` starts a format in libmilter's reply handling.
                OnVerdict::Reject => Act::Reject(
                    clean_text(
                        &format!(
                            "Message rejected by Palisade as {verdict} phishing (score {:.2}): {}",
                            v.score,
                            reasons_list(v, 3)
                        ),
                        400,
                    )
                    .replace('%', "%%"),
                ),
            };
            Decision {
                headers,
                action,
                verdict,
            }
        }
        Outcome::TooLarge(n) => Decision {
            headers: vec![
                (VERDICT_HEADER, "unscanned".into()),
                (
                    REASONS_HEADER,
                    format!("message larger than {} bytes ({n}+)", policy.max_bytes),
                ),
            ],
            action: Act::Accept,
            verdict: "unscanned",
        },
        Outcome::Unreadable(why) => Decision {
            headers: vec![
                (VERDICT_HEADER, "unscanned".into()),
                (REASONS_HEADER, clean_text(why, 300)),
            ],
            action: Act::Accept,
            verdict: "unscanned",
        },
        Outcome::Failed(why) => match policy.on_error {
            OnError::Accept => Decision {
                headers: vec![
                    (VERDICT_HEADER, "error".into()),
                    (REASONS_HEADER, clean_text(why, 300)),
                ],
                action: Act::Accept,
                verdict: "error",
            },
            OnError::Tempfail => Decision {
                headers: Vec::new(),
                action: Act::Tempfail,
                verdict: "error",
            },
        },
    }
}

fn mail_verdict_word(v: MailVerdictKind) -> &'static str {
    palisade_server::api::guard::mail_verdict_str(v)
}

/// The event for a judged non-clean message (same shape as `palisade serve`'s guard events,
/// plus what the filter did).
pub fn milter_event(v: &MailVerdict, act: &Act) -> serde_json::Value {
    let mut e = palisade_server::api::guard::finding_event(
        "phishing",
        v.score,
        mail_verdict_word(v.verdict),
        &v.reasons,
    );
    e["palisade"]["guard"]["milter_action"] = act.name().into();
    e["observer"] = serde_json::json!({"type": "mail-filter", "product": "palisade guard milter"});
    e
}

/// What every connection shares.
struct Shared {
    guard: MailGuard,
    policy: Policy,
    events: Mutex<Box<dyn Write + Send>>,
    /// The seen-domain memory and where it is kept.
    seen: Option<(Mutex<SeenDomains>, Option<PathBuf>)>,
}

impl Shared {
    /// Judges a message (consulting and teaching the seen-domain memory); blocking.
    fn check(&self, raw: &[u8]) -> std::result::Result<MailVerdict, palisade_guard::GuardError> {
        let Some((seen, path)) = &self.seen else {
            return self.guard.check(raw);
        };
        let f = self.guard.features(raw)?;
        let (extra, save) = {
            let mut s = match seen.lock() {
                Ok(s) => s,
                Err(p) => p.into_inner(),
            };
            let extra = s.check_and_learn(&f.domains, unix_now());
            let save = (path.is_some() && s.messages() % SAVE_EVERY == 0).then(|| s.to_json());
            (extra, save)
        };
        if let (Some(bytes), Some(p)) = (save, path)
            && let Err(e) = save_seen(p, &bytes)
        {
            tracing::warn!("milter: {e:#}");
        }
        Ok(self.guard.judge_with(f, extra))
    }

    /// Writes the seen-domain memory back (at exit).
    fn save_seen(&self) -> Result<()> {
        if let Some((seen, Some(path))) = &self.seen {
            let bytes = match seen.lock() {
                Ok(s) => s.to_json(),
                Err(p) => p.into_inner().to_json(),
            };
            save_seen(path, &bytes)?;
        }
        Ok(())
    }

    fn write_event(&self, e: &serde_json::Value) {
        let mut w = match self.events.lock() {
            Ok(w) => w,
            Err(p) => p.into_inner(),
        };
        if let Err(err) = writeln!(w, "{e}").and_then(|_| w.flush()) {
            tracing::warn!("milter: writing an event failed: {err}");
        }
    }
}

/// The state of one milter connection (one message at a time).
struct Conn {
    shared: Arc<Shared>,
    raw: Vec<u8>,
    /// Bytes seen of the current message (also past the limit).
    seen: usize,
    /// How many of each of our headers the message arrived with.
    forged: [u32; 3],
}

impl Conn {
    fn new(shared: Arc<Shared>) -> Conn {
        Conn {
            shared,
            raw: Vec::new(),
            seen: 0,
            forged: [0; 3],
        }
    }

    fn reset(&mut self) {
        self.raw = Vec::new();
        self.seen = 0;
        self.forged = [0; 3];
    }

    fn push(&mut self, parts: &[&[u8]]) {
        let n: usize = parts.iter().map(|p| p.len()).sum();
        self.seen = self.seen.saturating_add(n);
        if self.seen <= self.shared.policy.max_bytes {
            for p in parts {
                self.raw.extend_from_slice(p);
            }
        } else if !self.raw.is_empty() {
            self.raw = Vec::new();
        }
    }

    async fn judge(&mut self) -> Outcome {
        if self.seen > self.shared.policy.max_bytes {
            return Outcome::TooLarge(self.seen);
        }
        let raw = std::mem::take(&mut self.raw);
        let shared = self.shared.clone();
        match tokio::task::spawn_blocking(move || shared.check(&raw)).await {
            Ok(Ok(v)) => Outcome::Judged(v),
            Ok(Err(e)) => Outcome::Unreadable(e.to_string()),
            Err(e) => Outcome::Failed(format!("internal error: {e}")),
        }
    }
}

#[async_trait]
impl Milter for Conn {
    type Error = std::convert::Infallible;

    async fn option_negotiation(
        &mut self,
        theirs: OptNeg,
    ) -> std::result::Result<OptNeg, miltr_server::Error<Self::Error>> {
        // Headers and body only; the envelope and connection are not needed.
        let wanted = Protocol::NO_CONNECT
            | Protocol::NO_HELO
            | Protocol::NO_MAIL
            | Protocol::NO_RECIPIENT
            | Protocol::NO_UNKNOWN
            | Protocol::NO_DATA;
        Ok(OptNeg {
            version: theirs.version.min(6),
            capabilities: (Capability::SMFIF_ADDHDRS
                | Capability::SMFIF_CHGHDRS
                | Capability::SMFIF_QUARANTINE)
                & theirs.capabilities,
            protocol: wanted & theirs.protocol,
            ..OptNeg::default()
        })
    }

    async fn header(&mut self, header: Header) -> std::result::Result<Action, Self::Error> {
        let name = header.name();
        if let Some(k) = OUR_HEADERS
            .iter()
            .position(|h| h.eq_ignore_ascii_case(&name))
        {
            self.forged[k] += 1;
        }
        let value = header.value();
        self.push(&[
            name.as_bytes(),
            b": ",
            value.trim_start().as_bytes(),
            b"\r\n",
        ]);
        Ok(Continue.into())
    }

    async fn end_of_header(&mut self) -> std::result::Result<Action, Self::Error> {
        self.push(&[b"\r\n"]);
        Ok(Continue.into())
    }

    async fn body(&mut self, body: Body) -> std::result::Result<Action, Self::Error> {
        self.push(&[body.as_bytes()]);
        Ok(Continue.into())
    }

    async fn end_of_body(&mut self) -> std::result::Result<ModificationResponse, Self::Error> {
        let outcome = self.judge().await;
        let d = decide(&outcome, &self.shared.policy);
        match &outcome {
            Outcome::Judged(v) => {
                tracing::info!(
                    verdict = d.verdict,
                    score = v.score,
                    action = d.action.name(),
                    "milter: message judged"
                );
                if v.verdict != MailVerdictKind::Clean {
                    self.shared.write_event(&milter_event(v, &d.action));
                }
            }
            Outcome::TooLarge(n) => {
                tracing::info!(bytes = n, "milter: message over --max-bytes, not scanned")
            }
            Outcome::Unreadable(why) => tracing::warn!("milter: message not judged: {why}"),
            Outcome::Failed(why) => {
                tracing::warn!(action = d.action.name(), "milter: {why}")
            }
        }
        let forged = self.forged;
        self.reset();
        let mut b = ModificationResponse::builder();
        if !matches!(d.action, Act::Reject(_) | Act::Tempfail) {
            // Delete what the sender wrote in our headers (an empty value deletes).
            for (k, name) in OUR_HEADERS.iter().enumerate() {
                for i in (1..=forged[k]).rev() {
                    b.push(ChangeHeader::new(i, name.as_bytes(), b""));
                }
            }
            for (name, value) in &d.headers {
                b.push(AddHeader::new(name.as_bytes(), value.as_bytes()));
            }
        }
        Ok(match d.action {
            Act::Accept => b.contin(),
            Act::Quarantine(reason) => {
                b.push(Quarantine::new(reason.as_bytes()));
                b.contin()
            }
            Act::Reject(text) => b.build(Replycode::new([5, 5, 0], [5, 7, 1], &text)),
            Act::Tempfail => b.build(Tempfail),
        })
    }

    async fn abort(&mut self) -> std::result::Result<(), Self::Error> {
        self.reset();
        Ok(())
    }
}

async fn serve_conn<S: AsyncRead + AsyncWrite + Unpin + Send>(shared: Arc<Shared>, stream: S) {
    let mut conn = Conn::new(shared);
    let mut server = Server::new(&mut conn, false, 1 << 20);
    if let Err(e) = server.handle_connection(stream.compat()).await {
        tracing::warn!("milter: connection ended with an error: {e}");
    }
}

fn open_events(path: &Option<PathBuf>) -> Result<Box<dyn Write + Send>> {
    Ok(match path {
        Some(p) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    })
}

fn remove_stale_socket(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if m.file_type().is_socket() {
            std::fs::remove_file(path)
                .with_context(|| format!("removing the old socket {}", path.display()))?;
        } else {
            bail!("{} exists and is not a socket", path.display());
        }
    }
    Ok(())
}

/// Runs the filter until SIGINT or SIGTERM.
pub fn run(args: GuardMilterArgs) -> Result<u8> {
    let listen = parse_listen(&args.listen)?;
    if args.max_connections == 0 {
        bail!("--max-connections must be at least 1");
    }
    let shared = Arc::new(Shared {
        guard: MailGuard::embedded()?,
        policy: Policy {
            on_malicious: args.on_malicious,
            on_suspicious: args.on_suspicious,
            on_error: args.on_error,
            max_bytes: args.max_bytes,
        },
        events: Mutex::new(open_events(&args.events)?),
        seen: args
            .seen
            .load()?
            .map(|s| (Mutex::new(s), args.seen.seen_domains.clone())),
    });
    let shared_at_exit = shared.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let limit = Arc::new(tokio::sync::Semaphore::new(args.max_connections));
        // Registered before the listening line, so a signal right after it is never lost.
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let stop = async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            std::io::Result::Ok(())
        };
        tokio::pin!(stop);
        // TCP and Unix listeners hand out different stream types; one loop for both: a
        // connection slot first (bounded), then a connection, until a stop signal.
        macro_rules! accept_loop {
            ($l:expr) => {
                loop {
                    let permit = tokio::select! {
                        r = &mut stop => { r?; break; }
                        p = limit.clone().acquire_owned() => p?,
                    };
                    tokio::select! {
                        r = &mut stop => { r?; break; }
                        a = $l.accept() => match a {
                            Ok((s, _)) => {
                                let sh = shared.clone();
                                tokio::spawn(async move {
                                    serve_conn(sh, s).await;
                                    drop(permit);
                                });
                            }
                            Err(e) => tracing::warn!("milter: accept failed: {e}"),
                        },
                    }
                }
            };
        }
        match listen {
            Listen::Inet(addr) => {
                let l = tokio::net::TcpListener::bind(&addr)
                    .await
                    .with_context(|| format!("listening on {addr}"))?;
                eprintln!("palisade: milter listening on inet:{}", l.local_addr()?);
                accept_loop!(l);
            }
            Listen::Unix(path) => {
                remove_stale_socket(&path)?;
                let l = tokio::net::UnixListener::bind(&path)
                    .with_context(|| format!("listening on {}", path.display()))?;
                eprintln!("palisade: milter listening on unix:{}", path.display());
                accept_loop!(l);
                let _ = std::fs::remove_file(&path);
            }
        }
        anyhow::Ok(())
    })?;
    shared_at_exit.save_seen()?;
    eprintln!("palisade: milter stopped");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_guard::Signal;

    fn verdict(kind: MailVerdictKind, score: f32) -> MailVerdict {
        MailVerdict {
            score,
            verdict: kind,
            subject: "s".into(),
            from: "a@b.example".into(),
            reasons: vec![
                Signal::new("url_lookalike_domain", "x").weighted(2.5),
                Signal::new("spf_fail", "y").weighted(1.0),
                Signal::new("url_count", "z").weighted(-0.2),
            ],
        }
    }

    fn policy(m: OnVerdict, s: OnVerdict, e: OnError) -> Policy {
        Policy {
            on_malicious: m,
            on_suspicious: s,
            on_error: e,
            max_bytes: 100,
        }
    }

    #[test]
    fn listen_specs_of_postfix_and_sendmail() {
        assert_eq!(
            parse_listen("inet:127.0.0.1:8891").unwrap(),
            Listen::Inet("127.0.0.1:8891".into())
        );
        assert_eq!(
            parse_listen("inet:8891@localhost").unwrap(),
            Listen::Inet("localhost:8891".into())
        );
        assert_eq!(
            parse_listen("inet6:8891@::1").unwrap(),
            Listen::Inet("[::1]:8891".into())
        );
        assert_eq!(
            parse_listen("unix:/run/palisade/milter.sock").unwrap(),
            Listen::Unix("/run/palisade/milter.sock".into())
        );
        for bad in [
            "",
            "tcp:1.2.3.4:5",
            "inet:host",
            "inet::25",
            "inet:h:99999",
            "unix:",
        ] {
            assert!(parse_listen(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_policy_tags_clean_and_suspicious_and_quarantines_malicious() {
        let p = policy(OnVerdict::Quarantine, OnVerdict::Tag, OnError::Accept);
        let d = decide(&Outcome::Judged(verdict(MailVerdictKind::Clean, 0.01)), &p);
        assert_eq!(d.action, Act::Accept);
        assert_eq!(d.headers[0], (VERDICT_HEADER, "clean".to_string()));
        assert_eq!(d.headers[1], (SCORE_HEADER, "0.010".to_string()));
        let d = decide(
            &Outcome::Judged(verdict(MailVerdictKind::Suspicious, 0.6)),
            &p,
        );
        assert_eq!(d.action, Act::Accept);
        assert_eq!(d.headers[0].1, "suspicious");
        let d = decide(
            &Outcome::Judged(verdict(MailVerdictKind::Malicious, 0.97)),
            &p,
        );
        let Act::Quarantine(why) = &d.action else {
            panic!("{d:?}")
        };
        assert!(why.contains("url_lookalike_domain"), "{why}");
        assert_eq!(
            d.headers[2],
            (
                REASONS_HEADER,
                "url_lookalike_domain (+2.50), spf_fail (+1.00)".to_string()
            )
        );
    }

    #[test]
    fn reject_names_the_reasons_and_errors_follow_on_error() {
        let p = policy(OnVerdict::Reject, OnVerdict::Reject, OnError::Tempfail);
        let d = decide(
            &Outcome::Judged(verdict(MailVerdictKind::Malicious, 0.97)),
            &p,
        );
        let Act::Reject(text) = &d.action else {
            panic!("{d:?}")
        };
        assert!(
            text.contains("as malicious phishing")
                && text.contains("url_lookalike_domain (+2.50), spf_fail (+1.00)"),
            "{text}"
        );
        let d = decide(&Outcome::Failed("boom".into()), &p);
        assert_eq!(d.action, Act::Tempfail);
        let p = policy(OnVerdict::Reject, OnVerdict::Reject, OnError::Accept);
        let d = decide(&Outcome::Failed("boom".into()), &p);
        assert_eq!(d.action, Act::Accept);
        assert_eq!(d.headers[0].1, "error");
        let d = decide(&Outcome::TooLarge(500), &p);
        assert_eq!(d.action, Act::Accept);
        assert_eq!(d.headers[0].1, "unscanned");
        assert!(d.headers[1].1.contains("larger than 100 bytes"));
    }

    #[test]
    fn header_and_reply_text_is_printable_ascii_without_breaks() {
        assert_eq!(clean_text("a\r\nb\0c é", 100), "a??b?c ?");
        assert_eq!(clean_text("abcdef", 3), "abc");
    }

    #[test]
    fn events_carry_the_verdict_not_the_message() {
        let v = verdict(MailVerdictKind::Malicious, 0.97);
        let e = milter_event(&v, &Act::Reject("x".into()));
        assert_eq!(e["event"]["module"], "palisade-guard");
        assert_eq!(e["palisade"]["guard"]["verdict"], "malicious");
        assert_eq!(e["palisade"]["guard"]["milter_action"], "reject");
        assert_eq!(
            e["palisade"]["guard"]["signals"],
            serde_json::json!(["url_lookalike_domain", "spf_fail"])
        );
        assert!(!e.to_string().contains("\"s\""), "no subject: {e}");
    }

    fn conn(max_bytes: usize, on_malicious: OnVerdict) -> Conn {
        Conn::new(Arc::new(Shared {
            guard: MailGuard::embedded().unwrap(),
            policy: Policy {
                max_bytes,
                ..policy(on_malicious, OnVerdict::Tag, OnError::Accept)
            },
            events: Mutex::new(Box::new(std::io::sink())),
            seen: None,
        }))
    }

    async fn feed(c: &mut Conn, headers: &[(&str, &str)], body: &str) -> ModificationResponse {
        for (n, v) in headers {
            c.header(Header::new(n.as_bytes(), v.as_bytes()))
                .await
                .unwrap();
        }
        c.end_of_header().await.unwrap();
        for chunk in body.as_bytes().chunks(7) {
            c.body(Body::from(chunk)).await.unwrap();
        }
        c.end_of_body().await.unwrap()
    }

    fn added(r: &ModificationResponse) -> Vec<String> {
        r.modifications().iter().map(|m| format!("{m:?}")).collect()
    }

    #[tokio::test]
    async fn a_message_is_assembled_judged_and_forged_headers_are_deleted() {
        let mut c = conn(1 << 20, OnVerdict::Tag);
        let r = feed(
            &mut c,
            &[
                ("From", "Anna <anna@example.org>"),
                ("To", "bob@example.org"),
                ("Subject", "lunch tomorrow?"),
                ("Message-ID", "<1@example.org>"),
                ("X-Palisade-Verdict", "clean"),
                ("x-palisade-verdict", "clean"),
            ],
            "Hi Bob,\r\nshall we meet at noon at the usual place?\r\nAnna\r\n",
        )
        .await;
        let m = added(&r);
        assert!(matches!(r.final_action(), Action::Continue(_)), "{r:?}");
        // Both forged copies are deleted (index 2 first), then ours are added.
        assert!(
            m[0].contains("ChangeHeader") && m[0].contains("index: 2"),
            "{m:?}"
        );
        assert!(
            m[1].contains("ChangeHeader") && m[1].contains("index: 1"),
            "{m:?}"
        );
        assert_eq!(
            m.iter().filter(|s| s.contains("AddHeader")).count(),
            3,
            "{m:?}"
        );
        // The next message on the connection starts afresh.
        let r = feed(
            &mut c,
            &[("From", "x@example.org"), ("Subject", "hi")],
            "short\r\n",
        )
        .await;
        assert!(!added(&r).iter().any(|s| s.contains("ChangeHeader")));
    }

    #[tokio::test]
    async fn over_the_limit_is_accepted_unscanned_and_phishing_is_rejected() {
        let mut c = conn(200, OnVerdict::Reject);
        let body = "x".repeat(300);
        let r = feed(
            &mut c,
            &[("From", "a@example.org"), ("Subject", "big")],
            &body,
        )
        .await;
        assert!(matches!(r.final_action(), Action::Continue(_)));
        assert!(added(&r).iter().any(|s| s.contains("unscanned")), "{r:?}");

        let mut c = conn(1 << 20, OnVerdict::Reject);
        let raw = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join("crates/guard/tests/fixtures/mail/hostile/paypal_lookalike.eml"),
        )
        .unwrap()
        .replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap();
        let headers: Vec<(&str, &str)> =
            head.lines().map(|l| l.split_once(": ").unwrap()).collect();
        let r = feed(&mut c, &headers, &body.replace('\n', "\r\n")).await;
        let Action::Replycode(rc) = r.final_action() else {
            panic!("{r:?}")
        };
        assert!(rc.message().contains("rejected by Palisade"), "{rc:?}");
        assert!(r.modifications().is_empty(), "no headers on a rejection");
    }

    #[tokio::test]
    async fn the_seen_domain_memory_adds_its_signal_and_is_saved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seen.json");
        let seen = SeenDomains::new(palisade_guard::seen::SeenConfig {
            warmup: 0,
            ..Default::default()
        });
        let shared = Arc::new(Shared {
            guard: MailGuard::embedded().unwrap(),
            policy: policy(OnVerdict::Tag, OnVerdict::Tag, OnError::Accept),
            events: Mutex::new(Box::new(std::io::sink())),
            seen: Some((Mutex::new(seen), Some(path.clone()))),
        });
        let mut c = Conn::new(shared.clone());
        let r = feed(
            &mut c,
            &[
                ("From", "Anna <anna@fresh-domain.example>"),
                ("Subject", "hello"),
            ],
            "see https://files.fresh-domain.example/x\r\n",
        )
        .await;
        assert!(
            added(&r).iter().any(|m| m.contains("newly_seen_domain")),
            "{r:?}"
        );
        shared.save_seen().unwrap();
        let back = SeenDomains::from_json(
            &std::fs::read(&path).unwrap(),
            palisade_guard::seen::SeenConfig::default(),
        )
        .unwrap();
        assert_eq!(back.messages(), 1);
        assert!(back.first_seen("fresh-domain.example").is_some());
    }
}

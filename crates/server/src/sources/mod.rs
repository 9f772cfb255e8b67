//! Sources: what turns the outside world into [`Record`]s for the [`Ingress`].
//!
//! - [`syslog`]: UDP (one datagram, one or more messages) and TCP (RFC 6587 octet counting and
//!   LF/NUL framing, told apart per frame by [`framing`]);
//! - [`tail`]: files followed like `tail -F`, surviving rotation by rename and copytruncate,
//!   with offsets in `data_dir/offsets.json` ([`offsets`]);
//! - [`dir`]: every file matching a pattern in a directory, including files created later.
//!
//! **Invariant:** a source acknowledges data (moves a file offset) only after
//! [`Ingress`] accepted the records, i.e. they are in the write-ahead log. UDP cannot push
//! back, so when the queue is full its datagrams are dropped and counted
//! (`palisade_syslog_udp_dropped`); TCP stops reading (the sender's window fills); files simply
//! wait. Bad input (oversize frames or lines, unreadable files) is logged and counted, and the
//! records around it still arrive.

pub mod dir;
pub mod framing;
pub mod offsets;
pub mod syslog;
pub mod tail;
pub mod wake;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{ServeConfig, parse_format};
use crate::ingress::{Ingress, SubmitError};
use crate::metrics::{Metrics, SourceLabel};
use crate::wal::Record;
use offsets::OffsetBook;
use tail::{FirstRead, TailContext, Tailer};

/// File name of the tailing offsets under `data_dir`.
pub const OFFSETS_FILE: &str = "offsets.json";

/// Why the sources could not start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{what}: cannot listen on {protocol} {addr}: {reason}")]
    Listen {
        /// `sources.syslog[0] (fw)`.
        what: String,
        protocol: Protocol,
        addr: String,
        reason: String,
    },
    #[error("tailing offsets {path}: {message}")]
    Offsets { path: PathBuf, message: String },
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
    #[error("sources must be started from inside a Tokio runtime")]
    NoRuntime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Udp,
    Tcp,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
        })
    }
}

/// A bound listener (the real port when the configuration said `:0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listening {
    pub source: String,
    pub protocol: Protocol,
    pub addr: SocketAddr,
}

/// The started sources.
pub struct RunningSources {
    pub listeners: Vec<Listening>,
    pub tasks: Vec<JoinHandle<()>>,
}

impl RunningSources {
    /// The address `source` listens on over `protocol`.
    pub fn addr(&self, source: &str, protocol: Protocol) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|l| l.source == source && l.protocol == protocol)
            .map(|l| l.addr)
    }

    /// Waits for every source to stop (after the shutdown signal).
    pub async fn join(self) {
        for t in self.tasks {
            if let Err(e) = t.await {
                tracing::error!("a source task failed: {e}");
            }
        }
    }
}

/// Binds every configured listener and starts every source. Binding happens first, so an
/// address in use or a port needing privileges is an error here (naming the source and the
/// address) and nothing has started. Sources stop when `shutdown` becomes `true` (or its
/// sender is dropped), saving file offsets on the way out.
pub fn start_all(
    cfg: &ServeConfig,
    ingress: Ingress,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) -> Result<RunningSources, SourceError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| SourceError::NoRuntime)?;
    let _guard = runtime.enter();
    let max_record_bytes = cfg.server.max_record_bytes;

    let mut bound = Vec::new();
    for (k, s) in cfg.sources.syslog.iter().enumerate() {
        let what = format!("sources.syslog[{k}] ({})", s.name);
        let settings = syslog::SyslogSettings {
            what: what.clone(),
            name: Arc::from(s.name.as_str()),
            max_record_bytes,
            max_connections: s.max_connections.max(1),
            idle_timeout: Duration::from_secs(s.idle_timeout_secs.max(1)),
        };
        let udp = match &s.udp {
            Some(a) => Some(syslog::bind_udp(a, &what)?),
            None => None,
        };
        let tcp = match &s.tcp {
            Some(a) => Some(syslog::bind_tcp(a, &what)?),
            None => None,
        };
        bound.push((settings, udp, tcp));
    }

    let mut files = Vec::new();
    for (k, f) in cfg.sources.file.iter().enumerate() {
        let label = f
            .name
            .clone()
            .unwrap_or_else(|| f.path.display().to_string());
        let format = configured_format(f.format.as_deref(), &format!("sources.file[{k}]"))?;
        let first = if f.from_start {
            FirstRead::FromStart
        } else {
            FirstRead::FromEnd
        };
        files.push((
            format!("sources.file[{k}] ({label})"),
            label,
            format,
            f.path.clone(),
            first,
        ));
    }
    let mut dirs = Vec::new();
    for (k, d) in cfg.sources.dir.iter().enumerate() {
        let label = d
            .name
            .clone()
            .unwrap_or_else(|| d.path.display().to_string());
        let what = format!("sources.dir[{k}] ({label})");
        let format = configured_format(d.format.as_deref(), &format!("sources.dir[{k}]"))?;
        let pattern =
            dir::FilePattern::new(d.pattern.as_deref().unwrap_or("*")).map_err(|message| {
                SourceError::Invalid {
                    what: format!("sources.dir[{k}].pattern"),
                    message,
                }
            })?;
        dirs.push((what, label, format, d.path.clone(), pattern));
    }
    let book = if files.is_empty() && dirs.is_empty() {
        None
    } else {
        let path = cfg.server.data_dir.join(OFFSETS_FILE);
        Some(Arc::new(Mutex::new(OffsetBook::open(&path)?)))
    };

    let mut running = RunningSources {
        listeners: Vec::new(),
        tasks: Vec::new(),
    };
    for (settings, udp, tcp) in bound {
        let settings = Arc::new(settings);
        if let Some(sock) = udp {
            let sock = tokio::net::UdpSocket::from_std(sock).map_err(|e| SourceError::Listen {
                what: settings.what.clone(),
                protocol: Protocol::Udp,
                addr: String::new(),
                reason: e.to_string(),
            })?;
            if let Ok(addr) = sock.local_addr() {
                tracing::info!("{}: listening on udp {addr}", settings.what);
                running.listeners.push(Listening {
                    source: settings.name.to_string(),
                    protocol: Protocol::Udp,
                    addr,
                });
            }
            running.tasks.push(tokio::spawn(syslog::run_udp(
                sock,
                Arc::clone(&settings),
                ingress.clone(),
                Arc::clone(&metrics),
                shutdown.clone(),
            )));
        }
        if let Some(listener) = tcp {
            let listener =
                tokio::net::TcpListener::from_std(listener).map_err(|e| SourceError::Listen {
                    what: settings.what.clone(),
                    protocol: Protocol::Tcp,
                    addr: String::new(),
                    reason: e.to_string(),
                })?;
            if let Ok(addr) = listener.local_addr() {
                tracing::info!("{}: listening on tcp {addr}", settings.what);
                running.listeners.push(Listening {
                    source: settings.name.to_string(),
                    protocol: Protocol::Tcp,
                    addr,
                });
            }
            running.tasks.push(tokio::spawn(syslog::run_tcp(
                listener,
                Arc::clone(&settings),
                ingress.clone(),
                Arc::clone(&metrics),
                shutdown.clone(),
            )));
        }
    }
    if let Some(book) = &book {
        let context = |what: String, label: String, format| TailContext {
            label,
            describe: what,
            format,
            max_record_bytes,
            metrics: Arc::clone(&metrics),
            book: Arc::clone(book),
        };
        for (what, label, format, path, first) in files {
            let ctx = context(what, label, format);
            let tailer = Tailer::follow_name(path, first, &ctx);
            let submitter =
                BlockingSubmitter::new(&runtime, &ingress, &metrics, &ctx.label, &shutdown);
            running
                .tasks
                .push(tail::spawn_file(tailer, ctx, submitter, shutdown.clone()));
        }
        for (what, label, format, path, pattern) in dirs {
            let ctx = context(what, label, format);
            let submitter =
                BlockingSubmitter::new(&runtime, &ingress, &metrics, &ctx.label, &shutdown);
            running.tasks.push(dir::spawn_dir(
                path,
                pattern,
                ctx,
                submitter,
                shutdown.clone(),
            ));
        }
    }
    Ok(running)
}

fn configured_format(
    name: Option<&str>,
    key: &str,
) -> Result<Option<palisade_ingest::Format>, SourceError> {
    name.map(parse_format)
        .transpose()
        .map_err(|message| SourceError::Invalid {
            what: format!("{key}.format"),
            message,
        })
}

/// Resolves once shutdown was asked for (or nobody can ask any more).
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

pub(crate) fn is_stopped(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

/// Sleeps `d` on a plain thread, waking early on shutdown; `false` when stopping.
pub(crate) fn sleep_unless_stopped(shutdown: &watch::Receiver<bool>, d: Duration) -> bool {
    let end = Instant::now() + d;
    loop {
        if is_stopped(shutdown) {
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Submission from a plain thread (file tailers): waits for room in the queue, gives up on
/// shutdown (the records were not acknowledged, so their offset did not move), and counts
/// what was accepted.
pub struct BlockingSubmitter {
    runtime: tokio::runtime::Handle,
    ingress: Ingress,
    metrics: Arc<Metrics>,
    label: SourceLabel,
    shutdown: watch::Receiver<bool>,
}

impl BlockingSubmitter {
    fn new(
        runtime: &tokio::runtime::Handle,
        ingress: &Ingress,
        metrics: &Arc<Metrics>,
        label: &str,
        shutdown: &watch::Receiver<bool>,
    ) -> BlockingSubmitter {
        BlockingSubmitter {
            runtime: runtime.clone(),
            ingress: ingress.clone(),
            metrics: Arc::clone(metrics),
            label: metrics.source(label),
            shutdown: shutdown.clone(),
        }
    }

    pub fn submit(&mut self, records: Vec<Record>) -> Result<(), SubmitError> {
        let n = records.len() as u64;
        let ingress = &self.ingress;
        let shutdown = &mut self.shutdown;
        let result = self.runtime.block_on(async {
            tokio::select! {
                r = ingress.submit_wait(records) => r,
                () = stopped(shutdown) => Err(SubmitError::Closed),
            }
        });
        if result.is_ok() {
            self.metrics.events_in.get_or_create(&self.label).inc_by(n);
        }
        result.map(|_| ())
    }
}

/// At most one warning per interval for problems a peer can repeat at will (oversize frames),
/// with the count of the ones not logged.
pub(crate) struct WarnLimiter {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl WarnLimiter {
    pub(crate) fn new(every: Duration) -> WarnLimiter {
        WarnLimiter {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when a warning may be logged now, `n` being how many were held back since.
    pub(crate) fn check(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.every)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// An I/O error as a short reason, with a hint for the usual listening problems.
pub(crate) fn listen_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)".into()
        }
        io::ErrorKind::AddrInUse => "address already in use".into(),
        io::ErrorKind::AddrNotAvailable => "address not available on this host".into(),
        _ => e.to_string(),
    }
}

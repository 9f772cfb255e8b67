//! Syslog listeners: UDP (RFC 5426: a datagram is a message; several newline-separated
//! messages in one datagram are split) and TCP (RFC 6587, see [`super::framing`]). Messages
//! go in as [`Format::Syslog`] records named after the source; RFC 3164 and RFC 5424 are told
//! apart later by the parser.
//!
//! Batching: a listener takes whatever is already waiting (datagrams queued in the socket,
//! frames in one read, more reads for up to [`FLUSH_AFTER`]) into one submission of at most
//! [`BATCH`] records, so a busy listener makes few, large write-ahead log appends and an idle
//! one adds no delay.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_ingest::Format;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use super::framing::{Frame, FrameDecoder};
use super::{Protocol, SourceError, WarnLimiter, listen_reason, stopped};
use crate::ingress::{Ingress, SubmitError};
use crate::metrics::Metrics;
use crate::wal::Record;

/// Most records per submission.
pub const BATCH: usize = 512;
/// Longest a TCP connection holds received messages while waiting for more.
pub const FLUSH_AFTER: Duration = Duration::from_millis(5);
/// Receive buffer asked of the kernel for UDP (it may grant less: `net.core.rmem_max`), so
/// bursts ride out a write-ahead log sync instead of being dropped by the kernel.
const UDP_RECV_BUFFER: usize = 8 << 20;
/// How long pending TCP messages may still take to reach the log once shutdown was asked.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
const WARN_EVERY: Duration = Duration::from_secs(10);

/// One syslog source's settings.
#[derive(Debug)]
pub struct SyslogSettings {
    /// `sources.syslog[0] (fw)`.
    pub what: String,
    pub name: Arc<str>,
    pub max_record_bytes: usize,
    pub max_connections: usize,
    pub idle_timeout: Duration,
}

fn parse_addr(addr: &str, what: &str, protocol: Protocol) -> Result<SocketAddr, SourceError> {
    addr.parse().map_err(|_| SourceError::Listen {
        what: what.to_string(),
        protocol,
        addr: addr.to_string(),
        reason: "not an address such as 0.0.0.0:514".into(),
    })
}

/// Binds the UDP socket with a large receive buffer.
pub fn bind_udp(addr: &str, what: &str) -> Result<std::net::UdpSocket, SourceError> {
    use socket2::{Domain, Socket, Type};
    let sa = parse_addr(addr, what, Protocol::Udp)?;
    let fail = |e: std::io::Error| SourceError::Listen {
        what: what.to_string(),
        protocol: Protocol::Udp,
        addr: addr.to_string(),
        reason: listen_reason(&e),
    };
    let sock = Socket::new(Domain::for_address(sa), Type::DGRAM, None).map_err(fail)?;
    if let Err(e) = sock.set_recv_buffer_size(UDP_RECV_BUFFER) {
        tracing::debug!("{what}: cannot enlarge the UDP receive buffer: {e}");
    }
    sock.set_nonblocking(true).map_err(fail)?;
    sock.bind(&sa.into()).map_err(fail)?;
    Ok(sock.into())
}

pub fn bind_tcp(addr: &str, what: &str) -> Result<std::net::TcpListener, SourceError> {
    let sa = parse_addr(addr, what, Protocol::Tcp)?;
    let fail = |e: std::io::Error| SourceError::Listen {
        what: what.to_string(),
        protocol: Protocol::Tcp,
        addr: addr.to_string(),
        reason: listen_reason(&e),
    };
    let listener = std::net::TcpListener::bind(sa).map_err(fail)?;
    listener.set_nonblocking(true).map_err(fail)?;
    Ok(listener)
}

/// Splits a datagram into messages: LF-separated, CR and NUL padding dropped, blanks skipped.
fn datagram_messages(datagram: &[u8]) -> impl Iterator<Item = &[u8]> {
    datagram.split(|b| *b == b'\n').filter_map(|m| {
        let end = m
            .iter()
            .rposition(|b| !matches!(b, b'\r' | 0))
            .map_or(0, |i| i + 1);
        let m = &m[..end];
        (!m.is_empty()).then_some(m)
    })
}

/// Receives datagrams until shutdown. When the ingest queue is full, datagrams are dropped and
/// counted (UDP senders cannot be slowed down).
pub async fn run_udp(
    sock: UdpSocket,
    s: Arc<SyslogSettings>,
    ingress: Ingress,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let label = metrics.source(&s.name);
    let mut buf = vec![0u8; 1 << 16];
    let mut batch: Vec<Record> = Vec::new();
    let mut oversize_warn = WarnLimiter::new(WARN_EVERY);
    let mut error_warn = WarnLimiter::new(WARN_EVERY);
    let mut dropped_warn = WarnLimiter::new(WARN_EVERY);
    loop {
        let first = tokio::select! {
            biased;
            () = stopped(&mut shutdown) => break,
            r = sock.recv_from(&mut buf) => r,
        };
        let mut datagrams = 0u64;
        let mut next = first;
        loop {
            match next {
                Ok((n, _peer)) => {
                    datagrams += 1;
                    for m in datagram_messages(&buf[..n]) {
                        if m.len() > s.max_record_bytes {
                            metrics.parse_errors.get_or_create(&label).inc();
                            if let Some(held) = oversize_warn.check() {
                                tracing::warn!(
                                    "{}: dropped a {}-byte message, longer than server.max_record_bytes ({held} more since the last warning)",
                                    s.what,
                                    m.len()
                                );
                            }
                            continue;
                        }
                        batch.push(Record {
                            source: Arc::clone(&s.name),
                            format: Format::Syslog,
                            line: m.to_vec(),
                        });
                    }
                }
                Err(e) => {
                    if let Some(held) = error_warn.check() {
                        tracing::warn!("{}: udp receive: {e} ({held} more)", s.what);
                    }
                }
            }
            if batch.len() >= BATCH {
                break;
            }
            // Whatever else is already queued joins this submission.
            next = match sock.try_recv_from(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                r => r,
            };
        }
        if batch.is_empty() {
            continue;
        }
        let n = batch.len() as u64;
        match ingress.submit(std::mem::take(&mut batch)).await {
            Ok(_) => {
                metrics.events_in.get_or_create(&label).inc_by(n);
            }
            Err(SubmitError::Closed) => break,
            Err(e) => {
                metrics.udp_dropped.get_or_create(&label).inc_by(datagrams);
                if let Some(held) = dropped_warn.check() {
                    tracing::warn!(
                        "{}: dropped {datagrams} datagrams: {e} ({held} more drops since the last warning)",
                        s.what
                    );
                }
            }
        }
    }
    tracing::debug!("{}: udp listener stopped", s.what);
}

/// Accepts connections until shutdown, at most `max_connections` at once (beyond that,
/// connections wait in the kernel's backlog), then waits for the open ones to finish.
pub async fn run_tcp(
    listener: TcpListener,
    s: Arc<SyslogSettings>,
    ingress: Ingress,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(s.max_connections));
    let mut connections = JoinSet::new();
    let mut full_warn = WarnLimiter::new(WARN_EVERY);
    let mut accept_warn = WarnLimiter::new(WARN_EVERY);
    loop {
        while connections.try_join_next().is_some() {}
        if slots.available_permits() == 0
            && let Some(held) = full_warn.check()
        {
            tracing::warn!(
                "{}: {} connections open (max_connections); new ones wait ({held} more)",
                s.what,
                s.max_connections
            );
        }
        let permit = tokio::select! {
            biased;
            () = stopped(&mut shutdown) => break,
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            biased;
            () = stopped(&mut shutdown) => break,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                tracing::debug!("{}: connection from {peer}", s.what);
                connections.spawn(connection(
                    stream,
                    peer,
                    Arc::clone(&s),
                    ingress.clone(),
                    Arc::clone(&metrics),
                    shutdown.clone(),
                    permit,
                ));
            }
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                if let Some(held) = accept_warn.check() {
                    tracing::warn!("{}: accept: {e} ({held} more)", s.what);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    tracing::debug!("{}: tcp listener stopped", s.what);
}

/// Per-connection state: decoded frames wait in `batch` until it is full or [`FLUSH_AFTER`]
/// passed; while a submission waits for room nothing is read, so TCP pushes back.
struct Connection {
    peer: SocketAddr,
    s: Arc<SyslogSettings>,
    ingress: Ingress,
    metrics: Arc<Metrics>,
    batch: Vec<Record>,
    since: Option<Instant>,
    bad_warn: WarnLimiter,
}

impl Connection {
    fn take(&mut self, frames: &mut Vec<Frame>) {
        for f in frames.drain(..) {
            match f {
                Frame::Message(line) => {
                    self.since.get_or_insert_with(Instant::now);
                    self.batch.push(Record {
                        source: Arc::clone(&self.s.name),
                        format: Format::Syslog,
                        line,
                    });
                }
                Frame::Oversize | Frame::Truncated => {
                    let label = self.metrics.source(&self.s.name);
                    self.metrics.parse_errors.get_or_create(&label).inc();
                    if let Some(held) = self.bad_warn.check() {
                        let what = if f == Frame::Oversize {
                            "skipped a frame longer than server.max_record_bytes"
                        } else {
                            "the connection ended inside an octet-counted frame"
                        };
                        tracing::warn!("{} from {}: {what} ({held} more)", self.s.what, self.peer);
                    }
                }
            }
        }
    }

    /// Submits the batch, waiting for room; `false` when the log refuses records for good.
    async fn flush(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        self.since = None;
        if self.batch.is_empty() {
            return true;
        }
        let records = std::mem::take(&mut self.batch);
        let n = records.len() as u64;
        let deadline = async {
            stopped(shutdown).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        let result = tokio::select! {
            r = self.ingress.submit_wait(records) => r,
            () = deadline => Err(SubmitError::Closed),
        };
        match result {
            Ok(_) => {
                let label = self.metrics.source(&self.s.name);
                self.metrics.events_in.get_or_create(&label).inc_by(n);
                true
            }
            Err(e) => {
                tracing::warn!(
                    "{} from {}: {n} messages not accepted: {e}",
                    self.s.what,
                    self.peer
                );
                !matches!(e, SubmitError::Closed)
            }
        }
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    s: Arc<SyslogSettings>,
    ingress: Ingress,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let mut decoder = FrameDecoder::new(s.max_record_bytes);
    let mut buf = vec![0u8; 64 << 10];
    let mut frames = Vec::new();
    let mut c = Connection {
        peer,
        s: Arc::clone(&s),
        ingress,
        metrics,
        batch: Vec::new(),
        since: None,
        bad_warn: WarnLimiter::new(WARN_EVERY),
    };
    let mut stop_signal = shutdown.clone();
    loop {
        let wait = match c.since {
            Some(t) => FLUSH_AFTER.saturating_sub(t.elapsed()),
            None => s.idle_timeout,
        };
        let read = tokio::select! {
            biased;
            () = stopped(&mut stop_signal) => break,
            r = tokio::time::timeout(wait, stream.read(&mut buf)) => r,
        };
        match read {
            Err(_) if c.since.is_none() => {
                tracing::debug!("{} from {peer}: idle, closing", s.what);
                break;
            }
            Err(_) => {
                if !c.flush(&mut shutdown).await {
                    return;
                }
                continue;
            }
            Ok(Ok(0)) => {
                decoder.finish(&mut frames);
                c.take(&mut frames);
                break;
            }
            Ok(Ok(n)) => {
                decoder.feed(&buf[..n], &mut frames);
                c.take(&mut frames);
            }
            Ok(Err(e)) => {
                tracing::debug!("{} from {peer}: {e}", s.what);
                break;
            }
        }
        let due = c.since.is_some_and(|t| t.elapsed() >= FLUSH_AFTER);
        if (c.batch.len() >= BATCH || due) && !c.flush(&mut shutdown).await {
            return;
        }
    }
    c.flush(&mut shutdown).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_split_on_newlines_and_drop_padding() {
        let got: Vec<&[u8]> = datagram_messages(b"<1>a\r\n\n<2>b\0\0\n<3>c").collect();
        assert_eq!(got, [&b"<1>a"[..], b"<2>b", b"<3>c"]);
        assert_eq!(datagram_messages(b"\n\0\r\n").count(), 0);
    }
}

//! The load: a pool of simulated log lines built into requests before the clock starts, an
//! open-loop HTTP sender and a paced syslog UDP sender.
//!
//! **Open loop.** Request `i` of a step is due at `start + i × batch / rate`, whatever happened
//! to earlier requests; a free connection takes the next due request, and its latency is
//! measured from when it was due, not from when it could be sent (a connection that was idle
//! and waiting counts from when the timer woke it, at most the timer's 1 ms resolution later,
//! since that slop is the generator's). A slow answer therefore
//! shows up in the latency of every request queued behind it (no coordinated omission), the
//! way a fleet of independent log shippers would experience it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use palisade_ingest::Format;
use palisade_sim::{SimConfig, Simulator};

use super::http::{self, Connection};

/// One pre-built `POST /api/v1/events` request.
pub struct Body {
    pub events: u64,
    pub request: Vec<u8>,
}

/// Simulated lines, ready to send.
pub struct Pool {
    /// HTTP requests of `batch` lines each, one format per request, in stream order.
    pub bodies: Vec<Body>,
    /// Syslog datagrams (the simulation's sshd/cron lines with a PRI).
    pub datagrams: Vec<Vec<u8>>,
    /// Lines per simulated source.
    pub mix: BTreeMap<&'static str, u64>,
    pub attack_lines: u64,
    pub bytes: u64,
    /// Simulated time the pool covers.
    pub first: String,
    pub last: String,
}

impl Pool {
    /// The first `events` records of the simulation (seed `seed`): its default eight days of
    /// benign history, then one attack campaign (not repeated, so attack lines stay a few per
    /// cent of the pool as in a real stream), grouped per format into requests of `batch`
    /// lines. Leftovers smaller than a batch are dropped.
    pub fn generate(events: usize, batch: usize, seed: u64, addr: SocketAddr, token: &str) -> Pool {
        let sim = Simulator::new(SimConfig {
            seed,
            repeat_every: None,
            ..SimConfig::default()
        });
        let mut pending: HashMap<Format, (u64, Vec<u8>)> = HashMap::new();
        let mut pool = Pool {
            bodies: Vec::new(),
            datagrams: Vec::new(),
            mix: BTreeMap::new(),
            attack_lines: 0,
            bytes: 0,
            first: String::new(),
            last: String::new(),
        };
        for r in sim.take(events) {
            if pool.first.is_empty() {
                pool.first = r.time.to_rfc3339();
            }
            pool.last = r.time.to_rfc3339();
            *pool.mix.entry(r.source.name()).or_insert(0) += 1;
            pool.attack_lines += u64::from(r.attack.is_some());
            pool.bytes += r.line.len() as u64 + 1;
            if r.format == Format::Syslog {
                // Facility auth (4), severity info (6).
                pool.datagrams.push(format!("<38>{}", r.line).into_bytes());
            }
            let (n, buf) = pending.entry(r.format).or_default();
            buf.extend_from_slice(r.line.as_bytes());
            buf.push(b'\n');
            *n += 1;
            if *n as usize >= batch {
                let path = format!(
                    "/api/v1/events?source=bench-{0}&format={0}",
                    r.format.name()
                );
                pool.bodies.push(Body {
                    events: *n,
                    request: http::request(
                        "POST",
                        &path,
                        addr,
                        token,
                        Some("application/x-ndjson"),
                        buf,
                    ),
                });
                *n = 0;
                buf.clear();
            }
        }
        pool
    }
}

/// One answered (or failed) request.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// From when the request was due to the end of its answer.
    pub latency: Duration,
    /// From when it was written to the end of its answer.
    pub service: Duration,
    /// HTTP status; 0 when the connection failed.
    pub status: u16,
    pub events: u64,
}

/// What one step of HTTP load did.
pub struct HttpOutcome {
    pub samples: Vec<Sample>,
    /// Requests due in the step.
    pub due: u64,
    pub offered_events: u64,
    /// From the first due time to the last answer.
    pub elapsed: Duration,
    pub errors: Vec<String>,
}

/// Sends `rate` events/s for `seconds` over `connections` keep-alive connections, open loop.
/// No request is started later than `grace` after the end of the schedule: when the service
/// falls behind, the rest are left unsent (counted by the caller), so a step stays bounded.
pub async fn http_load(
    addr: SocketAddr,
    bodies: Arc<Vec<Body>>,
    rate: u64,
    seconds: f64,
    batch: usize,
    connections: usize,
    grace: Duration,
) -> Result<HttpOutcome> {
    let due = ((rate as f64 * seconds) / batch as f64).round().max(1.0) as u64;
    let interval = Duration::from_secs_f64(batch as f64 / rate as f64);
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Connection::open(addr).await?);
    }
    let next = Arc::new(AtomicU64::new(0));
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let deadline = start + Duration::from_secs_f64(seconds) + grace;
    let mut tasks = tokio::task::JoinSet::new();
    for mut conn in conns {
        let next = Arc::clone(&next);
        let bodies = Arc::clone(&bodies);
        tasks.spawn(async move {
            let mut samples = Vec::new();
            let mut errors = Vec::new();
            loop {
                if tokio::time::Instant::now() >= deadline {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= due {
                    break;
                }
                let due_at = start + interval.mul_f64(i as f64);
                let idle = tokio::time::Instant::now() < due_at;
                tokio::time::sleep_until(due_at).await;
                let body = &bodies[(i % bodies.len() as u64) as usize];
                let sent = tokio::time::Instant::now();
                // A request's clock starts when it was due. When this connection was idle and
                // waited for it, it starts when the timer woke it instead: tokio's timer has a
                // 1 ms resolution, and that slop is the generator's, not the service's. A
                // request picked up late (every connection busy) still counts from its due time.
                let origin = if idle { sent } else { due_at };
                let status = match conn.round_trip(&body.request).await {
                    Ok((s, _)) => s,
                    Err(e) => {
                        errors.push(format!("{e:#}"));
                        // One new connection; the request counts as failed.
                        match Connection::open(addr).await {
                            Ok(c) => conn = c,
                            Err(e) => {
                                errors.push(format!("{e:#}"));
                                break;
                            }
                        }
                        0
                    }
                };
                let end = tokio::time::Instant::now();
                samples.push(Sample {
                    latency: end - origin,
                    service: end - sent,
                    status,
                    events: body.events,
                });
            }
            (samples, errors, tokio::time::Instant::now())
        });
    }
    let mut out = HttpOutcome {
        samples: Vec::new(),
        due,
        offered_events: 0,
        elapsed: Duration::ZERO,
        errors: Vec::new(),
    };
    let mut last = start;
    while let Some(r) = tasks.join_next().await {
        let (samples, errors, end) = r.context("a load connection panicked")?;
        out.samples.extend(samples);
        out.errors.extend(errors);
        last = last.max(end);
    }
    out.offered_events = (0..due)
        .map(|i| bodies[(i % bodies.len() as u64) as usize].events)
        .sum();
    out.elapsed = last.saturating_duration_since(start);
    Ok(out)
}

/// What the UDP sender did.
pub struct UdpOutcome {
    pub sent: u64,
    pub send_errors: u64,
    pub elapsed: Duration,
}

/// Sends `rate` datagrams/s for `seconds` to `target` from one socket (a plain thread: the
/// pacing loop sleeps in short steps and sends whatever is due).
pub fn udp_load(
    target: SocketAddr,
    datagrams: &[Vec<u8>],
    rate: u64,
    seconds: f64,
) -> Result<UdpOutcome> {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
    sock.connect(target)?;
    let total = (rate as f64 * seconds).round() as u64;
    let start = Instant::now();
    let mut out = UdpOutcome {
        sent: 0,
        send_errors: 0,
        elapsed: Duration::ZERO,
    };
    let mut k = 0usize;
    while out.sent < total {
        let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
        if out.sent >= due {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        while out.sent < due {
            match sock.send(&datagrams[k]) {
                Ok(_) => {}
                Err(_) => out.send_errors += 1,
            }
            out.sent += 1;
            k = (k + 1) % datagrams.len();
        }
    }
    out.elapsed = start.elapsed();
    Ok(out)
}

/// The `q`-quantile (nearest rank) of sorted durations.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&v, 1.0), Duration::from_millis(100));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn pool_groups_lines_per_format_in_full_batches() {
        let addr: SocketAddr = ([127, 0, 0, 1], 9).into();
        let pool = Pool::generate(5_000, 100, 1, addr, "t");
        assert!(!pool.bodies.is_empty());
        assert!(pool.bodies.iter().all(|b| b.events == 100));
        assert!(!pool.datagrams.is_empty());
        let text = String::from_utf8_lossy(&pool.bodies[0].request);
        assert!(text.starts_with("POST /api/v1/events?source=bench-"));
        assert!(text.contains("Authorization: Bearer t\r\n"));
    }
}

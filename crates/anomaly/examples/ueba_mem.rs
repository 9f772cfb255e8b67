//! Memory and speed of the UEBA baselines at scale.
//!
//! Builds 1,000,001 distinct entities (499,500 users, each with its own home address, plus
//! 1,000 hosts and one service), each user seen ~20 times over a month with realistic
//! habits (office hours, one country, a device, a host; a third of the events carry a
//! process and a destination port), then prints the resident set size (VmRSS from
//! /proc/self/status), bytes per entity and events per second — for the build-up phase
//! (entity creation dominates) and for a steady-state pass over already known entities.
//!
//! ```text
//! cargo run --release -p palisade-anomaly --example ueba_mem [users]
//! ```

use std::fmt::Write;
use std::time::Instant;

use chrono::DateTime;
use palisade_anomaly::ueba::{Ueba, UebaConfig};
use palisade_event::{Event, FieldId, Origin, Value};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time of this thread in seconds (/proc/thread-self/schedstat), so the rate is per CPU
/// second even when the machine is shared.
fn cpu_s() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

struct Gen {
    users: u64,
    ev: Event,
    buf: String,
    user: FieldId,
    ip: FieldId,
    country: FieldId,
    asn: FieldId,
    ua: FieldId,
    host: FieldId,
    cat: FieldId,
    exe: FieldId,
    parent: FieldId,
    port: FieldId,
}

impl Gen {
    fn new(users: u64) -> Self {
        let mut ev = Event::new(Origin::default(), "bench");
        let k = FieldId::known;
        ev.insert(k("event.category"), "authentication".into())
            .unwrap();
        ev.meta.service = Some("sshd".into());
        Gen {
            users: users.max(1),
            ev,
            buf: String::with_capacity(64),
            user: k("user.name"),
            ip: k("source.ip"),
            country: k("source.geo.country_iso_code"),
            asn: k("source.as.number"),
            ua: k("user_agent.original"),
            host: k("host.name"),
            cat: k("event.category"),
            exe: k("process.executable"),
            parent: k("process.parent.executable"),
            port: k("destination.port"),
        }
    }

    fn set(&mut self, id: FieldId, f: impl FnOnce(&mut String)) {
        self.buf.clear();
        f(&mut self.buf);
        self.ev.set(id, Value::from(self.buf.as_str())).unwrap();
    }

    /// Event `r` (0-based round) of user `i`: a login, or every third round a process/connection.
    fn event(&mut self, i: u64, r: u64, t0: i64) -> &Event {
        let mix = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        // Round r is day r; within a day users come in order of `i` between 08:00 and 18:00,
        // so the stream is in time order and each user keeps its own hour of the day.
        let t = t0 + r as i64 * 86_400 + 8 * 3600 + (i * 36_000 / self.users) as i64;
        self.ev.timestamp = DateTime::from_timestamp(t, 0);
        self.set(self.user, |b| {
            let _ = write!(b, "user{i:06}");
        });
        self.set(self.ip, |b| {
            let _ = write!(b, "10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
        });
        let travel = (mix + r).is_multiple_of(97);
        self.set(self.country, |b| {
            b.push_str(if travel { "DE" } else { "US" })
        });
        self.set(self.asn, |b| {
            let _ = write!(b, "{}", 7018 + mix % 20);
        });
        self.set(self.ua, |b| {
            let _ = write!(b, "Mozilla/5.0 dev{}", mix % 50);
        });
        self.set(self.host, |b| {
            let _ = write!(b, "host{:04}", i % 1000);
        });
        let conn = r % 3 == 2;
        self.ev
            .set(
                self.cat,
                if conn { "process" } else { "authentication" }.into(),
            )
            .unwrap();
        if conn {
            let p = ["/usr/bin/ssh", "/usr/bin/curl", "/bin/bash"][(mix % 3) as usize];
            self.set(self.exe, |b| b.push_str(p));
            self.set(self.parent, |b| b.push_str("/usr/sbin/sshd"));
            self.set(self.port, |b| {
                let _ = write!(b, "{}", [22, 443, 80][(mix % 3) as usize]);
            });
        } else {
            for id in [self.exe, self.parent, self.port] {
                self.ev.set(id, Value::Null).unwrap();
            }
        }
        &self.ev
    }
}

fn main() {
    let users: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(499_500);
    let rounds = 20;
    let cfg = UebaConfig {
        max_entities: 1_100_000,
        ..UebaConfig::default()
    };
    let rss0 = rss_kib();
    let mut u = Ueba::new(cfg).unwrap();
    let mut g = Gen::new(users);
    let t0 = DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
        .unwrap()
        .timestamp();
    let mut alerts = Vec::new();
    let mut n_alerts = 0usize;
    let start = Instant::now();
    let cpu0 = cpu_s();
    let mut events = 0u64;
    for r in 0..rounds {
        for i in 0..users {
            let ev = g.event(i, r, t0);
            u.observe(ev, &mut alerts);
            events += 1;
            n_alerts += alerts.len();
            alerts.clear();
        }
    }
    let build = start.elapsed().as_secs_f64();
    let build_cpu = cpu_s() - cpu0;
    let rss1 = rss_kib();
    let n = u.entity_count();
    println!("entities: {n} (evicted {})", u.evictions());
    println!(
        "build-up: {events} events in {build:.1} s wall, {build_cpu:.1} s CPU = {:.0} events/CPU-s (entity creation and event generation included), {n_alerts} alerts",
        events as f64 / build_cpu
    );
    println!(
        "RSS: {:.0} MiB total, {:.0} MiB before the model; {:.0} bytes/entity by RSS",
        rss1 as f64 / 1024.0,
        rss0 as f64 / 1024.0,
        (rss1 - rss0) as f64 * 1024.0 / n as f64
    );
    println!(
        "approx_bytes: {:.0} MiB = {:.0} bytes/entity (requested sizes, no allocator overhead)",
        u.approx_bytes() as f64 / (1 << 20) as f64,
        u.approx_bytes() as f64 / n as f64
    );
    // Steady state: one more month of the same habits over known entities.
    let sample = users.min(200_000);
    let steady_rounds: u64 = std::env::var("STEADY_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let start = cpu_s();
    let mut steady = 0u64;
    let mut steady_alerts = 0usize;
    let mut rules = std::collections::BTreeMap::new();
    let mut example: Option<String> = None;
    for r in rounds..rounds + steady_rounds {
        for i in 0..sample {
            let ev = g.event(i, r, t0);
            u.observe(ev, &mut alerts);
            steady += 1;
            steady_alerts += alerts.len();
            for a in &alerts {
                *rules.entry(a.rule.id.clone()).or_insert(0usize) += 1;
            }
            if example.is_none()
                && let Some(a) = alerts.first()
            {
                example = a
                    .evidence
                    .iter()
                    .find(|(k, _)| k == "explanation")
                    .map(|(_, v)| format!("[{}] {v}", a.rule.id));
            }
            alerts.clear();
        }
    }
    let s = cpu_s() - start;
    // Event generation alone, to separate it from observe.
    let start = cpu_s();
    let mut sink = 0usize;
    for r in rounds..rounds + steady_rounds {
        for i in 0..sample {
            sink += g.event(i, r, t0).len();
        }
    }
    let gen_s = cpu_s() - start;
    println!(
        "steady state: {steady} events in {s:.2} CPU-s = {:.0} events/CPU-s including generation; generation alone {gen_s:.2} s → observe ≈ {:.0} events/CPU-s ({sink} fields)",
        steady as f64 / s,
        steady as f64 / (s - gen_s).max(1e-9)
    );
    println!(
        "steady state alerts: {steady_alerts} {rules:?}{}",
        example.map(|e| format!(", e.g. {e}")).unwrap_or_default()
    );
    let snap = Instant::now();
    let bytes = u.snapshot();
    println!(
        "snapshot: {:.0} MiB in {:.1} s",
        bytes.len() as f64 / (1 << 20) as f64,
        snap.elapsed().as_secs_f64()
    );
}

//! Command-and-control beaconing: a host that connects to the same destination and port at
//! regular intervals with payloads of regular size.
//!
//! The measure follows RITA's beacon analysis (Active Countermeasures, "Real Intelligence Threat
//! Analytics"): for each (originator, responder, port, transport) it keeps the recent connection
//! times and sizes and scores how *regular* they are. Intervals: Bowley's quartile skewness
//! (symmetric intervals score 1) and the median absolute deviation relative to the median
//! interval (a steady period scores 1). Sizes: the same two measures over bytes sent. The beacon
//! score is the mean of the interval score and the size score, each the mean of its two parts.
//! Times are taken at one-second resolution, as RITA does. Implants that open two or three
//! connections per check-in (an attempt and its retry, a lookup and a connect) are periodic in
//! t[i+k] − t[i] rather than in consecutive gaps, so the most regular lag up to
//! [`MAX_CYCLE`] is scored. A pair alerts when it has at least `min_connections` connections spanning at least
//! `min_span_secs`, a median interval of at least `min_interval_secs` (bursts are not beacons),
//! and a score of at least `threshold`; then it stays quiet for `cooldown_secs`.
//!
//! Memory is bounded: at most `keep` connections per pair and `max_pairs` pairs (the least
//! recently seen are forgotten first).

use std::collections::VecDeque;
use std::sync::Arc;

use palisade_event::alert::RuleInfo;
use palisade_event::{Alert, Event, Severity};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Settings of the beacon detector. Defaults were set from RITA's documented behaviour (it
/// needs a couple of dozen connections and calls scores ≥ 0.8 likely beacons), not fitted to
/// any data set Palisade is evaluated on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BeaconConfig {
    pub min_connections: usize,
    pub min_span_secs: f64,
    pub min_interval_secs: f64,
    pub threshold: f64,
    pub cooldown_secs: f64,
    /// Connections remembered per pair (the most recent).
    pub keep: usize,
    /// Pairs remembered.
    pub max_pairs: usize,
    /// Also score connections to private, loopback and link-local destinations. Off by
    /// default, as in RITA (which analyses internal → external traffic): inside a network,
    /// clients poll their resolvers, domain controllers and update servers like clockwork.
    /// (Not part of snapshots, which keep their format: a restored detector uses the default.)
    #[serde(skip)]
    pub internal_destinations: bool,
}

impl Default for BeaconConfig {
    fn default() -> Self {
        BeaconConfig {
            min_connections: 24,
            min_span_secs: 300.0,
            min_interval_secs: 1.0,
            threshold: 0.8,
            cooldown_secs: 3600.0,
            keep: 128,
            max_pairs: 200_000,
            internal_destinations: false,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Pair {
    /// (time in seconds, bytes sent by the originator), in arrival order.
    conns: VecDeque<(f64, u64)>,
    last_alert: Option<f64>,
    last_seen: f64,
    /// Connections seen in total (scoring runs on every `CHECK_EVERY`-th).
    seen: u64,
}

/// A pair is scored on every this many connections (scoring sorts its history; a busy pair
/// would otherwise pay for it on every connection).
pub const CHECK_EVERY: u64 = 4;

/// How regular a series of connections is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeaconScore {
    pub score: f64,
    pub interval_score: f64,
    pub size_score: f64,
    pub median_interval: f64,
    pub interval_mad: f64,
    pub median_bytes: f64,
    pub connections: usize,
    pub span: f64,
    /// Connections per check-in cycle (the lag whose intervals are most regular).
    pub cycle: usize,
}

fn quartiles(sorted: &[f64]) -> (f64, f64, f64) {
    let q = |p: f64| {
        let pos = p * (sorted.len() - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = pos.ceil() as usize;
        sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
    };
    (q(0.25), q(0.5), q(0.75))
}

/// Bowley skewness score and relative-MAD score of a series (each 0..=1, 1 = regular), with
/// its median and MAD.
fn regularity(values: &mut [f64]) -> (f64, f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let (q1, q2, q3) = quartiles(values);
    let skew = if q3 - q1 > 1e-9 {
        (q1 + q3 - 2.0 * q2) / (q3 - q1)
    } else {
        0.0
    };
    let mut dev: Vec<f64> = values.iter().map(|v| (v - q2).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = quartiles(&dev).1;
    let rel = if q2.abs() > 1e-9 {
        mad / q2.abs()
    } else if mad > 1e-9 {
        1.0
    } else {
        0.0
    };
    (1.0 - skew.abs().min(1.0), 1.0 - rel.min(1.0), q2, mad)
}

/// Most connections per check-in cycle considered (an implant that opens two or three
/// connections per check-in, or retries each attempt once, beacons with period t[i+k] − t[i]).
pub const MAX_CYCLE: usize = 3;

/// Scores a series of (time, bytes) connections; `None` with fewer than 3.
pub fn score_series(conns: &[(f64, u64)]) -> Option<BeaconScore> {
    if conns.len() < 3 {
        return None;
    }
    // Whole seconds, as RITA measures: sub-second jitter of a steady beacon must not make
    // the quartiles of its intervals (and so their skewness) arbitrary.
    let mut times: Vec<f64> = conns.iter().map(|c| c.0.floor()).collect();
    times.sort_by(f64::total_cmp);
    let mut sizes: Vec<f64> = conns.iter().map(|c| c.1 as f64).collect();
    let (s_skew, s_mad, med_b, _) = regularity(&mut sizes);
    let size_score = (s_skew + s_mad) / 2.0;
    // The most regular cycle length: lag-k intervals for k = 1..=MAX_CYCLE.
    let mut best: Option<(f64, f64, f64, usize)> = None;
    for k in 1..=MAX_CYCLE.min(times.len() - 2) {
        let mut intervals: Vec<f64> = times.windows(k + 1).map(|w| w[k] - w[0]).collect();
        let (i_skew, i_mad, med_i, mad_i) = regularity(&mut intervals);
        let score = (i_skew + i_mad) / 2.0;
        if best.is_none_or(|b| score > b.0 + 1e-9) {
            best = Some((score, med_i, mad_i, k));
        }
    }
    let (interval_score, med_i, mad_i, cycle) = best?;
    Some(BeaconScore {
        score: (interval_score + size_score) / 2.0,
        interval_score,
        size_score,
        median_interval: med_i,
        interval_mad: mad_i,
        median_bytes: med_b,
        connections: conns.len(),
        span: times[times.len() - 1] - times[0],
        cycle,
    })
}

static RULE: std::sync::LazyLock<Arc<RuleInfo>> = std::sync::LazyLock::new(|| {
    Arc::new(RuleInfo {
        id: "beacon.c2".into(),
        title: "Periodic connections to one destination (possible C2 beacon)".into(),
        level: Some(Severity::Medium),
        tags: vec![
            "attack.command_and_control".into(),
            "attack.t1071".into(),
            "attack.t1573".into(),
        ],
        description: Some(
            "A host connects to the same destination and port at regular intervals with \
             payloads of regular size, as implants checking in with their controller do \
             (scored as in RITA's beacon analysis)."
                .into(),
        ),
        author: Some("Palisade".into()),
        path: None,
    })
});

/// The beacon detector.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Beacon {
    cfg: BeaconConfig,
    pairs: FxHashMap<String, Pair>,
}

fn text(ev: &Event, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| ev.get_by_name(n))
        .filter(|v| !v.is_null())
        .map(|v| v.to_string())
        .filter(|s| !s.is_empty() && s != "-")
}

impl Beacon {
    pub fn new(cfg: BeaconConfig) -> Beacon {
        Beacon {
            cfg,
            pairs: FxHashMap::default(),
        }
    }

    pub fn config(&self) -> &BeaconConfig {
        &self.cfg
    }

    /// Pairs currently remembered.
    pub fn pairs(&self) -> usize {
        self.pairs.len()
    }

    /// Records one connection event (Zeek conn, flow records, ECS network events); appends an
    /// alert when its pair now looks like a beacon.
    pub fn observe(&mut self, ev: &Event, out: &mut Vec<Alert>) {
        // Zeek's other logs (`dns`, `ssl`, `http`, …) repeat the connection ids of a session
        // `conn` already counts; taking them as connections too would count one session two
        // or three times, a few milliseconds apart, and without bytes.
        if ev.meta.format == "zeek" && ev.meta.service.as_deref().is_some_and(|s| s != "conn") {
            return;
        }
        let Some(t) = ev.timestamp else { return };
        let (Some(src), Some(dst), Some(port)) = (
            text(ev, &["id.orig_h", "source.ip"]),
            text(ev, &["id.resp_h", "destination.ip"]),
            text(ev, &["id.resp_p", "destination.port"]),
        ) else {
            return;
        };
        // Multicast and broadcast traffic (neighbour discovery, mDNS, SSDP) is periodic by
        // design and never a controller.
        let internal = |ip: std::net::IpAddr| match ip {
            std::net::IpAddr::V4(v) => v.is_private() || v.is_loopback() || v.is_link_local(),
            std::net::IpAddr::V6(v) => {
                v.is_loopback()
                    || (v.segments()[0] & 0xfe00) == 0xfc00
                    || (v.segments()[0] & 0xffc0) == 0xfe80
            }
        };
        if dst.parse::<std::net::IpAddr>().is_ok_and(|ip| {
            ip.is_multicast()
                || ip == std::net::IpAddr::from([255, 255, 255, 255])
                || (!self.cfg.internal_destinations && internal(ip))
        }) {
            return;
        }
        let proto = text(ev, &["proto", "network.transport"]).unwrap_or_default();
        // Payload bytes sent; Zeek writes `-` when it saw none, which is 0 (never fall back to
        // IP-level bytes: mixing the two makes a steady series look irregular).
        let bytes = ["orig_bytes", "source.bytes"]
            .iter()
            .find_map(|n| ev.get_by_name(n))
            .and_then(|v| v.as_i64())
            .unwrap_or(0)
            .max(0) as u64;
        let now = t.timestamp() as f64 + f64::from(t.timestamp_subsec_micros()) / 1e6;
        let key = format!("{src}\u{1f}{dst}\u{1f}{port}\u{1f}{proto}");
        if !self.pairs.contains_key(&key) && self.pairs.len() >= self.cfg.max_pairs.max(1) {
            self.evict();
        }
        let cfg = &self.cfg;
        let pair = self.pairs.entry(key).or_default();
        pair.conns.push_back((now, bytes));
        while pair.conns.len() > cfg.keep.max(3) {
            pair.conns.pop_front();
        }
        pair.last_seen = pair.last_seen.max(now);
        pair.seen += 1;
        if pair.conns.len() < cfg.min_connections.max(3) || !pair.seen.is_multiple_of(CHECK_EVERY) {
            return;
        }
        if pair
            .last_alert
            .is_some_and(|l| now >= l && now - l < cfg.cooldown_secs)
        {
            return;
        }
        let conns: Vec<(f64, u64)> = pair.conns.iter().copied().collect();
        let Some(s) = score_series(&conns) else {
            return;
        };
        if s.span < cfg.min_span_secs
            || s.median_interval < cfg.min_interval_secs
            || s.score < cfg.threshold
        {
            return;
        }
        pair.last_alert = Some(now);
        let per = if s.cycle > 1 {
            format!(" in cycles of {}", s.cycle)
        } else {
            String::new()
        };
        let explanation = format!(
            "{src} → {dst}:{port}/{proto}: {} connections{per} every ~{} (spread ±{}) over {}, \
             ~{:.0} bytes each; beacon score {:.2} (intervals {:.2}, sizes {:.2})",
            s.connections,
            secs(s.median_interval),
            secs(s.interval_mad),
            secs(s.span),
            s.median_bytes,
            s.score,
            s.interval_score,
            s.size_score
        );
        out.push(Alert {
            detector: "beacon",
            rule: Arc::clone(&RULE),
            severity: if s.score >= 0.9 {
                Severity::High
            } else {
                Severity::Medium
            },
            timestamp: Some(t),
            host: text(ev, &["host.name"]),
            evidence: vec![
                ("explanation".into(), explanation),
                ("score".into(), format!("{:.4}", s.score)),
                ("beacon.connections".into(), s.connections.to_string()),
                ("beacon.cycle".into(), s.cycle.to_string()),
                (
                    "beacon.median_interval_s".into(),
                    format!("{:.3}", s.median_interval),
                ),
                (
                    "beacon.interval_mad_s".into(),
                    format!("{:.3}", s.interval_mad),
                ),
                (
                    "beacon.median_bytes".into(),
                    format!("{:.0}", s.median_bytes),
                ),
                ("source.ip".into(), src),
                ("destination.ip".into(), dst),
                ("destination.port".into(), port),
                ("network.transport".into(), proto),
            ],
            event: Some(Arc::new(ev.clone())),
            origins: vec![ev.origin.clone()],
        });
    }

    /// Forgets the least recently seen half of the pairs.
    fn evict(&mut self) {
        let mut seen: Vec<f64> = self.pairs.values().map(|p| p.last_seen).collect();
        if seen.is_empty() {
            return;
        }
        let mid = seen.len() / 2;
        let (_, cut, _) = seen.select_nth_unstable_by(mid, f64::total_cmp);
        let cut = *cut;
        self.pairs.retain(|_, p| p.last_seen > cut);
    }
}

fn secs(s: f64) -> String {
    if s >= 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else if s >= 120.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.1} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use palisade_event::{Origin, Value};
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn conn(t: f64, src: &str, dst: &str, port: i64, bytes: i64) -> Event {
        let mut ev = Event::new(Origin::default(), "zeek");
        ev.timestamp = Utc
            .timestamp_opt(t.floor() as i64, ((t.fract()) * 1e9) as u32)
            .single();
        ev.insert_named("id.orig_h", Value::from(src)).unwrap();
        ev.insert_named("id.resp_h", Value::from(dst)).unwrap();
        ev.insert_named("id.resp_p", Value::Int(port)).unwrap();
        ev.insert_named("proto", Value::from("tcp")).unwrap();
        ev.insert_named("orig_bytes", Value::Int(bytes)).unwrap();
        ev
    }

    /// The `ssl` record of each check-in names the same endpoints as its `conn` record; only
    /// the `conn` records are connections.
    #[test]
    fn zeek_logs_other_than_conn_are_not_connections() {
        let mut b = Beacon::new(BeaconConfig::default());
        let mut out = Vec::new();
        for i in 0..60 {
            let t = 1_700_000_000.0 + 60.0 * f64::from(i);
            let mut ssl = conn(t + 0.04, "10.0.0.5", "203.0.113.9", 443, 0);
            ssl.meta.service = Some("ssl".into());
            b.observe(&ssl, &mut out);
        }
        assert!(out.is_empty() && b.pairs() == 0);
        for i in 0..60 {
            let t = 1_700_000_000.0 + 60.0 * f64::from(i);
            let mut c = conn(t, "10.0.0.5", "203.0.113.9", 443, 320);
            c.meta.service = Some("conn".into());
            b.observe(&c, &mut out);
        }
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_steady_implant_alerts_and_explains_itself() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let mut b = Beacon::new(BeaconConfig::default());
        let mut out = Vec::new();
        let mut t = 1_700_000_000.0;
        for _ in 0..60 {
            // Every 60 s ± 3 s jitter, 310–330 bytes.
            t += 60.0 + rng.random_range(-3.0..3.0);
            b.observe(
                &conn(
                    t,
                    "10.0.0.5",
                    "203.0.113.9",
                    443,
                    rng.random_range(310..330),
                ),
                &mut out,
            );
        }
        assert_eq!(out.len(), 1, "one alert, then cooldown");
        let e = &out[0].evidence[0].1;
        assert!(e.contains("10.0.0.5 → 203.0.113.9:443/tcp"), "{e}");
        assert!(e.contains("every ~"), "{e}");
        assert!(
            out[0]
                .rule
                .tags
                .iter()
                .any(|t| t == "attack.command_and_control")
        );
    }

    #[test]
    fn irregular_browsing_does_not_alert() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        let mut b = Beacon::new(BeaconConfig::default());
        let mut out = Vec::new();
        let mut t = 1_700_000_000.0;
        for _ in 0..300 {
            // Poisson arrivals (exponential gaps, mean 90 s), sizes spread over decades.
            let u: f64 = rng.random_range(1e-9..1.0);
            t += -90.0 * u.ln();
            let bytes = 10f64.powf(rng.random_range(2.0..6.0)) as i64;
            b.observe(&conn(t, "10.0.0.6", "198.51.100.20", 443, bytes), &mut out);
        }
        assert!(
            out.is_empty(),
            "{:?}",
            out.first().map(|a| &a.evidence[0].1)
        );
    }

    #[test]
    fn internal_destinations_are_scored_only_when_asked() {
        let run = |cfg: BeaconConfig, dst: &str| {
            let mut b = Beacon::new(cfg);
            let mut out = Vec::new();
            for k in 0..60 {
                let t = 1_700_000_000.0 + 60.0 * f64::from(k);
                b.observe(&conn(t, "10.0.0.5", dst, 53, 40), &mut out);
            }
            out.len()
        };
        // A client polling its resolver every minute is not a beacon by default…
        assert_eq!(run(BeaconConfig::default(), "10.0.0.53"), 0);
        assert_eq!(run(BeaconConfig::default(), "fd00::53"), 0);
        // …the same series to the internet is, and internal pairs are scored when asked.
        assert_eq!(run(BeaconConfig::default(), "198.51.100.53"), 1);
        let all = BeaconConfig {
            internal_destinations: true,
            ..BeaconConfig::default()
        };
        assert_eq!(run(all, "10.0.0.53"), 1);
    }

    #[test]
    fn bursts_and_short_series_do_not_alert() {
        let mut b = Beacon::new(BeaconConfig::default());
        let mut out = Vec::new();
        // 200 connections 0.2 s apart: regular, but a burst (median interval < 1 s).
        for k in 0..200 {
            b.observe(
                &conn(
                    1_700_000_000.0 + 0.2 * k as f64,
                    "10.0.0.7",
                    "10.0.0.1",
                    445,
                    100,
                ),
                &mut out,
            );
        }
        // Perfectly regular but only 10 connections.
        for k in 0..10 {
            b.observe(
                &conn(
                    1_700_000_000.0 + 60.0 * k as f64,
                    "10.0.0.8",
                    "10.0.0.1",
                    80,
                    100,
                ),
                &mut out,
            );
        }
        assert!(out.is_empty());
    }

    #[test]
    fn memory_is_bounded() {
        let cfg = BeaconConfig {
            max_pairs: 1000,
            keep: 16,
            ..BeaconConfig::default()
        };
        let mut b = Beacon::new(cfg);
        let mut out = Vec::new();
        for k in 0..20_000u32 {
            let dst = format!("198.51.{}.{}", k / 256 % 256, k % 256);
            b.observe(
                &conn(1_700_000_000.0 + f64::from(k), "10.0.0.9", &dst, 443, 1),
                &mut out,
            );
        }
        assert!(b.pairs() <= 1000);
        assert!(b.pairs.values().all(|p| p.conns.len() <= 16));
    }

    #[test]
    fn an_implant_with_two_connections_per_check_in_is_a_beacon() {
        // Attempt and retry: 7 s then 16 s, repeating (period 23 s), with small jitter.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let mut b = Beacon::new(BeaconConfig::default());
        let mut out = Vec::new();
        let mut t = 1_700_000_000.0;
        for k in 0..80 {
            t += if k % 2 == 0 { 7.0 } else { 16.0 } + rng.random_range(-0.2..0.2);
            b.observe(&conn(t, "10.0.0.5", "203.0.113.77", 8080, 0), &mut out);
        }
        assert_eq!(out.len(), 1);
        assert!(
            out[0].evidence[0].1.contains("in cycles of 2"),
            "{}",
            out[0].evidence[0].1
        );
        // Multicast neighbour discovery is periodic but never a beacon.
        let mut quiet = Vec::new();
        for k in 0..80 {
            b.observe(
                &conn(
                    1_700_000_000.0 + 120.0 * k as f64,
                    "fe80::1",
                    "ff02::1",
                    131,
                    72,
                ),
                &mut quiet,
            );
        }
        assert!(quiet.is_empty());
    }

    #[test]
    fn regularity_measures() {
        let s = score_series(&(0..30).map(|k| (k as f64 * 10.0, 100)).collect::<Vec<_>>()).unwrap();
        assert!((s.score - 1.0).abs() < 1e-12);
        assert_eq!(s.median_interval, 10.0);
        assert!(score_series(&[(0.0, 1), (1.0, 1)]).is_none());
    }
}

//! `palisade demo`'s feed: the simulated organisation (crate `palisade-sim`) streamed into a
//! running service through the same ingress as every other source.
//!
//! The simulation starts `history` + one day before now, so its benign history (which the
//! learned baselines need) and its first attack campaign are replayed as fast as the pipeline
//! takes them; from then on it runs in real time (background activity, a new campaign every
//! day).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use palisade_sim::{SimConfig, Simulator};

use crate::ingress::{Ingress, SubmitError};
use crate::wal::Record;

/// Records handed to the ingress per submission while catching up.
const CHUNK: usize = 2000;

/// How far the feed got.
#[derive(Debug, Default)]
pub struct FeedProgress {
    pub records: AtomicU64,
    /// Simulated time of the last record submitted (seconds).
    pub sim_time: AtomicI64,
    /// The simulation reached the present and now runs in real time.
    pub live: AtomicBool,
    pub attacks: AtomicU64,
}

/// A simulation whose first campaign has just finished at `now`.
pub fn sim_config(now: DateTime<Utc>, seed: u64) -> SimConfig {
    let base = SimConfig::default();
    let span = palisade_sim::attacks::CAMPAIGN_SPAN;
    let start = (now - base.history - span - chrono::Duration::hours(1))
        .duration_trunc(chrono::Duration::hours(1))
        .unwrap_or(now);
    SimConfig {
        seed,
        start,
        ..base
    }
}

/// What `palisade demo` lets playbooks do: the built-in playbooks run, but blocks only publish
/// ban decisions on the decisions API (bouncers can enforce them) and every local action (lock,
/// kill, quarantine, webhook, exec) is recorded as dry-run. The demo never touches this host's
/// firewall or accounts.
pub fn demo_respond(cfg: &mut crate::config::ServeConfig) {
    cfg.respond.enabled = true;
    cfg.respond.nftables = false;
    cfg.respond.local_actions = false;
}

/// Feeds the simulation until `stop` is set (blocking; run it on its own thread).
pub fn feed(cfg: SimConfig, ingress: Ingress, stop: Arc<AtomicBool>, progress: Arc<FeedProgress>) {
    let mut chunk: Vec<Record> = Vec::with_capacity(CHUNK);
    let mut names: Vec<(palisade_sim::Source, Arc<str>)> = Vec::new();
    let mut name_of = |s: palisade_sim::Source| -> Arc<str> {
        if let Some((_, n)) = names.iter().find(|(k, _)| *k == s) {
            return Arc::clone(n);
        }
        let n: Arc<str> = Arc::from(s.name());
        names.push((s, Arc::clone(&n)));
        n
    };
    let submit = |chunk: &mut Vec<Record>| -> bool {
        if chunk.is_empty() {
            return true;
        }
        match ingress.submit_blocking(std::mem::take(chunk)) {
            Ok(_) => true,
            Err(SubmitError::Closed) => false,
            Err(e) => {
                tracing::error!("demo feed: {e}");
                false
            }
        }
    };
    for rec in Simulator::new(cfg) {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let now = Utc::now();
        if rec.time > now {
            // Caught up: hand in what is pending, then wait for the record's time.
            if !submit(&mut chunk) {
                return;
            }
            progress.live.store(true, Ordering::Release);
            while Utc::now() < rec.time {
                if stop.load(Ordering::Acquire) {
                    return;
                }
                let wait = (rec.time - Utc::now())
                    .to_std()
                    .unwrap_or_default()
                    .min(Duration::from_millis(200));
                std::thread::sleep(wait);
            }
        }
        if rec.attack.is_some() {
            progress.attacks.fetch_add(1, Ordering::Relaxed);
        }
        progress
            .sim_time
            .store(rec.time.timestamp(), Ordering::Relaxed);
        chunk.push(Record {
            source: name_of(rec.source),
            format: rec.format,
            line: rec.line.into_bytes(),
        });
        progress.records.fetch_add(1, Ordering::Relaxed);
        let live = progress.live.load(Ordering::Relaxed);
        if (chunk.len() >= CHUNK || live) && !submit(&mut chunk) {
            return;
        }
    }
}

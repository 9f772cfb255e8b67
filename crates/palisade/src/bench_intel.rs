//! `palisade bench intel`: what the IOC detector costs a hunt.
//!
//! Generates deterministic synthetic indicators (default 50,000: IPs and networks, domains,
//! URLs, hashes), compiles them, then measures the hunt over the corpus — reading, parsing,
//! Sigma matching (when rules are given) — without and with IOC matching, alternating the two
//! variants `--reps` times so drifting machine load affects both alike, and reports the medians
//! and the overhead. IOC matching alone over already-parsed events is measured too.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use chrono::Utc;
use palisade_event::Event;
use palisade_ingest::{EventSink, IngestOptions, Input, RecordError, discover_inputs, read_input};
use palisade_sigma::{LoadOptions, RuleSet, Scratch, load_rules};
use palisade_triage::intel::{IntelHit, IntelScratch, IntelSet, synthetic};
use rayon::prelude::*;
use serde_json::json;

use crate::cli::BenchIntelArgs;
use crate::hunt;
use crate::sysinfo::peak_rss_bytes;

struct Keep(Vec<Event>);

impl EventSink for Keep {
    fn events(&mut self, batch: &mut Vec<Event>) {
        self.0.append(batch);
    }
    fn warning(&mut self, _: RecordError) {}
}

#[derive(Default)]
struct Counters {
    events: AtomicU64,
    sigma: AtomicU64,
    ioc: AtomicU64,
}

/// The hunt's per-input work: Sigma on every event, then (optionally) the indicators; an event
/// with an IOC hit becomes an alert, as in `hunt`.
struct HuntSink<'a> {
    rules: &'a RuleSet,
    intel: Option<&'a IntelSet>,
    scratch: Scratch,
    hits: Vec<u32>,
    intel_scratch: IntelScratch,
    intel_hits: Vec<IntelHit>,
    counters: &'a Counters,
}

impl EventSink for HuntSink<'_> {
    fn events(&mut self, batch: &mut Vec<Event>) {
        self.counters
            .events
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for e in batch.drain(..) {
            self.hits.clear();
            self.rules
                .match_event(&e, &mut self.scratch, &mut self.hits);
            self.counters
                .sigma
                .fetch_add(self.hits.len() as u64, Ordering::Relaxed);
            if let Some(intel) = self.intel {
                self.intel_hits.clear();
                intel.match_event(&e, &mut self.intel_scratch, &mut self.intel_hits);
                if !self.intel_hits.is_empty() {
                    let e = Arc::new(e);
                    for h in &self.intel_hits {
                        std::hint::black_box(intel.alert(h, Arc::clone(&e)));
                    }
                    self.counters
                        .ioc
                        .fetch_add(self.intel_hits.len() as u64, Ordering::Relaxed);
                }
            }
        }
    }
    fn warning(&mut self, _: RecordError) {}
}

/// One measurement: `passes` hunts over the corpus. Returns the time and the per-pass counts.
fn measure(
    inputs: &[Input],
    opts: &IngestOptions,
    rules: &RuleSet,
    intel: Option<&IntelSet>,
    passes: usize,
) -> (Duration, u64, u64, u64) {
    let counters = Counters::default();
    let start = Instant::now();
    for _ in 0..passes {
        inputs.par_iter().for_each(|i| {
            let mut sink = HuntSink {
                rules,
                intel,
                scratch: Scratch::default(),
                hits: Vec::new(),
                intel_scratch: IntelScratch::default(),
                intel_hits: Vec::new(),
                counters: &counters,
            };
            let _ = read_input(i, opts, &mut sink);
        });
    }
    let elapsed = start.elapsed();
    let p = passes.max(1) as u64;
    (
        elapsed,
        counters.events.load(Ordering::Relaxed) / p,
        counters.sigma.load(Ordering::Relaxed) / p,
        counters.ioc.load(Ordering::Relaxed) / p,
    )
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub fn intel(args: BenchIntelArgs) -> Result<u8> {
    if cfg!(debug_assertions) {
        eprintln!("palisade: warning: this is a debug build; benchmark numbers are meaningless");
    }
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()?;
    }
    let passes = args.passes.max(1);
    let reps = args.reps.max(1);
    let (inputs, errors) = discover_inputs(&args.paths);
    if !errors.is_empty() || inputs.is_empty() {
        bail!("cannot read the benchmark inputs: {errors:?}");
    }
    let loaded = if args.rules.is_empty() {
        load_rules(&[], &LoadOptions::default())
    } else {
        hunt::load(&args.rules, None, false)?
    };
    let rules = &loaded.rules;
    let opts = IngestOptions::default();
    let threads = rayon::current_num_threads();

    let now = Utc::now();
    let t = Instant::now();
    let indicators = synthetic::generate(args.iocs, args.seed, "synthetic", now);
    let generate_time = t.elapsed();
    let mut kinds = std::collections::BTreeMap::new();
    for i in &indicators {
        *kinds.entry(i.kind.as_str()).or_insert(0u64) += 1;
    }
    let t = Instant::now();
    let set = IntelSet::with_now(indicators, now);
    let build_time = t.elapsed();
    eprintln!(
        "bench: {} inputs, {} rules, {} indicators (compiled in {:.3} s), {passes} passes x {reps} reps per variant, {threads} threads",
        inputs.len(),
        rules.len(),
        set.len(),
        build_time.as_secs_f64()
    );

    // Matching alone, over events parsed once.
    let mut corpus = Keep(Vec::new());
    for i in &inputs {
        let _ = read_input(i, &opts, &mut corpus);
    }
    let corpus = corpus.0;
    let t = Instant::now();
    let mut alone_hits = 0u64;
    for _ in 0..passes {
        alone_hits = corpus
            .par_chunks(256)
            .map_init(
                || (IntelScratch::default(), Vec::new()),
                |(scratch, hits), chunk| {
                    let mut n = 0u64;
                    for e in chunk {
                        hits.clear();
                        set.match_event(e, scratch, hits);
                        n += hits.len() as u64;
                    }
                    n
                },
            )
            .sum();
    }
    let alone_time = t.elapsed();
    let ioc_alone_eps = corpus.len() as f64 * passes as f64 / alone_time.as_secs_f64().max(1e-9);
    drop(corpus);

    // Warm the page cache and lazy rule state, then alternate the variants.
    let _ = measure(&inputs, &opts, rules, None, 1);
    let _ = measure(&inputs, &opts, rules, Some(&set), 1);
    let mut base = Vec::with_capacity(reps);
    let mut with = Vec::with_capacity(reps);
    let mut paired = Vec::with_capacity(reps);
    let mut counts = (0, 0, 0);
    for rep in 0..reps {
        let order: [bool; 2] = if rep % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        let mut pair = [0.0f64; 2];
        for ioc in order {
            let (d, events, sigma, hits) =
                measure(&inputs, &opts, rules, ioc.then_some(&set), passes);
            let secs = d.as_secs_f64() / passes as f64;
            if ioc {
                with.push(secs);
                pair[1] = secs;
                counts.2 = hits;
            } else {
                base.push(secs);
                pair[0] = secs;
                counts.0 = events;
                counts.1 = sigma;
            }
        }
        paired.push(pair[1] / pair[0].max(1e-12) - 1.0);
    }
    let base_s = median(&mut base.clone());
    let with_s = median(&mut with.clone());
    let events = counts.0 as f64;
    let base_eps = events / base_s.max(1e-12);
    let with_eps = events / with_s.max(1e-12);
    let overhead = base_eps / with_eps.max(1e-12) - 1.0;
    let throughput_cost = 1.0 - with_eps / base_eps.max(1e-12);
    let result = json!({
        "inputs": inputs.len(),
        "events_per_pass": counts.0,
        "rules": rules.len(),
        "threads": threads,
        "passes": passes,
        "reps": reps,
        "indicators": set.len(),
        "indicator_kinds": kinds,
        "seed": args.seed,
        "generate_seconds": generate_time.as_secs_f64(),
        "compile_seconds": build_time.as_secs_f64(),
        "ioc_match_alone_events_per_second": ioc_alone_eps,
        "ioc_hits_matching_alone": alone_hits,
        "hunt_without_ioc": {
            "seconds_per_pass_median": base_s,
            "seconds_per_pass": base,
            "events_per_second": base_eps,
            "sigma_detections_per_pass": counts.1,
        },
        "hunt_with_ioc": {
            "seconds_per_pass_median": with_s,
            "seconds_per_pass": with,
            "events_per_second": with_eps,
            "ioc_hits_per_pass": counts.2,
        },
        "time_overhead_percent": overhead * 100.0,
        "throughput_cost_percent": throughput_cost * 100.0,
        "paired_time_overhead_percent_median": median(&mut paired.clone()) * 100.0,
        "paired_time_overhead_percent": paired.iter().map(|p| p * 100.0).collect::<Vec<_>>(),
        "peak_rss_mb": peak_rss_bytes().map(|b| b as f64 / 1048576.0),
    });
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
    println!(
        "indicators:             {} ({kinds:?}), generated in {:.3} s, compiled in {:.3} s",
        set.len(),
        generate_time.as_secs_f64(),
        build_time.as_secs_f64()
    );
    println!(
        "corpus:                 {} inputs, {} events per pass, {} rules, {threads} threads",
        inputs.len(),
        counts.0,
        rules.len()
    );
    println!(
        "IOC matching alone:     {:.0} events/s ({} hits per pass)",
        ioc_alone_eps, alone_hits
    );
    println!(
        "hunt without IOC:       {:.0} events/s (median {:.4} s/pass of {reps}), {} Sigma detections/pass",
        base_eps, base_s, counts.1
    );
    println!(
        "hunt with IOC:          {:.0} events/s (median {:.4} s/pass of {reps}), {} IOC hits/pass",
        with_eps, with_s, counts.2
    );
    println!(
        "cost of IOC matching:   {:.1} % of hunt throughput ({:+.1} % time; paired median {:+.1} %)",
        f(&result["throughput_cost_percent"]),
        f(&result["time_overhead_percent"]),
        f(&result["paired_time_overhead_percent_median"])
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&result)?)?;
    }
    Ok(0)
}

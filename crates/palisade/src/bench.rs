//! `palisade bench hunt`: the numbers behind BENCHMARKS.md, measured in one run:
//! rule compilation; the bare `evtx` crate's parse rate (rendering JSON text, as evtx_dump does,
//! and parsing into `serde_json::Value`s, its structured API); Palisade's parse rate on the same files
//! (EVTX to events); matching alone over parsed events; and the whole hunt repeated over the
//! corpus, all with the same worker threads; then peak memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use palisade_event::Event;
use palisade_ingest::{EventSink, IngestOptions, Input, RecordError, discover_inputs, read_input};
use palisade_sigma::Scratch;
use rayon::prelude::*;
use serde_json::json;

use crate::cli::BenchHuntArgs;
use crate::hunt;
use crate::sysinfo::peak_rss_bytes;

struct Count<'a> {
    events: &'a AtomicU64,
}

impl EventSink for Count<'_> {
    fn events(&mut self, batch: &mut Vec<Event>) {
        self.events.fetch_add(batch.len() as u64, Ordering::Relaxed);
        batch.clear();
    }
    fn warning(&mut self, _: RecordError) {}
}

struct Keep(Vec<Event>);

impl EventSink for Keep {
    fn events(&mut self, batch: &mut Vec<Event>) {
        self.0.append(batch);
    }
    fn warning(&mut self, _: RecordError) {}
}

struct MatchCount<'a> {
    rules: &'a palisade_sigma::RuleSet,
    scratch: Scratch,
    hits: Vec<u32>,
    events: &'a AtomicU64,
    detections: &'a AtomicU64,
}

impl EventSink for MatchCount<'_> {
    fn events(&mut self, batch: &mut Vec<Event>) {
        self.events.fetch_add(batch.len() as u64, Ordering::Relaxed);
        for e in batch.drain(..) {
            self.hits.clear();
            self.rules
                .match_event(&e, &mut self.scratch, &mut self.hits);
            self.detections
                .fetch_add(self.hits.len() as u64, Ordering::Relaxed);
        }
    }
    fn warning(&mut self, _: RecordError) {}
}

fn paths(inputs: &[Input]) -> Vec<std::path::PathBuf> {
    inputs
        .iter()
        .filter_map(|i| match i {
            Input::Path(p) => Some(p.clone()),
            Input::Stdin => None,
        })
        .collect()
}

/// How the bare `evtx` crate is asked for records.
#[derive(Clone, Copy)]
enum EvtxOutput {
    /// Compact JSON text, what evtx_dump writes.
    JsonText,
    /// `serde_json::Value`s, the crate's own API for reading fields.
    JsonValue,
}

/// The bare `evtx` crate over `files`, one file per worker; returns the records read.
fn bare_evtx(files: &[std::path::PathBuf], output: EvtxOutput) -> u64 {
    files
        .par_iter()
        .map(|f| {
            let Ok(parser) = evtx::EvtxParser::from_path(f) else {
                return 0;
            };
            let mut parser = parser.with_configuration(evtx::ParserSettings::new().num_threads(1));
            let n = match output {
                EvtxOutput::JsonText => parser.records_json_bytes().filter(|r| r.is_ok()).count(),
                EvtxOutput::JsonValue => parser.records_json_value().filter(|r| r.is_ok()).count(),
            };
            n as u64
        })
        .sum()
}

fn timed<T>(passes: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let start = Instant::now();
    let mut last = None;
    for _ in 0..passes {
        last = Some(f());
    }
    (start.elapsed(), last.expect("at least one pass"))
}

fn per_sec(n: f64, d: Duration) -> f64 {
    n / d.as_secs_f64().max(1e-9)
}

pub fn hunt(args: BenchHuntArgs) -> Result<u8> {
    if cfg!(debug_assertions) {
        eprintln!("palisade: warning: this is a debug build; benchmark numbers are meaningless");
    }
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()?;
    }
    let passes = args.passes.max(1);
    let (inputs, errors) = discover_inputs(&args.paths);
    if !errors.is_empty() || inputs.is_empty() {
        bail!("cannot read the benchmark inputs: {errors:?}");
    }
    let files = paths(&inputs);
    let is_evtx: Vec<_> = files
        .iter()
        .filter(|p| {
            std::fs::read(p)
                .map(|b| b.starts_with(b"ElfFile\0"))
                .unwrap_or(false)
        })
        .cloned()
        .collect();
    let bytes: u64 = files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let evtx_bytes: u64 = is_evtx
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let evtx_inputs: Vec<Input> = is_evtx.iter().cloned().map(Input::Path).collect();
    let opts = IngestOptions::default();
    let threads = rayon::current_num_threads();
    eprintln!(
        "bench: {} inputs ({} EVTX, {:.1} MB), {passes} passes, {threads} threads",
        inputs.len(),
        is_evtx.len(),
        bytes as f64 / 1e6
    );

    let t = Instant::now();
    let loaded = hunt::load(&args.rules, None, false)?;
    let compile = t.elapsed();
    let rules = &loaded.rules;

    // Warm the page cache and the evtx crate's lazy state once.
    let _ = bare_evtx(&is_evtx, EvtxOutput::JsonText);
    let (bare_time, bare_records) = timed(passes, || bare_evtx(&is_evtx, EvtxOutput::JsonText));
    let (value_time, _) = timed(passes, || bare_evtx(&is_evtx, EvtxOutput::JsonValue));

    let parse_pass = |inputs: &[Input]| {
        let n = AtomicU64::new(0);
        inputs.par_iter().for_each(|i| {
            let _ = read_input(i, &opts, &mut Count { events: &n });
        });
        n.load(Ordering::Relaxed)
    };
    let (ours_evtx_time, ours_evtx_events) = timed(passes, || parse_pass(&evtx_inputs));
    let (parse_time, parsed_events) = timed(passes, || parse_pass(&inputs));

    let mut corpus = Keep(Vec::new());
    for i in &inputs {
        let _ = read_input(i, &opts, &mut corpus);
    }
    let corpus = corpus.0;
    let (match_time, match_detections) = timed(passes, || {
        corpus
            .par_chunks(256)
            .map_init(Scratch::default, |scratch, chunk| {
                let mut hits = Vec::new();
                let mut n = 0u64;
                for e in chunk {
                    hits.clear();
                    rules.match_event(e, scratch, &mut hits);
                    n += hits.len() as u64;
                }
                n
            })
            .sum::<u64>()
    });
    let evaluated = AtomicU64::new(0);
    let (full_time, (full_events, detections)) = timed(passes, || {
        let events = AtomicU64::new(0);
        let detections = AtomicU64::new(0);
        inputs.par_iter().for_each(|i| {
            let mut sink = MatchCount {
                rules,
                scratch: Scratch::default(),
                hits: Vec::new(),
                events: &events,
                detections: &detections,
            };
            let _ = read_input(i, &opts, &mut sink);
            evaluated.fetch_add(sink.scratch.evaluated, Ordering::Relaxed);
        });
        (
            events.load(Ordering::Relaxed),
            detections.load(Ordering::Relaxed),
        )
    });
    let peak = peak_rss_bytes();

    let p = passes as f64;
    let result = json!({
        "inputs": inputs.len(),
        "evtx_files": is_evtx.len(),
        "bytes": bytes,
        "events_per_pass": full_events,
        "passes": passes,
        "threads": threads,
        "rules": rules.len(),
        "rule_compile_seconds": compile.as_secs_f64(),
        "evtx_crate": {
            "records_per_pass": bare_records,
            "seconds_per_pass": bare_time.as_secs_f64() / p,
            "records_per_second": per_sec(bare_records as f64 * p, bare_time),
            "mb_per_second": per_sec(evtx_bytes as f64 * p / 1e6, bare_time),
            "json_value_seconds_per_pass": value_time.as_secs_f64() / p,
            "json_value_records_per_second": per_sec(bare_records as f64 * p, value_time),
        },
        "palisade_parse_evtx": {
            "events_per_pass": ours_evtx_events,
            "seconds_per_pass": ours_evtx_time.as_secs_f64() / p,
            "events_per_second": per_sec(ours_evtx_events as f64 * p, ours_evtx_time),
            "ratio_to_evtx_crate": ours_evtx_time.as_secs_f64() / bare_time.as_secs_f64().max(1e-9),
            "ratio_to_evtx_json_value": ours_evtx_time.as_secs_f64() / value_time.as_secs_f64().max(1e-9),
        },
        "parse_seconds_per_pass": parse_time.as_secs_f64() / p,
        "parse_events_per_pass": parsed_events,
        "match_seconds_per_pass": match_time.as_secs_f64() / p,
        "match_events_per_second": per_sec(corpus.len() as f64 * p, match_time),
        "hunt": {
            "seconds_per_pass": full_time.as_secs_f64() / p,
            "events_per_second": per_sec(full_events as f64 * p, full_time),
            "mb_per_second": per_sec(bytes as f64 * p / 1e6, full_time),
            "detections_per_pass": detections,
            "rules_evaluated_per_event": evaluated.load(Ordering::Relaxed) as f64 / (full_events as f64 * p).max(1.0),
        },
        "detections_matching_only": match_detections,
        "peak_rss_mb": peak.map(|b| b as f64 / 1048576.0),
    });
    print_table(&result);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&result)?)?;
    }
    Ok(0)
}

fn print_table(r: &serde_json::Value) {
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
    println!(
        "rules compiled:           {} in {:.3} s",
        r["rules"],
        f(&r["rule_compile_seconds"])
    );
    println!(
        "corpus:                   {} inputs, {:.1} MB, {} events per pass, {} passes, {} threads",
        r["inputs"],
        f(&r["bytes"]) / 1e6,
        r["events_per_pass"],
        r["passes"],
        r["threads"]
    );
    println!(
        "evtx crate (JSON render): {:.0} records/s, {:.1} MB/s, {:.4} s/pass",
        f(&r["evtx_crate"]["records_per_second"]),
        f(&r["evtx_crate"]["mb_per_second"]),
        f(&r["evtx_crate"]["seconds_per_pass"])
    );
    println!(
        "evtx crate (JSON values): {:.0} records/s, {:.4} s/pass",
        f(&r["evtx_crate"]["json_value_records_per_second"]),
        f(&r["evtx_crate"]["json_value_seconds_per_pass"])
    );
    println!(
        "palisade EVTX parse:      {:.0} events/s, {:.4} s/pass; {:.2}x the time of JSON text, {:.2}x of JSON values",
        f(&r["palisade_parse_evtx"]["events_per_second"]),
        f(&r["palisade_parse_evtx"]["seconds_per_pass"]),
        f(&r["palisade_parse_evtx"]["ratio_to_evtx_crate"]),
        f(&r["palisade_parse_evtx"]["ratio_to_evtx_json_value"])
    );
    println!(
        "time split per pass:      parse {:.4} s, match {:.4} s ({:.0} events/s matching alone)",
        f(&r["parse_seconds_per_pass"]),
        f(&r["match_seconds_per_pass"]),
        f(&r["match_events_per_second"])
    );
    println!(
        "hunt (parse + match):     {:.0} events/s, {:.1} MB/s, {:.4} s/pass, {} detections/pass, {:.1} rules evaluated/event",
        f(&r["hunt"]["events_per_second"]),
        f(&r["hunt"]["mb_per_second"]),
        f(&r["hunt"]["seconds_per_pass"]),
        r["hunt"]["detections_per_pass"],
        f(&r["hunt"]["rules_evaluated_per_event"])
    );
    println!("peak RSS:                 {:.1} MB", f(&r["peak_rss_mb"]));
}

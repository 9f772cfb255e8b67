//! `palisade bench anomaly`: throughput of the learned detectors. (UEBA memory at 1M entities:
//! `cargo run --release -p palisade-anomaly --example ueba_mem`.)
//!
//! The anomaly benchmark builds an in-memory Zeek conn corpus by repeating a real conn log
//! with its timestamps shifted forward each time (so time always advances, as in a live
//! capture), then measures, each best of `--reps`:
//! * parse only (one thread);
//! * features → Half-Space Trees → UEBA → alerts on parsed events (one thread);
//! * each detector stage alone (features only; features → HST; UEBA), one thread each;
//! * the full pipeline: one thread parses, one runs the detectors, joined by a bounded channel
//!   of batches; per batch the detector thread runs UEBA on a second thread next to the
//!   anomaly models ([`Learned::observe_batch`]), so three threads share the cores; the
//!   process CPU time of its fastest run is printed too (µs per event, all threads), since
//!   on a shared machine the wall clock also measures the other tenants;
//! * Half-Space Trees alone, score+learn over the scaled feature rows (one thread).

use std::sync::mpsc::sync_channel;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use palisade_anomaly::Model;
use palisade_anomaly::detector::Learned;
use palisade_anomaly::features::{Extractor, SourceKind};
use palisade_anomaly::hst::{HalfSpaceTrees, HstConfig};
use palisade_event::Event;
use palisade_ingest::source::read_lines;
use palisade_ingest::{EventSink, Format, IngestOptions, RecordError};
use serde_json::json;

use crate::cli::BenchAnomalyArgs;
use crate::sysinfo::{peak_rss_bytes, process_cpu_seconds};

/// Builds the corpus: the header once, then `repeat` copies of the data lines with `ts`
/// shifted past the previous copy.
fn corpus(text: &str, repeat: usize) -> Result<(String, usize)> {
    let mut header = String::new();
    let mut rows: Vec<(f64, &str)> = Vec::new();
    for line in text.lines() {
        if line.starts_with("#close") {
            continue;
        }
        if line.starts_with('#') {
            header.push_str(line);
            header.push('\n');
            continue;
        }
        let Some((ts, rest)) = line.split_once('\t') else {
            continue;
        };
        let ts: f64 = ts.parse().context("first column must be ts")?;
        rows.push((ts, rest));
    }
    if rows.is_empty() {
        bail!("no data rows");
    }
    let lo = rows.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
    let hi = rows.iter().map(|r| r.0).fold(f64::NEG_INFINITY, f64::max);
    let span = (hi - lo).max(1.0) + 1.0;
    let mut out = header;
    out.reserve(text.len() * repeat);
    for k in 0..repeat {
        for (ts, rest) in &rows {
            out.push_str(&format!("{:.6}\t{rest}\n", ts + k as f64 * span));
        }
    }
    Ok((out, rows.len() * repeat))
}

struct Keep(Vec<Event>);
impl EventSink for Keep {
    fn events(&mut self, batch: &mut Vec<Event>) {
        self.0.append(batch);
    }
    fn warning(&mut self, _: RecordError) {}
}

struct Count(u64);
impl EventSink for Count {
    fn events(&mut self, batch: &mut Vec<Event>) {
        self.0 += batch.len() as u64;
        batch.clear();
    }
    fn warning(&mut self, _: RecordError) {}
}

struct Send(std::sync::mpsc::SyncSender<Vec<Event>>);
impl EventSink for Send {
    fn events(&mut self, batch: &mut Vec<Event>) {
        let full = std::mem::replace(batch, Vec::with_capacity(batch.capacity()));
        let _ = self.0.send(full);
    }
    fn warning(&mut self, _: RecordError) {}
}

fn parse(text: &str, sink: &mut dyn EventSink) -> Result<()> {
    let parser = Format::Zeek.line_parser().context("zeek parser")?;
    read_lines(
        text.as_bytes(),
        parser,
        "bench".into(),
        &IngestOptions {
            batch_size: 1024,
            ..IngestOptions::default()
        },
        sink,
    )?;
    Ok(())
}

fn learned() -> Learned {
    let mut l = Learned::default();
    l.enable(true, true);
    l
}

fn best<T>(reps: usize, mut f: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let v = f()?;
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(v);
    }
    Ok((best, last.expect("at least one rep")))
}

pub fn anomaly(args: BenchAnomalyArgs) -> Result<u8> {
    let text = std::fs::read_to_string(&args.zeek)
        .with_context(|| format!("reading {}", args.zeek.display()))?;
    let (corpus, rows) = corpus(&text, args.repeat)?;
    eprintln!(
        "palisade: corpus {} rows ({} copies of {}), {:.1} MiB",
        rows,
        args.repeat,
        args.zeek.display(),
        corpus.len() as f64 / 1048576.0
    );

    let (t_parse, n) = best(args.reps, || {
        let mut c = Count(0);
        parse(&corpus, &mut c)?;
        Ok(c.0)
    })?;
    let mut keep = Keep(Vec::new());
    parse(&corpus, &mut keep)?;
    let events = keep.0;

    let (t_detect, alerts) = best(args.reps, || {
        let mut l = learned();
        let mut out = Vec::new();
        for e in &events {
            l.observe(e, &mut out);
        }
        Ok(out.len())
    })?;

    // The same on parsed events in batches: UEBA and features on one thread, HST on another.
    let (t_detect2, alerts2) = best(args.reps, || {
        let mut l = learned();
        let mut out = Vec::new();
        for batch in events.chunks(1024) {
            l.observe_batch(batch, &mut out);
        }
        Ok(out.len())
    })?;
    // Stages of the detector on their own (one thread each).
    let (t_features, _) = best(args.reps, || {
        let mut ex = Extractor::for_kind(SourceKind::ZeekConn);
        let mut raw = Vec::new();
        let mut n = 0usize;
        for e in &events {
            n += usize::from(ex.extract(e, &mut raw));
        }
        Ok(n)
    })?;
    let (t_flow, flow_alerts) = best(args.reps, || {
        let mut l = Learned::default();
        l.enable(true, false);
        let mut out = Vec::new();
        for e in &events {
            l.observe(e, &mut out);
        }
        Ok(out.len())
    })?;
    let (t_ueba, ueba_alerts) = best(args.reps, || {
        let mut l = Learned::default();
        l.enable(false, true);
        let mut out = Vec::new();
        for e in &events {
            l.observe(e, &mut out);
        }
        Ok(out.len())
    })?;

    // The full pipeline: a parser thread feeding the detector thread batches, which runs
    // them event by event (`split: false`) or through `Learned::observe_batch`.
    // CPU time of the fastest run too: the machine may be shared, and the CPU seconds per
    // event say what two free cores would do.
    let pipeline = |split: bool| {
        let mut runs = Vec::new();
        let (t, alerts) = best(args.reps, || {
            let (clock, cpu) = (Instant::now(), process_cpu_seconds());
            let (tx, rx) = sync_channel::<Vec<Event>>(16);
            let r = std::thread::scope(|s| -> Result<usize> {
                let detector = s.spawn(move || {
                    let mut l = learned();
                    let mut out = Vec::new();
                    for batch in rx {
                        if split {
                            l.observe_batch(&batch, &mut out);
                        } else {
                            for e in &batch {
                                l.observe(e, &mut out);
                            }
                        }
                    }
                    out.len()
                });
                parse(&corpus, &mut Send(tx))?;
                detector
                    .join()
                    .map_err(|_| anyhow::anyhow!("detector thread panicked"))
            })?;
            let used = process_cpu_seconds().zip(cpu).map(|(b, a)| b - a);
            runs.push((clock.elapsed().as_secs_f64(), used));
            Ok(r)
        })?;
        let cpu = runs
            .iter()
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .and_then(|r| r.1);
        Ok::<_, anyhow::Error>((t, alerts, cpu))
    };
    let (t_pipe_seq, pipe_seq_alerts, _) = pipeline(false)?;
    let (t_pipe, pipe_alerts, pipe_cpu) = pipeline(true)?;
    let cpu_us = pipe_cpu.map(|c| c * 1e6 / events.len() as f64);

    // HST alone on the scaled feature rows of the same events.
    let mut ex = Extractor::for_kind(SourceKind::ZeekConn);
    let mut raw = Vec::new();
    let mut raws: Vec<Vec<f64>> = Vec::with_capacity(events.len());
    for e in &events {
        if ex.extract(e, &mut raw) {
            raws.push(raw.clone());
        }
    }
    let mut scaler = ex.new_scaler();
    scaler.fit(raws.iter().take(2000).map(Vec::as_slice));
    let dims = ex.width();
    let mut xs = vec![0f32; raws.len() * dims];
    for (r, out) in raws.iter().zip(xs.chunks_mut(dims)) {
        scaler.transform(r, out);
    }
    drop(raws);
    let (t_hst, _) = best(args.reps, || {
        let mut hst = HalfSpaceTrees::new(dims, HstConfig::default())?;
        let mut sum = 0.0;
        for x in xs.chunks(dims) {
            sum += hst.score_learn(x);
        }
        Ok(sum)
    })?;
    let (t_hst_batch, _) = best(args.reps, || {
        let mut hst = HalfSpaceTrees::new(dims, HstConfig::default())?;
        let mut out = vec![0.0; 1024];
        let mut sum = 0.0;
        for block in xs.chunks(dims * 1024) {
            let n = block.len() / dims;
            hst.score_learn_batch(block, &mut out[..n]);
            sum += out[..n].iter().sum::<f64>();
        }
        Ok(sum)
    })?;
    // Frozen scoring: only the scoring pass is timed (the model learns 5,000 rows first).
    let mut t_hst_frozen = f64::INFINITY;
    for _ in 0..args.reps.max(1) {
        let mut hst = HalfSpaceTrees::new(dims, HstConfig::default())?;
        for x in xs.chunks(dims).take(5000) {
            hst.learn(x);
        }
        let t = Instant::now();
        let mut sum = 0.0;
        for x in xs.chunks(dims) {
            sum += hst.score(x);
        }
        std::hint::black_box(sum);
        t_hst_frozen = t_hst_frozen.min(t.elapsed().as_secs_f64());
    }
    let hst_rows = xs.len() / dims;

    let rate = |n: usize, t: f64| n as f64 / t;
    let report = json!({
        "rows": rows,
        "parsed": n,
        "features": dims,
        "hst": {"trees": HstConfig::default().trees, "height": HstConfig::default().height, "window": HstConfig::default().window},
        "parse_events_per_s_1_thread": rate(n as usize, t_parse),
        "detect_events_per_s_1_thread": rate(events.len(), t_detect),
        "detect_events_per_s_2_threads": rate(events.len(), t_detect2),
        "features_events_per_s_1_thread": rate(events.len(), t_features),
        "anomaly_events_per_s_1_thread": rate(events.len(), t_flow),
        "ueba_events_per_s_1_thread": rate(events.len(), t_ueba),
        "anomaly_alerts": flow_alerts,
        "ueba_alerts": ueba_alerts,
        "pipeline_events_per_s_2_threads": rate(events.len(), t_pipe),
        "pipeline_event_by_event_events_per_s_2_threads": rate(events.len(), t_pipe_seq),
        "pipeline_cpu_us_per_event": cpu_us,
        "pipeline_cpu_seconds": pipe_cpu,
        "pipeline_wall_seconds": t_pipe,
        "hst_score_learn_rows_per_s_1_thread": rate(hst_rows, t_hst),
        "hst_score_learn_batch_rows_per_s_1_thread": rate(hst_rows, t_hst_batch),
        "hst_score_rows_per_s_1_thread": rate(hst_rows, t_hst_frozen),
        "alerts": alerts,
        "pipeline_alerts": pipe_alerts,
        "peak_rss_mib": peak_rss_bytes().map(|b| b as f64 / 1048576.0),
    });
    println!("rows                                   {rows}");
    println!("features per row                       {dims}");
    let ev = events.len();
    let lines: [(&str, f64, &str, Option<usize>); 11] = [
        (
            "parse (1 thread)",
            rate(n as usize, t_parse),
            "events",
            None,
        ),
        (
            "features + HST + UEBA (1 thread)",
            rate(ev, t_detect),
            "events",
            None,
        ),
        (
            "features + HST + UEBA (2 threads)",
            rate(ev, t_detect2),
            "events",
            Some(alerts2),
        ),
        (
            "  features only (1 thread)",
            rate(ev, t_features),
            "events",
            None,
        ),
        (
            "  anomaly: features + HST (1 thread)",
            rate(ev, t_flow),
            "events",
            Some(flow_alerts),
        ),
        (
            "  UEBA only (1 thread)",
            rate(ev, t_ueba),
            "events",
            Some(ueba_alerts),
        ),
        (
            "full pipeline, detector event by event",
            rate(ev, t_pipe_seq),
            "events",
            Some(pipe_seq_alerts),
        ),
        (
            "full pipeline (2 threads)",
            rate(ev, t_pipe),
            "events",
            Some(pipe_alerts),
        ),
        (
            "HST score+learn (1 thread)",
            rate(hst_rows, t_hst),
            "rows",
            None,
        ),
        (
            "HST score+learn, batches of 1024",
            rate(hst_rows, t_hst_batch),
            "rows",
            None,
        ),
        (
            "HST score only (frozen)",
            rate(hst_rows, t_hst_frozen),
            "rows",
            None,
        ),
    ];
    for (label, r, unit, alerts) in lines {
        let alerts = alerts.map_or(String::new(), |a| format!("  ({a} alerts)"));
        println!("{label:<38} {r:>12.0} {unit}/s{alerts}");
    }
    if let Some(us) = cpu_us {
        println!(
            "  its CPU time, all threads            {us:>12.2} µs/event ({:.0} events/s on two free cores at that cost; {:.2} cores busy)",
            2e6 / us,
            pipe_cpu.unwrap_or(0.0) / t_pipe
        );
    }
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(0)
}

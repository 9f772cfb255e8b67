//! Presenting results: human lines and tables, JSON, NDJSON and CSV.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};

use anyhow::{Context, Result};
use comfy_table::{Cell, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use palisade_event::{Alert, Severity};
use serde_json::{Value as Json, json};

use crate::cli::{HuntArgs, OutputFormat};
use crate::hunt::{HuntReport, HuntStats};

/// One alert as the JSON object of `--format ndjson` (and the elements of `json`).
pub fn alert_json(a: &Alert) -> Json {
    let mut o = json!({
        "@timestamp": a.timestamp.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        "detector": a.detector,
        "rule": {
            "id": a.rule.id,
            "title": a.rule.title,
            "level": a.severity.as_str(),
            "tags": a.rule.tags,
            "path": a.rule.path,
        },
        "host": { "name": a.host },
        "evidence": a.evidence.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
        "event": a.event.as_ref().map(|e| e.fields_json()),
    });
    if let Some(origin) = a.origins.first() {
        o["log"] =
            json!({ "file": { "path": origin.source.as_ref() }, "position": origin.position });
    }
    if a.event.is_none() {
        o["related"] = Json::Array(
            a.origins
                .iter()
                .map(|o| json!({ "file": o.source.as_ref(), "position": o.position }))
                .collect(),
        );
    }
    o
}

fn open_output(args: &HuntArgs) -> Result<Box<dyn Write>> {
    Ok(match &args.output {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(StdoutUntilClosed {
            out: io::stdout().lock(),
            closed: false,
        })),
    })
}

/// Standard output that quietly discards what is written once the reader has gone away
/// (`palisade hunt … | head`): the summary, the store and the exit status still follow, instead
/// of the run failing with "Broken pipe".
struct StdoutUntilClosed {
    out: io::StdoutLock<'static>,
    closed: bool,
}

impl StdoutUntilClosed {
    fn tolerate<T>(&mut self, done: T, r: io::Result<T>) -> io::Result<T> {
        match r {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(done)
            }
            r => r,
        }
    }
}

impl Write for StdoutUntilClosed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let r = self.out.write(buf);
        self.tolerate(buf.len(), r)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let r = self.out.flush();
        self.tolerate((), r)
    }
}

/// Writes the detections in the chosen format, and the summary where it belongs.
pub fn write_hunt(report: &HuntReport, args: &HuntArgs) -> Result<()> {
    let mut out = open_output(args)?;
    let to_terminal = args.output.is_none() && io::stdout().is_terminal();
    match args.format {
        OutputFormat::Ndjson => {
            for a in &report.alerts {
                serde_json::to_writer(&mut out, &alert_json(a))?;
                out.write_all(b"\n")?;
            }
        }
        OutputFormat::Json => {
            let doc = json!({
                "detections": report.alerts.iter().map(alert_json).collect::<Vec<_>>(),
                "incidents": report.triage.as_ref().map(|o| o.queue().map(crate::triage_cmd::incident_json).collect::<Vec<_>>()),
                "summary": summary_json(report),
            });
            serde_json::to_writer_pretty(&mut out, &doc)?;
            out.write_all(b"\n")?;
        }
        OutputFormat::Csv => write_csv(&mut out, &report.alerts)?,
        OutputFormat::Table => write_lines(&mut out, &report.alerts, to_terminal)?,
    }
    out.flush()?;
    drop(out);
    if !args.quiet {
        let summary = summary_text(report, colour_enabled(&io::stderr()));
        eprint!("{summary}");
        if let Some(t) = &report.triage
            && !t.incidents.is_empty()
        {
            eprint!("{}", crate::triage_cmd::queue_text(t, args.top));
        }
    }
    Ok(())
}

fn colour_enabled(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn level_colour(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "\x1b[1;31m",
        Severity::High => "\x1b[31m",
        Severity::Medium => "\x1b[33m",
        Severity::Low => "\x1b[32m",
        Severity::Informational => "\x1b[2m",
    }
}

fn details(a: &Alert, max: usize) -> String {
    let mut s = String::new();
    for (k, v) in &a.evidence {
        if !s.is_empty() {
            s.push_str(" ¦ ");
        }
        s.push_str(k);
        s.push('=');
        s.push_str(v);
        if s.len() > max {
            let mut cut = max;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push('…');
            break;
        }
    }
    s
}

fn write_lines(out: &mut dyn Write, alerts: &[Alert], colour: bool) -> Result<()> {
    for a in alerts {
        let ts = a
            .timestamp
            .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
            .unwrap_or_else(|| "-".repeat(23));
        let level = format!("{:<13}", a.severity.as_str());
        let level = if colour {
            format!("{}{level}\x1b[0m", level_colour(a.severity))
        } else {
            level
        };
        writeln!(
            out,
            "{ts}  {level} {}  [{}]  {}",
            a.rule.title,
            a.host.as_deref().unwrap_or("-"),
            details(a, 200)
        )?;
    }
    Ok(())
}

fn write_csv(out: &mut dyn Write, alerts: &[Alert]) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "timestamp",
        "level",
        "rule_id",
        "rule_title",
        "host",
        "file",
        "position",
        "details",
    ])?;
    for a in alerts {
        let origin = a.origins.first();
        w.write_record([
            a.timestamp.map(|t| t.to_rfc3339()).unwrap_or_default(),
            a.severity.to_string(),
            a.rule.id.clone(),
            a.rule.title.clone(),
            a.host.clone().unwrap_or_default(),
            origin.map(|o| o.source.to_string()).unwrap_or_default(),
            origin.map(|o| o.position.to_string()).unwrap_or_default(),
            details(a, 4000),
        ])?;
    }
    w.flush()?;
    Ok(())
}

fn by_level(alerts: &[Alert]) -> BTreeMap<Severity, usize> {
    let mut m = BTreeMap::new();
    for a in alerts {
        *m.entry(a.severity).or_default() += 1;
    }
    m
}

fn by_rule(alerts: &[Alert]) -> Vec<(Severity, String, usize)> {
    let mut m: BTreeMap<(Severity, &str), usize> = BTreeMap::new();
    for a in alerts {
        *m.entry((a.severity, a.rule.title.as_str())).or_default() += 1;
    }
    let mut v: Vec<_> = m
        .into_iter()
        .map(|((s, t), n)| (s, t.to_owned(), n))
        .collect();
    v.sort_by(|a, b| b.0.cmp(&a.0).then(b.2.cmp(&a.2)).then(a.1.cmp(&b.1)));
    v
}

fn rate(stats: &HuntStats) -> f64 {
    stats.events as f64 / stats.elapsed.as_secs_f64().max(1e-9)
}

fn summary_json(report: &HuntReport) -> Json {
    let s = &report.stats;
    json!({
        "detections": report.alerts.len(),
        "incidents": report.triage.as_ref().map(|t| t.queue().count()),
        "suppressed_incidents": report.triage.as_ref().map(|t| t.incidents.len() - t.queue().count()),
        "by_level": by_level(&report.alerts).into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "by_rule": by_rule(&report.alerts).into_iter().map(|(l, t, n)| json!({"level": l.as_str(), "title": t, "count": n})).collect::<Vec<_>>(),
        "inputs": s.inputs,
        "bytes": s.bytes,
        "events": s.events,
        "skipped_records": s.skipped_records,
        "unreadable_inputs": s.unreadable,
        "rules_loaded": s.rules_loaded,
        "rules_failed": s.rules_failed,
        "correlations": s.correlations,
        "elapsed_seconds": s.elapsed.as_secs_f64(),
        "rule_load_seconds": s.load_time.as_secs_f64(),
        "events_per_second": rate(s),
    })
}

fn summary_text(report: &HuntReport, colour: bool) -> String {
    let s = &report.stats;
    let mut out = String::new();
    let levels = by_level(&report.alerts);
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["Level", "Detections", "Rule"]);
    for (level, title, n) in by_rule(&report.alerts).into_iter().take(25) {
        let mut cell = Cell::new(level.as_str());
        if colour {
            cell = cell.fg(match level {
                Severity::Critical | Severity::High => comfy_table::Color::Red,
                Severity::Medium => comfy_table::Color::Yellow,
                Severity::Low => comfy_table::Color::Green,
                Severity::Informational => comfy_table::Color::DarkGrey,
            });
        }
        table.add_row(vec![cell, Cell::new(n), Cell::new(title)]);
    }
    out.push('\n');
    if !report.alerts.is_empty() {
        out.push_str(&format!("{table}\n"));
    }
    let level_line: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .map(|l| format!("{} {}", l.as_str(), levels.get(l).copied().unwrap_or(0)))
        .collect();
    out.push_str(&format!(
        "Detections: {} ({})\n",
        report.alerts.len(),
        level_line.join(", ")
    ));
    out.push_str(&format!(
        "Scanned {} inputs, {:.1} MB, {} events in {:.2} s ({:.0} events/s; rules loaded in {:.2} s)\n",
        s.inputs,
        s.bytes as f64 / 1e6,
        s.events,
        s.elapsed.as_secs_f64(),
        rate(s),
        s.load_time.as_secs_f64()
    ));
    if s.skipped_records > 0 {
        out.push_str(&format!(
            "Skipped {} malformed records in {} inputs (first ones listed above)\n",
            s.skipped_records, s.files_with_skips
        ));
    }
    if !s.unreadable.is_empty() {
        out.push_str(&format!(
            "Skipped {} inputs that are not logs Palisade reads:\n",
            s.unreadable.len()
        ));
        for u in s.unreadable.iter().take(10) {
            out.push_str(&format!("  {u}\n"));
        }
        if s.unreadable.len() > 10 {
            out.push_str(&format!("  … and {} more\n", s.unreadable.len() - 10));
        }
    }
    if s.untimed_correlation_hits > 0 {
        out.push_str(&format!(
            "{} hits had no timestamp and were left out of correlations\n",
            s.untimed_correlation_hits
        ));
    }
    out
}

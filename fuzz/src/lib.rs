//! Drivers shared by the fuzz targets: each target hands its bytes to one function here, so the
//! targets stay one line long and the same drivers can be replayed from a plain test.
//!
//! Every driver goes through the public entry points the CLI uses (`read_lines`,
//! `evtx::read_buffer`, `load_rules`, `condition::parse`) and then touches what they produced
//! (field values, warnings, rule matching), so a panic anywhere downstream of parsing counts.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once, OnceLock};

use chrono::{TimeZone, Utc};
use palisade_event::{Event, Origin, Value};
use palisade_ingest::formats::evtx::{self, EvtxOptions};
use palisade_ingest::source::read_lines;
use palisade_ingest::{EventSink, Format, IngestOptions, RecordError};
use palisade_sigma::compile::compile_detection;
use palisade_sigma::condition::{self, Cond, Quantified};
use palisade_sigma::correlation::RuleRef;
use palisade_sigma::modifier::{ModifierContext, RawValue};
use palisade_sigma::rule::{Detection, Search};
use palisade_sigma::{HitSource, LoadOptions, Scratch, load_rules};

/// Counts what a parser hands over, rendering every value and warning on the way.
#[derive(Default)]
pub struct TouchSink {
    pub events: u64,
    pub warnings: u64,
}

impl EventSink for TouchSink {
    fn events(&mut self, batch: &mut Vec<Event>) {
        for e in batch.drain(..) {
            touch(&e);
            self.events += 1;
        }
    }

    fn warning(&mut self, error: RecordError) {
        let _ = error.to_string();
        self.warnings += 1;
    }
}

fn touch(e: &Event) {
    for (k, v) in e.fields() {
        let _ = (k.as_str(), v.to_string(), v.as_f64(), v.as_i64());
    }
    let _ = e.fields_json();
    let _ = e.approx_size();
}

/// One input of a line-oriented format, split into lines and fed to one parser instance.
pub fn line_format(format: Format, data: &[u8]) {
    let _ = palisade_ingest::detect::sniff(data);
    let Some(parser) = format.line_parser() else {
        return;
    };
    let opts = IngestOptions {
        // Small enough that the fuzzer also reaches the over-long-line path.
        max_line_bytes: 16 << 10,
        batch_size: 16,
        ..IngestOptions::default()
    };
    let mut sink = TouchSink::default();
    let _ = read_lines(
        Cursor::new(data),
        parser,
        Arc::from("fuzz"),
        &opts,
        &mut sink,
    );
}

/// One input as an EVTX file held in memory.
pub fn evtx_file(data: &[u8]) {
    let _ = palisade_ingest::detect::sniff(data);
    let opts = EvtxOptions {
        threads: 1,
        batch_size: 16,
    };
    let mut sink = TouchSink::default();
    let _ = evtx::read_buffer(
        data.to_vec(),
        Path::new("<fuzz>"),
        Arc::from("fuzz"),
        opts,
        &mut sink,
    );
}

fn single_thread() {
    static INIT: Once = Once::new();
    // The loader compiles rules with rayon; one thread keeps the fuzzer on one core.
    INIT.call_once(|| {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build_global();
    });
}

/// A handful of events of different shapes, for rules to be matched against.
fn sample_events() -> &'static [Event] {
    static EVENTS: OnceLock<Vec<Event>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let at = |s: i64| Utc.timestamp_opt(1_700_000_000 + s, 0).single();
        let mut win = Event::new(Origin::new(Arc::from("fuzz"), 1), "evtx");
        win.set_aliases(evtx::aliases());
        win.meta.product = Some("windows".into());
        win.timestamp = at(0);
        let fields: [(&str, Value); 9] = [
            ("EventID", Value::Int(1)),
            ("Channel", "Microsoft-Windows-Sysmon/Operational".into()),
            ("Provider_Name", "Microsoft-Windows-Sysmon".into()),
            ("Image", "C:\\Windows\\System32\\cmd.exe".into()),
            (
                "CommandLine",
                "cmd.exe /c whoami -all \u{2013}enc SQBFAFgA".into(),
            ),
            ("User", "NT AUTHORITY\\SYSTEM".into()),
            ("DestinationIp", "10.1.2.3".into()),
            (
                "Hashes",
                Value::Array(vec!["MD5=00".into(), Value::Int(7), Value::Null]),
            ),
            ("UtcTime", "2024-01-02 03:04:05.678".into()),
        ];
        for (k, v) in fields {
            let _ = win.insert_named(k, v);
        }
        let mut ssh = Event::new(Origin::new(Arc::from("fuzz"), 2), "syslog");
        ssh.meta.product = Some("linux".into());
        ssh.meta.service = Some("sshd".into());
        ssh.timestamp = at(5);
        for (k, v) in [
            (
                "message",
                Value::from("Failed password for root from 1.2.3.4"),
            ),
            ("source.ip", "1.2.3.4".into()),
            ("user.name", "root".into()),
            ("process.pid", Value::Int(42)),
            ("event.duration", Value::Float(0.5)),
            ("flag", Value::Bool(true)),
        ] {
            let _ = ssh.insert_named(k, v);
        }
        let mut conn = Event::new(Origin::new(Arc::from("fuzz"), 3), "zeek");
        conn.meta.product = Some("zeek".into());
        conn.meta.service = Some("conn".into());
        for (k, v) in [
            ("id.orig_h", Value::from("::ffff:192.168.1.1")),
            ("id.resp_p", Value::Int(445)),
            ("empty", Value::from("")),
        ] {
            let _ = conn.insert_named(k, v);
        }
        vec![win, ssh, conn]
    })
}

fn rule_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("palisade-fuzz-rule-{}.yml", std::process::id()))
    })
}

/// One Sigma rule file: loaded the way `palisade hunt --rules` loads it (filters, correlations,
/// routing and prefilter included), then run over the sample events with correlations fed.
pub fn sigma_rule(data: &[u8]) {
    single_thread();
    // Invalid UTF-8 is refused before parsing; nothing past that to fuzz.
    if std::str::from_utf8(data).is_err() {
        return;
    }
    let path = rule_path();
    if std::fs::write(path, data).is_err() {
        return;
    }
    let loaded = load_rules(std::slice::from_ref(path), &LoadOptions::default());
    for f in &loaded.report.failures {
        let _ = f.to_string();
    }
    let mut engine = loaded.correlation_engine();
    let mut scratch = Scratch::default();
    let mut hits = Vec::new();
    // Several passes so count conditions and temporal windows can be reached.
    for pass in 0..3i64 {
        for event in sample_events() {
            hits.clear();
            loaded.rules.match_event(event, &mut scratch, &mut hits);
            let time = event
                .timestamp
                .map(|t| t + chrono::Duration::seconds(pass * 60));
            for &rule in &hits {
                let _ = loaded.rules.rule(rule).fields.len();
                let r = RuleRef::Detection(rule);
                if engine.listens_to(r) {
                    let _ = engine.feed(r, time, HitSource::Event(event), &event.origin);
                }
            }
        }
    }
    let _ = engine.finish();
}

/// One condition string: parsed, then compiled against searches named after its identifiers
/// and evaluated; every `x of` pattern is also matched against the names and the raw input.
pub fn sigma_condition(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cond) = condition::parse(text) else {
        return;
    };
    let mut names = Vec::new();
    let mut patterns = Vec::new();
    collect(&cond, &mut names, &mut patterns);
    for p in &patterns {
        let _ = condition::pattern_matches(p, text);
        for n in &names {
            let _ = condition::pattern_matches(p, n);
        }
    }
    let searches = names
        .iter()
        .map(|n| {
            let value = RawValue::Str(n.clone());
            (n.clone(), Search::Keywords(vec![value]))
        })
        .collect();
    let detection = Detection {
        searches,
        conditions: vec![text.to_owned()],
    };
    let mut warnings = Vec::new();
    if let Ok(compiled) =
        compile_detection(&detection, &[], &ModifierContext::default(), &mut warnings)
    {
        for e in sample_events() {
            let _ = compiled.matches(e);
        }
        let _ = compiled.requirement(&[]);
    }
}

fn collect(c: &Cond, names: &mut Vec<String>, patterns: &mut Vec<String>) {
    match c {
        Cond::And(items) | Cond::Or(items) => {
            for i in items {
                collect(i, names, patterns);
            }
        }
        Cond::Not(inner) => collect(inner, names, patterns),
        Cond::Search(n) => names.push(n.clone()),
        Cond::AnyOf(Quantified::Pattern(p)) | Cond::AllOf(Quantified::Pattern(p)) => {
            patterns.push(p.clone());
        }
        Cond::AnyOf(Quantified::Them) | Cond::AllOf(Quantified::Them) => {}
    }
}

/// One threat-intel feed file: imported as every format (STIX, MISP, CSV, TXT, and detected),
/// the indicators compiled into an `IntelSet`, then matched against the sample events with
/// each hit turned into an alert.
pub fn intel_feed(data: &[u8]) {
    use palisade_triage::intel::{ImportOptions, IntelFormat, IntelScratch, IntelSet, import};
    let now = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().unwrap_or_default();
    let mut all = Vec::new();
    for format in [
        IntelFormat::Auto,
        IntelFormat::Stix,
        IntelFormat::Misp,
        IntelFormat::Csv,
        IntelFormat::Txt,
    ] {
        let mut opts = ImportOptions::new("fuzz", now);
        opts.format = format;
        match import(data, "fuzz.in", &opts) {
            Ok(got) => {
                for w in &got.warnings {
                    let _ = w.to_string();
                }
                all.extend(got.indicators);
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    let set = IntelSet::with_now(all, now);
    let mut scratch = IntelScratch::default();
    let mut hits = Vec::new();
    for event in sample_events().iter().chain(intel_events()) {
        hits.clear();
        set.match_event(event, &mut scratch, &mut hits);
        for h in &hits {
            let _ = set.alert(h, Arc::new(event.clone()));
        }
    }
}

/// Events with the domain, URL and hash fields the IOC detector reads.
fn intel_events() -> &'static [Event] {
    static EVENTS: OnceLock<Vec<Event>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let mut http = Event::new(Origin::new(Arc::from("fuzz"), 4), "zeek");
        let mut ecs = Event::new(Origin::new(Arc::from("fuzz"), 5), "json");
        for (k, v) in [
            ("id.resp_h", "2001:db8::1"),
            ("host", "a.b.evil.example:8080"),
            ("uri", "/x.php?id=1"),
            ("query", "WWW.Example.COM."),
        ] {
            let _ = http.insert_named(k, v.into());
        }
        for (k, v) in [
            ("url.full", "https://user@bad.example:443/x?y#z"),
            ("file.hash.sha256", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"),
            ("dns.question.name", "1.2.3.4"),
        ] {
            let _ = ecs.insert_named(k, v.into());
        }
        vec![http, ecs]
    })
}

/// A syslog TCP byte stream through the RFC 6587 decoder of `palisade serve`. The first byte
/// picks the frame limit and the piece size; the rest is the stream. Fed whole and in pieces,
/// the frames must be the same (a difference panics, so it counts as a finding), and no
/// message may exceed the limit or the buffer grow past one frame.
pub fn syslog_tcp_framing(data: &[u8]) {
    use palisade_server::sources::framing::{Frame, FrameDecoder};
    let Some((&knobs, stream)) = data.split_first() else {
        return;
    };
    let max = 1 + usize::from(knobs & 0x3f) * 8;
    let piece = 1 + usize::from(knobs >> 6) * 5;
    let decode = |pieces: &mut dyn Iterator<Item = &[u8]>| {
        let mut d = FrameDecoder::new(max);
        let mut out = Vec::new();
        for p in pieces {
            d.feed(p, &mut out);
            assert!(
                d.buffered() <= max + 11,
                "decoder buffer grew past one frame"
            );
        }
        d.finish(&mut out);
        out
    };
    let whole = decode(&mut std::iter::once(stream));
    let split = decode(&mut stream.chunks(piece));
    assert_eq!(whole, split, "frames depend on how the stream was split");
    for f in &whole {
        if let Frame::Message(m) = f {
            assert!(!m.is_empty() && m.len() <= max);
        }
    }
}

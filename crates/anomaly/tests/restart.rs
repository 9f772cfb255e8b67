//! A learning process stopped mid-stream and resumed from its snapshot scores every later
//! event exactly as an uninterrupted run does (anomaly scores bit for bit, the same alerts).
//!
//! Data: the Stratosphere 008 Zeek conn log (5,600 flows) and the loghub OpenSSH sample, both
//! under `shared/data`; missing data fails under `CI=true`.

use std::path::{Path, PathBuf};

use palisade_anomaly::detector::{AnomalyConfig, FlowAnomaly, Learned};
use palisade_anomaly::ueba::UebaConfig;
use palisade_event::{Alert, Event};
use palisade_ingest::{EventSink, IngestOptions, Input, RecordError, read_input};

fn data_file(rel: &str) -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Ok(d) = std::env::var("PALISADE_DATA") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(manifest.join("../../../shared/data"));
    dirs.push(manifest.join("../../../../shared/data"));
    for d in &dirs {
        if d.join(rel).is_file() {
            return Some(d.join(rel));
        }
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "data file {rel} is missing under CI (looked in {dirs:?})"
    );
    eprintln!("SKIPPED: {rel} not found in {dirs:?}");
    None
}

#[derive(Default)]
struct Collect(Vec<Event>);

impl EventSink for Collect {
    fn events(&mut self, batch: &mut Vec<Event>) {
        self.0.append(batch);
    }
    fn warning(&mut self, _: RecordError) {}
}

fn read(path: &Path) -> Vec<Event> {
    let mut sink = Collect::default();
    read_input(
        &Input::Path(path.to_owned()),
        &IngestOptions::default(),
        &mut sink,
    )
    .expect("readable");
    sink.0
}

fn key(a: &Alert) -> String {
    format!("{}|{:?}|{:?}", a.rule.id, a.timestamp, a.evidence)
}

#[test]
fn anomaly_scores_after_restart_equal_an_uninterrupted_run() {
    let Some(path) = data_file("stratosphere-zeek/008-zeek-mixed/data/conn.log.labeled") else {
        return;
    };
    let events = read(&path);
    assert!(events.len() > 5000);
    let cfg = AnomalyConfig {
        warmup: 1000,
        ..AnomalyConfig::default()
    };

    let mut whole = FlowAnomaly::new(cfg.clone());
    let mut whole_alerts = Vec::new();
    let whole_scores: Vec<Option<f64>> = events
        .iter()
        .map(|e| whole.observe_scored(e, &mut whole_alerts))
        .collect();

    // Stop at two points: during warm-up and well after it.
    for cut in [700, 3100] {
        let mut first = FlowAnomaly::new(cfg.clone());
        let mut alerts = Vec::new();
        let mut scores: Vec<Option<f64>> = events[..cut]
            .iter()
            .map(|e| first.observe_scored(e, &mut alerts))
            .collect();
        let bytes = first.snapshot().expect("snapshot");
        drop(first);
        let mut resumed = FlowAnomaly::restore(&bytes).expect("restore");
        scores.extend(
            events[cut..]
                .iter()
                .map(|e| resumed.observe_scored(e, &mut alerts)),
        );
        assert_eq!(scores.len(), whole_scores.len());
        let scored = scores.iter().filter(|s| s.is_some()).count();
        assert!(scored > 3000, "only {scored} events scored");
        for (i, (a, b)) in scores.iter().zip(&whole_scores).enumerate() {
            assert_eq!(
                a.map(f64::to_bits),
                b.map(f64::to_bits),
                "event {i}: score after restart at {cut} differs ({a:?} vs {b:?})"
            );
        }
        let a: Vec<String> = alerts.iter().map(key).collect();
        let b: Vec<String> = whole_alerts.iter().map(key).collect();
        assert_eq!(a, b, "alerts differ after restart at {cut}");
    }
    assert!(!whole_alerts.is_empty(), "the scan traffic raised no alert");
}

#[test]
fn learned_anomaly_and_ueba_resume_exactly() {
    let (Some(conn), Some(ssh)) = (
        data_file("stratosphere-zeek/008-zeek-mixed/data/conn.log.labeled"),
        data_file("loghub/OpenSSH/OpenSSH_2k.log"),
    ) else {
        return;
    };
    let mut events = read(&conn);
    events.extend(read(&ssh));
    let run = |cut: Option<usize>| -> Vec<String> {
        // The OpenSSH sample spans two days: a short warm-up lets UEBA alert within it.
        let ueba = UebaConfig {
            warmup_min_days: 0.5,
            warmup_min_events: 10,
            ..UebaConfig::default()
        };
        let mut learned = Learned::with_configs(AnomalyConfig::default(), ueba).expect("valid");
        let mut alerts = Vec::new();
        for (i, e) in events.iter().enumerate() {
            if Some(i) == cut {
                let bytes = learned.snapshot().expect("snapshot");
                learned = Learned::restore(&bytes).expect("restore");
            }
            learned.observe(e, &mut alerts);
        }
        alerts.iter().map(key).collect()
    };
    let whole = run(None);
    let ueba = whole.iter().filter(|k| k.starts_with("ueba.")).count();
    let anomaly = whole.iter().filter(|k| k.starts_with("anomaly.")).count();
    assert!(
        ueba > 0 && anomaly > 0,
        "ueba {ueba}, anomaly {anomaly} alerts"
    );
    assert_eq!(run(Some(4000)), whole);
    assert_eq!(run(Some(events.len() - 500)), whole);
}

#[test]
fn corrupt_snapshots_are_errors() {
    assert!(FlowAnomaly::restore(b"").is_err());
    assert!(FlowAnomaly::restore(b"PALANOM\x02\x00\x00\x00garbage").is_err());
    assert!(FlowAnomaly::restore(b"PALANOM\x09\x00\x00\x00").is_err());
    assert!(Learned::restore(b"PALLRND\x01\x00\x00\x00\xff\xff").is_err());
    let mut l = Learned::default();
    l.enable(true, true);
    let bytes = l.snapshot().expect("snapshot");
    for cut in [0, 7, 11, bytes.len() / 2, bytes.len() - 1] {
        assert!(Learned::restore(&bytes[..cut]).is_err(), "cut {cut}");
    }
    assert!(Learned::restore(&bytes).is_ok());
}

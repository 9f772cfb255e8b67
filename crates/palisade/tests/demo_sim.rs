//! The demo's simulator through the real hunt: two days of a small organisation's benign
//! logs from `palisade-sim`, with one scripted campaign of seven attacks on the second day,
//! written to files and hunted with the demo rule set and the learned detectors. The
//! simulator's labels are the ground truth: every attack must be in an incident near the top
//! of the queue, and incidents of benign activity alone must not fill the top.
//!
//! The history is shorter than the demo's (UEBA needs seven days before it alerts on an
//! entity, so it stays quiet here) to keep the test quick in a debug build; the full-length
//! measurement is `cargo run --release -p palisade-sim --example sim_dump` and a hunt over
//! its output (see the crate's docs).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::Duration;
use common::{palisade, s};
use palisade_sim::{Attack, SimConfig, dump};
use serde_json::Value as Json;

/// Where each attack ranked and what the top of the queue holds.
struct Queue {
    /// Best (1-based) rank of an incident holding an alert on a line of the attack.
    rank: BTreeMap<Attack, usize>,
    /// Detectors whose alerts fell on the attack's lines.
    detectors: BTreeMap<Attack, BTreeSet<String>>,
    /// For each incident in queue order, whether any of its alerts is on an attack line.
    has_attack: Vec<bool>,
}

fn hunt(dir: &std::path::Path, detectors: &str, labels: &palisade_sim::DumpSummary) -> Queue {
    let run = palisade(&[
        "hunt",
        s(dir),
        "--rules",
        "examples/rules",
        "--detectors",
        detectors,
        "--format",
        "json",
        "--no-progress",
        "--threads",
        "1",
        "--top",
        "30",
        "-q",
    ]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let doc: Json = serde_json::from_str(&run.stdout).expect("JSON output");
    let detections = doc["detections"].as_array().expect("detections");
    let label = |i: usize| -> Option<Attack> {
        let d = detections.get(i)?;
        let file = PathBuf::from(d["log"]["file"]["path"].as_str()?);
        labels.label_of(&file, d["log"]["position"].as_u64()?)
    };
    let mut q = Queue {
        rank: BTreeMap::new(),
        detectors: BTreeMap::new(),
        has_attack: Vec::new(),
    };
    for (i, _) in detections.iter().enumerate() {
        if let Some(a) = label(i) {
            let det = detections[i]["detector"]
                .as_str()
                .unwrap_or("?")
                .to_string();
            q.detectors.entry(a).or_default().insert(det);
        }
    }
    for (rank, inc) in doc["incidents"]
        .as_array()
        .expect("incidents")
        .iter()
        .enumerate()
    {
        let mut any = false;
        for line in inc["timeline"].as_array().expect("timeline") {
            for i in line["alerts"].as_array().expect("alerts") {
                if let Some(a) = label(i.as_u64().expect("index") as usize) {
                    any = true;
                    q.rank.entry(a).or_insert(rank + 1);
                }
            }
        }
        q.has_attack.push(any);
    }
    q
}

fn benign_in_top(q: &Queue, n: usize) -> usize {
    q.has_attack.iter().take(n).filter(|a| !**a).count()
}

#[test]
fn every_simulated_attack_reaches_the_top_of_the_queue() {
    let cfg = SimConfig {
        history: Duration::days(1),
        ..SimConfig::default()
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("logs");
    let until = cfg.start + cfg.history + Duration::days(1);
    let labels = dump(&cfg, until, &dir).expect("dump");
    assert_eq!(labels.attack_lines.len(), Attack::ALL.len());

    let q = hunt(&dir, "sigma,ueba,beacon", &labels);
    for a in Attack::ALL {
        eprintln!(
            "{:<22} rank {:>4}  detected by {:?}",
            a.label(),
            q.rank.get(&a).map_or("-".into(), |r| r.to_string()),
            q.detectors.get(&a)
        );
    }
    let (b10, b20) = (benign_in_top(&q, 10), benign_in_top(&q, 20));
    eprintln!("benign-only incidents: {b10} of the top 10, {b20} of the top 20");
    for a in Attack::ALL {
        let rank = q.rank.get(&a).copied();
        assert!(
            rank.is_some_and(|r| r <= 10),
            "{} is not in the top 10 (rank {rank:?})",
            a.label()
        );
    }
    assert!(
        b10 <= 3,
        "{b10} of the top 10 incidents are benign activity alone"
    );
}

//! End-to-end tests of the learned detectors through the binary: `palisade eval anomaly` on
//! the labelled public data sets, and `palisade hunt --detectors anomaly,ueba` with its state
//! kept in the store across separate processes.
//!
//! The data sets live in `shared/data` beside the repository (`PALISADE_DATA` overrides);
//! when one is missing the test fails under `CI=true` and is skipped with a note otherwise.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{Run, data_file, palisade, s};

use serde_json::Value as Json;

fn eval_json(args: &[&str]) -> Json {
    let mut full = vec!["eval", "anomaly"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--format", "json"]);
    let run = palisade(&full);
    assert_eq!(run.code, 0, "eval failed: {}", run.stderr);
    serde_json::from_str(run.stdout.trim()).expect("one JSON object")
}

fn model<'a>(report: &'a Json, name: &str) -> &'a Json {
    report["models"]
        .as_array()
        .expect("models")
        .iter()
        .find(|m| m["model"] == name)
        .unwrap_or_else(|| panic!("model {name} in {report}"))
}

#[test]
fn eval_json_has_the_documented_keys_and_sane_values() {
    let Some(unsw) = data_file("unsw-nb15/UNSW_NB15_testing-set_subset4528.csv") else {
        return;
    };
    let r = eval_json(&["--dataset", "unsw-nb15", "--train", s(&unsw)]);
    for key in [
        "roc_auc",
        "pr_auc",
        "recall_at_1pct_fpr",
        "test_fpr",
        "rows_per_s",
        "n",
    ] {
        assert!(r.get(key).is_some(), "missing {key} in {r}");
    }
    // A 50/50 stratified split of 4,528 rows (243 benign, 4,285 attacks; the first half gets
    // the odd row of each class): 122 + 2,143 rows train (benign only), 121 + 2,142 test.
    assert_eq!(r["n"], 2263);
    assert_eq!(r["train_rows"], 122);
    for key in ["roc_auc", "pr_auc", "recall_at_1pct_fpr", "test_fpr"] {
        let v = r[key].as_f64().expect("number");
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    assert!(r["rows_per_s"].as_f64().expect("number") > 0.0);
}

#[test]
fn eval_nsl_kdd_meets_the_quality_floor_and_is_deterministic() {
    let (Some(train), Some(test)) = (
        data_file("nsl-kdd/KDDTrain+_20Percent.txt"),
        data_file("nsl-kdd/KDDTest+.txt"),
    ) else {
        return;
    };
    let args = [
        "--dataset",
        "nsl-kdd",
        "--train",
        s(&train),
        "--test",
        s(&test),
        "--no-online",
    ];
    let a = eval_json(&args);
    assert_eq!(a["n"], 22544);
    assert_eq!(a["train_rows"], 13449);
    // Peers on this split (issue 4): IsolationForest 0.941, River HST 0.912.
    let iforest = model(&a, "iforest")["frozen"]["roc_auc"]
        .as_f64()
        .expect("auc");
    let hst = model(&a, "hst")["frozen"]["roc_auc"].as_f64().expect("auc");
    assert!(iforest >= 0.93, "iforest ROC-AUC {iforest}");
    assert!(hst >= 0.90, "hst ROC-AUC {hst}");
    let b = eval_json(&args);
    for m in ["hst", "iforest"] {
        assert_eq!(
            model(&a, m)["frozen"]["roc_auc"],
            model(&b, m)["frozen"]["roc_auc"],
            "{m} is not deterministic"
        );
    }
}

#[test]
fn eval_refuses_a_label_column_as_a_feature() {
    let Some(unsw) = data_file("unsw-nb15/UNSW_NB15_testing-set_subset4528.csv") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("features.json");
    let printed = palisade(&[
        "eval",
        "anomaly",
        "--dataset",
        "unsw-nb15",
        "--train",
        s(&unsw),
        "--print-features",
    ]);
    assert_eq!(printed.code, 0, "{}", printed.stderr);
    let mut json: Json = serde_json::from_str(&printed.stdout).expect("feature config JSON");
    json["numeric"]
        .as_array_mut()
        .expect("numeric")
        .push(serde_json::json!({
            "name": "cheat", "fields": ["label"], "transform": "None"
        }));
    std::fs::write(&cfg, json.to_string()).expect("write");
    let run = palisade(&[
        "eval",
        "anomaly",
        "--dataset",
        "unsw-nb15",
        "--train",
        s(&unsw),
        "--features",
        s(&cfg),
    ]);
    assert_eq!(run.code, 2, "stdout {} stderr {}", run.stdout, run.stderr);
    assert!(run.stderr.contains("label"), "{}", run.stderr);
}

/// Anomaly alerts as comparable keys: rule, event time, explanation.
fn anomaly_keys(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).expect("NDJSON"))
        .filter(|d| d["detector"] == "anomaly")
        .map(|d| {
            format!(
                "{}|{}|{}",
                d["rule"]["id"], d["@timestamp"], d["evidence"]["explanation"]
            )
        })
        .collect()
}

#[test]
fn hunt_learns_across_processes_exactly_as_in_one_run() {
    let Some(conn) = data_file("stratosphere-zeek/008-zeek-mixed/data/conn.log.labeled") else {
        return;
    };
    let text = std::fs::read_to_string(&conn).expect("read");
    let header: Vec<&str> = text.lines().filter(|l| l.starts_with('#')).collect();
    let rows: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let part = |name: &str, rows: &[&str]| -> PathBuf {
        let p = dir.path().join(name);
        let mut body = header.join("\n");
        body.push('\n');
        body.push_str(&rows.join("\n"));
        body.push('\n');
        std::fs::write(&p, body).expect("write");
        p
    };
    let whole = part("whole.log", &rows);
    let first = part("first.log", &rows[..3000]);
    let second = part("second.log", &rows[3000..]);
    let hunt = |file: &Path, db: Option<&Path>| -> Run {
        let mut args = vec![
            "hunt",
            s(file),
            "--detectors",
            "anomaly,ueba",
            "--format",
            "ndjson",
            "--no-progress",
        ];
        if let Some(db) = db {
            args.extend_from_slice(&["--store", s(db)]);
        }
        let run = palisade(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run
    };
    let one = anomaly_keys(&hunt(&whole, None).stdout);
    assert!(one.len() >= 10, "only {} anomaly alerts", one.len());
    let db = dir.path().join("palisade.db");
    let a = hunt(&first, Some(&db));
    let b = hunt(&second, Some(&db));
    assert!(
        b.stderr.contains("resumed learned baselines"),
        "{}",
        b.stderr
    );
    let mut two = anomaly_keys(&a.stdout);
    two.extend(anomaly_keys(&b.stdout));
    // Each run prints its alerts in event-time order, and the log is not strictly sorted by
    // time, so compare as sorted lists.
    let mut one = one;
    one.sort();
    two.sort();
    assert_eq!(two, one, "a restarted hunt alerted differently");
    // Every anomaly alert explains itself with the deviating features.
    let explained: BTreeSet<bool> = b
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).expect("NDJSON"))
        .filter(|d| d["detector"] == "anomaly")
        .map(|d| {
            let e = d["evidence"]["explanation"].as_str().unwrap_or("");
            e.contains("usual") && e.contains("threshold")
        })
        .collect();
    assert_eq!(explained, BTreeSet::from([true]));
}

#[test]
fn hunt_without_rules_needs_a_learned_detector() {
    let run = palisade(&["hunt", "examples/logs"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--rules"), "{}", run.stderr);
}

#[test]
fn hunt_beacon_finds_the_njrat_check_ins() {
    let Some(f) = data_file("stratosphere-zeek/001-zeek-scenario-malicious/labeled-conn.log")
    else {
        return;
    };
    let run = palisade(&[
        "hunt",
        s(&f),
        "--detectors",
        "beacon",
        "--format",
        "ndjson",
        "--no-triage",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let alerts: Vec<Json> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("ndjson"))
        .collect();
    let c2 = alerts
        .iter()
        .find(|a| a.to_string().contains("41.108.179.197"))
        .expect("the NjRAT C2 check-ins are a beacon");
    assert_eq!(c2["rule"]["id"], "beacon.c2");
    assert!(c2.to_string().contains("192.168.1.115"));
    // Multicast neighbour discovery, periodic by design, is not reported.
    assert!(alerts.iter().all(|a| !a.to_string().contains("ff02::")));
}

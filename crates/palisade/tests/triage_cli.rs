//! Triage through the binary: the ranked queue after `hunt`, analysts working it with
//! `incidents` and `suppressions` across separate processes, and `eval triage` on the labelled
//! Stratosphere Zeek captures.

mod common;

use std::path::PathBuf;

use common::{data_file, palisade, s};
use serde_json::Value as Json;

/// A store in a temporary directory of its own (removed when dropped).
struct TempDb {
    _dir: tempfile::TempDir,
    path: PathBuf,
}
impl TempDb {
    fn new() -> TempDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        TempDb { _dir: dir, path }
    }
}

fn hunt_json(db: &TempDb) -> Json {
    let run = palisade(&[
        "hunt",
        "examples/logs",
        "--rules",
        "examples/rules",
        "--store",
        s(&db.path),
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).expect("one JSON document")
}

fn json_of(args: &[&str]) -> Json {
    let run = palisade(args);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", run.stdout))
}

fn points(c: &Json) -> f64 {
    c["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["points"].as_f64().unwrap())
        .sum()
}

#[test]
fn hunt_ranks_incidents_that_explain_themselves() {
    let db = TempDb::new();
    let doc = hunt_json(&db);
    let inc = doc["incidents"].as_array().expect("incidents");
    let detections = doc["detections"].as_array().unwrap().len();
    assert!(
        !inc.is_empty() && inc.len() < detections,
        "{} incidents from {detections} alerts",
        inc.len()
    );
    assert_eq!(doc["summary"]["incidents"], inc.len());
    let prios: Vec<f64> = inc
        .iter()
        .map(|i| i["priority"].as_f64().unwrap())
        .collect();
    assert!(prios.windows(2).all(|w| w[0] >= w[1]), "ranked: {prios:?}");
    for i in inc {
        assert!(
            (points(i) - i["priority"].as_f64().unwrap()).abs() < 1e-6,
            "breakdown adds up: {i}"
        );
        assert!(!i["reason"].as_str().unwrap().is_empty());
        for g in i["timeline"].as_array().unwrap() {
            assert!((points(g) - g["priority"].as_f64().unwrap()).abs() < 1e-6);
        }
    }
    // The planted Windows intrusion on ws01 (Office → encoded PowerShell → LSASS dump …) is
    // one incident across its tactics, ranked at the top.
    let ws01 = inc
        .iter()
        .find(|i| {
            i["entities"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["value"] == "ws01.corp.example.com")
        })
        .expect("ws01 incident");
    assert!(ws01["alert_count"].as_u64().unwrap() >= 4, "{ws01}");
    assert!(
        ws01["tactic_names"].as_array().unwrap().len() >= 3,
        "{ws01}"
    );
    assert!(ws01["priority"].as_f64().unwrap() >= 80.0);
    // The text run prints the queue after the summary.
    let run = palisade(&[
        "hunt",
        "examples/logs",
        "--rules",
        "examples/rules",
        "--format",
        "ndjson",
    ]);
    assert!(run.stderr.contains("Incident queue: top"), "{}", run.stderr);
}

#[test]
fn analysts_work_the_queue_across_processes() {
    let db = TempDb::new();
    let first = hunt_json(&db);
    let n_first = first["incidents"].as_array().unwrap().len();
    let listed = json_of(&[
        "incidents",
        "list",
        "--store",
        s(&db.path),
        "--format",
        "json",
    ]);
    assert_eq!(listed.as_array().unwrap().len(), n_first);

    // The web01 account-creation incident is judged benign (an admin's scripted set-up).
    let web01 = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["title"].as_str().unwrap().contains("web01"))
        .expect("web01 incident")["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let shown = json_of(&[
        "incidents",
        "show",
        &web01,
        "--store",
        s(&db.path),
        "--format",
        "json",
    ]);
    assert!(!shown["timeline"].as_array().unwrap().is_empty());
    // The table view tells the same story in words.
    let text = palisade(&["incidents", "show", &web01, "--store", s(&db.path)]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    for part in [
        "Score breakdown:",
        "Timeline (kill-chain order):",
        "Entities (",
        "host:web01",
    ] {
        assert!(
            text.stdout.contains(part),
            "{part:?} missing from:\n{}",
            text.stdout
        );
    }
    assert!(text.stdout.contains(shown["title"].as_str().unwrap()));
    let fp = palisade(&[
        "incidents",
        "fp",
        &web01,
        "--note",
        "provisioning script",
        "--actor",
        "ana",
        "--store",
        s(&db.path),
    ]);
    assert_eq!(fp.code, 0, "{}", fp.stderr);
    assert!(fp.stdout.contains("suppression #1 added"), "{}", fp.stdout);
    let sups = json_of(&[
        "suppressions",
        "list",
        "--store",
        s(&db.path),
        "--format",
        "json",
    ]);
    let sups = sups.as_array().unwrap();
    assert!(!sups.is_empty());
    assert!(sups.iter().all(|x| x["author"] == "ana"
        && x["active"] == true
        && x["reason"].as_str().unwrap().contains("false positive")));

    // Next run over the same logs: web01's alerts are suppressed (kept, named), the rest stay.
    let second = hunt_json(&db);
    let n_second = second["incidents"].as_array().unwrap().len();
    assert_eq!(
        n_second,
        n_first - 1,
        "only the judged incident leaves the queue"
    );
    assert_eq!(second["summary"]["suppressed_incidents"], 1);
    assert_eq!(
        second["detections"].as_array().unwrap().len(),
        first["detections"].as_array().unwrap().len(),
        "suppressed alerts are still reported"
    );

    // Revoked: back in the queue on the next run.
    for x in sups {
        let id = x["id"].as_u64().unwrap().to_string();
        let rv = palisade(&[
            "suppressions",
            "revoke",
            &id,
            "--actor",
            "bo",
            "--store",
            s(&db.path),
        ]);
        assert_eq!(rv.code, 0, "{}", rv.stderr);
    }
    let id = sups[0]["id"].as_u64().unwrap().to_string();
    let again = palisade(&["suppressions", "revoke", &id, "--store", s(&db.path)]);
    assert_eq!(again.code, 2, "revoking twice is an error");
    let third = hunt_json(&db);
    assert_eq!(third["summary"]["suppressed_incidents"], 0);
    // Each run files its own incidents; --run latest shows the last run's.
    let latest = json_of(&[
        "incidents",
        "list",
        "--run",
        "latest",
        "--store",
        s(&db.path),
        "--format",
        "json",
    ]);
    assert_eq!(latest.as_array().unwrap().len(), n_first);
    let everything = json_of(&[
        "incidents",
        "list",
        "--store",
        s(&db.path),
        "--format",
        "json",
        "-n",
        "1000",
    ]);
    assert!(everything.as_array().unwrap().len() > n_first);

    // Status, owner and notes; closed incidents leave the default list.
    let top = json_of(&[
        "incidents",
        "list",
        "--store",
        s(&db.path),
        "--format",
        "json",
        "-n",
        "1",
    ]);
    let top_id = top[0]["id"].as_i64().unwrap().to_string();
    assert_eq!(
        palisade(&[
            "incidents",
            "ack",
            &top_id,
            "--owner",
            "ana",
            "--store",
            s(&db.path)
        ])
        .code,
        0
    );
    assert_eq!(
        palisade(&[
            "incidents",
            "note",
            &top_id,
            "--note",
            "isolated the host",
            "--store",
            s(&db.path)
        ])
        .code,
        0
    );
    let shown = json_of(&[
        "incidents",
        "show",
        &top_id,
        "--store",
        s(&db.path),
        "--format",
        "json",
    ]);
    assert_eq!(shown["status"], "acknowledged");
    assert_eq!(shown["owner"], "ana");
    assert_eq!(shown["notes"][0]["text"], "isolated the host");
    assert_eq!(
        palisade(&["incidents", "resolve", &top_id, "--store", s(&db.path)]).code,
        0
    );
    let open = json_of(&[
        "incidents",
        "list",
        "--store",
        s(&db.path),
        "--format",
        "json",
    ]);
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .all(|i| i["id"].as_i64().unwrap().to_string() != top_id)
    );
    let all = json_of(&[
        "incidents",
        "list",
        "--all",
        "--store",
        s(&db.path),
        "--format",
        "json",
    ]);
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|i| i["status"] == "resolved")
    );
}

#[test]
fn allowlist_entries_and_bad_input() {
    let db = TempDb::new();
    hunt_json(&db);
    let add = palisade(&[
        "suppressions",
        "add",
        "--entity",
        "ip:203.0.113.0/24",
        "--reason",
        "our scanner",
        "--expires",
        "7",
        "--store",
        s(&db.path),
    ]);
    assert_eq!(add.code, 0, "{}", add.stderr);
    let doc = hunt_json(&db);
    let queue = doc["incidents"].as_array().unwrap();
    assert!(
        queue.iter().all(|i| !i["entities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["value"] == "203.0.113.7")),
        "allowlisted network left the queue"
    );
    for (args, needle) in [
        (vec!["incidents", "show", "999"], "no incident 999"),
        (
            vec![
                "suppressions",
                "add",
                "--entity",
                "planet:mars",
                "--reason",
                "x",
            ],
            "unknown entity kind",
        ),
        (
            vec!["suppressions", "add", "--reason", "x"],
            "would silence everything",
        ),
        (
            vec![
                "suppressions",
                "add",
                "--entity",
                "user:bob",
                "--reason",
                "x",
                "--expires",
                "soon",
            ],
            "--expires soon",
        ),
        (
            vec!["incidents", "list", "--status", "done"],
            "unknown status",
        ),
    ] {
        let mut full = args.clone();
        full.extend_from_slice(&["--store", s(&db.path)]);
        let run = palisade(&full);
        assert_eq!(run.code, 2, "{full:?}");
        assert!(run.stderr.contains(needle), "{full:?}: {}", run.stderr);
    }
    let missing = palisade(&["incidents", "list", "--store", "/nonexistent/x.db"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("no such store"));
}

#[test]
fn eval_triage_on_the_stratosphere_zeek_mix() {
    let (Some(a), Some(b)) = (
        data_file("stratosphere-zeek/001-zeek-scenario-malicious/labeled-conn.log"),
        data_file("stratosphere-zeek/008-zeek-mixed/data/conn.log.labeled"),
    ) else {
        return;
    };
    let eval = |extra: &[&str]| {
        let mut args = vec!["eval", "triage", s(&a), s(&b), "--format", "json"];
        args.extend_from_slice(extra);
        let doc = json_of(&args);
        for k in [
            "alerts",
            "incidents",
            "precision_at_10",
            "malicious_entities",
            "malicious_entities_in_incidents",
            "fp_incidents_before",
            "fp_incidents_after",
            "tp_incidents_lost",
        ] {
            assert!(
                doc.get(k).is_some_and(|v| v.is_number()),
                "key {k} in {doc}"
            );
        }
        let f = |k: &str| doc[k].as_f64().unwrap();
        eprintln!(
            "eval triage {extra:?}: {} alerts → {} incidents, precision@10 {:.2}, malicious entities {}/{}, FP incidents {} → {}, TP lost {}",
            f("alerts"),
            f("incidents"),
            f("precision_at_10"),
            f("malicious_entities_in_incidents"),
            f("malicious_entities"),
            f("fp_incidents_before"),
            f("fp_incidents_after"),
            f("tp_incidents_lost")
        );
        doc
    };
    let f = |doc: &Json, k: &str| doc[k].as_f64().unwrap();
    // Quality floors just below the measured figures (BENCHMARKS.md), so a regression fails.
    let plain = eval(&[]);
    assert!(
        f(&plain, "incidents") < f(&plain, "alerts"),
        "incidents group alerts"
    );
    assert!(f(&plain, "precision_at_10") >= 0.9);
    assert!(f(&plain, "malicious_entities_in_incidents") >= 0.95 * f(&plain, "malicious_entities"));
    assert_eq!(f(&plain, "tp_incidents_lost"), 0.0);
    // With the beacon detector there are false positives for feedback to remove.
    let beacon = eval(&["--beacon"]);
    assert!(f(&beacon, "fp_incidents_before") >= 4.0);
    assert!(f(&beacon, "fp_incidents_after") <= 0.5 * f(&beacon, "fp_incidents_before"));
    assert_eq!(f(&beacon, "tp_incidents_lost"), 0.0);
}

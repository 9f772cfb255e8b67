//! End-to-end tests of `palisade intel` and `palisade hunt --detectors ioc`: the triage crate's
//! STIX and MISP fixtures and a small CSV are imported into a temporary store, then a small
//! NDJSON log and a Zeek http log (`tests/fixtures/intel/`) are hunted and the hits checked
//! event by event.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value as Json;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> String {
    let p = if name.ends_with(".json") {
        root().join("crates/triage/tests/fixtures").join(name)
    } else {
        root()
            .join("crates/palisade/tests/fixtures/intel")
            .join(name)
    };
    p.to_str().expect("UTF-8 path").to_owned()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn palisade(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("PALISADE_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("the palisade binary runs");
    Run {
        code: out.status.code().expect("exits normally"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8"),
    }
}

fn import_all(db: &str) -> Run {
    palisade(&[
        "intel",
        "import",
        &fixture("stix_bundle.json"),
        &fixture("misp_event.json"),
        &fixture("late.csv"),
        "--source",
        "cert",
        "--store",
        db,
    ])
}

/// (indicator, matched field, log file name, line) of each IOC detection, sorted.
fn hits(detections: &[Json]) -> Vec<(String, String, String, u64)> {
    let mut v: Vec<_> = detections
        .iter()
        .filter(|d| d["detector"] == "ioc")
        .map(|d| {
            let file = d["log"]["file"]["path"].as_str().unwrap();
            (
                d["evidence"]["indicator"].as_str().unwrap().to_owned(),
                d["evidence"]["matched.field"].as_str().unwrap().to_owned(),
                Path::new(file)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                d["log"]["position"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn expected() -> Vec<(String, String, String, u64)> {
    let mut v: Vec<_> = [
        ("198.51.100.7", "destination.ip", "events.ndjson", 1),
        ("evil-c2.example", "dns.question.name", "events.ndjson", 2),
        (
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "file.hash.sha256",
            "events.ndjson",
            4,
        ),
        // Expires 2090: the 2085 event matches, the 2095 one (line 5) does not.
        ("192.0.2.200", "destination.ip", "events.ndjson", 6),
        ("198.51.100.23", "id.resp_h", "http.log", 5),
        ("bad.example", "host", "http.log", 5),
        ("bad.example/payload.bin", "uri", "http.log", 5),
    ]
    .iter()
    .map(|(a, b, c, d)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned(), *d))
    .collect();
    v.sort();
    v
}

fn ndjson(out: &str) -> Vec<Json> {
    out.lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON line"))
        .collect()
}

#[test]
fn import_then_hunt_finds_each_planted_indicator_and_stores_the_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let db = db.to_str().unwrap();
    let run = import_all(db);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // 7 STIX + 8 MISP + 1 CSV, and the skip reasons named per file and position.
    assert!(
        run.stdout.contains("imported 16 indicators from 3 files"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("16 new, 0 updated"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("stix_bundle.json: objects[4] (indicator--rev): revoked"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("misp_event.json: Event.Attribute[4]: to_ids is false"),
        "{}",
        run.stderr
    );

    // Importing again updates instead of duplicating.
    let again = import_all(db);
    assert!(
        again.stdout.contains("0 new, 16 updated"),
        "{}",
        again.stdout
    );

    let run = palisade(&[
        "hunt",
        &fixture("events.ndjson"),
        &fixture("http.log"),
        "--detectors",
        "ioc",
        "--store",
        db,
        "--format",
        "ndjson",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let detections = ndjson(&run.stdout);
    assert_eq!(hits(&detections), expected());
    let d = detections
        .iter()
        .find(|d| d["evidence"]["indicator"] == "198.51.100.7")
        .unwrap();
    assert_eq!(d["rule"]["id"], "ioc:cert");
    assert_eq!(d["rule"]["level"], "high", "STIX confidence 80");
    assert_eq!(d["evidence"]["intel.confidence"], "80");
    assert_eq!(d["evidence"]["intel.source"], "cert");
    assert_eq!(
        d["evidence"]["intel.valid_until"],
        "2030-01-01T00:00:00+00:00"
    );
    assert_eq!(d["host"]["name"], "ws1");

    let conn = rusqlite::Connection::open(db).unwrap();
    let stored: i64 = conn
        .query_row(
            "SELECT count(*) FROM alerts WHERE detector = 'ioc' AND rule_id = 'ioc:cert'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored as usize, expected().len());
}

#[test]
fn intel_files_given_to_hunt_and_sigma_alongside() {
    let run = palisade(&[
        "hunt",
        &fixture("events.ndjson"),
        &fixture("http.log"),
        "--rules",
        "examples/rules",
        "--detectors",
        "sigma,ioc",
        "--intel",
        &fixture("late.csv"),
        &fixture("misp_event.json"),
        "--format",
        "ndjson",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let detections = ndjson(&run.stdout);
    let got = hits(&detections);
    let want: Vec<_> = expected()
        .into_iter()
        .filter(|(ind, ..)| {
            [
                "192.0.2.200",
                "198.51.100.23",
                "bad.example",
                "bad.example/payload.bin",
            ]
            .contains(&ind.as_str())
        })
        .collect();
    assert_eq!(got, want);
    // Each file is its own source.
    let rules: std::collections::BTreeSet<_> = detections
        .iter()
        .filter(|d| d["detector"] == "ioc")
        .map(|d| d["rule"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        rules,
        ["ioc:late.csv".to_owned(), "ioc:misp_event.json".to_owned()].into()
    );
}

#[test]
fn list_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let db = db.to_str().unwrap();
    assert_eq!(import_all(db).code, 0);
    assert_eq!(
        palisade(&[
            "intel",
            "import",
            &fixture("late.csv"),
            "--source",
            "other",
            "--store",
            db
        ])
        .code,
        0
    );
    let run = palisade(&["intel", "list", "--store", db, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let all: Vec<Json> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(all.len(), 17);
    let run = palisade(&[
        "intel", "list", "--store", db, "--source", "other", "--format", "json",
    ]);
    let other: Vec<Json> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(other[0]["value"], "192.0.2.200");
    assert_eq!(other[0]["confidence"], 40);
    assert_eq!(other[0]["description"], "future sinkhole");
    let table = palisade(&["intel", "list", "--store", db]);
    assert!(
        table.stdout.contains("evil-c2.example/gate.php"),
        "{}",
        table.stdout
    );

    let id = all
        .iter()
        .find(|i| i["value"] == "evil-c2.example" && i["source"] == "cert")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = palisade(&["intel", "remove", "--id", &id, "--store", db]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("removed 1 indicators"));
    let run = palisade(&["intel", "remove", "--source", "cert", "--store", db]);
    assert!(
        run.stdout.contains("removed 15 indicators"),
        "{}",
        run.stdout
    );
    let run = palisade(&["intel", "remove", "--source", "cert", "--store", db]);
    assert_eq!(run.code, 2, "nothing left to remove is an error");
    assert!(run.stderr.contains("no stored indicators with source cert"));
    let run = palisade(&["intel", "list", "--store", db, "--format", "json"]);
    let left: Vec<Json> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(left.len(), 1);
    // Neither or both selectors: usage error.
    assert_eq!(palisade(&["intel", "remove", "--store", db]).code, 2);
}

#[test]
fn bad_intel_files_exit_2_naming_file_and_position_and_save_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let db = db.to_str().unwrap();
    let bad = dir.path().join("broken.json");
    std::fs::write(
        &bad,
        "{\"type\": \"bundle\",\n \"objects\": [\n  {\"type\": \"indicator\",}\n]}",
    )
    .unwrap();
    let run = palisade(&[
        "intel",
        "import",
        &fixture("late.csv"),
        bad.to_str().unwrap(),
        "--source",
        "x",
        "--store",
        db,
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("broken.json: line 3, column"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing imported"), "{}", run.stderr);
    // Files are read before the store is opened: a failed import leaves no database behind.
    assert!(!Path::new(db).exists());

    let headerless = dir.path().join("list.csv");
    std::fs::write(&headerless, "1.2.3.4,5\n").unwrap();
    let run = palisade(&[
        "intel",
        "import",
        headerless.to_str().unwrap(),
        "--source",
        "x",
        "--store",
        db,
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("list.csv: line 1: no CSV header"),
        "{}",
        run.stderr
    );

    let run = palisade(&[
        "intel",
        "import",
        &fixture("late.csv"),
        "--source",
        "x",
        "--expires",
        "soon",
        "--store",
        db,
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--expires"), "{}", run.stderr);

    // The ioc detector without any indicators is a usage error, not a silent no-op.
    let run = palisade(&["hunt", &fixture("events.ndjson"), "--detectors", "ioc"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no indicators"), "{}", run.stderr);
}

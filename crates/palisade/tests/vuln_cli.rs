//! `palisade vuln` end to end: scan formats, exit codes, bad input, the store, host checks.

mod common;

use std::path::PathBuf;

use common::{palisade, root, s};

fn fixtures() -> PathBuf {
    root().join("crates/vuln/tests/fixtures")
}

/// A directory of the public data sets; missing fails under CI=true, else skips.
fn data_dir(rel: &str) -> Option<PathBuf> {
    for d in [
        root().join("../shared/data"),
        root().join("../../shared/data"),
    ] {
        if d.join(rel).is_dir() {
            return Some(d.join(rel));
        }
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "data {rel} is missing under CI"
    );
    eprintln!("SKIPPED: {rel} not found");
    None
}

#[test]
fn scan_json_names_advisory_aliases_versions_priority_and_reason() {
    let f = fixtures();
    let r = palisade(&[
        "vuln",
        "scan",
        s(&f.join("lockfiles/node")),
        s(&f.join("lockfiles/go")),
        "--db",
        s(&f.join("osv")),
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 6, "{:#}", doc["findings"]);
    let lodash = findings.iter().find(|x| x["package"] == "lodash").unwrap();
    assert_eq!(lodash["id"], "GHSA-p6mc-m468-83gw");
    assert_eq!(lodash["aliases"][0], "CVE-2020-8203");
    assert_eq!(lodash["fixed"], "4.17.19");
    assert!(lodash["priority"].as_f64().unwrap() > 30.0);
    assert!(
        lodash["reasons"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("CVSS 3.1")
    );
    // Highest priority first.
    let p: Vec<f64> = findings
        .iter()
        .map(|x| x["priority"].as_f64().unwrap())
        .collect();
    assert!(p.windows(2).all(|w| w[0] >= w[1]));
}

#[test]
fn fail_on_and_bad_input_exit_codes() {
    let f = fixtures();
    let db = f.join("osv");
    let lock = f.join("lockfiles/node/package-lock.json");
    let r = palisade(&[
        "vuln",
        "scan",
        s(&lock),
        "--db",
        s(&db),
        "--fail-on",
        "high",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let r = palisade(&[
        "vuln",
        "scan",
        s(&lock),
        "--db",
        s(&db),
        "--fail-on",
        "critical",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // A broken lockfile: exit 2 and the error names the file and position.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.lock"),
        "[[package]]\nname = \"x\"\nversion = \n",
    )
    .unwrap();
    let r = palisade(&["vuln", "scan", s(dir.path()), "--db", s(&db)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("Cargo.lock:3:"), "{}", r.stderr);
    // No advisories at all is a usage error.
    let r = palisade(&["vuln", "scan", s(&lock)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--db"), "{}", r.stderr);
}

#[test]
fn sarif_and_vex_outputs() {
    let f = fixtures();
    let args = |fmt: &'static str| {
        palisade(&[
            "vuln",
            "scan",
            s(&f.join("lockfiles/node/package-lock.json")),
            "--db",
            s(&f.join("osv")),
            "--format",
            fmt,
        ])
    };
    let sarif: serde_json::Value = serde_json::from_str(&args("sarif").stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["results"].as_array().unwrap().len(), 3);
    assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), 2);
    assert_eq!(run["results"][0]["level"], "error");
    let vex: serde_json::Value = serde_json::from_str(&args("cyclonedx-vex").stdout).unwrap();
    assert_eq!(vex["bomFormat"], "CycloneDX");
    let vulns = vex["vulnerabilities"].as_array().unwrap();
    assert_eq!(vulns.len(), 2, "one entry per vulnerability");
    let minimist = vulns
        .iter()
        .find(|v| v["id"] == "GHSA-vh95-rmgr-6w4m")
        .unwrap();
    assert_eq!(minimist["affects"].as_array().unwrap().len(), 2);
}

#[test]
fn db_update_then_scan_from_the_store() {
    let f = fixtures();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("p.db");
    let r = palisade(&[
        "vuln",
        "db",
        "update",
        "--from",
        s(&f.join("osv")),
        "--store",
        s(&store),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("9 documents: 8 new"), "{}", r.stderr);
    let r = palisade(&["vuln", "db", "status", "--store", s(&store)]);
    assert!(
        r.stdout.contains("npm") && r.stdout.contains("Debian"),
        "{}",
        r.stdout
    );
    let r = palisade(&[
        "vuln",
        "scan",
        s(&f.join("host/var/lib/dpkg/status")),
        "--store",
        s(&store),
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let ids: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["DEBIAN-CVE-2023-38408", "DSA-5139-1"]);
    assert_eq!(doc["findings"][1]["binaries"][0], "libssl3");
    // A broken document is named, the rest imported, and the exit says input error.
    let r = palisade(&[
        "vuln",
        "db",
        "update",
        "--from",
        s(&f.join("bad")),
        "--store",
        s(&store),
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("broken.json") && r.stderr.contains("line 2"),
        "{}",
        r.stderr
    );
}

#[test]
fn host_checks_on_a_root() {
    let dir = tempfile::tempdir().unwrap();
    let ssh = dir.path().join("etc/ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::write(
        ssh.join("sshd_config"),
        "PermitRootLogin yes\nPasswordAuthentication no\n",
    )
    .unwrap();
    let r = palisade(&[
        "vuln",
        "host",
        s(dir.path()),
        "--format",
        "json",
        "--fail-on",
        "high",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let checks: Vec<&str> = doc["host_findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["check"].as_str().unwrap())
        .collect();
    assert_eq!(checks, ["ssh-permit-root-login", "firewall-missing"]);
}

#[test]
fn this_repository_against_rustsec() {
    let Some(osv) = data_dir("rustsec-advisory-db/osv") else {
        return;
    };
    let r = palisade(&[
        "vuln",
        "scan",
        "Cargo.lock",
        "--db",
        s(&osv),
        "--format",
        "json",
    ]);
    assert!(r.code == 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(doc["summary"]["packages"].as_u64().unwrap() > 300);
    assert!(doc["summary"]["advisories"].as_u64().unwrap() > 1000);
}

#[test]
fn findings_become_alerts_through_the_example_rules() {
    let f = fixtures();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("vuln.ndjson");
    let r = palisade(&[
        "vuln",
        "scan",
        s(&f.join("lockfiles/node/package-lock.json")),
        "--db",
        s(&f.join("osv")),
        "--format",
        "ecs",
        "-o",
        s(&events),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rules = root().join("examples/rules/vuln");
    let r = palisade(&[
        "hunt",
        s(&events),
        "--rules",
        s(&rules),
        "--format",
        "json",
        "--quiet",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let alerts = doc["detections"]
        .as_array()
        .or_else(|| doc.as_array())
        .expect("detections");
    let levels: Vec<&str> = alerts
        .iter()
        .filter_map(|a| a["rule"]["level"].as_str())
        .collect();
    assert_eq!(alerts.len(), 3, "{doc:#}");
    assert_eq!(
        levels.iter().filter(|l| **l == "high").count(),
        1,
        "{levels:?}"
    );
    assert_eq!(
        levels.iter().filter(|l| **l == "medium").count(),
        2,
        "{levels:?}"
    );
}

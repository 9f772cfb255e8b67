//! `palisade eval auth` through the binary: the login simulation's figures (small run) and the
//! brute-forcing sources it finds in the real loghub OpenSSH log.

mod common;

use common::{data_file, palisade, s};
use serde_json::Value as Json;

const GEOIP: &str = "geoip/ip-location-db/geo-whois-asn-country-ipv4.mmdb";

fn json_of(args: &[&str]) -> Json {
    let run = palisade(args);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", run.stdout))
}

fn unit(doc: &Json, key: &str) -> f64 {
    let v = doc[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing: {doc}"));
    assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    v
}

#[test]
fn simulation_reports_every_figure() {
    let Some(geo) = data_file(GEOIP) else { return };
    let doc = json_of(&[
        "eval",
        "auth",
        "--weeks",
        "2",
        "--users",
        "60",
        "--geoip",
        s(&geo),
        "--format",
        "json",
    ]);
    for key in [
        "ato_detection_rate",
        "legit_challenge_rate",
        "impossible_travel_detection_rate",
        "ato_deny_rate",
        "legit_deny_rate",
    ] {
        unit(&doc, key);
    }
    for key in [
        "spraying_detected_within",
        "stuffing_detected_within",
        "brute_force_detected_within",
    ] {
        let w = &doc[key];
        assert!(w["campaigns"].as_u64().unwrap() > 0, "{key}: {w}");
        assert!(w["attempts"].as_u64().unwrap() > 0, "{key}: {w}");
        let list = w["per_campaign"].as_array().expect("per_campaign");
        assert_eq!(list.len() as u64, w["campaigns"].as_u64().unwrap());
        if let Some(m) = w["max"].as_u64() {
            assert!(m > 0, "{key}: {w}");
        }
    }
    let c = &doc["counts"];
    for key in [
        "legit_logins",
        "takeover_attempts",
        "impossible_travel_attempts",
        "spraying_attempts",
        "stuffing_attempts",
        "brute_force_attempts",
    ] {
        assert!(c[key].as_u64().unwrap() > 0, "{key} = {}", c[key]);
    }
    assert_eq!(doc["seed"].as_u64(), Some(8));
    assert!(doc["split"].as_str().unwrap().contains("warm-up"));
    assert!(doc["geoip"].as_str().unwrap().ends_with(".mmdb"));
    // The same seed gives the same figures.
    let again = json_of(&[
        "eval",
        "auth",
        "--weeks",
        "2",
        "--users",
        "60",
        "--geoip",
        s(&geo),
        "--format",
        "json",
    ]);
    assert_eq!(doc["counts"], again["counts"]);
    assert_eq!(doc["legit_challenge_rate"], again["legit_challenge_rate"]);
}

#[test]
fn openssh_log_brute_forcers_are_listed() {
    let Some(log) = data_file("loghub/OpenSSH/OpenSSH_2k.log") else {
        return;
    };
    let Some(geo) = data_file(GEOIP) else { return };
    let doc = json_of(&[
        "eval",
        "auth",
        "--openssh",
        s(&log),
        "--geoip",
        s(&geo),
        "--format",
        "json",
    ]);
    assert!(doc["auth_events"].as_u64().unwrap() > 500, "{doc}");
    let ips = doc["brute_forcing_ips"].as_array().expect("list");
    assert!(!ips.is_empty(), "{doc}");
    // 183.62.140.253 fails 286 passwords in the file: the log's loudest brute forcer.
    let top = ips
        .iter()
        .find(|i| i["ip"] == "183.62.140.253")
        .unwrap_or_else(|| panic!("183.62.140.253 not flagged: {doc}"));
    assert_eq!(top["attempts"].as_u64(), Some(286));
    let first = top["first_flagged_at_attempt"].as_u64().unwrap();
    assert!((1..=50).contains(&first), "{top}");
}

/// `palisade bench auth` end to end at toy size: it teaches the population, hands the profiles
/// to a real `palisade serve` child (which must restore every one of them), sends assessments
/// over HTTP and the same load to `/healthz`, and reports every figure. Speed is not checked
/// here (BENCHMARKS.md has the measured figures); that the run is complete and consistent is.
#[test]
fn bench_auth_runs_both_parts_at_toy_size() {
    let Some(geo) = data_file(GEOIP) else { return };
    let doc = json_of(&[
        "bench",
        "auth",
        "--users",
        "300",
        "--attempts",
        "200",
        "--rate",
        "200",
        "--seconds",
        "1",
        "--warmup",
        "0",
        "--connections",
        "4",
        "--geoip",
        s(&geo),
        "--format",
        "json",
    ]);
    let p = &doc["in_process"];
    assert_eq!(p["users"], 300, "{doc}");
    assert_eq!(p["attempts"], 200, "{doc}");
    let d = &p["decisions"];
    let total = d["allow"].as_u64().unwrap()
        + d["challenge"].as_u64().unwrap()
        + d["deny"].as_u64().unwrap();
    assert_eq!(total, 200, "{doc}");
    // One in five attempts comes from a random address and a new device: some are challenged,
    // the usual ones are allowed.
    assert!(
        d["challenge"].as_u64().unwrap() + d["deny"].as_u64().unwrap() > 0,
        "{doc}"
    );
    assert!(d["allow"].as_u64().unwrap() > 100, "{doc}");
    assert!(p["bytes_per_user"].as_f64().unwrap() > 300.0, "{doc}");
    let h = &doc["http"];
    assert_eq!(h["restored_users"], 300, "{doc}");
    assert_eq!(h["requests_due"], 200, "{doc}");
    assert_eq!(h["answered_200"], 200, "{doc}");
    assert_eq!(h["failed"], 0, "{doc}");
    assert!(h["latency_ms_p99"].as_f64().unwrap() > 0.0, "{doc}");
    assert_eq!(h["floor_healthz"]["answered_200"], 200, "{doc}");
    // The service scored what was sent, with the same verdicts as in process (same engine
    // state, same attempts).
    assert_eq!(h["decisions"], p["decisions"], "{doc}");
}

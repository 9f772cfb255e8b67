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

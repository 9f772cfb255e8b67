//! Risk-based authentication through a real `palisade serve` (in process, 127.0.0.1): outcomes
//! teach a profile, a usual login is allowed, a new country and device are challenged, password
//! spraying is caught, the nginx `auth_request` endpoint answers with the right codes and
//! headers, tokens and field limits are enforced, and a deny becomes a stored event and an
//! alert of the example auth rule.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const GEOIP: &str = "../shared/data/geoip/ip-location-db/geo-whois-asn-country-ipv4.mmdb";
/// RIPE NCC (NL) and Google DNS (US) in the whois country database.
const HOME: &str = "193.0.6.139";
const ABROAD: &str = "8.8.8.8";
const SPRAYER: &str = "198.51.100.7";

fn geoip() -> Option<PathBuf> {
    let p = std::env::var("PALISADE_TEST_GEOIP")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(GEOIP));
    if p.is_file() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{} is missing: the auth API test needs the ip-location-db GeoIP file (../shared/data/geoip)",
            p.display()
        );
    }
    eprintln!("SKIPPED: {} is missing", p.display());
    None
}

fn start() -> Option<(Service, String, String)> {
    let geo = geoip()?;
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("auth-policy.toml");
    std::fs::write(
        &policy,
        "[always_challenge]\nusers = [\"carol\"]\n\n[[threat_lists]]\nname = \"test_bad\"\nweight = 90\ncidrs = [\"203.0.113.0/24\"]\n",
    )
    .unwrap();
    let mut cfg = config(dir.path(), &["sigma"]);
    cfg.pipeline.rules = vec![repo().join("examples/rules/auth")];
    cfg.auth.geoip = vec![geo];
    cfg.auth.policy = Some(policy);
    let analyst = token(&cfg, "analyst");
    let viewer = token(&cfg, "viewer");
    Some((Service::start_with(dir, cfg), analyst, viewer))
}

fn at(day: i64, secs: i64) -> String {
    let base = chrono::DateTime::parse_from_rfc3339("2026-01-05T09:00:00Z").unwrap();
    (base + chrono::Duration::days(day) + chrono::Duration::seconds(secs)).to_rfc3339()
}

fn assess(svc: &Service, tok: &str, body: Value) -> Value {
    let r = send_json(svc.addr(), "POST", "/api/v1/auth/assess", Some(tok), &body);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn outcome(svc: &Service, tok: &str, body: Value) {
    let r = send_json(svc.addr(), "POST", "/api/v1/auth/outcome", Some(tok), &body);
    assert_eq!(r.status, 204, "{}", r.text());
}

fn signals(a: &Value) -> Vec<String> {
    a["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["signal"].as_str().unwrap().to_string())
        .collect()
}

fn nginx(svc: &Service, tok: Option<&str>, headers: &[(&str, &str)]) -> Response {
    let mut all = vec![("User-Agent", "Mozilla/5.0 Firefox/128.0")];
    all.extend_from_slice(headers);
    request(svc.addr(), "GET", "/api/v1/auth/nginx", tok, &all, b"")
}

#[test]
fn logins_are_learned_scored_and_reported() {
    let Some((svc, tok, viewer)) = start() else {
        return;
    };
    // Ten confirmed logins from home on the laptop teach Alice's profile.
    for d in 0..10 {
        outcome(
            &svc,
            &tok,
            json!({"user": "alice", "ip": HOME, "user_agent": "Mozilla/5.0 Firefox/128.0",
                   "device_id": "laptop", "timestamp": at(d, 0), "outcome": "success"}),
        );
    }
    let usual = assess(
        &svc,
        &tok,
        json!({"user": "alice", "ip": HOME, "user_agent": "Mozilla/5.0 Firefox/128.0",
               "device_id": "laptop", "timestamp": at(10, 0)}),
    );
    assert_eq!(usual["decision"], "allow", "{usual}");
    assert!(usual["risk"].as_u64().unwrap() < 40, "{usual}");

    let stranger = assess(
        &svc,
        &tok,
        json!({"user": "alice", "ip": ABROAD, "user_agent": "Mozilla/5.0 Firefox/128.0",
               "device_id": "new-phone", "timestamp": at(10, 60)}),
    );
    assert_eq!(stranger["decision"], "challenge", "{stranger}");
    let s = signals(&stranger);
    assert!(s.contains(&"new_country".to_string()), "{stranger}");
    assert!(s.contains(&"new_device".to_string()), "{stranger}");

    // One address failing for 20 users is spraying.
    for k in 0..20 {
        outcome(
            &svc,
            &tok,
            json!({"user": format!("user{k}"), "ip": SPRAYER, "user_agent": "python-requests/2.31",
                   "timestamp": at(11, k), "outcome": "failure"}),
        );
    }
    let spray = assess(
        &svc,
        &tok,
        json!({"user": "user99", "ip": SPRAYER, "user_agent": "python-requests/2.31",
               "timestamp": at(11, 30)}),
    );
    assert!(
        spray["decision"] == "deny" || spray["decision"] == "challenge",
        "{spray}"
    );
    assert!(
        signals(&spray).contains(&"password_spraying".to_string()),
        "{spray}"
    );
    assert_eq!(spray["decision"], "deny", "{spray}");

    // nginx auth_request.
    let ok = nginx(
        &svc,
        Some(&tok),
        &[("X-Auth-User", "alice"), ("X-Real-IP", HOME)],
    );
    assert_eq!(ok.status, 204, "{}", ok.text());
    assert!(ok.header("X-Palisade-Risk").is_some());
    assert!(ok.header("X-Palisade-Reasons").is_some());
    let ch = nginx(
        &svc,
        Some(&tok),
        &[
            ("X-Auth-User", "carol"),
            ("X-Forwarded-For", &format!("{HOME}, 10.0.0.1")),
        ],
    );
    assert_eq!(ch.status, 401, "{}", ch.text());
    assert_eq!(ch.header("X-Palisade-Decision"), Some("challenge"));
    assert!(
        ch.header("X-Palisade-Reasons")
            .unwrap()
            .contains("always_challenge"),
        "{:?}",
        ch.headers
    );
    let deny = nginx(
        &svc,
        Some(&tok),
        &[("X-Auth-User", "alice"), ("X-Real-IP", "203.0.113.9")],
    );
    assert_eq!(deny.status, 403, "{}", deny.text());
    assert!(
        deny.header("X-Palisade-Reasons")
            .unwrap()
            .contains("threat_list"),
        "{:?}",
        deny.headers
    );
    assert!(
        deny.header("X-Palisade-Risk")
            .unwrap()
            .parse::<u8>()
            .unwrap()
            >= 80
    );
    // The peer address when nothing is forwarded (127.0.0.1: a new user, allowed).
    let peer = nginx(&svc, Some(&tok), &[("X-Auth-User", "dave")]);
    assert_eq!(peer.status, 204, "{:?}", peer.headers);
    let missing = nginx(&svc, Some(&tok), &[("X-Real-IP", HOME)]);
    assert_eq!(missing.status, 400);
    assert!(missing.text().contains("X-Auth-User"), "{}", missing.text());

    // Tokens: none or unknown → 401, viewer → 403 (before the body is read).
    let body = json!({"user": "alice", "ip": HOME});
    for path in ["/api/v1/auth/assess", "/api/v1/auth/outcome"] {
        assert_eq!(send_json(svc.addr(), "POST", path, None, &body).status, 401);
        assert_eq!(
            send_json(svc.addr(), "POST", path, Some("pal_nope"), &body).status,
            401
        );
        assert_eq!(
            send_json(svc.addr(), "POST", path, Some(&viewer), &body).status,
            403
        );
    }
    assert_eq!(nginx(&svc, None, &[("X-Auth-User", "alice")]).status, 401);
    assert_eq!(
        nginx(&svc, Some(&viewer), &[("X-Auth-User", "alice")]).status,
        403
    );

    // Field limits name the field.
    for (body, field) in [
        (json!({"user": "u".repeat(257), "ip": HOME}), "user"),
        (json!({"user": "", "ip": HOME}), "user"),
        (
            json!({"user": "a", "ip": HOME, "user_agent": "x".repeat(1025)}),
            "user_agent",
        ),
        (
            json!({"user": "a", "ip": HOME, "device_id": "d".repeat(257)}),
            "device_id",
        ),
        (json!({"user": "a", "ip": "999.1.1.1"}), "ip"),
        (
            json!({"user": "a", "ip": HOME, "outcome": "perhaps"}),
            "outcome",
        ),
    ] {
        let r = send_json(svc.addr(), "POST", "/api/v1/auth/assess", Some(&tok), &body);
        assert_eq!(r.status, 400, "{field}: {}", r.text());
        assert!(
            r.json()["error"].as_str().unwrap().starts_with(field),
            "{}",
            r.text()
        );
    }
    let r = send_json(
        svc.addr(),
        "POST",
        "/api/v1/auth/outcome",
        Some(&tok),
        &body,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("outcome"));

    // The spraying deny is a stored event and an alert of the example rule.
    let event = wait_event(
        svc.addr(),
        &tok,
        "field=palisade.auth.decision=deny&entity=198.51.100.7",
        "auth event",
    );
    assert_eq!(event["source"], "auth", "{event}");
    assert_eq!(event["user"], "user99", "{event}");
    let text = event["fields"].to_string();
    assert!(text.contains("password_spraying"), "{event}");
    assert!(text.contains("authentication"), "{event}");
    let start = Instant::now();
    loop {
        let r = get(svc.addr(), "/api/v1/alerts", Some(&tok));
        assert_eq!(r.status, 200, "{}", r.text());
        if r.text().contains("palisade_auth_credential_attack")
            || r.text()
                .contains("Password Spraying or Credential Stuffing")
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no alert from examples/rules/auth: {}",
            r.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // ... and the built-in password-spraying playbook blocks the sprayer (a ban decision:
    // nftables is off in this configuration).
    let start = Instant::now();
    let action = loop {
        let r = get(svc.addr(), "/api/v1/respond/actions", Some(&tok));
        assert_eq!(r.status, 200, "{}", r.text());
        let found = r
            .json()
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["playbook"] == "password-spraying" && a["target"].as_str() == Some(SPRAYER))
            .cloned();
        if let Some(a) = found {
            break a;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the sprayer was not blocked: {}",
            r.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(action["kind"], "block", "{action}");
    assert_eq!(action["mode"], "auto", "{action}");
    let metrics = get(svc.addr(), "/metrics", Some(&tok)).text();
    assert!(
        metrics.contains("palisade_auth_assessments_total{decision=\"deny\"}"),
        "{metrics}"
    );
    svc.stop();
}

#[test]
fn learned_profiles_survive_a_restart() {
    let Some((svc, tok, _)) = start() else {
        return;
    };
    let login = |day: i64| json!({"user": "erin", "ip": HOME, "user_agent": "Mozilla/5.0 Firefox/128.0", "device_id": "erin-laptop", "timestamp": at(day, 0)});
    for day in 0..8 {
        let mut l = login(day);
        l["outcome"] = json!("success");
        outcome(&svc, &tok, l);
    }
    let before = assess(&svc, &tok, login(9));
    assert_eq!(before["decision"], "allow", "{before}");
    assert!(signals(&before).is_empty(), "{before}");
    let (svc, report) = svc.restart();
    assert_eq!(report.auth_users, 1, "{report:?}");
    assert!(report.auth_restore_error.is_none(), "{report:?}");
    // Same verdict as before the restart: erin's device, address and hours are still known.
    let after = assess(&svc, &tok, login(9));
    assert_eq!(after, before);
    // A user the engine never saw is still new.
    let stranger = assess(
        &svc,
        &tok,
        json!({"user": "frank", "ip": HOME, "user_agent": "Mozilla/5.0 Firefox/128.0", "timestamp": at(9, 0)}),
    );
    assert!(
        signals(&stranger).contains(&"new_user".to_string()),
        "{stranger}"
    );

    // Damaged saved profiles: the service still starts, says why, and knows nobody.
    let mut store = svc.store();
    palisade_store::Store::save_state(
        &mut store,
        palisade_server::pipeline::AUTH_PROFILES,
        b"PALAUTH\0junk",
    )
    .unwrap();
    drop(store);
    let (svc, report) = svc.restart();
    let err = report.auth_restore_error.clone().expect("a restore error");
    assert!(err.contains("saved authentication profiles"), "{err}");
    assert_eq!(report.auth_users, 0);
    let a = assess(&svc, &tok, login(10));
    assert!(signals(&a).contains(&"new_user".to_string()), "{a}");
    svc.stop();
}

#[test]
fn auth_can_be_switched_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &[]);
    cfg.auth.enabled = false;
    let tok = token(&cfg, "analyst");
    let svc = Service::start_with(dir, cfg);
    let r = send_json(
        svc.addr(),
        "POST",
        "/api/v1/auth/assess",
        Some(&tok),
        &json!({"user": "a", "ip": HOME}),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    svc.stop();
}

#[test]
fn sshd_sign_ins_in_the_logs_teach_the_engine() {
    let Some((svc, analyst, _)) = start() else {
        return;
    };
    // Six failed SSH passwords for dave from one address, as sshd logs them, through ingest.
    let now = chrono::Utc::now();
    let mut lines = String::new();
    for k in 0..6 {
        let t = (now - chrono::Duration::seconds(60 - k * 5)).format("%b %e %H:%M:%S");
        lines.push_str(&format!(
            "<38>{t} bastion sshd[{}]: Failed password for dave from 192.0.2.77 port {} ssh2\n",
            700 + k,
            50000 + k
        ));
    }
    let r = request(
        svc.addr(),
        "POST",
        "/api/v1/events?format=syslog",
        Some(&analyst),
        &[("Content-Type", "text/plain")],
        lines.as_bytes(),
    );
    assert!(r.status < 300, "{}", r.text());
    wait_applied(svc.state(), 6);
    // The next attempt for dave is assessed with those failures counted.
    let a = assess(
        &svc,
        &analyst,
        json!({"user": "dave", "ip": "192.0.2.77", "user_agent": "OpenSSH_9.2", "timestamp": now.to_rfc3339()}),
    );
    assert!(
        signals(&a).iter().any(|s| s == "user_failures"),
        "the logged failures did not reach the engine: {a}"
    );
    svc.stop();
}

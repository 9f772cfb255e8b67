//! Playbooks in a real `palisade serve` (in process, on 127.0.0.1; nftables off, so blocks are
//! published as decisions only): an SSH brute force ingested as syslog becomes an incident, the
//! built-in playbook blocks its source at once (a ban decision bouncers see), and the operator
//! surface works — approve, deny, revert, the log, the allowlist and dry-run.

mod common;

use std::time::{Duration, Instant};

use common::*;
use palisade_server::config::ServeConfig;
use serde_json::{Value, json};

/// `n` failed SSH passwords from `ip` (RFC 3164, as sshd writes them), one second apart.
fn brute_force(ip: &str, n: usize) -> Vec<u8> {
    let mut out = String::new();
    for k in 0..n {
        out.push_str(&format!(
            "<38>Nov 28 03:10:{:02} web-1 sshd[4242]: Failed password for invalid user admin{k} from {ip} port {} ssh2\n",
            10 + k,
            40000 + k
        ));
    }
    out.into_bytes()
}

fn ingest(svc: &Service, token: &str, body: &[u8]) {
    let r = request(
        svc.addr(),
        "POST",
        "/api/v1/events?format=syslog",
        Some(token),
        &[("Content-Type", "text/plain")],
        body,
    );
    assert!(r.status < 300, "ingest: {} {}", r.status, r.text());
}

/// Polls the action list until `pred` holds for one action; returns it.
fn wait_action(svc: &Service, token: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let r = get(svc.addr(), "/api/v1/respond/actions", Some(token));
        assert_eq!(r.status, 200, "{}", r.text());
        if let Some(a) = r.json().as_array().unwrap().iter().find(|a| pred(a)) {
            return a.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no such response action; have: {}",
            r.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start(mutate: impl FnOnce(&mut ServeConfig)) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &["sigma"]);
    cfg.pipeline.rules = vec![repo().join("examples/rules/linux")];
    mutate(&mut cfg);
    Service::start_with(dir, cfg)
}

fn bouncer_sees(svc: &Service, key: &str, ip: &str) -> bool {
    let r = request(
        svc.addr(),
        "GET",
        &format!("/v1/decisions?ip={ip}"),
        None,
        &[("X-Api-Key", key)],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    !r.json().is_null()
}

#[test]
fn a_brute_force_is_blocked_by_the_builtin_playbook_and_reverted_by_an_analyst() {
    let svc = start(|_| {});
    let analyst = token(&svc.cfg, "analyst");
    let viewer = token(&svc.cfg, "viewer");
    let key = palisade_server::auth::issue_bouncer_key(&mut svc.store(), "fw", "test")
        .unwrap()
        .1;
    // Four failures: below the rule's threshold of five, nothing happens.
    ingest(&svc, &analyst, &brute_force("198.51.100.23", 4));
    wait_applied(svc.state(), 4);
    assert!(!bouncer_sees(&svc, &key, "198.51.100.23"));
    // The fifth crosses it: blocked by ssh-rdp-brute-force, auto, 4 h.
    ingest(&svc, &analyst, &brute_force("198.51.100.23", 1));
    let a = wait_action(&svc, &viewer, |a| a["target"] == "198.51.100.23");
    assert_eq!(a["playbook"], "ssh-rdp-brute-force");
    assert_eq!(
        (a["kind"].as_str(), a["mode"].as_str()),
        (Some("block"), Some("auto"))
    );
    assert_eq!(a["state"], "active", "{a}");
    assert!(
        a["incident"].as_i64().unwrap() > 0,
        "linked to its incident: {a}"
    );
    assert!(a["expires"].is_string(), "a 4 h block expires: {a}");
    assert!(
        a["revert"].as_str().unwrap().contains("198.51.100.23"),
        "{a}"
    );
    assert!(bouncer_sees(&svc, &key, "198.51.100.23"));
    // More failures from the same address do not add a second action (cooldown).
    ingest(&svc, &analyst, &brute_force("198.51.100.23", 6));
    wait_applied(svc.state(), 11);
    std::thread::sleep(Duration::from_millis(500));
    let all = get(svc.addr(), "/api/v1/respond/actions", Some(&viewer)).json();
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");

    // A viewer may look but not revert.
    let id = a["id"].as_i64().unwrap();
    let path = format!("/api/v1/respond/actions/{id}/revert");
    assert_eq!(
        send_json(svc.addr(), "POST", &path, Some(&viewer), &json!({})).status,
        403
    );
    let r = send_json(svc.addr(), "POST", &path, Some(&analyst), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "reverted");
    assert!(
        !bouncer_sees(&svc, &key, "198.51.100.23"),
        "the decision is withdrawn"
    );
    // Reverting twice is refused with a reason, not a crash.
    let r = send_json(svc.addr(), "POST", &path, Some(&analyst), &json!({}));
    assert_eq!(r.status, 400, "{}", r.text());

    // The log holds every step, with who and how to revert; the audit log names the analyst.
    let d = get(
        svc.addr(),
        &format!("/api/v1/respond/actions/{id}"),
        Some(&viewer),
    )
    .json();
    let events: Vec<&str> = d["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, vec!["reverted", "active"], "{d}");
    assert!(d["log"][1]["detail"]["revert"].is_string(), "{d}");
    let admin = token(&svc.cfg, "admin");
    let audit = get(svc.addr(), "/api/v1/audit", Some(&admin)).text();
    assert!(audit.contains("respond.revert"), "{audit}");
    let playbooks = get(svc.addr(), "/api/v1/respond/playbooks", Some(&viewer)).json();
    assert!(
        playbooks
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "ssh-rdp-brute-force"),
        "{playbooks}"
    );
    svc.stop();
}

#[test]
fn approvals_wait_for_an_analyst_and_the_allowlist_and_dry_run_hold() {
    // An approve-mode playbook for the same incidents, besides the built-in one.
    let dir = tempfile::tempdir().unwrap();
    let books = dir.path().join("approve.yml");
    std::fs::write(
        &books,
        "id: ssh-lock-after-approval\ntitle: Block after approval\ntrigger:\n  tags: [attack.t1110.001]\nactions:\n  - decision:\n      target: source.ip\nmode: approve\nttl: 1h\n",
    )
    .unwrap();
    let svc = start(|c| {
        c.respond.builtin_playbooks = false;
        c.respond.playbooks = vec![books.clone()];
        c.respond.allow_cidrs = vec!["203.0.113.0/24".into()];
    });
    let analyst = token(&svc.cfg, "analyst");
    ingest(&svc, &analyst, &brute_force("198.51.100.40", 5));
    ingest(&svc, &analyst, &brute_force("198.51.100.41", 5));
    ingest(&svc, &analyst, &brute_force("203.0.113.9", 5));
    let p40 = wait_action(&svc, &analyst, |a| a["target"] == "198.51.100.40");
    let p41 = wait_action(&svc, &analyst, |a| a["target"] == "198.51.100.41");
    assert_eq!(
        (p40["state"].as_str(), p41["state"].as_str()),
        (Some("pending"), Some("pending"))
    );
    assert!(
        p40["runs"].as_str().unwrap().contains("198.51.100.40"),
        "{p40}"
    );
    // The allowlisted network is refused, with the reason recorded.
    let allowed = wait_action(&svc, &analyst, |a| a["target"] == "203.0.113.9");
    assert_eq!(allowed["state"], "refused", "{allowed}");
    assert!(
        allowed["detail"].as_str().unwrap().contains("allowlist"),
        "{allowed}"
    );

    let act = |id: &Value, step: &str, body: Value| {
        send_json(
            svc.addr(),
            "POST",
            &format!("/api/v1/respond/actions/{id}/{step}"),
            Some(&analyst),
            &body,
        )
    };
    let r = act(&p40["id"], "approve", json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "active");
    assert_eq!(
        r.json()["decided_by"]
            .as_str()
            .map(|s| s.contains("test-analyst")),
        Some(true)
    );
    let r = act(&p41["id"], "deny", json!({"reason": "our scanner"}));
    assert_eq!(r.json()["state"], "denied", "{}", r.text());
    assert!(r.json()["detail"].as_str().unwrap().contains("our scanner"));
    // Approving what is no longer pending is refused.
    assert_eq!(act(&p41["id"], "approve", json!({})).status, 400);
    assert_eq!(act(&json!(999_999), "approve", json!({})).status, 404);
    let decisions = svc.store();
    use palisade_store::ResponseStore;
    let active = decisions
        .decisions(&Default::default(), chrono::Utc::now().timestamp_millis())
        .unwrap();
    let values: Vec<&str> = active.iter().map(|d| d.value.as_str()).collect();
    assert_eq!(values, vec!["198.51.100.40"]);
    svc.stop();

    // respond.dry_run: the built-in playbook only says what it would do.
    let svc = start(|c| c.respond.dry_run = true);
    let analyst = token(&svc.cfg, "analyst");
    ingest(&svc, &analyst, &brute_force("198.51.100.50", 5));
    let a = wait_action(&svc, &analyst, |a| a["target"] == "198.51.100.50");
    assert_eq!(a["state"], "dry-run", "{a}");
    assert!(
        a["detail"]
            .as_str()
            .unwrap()
            .contains("nft add element inet palisade block4 { 198.51.100.50"),
        "{a}"
    );
    assert!(
        svc.store()
            .decisions(&Default::default(), chrono::Utc::now().timestamp_millis())
            .unwrap()
            .is_empty()
    );
    svc.stop();
}

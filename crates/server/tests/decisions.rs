//! CrowdSec's bouncer protocol on a real `palisade serve` (in process, on 127.0.0.1): bouncer
//! keys, the startup and incremental stream, filters, `null` bodies, address queries, expiry.

mod common;

use std::time::{Duration, Instant};

use common::*;
use palisade_store::{NewDecision, ResponseStore, Scope};

/// What these tests do on top of the common service.
trait Bouncers {
    fn bouncer(&self, name: &str) -> String;
    fn decide(&self, value: &str, scope: Scope, secs: Option<i64>, scenario: &str) -> i64;
}

impl Bouncers for Service {
    /// A new bouncer's key.
    fn bouncer(&self, name: &str) -> String {
        palisade_server::auth::issue_bouncer_key(&mut self.store(), name, "test")
            .unwrap()
            .1
    }

    /// Adds a decision as the CLI or a playbook would (straight into the store).
    fn decide(&self, value: &str, scope: Scope, secs: Option<i64>, scenario: &str) -> i64 {
        let now = chrono::Utc::now().timestamp_millis();
        self.store()
            .add_decision(&NewDecision {
                origin: "palisade".into(),
                kind: "ban".into(),
                scope,
                value: value.into(),
                scenario: scenario.into(),
                reason: "test".into(),
                created_at: now,
                until: secs.map(|s| now + s * 1000),
                action_id: None,
                simulated: false,
            })
            .unwrap()
            .id
    }
}

fn lapi(addr: std::net::SocketAddr, path: &str, key: &str) -> Response {
    request(
        addr,
        "GET",
        path,
        None,
        &[("X-Api-Key", key), ("User-Agent", "test-bouncer/1.0")],
        b"",
    )
}

fn values(v: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| d["value"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn bouncer_routes_refuse_without_a_valid_key_as_crowdsec_does() {
    let svc = Service::start(&["sigma"]);
    let addr = svc.addr();
    for path in [
        "/v1/decisions/stream?startup=true",
        "/v1/decisions?ip=1.2.3.4",
    ] {
        let r = get(addr, path, None);
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.json(), serde_json::json!({"message": "access forbidden"}));
        let r = lapi(addr, path, "not-a-key");
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.json()["message"], "access forbidden");
    }
    // A deleted bouncer's key stops working.
    let key = svc.bouncer("gone");
    assert_eq!(lapi(addr, "/v1/decisions", &key).status, 200);
    assert!(svc.store().delete_bouncer("gone").unwrap());
    assert_eq!(lapi(addr, "/v1/decisions", &key).status, 403);
    svc.stop();
}

#[test]
fn the_stream_sends_active_decisions_at_startup_then_changes_and_expiry() {
    let svc = Service::start(&["sigma"]);
    let addr = svc.addr();
    let key = svc.bouncer("fw");
    // Nothing yet: both lists are JSON null, as CrowdSec sends them.
    let r = lapi(addr, "/v1/decisions/stream?startup=true", &key);
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({"new": null, "deleted": null}));

    let ip = svc.decide("198.51.100.7", Scope::Ip, Some(3600), "ssh-bruteforce");
    svc.decide("2001:db8::7", Scope::Ip, None, "web-scan");
    svc.decide("203.0.113.0/24", Scope::Range, Some(3600), "ssh-bruteforce");
    let r = lapi(addr, "/v1/decisions/stream?startup=true", &key).json();
    assert_eq!(
        values(&r["new"]),
        ["198.51.100.7", "2001:db8::7", "203.0.113.0/24"]
    );
    assert!(r["deleted"].is_null());
    let d = r["new"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["value"] == "198.51.100.7")
        .unwrap()
        .clone();
    assert_eq!(d["id"], ip);
    assert_eq!(
        (d["scope"].as_str(), d["type"].as_str()),
        (Some("Ip"), Some("ban"))
    );
    assert_eq!(d["origin"], "palisade");
    assert_eq!(d["simulated"], false);
    assert_eq!(d["uuid"].as_str().unwrap().len(), 36);
    let dur = d["duration"].as_str().unwrap();
    assert!(dur.starts_with("59m5") || dur == "1h0m0s", "{dur}");
    assert!(d["until"].as_str().unwrap().ends_with('Z'));

    // Nothing changed: null, null.
    let r = lapi(addr, "/v1/decisions/stream", &key).json();
    assert!(r["new"].is_null() && r["deleted"].is_null(), "{r}");

    // A new one and a deletion arrive once each.
    svc.decide("192.0.2.50", Scope::Ip, Some(3600), "port-scan");
    assert!(
        svc.store()
            .delete_decision(ip, chrono::Utc::now().timestamp_millis())
            .unwrap()
    );
    let r = lapi(addr, "/v1/decisions/stream?startup=false", &key).json();
    assert_eq!(values(&r["new"]), ["192.0.2.50"]);
    assert_eq!(values(&r["deleted"]), ["198.51.100.7"]);
    assert!(
        r["deleted"][0]["duration"]
            .as_str()
            .unwrap()
            .starts_with('-')
    );
    let r = lapi(addr, "/v1/decisions/stream", &key).json();
    assert!(r["new"].is_null() && r["deleted"].is_null(), "{r}");

    // Expiry: serve's once-a-second pass feeds the deletion.
    svc.decide("192.0.2.99", Scope::Ip, Some(1), "port-scan");
    let r = lapi(addr, "/v1/decisions/stream", &key).json();
    assert_eq!(values(&r["new"]), ["192.0.2.99"]);
    let t = Instant::now();
    loop {
        let r = lapi(addr, "/v1/decisions/stream", &key).json();
        if values(&r["deleted"]) == ["192.0.2.99"] {
            break;
        }
        assert!(r["new"].is_null(), "{r}");
        assert!(t.elapsed() < Duration::from_secs(10), "never expired");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The pull is recorded.
    let b = &svc.store().bouncers().unwrap()[0];
    assert_eq!(b.last_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(b.user_agent.as_deref(), Some("test-bouncer/1.0"));
    assert!(b.last_pull_at.is_some());
    // And counted.
    let admin = token(&svc.cfg, "admin");
    let m = get(addr, "/metrics", Some(&admin)).text();
    assert!(m.contains("palisade_bouncer_pulls_total"), "{m}");
    assert!(m.contains("palisade_decisions_active 3"), "{m}");
    svc.stop();
}

#[test]
fn stream_filters_scopes_origins_and_scenarios() {
    let svc = Service::start(&["sigma"]);
    let addr = svc.addr();
    let key = svc.bouncer("fw");
    svc.decide(
        "198.51.100.7",
        Scope::Ip,
        Some(3600),
        "crowdsecurity/ssh-bf",
    );
    svc.decide("203.0.113.0/24", Scope::Range, Some(3600), "http-probing");
    let startup = |q: &str| {
        values(
            &lapi(
                addr,
                &format!("/v1/decisions/stream?startup=true&{q}"),
                &key,
            )
            .json()["new"],
        )
    };
    assert_eq!(startup("scopes=ip"), ["198.51.100.7"]);
    assert_eq!(startup("scopes=Range"), ["203.0.113.0/24"]);
    assert!(startup("scopes=country").is_empty());
    assert_eq!(startup("scenarios_containing=ssh"), ["198.51.100.7"]);
    assert_eq!(startup("scenarios_not_containing=ssh"), ["203.0.113.0/24"]);
    assert!(startup("origins=CAPI").is_empty());
    assert_eq!(startup("origins=palisade,cscli").len(), 2);
    let r = lapi(addr, "/v1/decisions/stream?startup=maybe", &key);
    assert_eq!(r.status, 400);
    svc.stop();
}

#[test]
fn decisions_by_ip_find_ranges_holding_it_and_null_when_none() {
    let svc = Service::start(&["sigma"]);
    let addr = svc.addr();
    let key = svc.bouncer("nginx");
    svc.decide("203.0.113.0/24", Scope::Range, Some(3600), "scan");
    svc.decide("203.0.113.9", Scope::Ip, Some(3600), "scan");
    svc.decide("2001:db8::/32", Scope::Range, None, "scan");
    let q = |p: &str| lapi(addr, p, &key);
    assert_eq!(
        values(&q("/v1/decisions?ip=203.0.113.9").json()),
        ["203.0.113.0/24", "203.0.113.9"]
    );
    assert_eq!(
        values(&q("/v1/decisions?ip=203.0.113.10").json()),
        ["203.0.113.0/24"]
    );
    assert_eq!(
        values(&q("/v1/decisions?ip=2001:db8:1::5").json()),
        ["2001:db8::/32"]
    );
    // Nothing: JSON null, not [].
    let r = q("/v1/decisions?ip=192.0.2.1");
    assert_eq!((r.status, r.text().trim()), (200, "null"));
    // Ranges: holding it (contains=true) or inside it (contains=false).
    assert_eq!(
        values(&q("/v1/decisions?range=203.0.113.0/28").json()),
        ["203.0.113.0/24"]
    );
    assert_eq!(
        values(&q("/v1/decisions?range=203.0.0.0/16&contains=false").json()),
        ["203.0.113.0/24", "203.0.113.9"]
    );
    assert_eq!(
        values(&q("/v1/decisions?scope=ip&value=203.0.113.9").json()),
        ["203.0.113.9"]
    );
    assert_eq!(
        values(&q("/v1/decisions?type=ban&scope=range").json()).len(),
        2
    );
    assert_eq!(q("/v1/decisions?type=captcha").text().trim(), "null");
    assert_eq!(
        q("/v1/decisions?scope=country&value=FR").text().trim(),
        "null"
    );
    assert_eq!(q("/v1/decisions?ip=not-an-ip").status, 400);
    // HEAD answers like GET, without a body.
    let r = request(
        addr,
        "HEAD",
        "/v1/decisions/stream",
        None,
        &[("X-Api-Key", &key)],
        b"",
    );
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    svc.stop();
}

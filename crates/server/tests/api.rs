//! The API of a real `palisade serve` (in process, on 127.0.0.1): tokens and roles on every
//! route of the OpenAPI document, ingest (plain, gzip, bad lines), the pipeline's incidents,
//! analyst changes and the audit log.

mod common;

use std::io::Write;
use std::sync::atomic::Ordering;

use common::*;
use serde_json::json;

fn sysmon_events() -> Vec<u8> {
    std::fs::read(repo().join("examples/logs/windows/sysmon.ndjson")).unwrap()
}

#[test]
fn every_documented_route_needs_a_token_and_the_right_role() {
    let svc = Service::start(&["sigma"]);
    let viewer = token(&svc.cfg, "viewer");
    let admin = token(&svc.cfg, "admin");
    let addr = svc.addr();
    let doc = get(addr, "/api/openapi.json", Some(&viewer)).json();
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 15, "documented paths: {}", paths.len());
    let mut checked = 0;
    for (path, ops) in paths {
        // Fill path parameters with something plausible.
        let concrete = path
            .replace("{id}", "999999")
            .replace("{kind}", "user")
            .replace("{value}", "alice");
        for (method, op) in ops.as_object().unwrap() {
            let m = method.to_uppercase();
            // CrowdSec's bouncer routes take a bouncer key, not a token (tests/decisions.rs);
            // a token is no way in.
            if path.starts_with("/v1/") {
                assert_eq!(request(addr, &m, path, None, &[], b"").status, 403);
                assert_eq!(request(addr, &m, path, Some(&admin), &[], b"").status, 403);
                checked += 1;
                continue;
            }
            let body: &[u8] = if m == "GET" || m == "DELETE" {
                b""
            } else {
                b"{}"
            };
            let hdr = [("Content-Type", "application/json")];
            let r = request(addr, &m, &concrete, None, &hdr, body);
            assert_eq!(r.status, 401, "{m} {path} without a token");
            let r = request(
                addr,
                &m,
                &concrete,
                Some("pal_not-a-real-token"),
                &hdr,
                body,
            );
            assert_eq!(r.status, 401, "{m} {path} with an unknown token");
            // Routes documented as needing more than viewer refuse a viewer.
            let needs_more = op["responses"]
                .as_object()
                .is_some_and(|r| r.contains_key("403"));
            let r = request(addr, &m, &concrete, Some(&viewer), &hdr, body);
            if needs_more {
                assert_eq!(r.status, 403, "{m} {path} as viewer: {}", r.text());
            } else {
                assert_ne!(r.status, 401, "{m} {path} as viewer");
                assert_ne!(r.status, 403, "{m} {path} as viewer");
            }
            // An admin is never refused for its role.
            let r = request(addr, &m, &concrete, Some(&admin), &hdr, body);
            assert!(
                r.status != 401 && r.status != 403,
                "{m} {path} as admin: {}",
                r.status
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "checked {checked} operations");
    // The document is not public either, and neither are the metrics.
    assert_eq!(get(addr, "/api/openapi.json", None).status, 401);
    assert_eq!(get(addr, "/metrics", None).status, 401);
    assert_eq!(get(addr, "/metrics", Some(&viewer)).status, 200);
    svc.stop();
}

#[test]
fn ingest_detect_triage_and_analyst_changes_end_to_end() {
    let svc = Service::start(&["sigma", "ueba"]);
    let analyst = token(&svc.cfg, "analyst");
    let admin = token(&svc.cfg, "admin");
    let addr = svc.addr();

    // Plain NDJSON.
    let body = sysmon_events();
    let lines = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64;
    let r = request(
        addr,
        "POST",
        "/api/v1/events?source=sysmon",
        Some(&analyst),
        &[],
        &body,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["accepted"], lines);
    // Gzip, with two bad lines between good ones: the good ones are still taken.
    let mut mixed = Vec::new();
    mixed.extend_from_slice(b"{\"event\":{\"category\":\"process\"},\"host\":{\"name\":\"a\"}}\n");
    mixed.extend_from_slice(b"{not json\n");
    mixed.extend_from_slice(
        b"{\"host\":{\"name\":\"b\"},\"message\":\"<script>alert(1)</script>\"}\n",
    );
    mixed.extend_from_slice(b"[1,2\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&mixed).unwrap();
    let gz = gz.finish().unwrap();
    let r = request(
        addr,
        "POST",
        "/api/v1/events?source=mixed",
        Some(&analyst),
        &[("Content-Encoding", "gzip")],
        &gz,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let j = r.json();
    assert_eq!(j["accepted"], 2);
    let rejected: Vec<u64> = j["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["line"].as_u64().unwrap())
        .collect();
    assert_eq!(rejected, [2, 4]);
    let last = j["first_seq"].as_u64().unwrap() + 1;
    // Broken gzip and unknown encodings are clear 400s; a bad source name too.
    let r = request(
        addr,
        "POST",
        "/api/v1/events",
        Some(&analyst),
        &[("Content-Encoding", "gzip")],
        b"nope",
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("gzip"));
    let r = request(
        addr,
        "POST",
        "/api/v1/events?source=a/b",
        Some(&analyst),
        &[],
        b"{}\n",
    );
    assert_eq!(r.status, 400);

    wait_applied(svc.state(), last);
    assert_eq!(
        svc.state().progress.events.load(Ordering::Relaxed),
        lines + 2
    );
    // Incidents, best first, with the score breakdown.
    let inc = get(addr, "/api/v1/incidents?status=open", Some(&analyst)).json();
    let list = inc.as_array().unwrap();
    assert!(!list.is_empty(), "the sysmon sample raises incidents");
    let prios: Vec<f64> = list
        .iter()
        .map(|i| i["priority"].as_f64().unwrap())
        .collect();
    assert!(prios.windows(2).all(|w| w[0] >= w[1]), "{prios:?}");
    assert!(
        !list[0]["detail"]["contributions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let id = list[0]["id"].as_i64().unwrap();
    let page = get(addr, &format!("/api/v1/incidents/{id}"), Some(&analyst)).json();
    assert!(
        !page["alerts"].as_array().unwrap().is_empty(),
        "evidence alerts"
    );

    // Events search: by entity and by field.
    let ev = get(addr, "/api/v1/events?entity=b&limit=5", Some(&analyst)).json();
    assert_eq!(ev.as_array().unwrap().len(), 1);
    assert_eq!(ev[0]["fields"]["message"], "<script>alert(1)</script>");
    let ev = get(addr, "/api/v1/events?field=host.name%3Da", Some(&analyst)).json();
    assert_eq!(ev.as_array().unwrap().len(), 1);

    // A false-positive verdict: status, a suppression, and the audit log names the token.
    let r = send_json(
        addr,
        "PATCH",
        &format!("/api/v1/incidents/{id}"),
        Some(&analyst),
        &json!({"status": "false-positive", "note": "admin testing", "scope": "entity"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["incident"]["status"], "false-positive");
    assert!(!j["suppressions"].as_array().unwrap().is_empty());
    let sups = get(addr, "/api/v1/suppressions", Some(&analyst)).json();
    assert!(sups.as_array().unwrap().iter().any(|s| s["active"] == true));
    let audit = get(addr, "/api/v1/audit", Some(&admin)).json();
    let actions: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["actor"].as_str().unwrap(), a["action"].as_str().unwrap()))
        .collect();
    assert!(
        actions.contains(&("token:test-analyst", "incident.update")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("token:test-analyst", "suppression.add")),
        "{actions:?}"
    );

    // Rules: disable one, test one against a sample.
    let rules = get(addr, "/api/v1/rules", Some(&analyst)).json();
    let rule = rules
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["correlation"] == false)
        .unwrap();
    let rid = rule["id"].as_str().unwrap();
    let r = send_json(
        addr,
        "PATCH",
        &format!("/api/v1/rules/{rid}"),
        Some(&analyst),
        &json!({"enabled": false}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["enabled"], false);
    let r = send_json(
        addr,
        "POST",
        &format!("/api/v1/rules/{rid}/test"),
        Some(&analyst),
        &json!({"sample": String::from_utf8_lossy(&body)}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["records"], lines);
    let r = send_json(
        addr,
        "PATCH",
        "/api/v1/rules/no-such-rule",
        Some(&analyst),
        &json!({"enabled": false}),
    );
    assert_eq!(r.status, 404);

    // Entities and status.
    let ents = get(addr, "/api/v1/entities", Some(&analyst)).json();
    assert!(!ents.as_array().unwrap().is_empty(), "risky entities");
    let e = &ents[0];
    let page = get(
        addr,
        &format!(
            "/api/v1/entities/{}/{}",
            e["kind"].as_str().unwrap(),
            e["value"].as_str().unwrap()
        ),
        Some(&analyst),
    )
    .json();
    assert!(page["risk"].as_f64().unwrap() > 0.0);
    assert!(!page["risk_history"].as_array().unwrap().is_empty());
    let st = get(addr, "/api/v1/status", Some(&analyst)).json();
    assert_eq!(st["applied_seq"].as_u64().unwrap(), last);
    let m = get(addr, "/metrics", Some(&analyst)).text();
    assert!(
        m.contains("palisade_events_received_total{source=\"http\"}"),
        "{m}"
    );
    assert!(
        m.contains("palisade_parse_errors_total{source=\"http\"} 2"),
        "{m}"
    );
    svc.stop();
}

#[test]
fn oversized_bodies_are_refused_before_any_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &["ueba"]);
    cfg.server.max_body_bytes = 4096;
    let svc = Service::start_with(dir, cfg);
    let analyst = token(&svc.cfg, "analyst");
    let big = "{\"a\":1}\n".repeat(1000);
    let r = request(
        svc.addr(),
        "POST",
        "/api/v1/events",
        Some(&analyst),
        &[],
        big.as_bytes(),
    );
    assert_eq!(r.status, 413);
    // A gzip bomb: small on the wire, too big decompressed.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![b' '; 1 << 20]).unwrap();
    let gz = gz.finish().unwrap();
    assert!(gz.len() < 4096);
    let r = request(
        svc.addr(),
        "POST",
        "/api/v1/events",
        Some(&analyst),
        &[("Content-Encoding", "gzip")],
        &gz,
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(svc.state().progress.applied.load(Ordering::Acquire), 0);
    svc.stop();
}

#[test]
fn a_token_revoked_through_the_api_stops_working_at_once() {
    let svc = Service::start(&[]);
    let admin = token(&svc.cfg, "admin");
    let analyst = token(&svc.cfg, "analyst");
    let addr = svc.addr();
    // Used (and so remembered by the service) before the revocation.
    assert_eq!(get(addr, "/api/v1/status", Some(&analyst)).status, 200);
    assert_eq!(get(addr, "/api/v1/status", Some(&analyst)).status, 200);
    let tokens = get(addr, "/api/v1/tokens", Some(&admin)).json();
    let id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["role"] == "analyst")
        .expect("the analyst token is listed")["id"]
        .as_i64()
        .unwrap();
    let r = request(
        addr,
        "DELETE",
        &format!("/api/v1/tokens/{id}"),
        Some(&admin),
        &[],
        b"",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(get(addr, "/api/v1/status", Some(&analyst)).status, 401);
    assert_eq!(get(addr, "/api/v1/status", Some(&admin)).status, 200);
    svc.stop();
}

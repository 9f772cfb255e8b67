//! Behaviour of the triage engine on small, hand-made alert streams.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use palisade_event::alert::RuleInfo;
use palisade_event::{Alert, Event, Origin, Severity, Value};
use palisade_triage::{Entity, Status, Triage, TriageConfig, TriageState};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

fn rule(id: &str, level: Severity, tags: &[&str]) -> Arc<RuleInfo> {
    Arc::new(RuleInfo {
        id: id.into(),
        title: format!("Rule {id}"),
        level: Some(level),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        ..RuleInfo::default()
    })
}

fn alert(r: &Arc<RuleInfo>, at: DateTime<Utc>, fields: &[(&str, &str)]) -> Alert {
    let mut ev = Event::new(Origin::default(), "json");
    for (k, v) in fields {
        ev.insert_named(k, Value::from(*v)).unwrap();
    }
    Alert {
        detector: "sigma",
        rule: Arc::clone(r),
        severity: r.level.unwrap_or(Severity::Medium),
        timestamp: Some(at),
        host: ev.get_by_name("host.name").map(|v| v.to_string()),
        evidence: Vec::new(),
        event: Some(Arc::new(ev)),
        origins: Vec::new(),
    }
}

fn sums_up(parts: &[palisade_triage::Contribution], total: f64) -> bool {
    let s: f64 = parts.iter().map(|c| c.points).sum();
    (s - total).abs() < 1e-6
}

#[test]
fn shared_entities_in_time_group_and_identical_alerts_deduplicate() {
    let r1 = rule("r1", Severity::High, &["attack.execution"]);
    let r2 = rule("r2", Severity::Medium, &["attack.credential_access"]);
    let alerts = vec![
        alert(&r1, t0(), &[("host.name", "WS01"), ("user.name", "alice")]),
        alert(
            &r1,
            t0() + Duration::minutes(1),
            &[("host.name", "WS01"), ("user.name", "alice")],
        ),
        alert(
            &r2,
            t0() + Duration::minutes(30),
            &[("user.name", "alice"), ("source.ip", "10.0.0.9")],
        ),
        // Unrelated: other host and user.
        alert(
            &r2,
            t0() + Duration::minutes(31),
            &[("host.name", "WS02"), ("user.name", "bob")],
        ),
        // Same user, but outside the 4 h window of the last alice alert.
        alert(&r1, t0() + Duration::hours(9), &[("user.name", "alice")]),
    ];
    let mut t = Triage::new(TriageConfig::default());
    let out = t.process(&alerts);
    assert_eq!(
        out.incidents.len(),
        3,
        "{:#?}",
        out.incidents.iter().map(|i| &i.title).collect::<Vec<_>>()
    );
    let big = out
        .incidents
        .iter()
        .find(|i| i.alert_count == 3)
        .expect("alice's first three alerts form one incident");
    assert_eq!(
        big.timeline.len(),
        2,
        "the two identical r1 alerts are one timeline line"
    );
    let dup = big.timeline.iter().find(|g| g.rule_id == "r1").unwrap();
    assert_eq!(dup.count, 2);
    assert_eq!(dup.first, Some(t0()));
    assert_eq!(dup.last, Some(t0() + Duration::minutes(1)));
    assert_eq!(big.primary, Some(Entity::parse("user:alice").unwrap()));
    // Kill-chain order: execution (r1) before credential access (r2).
    assert_eq!(big.tactic_names(), ["Execution", "Credential Access"]);
    assert_eq!(big.timeline[0].rule_id, "r1");
    for i in &out.incidents {
        assert!(sums_up(&i.contributions, i.priority), "{i:#?}");
    }
    // Ranked: best first.
    assert!(
        out.incidents
            .windows(2)
            .all(|w| w[0].priority >= w[1].priority)
    );
}

#[test]
fn a_hub_entity_does_not_merge_unrelated_incidents() {
    let r = rule("dns", Severity::Low, &[]);
    // 30 clients all talk to one DNS server: without hub handling this is one incident.
    let alerts: Vec<Alert> = (0..30)
        .map(|k| {
            alert(
                &r,
                t0() + Duration::seconds(k),
                &[
                    ("source.ip", &format!("10.0.1.{k}")),
                    ("destination.ip", "10.0.0.53"),
                ],
            )
        })
        .collect();
    let mut t = Triage::new(TriageConfig::default());
    let out = t.process(&alerts);
    assert_eq!(out.incidents.len(), 30);
    // The hub is still listed on each incident.
    assert!(
        out.incidents
            .iter()
            .all(|i| i.entities.contains(&Entity::parse("ip:10.0.0.53").unwrap()))
    );
    // And the primary entity is the client, not the hub.
    assert!(
        out.incidents
            .iter()
            .all(|i| i.primary.as_ref().unwrap().value.starts_with("10.0.1."))
    );
}

#[test]
fn accumulated_risk_raises_an_incident_no_single_alert_would() {
    // Six different low-severity detections on one user within an hour.
    let alerts: Vec<Alert> = (0..6)
        .map(|k| {
            alert(
                &rule(&format!("low-{k}"), Severity::Low, &[]),
                t0() + Duration::minutes(k * 10),
                &[
                    ("user.name", "carol"),
                    ("process.executable", &format!("/tmp/x{k}")),
                ],
            )
        })
        .collect();
    let cfg = TriageConfig::default();
    let mut t = Triage::new(cfg.clone());
    let out = t.process(&alerts);
    assert!(out.alerts[0].priority < 35.0, "a lone low alert ranks low");
    assert!(
        out.alerts.iter().all(|a| a.priority < cfg.risk_floor),
        "no single alert is severe"
    );
    let inc = &out.incidents[0];
    assert!(inc.risk_triggered);
    assert!(inc.priority >= cfg.risk_floor);
    assert!(inc.reason.contains("accumulated risk"), "{}", inc.reason);
    // A single low alert on a fresh entity does not trigger it.
    let mut fresh = Triage::new(cfg);
    let one = fresh.process(&alerts[..1]);
    assert!(!one.incidents[0].risk_triggered);
}

#[test]
fn breadth_of_tactics_adds_points() {
    let tactics = [
        "attack.execution",
        "attack.persistence",
        "attack.credential_access",
        "attack.lateral_movement",
    ];
    let alerts: Vec<Alert> = tactics
        .iter()
        .enumerate()
        .map(|(k, tag)| {
            alert(
                &rule(&format!("t{k}"), Severity::Medium, &[tag]),
                t0() + Duration::minutes(k as i64),
                &[("host.name", "srv1")],
            )
        })
        .collect();
    let mut t = Triage::new(TriageConfig::default());
    let out = t.process(&alerts);
    let last = out.alerts.last().unwrap();
    let b = last
        .contributions
        .iter()
        .find(|c| c.factor == "breadth")
        .expect("breadth");
    assert_eq!(b.points, 18.0);
    assert!(b.reason.contains("4 ATT&CK tactics"), "{}", b.reason);
    assert!(
        out.alerts[0]
            .contributions
            .iter()
            .all(|c| c.factor != "breadth")
    );
}

#[test]
fn routine_pairs_sink_but_stay_visible_and_new_entities_do_not() {
    let r = rule("backup-share", Severity::Medium, &[]);
    let mut t = Triage::new(TriageConfig::default());
    // Daily for 20 days on the same host.
    for d in 0..20 {
        let a = alert(&r, t0() + Duration::days(d), &[("host.name", "backup01")]);
        t.process(&[a]);
    }
    let today = alert(&r, t0() + Duration::days(20), &[("host.name", "backup01")]);
    let other = alert(&r, t0() + Duration::days(20), &[("host.name", "ws77")]);
    let out = t.process(&[today, other]);
    let routine = out.alerts[0]
        .contributions
        .iter()
        .find(|c| c.factor == "routine")
        .expect("routine");
    assert!(
        routine.reason.contains("seen 20 times in 30 days"),
        "{}",
        routine.reason
    );
    assert!(out.alerts[0].priority < out.alerts[1].priority);
    assert!(out.alerts[0].priority > 0.0, "routine is never hidden");
    assert_eq!(
        out.incidents.len(),
        2,
        "the routine one is still an incident"
    );
}

#[test]
fn false_positive_feedback_suppresses_its_scope_only_and_lowers_fidelity() {
    let r = rule("r-fp", Severity::High, &[]);
    let mut t = Triage::new(TriageConfig::default());
    let first = t.process(&[alert(&r, t0(), &[("host.name", "build01")])]);
    let before = first.alerts[0].priority;
    let sups = t.verdict(&first.incidents[0], Status::FalsePositive, "ana", t0());
    assert_eq!(sups.len(), 1);
    assert_eq!(sups[0].entity, Some(Entity::parse("host:build01").unwrap()));
    assert_eq!(sups[0].author, "ana");
    assert!(sups[0].expires.unwrap() > t0() + Duration::days(29));
    assert_eq!(t.fidelity("r-fp").false_positives, 1);

    let next = t.process(&[
        alert(&r, t0() + Duration::days(1), &[("host.name", "build01")]),
        alert(&r, t0() + Duration::days(1), &[("host.name", "dc01")]),
    ]);
    // Same rule and entity: suppressed, recorded, out of the queue.
    assert_eq!(next.alerts[0].suppressed_by, Some(sups[0].id));
    assert_eq!(next.alerts[0].priority, 0.0);
    assert!(next.incidents.iter().any(|i| i.suppressed));
    // Another entity: still alerted, at a lower fidelity than before.
    assert!(next.alerts[1].suppressed_by.is_none());
    assert!(next.alerts[1].priority < before);
    assert!(
        next.alerts[1]
            .contributions
            .iter()
            .any(|c| c.factor == "fidelity" && c.points < 0.0)
    );
    assert_eq!(next.queue().count(), 1);

    // Revoked: back in the queue.
    assert!(t.revoke(sups[0].id, "bo", t0() + Duration::days(2)));
    assert!(
        !t.revoke(sups[0].id, "bo", t0() + Duration::days(2)),
        "already revoked"
    );
    let again = t.process(&[alert(
        &r,
        t0() + Duration::days(3),
        &[("host.name", "build01")],
    )]);
    assert!(again.alerts[0].suppressed_by.is_none());

    // True positives raise fidelity again.
    t.verdict(&again.incidents[0], Status::TruePositive, "ana", t0());
    assert_eq!(t.fidelity("r-fp").true_positives, 1);
}

#[test]
fn expired_suppressions_no_longer_apply() {
    let r = rule("r", Severity::High, &[]);
    let mut t = Triage::new(TriageConfig {
        suppression_days: 1.0,
        ..TriageConfig::default()
    });
    let first = t.process(&[alert(&r, t0(), &[("user.name", "dave")])]);
    t.verdict(&first.incidents[0], Status::FalsePositive, "ana", t0());
    let later = t.process(&[alert(
        &r,
        t0() + Duration::days(2),
        &[("user.name", "dave")],
    )]);
    assert!(later.alerts[0].suppressed_by.is_none());
}

#[test]
fn state_survives_a_restart() {
    let r = rule("r", Severity::Medium, &["attack.discovery"]);
    let mut t = Triage::new(TriageConfig::default());
    let out = t.process(&[alert(&r, t0(), &[("host.name", "h1")])]);
    t.verdict(&out.incidents[0], Status::FalsePositive, "ana", t0());
    let json = serde_json::to_string(&t.state()).unwrap();
    let state: TriageState = serde_json::from_str(&json).unwrap();
    let mut back = Triage::restore(TriageConfig::default(), state).unwrap();
    assert_eq!(back.suppressions().len(), 1);
    let batch = [
        alert(&r, t0() + Duration::hours(1), &[("host.name", "h1")]),
        alert(&r, t0() + Duration::hours(1), &[("host.name", "h2")]),
    ];
    let a = t.process(&batch);
    let b = back.process(&batch);
    for (x, y) in a.alerts.iter().zip(&b.alerts) {
        assert_eq!(x.priority, y.priority);
        assert_eq!(x.suppressed_by, y.suppressed_by);
    }
    let mut newer = t.state();
    newer.version = 99;
    assert!(Triage::restore(TriageConfig::default(), newer).is_err());
}

#[test]
fn asset_criticality_scales_priority() {
    let cfg: TriageConfig =
        serde_json::from_str(r#"{"assets":[{"name":"dc","hosts":["dc01"],"criticality":5}]}"#)
            .unwrap();
    let r = rule("r", Severity::Medium, &[]);
    let mut t = Triage::new(cfg);
    let out = t.process(&[
        alert(&r, t0(), &[("host.name", "dc01")]),
        alert(&r, t0(), &[("host.name", "ws09")]),
    ]);
    assert!(out.alerts[0].priority > out.alerts[1].priority);
    assert!(
        out.alerts[0]
            .contributions
            .iter()
            .any(|c| c.factor == "criticality" && c.reason.contains("criticality 5"))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Whatever the stream, every priority is within 0..=100, its contributions add up to it,
    /// and every alert lands in exactly one incident.
    #[test]
    fn scores_add_up_and_incidents_partition_alerts(
        spec in proptest::collection::vec((0u8..4, 0u8..5, 0u8..6, 0u8..6, 0i64..20_000), 0..60)
    ) {
        let levels = [Severity::Low, Severity::Medium, Severity::High, Severity::Critical];
        let tags = ["attack.execution", "attack.discovery", "attack.impact", "x", "attack.persistence"];
        let alerts: Vec<Alert> = spec.iter().map(|&(l, tg, u, h, dt)| {
            let r = rule(&format!("r{l}{tg}"), levels[l as usize], &[tags[tg as usize]]);
            alert(&r, t0() + Duration::seconds(dt), &[("user.name", &format!("u{u}")), ("host.name", &format!("h{h}"))])
        }).collect();
        let mut t = Triage::new(TriageConfig::default());
        let out = t.process(&alerts);
        for a in &out.alerts {
            prop_assert!((0.0..=100.0).contains(&a.priority));
            prop_assert!(sums_up(&a.contributions, a.priority));
        }
        let mut seen: Vec<usize> = out.incidents.iter().flat_map(|i| i.alert_indices().collect::<Vec<_>>()).collect();
        seen.sort_unstable();
        prop_assert_eq!(seen, (0..alerts.len()).collect::<Vec<_>>());
        for i in &out.incidents {
            prop_assert!((0.0..=100.0).contains(&i.priority));
            prop_assert!(sums_up(&i.contributions, i.priority));
        }
    }
}

#[test]
fn intel_hits_add_points_by_confidence() {
    let r = rule("ioc:feed", Severity::Medium, &[]);
    let mk = |conf: &str| {
        let mut a = alert(&r, t0(), &[("source.ip", "198.51.100.9")]);
        a.detector = "ioc";
        a.evidence = vec![
            ("intel.source".into(), "feed".into()),
            ("intel.confidence".into(), conf.into()),
        ];
        a
    };
    let mut t = Triage::new(TriageConfig::default());
    let out = t.process(&[mk("90"), mk("20")]);
    let intel = |k: usize| {
        out.alerts[k]
            .contributions
            .iter()
            .find(|c| c.factor == "intel")
            .map(|c| c.points)
            .unwrap()
    };
    assert!((intel(0) - 18.0).abs() < 1e-9);
    assert!((intel(1) - 4.0).abs() < 1e-9);
    assert!(
        out.alerts[0]
            .contributions
            .iter()
            .any(|c| c.reason.contains("from feed (confidence 90)"))
    );
}

#[test]
fn one_rule_re_firing_does_not_pile_up_risk() {
    let r = rule("chatty", Severity::Low, &[]);
    let alerts: Vec<Alert> = (0..30)
        .map(|k| alert(&r, t0() + Duration::minutes(k), &[("user.name", "erin")]))
        .collect();
    let mut t = Triage::new(TriageConfig::default());
    let out = t.process(&alerts);
    assert!(
        !out.incidents[0].risk_triggered,
        "{:#?}",
        out.incidents[0].contributions
    );
    assert!(out.alerts.iter().all(|a| {
        a.contributions
            .iter()
            .all(|c| c.factor != "entity_risk" || c.points <= 3.0 + 1e-9)
    }));
}

//! Subjects built from real triage output: alerts → `Triage` → incident → `Subject` → plan.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use palisade_event::{Alert, Event, Origin, Severity, Value, alert::RuleInfo};
use palisade_respond::{Action, Allowlist, Planner, Subject, default_playbooks};
use palisade_triage::{Triage, TriageConfig};

fn alert(
    detector: &'static str,
    tags: &[&str],
    evidence: &[(&str, &str)],
    event: Option<Event>,
) -> Alert {
    Alert {
        detector,
        rule: Arc::new(RuleInfo {
            id: format!("{detector}-rule"),
            title: "SSH brute force".into(),
            level: Some(Severity::High),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..RuleInfo::default()
        }),
        severity: Severity::High,
        timestamp: Some(Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()),
        host: Some("web-01".into()),
        evidence: evidence
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        event: event.map(Arc::new),
        origins: vec![],
    }
}

#[test]
fn an_incident_from_triage_becomes_a_subject_and_a_block() {
    let mut ev = Event::new(Origin::new(Arc::from("auth.log"), 3), "syslog");
    ev.insert_named("source.ip", Value::Str("203.0.113.9".into()))
        .unwrap();
    ev.insert_named("user.name", Value::Str("root".into()))
        .unwrap();
    ev.insert_named("process.pid", Value::Int(4242)).unwrap();
    let alerts = vec![
        alert(
            "sigma-correlation",
            &["attack.credential_access", "attack.t1110.001"],
            &[("source.ip", "203.0.113.9"), ("count", "57")],
            None,
        ),
        alert("sigma", &["attack.t1110.001"], &[], Some(ev)),
    ];
    let out = Triage::new(TriageConfig::default()).process(&alerts);
    let inc = &out.incidents[0];
    let mine: Vec<&Alert> = inc.alert_indices().map(|i| &alerts[i]).collect();
    let s = Subject::from_incident(inc, &mine);
    assert_eq!(s.fields["source.ip"], ["203.0.113.9"]);
    assert_eq!(s.fields["user.name"], ["root"]);
    assert_eq!(s.fields["process.pid"], ["4242"]);
    assert_eq!(s.fields["host.name"], ["web-01"]);
    assert_eq!(s.fields["evidence.count"], ["57"]);
    assert!(s.fields["alert.evidence"].contains(&"count=57".to_string()));
    assert!(s.tags.contains(&"attack.t1110.001".to_string()));
    assert!(
        s.techniques.contains(&"T1110.001".to_string()),
        "{:?}",
        s.techniques
    );
    assert!(s.detectors.contains(&"sigma-correlation".to_string()));
    let mut p = Planner::new(default_playbooks(), Allowlist::default());
    let planned = p.plan(&s, Utc::now());
    assert_eq!(planned.len(), 1, "{planned:#?}");
    assert!(matches!(planned[0].action, Action::Block { .. }));
    assert_eq!(planned[0].action.target(), "203.0.113.9");
    assert!(planned[0].reason.contains(&format!("incident {}", inc.id)));
}

#[test]
fn a_windows_logon_brute_force_grouped_by_ipaddress_is_blocked_too() {
    // The Windows correlation groups by the Security log's own field name, not ECS.
    let alerts = vec![alert(
        "sigma-correlation",
        &[
            "attack.credential-access",
            "attack.t1110.001",
            "attack.t1110.003",
        ],
        &[("IpAddress", "198.51.100.61"), ("count", "12")],
        None,
    )];
    let out = Triage::new(TriageConfig::default()).process(&alerts);
    let inc = &out.incidents[0];
    let mine: Vec<&Alert> = inc.alert_indices().map(|i| &alerts[i]).collect();
    let s = Subject::from_incident(inc, &mine);
    assert_eq!(s.fields["source.ip"], ["198.51.100.61"]);
    let mut p = Planner::new(default_playbooks(), Allowlist::default());
    let planned = p.plan(&s, Utc::now());
    let blocks: Vec<String> = planned
        .iter()
        .filter(|p| p.refused.is_none() && matches!(p.action, Action::Block { .. }))
        .map(|p| format!("{} {}", p.playbook, p.action.target()))
        .collect();
    assert!(
        blocks.contains(&"ssh-rdp-brute-force 198.51.100.61".to_string()),
        "{planned:#?}"
    );
}

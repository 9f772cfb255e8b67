//! Playbook parsing and validation, trigger and condition matching, target resolution, the
//! allowlist, cooldowns, the blast-radius cap, template safety and describe().

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use ipnet::IpNet;
use palisade_respond::playbook::{ActionSpec, parse_files};
use palisade_respond::{
    Action, Allowlist, Mode, Planner, Subject, default_playbooks, load_path, parse_str,
};
use palisade_triage::{Entity, EntityKind};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

fn err(text: &str) -> String {
    parse_str("playbooks/t.yml", text).unwrap_err().to_string()
}

const MIN: &str = "id: p\ntrigger:\n  detectors: [ioc]\nactions:\n  - block:\n";

fn subject(tags: &[&str], fields: &[(&str, &str)]) -> Subject {
    let mut s = Subject {
        incident: 7,
        title: "SSH brute force".into(),
        priority: 80.0,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        detectors: vec!["sigma".into()],
        ..Subject::default()
    };
    for (k, v) in fields {
        s.add(k, v);
    }
    s
}

fn empty_allow() -> Allowlist {
    Allowlist::default()
}

#[test]
fn minimal_playbook_gets_safe_defaults() {
    let p = parse_str("t.yml", MIN).unwrap();
    let p = &p[0];
    assert_eq!(p.mode, Mode::Approve);
    assert!(p.enabled);
    assert_eq!(p.cooldown, Duration::from_secs(600));
    assert_eq!(p.max_actions.count, 50);
    assert_eq!(p.max_actions.per, Duration::from_secs(600));
    assert_eq!(p.ttl, Some(Duration::from_secs(4 * 3600)));
    assert_eq!(
        p.actions,
        vec![ActionSpec::Block {
            target: None,
            ttl: None
        }]
    );
}

#[test]
fn validation_errors_name_file_line_column_and_key() {
    let bad_ttl = "id: p\ntrigger:\n  detectors: [ioc]\nactions:\n  - block:\n      target: source.ip\n      ttl: 4x\n";
    assert_eq!(
        err(bad_ttl),
        r#"playbooks/t.yml:7:12: actions[0].block.ttl: "4x" is not a duration (use 30s, 10m, 4h, 7d, or permanent)"#
    );
    let cases: &[(&str, &str)] = &[
        (
            "id: p\ntrigger:\n  detectors: [ioc]\nactions:\n  - block:\ncolour: red\n",
            "playbooks/t.yml:6:1: colour: unknown key",
        ),
        (
            "id: p\ntrigger:\n  detector: [ioc]\nactions:\n  - block:\n",
            "playbooks/t.yml:3:3: trigger.detector: unknown key",
        ),
        (
            "id: p\ntrigger: {}\nactions:\n  - block:\n",
            "playbooks/t.yml:2:10: trigger: needs at least one criterion",
        ),
        (
            "id: p\ntrigger:\n  min_priority: 120\nactions:\n  - block:\n",
            "playbooks/t.yml:3:17: trigger.min_priority: \"120\" is not a number from 0 to 100",
        ),
        (
            "id: p\ntrigger:\n  techniques: [T1110, X9]\nactions:\n  - block:\n",
            "playbooks/t.yml:3:23: trigger.techniques: \"X9\" is not an ATT&CK technique",
        ),
        (
            "id: p\ntrigger:\n  entity: router\nactions:\n  - block:\n",
            "playbooks/t.yml:3:11: trigger.entity: unknown entity kind",
        ),
        (
            "trigger:\n  detectors: [ioc]\nactions:\n  - block:\n",
            "playbooks/t.yml:1:1: id: missing",
        ),
        (
            "id: p\ntrigger:\n  detectors: [ioc]\nactions: []\n",
            "playbooks/t.yml:4:10: actions: must list at least one action",
        ),
        (
            "id: p\ntrigger:\n  detectors: [ioc]\nactions:\n  - shutdown: {}\n",
            "playbooks/t.yml:5:5: actions[0].shutdown: unknown key",
        ),
        (
            "id: p\ntrigger:\n  detectors: [ioc]\nactions:\n  - block: {target: source.ip, when: now}\n",
            "playbooks/t.yml:5:32: actions[0].block.when: unknown key",
        ),
        (
            "id: p\ntrigger:\n  detectors: [ioc]\nmode: yolo\nactions:\n  - block:\n",
            "playbooks/t.yml:4:7: mode: \"yolo\": expected auto, approve or dry-run",
        ),
        (
            "id: p\ntrigger:\n  detectors: [ioc]\ncooldown: soon\nactions:\n  - block:\n",
            "playbooks/t.yml:4:11: cooldown: \"soon\" is not a duration",
        ),
        (
            "id: p\ntrigger:\n  detectors: [ioc]\nmax_actions: {count: 0}\nactions:\n  - block:\n",
            "playbooks/t.yml:4:22: max_actions.count: \"0\" is not a whole number above 0",
        ),
        (
            "id: p\ntrigger:\n  detectors: [ioc]\nconditions:\n  - {field: source.ip, op: near, value: x}\nactions:\n  - block:\n",
            "playbooks/t.yml:5:28: conditions[0].op: \"near\"",
        ),
        (
            "id: p\ntrigger:\n  detectors: [ioc]\nconditions:\n  - {field: source.ip, op: cidr, value: 10.0.0.0/33}\nactions:\n  - block:\n",
            "playbooks/t.yml:5:41: conditions[0].value: \"10.0.0.0/33\" is not an address or network",
        ),
        (
            "id: p\ntrigger:\n  detectors: [ioc]\nconditions:\n  - {field: user.name, op: matches, value: \"(\"}\nactions:\n  - block:\n",
            "playbooks/t.yml:5:44: conditions[0].value: not a valid regular expression",
        ),
        (
            "id: p\ntrigger:\n  detectors: [ioc]\nactions:\n  - exec: {argv: [nc, \"{source.ip}\"]}\n",
            "playbooks/t.yml:5:19: actions[0].exec.argv[0]: \"nc\": the program must be an absolute path",
        ),
        (
            "id: p\ntrigger:\n  detectors: [ioc]\nactions:\n  - exec: {argv: [/bin/x, \"{source.ip\"]}\n",
            "playbooks/t.yml:5:27: actions[0].exec.argv[1]: \"{source.ip\": unclosed {",
        ),
        (
            "id: p\ntrigger:\n  detectors: [ioc]\nactions:\n  - exec: {argv: \"/bin/x --ip 1\"}\n",
            "playbooks/t.yml:5:18: actions[0].exec.argv: expected a list",
        ),
        (
            "id: p\ntrigger:\n  detectors: [ioc]\nactions:\n  - webhook: {url: ftp://x}\n",
            "playbooks/t.yml:5:20: actions[0].webhook.url: \"ftp://x\" is not an http:// or https:// URL",
        ),
        (
            "id: p\ntrigger:\n  detectors: [ioc]\nactions:\n  - webhook: {url: \"https://x\", format: xml}\n",
            "playbooks/t.yml:5:41: actions[0].webhook.format: \"xml\": expected json or slack",
        ),
        (
            "id: p\ntrigger:\n  detectors: [ioc]\nactions:\n  - block: {target: \"a b\"}\n",
            "playbooks/t.yml:5:21: actions[0].block.target: \"a b\" is not a field name",
        ),
        (
            "id: p\ntrigger:\n  detectors: [ioc]\nactions:\n  - block:\n  - lock_user:\nenabled: maybe\n",
            "playbooks/t.yml:7:10: enabled: \"maybe\" is not true or false",
        ),
        (
            "id: p\ntrigger:\n  detectors: [ioc\n",
            "playbooks/t.yml:4:1: YAML:",
        ),
        (
            "id: p\nid: q\n",
            "playbooks/t.yml:2:1: YAML: id: key given twice",
        ),
    ];
    let mut bad = Vec::new();
    for (text, want) in cases {
        let got = err(text);
        if !got.starts_with(want) {
            bad.push(format!("{text}\n got: {got}\nwant: {want}…"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
}

#[test]
fn several_errors_are_all_reported() {
    let e = parse_str(
        "t.yml",
        "id: p\ntrigger: {bogus: 1}\nmode: x\nactions: []\n",
    )
    .unwrap_err();
    assert!(e.0.len() >= 3, "{e}");
}

#[test]
fn duplicate_ids_name_both_files_and_multi_document_files_load() {
    let a = "id: one\ntrigger: {detectors: [ioc]}\nactions: [block: ]\n---\nid: two\ntrigger: {detectors: [ioc]}\nactions: [block: ]\n";
    let b = "id: two\ntrigger: {detectors: [beacon]}\nactions: [block: ]\n";
    let e = parse_files([("a.yml".into(), a.into()), ("b.yml".into(), b.into())]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "b.yml:1:5: id: \"two\" is already the id of a playbook in a.yml"
    );
    assert_eq!(parse_str("a.yml", a).unwrap().len(), 2);
}

#[test]
fn directories_load_recursively_yml_and_yaml_only() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("sub")).unwrap();
    std::fs::write(d.path().join("a.yml"), MIN).unwrap();
    std::fs::write(d.path().join("sub/b.yaml"), MIN.replace("id: p", "id: q")).unwrap();
    std::fs::write(d.path().join("notes.txt"), "not yaml: [").unwrap();
    let p = load_path(d.path()).unwrap();
    assert_eq!(
        p.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["p", "q"]
    );
    std::fs::write(d.path().join("sub/c.yml"), MIN).unwrap();
    let e = load_path(d.path()).unwrap_err().to_string();
    assert!(e.contains("c.yml") && e.contains("a.yml"), "{e}");
}

#[test]
fn default_playbooks_load_and_fire_on_what_they_promise() {
    let pbs = default_playbooks();
    let ids: Vec<_> = pbs.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "ssh-rdp-brute-force",
            "password-spraying",
            "known-bad-intel-ip",
            "c2-beaconing-host"
        ]
    );
    let mut planner = Planner::new(pbs, empty_allow());
    // Brute force from outside: blocked 4h, auto.
    let s = subject(
        &["attack.credential_access", "attack.t1110.001"],
        &[("source.ip", "203.0.113.7"), ("source.ip", "10.1.2.3")],
    );
    let p = planner.plan(&s, t0());
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].playbook, "ssh-rdp-brute-force");
    assert_eq!(p[0].mode, Mode::Auto);
    assert_eq!(
        p[0].action,
        Action::Block {
            net: "203.0.113.7/32".parse().unwrap(),
            ttl: Some(Duration::from_secs(4 * 3600))
        }
    );
    assert!(
        p[0].reason.contains("tag attack.t1110.001"),
        "{}",
        p[0].reason
    );
    // IOC: the indicator network is blocked, a domain indicator is not.
    let mut s = subject(
        &[],
        &[
            ("evidence.indicator", "198.51.100.0/24"),
            ("evidence.indicator.kind", "ipv4"),
        ],
    );
    s.detectors = vec!["ioc".into()];
    s.entities = vec![Entity::new(EntityKind::Ip, "198.51.100.9")];
    let p = planner.plan(&s, t0());
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].action.target(), "198.51.100.0/24");
    s.fields.clear();
    s.add("evidence.indicator", "evil.example");
    s.add("evidence.indicator.kind", "domain");
    assert!(planner.plan(&s, t0()).is_empty());
    // Beacon: destination, approval.
    let mut s = subject(
        &[],
        &[("source.ip", "10.0.0.5"), ("destination.ip", "192.0.2.50")],
    );
    s.detectors = vec!["beacon".into()];
    let p = planner.plan(&s, t0());
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].mode, Mode::Approve);
    assert_eq!(p[0].action.target(), "192.0.2.50");
}

fn one(text: &str) -> Planner {
    Planner::new(parse_str("t.yml", text).unwrap(), empty_allow())
}

#[test]
fn triggers_and_within_lists_or_across_criteria() {
    let mut p = one(
        "id: p\ntrigger:\n  tags: [attack.t1110, attack.t1021]\n  min_priority: 50\n  rules: ['*brute*']\nactions: [block: ]\n",
    );
    let mut s = subject(&["attack.t1110.003"], &[("source.ip", "192.0.2.1")]);
    assert!(p.plan(&s, t0()).is_empty(), "no rule matched yet");
    s.rule_names = vec!["SSH Brute Force".into()];
    assert_eq!(p.plan(&s, t0()).len(), 1);
    s.priority = 49.0;
    assert!(p.plan(&s, t0() + chrono::Duration::hours(1)).is_empty());
    s.priority = 60.0;
    s.tags = vec!["attack.t11100".into()];
    assert!(
        p.plan(&s, t0() + chrono::Duration::hours(2)).is_empty(),
        "prefix only at a dot"
    );
    let mut p =
        one("id: p\ntrigger:\n  techniques: [T1110]\n  entity: [user, ip]\nactions: [block: ]\n");
    let mut s = subject(&[], &[("source.ip", "192.0.2.1")]);
    s.techniques = vec!["T1110.001".into()];
    assert!(p.plan(&s, t0()).is_empty(), "no entity");
    s.entities = vec![Entity::new(EntityKind::User, "bob")];
    assert_eq!(p.plan(&s, t0()).len(), 1);
}

#[test]
fn conditions_filter_and_select_targets() {
    let text = "id: p\ntrigger: {min_priority: 0}\nconditions:\n  - {field: source.ip, op: not_cidr, value: 10.0.0.0/8}\n  - {field: user.name, op: in, value: [admin, root, Administrator]}\n  - {field: process.pid, op: gte, value: 100}\n  - {field: host.name, op: matches, value: '^web-\\d+$'}\nactions: [block: ]\n";
    let mut p = one(text);
    let s = subject(
        &[],
        &[
            ("source.ip", "10.0.0.1"),
            ("source.ip", "192.0.2.9"),
            ("source.ip", "2001:db8::5"),
            ("user.name", "ADMINISTRATOR"),
            ("process.pid", "150"),
            ("host.name", "web-01"),
        ],
    );
    let got: Vec<String> = p.plan(&s, t0()).iter().map(|x| x.action.target()).collect();
    assert_eq!(got, ["192.0.2.9", "2001:db8::5"]);
    for (f, v) in [
        ("host.name", "db-01"),
        ("process.pid", "5"),
        ("user.name", "alice"),
    ] {
        let mut s2 = s.clone();
        s2.fields.insert(f.into(), vec![v.into()]);
        assert!(one(text).plan(&s2, t0()).is_empty(), "{f}={v}");
    }
    let mut s3 = s.clone();
    s3.fields.remove("user.name");
    assert!(
        one(text).plan(&s3, t0()).is_empty(),
        "a missing field never passes"
    );
    let mut p = one(
        "id: p\ntrigger: {min_priority: 0}\nconditions:\n  - {field: incident.priority, op: lte, value: 50}\n  - {field: source.ip, op: cidr, value: [192.0.2.0/24]}\n  - {field: user.name, op: not_equals, value: bob}\nactions: [block: ]\n",
    );
    let mut s = subject(&[], &[("source.ip", "192.0.2.1"), ("user.name", "alice")]);
    s.priority = 40.0;
    assert_eq!(p.plan(&s, t0()).len(), 1);
}

#[test]
fn block_target_falls_back_to_primary_ip() {
    let mut p = one(MIN);
    let mut s = subject(&[], &[]);
    s.detectors = vec!["ioc".into()];
    s.primary = Some(Entity::new(EntityKind::Ip, "198.51.100.4"));
    let got = p.plan(&s, t0());
    assert_eq!(got[0].action.target(), "198.51.100.4");
}

#[test]
fn allowlist_refuses_own_addresses_and_ranges_holding_them() {
    let text = "id: p\ntrigger: {min_priority: 0}\nactions:\n  - block: {target: source.ip}\n  - lock_user:\n";
    let mut allow = Allowlist::for_this_host();
    assert!(allow.cidrs.contains(&"127.0.0.0/8".parse().unwrap()));
    assert!(
        allow
            .cidrs
            .iter()
            .any(|c| c.contains(&"::1".parse::<std::net::IpAddr>().unwrap()))
    );
    assert!(!allow.hosts.is_empty(), "the host name");
    allow.add_cidr("192.0.2.10/32".parse().unwrap());
    let mut p = Planner::new(parse_str("t.yml", text).unwrap(), allow);
    let s = subject(
        &[],
        &[
            ("source.ip", "127.0.0.1"),
            ("source.ip", "192.0.2.10"),
            ("source.ip", "192.0.2.0/24"),
            ("source.ip", "0.0.0.0/0"),
            ("source.ip", "::/0"),
            ("source.ip", "fe80::1"),
            ("source.ip", "198.51.100.1"),
            ("user.name", "root"),
            ("user.name", "mallory"),
        ],
    );
    let got = p.plan(&s, t0());
    let ok: Vec<String> = got
        .iter()
        .filter(|x| x.refused.is_none())
        .map(|x| x.action.target())
        .collect();
    assert_eq!(ok, ["198.51.100.1", "mallory"]);
    let refused: Vec<&str> = got.iter().filter_map(|x| x.refused.as_deref()).collect();
    assert_eq!(refused.len(), 7, "{refused:?}");
    assert!(
        refused
            .iter()
            .any(|r| r.contains("192.0.2.0/24 overlaps 192.0.2.")),
        "{refused:?}"
    );
    assert!(refused.iter().any(|r| r.contains("every address")));
}

#[test]
fn cooldown_refuses_repeats_until_it_expires() {
    let mut p = one("id: p\ntrigger: {min_priority: 0}\ncooldown: 10m\nactions: [block: ]\n");
    let s = subject(&[], &[("source.ip", "192.0.2.1")]);
    assert_eq!(p.plan(&s, t0())[0].refused, None);
    let again = p.plan(&s, t0() + chrono::Duration::minutes(9));
    assert!(
        again[0].refused.as_deref().unwrap().starts_with("cooldown"),
        "{again:?}"
    );
    assert_eq!(
        p.plan(&s, t0() + chrono::Duration::minutes(11))[0].refused,
        None
    );
}

#[test]
fn blast_radius_cap_refuses_with_reason() {
    let mut p = one(
        "id: p\ntrigger: {min_priority: 0}\nmax_actions: {count: 3, per: 1h}\nactions: [block: ]\n",
    );
    let mut s = subject(&[], &[]);
    for i in 1..=5 {
        s.add("source.ip", &format!("192.0.2.{i}"));
    }
    let got = p.plan(&s, t0());
    assert_eq!(got.iter().filter(|x| x.refused.is_none()).count(), 3);
    assert!(
        got[4]
            .refused
            .as_deref()
            .unwrap()
            .contains("blast-radius cap: 3 actions within 1h")
    );
    // Still capped 30 minutes later, free again after the hour.
    let s2 = subject(&[], &[("source.ip", "198.51.100.1")]);
    assert!(
        p.plan(&s2, t0() + chrono::Duration::minutes(30))[0]
            .refused
            .is_some()
    );
    assert!(
        p.plan(&s2, t0() + chrono::Duration::minutes(61))[0]
            .refused
            .is_none()
    );
}

#[test]
fn templates_never_split_or_inject() {
    let mut p = one(
        "id: p\ntrigger: {min_priority: 0}\nactions:\n  - exec:\n      argv: [/usr/local/bin/x, --ip, \"{source.ip}\", \"user={user.name}\", \"{{literal}}\"]\n      revert_argv: [/usr/local/bin/x, --undo, \"{source.ip}\"]\n",
    );
    let s = subject(
        &[],
        &[
            ("source.ip", "1.2.3.4; rm -rf /"),
            ("source.ip", "$(reboot)"),
            ("user.name", "a b"),
        ],
    );
    let got = p.plan(&s, t0());
    assert_eq!(got.len(), 2);
    let Action::Exec { argv, revert_argv } = &got[0].action else {
        panic!()
    };
    assert_eq!(
        argv,
        &[
            "/usr/local/bin/x",
            "--ip",
            "1.2.3.4; rm -rf /",
            "user=a b",
            "{literal}"
        ]
    );
    assert_eq!(
        revert_argv.as_deref().unwrap(),
        ["/usr/local/bin/x", "--undo", "1.2.3.4; rm -rf /"]
    );
    assert_eq!(
        got[0].action.describe(),
        "/usr/local/bin/x --ip '1.2.3.4; rm -rf /' 'user=a b' '{literal}'"
    );
    let Action::Exec { argv, .. } = &got[1].action else {
        panic!()
    };
    assert_eq!(argv[2], "$(reboot)");
    // NUL and missing values are refused, not run.
    let s = subject(&[], &[("source.ip", "1.2.3.4\0x")]);
    let mut p = one(
        "id: p\ntrigger: {min_priority: 0}\nactions:\n  - exec: {argv: [/bin/x, \"{source.ip}\"]}\n",
    );
    assert!(
        p.plan(&s, t0())[0]
            .refused
            .as_deref()
            .unwrap()
            .contains("NUL")
    );
    let s = subject(&[], &[("user.name", "x")]);
    assert!(
        p.plan(&s, t0())[0]
            .refused
            .as_deref()
            .unwrap()
            .contains("source.ip has no value")
    );
}

#[test]
fn describe_says_exactly_what_would_run() {
    let b = Action::Block {
        net: "203.0.113.7/32".parse().unwrap(),
        ttl: Some(Duration::from_secs(4 * 3600)),
    };
    assert_eq!(
        b.describe(),
        "nft add element inet palisade block4 { 203.0.113.7 timeout 4h }"
    );
    let b6 = Action::Block {
        net: "2001:db8::/32".parse().unwrap(),
        ttl: None,
    };
    assert_eq!(
        b6.describe(),
        "nft add element inet palisade block6 { 2001:db8::/32 }"
    );
    let d = Action::Decision {
        net: "198.51.100.1/32".parse().unwrap(),
        ttl: Some(Duration::from_secs(3600)),
        scenario: "palisade/x".into(),
    };
    assert!(
        d.describe()
            .starts_with("publish decision: ban 198.51.100.1 for 1h")
    );
    assert_eq!(
        Action::LockUser { user: "bob".into() }.describe(),
        "usermod -L bob"
    );
    let w = Action::Webhook {
        url: "https://hooks.example/x".into(),
        format: palisade_respond::WebhookFormat::Slack,
        headers: vec![("Authorization".into(), "Bearer s3cret".into())],
        body: serde_json::json!({"text": "hi"}),
    };
    let wd = w.describe();
    assert_eq!(
        wd,
        r#"POST https://hooks.example/x -H 'Authorization: <redacted>' {"text":"hi"}"#
    );
    assert!(!wd.contains("s3cret"));
    let k = Action::KillProcess {
        pid: 42,
        host: String::new(),
    };
    assert!(k.describe().contains("not reversible"));
    // Actions round-trip through JSON (the server stores them).
    for a in [b, b6, d, w, k] {
        let j = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Action>(&j).unwrap(), a, "{j}");
    }
}

#[test]
fn dry_run_and_disabled_playbooks() {
    let mut p = one("id: p\nenabled: false\ntrigger: {min_priority: 0}\nactions: [block: ]\n");
    assert!(
        p.plan(&subject(&[], &[("source.ip", "192.0.2.1")]), t0())
            .is_empty()
    );
    let mut p = one(
        "id: p\nmode: dry-run\nttl: permanent\ntrigger: {min_priority: 0}\nactions: [block: ]\n",
    );
    let got = p.plan(&subject(&[], &[("source.ip", "192.0.2.1")]), t0());
    assert_eq!(got[0].mode, Mode::DryRun);
    assert_eq!(got[0].ttl, None);
}

fn arb_subject() -> impl Strategy<Value = Subject> {
    let val = prop_oneof![
        "[0-9./:a-f]{0,20}",
        any::<String>(),
        Just("0.0.0.0/0".to_string()),
        Just("10.0.0.1".to_string()),
        Just("::".to_string())
    ];
    let field = prop_oneof![
        Just("source.ip"),
        Just("destination.ip"),
        Just("user.name"),
        Just("process.pid"),
        Just("file.path"),
        Just("host.name"),
        Just("evidence.indicator")
    ];
    (
        proptest::collection::vec((field, val), 0..12),
        proptest::collection::vec("[a-z.0-9]{0,16}", 0..4),
        -1000.0f64..1000.0,
    )
        .prop_map(|(fields, tags, priority)| {
            let mut s = Subject {
                priority,
                tags: tags.clone(),
                techniques: tags,
                detectors: vec!["ioc".into(), "beacon".into()],
                ..Subject::default()
            };
            for (f, v) in fields {
                s.add(f, &v);
            }
            s
        })
}

proptest! {
    #[test]
    fn plan_never_panics_and_never_targets_allowlisted(s in arb_subject()) {
        let mut pbs = default_playbooks();
        pbs.extend(parse_str("t.yml", "id: all\ntrigger: {min_priority: 0}\nactions:\n  - block:\n  - lock_user:\n  - kill_process:\n  - quarantine:\n  - exec: {argv: [/bin/x, \"{source.ip}\", \"{user.name}\"]}\n  - webhook: {url: \"https://x\", format: slack}\n").unwrap());
        let allow = Allowlist::for_this_host();
        let mut p = Planner::new(pbs, allow.clone());
        for planned in p.plan(&s, t0()) {
            if let (None, Action::Block { net, .. }) = (&planned.refused, &planned.action) {
                prop_assert!(net.prefix_len() > 0);
                prop_assert!(!allow.cidrs.iter().any(|a: &IpNet| a.contains(net) || net.contains(a)));
            }
        }
    }
}

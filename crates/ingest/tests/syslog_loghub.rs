//! Syslog parsing and auth typing over the real loghub OpenSSH and Linux logs.

mod common;

use std::collections::BTreeMap;

use common::{data_dir, read, share, text};
use palisade_ingest::Format;

/// Categories that count as a typed auth event.
const TYPED: [&str; 3] = ["authentication", "iam", "session"];

#[test]
fn loghub_auth_logs_parse_and_type() {
    let Some(data) = data_dir("loghub syslog test") else {
        return;
    };
    for (name, min_typed) in [
        ("OpenSSH/OpenSSH_2k.log", 60.0),
        ("Linux/Linux_2k.log", 40.0),
    ] {
        let path = data.join("loghub").join(name);
        let (out, stats) = read(&path, None);
        let lines = common::record_lines(&path);
        let events = out.events.len();
        assert_eq!(stats.events as usize, events);
        let typed = out
            .events
            .iter()
            .filter(|e| text(e, "event.category").is_some_and(|c| TYPED.contains(&c.as_str())))
            .count();
        let mut actions: BTreeMap<String, usize> = BTreeMap::new();
        for e in &out.events {
            if let Some(a) = text(e, "event.action") {
                *actions.entry(a).or_default() += 1;
            }
        }
        println!(
            "{name}: {lines} lines, {events} events ({:.2}% parsed), {typed} typed auth/iam/session ({:.2}%), {} warnings",
            share(events, lines),
            share(typed, lines),
            out.warnings.len(),
        );
        println!("  actions: {actions:?}");
        for w in out.warnings.iter().take(5) {
            println!("  warning: {w}");
        }
        assert!(out.events.iter().all(|e| e.meta.format == "syslog"));
        assert!(
            share(events, lines) >= 99.0,
            "{name}: only {events} of {lines} lines parsed"
        );
        assert!(
            share(typed, lines) >= min_typed,
            "{name}: only {typed} of {lines} lines typed"
        );
    }
}

#[test]
fn loghub_openssh_is_detected_and_typed_consistently() {
    let Some(data) = data_dir("loghub detection test") else {
        return;
    };
    let path = data.join("loghub/OpenSSH/OpenSSH_2k.log");
    let (out, _) = read(&path, Some(Format::Syslog));
    let accepted = out
        .events
        .iter()
        .filter(|e| text(e, "event.action").as_deref() == Some("ssh_login"))
        .filter(|e| text(e, "event.outcome").as_deref() == Some("success"))
        .count();
    assert!(accepted >= 1);
    for e in &out.events {
        assert_eq!(e.meta.service.as_deref(), Some("sshd"));
        assert_eq!(text(e, "host.name").as_deref(), Some("LabSZ"));
        assert!(e.timestamp.is_some());
        if text(e, "event.action").as_deref() == Some("ssh_login") {
            assert!(text(e, "source.ip").is_some(), "{:?}", e.fields_json());
            assert!(e.get_by_name("source.port").is_some());
            assert!(text(e, "authentication.method").is_some());
        }
    }
}

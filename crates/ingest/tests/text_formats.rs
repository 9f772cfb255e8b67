//! End-to-end reads of the hand-written fixtures through format detection and the line driver.

mod common;

use std::path::PathBuf;

use common::{read, text};
use palisade_ingest::Format;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn fixtures_are_detected_as_their_format() {
    for (name, format) in [
        ("syslog_auth.log", Format::Syslog),
        ("cef_samples.log", Format::Cef),
        ("leef_samples.log", Format::Leef),
        ("cicids2017.csv", Format::FlowCsv),
        ("cicflowmeter_v3.csv", Format::FlowCsv),
    ] {
        let head = std::fs::read(fixture(name)).unwrap();
        assert_eq!(palisade_ingest::detect::sniff(&head), Ok(format), "{name}");
    }
}

#[test]
fn syslog_auth_fixture_is_typed() {
    let (out, stats) = read(&fixture("syslog_auth.log"), None);
    assert_eq!(stats.events, 23);
    assert_eq!(out.warnings.len(), 1, "the one non-syslog line");
    assert!(
        out.warnings[0].to_string().contains("line 24: syslog:"),
        "{}",
        out.warnings[0]
    );
    let actions: Vec<String> = out
        .events
        .iter()
        .map(|e| text(e, "event.action").unwrap_or_default())
        .collect();
    assert_eq!(
        actions,
        [
            "ssh_login",
            "session_opened",
            "sudo_command",
            "session_opened",
            "sudo_command",
            "group_created",
            "user_created",
            "user_added_to_group",
            "user_added_to_group",
            "password_changed",
            "password_changed",
            "su",
            "su",
            "authentication_failure",
            "user_deleted",
            "group_deleted",
            "session_opened",
            "ssh_logout",
            "session_closed",
            "cron_command",
            "ssh_login",
            "ssh_login",
            "",
        ]
    );
    let denied = &out.events[4];
    assert_eq!(text(denied, "event.outcome").as_deref(), Some("failure"));
    assert_eq!(
        text(denied, "event.reason").as_deref(),
        Some("user NOT in sudoers")
    );
    let su_fail = &out.events[13];
    assert_eq!(text(su_fail, "user.name").as_deref(), Some("intern"));
    assert_eq!(
        text(su_fail, "user.effective.name").as_deref(),
        Some("root")
    );
    let repeated = &out.events[21];
    assert_eq!(
        text(repeated, "log.syslog.repeat_count").as_deref(),
        Some("5")
    );
    assert_eq!(text(repeated, "user.name").as_deref(), Some("admin"));
    assert_eq!(
        repeated.timestamp.unwrap().to_rfc3339(),
        "2024-03-01T09:08:01+00:00"
    );
    assert_eq!(
        text(
            &out.events[20],
            "log.syslog.structured_data.meta.sequenceId"
        )
        .as_deref(),
        Some("7")
    );
}

#[test]
fn cef_fixture() {
    let (out, stats) = read(&fixture("cef_samples.log"), None);
    assert_eq!(stats.events, 4);
    assert_eq!(out.warnings.len(), 1);
    assert!(
        out.warnings[0].message.contains("extension"),
        "{}",
        out.warnings[0]
    );
    let pan = &out.events[0];
    assert_eq!(pan.meta.product.as_deref(), Some("paloalto"));
    assert_eq!(text(pan, "host.name").as_deref(), Some("fw01"));
    assert_eq!(text(pan, "user.name").as_deref(), Some("corp\\alice"));
    assert_eq!(text(pan, "source.nat.ip").as_deref(), Some("203.0.113.5"));
    assert_eq!(text(pan, "network.transport").as_deref(), Some("udp"));
    assert_eq!(
        pan.get_by_name("source.bytes").and_then(|v| v.as_i64()),
        Some(78)
    );
    assert_eq!(text(pan, "cs1Label").as_deref(), Some("Rule"));
    assert!(pan.timestamp.is_some());
    let trend = &out.events[2];
    assert_eq!(text(trend, "host.name").as_deref(), Some("hostname"));
    assert_eq!(text(trend, "user.name").as_deref(), Some("Administrator"));
    assert_eq!(
        text(trend, "file.path").as_deref(),
        Some("C:\\Users\\trend\\Desktop\\eicar.exe")
    );
    assert_eq!(text(trend, "cn1Label").as_deref(), Some("Host ID"));
    let forti = &out.events[3];
    assert_eq!(forti.meta.product.as_deref(), Some("fortigate"));
    assert_eq!(text(forti, "network.transport").as_deref(), Some("tcp"));
    assert_eq!(
        forti.timestamp.unwrap().to_rfc3339(),
        "2024-05-01T10:00:00+00:00"
    );
}

#[test]
fn leef_fixture() {
    let (out, stats) = read(&fixture("leef_samples.log"), None);
    assert_eq!(stats.events, 3);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    for e in &out.events {
        assert_eq!(e.meta.format, "leef");
        assert!(text(e, "source.ip").is_some());
        assert!(text(e, "user.name").is_some());
    }
    assert_eq!(
        out.events[1].timestamp.unwrap().to_rfc3339(),
        "2024-01-18T13:00:00+00:00"
    );
    assert_eq!(
        text(&out.events[2], "network.transport").as_deref(),
        Some("tcp")
    );
    assert_eq!(text(&out.events[2], "host.name").as_deref(), Some("qradar"));
}

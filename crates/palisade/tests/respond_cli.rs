//! `palisade respond` on a temporary data directory: actions seeded straight into the store
//! (approve-mode ban decisions, so neither root nor nft is needed) are listed, approved into a
//! decision, reverted out of it, denied; mistakes fail with the id named; `playbooks` lists the
//! built-in ones and rejects a broken file with line:column.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use palisade_respond::{Action, Mode, Planned};
use palisade_store::{NewResponseAction, ResponseStore, SqliteStore};
use serde_json::Value;

fn palisade(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("USER", "carol")
        .env_remove("PALISADE_LOG");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PALISADE_")) {
        cmd.env_remove(k);
    }
    cmd.output().expect("run palisade")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = palisade(dir, args);
    assert!(
        o.status.success(),
        "{args:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn json(dir: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&ok(dir, args)).expect("JSON output")
}

/// A pending approve-mode ban decision on `ip`, as the responder would store it.
fn seed(store: &mut SqliteStore, ip: &str) -> i64 {
    let planned = Planned {
        playbook: "test-approve".into(),
        mode: Mode::Approve,
        action: Action::Decision {
            net: format!("{ip}/32").parse().unwrap(),
            ttl: Some(Duration::from_secs(3600)),
            scenario: "test/ssh-bf".into(),
        },
        ttl: Some(Duration::from_secs(3600)),
        reason: format!("5 failed SSH passwords from {ip}"),
        refused: None,
    };
    let now = chrono::Utc::now().timestamp_millis();
    store
        .insert_response_action(&NewResponseAction {
            created_at: now,
            playbook: planned.playbook.clone(),
            incident_id: Some(7),
            kind: planned.action.kind().into(),
            target: planned.action.target(),
            mode: "approve".into(),
            state: "pending".into(),
            action_json: serde_json::to_string(&planned).unwrap(),
            revert_json: None,
            expires_at: None,
            detail: "waiting for approval".into(),
        })
        .unwrap()
}

fn state_of(dir: &Path, id: i64) -> String {
    let all = json(dir, &["respond", "list", "--format", "json"]);
    let a = all
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("action {id} in {all}"));
    a["state"].as_str().unwrap().to_string()
}

fn decision_values(dir: &Path) -> Vec<String> {
    json(dir, &["decisions", "list", "--format", "json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["value"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn actions_are_listed_approved_reverted_and_denied() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The store as `palisade serve` would create it in the data directory.
    ok(dir, &["respond", "list"]);
    let (a, b) = {
        let mut s = SqliteStore::open(&dir.join("palisade.db")).unwrap();
        (seed(&mut s, "198.51.100.7"), seed(&mut s, "198.51.100.8"))
    };

    let all = json(dir, &["respond", "list", "--format", "json"]);
    let rows = all.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{all}");
    let first = rows.iter().find(|r| r["id"] == a).unwrap();
    assert_eq!(first["state"], "pending");
    assert_eq!(first["kind"], "decision");
    assert_eq!(first["target"], "198.51.100.7");
    assert_eq!(first["incident"], 7);
    assert!(
        first["reason"].as_str().unwrap().contains("failed SSH"),
        "{first}"
    );
    assert!(
        first["runs"].as_str().unwrap().contains("198.51.100.7"),
        "{first}"
    );
    let pending = json(
        dir,
        &[
            "respond",
            "list",
            "--state",
            "active,denied",
            "--format",
            "json",
        ],
    );
    assert_eq!(pending, Value::Array(vec![]));
    let table = ok(dir, &["respond", "list"]);
    assert!(
        table.contains("198.51.100.8") && table.contains("test-approve"),
        "{table}"
    );

    // Approve: the ban decision is published.
    let out = ok(dir, &["respond", "approve", &a.to_string()]);
    assert!(
        out.contains(&format!("#{a}")) && out.contains("active"),
        "{out}"
    );
    assert_eq!(state_of(dir, a), "active");
    assert_eq!(decision_values(dir), vec!["198.51.100.7"]);

    // Approving twice is refused, naming the action.
    let o = palisade(dir, &["respond", "approve", &a.to_string()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("response action {a}")) && err.contains("not pending"),
        "{err}"
    );
    // A missing id too.
    let o = palisade(dir, &["respond", "revert", "424242"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("424242") && err.contains("does not exist"),
        "{err}"
    );

    // Revert: the decision is withdrawn.
    let out = ok(dir, &["respond", "revert", &a.to_string()]);
    assert!(out.contains("reverted"), "{out}");
    assert_eq!(state_of(dir, a), "reverted");
    assert!(decision_values(dir).is_empty());
    // Reverting what is no longer active is refused.
    assert!(
        !palisade(dir, &["respond", "revert", &a.to_string()])
            .status
            .success()
    );

    // Deny the other, with a reason.
    let out = ok(
        dir,
        &["respond", "deny", &b.to_string(), "--reason", "our scanner"],
    );
    assert!(
        out.contains("denied") && out.contains("our scanner"),
        "{out}"
    );
    assert_eq!(state_of(dir, b), "denied");
    assert!(decision_values(dir).is_empty());

    // The response log holds each step with its actor; the audit log names the operator.
    let log = json(dir, &["respond", "log", "--format", "json"]);
    let steps: Vec<(&str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["event"].as_str().unwrap(), l["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("denied", "cli:carol"),
            ("reverted", "cli:carol"),
            ("approved", "cli:carol")
        ],
        "{log}"
    );
    let one = json(
        dir,
        &[
            "respond",
            "log",
            "--action",
            &b.to_string(),
            "--format",
            "json",
        ],
    );
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
    let db = rusqlite::Connection::open(dir.join("palisade.db")).unwrap();
    let audited: Vec<String> = db
        .prepare("SELECT actor || ' ' || action FROM audit ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        audited,
        vec![
            "cli:carol respond.approve",
            "cli:carol respond.revert",
            "cli:carol respond.deny"
        ]
    );
}

#[test]
fn playbooks_lists_the_builtin_ones_and_rejects_a_broken_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let list = json(dir, &["respond", "playbooks", "--format", "json"]);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            "ssh-rdp-brute-force",
            "password-spraying",
            "known-bad-intel-ip",
            "c2-beaconing-host"
        ]
    );
    assert_eq!(list[0]["mode"], "auto");
    assert!(
        list[0]["trigger"]
            .as_str()
            .unwrap()
            .contains("attack.t1110"),
        "{list}"
    );

    let good = dir.join("good.yml");
    std::fs::write(
        &good,
        "id: my-approve\ntitle: Ban after approval\ntrigger:\n  tags: [attack.t1110]\nactions:\n  - decision:\n      target: source.ip\nmode: approve\n",
    )
    .unwrap();
    let list = json(
        dir,
        &[
            "respond",
            "playbooks",
            "--format",
            "json",
            good.to_str().unwrap(),
        ],
    );
    assert_eq!(list.as_array().unwrap().len(), 5, "{list}");
    assert_eq!(list[4]["id"], "my-approve");

    let bad = dir.join("bad.yml");
    std::fs::write(
        &bad,
        "id: broken\ntitle: Broken\ntrigger:\n  tagz: [attack.t1110]\nactions:\n  - block:\n      target: source.ip\n      ttl: 4x\n",
    )
    .unwrap();
    let o = palisade(dir, &["respond", "playbooks", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    let b = bad.display();
    assert!(
        err.contains(&format!("{b}:4:3: trigger.tagz: unknown key")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{b}:8:12: actions[0].block.ttl")),
        "{err}"
    );
}

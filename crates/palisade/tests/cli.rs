//! End-to-end tests of the `palisade` binary: the built program is run on the files in
//! `examples/` (and on temporary files made from them) and its output, exit status and store
//! are checked.
//!
//! `examples/README.md` tells the attack story these expectations come from.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value as Json;

const OFFICE_SHELL: &str = "1f4aa140-7dd9-4905-b6de-21ed90f91074";
const ENCODED_POWERSHELL: &str = "da1655cf-f834-45b6-b096-bb8fdaa6c064";
const WHOAMI: &str = "7240a605-31cd-4b7f-96ba-92bbee50ec3c";
const COMSVCS_MINIDUMP: &str = "d5bbe447-94ab-44d3-bd25-a0e2d1d6660f";
const LSASS_ACCESS: &str = "20a7b276-2a4e-44bb-af5b-4916002ea15f";
const SERVICE_USER_PATH: &str = "371a52f3-73c5-4687-a358-37d39539b030";
const LOG_CLEARED: &str = "d49715fc-28bc-44d7-a2f1-cb28683c6e00";
const WINDOWS_BRUTE_FORCE: &str = "025ba3cb-f535-494a-a80a-318f053cc21c";
const WINDOWS_LOGON_AFTER_BRUTE_FORCE: &str = "034975cf-1bc0-4cd3-9109-4398c254dc8f";
const PRIVILEGED_GROUP_ADD: &str = "2b913ef4-c80b-41cf-aab7-2d36f2dabb00";
const SSH_BRUTE_FORCE: &str = "3ebb6090-3b2c-4b57-80db-bf9388654363";
const SSH_LOGIN_AFTER_BRUTE_FORCE: &str = "60f75bfb-18a4-42c5-bf38-23c24b634f84";
const SUDO_ROOT_SHELL: &str = "1aff8e8b-0569-49c2-87b4-e1b93fc5ff6c";
const USERADD_LOGIN: &str = "a732f61c-b687-4cac-aab2-1763c53d93ff";
const PORT_SCAN: &str = "72bbe36d-6ce6-47d4-9a08-7c883c204bf3";
const DYNAMIC_DNS: &str = "f77dab07-5ab0-4913-9827-028dd998e700";

/// Every detection `palisade hunt examples/logs --rules examples/rules` must print: rule id,
/// level, count. One per planted attack step; nothing from the benign activity around them.
const EXPECTED: &[(&str, &str, usize)] = &[
    (OFFICE_SHELL, "high", 1),
    (ENCODED_POWERSHELL, "high", 1),
    (WHOAMI, "medium", 1),
    (COMSVCS_MINIDUMP, "critical", 1),
    (LSASS_ACCESS, "high", 1),
    (SERVICE_USER_PATH, "high", 1),
    (WINDOWS_BRUTE_FORCE, "high", 1),
    (WINDOWS_LOGON_AFTER_BRUTE_FORCE, "critical", 1),
    (LOG_CLEARED, "high", 1),
    (PRIVILEGED_GROUP_ADD, "high", 1),
    (SSH_BRUTE_FORCE, "high", 1),
    (SSH_LOGIN_AFTER_BRUTE_FORCE, "critical", 1),
    (SUDO_ROOT_SHELL, "medium", 1),
    (USERADD_LOGIN, "medium", 1),
    (PORT_SCAN, "medium", 1),
    (DYNAMIC_DNS, "medium", 1),
];
/// Events in all example logs.
const EXAMPLE_EVENTS: u64 = 216;
/// Log files under `examples/logs`.
const EXAMPLE_INPUTS: u64 = 7;

/// The workspace root, where `examples/` lives; commands run there so paths stay relative.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example(path: &str) -> PathBuf {
    root().join("examples").join(path)
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn palisade(args: &[&str]) -> Run {
    palisade_with_stdin(args, None)
}

fn palisade_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("PALISADE_LOG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the palisade binary runs");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(input).expect("writing stdin");
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("palisade finishes");
    Run {
        code: status
            .code()
            .expect("palisade exits normally, not by a signal"),
        stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// Runs a hunt with `--format ndjson` and returns the parsed detections.
fn hunt_ndjson(args: &[&str]) -> (Vec<Json>, Run) {
    let mut full = vec!["hunt"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--format", "ndjson"]);
    let run = palisade(&full);
    assert_eq!(run.code, 0, "hunt failed: {}", run.stderr);
    let detections = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad NDJSON line {l:?}: {e}")))
        .collect();
    (detections, run)
}

fn ids(detections: &[Json]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for d in detections {
        let id = d["rule"]["id"].as_str().expect("rule.id is a string");
        *m.entry(id.to_owned()).or_default() += 1;
    }
    m
}

fn expected_ids(filter: impl Fn(&str, &str) -> bool) -> BTreeMap<String, usize> {
    EXPECTED
        .iter()
        .filter(|(id, level, _)| filter(id, level))
        .map(|(id, _, n)| ((*id).to_owned(), *n))
        .collect()
}

fn detection<'a>(detections: &'a [Json], id: &str) -> &'a Json {
    detections
        .iter()
        .find(|d| d["rule"]["id"] == id)
        .unwrap_or_else(|| panic!("no detection of rule {id}"))
}

#[test]
fn examples_find_every_planted_attack_step_and_nothing_else() {
    let (detections, run) = hunt_ndjson(&["examples/logs", "--rules", "examples/rules"]);
    assert_eq!(ids(&detections), expected_ids(|_, _| true));
    for d in &detections {
        let id = d["rule"]["id"].as_str().unwrap();
        let (_, level, _) = EXPECTED.iter().find(|(e, _, _)| *e == id).unwrap();
        assert_eq!(d["rule"]["level"], *level, "level of {id}");
    }
    assert!(
        run.stderr
            .contains("Detections: 16 (critical 3, high 8, medium 5, low 0, informational 0)"),
        "{}",
        run.stderr
    );
    // The demo rule set (examples/rules/demo), the auth rule (examples/rules/auth), the four
    // weakness rules (examples/rules/vuln) and the four LLM firewall rules (examples/rules/guard)
    // load too and find nothing in these logs.
    assert!(
        run.stderr.contains("28 rules loaded (8 correlations)"),
        "{}",
        run.stderr
    );
}

#[test]
fn ndjson_detections_carry_rule_time_host_and_event() {
    let (detections, _) = hunt_ndjson(&["examples/logs", "--rules", "examples/rules"]);
    assert_eq!(detections.len(), 16);
    for d in &detections {
        let rule = &d["rule"];
        assert!(rule["id"].as_str().is_some_and(|s| s.len() == 36), "{d}");
        assert!(rule["title"].as_str().is_some_and(|s| !s.is_empty()), "{d}");
        assert!(
            ["informational", "low", "medium", "high", "critical"]
                .contains(&rule["level"].as_str().unwrap_or("")),
            "{d}"
        );
        let tags = rule["tags"].as_array().expect("rule.tags is an array");
        assert!(
            tags.iter()
                .any(|t| t.as_str().is_some_and(|t| t.starts_with("attack.t"))),
            "{d}"
        );
        let ts = d["@timestamp"].as_str().expect("@timestamp is a string");
        assert!(
            chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
            "bad @timestamp {ts}"
        );
        match d["detector"].as_str() {
            Some("sigma") => {
                // Zeek logs do not name a host; every other example log does.
                let from_zeek = d["log"]["file"]["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("examples/logs/network/"));
                assert!(d["host"].as_object().unwrap().contains_key("name"), "{d}");
                assert_eq!(d["host"]["name"].is_string(), !from_zeek, "{d}");
                let event = d["event"].as_object().expect("event is an object");
                // The evidence is taken from the event, so the two agree.
                for (k, v) in d["evidence"].as_object().unwrap() {
                    let in_event = match &event[k] {
                        Json::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    assert_eq!(in_event, v.as_str().unwrap(), "{k} of {d}");
                }
            }
            Some("sigma-correlation") => {
                assert!(d["event"].is_null(), "{d}");
                let related = d["related"].as_array().expect("related is an array");
                assert!(!related.is_empty(), "{d}");
                for r in related {
                    assert!(
                        r["file"]
                            .as_str()
                            .is_some_and(|f| f.starts_with("examples/logs/"))
                    );
                    assert!(r["position"].as_u64().is_some_and(|p| p > 0));
                }
            }
            other => panic!("unexpected detector {other:?}"),
        }
    }

    let office = detection(&detections, OFFICE_SHELL);
    assert_eq!(office["@timestamp"], "2025-03-02T09:14:07.123000Z");
    assert_eq!(office["host"]["name"], "WS01.corp.example.com");
    assert_eq!(office["event"]["EventID"], 1);
    assert_eq!(office["event"]["User"], "CORP\\alice");
    assert!(
        office["event"]["ParentImage"]
            .as_str()
            .unwrap()
            .ends_with("\\WINWORD.EXE")
    );
    assert!(
        office["event"]["CommandLine"]
            .as_str()
            .unwrap()
            .contains(" -enc ")
    );
    assert_eq!(
        office["log"]["file"]["path"],
        "examples/logs/windows/sysmon.ndjson"
    );
    assert_eq!(office["log"]["position"], 11);
    assert_eq!(
        office["rule"]["path"],
        "examples/rules/windows/proc_creation_office_spawns_shell.yml"
    );

    // The syslog parser's ECS fields reach the event object.
    let sudo = detection(&detections, SUDO_ROOT_SHELL);
    assert_eq!(sudo["host"]["name"], "web01");
    assert_eq!(sudo["event"]["user.name"], "ubuntu");
    assert_eq!(sudo["event"]["user.effective.name"], "root");
    assert_eq!(sudo["event"]["process.command_line"], "/bin/bash");

    // Correlations name their group and point at every event they counted.
    let brute = detection(&detections, SSH_BRUTE_FORCE);
    assert_eq!(brute["evidence"]["source.ip"], "203.0.113.7");
    assert_eq!(brute["evidence"]["count"], "5");
    let related = brute["related"].as_array().unwrap();
    assert_eq!(related.len(), 5);
    assert!(
        related
            .iter()
            .all(|r| r["file"] == "examples/logs/linux/auth.log")
    );
    let after = detection(&detections, WINDOWS_LOGON_AFTER_BRUTE_FORCE);
    assert_eq!(after["evidence"]["IpAddress"], "10.0.20.15");
    assert_eq!(
        after["evidence"]["rules"],
        "Password Guessing Against Windows Logons, Successful Network Logon From a Remote Address"
    );
    let scan = detection(&detections, PORT_SCAN);
    assert_eq!(scan["evidence"]["id.orig_h"], "203.0.113.7");
    assert_eq!(scan["evidence"]["id.resp_h"], "198.51.100.10");
    assert_eq!(scan["evidence"]["count"], "20");
}

#[test]
fn filter_rule_suppresses_the_monitoring_agent_but_not_the_attacker() {
    let sysmon = "examples/logs/windows/sysmon.ndjson";
    let whoami_rule = "examples/rules/windows/proc_creation_whoami.yml";
    let filter = "examples/rules/filters/filter_whoami_monitoring_agent.yml";

    let (unfiltered, _) = hunt_ndjson(&[sysmon, "--rules", whoami_rule]);
    let users: BTreeSet<&str> = unfiltered
        .iter()
        .map(|d| d["event"]["User"].as_str().unwrap())
        .collect();
    assert_eq!(users, BTreeSet::from(["CORP\\alice", "CORP\\svc-monitor"]));

    let (filtered, _) = hunt_ndjson(&[sysmon, "--rules", whoami_rule, "--rules", filter]);
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0]["event"]["User"], "CORP\\alice");
    assert_eq!(
        filtered[0]["event"]["CommandLine"],
        "\"C:\\Windows\\system32\\whoami.exe\" /all"
    );
}

/// Without routing every rule runs on every event; the example rules are specific enough to
/// find the same steps, and each match is reported once (also by the Security 4688 instances
/// of process-creation rules) with filters still applied.
#[test]
fn ignore_logsource_finds_the_same_detections_once() {
    let (detections, _) = hunt_ndjson(&[
        "examples/logs",
        "--rules",
        "examples/rules",
        "--ignore-logsource",
    ]);
    assert_eq!(ids(&detections), expected_ids(|_, _| true));
}

#[test]
fn json_format_is_one_document_with_detections_and_summary() {
    let run = palisade(&[
        "hunt",
        "examples/logs",
        "--rules",
        "examples/rules",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: Json = serde_json::from_str(&run.stdout).expect("one JSON document");
    let detections = doc["detections"].as_array().expect("detections array");
    assert_eq!(ids(detections), expected_ids(|_, _| true));
    let s = &doc["summary"];
    assert_eq!(s["detections"], 16);
    assert_eq!(s["events"], EXAMPLE_EVENTS);
    assert_eq!(s["inputs"], EXAMPLE_INPUTS);
    assert_eq!(s["skipped_records"], 0);
    assert_eq!(s["unreadable_inputs"], serde_json::json!([]));
    assert_eq!(s["rules_loaded"], 28);
    assert_eq!(s["rules_failed"], 0);
    assert_eq!(s["correlations"], 8);
    assert_eq!(
        s["by_level"],
        serde_json::json!({"critical": 3, "high": 8, "medium": 5})
    );
    let by_rule = s["by_rule"].as_array().unwrap();
    assert_eq!(by_rule.len(), 16);
    assert_eq!(by_rule[0]["level"], "critical");
}

#[test]
fn csv_format_has_a_header_and_one_row_per_detection() {
    let run = palisade(&[
        "hunt",
        "examples/logs",
        "--rules",
        "examples/rules",
        "--format",
        "csv",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut reader = csv::Reader::from_reader(run.stdout.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("a header row")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "timestamp",
            "level",
            "rule_id",
            "rule_title",
            "host",
            "file",
            "position",
            "details"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .expect("rows parse");
    assert_eq!(rows.len(), 16);
    let mut by_id = BTreeMap::new();
    for row in &rows {
        assert_eq!(row.len(), 8);
        *by_id.entry(row[2].to_owned()).or_default() += 1;
        let (_, level, _) = EXPECTED.iter().find(|(id, _, _)| *id == &row[2]).unwrap();
        assert_eq!(&row[1], *level);
        assert!(row[5].starts_with("examples/logs/"), "{row:?}");
        assert!(row[6].parse::<u64>().is_ok(), "{row:?}");
    }
    assert_eq!(by_id, expected_ids(|_, _| true));
    let encoded = rows.iter().find(|r| &r[2] == ENCODED_POWERSHELL).unwrap();
    assert_eq!(&encoded[4], "WS01.corp.example.com");
    assert!(
        encoded[7].contains("-enc SQBFAFgA"),
        "details: {}",
        &encoded[7]
    );
}

#[test]
fn output_option_writes_the_file_and_nothing_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("detections.ndjson");
    let run = palisade(&[
        "hunt",
        "examples/logs",
        "--rules",
        "examples/rules",
        "--format",
        "ndjson",
        "--output",
        path_str(&out),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    let text = std::fs::read_to_string(&out).unwrap();
    let detections: Vec<Json> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ids(&detections), expected_ids(|_, _| true));
    // The summary still goes to stderr.
    assert!(run.stderr.contains("Detections: 16"), "{}", run.stderr);
}

#[test]
fn min_level_high_keeps_only_high_and_critical() {
    let (detections, _) = hunt_ndjson(&[
        "examples/logs",
        "--rules",
        "examples/rules",
        "--min-level",
        "high",
    ]);
    assert_eq!(
        ids(&detections),
        expected_ids(|_, level| level == "high" || level == "critical")
    );
    assert_eq!(detections.len(), 11);
}

#[test]
fn fail_on_sets_the_exit_status() {
    let all = ["hunt", "examples/logs", "--rules", "examples/rules", "-q"];
    assert_eq!(palisade(&all).code, 0);
    assert_eq!(
        palisade(&[&all[..], &["--fail-on", "high"]].concat()).code,
        1
    );
    assert_eq!(
        palisade(&[&all[..], &["--fail-on", "critical"]].concat()).code,
        1
    );

    // The System log holds one high detection (the service) and no critical one.
    let system = [
        "hunt",
        "examples/logs/windows/system.ndjson",
        "--rules",
        "examples/rules",
        "--format",
        "ndjson",
    ];
    let run = palisade(&[&system[..], &["--fail-on", "critical"]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 1);
    assert!(run.stdout.contains(SERVICE_USER_PATH));
    assert_eq!(
        palisade(&[&system[..], &["--fail-on", "high"]].concat()).code,
        1
    );
    // --fail-on judges every detection, also those --min-level hides.
    let hidden = palisade(
        &[
            &system[..],
            &["--min-level", "critical", "--fail-on", "high"],
        ]
        .concat(),
    );
    assert_eq!(hidden.code, 1);
    assert_eq!(hidden.stdout, "");
}

#[test]
fn usage_and_input_errors_exit_2() {
    let run = palisade(&["hunt", "examples/no-such-logs", "--rules", "examples/rules"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("examples/no-such-logs"),
        "{}",
        run.stderr
    );

    let run = palisade(&["hunt", "examples/logs", "--rules", "examples/no-such-rules"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("rules path examples/no-such-rules does not exist"),
        "{}",
        run.stderr
    );

    let run = palisade(&[
        "hunt",
        "examples/logs",
        "--rules",
        "examples/rules",
        "--input-format",
        "xml",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown input format \"xml\""),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");

    // A file named on the command line must be a log.
    let run = palisade(&["hunt", "examples/README.md", "--rules", "examples/rules"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("examples/README.md: cannot tell the log format"),
        "{}",
        run.stderr
    );
}

#[test]
fn store_saves_the_run_and_every_detection() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("palisade.db");
    let (detections, _) = hunt_ndjson(&[
        "examples/logs",
        "--rules",
        "examples/rules",
        "--store",
        path_str(&db),
    ]);
    let conn = rusqlite::Connection::open(&db).expect("the store is a SQLite database");
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM alerts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows as usize, detections.len());
    assert_eq!(rows, 16);
    let mut stmt = conn
        .prepare("SELECT rule_id, count(*) FROM alerts GROUP BY rule_id")
        .unwrap();
    let stored: BTreeMap<String, usize> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as usize)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored, expected_ids(|_, _| true));
    let (runs, events): (i64, i64) = conn
        .query_row("SELECT count(*), max(events) FROM runs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((runs, events as u64), (1, EXAMPLE_EVENTS));
}

#[test]
fn stdin_input_is_read_with_a_dash() {
    let auth = std::fs::read(example("logs/linux/auth.log")).unwrap();
    let run = palisade_with_stdin(
        &[
            "hunt",
            "-",
            "--rules",
            "examples/rules",
            "--format",
            "ndjson",
        ],
        Some(&auth),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let detections: Vec<Json> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        ids(&detections),
        expected_ids(|id, _| [
            SSH_BRUTE_FORCE,
            SSH_LOGIN_AFTER_BRUTE_FORCE,
            SUDO_ROOT_SHELL,
            USERADD_LOGIN
        ]
        .contains(&id))
    );
    assert!(
        detections
            .iter()
            .all(|d| d["log"]["file"]["path"] == "<stdin>")
    );
}

#[test]
fn gzip_input_is_decompressed() {
    let gz = example("logs/network/dns.log.gz");
    let bytes = std::fs::read(&gz).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "the example is really gzipped");
    let (detections, run) = hunt_ndjson(&[
        "examples/logs/network/dns.log.gz",
        "--rules",
        "examples/rules",
    ]);
    assert_eq!(ids(&detections), expected_ids(|id, _| id == DYNAMIC_DNS));
    assert_eq!(detections[0]["event"]["query"], "wsus-update.duckdns.org");
    assert_eq!(detections[0]["event"]["id.orig_h"], "10.0.20.15");
    assert!(run.stderr.contains("10 events"), "{}", run.stderr);
}

#[test]
fn non_log_files_in_a_directory_are_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(example("logs/linux/auth.log"), dir.path().join("auth.log")).unwrap();
    std::fs::write(
        dir.path().join("README.md"),
        "# Notes\n\nLogs copied from web01 on 2 March.\n",
    )
    .unwrap();
    let dir_arg = path_str(dir.path());

    let run = palisade(&[
        "hunt",
        dir_arg,
        "--rules",
        "examples/rules",
        "--format",
        "ndjson",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 4);
    assert!(
        run.stderr
            .contains("Skipped 1 inputs that are not logs Palisade reads"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("README.md"), "{}", run.stderr);

    let run = palisade(&[
        "hunt",
        dir_arg,
        "--rules",
        "examples/rules",
        "--format",
        "json",
    ]);
    let doc: Json = serde_json::from_str(&run.stdout).unwrap();
    let unreadable = doc["summary"]["unreadable_inputs"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1);
    assert!(unreadable[0].as_str().unwrap().contains("README.md"));
    assert_eq!(doc["summary"]["inputs"], 2);
}

#[test]
fn malformed_line_is_a_warning_naming_file_and_line_and_the_rest_still_matches() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sysmon.ndjson");
    let original = std::fs::read_to_string(example("logs/windows/sysmon.ndjson")).unwrap();
    let mut lines: Vec<&str> = original.lines().collect();
    let total = lines.len();
    // Line 11 is Word starting encoded PowerShell; the broken record goes just before it.
    lines.insert(10, r#"{"Event":{"System":{"EventID":1,"Channel":"#);
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();

    let run = palisade(&[
        "hunt",
        path_str(&log),
        "--rules",
        "examples/rules",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let warning = format!(
        "palisade: warning: skipped {} line 11: json: ",
        log.display()
    );
    assert!(run.stderr.contains(&warning), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Skipped 1 malformed records in 1 inputs"),
        "{}",
        run.stderr
    );
    let doc: Json = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["summary"]["skipped_records"], 1);
    assert_eq!(doc["summary"]["events"], total as u64);
    let detections = doc["detections"].as_array().unwrap();
    assert_eq!(
        ids(detections),
        expected_ids(|id, _| [
            OFFICE_SHELL,
            ENCODED_POWERSHELL,
            WHOAMI,
            COMSVCS_MINIDUMP,
            LSASS_ACCESS
        ]
        .contains(&id))
    );
    // Positions after the bad line are still the lines of the file.
    assert_eq!(detection(detections, OFFICE_SHELL)["log"]["position"], 12);
}

#[test]
fn lint_of_the_examples_is_clean() {
    let run = palisade(&["rules", "lint", "examples/rules", "--strict"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains("0 errors, 0 warnings"),
        "{}",
        run.stderr
    );
}

#[test]
fn lint_names_a_broken_rule_file_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        example("rules/linux/sudo_root_shell.yml"),
        dir.path().join("sudo_root_shell.yml"),
    )
    .unwrap();
    let broken = dir.path().join("broken_rule.yml");
    std::fs::write(
        &broken,
        "title: Broken Rule\n\
         id: 825f3451-6198-4c6e-9bd3-15cdb62a4cc8\n\
         description: Its condition names a search that does not exist.\n\
         logsource:\n  product: linux\n  service: sshd\n\
         detection:\n  selection:\n    message|contains: x\n  condition: selection and nowhere\n\
         level: low\n",
    )
    .unwrap();
    let run = palisade(&["rules", "lint", path_str(dir.path())]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stdout);
    assert!(
        errors[0].contains(&broken.display().to_string()),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("nowhere"), "{}", errors[0]);
    assert!(
        !run.stdout.contains("sudo_root_shell.yml"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("1 errors, 0 warnings"),
        "{}",
        run.stderr
    );
}

#[test]
fn hunt_help_lists_formats_and_exit_codes() {
    let run = palisade(&["hunt", "--help"]);
    assert_eq!(run.code, 0);
    // Help is wrapped to the terminal width; compare with single spaces.
    let help = run.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "EVTX",
        "Winlogbeat",
        "syslog",
        "Zeek",
        "CEF",
        "LEEF",
        "ndjson",
        "csv",
        "--fail-on",
        "Exit status: 0",
        "1 when a detection at or above --fail-on fired",
        "2 on usage or input errors",
    ] {
        assert!(
            help.contains(needle),
            "{needle:?} missing from:\n{}",
            run.stdout
        );
    }
}

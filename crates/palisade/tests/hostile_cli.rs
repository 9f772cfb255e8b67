//! Hostile inputs through the `palisade hunt` command: each gives a clear message naming the
//! file (and line or chunk), the documented exit code, and no panic; good records beside bad
//! ones still produce detections.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A directory of its own under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("palisade-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const RULE: &str = "title: whoami\nid: 6f0fe3c4-0d6c-4a5f-9ef2-6a1d39b6b3a1\nlevel: high\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel:\n    Image|endswith: '\\whoami.exe'\n  condition: sel\n";

const GOOD_LINE: &str = r#"{"winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","event_id":1,"provider_name":"Microsoft-Windows-Sysmon","event_data":{"Image":"C:\\Windows\\System32\\whoami.exe","CommandLine":"whoami /all"}},"@timestamp":"2024-05-01T10:00:00Z"}"#;

fn hunt(paths: &[&Path], rules: &Path, extra: &[&str]) -> (Output, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.arg("hunt")
        .args(paths)
        .arg("--rules")
        .arg(rules)
        .args(["--no-progress", "--format", "json"])
        .args(extra);
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("panicked"), "{text}");
    (out, text)
}

fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

#[test]
fn bad_files_named_on_the_command_line_are_usage_errors() {
    let dir = TempDir::new("explicit");
    let rules = dir.file("rules/r.yml", RULE);
    let empty = dir.file("empty.log", "");
    let binary = dir.file("random.bin", garbage(64 << 10, 7));
    let dangling = dir.0.join("dangling.log");
    std::os::unix::fs::symlink(dir.0.join("nowhere"), &dangling).unwrap();
    for (path, says) in [
        (&empty, "the input is empty"),
        (&binary, "binary data that is not EVTX"),
        (&dangling, "dangling.log"),
    ] {
        let (out, text) = hunt(&[path], &rules, &[]);
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(text.contains(&*path.to_string_lossy()), "{text}");
        assert!(text.contains(says), "{text}");
    }
    // A file with the EVTX magic but no valid header is reported as not a valid EVTX file,
    // with the reason, and skipped like any input that is not a log.
    let mut evtx = b"ElfFile\0".to_vec();
    evtx.extend(garbage(100, 3));
    let cut = dir.file("cut.evtx", evtx);
    let (out, text) = hunt(&[&cut], &rules, &[]);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("cut.evtx"))
        .unwrap_or_else(|| panic!("cut.evtx not reported: {text}"));
    assert!(line.contains("not a valid EVTX file: "), "{line}");
}

#[test]
fn bad_records_are_warnings_and_good_ones_still_detect() {
    let dir = TempDir::new("records");
    let rules = dir.file("rules/r.yml", RULE);
    let deep = r#"{"a":"#.repeat(10_000) + "1" + &"}".repeat(10_000);
    let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(17 << 20));
    let text = format!("{deep}\n{long}\n\u{0}\u{1}garbage\n{GOOD_LINE}\n");
    let input = dir.file("mixed.ndjson", text);
    let (out, text) = hunt(&[&input], &rules, &["--fail-on", "high"]);
    // The detection on line 4 fires despite the three bad lines before it.
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("6f0fe3c4-0d6c-4a5f-9ef2-6a1d39b6b3a1"),
        "{text}"
    );
    for line in 1..=3 {
        assert!(
            text.contains(&format!("mixed.ndjson line {line}:")),
            "{text}"
        );
    }
    assert!(text.contains("exceeds"), "{text}");
}

#[test]
fn files_in_a_directory_that_are_not_logs_are_listed_and_skipped() {
    let dir = TempDir::new("directory");
    let rules = dir.file("rules/r.yml", RULE);
    let logs = dir.0.join("logs");
    dir.file("logs/a.bin", garbage(4096, 1));
    dir.file("logs/b.log", "");
    dir.file("logs/c.ndjson", format!("{GOOD_LINE}\n"));
    let (out, text) = hunt(&[&logs], &rules, &["--fail-on", "high"]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("a.bin") && text.contains("binary data"),
        "{text}"
    );
    assert!(text.contains("b.log") && text.contains("empty"), "{text}");
}

#[test]
fn hostile_rules_are_reported_and_the_rest_still_run() {
    let dir = TempDir::new("rules");
    dir.file("rules/good.yml", RULE);
    let laughs = {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            s.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        s
    };
    dir.file("rules/laughs.yml", laughs);
    dir.file(
        "rules/deep.yml",
        format!(
            "title: deep\nlogsource: {{product: windows}}\ndetection:\n  sel:\n    x: 1\n  condition: '{}sel{}'\n",
            "(".repeat(10_000),
            ")".repeat(10_000)
        ),
    );
    dir.file(
        "rules/loop.yml",
        "title: loop\nname: loop\ncorrelation:\n  type: event_count\n  rules: [loop]\n  timespan: 1h\n  condition:\n    gte: 1\n",
    );
    dir.file("rules/binary.yml", garbage(2048, 5));
    let input = dir.file("one.ndjson", format!("{GOOD_LINE}\n"));
    let (out, text) = hunt(&[&input], &dir.0.join("rules"), &["--fail-on", "high"]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for (file, says) in [
        ("laughs.yml", "alias"),
        ("deep.yml", "nested deeper"),
        ("loop.yml", "cycle"),
        ("binary.yml", "not UTF-8"),
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("{file} not reported: {text}"));
        assert!(line.contains(says), "{line}");
    }
}

//! Hostile rule files through `load_rules`: deep nesting in YAML and in conditions, alias
//! bombs, expansion bombs, binary and empty files. Each must become a clear [`LoadFailure`]
//! naming the file, in bounded time and memory, without a panic or a stack overflow; the good
//! rules beside them still load.

use std::path::{Path, PathBuf};

use palisade_sigma::{LoadOptions, LoadedRules, load_rules};

/// A directory of its own under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("palisade-sigma-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const GOOD: &str = "title: good\nlogsource: {product: windows}\ndetection:\n  sel:\n    Image|endswith: '\\cmd.exe'\n  condition: sel\n";

/// Loads `bad` beside a good rule; returns the load and the one failure's text.
fn load_beside_good(dir: &TempDir, name: &str, bad: impl AsRef<[u8]>) -> (LoadedRules, String) {
    let good = dir.file("good.yml", GOOD);
    let bad = dir.file(name, bad);
    let loaded = load_rules(&[good, bad.clone()], &LoadOptions::default());
    assert_eq!(
        loaded.report.detection_rules, 1,
        "{name}: the good rule did not load: {:?}",
        loaded.report.failures
    );
    assert_eq!(
        loaded.report.failures.len(),
        1,
        "{name}: {:?}",
        loaded.report.failures
    );
    let failure = &loaded.report.failures[0];
    assert_eq!(failure.path, bad);
    let text = failure.to_string();
    assert!(text.contains(name), "{text}");
    (loaded, text)
}

fn rule_with(detection: &str) -> String {
    format!("title: hostile\nlogsource: {{product: windows}}\ndetection:\n{detection}")
}

#[test]
fn deep_yaml_nesting_is_a_load_failure() {
    let dir = TempDir::new("deep-yaml");
    let depth = 10_000;
    let flow_seq = "[".repeat(depth) + &"]".repeat(depth);
    let flow_map = "{a: ".repeat(depth) + "x" + &"}".repeat(depth);
    // Block style nests by indentation; 10,000 levels would be a 100 MB file, so a depth
    // past the limit is enough to show the limit holds there too.
    let block: String = (0..200)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    let in_rule = rule_with(&format!("  sel:\n    x: {flow_seq}\n  condition: sel\n"));
    for (name, text) in [
        ("flow-seq.yml", flow_seq),
        ("flow-map.yml", flow_map),
        ("block.yml", block),
        ("in-rule.yml", in_rule),
    ] {
        let (_, msg) = load_beside_good(&dir, name, &text);
        assert!(
            msg.contains("too deep") || msg.contains("line"),
            "{name}: {msg}"
        );
    }
}

#[test]
fn deep_conditions_are_a_load_failure() {
    let dir = TempDir::new("deep-condition");
    let depth = 10_000;
    for (name, cond) in [
        ("parens.yml", "(".repeat(depth) + "sel" + &")".repeat(depth)),
        ("nots.yml", "not ".repeat(depth) + "sel"),
        (
            "mixed.yml",
            "(not ".repeat(depth) + "sel" + &")".repeat(depth),
        ),
    ] {
        let rule = rule_with(&format!("  sel:\n    x: 1\n  condition: '{cond}'\n"));
        let (_, msg) = load_beside_good(&dir, name, rule);
        assert!(msg.contains("nested deeper than"), "{name}: {msg}");
    }
    // Long but flat conditions are fine: 10,000 terms joined by `or`.
    let flat = vec!["sel"; 10_000].join(" or ");
    let rule = rule_with(&format!("  sel:\n    x: 1\n  condition: '{flat}'\n"));
    let path = dir.file("flat.yml", rule);
    let loaded = load_rules(&[path], &LoadOptions::default());
    assert!(
        loaded.report.failures.is_empty(),
        "{:?}",
        loaded.report.failures
    );
}

#[test]
fn alias_bombs_are_a_load_failure() {
    let dir = TempDir::new("alias-bomb");
    // "Billion laughs": each level repeats the one before ten times; copied out, the last
    // level would be 10^9 nodes.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        bomb.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    let (_, msg) = load_beside_good(&dir, "laughs.yml", &bomb);
    assert!(msg.contains("alias"), "{msg}");
    // Few nodes, but each copy of a large string.
    let big = "y".repeat(1 << 20);
    let mut wide = format!("s: &s '{big}'\n");
    let refs = vec!["*s"; 200].join(", ");
    wide.push_str(&format!("l: [{refs}]\n"));
    let (_, msg) = load_beside_good(&dir, "wide.yml", &wide);
    assert!(msg.contains("alias"), "{msg}");
}

#[test]
fn expansion_bombs_are_a_load_failure() {
    let dir = TempDir::new("expansion");
    // Every `-x` between wildcards is 5 windash variants, multiplied across the pieces.
    let value: Vec<String> = (0..16)
        .map(|i| format!("-{}", (b'a' + i) as char))
        .collect();
    let rule = rule_with(&format!(
        "  sel:\n    CommandLine|windash: '{}'\n  condition: sel\n",
        value.join("*")
    ));
    let (_, msg) = load_beside_good(&dir, "windash.yml", rule);
    assert!(msg.contains("too many variants"), "{msg}");
}

#[test]
fn binary_empty_and_unreadable_rule_files() {
    let dir = TempDir::new("files");
    let garbage: Vec<u8> = (0u32..4096)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let (_, msg) = load_beside_good(&dir, "garbage.yml", &garbage);
    assert!(msg.contains("not UTF-8"), "{msg}");
    let mut after_text = b"title: x\n".to_vec();
    after_text.extend_from_slice(&[0, 1, 2, 3, 0xff, b'\n']);
    let (_, msg) = load_beside_good(&dir, "control.yml", &after_text);
    assert!(msg.contains("control.yml"), "{msg}");
    // Too large to be a rule file.
    let big = "# padding\n".repeat(500_000);
    let (_, msg) = load_beside_good(&dir, "huge.yml", &big);
    assert!(msg.contains("larger than"), "{msg}");
    // An empty file holds no document: nothing to load, nothing wrong.
    let empty = dir.file("empty.yml", "");
    let loaded = load_rules(&[empty], &LoadOptions::default());
    assert!(loaded.report.failures.is_empty());
    assert_eq!(loaded.report.detection_rules, 0);
    // Scalars and lists are not rules.
    let (_, msg) = load_beside_good(&dir, "scalar.yml", "just a string\n");
    assert!(msg.contains("must be a mapping"), "{msg}");
    // Paths that cannot be read as a rule file.
    let dangling = dir.0.join("dangling.yml");
    std::os::unix::fs::symlink(dir.0.join("missing"), &dangling).unwrap();
    let missing = Path::new("/nonexistent/palisade/rules.yml").to_owned();
    let loaded = load_rules(
        &[dangling.clone(), missing.clone()],
        &LoadOptions::default(),
    );
    let mut paths: Vec<_> = loaded.report.failures.iter().map(|f| &f.path).collect();
    paths.sort();
    assert_eq!(paths, [&missing, &dangling]);
}

#[test]
fn correlation_cycles_are_a_load_failure() {
    let dir = TempDir::new("cycles");
    let base = "title: base\nname: base\nlogsource: {product: windows}\ndetection:\n  sel:\n    Image|endswith: '\\cmd.exe'\n  condition: sel\n";
    let corr = |name: &str, refs: &str| {
        format!(
            "---\ntitle: {name}\nname: {name}\ncorrelation:\n  type: event_count\n  rules: [{refs}]\n  timespan: 1h\n  condition:\n    gte: 1\n"
        )
    };
    let text = format!(
        "{base}{}{}{}{}",
        corr("self_loop", "base, self_loop"),
        corr("ping", "base, pong"),
        corr("pong", "ping"),
        corr("fine", "base"),
    );
    let path = dir.file("cycles.yml", text);
    let loaded = load_rules(&[path], &LoadOptions::default());
    let failed: Vec<String> = loaded
        .report
        .failures
        .iter()
        .map(|f| f.to_string())
        .collect();
    assert_eq!(failed.len(), 3, "{failed:?}");
    for (f, name) in failed.iter().zip(["self_loop", "ping", "pong"]) {
        assert!(f.contains(name) && f.contains("cycle"), "{f}");
    }
    assert_eq!(loaded.report.correlation_rules, 1, "{failed:?}");
    // What is left runs: one hit fires `fine` and nothing loops.
    let mut engine = loaded.correlation_engine();
    let mut e = palisade_event::Event::new(palisade_event::Origin::default(), "evtx");
    e.insert_named("Image", "C:\\Windows\\System32\\cmd.exe".into())
        .unwrap();
    let fired = engine.feed(
        palisade_sigma::RuleRef::Detection(0),
        Some(chrono::Utc::now()),
        palisade_sigma::HitSource::Event(&e),
        &e.origin,
    );
    assert_eq!(fired.len(), 1);
}

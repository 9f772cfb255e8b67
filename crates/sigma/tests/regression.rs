//! Conformance (b): Sigma's own regression suite. Every rule listed in
//! `regression_index.csv` must fire on its `.evtx` sample exactly as many times as expected
//! (at least once where no count is given). The whole corpus is loaded into one rule set, so
//! routing and prefiltering are exercised as in a real hunt.
//!
//! A rule may be excused only by a line in `tests/regression_known_gaps.txt` with a reason.

use std::collections::HashMap;
mod common;

use std::path::Path;

use palisade_event::Event;
use palisade_ingest::{EventSink, IngestOptions, Input, RecordError, read_input};
use palisade_sigma::{LoadOptions, Scratch, load_rules};

struct Collect(Vec<Event>, Vec<RecordError>);
impl EventSink for Collect {
    fn events(&mut self, batch: &mut Vec<Event>) {
        self.0.append(batch);
    }
    fn warning(&mut self, e: RecordError) {
        self.1.push(e);
    }
}

fn known_gaps() -> HashMap<String, String> {
    let text = include_str!("regression_known_gaps.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (id, reason) = l.split_once(char::is_whitespace)?;
            Some((id.to_owned(), reason.trim().to_owned()))
        })
        .collect()
}

fn read_events(path: &Path) -> Collect {
    let mut sink = Collect(Vec::new(), Vec::new());
    read_input(
        &Input::Path(path.to_owned()),
        &IngestOptions::default(),
        &mut sink,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    sink
}

#[test]
fn regression_suite_passes() {
    let Some(dir) = common::shared_data("sigma") else {
        return;
    };
    let paths = common::sigma_rule_dirs(&dir);
    let loaded = load_rules(&paths, &LoadOptions::default());
    let by_id: HashMap<&str, u32> = loaded
        .rules
        .rules()
        .iter()
        .enumerate()
        .filter(|(_, r)| r.primary.is_none())
        .map(|(i, r)| (r.info.id.as_str(), i as u32))
        .collect();
    let gaps = known_gaps();
    let mut reader = csv::Reader::from_path(dir.join("regression_index.csv")).unwrap();
    let (mut total, mut passed, mut exact_counts, mut excused) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    let mut scratch = Scratch::default();
    let mut hits = Vec::new();
    for row in reader.records() {
        let row = row.unwrap();
        let (id, title, sample) = (&row[0], &row[1], &row[6]);
        let expected: Option<usize> = row[5].trim().parse().ok();
        if &row[4] != "evtx" {
            println!("  no sample for {id} {title}: {sample}");
            continue;
        }
        total += 1;
        let Some(&rule) = by_id.get(id) else {
            failures.push(format!("{id} {title}: rule not loaded"));
            continue;
        };
        let events = read_events(&dir.join(sample));
        assert!(events.1.is_empty(), "{sample}: {:?}", events.1);
        let mut count = 0;
        for e in &events.0 {
            hits.clear();
            loaded.rules.match_event(e, &mut scratch, &mut hits);
            count += hits
                .iter()
                .filter(|h| loaded.rules.rule(**h).canonical(**h) == rule)
                .count();
        }
        let ok = match expected {
            Some(n) => count == n,
            None => count >= 1,
        };
        if expected.is_some() && ok {
            exact_counts += 1;
        }
        if ok {
            passed += 1;
        } else if let Some(reason) = gaps.get(id) {
            excused += 1;
            println!("  known gap {id} {title}: {count} matches ({reason})");
        } else {
            failures.push(format!(
                "{id} {title}: {count} matches, expected {} ({} events in {sample})",
                expected.map_or("at least 1".to_string(), |n| n.to_string()),
                events.0.len()
            ));
        }
    }
    println!(
        "sigma regression suite: {passed}/{total} passed ({exact_counts} with exact expected counts), {excused} known gaps"
    );
    for f in &failures {
        println!("  FAILED {f}");
    }
    assert!(total > 200);
    assert!(
        failures.is_empty(),
        "{} regression failures",
        failures.len()
    );
}

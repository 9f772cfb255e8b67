//! Conformance (a): every rule of the SigmaHQ corpus loads.
//!
//! Prints the number of documents that fail, with reasons; the target is zero.

mod common;

use palisade_sigma::{LoadOptions, load_rules};

#[test]
fn every_corpus_rule_loads() {
    let Some(dir) = common::shared_data("sigma") else {
        return;
    };
    let paths = common::sigma_rule_dirs(&dir);
    let loaded = load_rules(&paths, &LoadOptions::default());
    let r = &loaded.report;
    println!(
        "sigma corpus: {} files, {} detection rules, {} correlations, {} filters loaded; {} failed; {} warnings",
        r.files,
        r.detection_rules,
        r.correlation_rules,
        r.filter_rules,
        r.failures.len(),
        r.warnings.len()
    );
    for f in &r.failures {
        println!("  FAILED {f}");
    }
    let mut never: std::collections::BTreeMap<String, usize> = Default::default();
    for w in &r.warnings {
        *never.entry(w.message.clone()).or_default() += 1;
    }
    for (m, n) in &never {
        println!("  warning x{n}: {m}");
    }
    assert!(
        r.files > 3000,
        "expected the full corpus, found {} files",
        r.files
    );
    assert_eq!(r.failures.len(), 0, "rules failed to load");
}

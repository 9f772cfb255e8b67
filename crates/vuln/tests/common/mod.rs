#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/data/<rel>` (beside the workspace). Missing: panics under `CI=true`, otherwise
/// prints a loud skip and returns `None`.
pub fn data(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel);
    let alt = PathBuf::from("/work/shared/data").join(rel);
    for c in [p, alt] {
        if c.exists() {
            return Some(c);
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("test data ../shared/data/{rel} is missing (CI=true: not skipping)");
    }
    eprintln!("\n!!!!! SKIPPED: test data ../shared/data/{rel} is missing !!!!!\n");
    None
}

pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

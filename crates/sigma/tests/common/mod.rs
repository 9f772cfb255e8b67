//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// `../shared/data/<sub>` beside the repository. Missing data fails loudly under `CI=true`;
/// elsewhere the test is skipped with a message.
#[allow(dead_code)]
pub fn shared_data(sub: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(sub);
    if dir.exists() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI=true but the test data is missing at {}",
        dir.display()
    );
    eprintln!("skipping: test data not found at {}", dir.display());
    None
}

/// The three SigmaHQ rule folders under the Sigma data directory.
#[allow(dead_code)] // not every test binary uses every helper
pub fn sigma_rule_dirs(sigma: &std::path::Path) -> Vec<PathBuf> {
    ["rules", "rules-emerging-threats", "rules-threat-hunting"]
        .iter()
        .map(|d| sigma.join(d))
        .collect()
}

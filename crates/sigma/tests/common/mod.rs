//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// `../shared/data/<sub>` beside the repository. Missing data fails loudly under `CI=true`;
/// elsewhere the test is skipped with a message.
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

//! `go.sum`: `module version hash` lines. A module listed only with a `/go.mod` hash was read
//! for its requirements but its code is not built, so only modules with a code hash count.

use super::{Inventory, InventoryError, Package};
use crate::ecosystem::Ecosystem;

pub(super) fn parse_go_sum(
    file: &str,
    text: &str,
    inv: &mut Inventory,
) -> Result<(), InventoryError> {
    let mut seen = std::collections::HashSet::new();
    let mut mod_only = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(module), Some(version), Some(hash)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(InventoryError::new(
                file,
                Some((i + 1).to_string()),
                "expected `module version hash`",
            ));
        };
        if !hash.starts_with("h1:") && !hash.contains(':') {
            return Err(InventoryError::new(
                file,
                Some((i + 1).to_string()),
                "bad hash",
            ));
        }
        if let Some(v) = version.strip_suffix("/go.mod") {
            mod_only.push((module, v));
            continue;
        }
        if seen.insert((module, version)) {
            inv.packages.push(Package {
                ecosystem: Ecosystem::Go,
                name: module.to_owned(),
                version: version.to_owned(),
                release: None,
                binary: None,
                line: Some(i + 1),
            });
        }
    }
    for m in mod_only {
        if !seen.contains(&m) {
            inv.skip("go.mod hash only (code not built)");
        }
    }
    Ok(())
}

//! `Cargo.lock` (versions 1–4): every `[[package]]`, registry or not (as cargo-audit does:
//! advisories name crates, and a git or path crate of the same name is still that crate).

use serde::Deserialize;

use super::{Inventory, InventoryError, Package};
use crate::ecosystem::Ecosystem;

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<LockPackage>,
}

#[derive(Deserialize)]
struct LockPackage {
    name: String,
    version: String,
}

pub(super) fn parse(file: &str, text: &str, inv: &mut Inventory) -> Result<(), InventoryError> {
    let lock: Lock = toml::from_str(text).map_err(|e| InventoryError::toml(file, text, &e))?;
    let mut search_from = 0;
    for p in lock.package {
        // Lockfiles list packages in order; the line is where `name = "…"` stands.
        let needle = format!("name = \"{}\"", p.name);
        let line = text[search_from..].find(&needle).map(|i| {
            search_from += i + needle.len();
            super::line_of(text, search_from)
        });
        inv.packages.push(Package {
            ecosystem: Ecosystem::CratesIo,
            name: p.name,
            version: p.version,
            release: None,
            binary: None,
            line,
        });
    }
    Ok(())
}

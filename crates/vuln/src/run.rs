//! One scan from paths to ranked findings: discover inventories, read them (in parallel
//! when the caller asks), match them and rank, with exposure from the host's `/proc` for
//! dpkg status files of a live root. The advisories are the caller's (files, store, both).

use std::path::{Path, PathBuf};

use crate::exploit::{Epss, Kev};
use crate::host::PackageExposure;
use crate::inventory::{self, Inventory, InventoryKind};
use crate::scan::{ExposureProbe, Finding, ScanResult, sort_findings};
use crate::{AdvisoryDb, Scanner};

/// What one scan read and found.
#[derive(Debug, Default)]
pub struct ScanOutcome {
    pub inventories: Vec<Inventory>,
    pub findings: Vec<Finding>,
    /// Inventories and package versions that could not be read (file, position, reason).
    pub errors: Vec<String>,
    pub packages: usize,
}

/// Finds and reads the inventories of `paths`; unreadable ones become error lines.
pub fn read_inventories(paths: &[PathBuf]) -> (Vec<Inventory>, Vec<String>) {
    let (found, discover_errors) = inventory::discover(paths);
    let mut errors: Vec<String> = discover_errors.iter().map(ToString::to_string).collect();
    let mut inventories = Vec::new();
    for (p, k) in found {
        match inventory::read_inventory(&p, k) {
            Ok(inv) => inventories.push(inv),
            Err(e) => errors.push(e.to_string()),
        }
    }
    (inventories, errors)
}

/// The root of `<root>/var/lib/dpkg/status`.
fn host_root_of(status: &Path) -> Option<PathBuf> {
    if !status.ends_with("var/lib/dpkg/status") {
        return None;
    }
    Some(status.parent()?.parent()?.parent()?.parent()?.to_path_buf())
}

/// Exposure of the first dpkg status whose root has a live `/proc`.
pub fn exposure_for(inventories: &[Inventory]) -> Option<PackageExposure> {
    inventories
        .iter()
        .filter(|i| i.kind == InventoryKind::DpkgStatus)
        .find_map(|i| host_root_of(Path::new(&i.file)))
        .filter(|root| root.join("proc/net").exists())
        .map(|root| PackageExposure::read(&root))
}

/// Matches and ranks read inventories. `map` scans each inventory (the caller may run it in
/// parallel); results are merged and sorted by priority.
pub fn scan_inventories(
    inventories: Vec<Inventory>,
    db: &AdvisoryDb,
    kev: Option<&Kev>,
    epss: Option<&Epss>,
    map: impl FnOnce(&[Inventory], &(dyn Fn(&Inventory) -> ScanResult + Sync)) -> Vec<ScanResult>,
) -> ScanOutcome {
    let exposure = exposure_for(&inventories);
    let scanner = Scanner {
        db,
        kev,
        epss,
        exposure: exposure.as_ref().map(|e| e as &dyn ExposureProbe),
    };
    let results = map(&inventories, &|inv| scanner.scan(inv));
    let mut out = ScanOutcome {
        inventories,
        ..ScanOutcome::default()
    };
    for r in results {
        out.packages += r.packages;
        for u in r.unreadable {
            out.errors.push(format!(
                "{}: {} {}: {}",
                u.file, u.package, u.version, u.error
            ));
        }
        out.findings.extend(r.findings);
    }
    sort_findings(&mut out.findings);
    out
}

/// Sequential scanning, for callers without a thread pool.
pub fn sequential(
    invs: &[Inventory],
    scan: &(dyn Fn(&Inventory) -> ScanResult + Sync),
) -> Vec<ScanResult> {
    invs.iter().map(scan).collect()
}

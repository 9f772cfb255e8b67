//! palisade-vuln's parsers: the input as every inventory format, as an OSV document (JSON and
//! YAML), as versions of every scheme and as a CVSS vector. None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palisade_vuln::inventory::{InventoryKind, parse_inventory};
use palisade_vuln::version::{Scheme, Version};

const KINDS: [InventoryKind; 10] = [
    InventoryKind::DpkgStatus,
    InventoryKind::CargoLock,
    InventoryKind::PackageLock,
    InventoryKind::YarnLock,
    InventoryKind::Requirements,
    InventoryKind::PoetryLock,
    InventoryKind::PipfileLock,
    InventoryKind::GoSum,
    InventoryKind::CycloneDx,
    InventoryKind::Spdx,
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for kind in KINDS {
        let _ = parse_inventory("fuzz", kind, text, None);
    }
    let _ = palisade_vuln::osv::parse_json(text);
    let _ = palisade_vuln::osv::parse_yaml(text);
    for line in text.lines().take(64) {
        for scheme in [Scheme::SemVer, Scheme::Go, Scheme::Pep440, Scheme::Debian] {
            let _ = Version::parse(scheme, line);
        }
        let _ = palisade_vuln::cvss::base_score(line);
    }
});

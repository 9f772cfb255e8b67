//! Parsers never panic, whatever the input: every inventory format, OSV JSON and YAML, KEV
//! and EPSS files. Inputs are random text and mutations of the real fixtures.

mod common;

use palisade_vuln::exploit::{Epss, Kev};
use palisade_vuln::inventory::{InventoryKind, parse_inventory};
use proptest::prelude::*;

const KINDS: [(InventoryKind, &str); 10] = [
    (InventoryKind::DpkgStatus, "host/var/lib/dpkg/status"),
    (InventoryKind::CargoLock, "lockfiles/rust/Cargo.lock"),
    (
        InventoryKind::PackageLock,
        "lockfiles/node/package-lock.json",
    ),
    (InventoryKind::YarnLock, "lockfiles/node/yarn.lock"),
    (
        InventoryKind::Requirements,
        "lockfiles/python/requirements.txt",
    ),
    (InventoryKind::PoetryLock, "lockfiles/python/poetry.lock"),
    (InventoryKind::PipfileLock, "lockfiles/python/Pipfile.lock"),
    (InventoryKind::GoSum, "lockfiles/go/go.sum"),
    (InventoryKind::CycloneDx, "sbom/app.cdx.json"),
    (InventoryKind::Spdx, "sbom/app.spdx.json"),
];

fn fixture_text(rel: &str) -> String {
    std::fs::read_to_string(common::fixture(rel)).unwrap()
}

/// Cuts a text at a char boundary at or below `at`.
fn cut(s: &str, at: usize) -> &str {
    let mut i = at.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn inventories_never_panic_on_random_text(text in "\\PC{0,300}") {
        for (kind, _) in KINDS {
            let _ = parse_inventory("x", kind, &text, None);
        }
        let _ = Kev::parse("kev", &text);
        let _ = Epss::parse("epss", &text);
        let _ = palisade_vuln::osv::parse_json(&text);
        let _ = palisade_vuln::osv::parse_yaml(&text);
    }

    #[test]
    fn truncated_and_mutated_fixtures_never_panic(
        which in 0usize..10,
        at in 0usize..4000,
        insert in "\\PC{0,12}",
    ) {
        let (kind, rel) = KINDS[which];
        let text = fixture_text(rel);
        let head = cut(&text, at);
        let _ = parse_inventory("x", kind, head, None);
        let mutated = format!("{head}{insert}{}", &text[head.len()..]);
        let _ = parse_inventory("x", kind, &mutated, None);
    }

    #[test]
    fn truncated_advisories_never_panic(at in 0usize..2000) {
        for rel in ["osv/GO-2020-0001.yaml", "osv/GHSA-p6mc-m468-83gw.json", "osv/PYSEC-2019-217.yaml"] {
            let text = fixture_text(rel);
            let head = cut(&text, at);
            let _ = palisade_vuln::osv::parse_json(head);
            let _ = palisade_vuln::osv::parse_yaml(head);
        }
    }
}

//! The real advisory databases in ../shared/data: RustSec (OSV JSON) and PyPA (OSV YAML) load
//! without errors, and the known-vulnerable lockfiles find what they should.

mod common;

use common::{data, fixture};
use palisade_vuln::inventory::{self, InventoryKind};
use palisade_vuln::{AdvisoryDb, Ecosystem, LoadReport, Scanner};

fn load(rel: &str) -> Option<(AdvisoryDb, LoadReport)> {
    let path = data(rel)?;
    let mut db = AdvisoryDb::new();
    let mut report = LoadReport::default();
    db.load_path(&path, &mut report).unwrap();
    Some((db, report))
}

#[test]
fn rustsec_loads_and_matches_the_fixture_lockfile() {
    let Some((db, report)) = load("rustsec-advisory-db/osv") else {
        return;
    };
    assert!(
        report.errors.is_empty(),
        "{:?}",
        &report.errors[..report.errors.len().min(3)]
    );
    assert!(db.len() > 1000, "{}", db.len());
    let inv = inventory::read_inventory(
        &fixture("lockfiles/rust/Cargo.lock"),
        InventoryKind::CargoLock,
    )
    .unwrap();
    let found = Scanner::new(&db).scan(&inv).findings;
    let ids: Vec<&str> = found
        .iter()
        .filter(|f| f.informational.is_none())
        .map(|f| f.id.as_str())
        .collect();
    for want in [
        "RUSTSEC-2021-0003",
        "RUSTSEC-2022-0013",
        "RUSTSEC-2020-0071",
        "RUSTSEC-2021-0078",
    ] {
        assert!(ids.contains(&want), "{want} missing from {ids:?}");
    }
    // serde 1.0.200 has no advisory.
    assert!(found.iter().all(|f| f.package != "serde"));
    // Every finding names the fixed version when RustSec has one.
    let smallvec = found.iter().find(|f| f.id == "RUSTSEC-2021-0003").unwrap();
    assert_eq!(smallvec.fixed.as_deref(), Some("1.6.1"));
    assert!(smallvec.line.is_some());
}

#[test]
fn pypa_yaml_loads_and_matches_pins() {
    let Some((db, report)) = load("pypa-advisory-db/vulns") else {
        return;
    };
    assert!(
        report.errors.is_empty(),
        "{:?}",
        &report.errors[..report.errors.len().min(3)]
    );
    assert!(db.len() > 2000, "{}", db.len());
    assert!(
        db.counts()
            .iter()
            .any(|(e, n)| *e == Ecosystem::PyPI && *n > 2000)
    );
    let inv = inventory::read_inventory(
        &fixture("lockfiles/python/requirements.txt"),
        InventoryKind::Requirements,
    )
    .unwrap();
    let found = Scanner::new(&db).scan(&inv).findings;
    let packages: std::collections::BTreeSet<&str> =
        found.iter().map(|f| f.package.as_str()).collect();
    for p in [
        "Django", "requests", "urllib3", "Jinja2", "PyYAML", "Flask", "Pillow",
    ] {
        assert!(packages.contains(p), "{p} missing: {packages:?}");
    }
    // One finding per vulnerability: no two findings of a package share an alias.
    for f in &found {
        for g in &found {
            if f.package == g.package && f.id != g.id {
                assert!(
                    !f.aliases
                        .iter()
                        .any(|a| g.aliases.contains(a) || *a == g.id),
                    "{} / {}",
                    f.id,
                    g.id
                );
            }
        }
    }
}

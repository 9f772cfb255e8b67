//! End to end over the hand-written fixtures: every inventory format, OSV JSON/YAML/zip,
//! alias merging, withdrawn advisories, Debian releases, bad input.

mod common;

use std::collections::BTreeSet;
use std::io::Write;

use common::fixture;
use palisade_vuln::inventory::{self, InventoryKind};
use palisade_vuln::{AdvisoryDb, LoadReport, Scanner};

fn fixture_db() -> AdvisoryDb {
    let mut db = AdvisoryDb::new();
    let mut report = LoadReport::default();
    db.load_path(&fixture("osv"), &mut report).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.withdrawn, 1);
    db
}

fn scan_one(db: &AdvisoryDb, rel: &str) -> Vec<(String, String, String, Option<String>)> {
    let path = fixture(rel);
    let (found, errors) = inventory::discover(std::slice::from_ref(&path));
    assert!(errors.is_empty(), "{errors:?}");
    let mut out = Vec::new();
    for (p, kind) in found {
        let inv = inventory::read_inventory(&p, kind).unwrap_or_else(|e| panic!("{e}"));
        for f in Scanner::new(db).scan(&inv).findings {
            out.push((f.id, f.package, f.installed, f.fixed));
        }
    }
    out.sort();
    out
}

#[test]
fn every_format_is_discovered_and_read() {
    let (found, errors) =
        inventory::discover(&[fixture("lockfiles"), fixture("sbom"), fixture("host")]);
    assert!(errors.is_empty(), "{errors:?}");
    let kinds: BTreeSet<InventoryKind> = found.iter().map(|f| f.1).collect();
    assert_eq!(kinds.len(), 10, "{kinds:?}");
    for (p, k) in &found {
        let inv = inventory::read_inventory(p, *k).unwrap_or_else(|e| panic!("{e}"));
        assert!(!inv.packages.is_empty(), "{}", p.display());
    }
}

#[test]
fn npm_go_debian_findings_with_fixes() {
    let db = fixture_db();
    let npm = scan_one(&db, "lockfiles/node/package-lock.json");
    assert_eq!(
        npm,
        [
            (
                "GHSA-p6mc-m468-83gw".into(),
                "lodash".into(),
                "4.17.15".into(),
                Some("4.17.19".into())
            ),
            (
                "GHSA-vh95-rmgr-6w4m".into(),
                "minimist".into(),
                "0.0.8".into(),
                Some("0.2.1".into())
            ),
            (
                "GHSA-vh95-rmgr-6w4m".into(),
                "minimist".into(),
                "1.2.0".into(),
                Some("1.2.3".into())
            ),
        ]
    );
    // Yarn v1 and Berry: lodash 4.17.10 and minimist 1.2.5 (already fixed).
    let yarn = scan_one(&db, "lockfiles/node/yarn.lock");
    assert_eq!(yarn.len(), 1);
    assert!(scan_one(&db, "lockfiles/node/berry/yarn.lock").is_empty());
    // Go: the pseudo-version of x/text is older than 0.3.3; gin 1.6.0 < the fix's pseudo-version.
    let go: Vec<_> = scan_one(&db, "lockfiles/go/go.sum")
        .into_iter()
        .map(|f| f.0)
        .collect();
    assert_eq!(go, ["GO-2020-0001", "GO-2020-0015"]);
    // Debian 12 host: openssl (source of libssl3 and openssl, one finding) and openssh.
    let host = scan_one(&db, "host/var/lib/dpkg/status");
    assert_eq!(
        host,
        [
            (
                "DEBIAN-CVE-2023-38408".into(),
                "openssh".into(),
                "1:9.2p1-2".into(),
                Some("1:9.2p1-2+deb12u1".into())
            ),
            (
                "DSA-5139-1".into(),
                "openssl".into(),
                "3.0.9-1".into(),
                Some("3.0.11-1~deb12u2".into())
            ),
        ]
    );
}

#[test]
fn aliases_are_one_finding() {
    let db = fixture_db();
    let mut inv = palisade_vuln::Inventory {
        file: "requirements.txt".into(),
        kind: InventoryKind::Requirements,
        packages: Vec::new(),
        skipped: Vec::new(),
    };
    inv.packages.push(palisade_vuln::Package {
        ecosystem: palisade_vuln::Ecosystem::PyPI,
        name: "Jinja2".into(),
        version: "2.10".into(),
        release: None,
        binary: None,
        line: Some(3),
    });
    let findings = Scanner::new(&db).scan(&inv).findings;
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f.id, "PYSEC-2019-217");
    assert_eq!(f.aliases, ["GHSA-462w-v97r-4m45", "CVE-2019-10906"]);
    assert_eq!(f.fixed.as_deref(), Some("2.10.1"));
    // The GHSA copy carries the CVSS vector; the merged finding keeps it.
    assert_eq!(f.cvss.as_ref().map(|c| c.score), Some(8.6));
}

#[test]
fn priority_is_the_sum_of_its_reasons() {
    let db = fixture_db();
    let kev = palisade_vuln::exploit::Kev::parse(
        "kev.csv",
        "cveID,dateAdded,knownRansomwareCampaignUse\nCVE-2020-8203,2022-01-01,Known\n",
    )
    .unwrap();
    let epss = palisade_vuln::exploit::Epss::parse(
        "e.csv",
        "cve,epss,percentile\nCVE-2020-7598,0.5,0.9\n",
    )
    .unwrap();
    let path = fixture("lockfiles/node/package-lock.json");
    let inv = inventory::read_inventory(&path, InventoryKind::PackageLock).unwrap();
    let scanner = Scanner {
        db: &db,
        kev: Some(&kev),
        epss: Some(&epss),
        exposure: None,
    };
    let findings = scanner.scan(&inv).findings;
    assert_eq!(
        findings[0].package, "lodash",
        "the known-exploited one ranks first"
    );
    assert_eq!(findings[0].severity, palisade_event::Severity::High);
    for f in &findings {
        let sum: f64 = f.reasons.iter().map(|r| r.points).sum();
        assert!((sum - f.priority).abs() < 0.01, "{f:#?}");
        assert!(f.priority <= 100.0);
    }
    // 4 × 7.4 + 25 + 5 (ransomware) + 5 (fix)
    assert!(
        (findings[0].priority - 64.6).abs() < 0.01,
        "{}",
        findings[0].priority
    );
}

#[test]
fn bad_documents_are_reported_and_the_good_ones_load() {
    let mut db = AdvisoryDb::new();
    let mut report = LoadReport::default();
    db.load_path(&fixture("bad"), &mut report).unwrap();
    assert_eq!(report.loaded, 1);
    assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
    let json = report
        .errors
        .iter()
        .find(|e| e.file.ends_with("broken.json"))
        .unwrap();
    assert!(json.message.contains("line 2"), "{}", json.message);
    let yaml = report
        .errors
        .iter()
        .find(|e| e.file.ends_with("broken.yaml"))
        .unwrap();
    assert!(yaml.message.contains("line"), "{}", yaml.message);
}

#[test]
fn zip_archives_load_like_directories() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("all.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    for entry in std::fs::read_dir(fixture("osv")).unwrap() {
        let p = entry.unwrap().path();
        zip.start_file(p.file_name().unwrap().to_str().unwrap(), opts)
            .unwrap();
        zip.write_all(&std::fs::read(&p).unwrap()).unwrap();
    }
    zip.finish().unwrap();
    let mut db = AdvisoryDb::new();
    let mut report = LoadReport::default();
    db.load_path(&zip_path, &mut report).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(db.len(), fixture_db().len());
    // Not a zip at all: an error naming the file.
    std::fs::write(dir.path().join("bad.zip"), b"not a zip").unwrap();
    let e = db
        .load_path(&dir.path().join("bad.zip"), &mut report)
        .unwrap_err();
    assert!(e.to_string().contains("bad.zip"), "{e}");
}

#[test]
fn bad_inventories_name_file_and_position() {
    let cases = [
        (
            InventoryKind::CargoLock,
            "[[package]]\nname = \"x\"\nversion = 1\n",
            "3:",
        ),
        (
            InventoryKind::PackageLock,
            "{\"packages\": {\n  \"x\": [\n",
            "3:",
        ),
        (InventoryKind::GoSum, "good v1.0.0 h1:x\nbroken\n", ":2"),
        (
            InventoryKind::YarnLock,
            "lodash@^1\n  version \"1\"\n",
            ":1",
        ),
        (
            InventoryKind::DpkgStatus,
            "Package: x\nno colon here\n",
            ":2",
        ),
        (
            InventoryKind::CycloneDx,
            "{\"bomFormat\": \"SPDX\"}",
            "bomFormat",
        ),
    ];
    for (kind, text, want) in cases {
        let e = inventory::parse_inventory("the-file", kind, text, None).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("the-file") && msg.contains(want),
            "{kind:?}: {msg}"
        );
    }
}

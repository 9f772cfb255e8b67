//! Version orderings checked against their references: dpkg itself (`dpkg --compare-versions`),
//! Python's `packaging` (a sorted list it produced, see reference/pep440_reference.py) and
//! the `semver` crate; and every ordering is a total order that never panics on any input.

use std::cmp::Ordering;
use std::process::Command;

use palisade_vuln::version::{Scheme, Version, compare};
use proptest::prelude::*;

fn dpkg_available() -> bool {
    let ok = Command::new("dpkg")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("dpkg is missing (CI=true: not skipping the reference test)");
        }
        eprintln!("\n!!!!! SKIPPED: dpkg is not installed !!!!!\n");
    }
    ok
}

/// dpkg's answer for `a` vs `b`.
fn dpkg_cmp(a: &str, b: &str) -> Ordering {
    let rel = |op: &str| {
        Command::new("dpkg")
            .args(["--compare-versions", a, op, b])
            .status()
            .expect("dpkg runs")
            .success()
    };
    if rel("lt") {
        Ordering::Less
    } else if rel("eq") {
        Ordering::Equal
    } else {
        Ordering::Greater
    }
}

fn debian_version() -> impl Strategy<Value = String> {
    (
        prop::option::of(0u8..3),
        "[0-9][0-9a-z.+~]{0,8}",
        prop::option::of("[0-9a-z+~.][0-9a-z.+~]{0,5}"),
    )
        .prop_map(|(epoch, up, rev)| {
            let mut s = String::new();
            if let Some(e) = epoch {
                s.push_str(&format!("{e}:"));
            }
            s.push_str(&up);
            if let Some(r) = rev {
                s.push('-');
                s.push_str(&r);
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn debian_agrees_with_dpkg(a in debian_version(), b in debian_version()) {
        if !dpkg_available() {
            return Ok(());
        }
        let ours = compare(Scheme::Debian, &a, &b).unwrap();
        prop_assert_eq!(ours, dpkg_cmp(&a, &b), "{} vs {}", a, b);
    }
}

/// Pairs that exercise dpkg's corners, also checked against dpkg itself.
#[test]
fn debian_corner_cases_agree_with_dpkg() {
    if !dpkg_available() {
        return;
    }
    let vs = [
        "1.0",
        "1.0-0",
        "1.0~rc1",
        "1.0~~",
        "1.0~",
        "1.0a",
        "1.0+",
        "1.0.",
        "1:0.1",
        "0:1.0",
        "1.001",
        "1.1",
        "2.30-1ubuntu1",
        "2.30-1",
        "1.2.3-1.1",
        "1.2.3-1",
        "3.0.11-1~deb12u2",
        "3.0.11-1",
        "1.0+dfsg-1",
        "1.0-1+b1",
        "10",
        "9",
        "1.0-1~bpo12+1",
        "1a",
        "1+",
        "1~",
    ];
    for a in vs {
        for b in vs {
            assert_eq!(
                compare(Scheme::Debian, a, b).unwrap(),
                dpkg_cmp(a, b),
                "{a} vs {b}"
            );
        }
    }
}

#[test]
fn pep440_agrees_with_packaging() {
    let text = include_str!("reference/pep440_sorted.txt");
    let list: Vec<(u32, Version)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (rank, v) = l.split_once('\t').unwrap();
            (
                rank.parse().unwrap(),
                Version::parse(Scheme::Pep440, v).unwrap_or_else(|e| panic!("{e}")),
            )
        })
        .collect();
    assert!(list.len() >= 500);
    let mut wrong = Vec::new();
    for (ra, a) in &list {
        for (rb, b) in &list {
            if a.compare(b) != Some(ra.cmp(rb)) {
                wrong.push(format!(
                    "{a} vs {b}: ours {:?}, packaging {:?}",
                    a.compare(b),
                    ra.cmp(rb)
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} disagreements, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}

fn semver_text() -> impl Strategy<Value = String> {
    (
        0u64..4,
        0u64..4,
        0u64..4,
        prop::option::of(prop::collection::vec(
            "(0|[1-9][0-9]?|[a-z][a-z0-9-]{0,3})",
            1..3,
        )),
    )
        .prop_map(|(a, b, c, pre)| match pre {
            Some(p) => format!("{a}.{b}.{c}-{}", p.join(".")),
            None => format!("{a}.{b}.{c}"),
        })
}

proptest! {
    #[test]
    fn semver_agrees_with_the_semver_crate(a in semver_text(), b in semver_text()) {
        let ours = compare(Scheme::SemVer, &a, &b).unwrap();
        let theirs = semver::Version::parse(&a).unwrap().cmp(&semver::Version::parse(&b).unwrap());
        prop_assert_eq!(ours, theirs);
        // Go writes the same versions with a `v`.
        prop_assert_eq!(compare(Scheme::Go, &format!("v{a}"), &format!("v{b}")).unwrap(), theirs);
    }

    #[test]
    fn orderings_are_total_orders(
        xs in prop::collection::vec("[0-9][0-9a-z.+~:_!-]{0,10}", 3),
    ) {
        for scheme in [Scheme::SemVer, Scheme::Go, Scheme::Pep440, Scheme::Debian] {
            let vs: Vec<Version> = xs.iter().filter_map(|x| Version::parse(scheme, x).ok()).collect();
            for a in &vs {
                prop_assert_eq!(a.compare(a), Some(Ordering::Equal));
                for b in &vs {
                    prop_assert_eq!(a.compare(b), b.compare(a).map(Ordering::reverse));
                    for c in &vs {
                        if a <= b && b <= c {
                            prop_assert!(a <= c, "{:?} {} {} {}", scheme, a, b, c);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn parsing_never_panics(s in "\\PC{0,40}") {
        for scheme in [Scheme::SemVer, Scheme::Go, Scheme::Pep440, Scheme::Debian] {
            let _ = Version::parse(scheme, &s);
        }
        let _ = palisade_vuln::inventory::Purl::parse(&s);
        let _ = palisade_vuln::cvss::base_score(&s);
    }
}

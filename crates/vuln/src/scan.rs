//! Matching inventories against advisories, merging aliases, and ranking findings.
//!
//! # Priority
//! A finding's priority (0–100) is the sum of named contributions, each listed as a reason:
//!
//! | contribution | points |
//! |---|---|
//! | base severity | 4 × the highest CVSS base score of the merged advisories (0–40); without a vector the database's rating (critical 9.0, high 7.5, moderate/medium 5.0, low 2.5) or 5.0 when unrated; informational advisories (unmaintained, unsound) 1.0 |
//! | known exploited | +25 when an id or alias is in CISA KEV, +5 more when used by ransomware |
//! | exploitation forecast | +15 × the EPSS probability, when scores are supplied |
//! | exposure (host packages) | +10 when a process of the package listens on a socket, +5 when one only runs |
//! | actionable | +5 when a fixed version exists |
//!
//! The severity is the CVSS band of the score (or the rating), raised to at least `high` for a
//! known-exploited vulnerability.

use std::collections::HashMap;

use palisade_event::Severity;

use crate::cvss::{self, CvssScore};
use crate::db::AdvisoryDb;
use crate::ecosystem::Ecosystem;
use crate::exploit::{Epss, EpssScore, Kev, KevEntry};
use crate::inventory::{Inventory, Package};
use crate::osv::Advisory;
use crate::version::Version;

/// A package as matched: ecosystem, normalised name, version, distribution release.
type PackageKey = (Ecosystem, String, String, Option<String>);

/// An advisory that matched, the version fixing it, and its informational kind.
type Hit<'a> = (&'a Advisory, Option<String>, Option<String>);

/// One contribution to a priority.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Reason {
    pub points: f64,
    pub reason: String,
}

/// How exposed a host package is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Exposure {
    /// A process of the package listens (the sockets named).
    Listening(Vec<String>),
    /// A process of the package runs (the executables named).
    Running(Vec<String>),
}

/// Tells whether a package's software runs or listens (host scans only).
pub trait ExposureProbe: Sync {
    fn exposure(&self, package: &Package, binaries: &[String]) -> Option<Exposure>;
}

/// One vulnerability of one installed package (all aliases merged).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    /// The advisory id reported (RustSec, PyPA, Go, GHSA… ids before CVE ids).
    pub id: String,
    /// Every other id of the vulnerability: merged advisories and their aliases.
    pub aliases: Vec<String>,
    pub summary: String,
    pub ecosystem: Ecosystem,
    pub package: String,
    /// Debian binary packages built from `package`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub binaries: Vec<String>,
    pub installed: String,
    /// The version to upgrade to (fixes every merged advisory), if any is known.
    pub fixed: Option<String>,
    /// The inventory file and line.
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cvss: Option<CvssScore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kev: Option<KevEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epss: Option<EpssScore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposure: Option<Exposure>,
    /// `unmaintained`, `unsound`, `notice`: RustSec's informational advisories.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub informational: Option<String>,
    pub priority: f64,
    pub reasons: Vec<Reason>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
}

/// A package version that could not be read in its ecosystem's scheme.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UnreadableVersion {
    pub file: String,
    pub package: String,
    pub version: String,
    pub error: String,
}

/// What scanning one inventory found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ScanResult {
    pub packages: usize,
    pub findings: Vec<Finding>,
    pub unreadable: Vec<UnreadableVersion>,
}

/// Matches inventories against a database and ranks what it finds.
pub struct Scanner<'a> {
    pub db: &'a AdvisoryDb,
    pub kev: Option<&'a Kev>,
    pub epss: Option<&'a Epss>,
    pub exposure: Option<&'a dyn ExposureProbe>,
}

/// The preference of an id as the reported one: ecosystem databases first, GHSA next, CVE last.
fn id_rank(id: &str) -> (u8, &str) {
    let r = if id.starts_with("CVE-") {
        2
    } else if id.starts_with("GHSA-") {
        1
    } else {
        0
    };
    (r, id)
}

impl Scanner<'_> {
    pub fn new(db: &AdvisoryDb) -> Scanner<'_> {
        Scanner {
            db,
            kev: None,
            epss: None,
            exposure: None,
        }
    }

    /// Scans one inventory. Findings are sorted by priority, highest first.
    pub fn scan(&self, inv: &Inventory) -> ScanResult {
        let mut out = ScanResult::default();
        // Debian binaries of one source package are one package to match.
        let mut groups: HashMap<PackageKey, (Package, Vec<String>)> = HashMap::new();
        let mut order = Vec::new();
        for p in &inv.packages {
            let key = (
                p.ecosystem,
                p.ecosystem.normalise_name(&p.name),
                p.version.clone(),
                p.release.clone(),
            );
            let entry = groups.entry(key.clone()).or_insert_with(|| {
                order.push(key);
                (p.clone(), Vec::new())
            });
            if let Some(b) = &p.binary
                && !entry.1.contains(b)
            {
                entry.1.push(b.clone());
            }
        }
        out.packages = order.len();
        for key in order {
            let (pkg, binaries) = &groups[&key];
            self.scan_package(&inv.file, pkg, binaries, &key.1, &mut out);
        }
        sort_findings(&mut out.findings);
        out
    }

    fn scan_package(
        &self,
        file: &str,
        pkg: &Package,
        binaries: &[String],
        normalised: &str,
        out: &mut ScanResult,
    ) {
        let mut candidates = self.db.candidates(pkg.ecosystem, normalised).peekable();
        if candidates.peek().is_none() {
            return;
        }
        let installed = match Version::parse(pkg.ecosystem.scheme(), &pkg.version) {
            Ok(v) => v,
            Err(e) => {
                out.unreadable.push(UnreadableVersion {
                    file: file.to_owned(),
                    package: pkg.name.clone(),
                    version: pkg.version.clone(),
                    error: e.to_string(),
                });
                return;
            }
        };
        let mut hits: Vec<Hit<'_>> = Vec::new();
        for (adv, affected) in candidates {
            if let (Some(a), Some(p)) = (&affected.release, &pkg.release)
                && a != p
            {
                continue;
            }
            if let Some(hit) = affected.affects(&installed) {
                match hits.iter_mut().find(|h| h.0.id == adv.id) {
                    Some(h) => h.1 = max_version(pkg.ecosystem, h.1.take(), hit.fixed),
                    None => hits.push((adv, hit.fixed, affected.informational.clone())),
                }
            }
        }
        for group in merge_aliases(&hits) {
            out.findings.push(self.finding(file, pkg, binaries, &group));
        }
    }

    fn finding(
        &self,
        file: &str,
        pkg: &Package,
        binaries: &[String],
        group: &[&Hit<'_>],
    ) -> Finding {
        let mut ids: Vec<&str> = Vec::new();
        for (a, _, _) in group {
            ids.push(&a.id);
            ids.extend(a.aliases.iter().map(String::as_str));
        }
        ids.sort_by_key(|a| id_rank(a));
        ids.dedup();
        // The reported advisory: the best-ranked id that is an advisory we loaded.
        let primary = group
            .iter()
            .map(|g| g.0)
            .min_by_key(|a| id_rank(&a.id))
            .expect("groups are never empty");
        let aliases: Vec<String> = ids
            .iter()
            .filter(|i| **i != primary.id)
            .map(|s| (*s).to_owned())
            .collect();
        let fixed = group
            .iter()
            .fold(None, |acc, g| max_version(pkg.ecosystem, acc, g.1.clone()));
        let informational = if group.iter().all(|g| g.2.is_some()) {
            group[0].2.clone()
        } else {
            None
        };
        let cvss = group
            .iter()
            .flat_map(|g| g.0.severity.iter())
            .filter_map(|s| cvss::base_score(&s.vector).ok())
            .max_by(|a, b| a.score.total_cmp(&b.score));
        let rating = group
            .iter()
            .filter_map(|g| g.0.database_severity.as_deref())
            .filter_map(rating_score)
            .max_by(f64::total_cmp);
        let kev_entry = self
            .kev
            .and_then(|k| ids.iter().find_map(|i| k.get(i)))
            .cloned();
        let epss = self.epss.and_then(|e| {
            ids.iter()
                .filter_map(|i| e.get(i))
                .max_by(|a, b| a.probability.total_cmp(&b.probability))
        });
        let exposure = self.exposure.and_then(|x| x.exposure(pkg, binaries));

        let mut reasons = Vec::new();
        let base = if informational.is_some() {
            reasons.push(Reason {
                points: 4.0,
                reason: format!(
                    "informational advisory ({})",
                    informational.as_deref().unwrap_or("")
                ),
            });
            None
        } else if let Some(c) = &cvss {
            reasons.push(Reason {
                points: 4.0 * c.score,
                reason: format!("CVSS {} base score {:.1}", c.version, c.score),
            });
            Some(c.score)
        } else if let Some(r) = rating {
            reasons.push(Reason {
                points: 4.0 * r,
                reason: format!(
                    "rated {} by the advisory (no CVSS vector), counted as {r:.1}",
                    severity_name(r)
                ),
            });
            Some(r)
        } else {
            reasons.push(Reason {
                points: 20.0,
                reason: "no severity given, counted as 5.0".into(),
            });
            None
        };
        let mut severity = match (&informational, base) {
            (Some(_), _) => Severity::Informational,
            (None, Some(s)) => cvss::severity_of(s),
            (None, None) => Severity::Medium,
        };
        if let Some(k) = &kev_entry {
            reasons.push(Reason {
                points: 25.0,
                reason: format!("known exploited (CISA KEV, added {})", k.date_added),
            });
            if k.ransomware {
                reasons.push(Reason {
                    points: 5.0,
                    reason: "used in ransomware campaigns (CISA KEV)".into(),
                });
            }
            severity = severity.max(Severity::High);
        }
        if let Some(e) = epss {
            reasons.push(Reason {
                points: 15.0 * e.probability,
                reason: format!(
                    "EPSS {:.3} (percentile {:.0})",
                    e.probability,
                    e.percentile * 100.0
                ),
            });
        }
        match &exposure {
            Some(Exposure::Listening(s)) => reasons.push(Reason {
                points: 10.0,
                reason: format!("listening: {}", s.join(", ")),
            }),
            Some(Exposure::Running(s)) => reasons.push(Reason {
                points: 5.0,
                reason: format!("running: {}", s.join(", ")),
            }),
            None => {}
        }
        if let Some(f) = &fixed {
            reasons.push(Reason {
                points: 5.0,
                reason: format!("fixed in {f}"),
            });
        }
        let priority = reasons.iter().map(|r| r.points).sum::<f64>();
        let mut references: Vec<String> = group
            .iter()
            .flat_map(|g| g.0.references.iter().cloned())
            .collect();
        references.dedup();
        references.truncate(8);
        Finding {
            id: primary.id.clone(),
            aliases,
            summary: primary.summary.clone(),
            ecosystem: pkg.ecosystem,
            package: pkg.name.clone(),
            binaries: binaries.to_vec(),
            installed: pkg.version.clone(),
            fixed,
            file: file.to_owned(),
            line: pkg.line,
            severity,
            cvss,
            kev: kev_entry,
            epss,
            exposure,
            informational,
            priority: (priority * 100.0).round() / 100.0,
            reasons,
            references,
        }
    }
}

fn rating_score(r: &str) -> Option<f64> {
    match r.to_ascii_lowercase().as_str() {
        "critical" => Some(9.0),
        "high" | "important" => Some(7.5),
        "moderate" | "medium" => Some(5.0),
        "low" => Some(2.5),
        _ => None,
    }
}

fn severity_name(score: f64) -> &'static str {
    cvss::severity_of(score).as_str()
}

/// The greater of two optional versions in the ecosystem's order (unreadable ones lose).
fn max_version(eco: Ecosystem, a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => {
            let s = eco.scheme();
            match (Version::parse(s, &a), Version::parse(s, &b)) {
                (Ok(va), Ok(vb)) if va.compare(&vb) == Some(std::cmp::Ordering::Less) => Some(b),
                (Err(_), Ok(_)) => Some(b),
                _ => Some(a),
            }
        }
    }
}

/// Groups advisories that name each other (by id or a shared alias): one vulnerability.
fn merge_aliases<'h, T>(hits: &'h [(&Advisory, T, T)]) -> Vec<Vec<&'h (&'h Advisory, T, T)>> {
    let n = hits.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (i, (a, _, _)) in hits.iter().enumerate() {
        for id in std::iter::once(&a.id).chain(a.aliases.iter()) {
            match owner.get(id.as_str()) {
                Some(&j) => {
                    let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                    parent[ri] = rj;
                }
                None => {
                    owner.insert(id, i);
                }
            }
        }
    }
    let mut roots: Vec<usize> = Vec::new();
    let mut groups: Vec<Vec<&'h (&'h Advisory, T, T)>> = Vec::new();
    for (i, hit) in hits.iter().enumerate() {
        let r = find(&mut parent, i);
        match roots.iter().position(|&x| x == r) {
            Some(g) => groups[g].push(hit),
            None => {
                roots.push(r);
                groups.push(vec![hit]);
            }
        }
    }
    groups
}

/// Highest priority first; ties by package, then id (a stable, readable order).
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.priority
            .total_cmp(&a.priority)
            .then_with(|| a.package.cmp(&b.package))
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.file.cmp(&b.file))
    });
}

//! The OSV advisory format (<https://ossf.github.io/osv-schema/>): reading one document (JSON
//! or YAML) into an [`Advisory`], and deciding whether a version is affected.
//!
//! Range evaluation follows the schema's algorithm: per range the events are sorted by
//! version (`introduced: "0"` first); walking them, an `introduced` at or below the version
//! marks it affected, a `fixed` at or below it (or a `last_affected` below it) marks it
//! unaffected again. `versions` lists affected versions explicitly. `GIT` ranges are commit
//! hashes and cannot be matched against package versions; they are ignored.

use std::cmp::Ordering;

use serde::Deserialize;

use crate::ecosystem::Ecosystem;
use crate::version::{Scheme, Version};

/// One OSV document as published (only the fields Palisade uses).
#[derive(Debug, Deserialize)]
struct RawAdvisory {
    id: String,
    #[serde(default)]
    modified: Option<String>,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    aliases: Option<Vec<String>>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    severity: Option<Vec<RawSeverity>>,
    #[serde(default)]
    affected: Option<Vec<RawAffected>>,
    #[serde(default)]
    references: Option<Vec<RawReference>>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct RawSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Debug, Deserialize)]
struct RawReference {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    url: String,
}

#[derive(Debug, Deserialize)]
struct RawAffected {
    #[serde(default)]
    package: Option<RawPackage>,
    #[serde(default)]
    ranges: Option<Vec<RawRange>>,
    #[serde(default)]
    versions: Option<Vec<String>>,
    #[serde(default)]
    severity: Option<Vec<RawSeverity>>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct RawPackage {
    ecosystem: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct RawRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<RawEvent>,
}

#[derive(Debug, Deserialize)]
struct RawEvent {
    #[serde(default)]
    introduced: Option<String>,
    #[serde(default)]
    fixed: Option<String>,
    #[serde(default)]
    last_affected: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

/// A severity as an advisory states it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SeverityVector {
    /// `CVSS_V3`, `CVSS_V4`, `CVSS_V2`, `Ubuntu`, …
    pub kind: String,
    pub vector: String,
}

/// One event of a range, its version parsed in the ecosystem's scheme.
#[derive(Debug, Clone)]
pub enum RangeEvent {
    /// `introduced: "0"`: from the beginning.
    IntroducedZero,
    Introduced(Version),
    Fixed(Version),
    LastAffected(Version),
    Limit(Version),
}

impl RangeEvent {
    fn version(&self) -> Option<&Version> {
        match self {
            RangeEvent::IntroducedZero => None,
            RangeEvent::Introduced(v)
            | RangeEvent::Fixed(v)
            | RangeEvent::LastAffected(v)
            | RangeEvent::Limit(v) => Some(v),
        }
    }
}

/// What an advisory says about one package.
#[derive(Debug, Clone)]
pub struct AffectedPackage {
    pub ecosystem: Ecosystem,
    /// `12` of `Debian:12`; `None` for ecosystems without releases.
    pub release: Option<String>,
    /// The package name as the ecosystem compares it.
    pub name: String,
    /// Each range's events, sorted by version.
    pub ranges: Vec<Vec<RangeEvent>>,
    pub versions: Vec<Version>,
    /// `unmaintained`, `unsound`, … for RustSec's informational advisories.
    pub informational: Option<String>,
    /// Events whose version could not be read (they are left out of the range).
    pub unreadable_versions: usize,
}

/// The outcome of matching one version against one affected package.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The lowest fixed version above the installed one, if the advisory names one.
    pub fixed: Option<String>,
}

impl AffectedPackage {
    /// Whether `v` is affected; with the version to upgrade to.
    ///
    /// The version to upgrade to is the lowest fixed version above `v` whose release line does
    /// not bring the vulnerability back (RustSec's `time` advisory fixes 0.2.0 but re-enters
    /// at 0.2.7 until 0.2.23: the advice is 0.2.23, as cargo-audit's "patched" says), else the
    /// lowest fixed version above `v`. A release line is SemVer's compatible range (same major;
    /// same minor below 1.0); other schemes have none, so any later introduction counts.
    pub fn affects(&self, v: &Version) -> Option<Hit> {
        let mut hit = self.affects_raw(v)?;
        if let Some(safe) = self.safe_fix(v) {
            hit.fixed = Some(safe);
        }
        Some(hit)
    }

    fn safe_fix(&self, v: &Version) -> Option<String> {
        let reintroduced = |f: &Version| {
            self.ranges.iter().flatten().any(|e| match e {
                RangeEvent::Introduced(i) => {
                    i.compare(f) == Some(Ordering::Greater) && same_release_line(i, f)
                }
                _ => false,
            })
        };
        self.ranges
            .iter()
            .flatten()
            .filter_map(|e| match e {
                RangeEvent::Fixed(f)
                    if f.compare(v) == Some(Ordering::Greater) && !reintroduced(f) =>
                {
                    Some(f)
                }
                _ => None,
            })
            .min_by(|a, b| a.compare(b).unwrap_or(Ordering::Equal))
            .map(|f| f.to_string())
    }

    fn affects_raw(&self, v: &Version) -> Option<Hit> {
        let mut hit = None;
        for events in &self.ranges {
            if let Some(h) = range_affects(events, v) {
                // Prefer a range that names a fix.
                if hit.as_ref().is_none_or(|h: &Hit| h.fixed.is_none()) {
                    hit = Some(h);
                }
            }
        }
        if hit.is_none()
            && self
                .versions
                .iter()
                .any(|x| x.compare(v) == Some(Ordering::Equal))
        {
            // Listed explicitly: the fix is the lowest fixed event above it, if any.
            let fixed = self
                .ranges
                .iter()
                .flatten()
                .filter_map(|e| match e {
                    RangeEvent::Fixed(f) if f.compare(v) == Some(Ordering::Greater) => Some(f),
                    _ => None,
                })
                .min_by(|a, b| a.compare(b).unwrap_or(Ordering::Equal))
                .map(|f| f.to_string());
            hit = Some(Hit { fixed });
        }
        hit
    }
}

/// Whether a later introduction `i` falls in the release line of fix `f`.
fn same_release_line(i: &Version, f: &Version) -> bool {
    match (i, f) {
        (Version::Sem(a), Version::Sem(b)) => {
            let (a, b) = (&a.0, &b.0);
            if b.major > 0 {
                a.major == b.major
            } else if b.minor > 0 {
                a.major == 0 && a.minor == b.minor
            } else {
                a.major == 0 && a.minor == 0 && a.patch == b.patch
            }
        }
        _ => true,
    }
}

fn range_affects(events: &[RangeEvent], v: &Version) -> Option<Hit> {
    let mut affected = false;
    let mut fixed = None;
    for e in events {
        let ord = e.version().map(|ev| v.compare(ev));
        match e {
            RangeEvent::IntroducedZero => affected = true,
            RangeEvent::Introduced(_) => {
                if matches!(ord, Some(Some(Ordering::Greater | Ordering::Equal))) {
                    affected = true;
                }
            }
            RangeEvent::Fixed(f) => {
                if matches!(ord, Some(Some(Ordering::Greater | Ordering::Equal))) {
                    affected = false;
                } else if affected && fixed.is_none() {
                    fixed = Some(f.to_string());
                }
            }
            RangeEvent::LastAffected(_) => {
                if matches!(ord, Some(Some(Ordering::Greater))) {
                    affected = false;
                }
            }
            RangeEvent::Limit(_) => {
                if matches!(ord, Some(Some(Ordering::Greater | Ordering::Equal))) {
                    affected = false;
                }
            }
        }
        if !affected {
            fixed = None;
        }
        if affected && fixed.is_some() {
            break;
        }
    }
    affected.then_some(Hit { fixed })
}

/// One advisory, as Palisade keeps it.
#[derive(Debug, Clone)]
pub struct Advisory {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: String,
    pub modified: Option<String>,
    pub published: Option<String>,
    pub severity: Vec<SeverityVector>,
    /// A qualitative severity some databases give (GHSA's `database_specific.severity`).
    pub database_severity: Option<String>,
    pub references: Vec<String>,
    /// The packages of ecosystems Palisade matches.
    pub affected: Vec<AffectedPackage>,
}

/// Why a document was not loaded as an advisory.
#[derive(Debug, Clone, PartialEq)]
pub enum Skip {
    Withdrawn,
    /// No affected package of an ecosystem Palisade matches.
    Unsupported,
}

/// Reads one OSV document from JSON text. `Ok(Err(skip))` for documents that are valid
/// but not used.
pub fn parse_json(text: &str) -> Result<Result<Advisory, Skip>, String> {
    Ok(convert(raw_json(text)?))
}

/// Reads one OSV document from YAML text.
pub fn parse_yaml(text: &str) -> Result<Result<Advisory, Skip>, String> {
    Ok(convert(raw_yaml(text)?))
}

fn raw_json(text: &str) -> Result<RawAdvisory, String> {
    serde_json::from_str(text).map_err(|e| format!("line {}, column {}: {e}", e.line(), e.column()))
}

fn raw_yaml(text: &str) -> Result<RawAdvisory, String> {
    let docs = yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| {
        let m = e.marker();
        format!("line {}, column {}: {}", m.line(), m.col() + 1, e.info())
    })?;
    let doc = docs.into_iter().next().ok_or("empty YAML document")?;
    let value = yaml_to_json(doc, 0)?;
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// A document read for storing: its id and modification time, and the advisory (or why it
/// is not used).
#[derive(Debug)]
pub struct ParsedDocument {
    pub id: String,
    pub modified: Option<String>,
    pub advisory: Result<Advisory, Skip>,
}

/// Reads a document as JSON or YAML by its file name (`.json` is JSON, anything else YAML).
pub fn parse_document(file: &str, text: &str) -> Result<ParsedDocument, String> {
    let raw = if file.to_ascii_lowercase().ends_with(".json") {
        raw_json(text)?
    } else {
        raw_yaml(text)?
    };
    let (id, modified) = (raw.id.clone(), raw.modified.clone());
    Ok(ParsedDocument {
        id,
        modified,
        advisory: convert(raw),
    })
}

/// YAML to a JSON tree; every scalar but booleans and null becomes a string (OSV has no
/// numeric fields Palisade reads, and `1.0` must stay the version `1.0`, not a float).
fn yaml_to_json(y: yaml_rust2::Yaml, depth: usize) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    use yaml_rust2::Yaml;
    if depth > 64 {
        return Err("YAML nested too deeply".into());
    }
    Ok(match y {
        Yaml::Real(s) | Yaml::String(s) => Value::String(s),
        Yaml::Integer(i) => Value::String(i.to_string()),
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Null => Value::Null,
        Yaml::Array(a) => Value::Array(
            a.into_iter()
                .map(|x| yaml_to_json(x, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Hash(h) => {
            let mut m = serde_json::Map::new();
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) | Yaml::Real(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    _ => return Err("unsupported YAML mapping key".into()),
                };
                m.insert(key, yaml_to_json(v, depth + 1)?);
            }
            Value::Object(m)
        }
        Yaml::Alias(_) => return Err("YAML aliases are not supported".into()),
        Yaml::BadValue => Value::Null,
    })
}

fn text_field(v: &Option<serde_json::Value>, key: &str) -> Option<String> {
    v.as_ref()?
        .get(key)?
        .as_str()
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
}

fn convert(raw: RawAdvisory) -> Result<Advisory, Skip> {
    if raw.withdrawn.as_deref().is_some_and(|w| !w.is_empty()) {
        return Err(Skip::Withdrawn);
    }
    let severity: Vec<SeverityVector> = raw
        .severity
        .unwrap_or_default()
        .into_iter()
        .map(|s| SeverityVector {
            kind: s.kind,
            vector: s.score,
        })
        .collect();
    let mut extra_severity = Vec::new();
    let mut affected = Vec::new();
    for a in raw.affected.unwrap_or_default() {
        let Some(pkg) = a.package else { continue };
        let Some((ecosystem, release)) = Ecosystem::from_osv(&pkg.ecosystem) else {
            continue;
        };
        for s in a.severity.unwrap_or_default() {
            extra_severity.push(SeverityVector {
                kind: s.kind,
                vector: s.score,
            });
        }
        let scheme = ecosystem.scheme();
        let mut unreadable = 0;
        let mut ranges = Vec::new();
        for r in a.ranges.unwrap_or_default() {
            let kind = match r.kind.as_str() {
                "SEMVER" => Scheme::SemVer,
                "ECOSYSTEM" => scheme,
                _ => continue,
            };
            // Go's SEMVER ranges are Go versions (pseudo-versions and all).
            let kind = if kind == Scheme::SemVer && scheme == Scheme::Go {
                Scheme::Go
            } else {
                kind
            };
            let mut events = Vec::new();
            for e in r.events {
                let parse = |t: &str| Version::parse(kind, t).ok();
                let ev = if let Some(t) = e.introduced {
                    if t == "0" {
                        Some(RangeEvent::IntroducedZero)
                    } else {
                        parse(&t).map(RangeEvent::Introduced)
                    }
                } else if let Some(t) = e.fixed {
                    parse(&t).map(RangeEvent::Fixed)
                } else if let Some(t) = e.last_affected {
                    parse(&t).map(RangeEvent::LastAffected)
                } else if let Some(t) = e.limit {
                    if t == "*" {
                        continue;
                    }
                    parse(&t).map(RangeEvent::Limit)
                } else {
                    continue;
                };
                match ev {
                    Some(ev) => events.push(ev),
                    None => unreadable += 1,
                }
            }
            sort_events(&mut events);
            if !events.is_empty() {
                ranges.push(events);
            }
        }
        let versions: Vec<Version> = a
            .versions
            .unwrap_or_default()
            .iter()
            .filter_map(|t| Version::parse(scheme, t).ok())
            .collect();
        // RustSec marks unmaintained/unsound/notice advisories in the affected entry.
        let informational = text_field(&a.database_specific, "informational");
        affected.push(AffectedPackage {
            ecosystem,
            release,
            name: ecosystem.normalise_name(&pkg.name),
            ranges,
            versions,
            informational,
            unreadable_versions: unreadable,
        });
    }
    if affected.is_empty() {
        return Err(Skip::Unsupported);
    }
    let summary = raw
        .summary
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            raw.details
                .as_deref()
                .and_then(|d| d.lines().find(|l| !l.trim().is_empty()))
                .map(|l| l.trim().chars().take(200).collect())
        })
        .unwrap_or_default();
    let mut severity = severity;
    for s in extra_severity {
        if !severity.contains(&s) {
            severity.push(s);
        }
    }
    Ok(Advisory {
        id: raw.id,
        aliases: raw.aliases.unwrap_or_default(),
        summary,
        modified: raw.modified,
        published: raw.published,
        severity,
        database_severity: text_field(&raw.database_specific, "severity"),
        references: raw
            .references
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.kind.as_deref() != Some("PACKAGE"))
            .map(|r| r.url)
            .take(8)
            .collect(),
        affected,
    })
}

/// Sorts events by version; `introduced: 0` first; at equal versions `introduced` before the
/// others (as the OSV reference implementation does).
fn sort_events(events: &mut [RangeEvent]) {
    events.sort_by(|a, b| match (a.version(), b.version()) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => x.compare(y).unwrap_or(Ordering::Equal).then_with(|| {
            let rank = |e: &RangeEvent| match e {
                RangeEvent::IntroducedZero | RangeEvent::Introduced(_) => 0,
                _ => 1,
            };
            rank(a).cmp(&rank(b))
        }),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adv(json: &str) -> Advisory {
        parse_json(json).unwrap().unwrap()
    }

    fn v(s: Scheme, t: &str) -> Version {
        Version::parse(s, t).unwrap()
    }

    const TWO_RANGES: &str = r#"{"id":"X-1","aliases":["CVE-1"],"affected":[{"package":
        {"ecosystem":"crates.io","name":"foo"},"ranges":[{"type":"SEMVER","events":[
        {"introduced":"0.0.0-0"},{"fixed":"0.9.0"},{"introduced":"1.0.0"},{"fixed":"1.2.3"}]}]}]}"#;

    #[test]
    fn introduced_fixed_pairs() {
        let a = adv(TWO_RANGES);
        let p = &a.affected[0];
        let s = Scheme::SemVer;
        // 1.0.0 brings it back, but in another release line: 0.9.0 is the advice.
        assert_eq!(
            p.affects(&v(s, "0.8.9")),
            Some(Hit {
                fixed: Some("0.9.0".into())
            })
        );
        assert_eq!(p.affects(&v(s, "0.9.0")), None);
        assert_eq!(p.affects(&v(s, "0.9.5")), None);
        assert_eq!(
            p.affects(&v(s, "1.2.2")),
            Some(Hit {
                fixed: Some("1.2.3".into())
            })
        );
        assert_eq!(p.affects(&v(s, "1.2.3")), None);
    }

    #[test]
    fn last_affected_and_versions() {
        let a = adv(
            r#"{"id":"X-2","affected":[{"package":{"ecosystem":"PyPI","name":"Foo_Bar"},
            "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"1.0"},{"last_affected":"1.4"}]}],
            "versions":["0.5"]}]}"#,
        );
        let p = &a.affected[0];
        assert_eq!(p.name, "foo-bar");
        let s = Scheme::Pep440;
        assert_eq!(p.affects(&v(s, "1.4")), Some(Hit { fixed: None }));
        assert_eq!(p.affects(&v(s, "1.4.post1")), None);
        assert_eq!(p.affects(&v(s, "0.9")), None);
        assert_eq!(p.affects(&v(s, "0.5.0")), Some(Hit { fixed: None }));
    }

    #[test]
    fn withdrawn_and_unsupported_are_skipped() {
        let w = r#"{"id":"X-3","withdrawn":"2024-01-01T00:00:00Z","affected":[{"package":
            {"ecosystem":"npm","name":"x"},"versions":["1.0.0"]}]}"#;
        assert_eq!(parse_json(w).unwrap().unwrap_err(), Skip::Withdrawn);
        let m = r#"{"id":"X-4","affected":[{"package":{"ecosystem":"Maven","name":"x"}}]}"#;
        assert_eq!(parse_json(m).unwrap().unwrap_err(), Skip::Unsupported);
    }

    #[test]
    fn bad_json_names_the_position() {
        let e = parse_json("{\"id\": \"X\",\n  \"affected\": [}").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let e = parse_yaml("id: X\naffected: [\n").unwrap_err();
        assert!(e.contains("line"), "{e}");
    }

    #[test]
    fn yaml_versions_stay_text() {
        let a = parse_yaml(
            "id: PYSEC-1\naffected:\n- package: {ecosystem: PyPI, name: x}\n  versions: [1.0, 2]\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(a.affected[0].versions.len(), 2);
        assert!(a.affected[0].affects(&v(Scheme::Pep440, "1.0.0")).is_some());
    }
}

#[cfg(test)]
mod fix_tests {
    use super::*;

    #[test]
    fn the_fix_is_where_the_vulnerability_does_not_return() {
        let a = parse_json(
            r#"{"id":"T-1","affected":[{"package":{"ecosystem":"crates.io","name":"time"},
            "ranges":[{"type":"SEMVER","events":[{"introduced":"0.0.0-0"},{"fixed":"0.2.0"},
            {"introduced":"0.2.7-0"},{"fixed":"0.2.23"}]}]}]}"#,
        )
        .unwrap()
        .unwrap();
        let v = |t: &str| Version::parse(Scheme::SemVer, t).unwrap();
        let p = &a.affected[0];
        assert_eq!(
            p.affects(&v("0.1.43")).unwrap().fixed.as_deref(),
            Some("0.2.23")
        );
        assert_eq!(
            p.affects(&v("0.2.10")).unwrap().fixed.as_deref(),
            Some("0.2.23")
        );
        assert!(p.affects(&v("0.2.3")).is_none());
    }
}

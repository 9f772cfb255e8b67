//! Threat intelligence: indicator import (STIX 2.1, MISP, CSV/TXT lists) and matching events
//! against them at ingest speed.
//!
//! - [`model`]: the [`Indicator`] and value normalisation (addresses and networks, domains,
//!   URLs, hashes; defanged values refanged).
//! - [`import`]: bytes of one file → indicators + per-record warnings. Pure (the current time is
//!   an option), never panics, bounded; the format is detected from the content or forced.
//!   One module per format: [`stix`], [`misp`], [`list`] (TXT and CSV).
//! - [`matcher`]: [`IntelSet`], the compiled indicator set that reads an event's address,
//!   domain, URL and hash fields (one table, [`matcher::INTEL_FIELDS`]) and turns hits into
//!   alerts of detector `ioc`.
//! - [`synthetic`]: deterministic generated indicators for benchmarks and tests.

pub mod list;
pub mod matcher;
pub mod misp;
pub mod model;
mod ranges;
pub mod stix;
pub mod synthetic;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

pub use matcher::{INTEL_FIELDS, IntelHit, IntelScratch, IntelSet};
pub use model::{Indicator, IndicatorKind};

/// The feed formats [`import`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntelFormat {
    /// Detect from the content (and the file name's extension for CSV).
    Auto,
    /// A STIX 2.1 bundle (or a single object, or a list of objects).
    Stix,
    /// MISP event JSON (`{"Event": …}`, a list of them, or `{"response": […]}`).
    Misp,
    /// CSV with a header row.
    Csv,
    /// One indicator per line, `#` comments.
    Txt,
}

impl IntelFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            IntelFormat::Auto => "auto",
            IntelFormat::Stix => "stix",
            IntelFormat::Misp => "misp",
            IntelFormat::Csv => "csv",
            IntelFormat::Txt => "txt",
        }
    }
}

impl fmt::Display for IntelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IntelFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(IntelFormat::Auto),
            "stix" | "stix2" | "stix2.1" => Ok(IntelFormat::Stix),
            "misp" => Ok(IntelFormat::Misp),
            "csv" => Ok(IntelFormat::Csv),
            "txt" | "text" | "list" => Ok(IntelFormat::Txt),
            other => Err(format!(
                "unknown intel format {other:?} (expected auto, stix, misp, csv or txt)"
            )),
        }
    }
}

/// What every imported indicator gets unless its record says otherwise.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The source (feed) name stored with each indicator.
    pub source: String,
    pub format: IntelFormat,
    /// Confidence for records that carry none (before format-derived values such as MISP's
    /// threat level; [`model::DEFAULT_CONFIDENCE`] last).
    pub confidence: Option<u8>,
    /// Expiry for records that carry none.
    pub valid_until: Option<DateTime<Utc>>,
    /// "Now", for skipping indicators that have already expired.
    pub now: DateTime<Utc>,
}

impl ImportOptions {
    pub fn new(source: &str, now: DateTime<Utc>) -> ImportOptions {
        ImportOptions {
            source: source.to_owned(),
            format: IntelFormat::Auto,
            confidence: None,
            valid_until: None,
            now,
        }
    }
}

/// A problem with one record: skipped, the rest of the file still read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportWarning {
    pub file: String,
    /// Where in the file: `line 12`, `objects[3] (indicator--…)`, `Event.Attribute[7]`.
    pub position: String,
    pub message: String,
}

impl fmt::Display for ImportWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.position, self.message)
    }
}

/// A file that cannot be read as intel at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {position}: {message}")]
pub struct ImportError {
    pub file: String,
    pub position: String,
    pub message: String,
}

/// What one file gave.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// The format read (detected or forced).
    pub format: Option<IntelFormat>,
    pub indicators: Vec<Indicator>,
    /// The first [`model::MAX_WARNINGS_PER_FILE`] per-record warnings.
    pub warnings: Vec<ImportWarning>,
    /// Skipped records by reason (every skip counted, including those past the warning cap).
    pub skipped: BTreeMap<String, u64>,
}

impl Imported {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// Collects an importer's output, applying the shared defaults and limits.
pub(crate) struct Collector<'a> {
    pub opts: &'a ImportOptions,
    pub file: &'a str,
    pub out: Imported,
}

impl<'a> Collector<'a> {
    pub fn new(opts: &'a ImportOptions, file: &'a str, format: IntelFormat) -> Self {
        Collector {
            opts,
            file,
            out: Imported {
                format: Some(format),
                ..Imported::default()
            },
        }
    }

    /// Records a skipped record: counted under `reason`, and a warning with `detail`.
    pub fn skip(&mut self, position: impl FnOnce() -> String, reason: &str, detail: &str) {
        *self.out.skipped.entry(reason.to_owned()).or_default() += 1;
        if self.out.warnings.len() < model::MAX_WARNINGS_PER_FILE {
            let message = if detail.is_empty() {
                reason.to_owned()
            } else {
                format!("{reason}: {detail}")
            };
            self.out.warnings.push(ImportWarning {
                file: self.file.to_owned(),
                position: position(),
                message,
            });
        }
    }

    /// Adds an indicator built from a normalised value, applying the defaults (confidence,
    /// expiry) and skipping what has already expired. `confidence` and `valid_until` are the
    /// record's own; `derived_confidence` a format-specific fallback (MISP threat level).
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        position: impl FnOnce() -> String,
        kind: IndicatorKind,
        value: String,
        confidence: Option<u8>,
        derived_confidence: Option<u8>,
        valid_from: Option<DateTime<Utc>>,
        valid_until: Option<DateTime<Utc>>,
        description: Option<&str>,
        labels: &[String],
        reference: Option<&str>,
    ) {
        if self.out.indicators.len() >= model::MAX_INDICATORS_PER_FILE {
            return self.skip(
                position,
                "too many indicators in one file",
                &format!("limit {}", model::MAX_INDICATORS_PER_FILE),
            );
        }
        let valid_until = valid_until.or(self.opts.valid_until);
        if let Some(u) = valid_until
            && u < self.opts.now
        {
            return self.skip(
                position,
                "already expired",
                &format!("valid until {}", u.to_rfc3339()),
            );
        }
        let confidence = confidence
            .or(self.opts.confidence)
            .or(derived_confidence)
            .unwrap_or(model::DEFAULT_CONFIDENCE);
        let mut ind = Indicator::new(kind, value, &self.opts.source, confidence);
        ind.valid_from = valid_from;
        ind.valid_until = valid_until;
        ind.description = description
            .map(|d| model::clip(d, model::MAX_DESCRIPTION_LEN))
            .filter(|d| !d.is_empty());
        for l in labels {
            model::push_label(&mut ind.labels, l);
        }
        ind.reference = reference.map(|r| model::clip(r, 256));
        self.out.indicators.push(ind);
    }
}

/// Reads one intel file. `file` names it in warnings and errors. Duplicate indicators within the
/// file (same kind and value) are merged, keeping the highest confidence and latest expiry.
pub fn import(bytes: &[u8], file: &str, opts: &ImportOptions) -> Result<Imported, ImportError> {
    let format = match opts.format {
        IntelFormat::Auto => detect_format(bytes, file),
        f => f,
    };
    let mut imported = match format {
        IntelFormat::Stix => stix::import(bytes, file, opts),
        IntelFormat::Misp => misp::import(bytes, file, opts),
        IntelFormat::Csv => list::import_csv(bytes, file, opts),
        IntelFormat::Txt | IntelFormat::Auto => list::import_txt(bytes, file, opts),
    }?;
    dedupe(&mut imported);
    Ok(imported)
}

fn dedupe(imported: &mut Imported) {
    let mut by_id: rustc_hash::FxHashMap<String, usize> = rustc_hash::FxHashMap::default();
    let mut kept: Vec<Indicator> = Vec::with_capacity(imported.indicators.len());
    let mut merged = 0u64;
    for ind in imported.indicators.drain(..) {
        match by_id.get(&ind.id) {
            Some(&i) => {
                let k = &mut kept[i];
                k.confidence = k.confidence.max(ind.confidence);
                k.valid_until = match (k.valid_until, ind.valid_until) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
                for l in &ind.labels {
                    model::push_label(&mut k.labels, l);
                }
                if k.description.is_none() {
                    k.description = ind.description;
                }
                merged += 1;
            }
            None => {
                by_id.insert(ind.id.clone(), kept.len());
                kept.push(ind);
            }
        }
    }
    if merged > 0 {
        *imported
            .skipped
            .entry("duplicate of an earlier record (merged)".to_owned())
            .or_default() += merged;
    }
    imported.indicators = kept;
}

/// Tells the format from the first non-blank bytes: JSON with a STIX `type`/`objects` or a
/// MISP `Event`/`response`/`Attribute`; otherwise CSV when the file name ends in `.csv` or the
/// first line looks like a header naming an indicator column; otherwise TXT.
pub fn detect_format(bytes: &[u8], file: &str) -> IntelFormat {
    let head = &bytes[..bytes.len().min(64 * 1024)];
    let text = String::from_utf8_lossy(head);
    let t = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if t.starts_with('{') || t.starts_with('[') {
        let misp_at = ["\"Event\"", "\"response\"", "\"Attribute\""]
            .iter()
            .filter_map(|k| t.find(k))
            .min();
        let stix_at = ["\"objects\"", "\"spec_version\"", "\"pattern\"", "\"type\""]
            .iter()
            .filter_map(|k| t.find(k))
            .min();
        return match (misp_at, stix_at) {
            (Some(m), Some(s)) if m < s => IntelFormat::Misp,
            (Some(_), None) => IntelFormat::Misp,
            _ => IntelFormat::Stix,
        };
    }
    if file.to_ascii_lowercase().ends_with(".csv") {
        return IntelFormat::Csv;
    }
    let first = t
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    if list::looks_like_header(first) {
        IntelFormat::Csv
    } else {
        IntelFormat::Txt
    }
}

/// Reads a JSON document, turning a syntax error into an [`ImportError`] at its line and column.
pub(crate) fn parse_json(bytes: &[u8], file: &str) -> Result<serde_json::Value, ImportError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    serde_json::from_slice(bytes).map_err(|e| ImportError {
        file: file.to_owned(),
        position: format!("line {}, column {}", e.line(), e.column()),
        message: format!("not valid JSON: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_detected() {
        assert_eq!(
            detect_format(br#"{"type":"bundle","objects":[]}"#, "x"),
            IntelFormat::Stix
        );
        assert_eq!(
            detect_format(br#"{"Event":{"Attribute":[]}}"#, "x"),
            IntelFormat::Misp
        );
        assert_eq!(
            detect_format(br#"{"response":[{"Event":{"type":"x"}}]}"#, "x"),
            IntelFormat::Misp
        );
        assert_eq!(
            detect_format(b"# c\nindicator,type\n", "x"),
            IntelFormat::Csv
        );
        assert_eq!(detect_format(b"1.2.3.4\n", "feed.csv"), IntelFormat::Csv);
        assert_eq!(
            detect_format(b"# list\n1.2.3.4\nevil.com\n", "x"),
            IntelFormat::Txt
        );
    }

    #[test]
    fn duplicates_merge() {
        let opts = ImportOptions::new("f", Utc::now());
        let got = import(b"evil.com\nEVIL.com.\nevil[.]com\n", "l.txt", &opts).unwrap();
        assert_eq!(got.indicators.len(), 1);
        assert_eq!(got.skipped_total(), 2);
    }
}

//! Threat-intel indicators for the ioc detector: those `palisade intel import` stored, plus
//! intel files named in the configuration.

use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use palisade_store::{SqliteStore, Store, StoredIndicator};
use palisade_triage::intel::{ImportOptions, Imported, Indicator, IndicatorKind, IntelSet, import};

/// Largest intel file read (bytes).
pub const MAX_INTEL_FILE: u64 = 512 << 20;

/// Reads one intel file (STIX, MISP, CSV/list; detected from content).
pub fn read_one(path: &Path, name: &str, opts: &ImportOptions) -> Result<Imported> {
    let meta = std::fs::metadata(path).with_context(|| format!("{name}: cannot read"))?;
    if meta.is_dir() {
        bail!("{name}: is a directory (give intel files)");
    }
    if meta.len() > MAX_INTEL_FILE {
        bail!(
            "{name}: {} bytes is larger than the {} MiB limit for intel files",
            meta.len(),
            MAX_INTEL_FILE >> 20
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("{name}: cannot read"))?;
    Ok(import(&bytes, name, opts)?)
}

/// A stored indicator back as the matcher's type (`None` for a kind this version does not
/// know).
pub fn from_stored(s: StoredIndicator) -> Option<Indicator> {
    Some(Indicator {
        kind: s.kind.parse::<IndicatorKind>().ok()?,
        id: s.id,
        value: s.value,
        source: s.source,
        confidence: s.confidence,
        valid_from: s.valid_from,
        valid_until: s.valid_until,
        description: s.description,
        labels: s.labels,
        reference: s.reference,
    })
}

/// The indicators of the store and of `files`; `None` when there are none at all.
pub fn load(store: &SqliteStore, files: &[std::path::PathBuf]) -> Result<Option<IntelSet>> {
    let now = Utc::now();
    let mut indicators: Vec<Indicator> = store
        .indicators(None)
        .context("reading stored indicators")?
        .into_iter()
        .filter_map(from_stored)
        .collect();
    for path in files {
        let name = path.display().to_string();
        let source = path
            .file_name()
            .map_or_else(|| name.clone(), |n| n.to_string_lossy().into_owned());
        let imported = read_one(path, &name, &ImportOptions::new(&source, now))?;
        for w in imported.warnings.iter().take(20) {
            tracing::warn!("skipped {w}");
        }
        indicators.extend(imported.indicators);
    }
    if indicators.is_empty() {
        return Ok(None);
    }
    Ok(Some(IntelSet::with_now(indicators, now)))
}

//! `palisade intel import|list|remove`, and reading intel for `hunt --detectors ioc`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, Utc};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use palisade_store::{IndicatorFilter, SqliteStore, Store, StoredIndicator};
use palisade_triage::intel::{ImportOptions, Imported, Indicator, IntelFormat, IntelSet};

use crate::cli::{IntelFileFormat, IntelImportArgs, IntelListArgs, IntelRemoveArgs, OutputFormat};

/// Largest intel file read (a bound on memory; real feeds are far smaller).
/// Per-record warnings printed per file before only counting them.
const MAX_PRINTED_WARNINGS: usize = 20;

fn format_of(f: IntelFileFormat) -> IntelFormat {
    match f {
        IntelFileFormat::Auto => IntelFormat::Auto,
        IntelFileFormat::Stix => IntelFormat::Stix,
        IntelFileFormat::Misp => IntelFormat::Misp,
        IntelFileFormat::Csv => IntelFormat::Csv,
        IntelFileFormat::Txt => IntelFormat::Txt,
    }
}

/// `--expires`: an RFC 3339 time or a whole number of days from `now`.
pub fn parse_expires(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(days) = t.parse::<i64>() {
        if !(0..=36_500).contains(&days) {
            bail!("--expires {t}: days must be between 0 and 36500");
        }
        return Ok(now + Duration::days(days));
    }
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .with_context(|| {
            format!("--expires {t:?}: expected an RFC 3339 time (2025-12-31T00:00:00Z) or days")
        })
}

/// Reads intel files; every file that cannot be read as intel is reported, then the whole
/// read fails (so nothing half-imported is saved).
pub fn read_files(files: &[PathBuf], opts: &ImportOptions) -> Result<Vec<(String, Imported)>> {
    let mut out = Vec::new();
    let mut failed = 0;
    for path in files {
        let name = path.display().to_string();
        match read_one(path, &name, opts) {
            Ok(imported) => out.push((name, imported)),
            Err(e) => {
                eprintln!("palisade: error: {e:#}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} intel files could not be read (nothing imported)",
            files.len()
        );
    }
    Ok(out)
}

fn read_one(path: &Path, name: &str, opts: &ImportOptions) -> Result<Imported> {
    palisade_server::intel::read_one(path, name, opts)
}

/// Prints a file's warnings (the first few) and counts.
fn report(name: &str, imported: &Imported, quiet: bool) {
    for w in imported.warnings.iter().take(MAX_PRINTED_WARNINGS) {
        eprintln!("palisade: warning: skipped {w}");
    }
    let skipped = imported.skipped_total();
    if skipped as usize > MAX_PRINTED_WARNINGS {
        eprintln!(
            "palisade: warning: {name}: {} more skipped records only counted",
            skipped as usize - MAX_PRINTED_WARNINGS.min(imported.warnings.len())
        );
    }
    if quiet {
        return;
    }
    let format = imported.format.map_or("?", IntelFormat::as_str);
    eprintln!(
        "palisade: {name} ({format}): {} indicators, {skipped} skipped",
        imported.indicators.len()
    );
    for (reason, n) in &imported.skipped {
        eprintln!("palisade:   skipped {n}: {reason}");
    }
}

fn to_stored(i: &Indicator, imported: DateTime<Utc>, origin: &str) -> StoredIndicator {
    StoredIndicator {
        id: i.id.clone(),
        kind: i.kind.as_str().to_owned(),
        value: i.value.clone(),
        source: i.source.clone(),
        confidence: i.confidence,
        valid_from: i.valid_from,
        valid_until: i.valid_until,
        description: i.description.clone(),
        labels: i.labels.clone(),
        reference: i.reference.clone(),
        imported,
        origin: Some(origin.to_owned()),
    }
}

fn from_stored(s: StoredIndicator) -> Option<Indicator> {
    palisade_server::intel::from_stored(s)
}

pub fn import_cmd(args: IntelImportArgs) -> Result<u8> {
    let source = args.source.trim();
    if source.is_empty() || source.len() > 128 || source.contains(char::is_control) {
        bail!("--source must be a non-empty name of at most 128 characters");
    }
    let now = Utc::now();
    let mut opts = ImportOptions::new(source, now);
    opts.format = format_of(args.format);
    opts.confidence = args.confidence;
    opts.valid_until = args
        .expires
        .as_deref()
        .map(|e| parse_expires(e, now))
        .transpose()?;
    let files = read_files(&args.files, &opts)?;
    let mut rows = Vec::new();
    let mut skipped = 0;
    for (name, imported) in &files {
        report(name, imported, false);
        skipped += imported.skipped_total();
        rows.extend(imported.indicators.iter().map(|i| to_stored(i, now, name)));
    }
    let mut store = SqliteStore::open(&args.store)
        .with_context(|| format!("opening {}", args.store.display()))?;
    let saved = store
        .save_indicators(&rows)
        .with_context(|| format!("saving indicators to {}", args.store.display()))?;
    println!(
        "imported {} indicators from {} files into {} (source {source}): {} new, {} updated; {skipped} records skipped",
        rows.len(),
        files.len(),
        args.store.display(),
        saved.added,
        saved.updated
    );
    Ok(0)
}

pub fn list_cmd(args: IntelListArgs) -> Result<u8> {
    if !args.store.exists() {
        bail!("{}: no such database", args.store.display());
    }
    let store = SqliteStore::open(&args.store)
        .with_context(|| format!("opening {}", args.store.display()))?;
    let rows = store.indicators(args.source.as_deref())?;
    match args.format {
        OutputFormat::Json | OutputFormat::Ndjson => {
            let items: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id, "kind": r.kind, "value": r.value, "source": r.source,
                        "confidence": r.confidence,
                        "valid_from": r.valid_from.map(|t| t.to_rfc3339()),
                        "valid_until": r.valid_until.map(|t| t.to_rfc3339()),
                        "description": r.description, "labels": r.labels,
                        "reference": r.reference, "imported": r.imported.to_rfc3339(),
                        "origin": r.origin,
                    })
                })
                .collect();
            if args.format == OutputFormat::Json {
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else {
                for i in items {
                    println!("{i}");
                }
            }
        }
        OutputFormat::Table | OutputFormat::Csv => {
            let mut t = Table::new();
            t.load_style(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header([
                    "id",
                    "kind",
                    "value",
                    "source",
                    "conf",
                    "valid until",
                    "description",
                ]);
            for r in &rows {
                t.add_row([
                    r.id.clone(),
                    r.kind.clone(),
                    r.value.clone(),
                    r.source.clone(),
                    r.confidence.to_string(),
                    r.valid_until
                        .map_or_else(|| "-".into(), |u| u.format("%Y-%m-%d").to_string()),
                    r.description.clone().unwrap_or_default(),
                ]);
            }
            println!("{t}");
            eprintln!("{} indicators", rows.len());
        }
    }
    Ok(0)
}

pub fn remove_cmd(args: IntelRemoveArgs) -> Result<u8> {
    if !args.store.exists() {
        bail!("{}: no such database", args.store.display());
    }
    let mut store = SqliteStore::open(&args.store)
        .with_context(|| format!("opening {}", args.store.display()))?;
    let (filter, what) = match (&args.source, &args.id) {
        (Some(s), _) => (IndicatorFilter::Source(s), format!("source {s}")),
        (None, Some(id)) => (IndicatorFilter::Id(id), format!("id {id}")),
        (None, None) => bail!("give --source NAME or --id ID"),
    };
    let n = store.remove_indicators(filter)?;
    if n == 0 {
        bail!("no stored indicators with {what}");
    }
    println!("removed {n} indicators ({what})");
    Ok(0)
}

/// The ioc detector's indicators: those stored in `store` (if it exists) and those in `files`
/// (each file's name is its source). Reports what was loaded unless `quiet`.
pub fn load_for_hunt(store: Option<&Path>, files: &[PathBuf], quiet: bool) -> Result<IntelSet> {
    let now = Utc::now();
    let mut indicators = Vec::new();
    let mut from_store = 0;
    if let Some(db) = store
        && db.exists()
    {
        let s = SqliteStore::open(db).with_context(|| format!("opening {}", db.display()))?;
        let rows = s
            .indicators(None)
            .with_context(|| format!("reading indicators from {}", db.display()))?;
        from_store = rows.len();
        indicators.extend(rows.into_iter().filter_map(from_stored));
    }
    let mut from_files = 0;
    for path in files {
        let source = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let opts = ImportOptions::new(&source, now);
        for (name, imported) in read_files(std::slice::from_ref(path), &opts)? {
            report(&name, &imported, true);
            from_files += imported.indicators.len();
            indicators.extend(imported.indicators);
        }
    }
    if indicators.is_empty() {
        bail!(
            "the ioc detector has no indicators: import some with `palisade intel import … --store DB` \
             and hunt with --store DB, or give --intel FILE"
        );
    }
    let set = IntelSet::with_now(indicators, now);
    if !quiet {
        eprintln!(
            "palisade: {} indicators loaded ({from_store} from the store, {from_files} from --intel files){}",
            set.len(),
            if set.invalid() > 0 {
                format!(", {} unusable stored values ignored", set.invalid())
            } else {
                String::new()
            }
        );
    }
    Ok(set)
}

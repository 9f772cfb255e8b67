//! Helpers shared by the end-to-end ingest tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use palisade_event::{Event, Value};
use palisade_ingest::{
    EventSink, FileStats, Format, IngestOptions, Input, RecordError, read_input,
};

/// The shared public data sets (`../shared/data` beside the repository), or `None` with a
/// printed notice when they are absent. Under `CI=true` a missing folder is a failure: CI must
/// never pass by skipping.
pub fn data_dir(what: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("shared data folder {} is missing under CI", dir.display());
    }
    eprintln!(
        "SKIPPED {what}: shared data folder {} not found",
        dir.display()
    );
    None
}

/// Collects everything an input produces.
#[derive(Default)]
pub struct Collect {
    pub events: Vec<Event>,
    pub warnings: Vec<RecordError>,
}

impl EventSink for Collect {
    fn events(&mut self, batch: &mut Vec<Event>) {
        self.events.append(batch);
    }
    fn warning(&mut self, error: RecordError) {
        self.warnings.push(error);
    }
}

/// Reads one file through the public API (format detection included unless `format` is set).
pub fn read(path: &Path, format: Option<Format>) -> (Collect, FileStats) {
    let mut sink = Collect::default();
    let opts = IngestOptions {
        format,
        ..IngestOptions::default()
    };
    let stats = read_input(&Input::Path(path.to_owned()), &opts, &mut sink)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (sink, stats)
}

/// Lines of a text file that hold a record: non-empty and not a `#` comment/header.
pub fn record_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| l.trim_start_matches('\u{feff}').trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

pub fn text(e: &Event, name: &str) -> Option<String> {
    e.get_by_name(name).map(Value::to_string)
}

pub fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    100.0 * part as f64 / whole as f64
}

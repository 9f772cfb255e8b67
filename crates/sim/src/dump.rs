//! Writing a stretch of the simulation to files, one per format (see [`Source::file_name`]),
//! for `palisade hunt` or a look with other tools. The only I/O in the crate.
//!
//! A reader that takes files one at a time (`palisade hunt` feeds its learned baselines file
//! by file) sees time jump back at every new file. Per-entity baselines count an event older
//! than the entity's current hour into that hour, so a whole file of history arriving after
//! another file would look like a flood. [`dump`] therefore cuts the stream into one
//! directory per simulated hour (`2025-03-11T09/`), whose files sort in time order: within
//! an hour every file's events fall in the same hour of every baseline.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};

use crate::{Attack, SimConfig, Simulator, Source};

/// What [`dump`] wrote.
#[derive(Debug, Clone, Default)]
pub struct DumpSummary {
    /// Lines written per source.
    pub lines: BTreeMap<Source, u64>,
    /// Lines written per file.
    pub files: BTreeMap<PathBuf, u64>,
    /// Lines per attack (ground truth).
    pub attack_lines: BTreeMap<Attack, u64>,
    /// The attack of every attack-labelled line, by (file, 1-based line number).
    pub labels: BTreeMap<(PathBuf, u64), Attack>,
}

impl DumpSummary {
    pub fn total_lines(&self) -> u64 {
        self.files.values().sum()
    }

    /// The attack a file line belongs to, if any.
    pub fn label_of(&self, file: &Path, line: u64) -> Option<Attack> {
        self.labels.get(&(file.to_path_buf(), line)).copied()
    }

    /// Writes the ground truth as TSV (`file`, `line`, `attack`), outside the log directory so
    /// that a hunt over it does not read it as a log.
    pub fn write_labels(&self, path: &Path) -> io::Result<()> {
        let mut w = BufWriter::new(File::create(path)?);
        writeln!(w, "file\tline\tattack")?;
        for ((file, line), attack) in &self.labels {
            writeln!(w, "{}\t{line}\t{}", file.display(), attack.label())?;
        }
        w.flush()
    }
}

/// Writes every record of the simulation `cfg` before `until` into `dir` (created if missing),
/// one directory per simulated hour and in it one file per format named by
/// [`Source::file_name`]. The ground truth is in the summary ([`DumpSummary::write_labels`]
/// saves it).
pub fn dump(cfg: &SimConfig, until: DateTime<Utc>, dir: &Path) -> io::Result<DumpSummary> {
    dump_chunked(cfg, until, dir, Some(Duration::hours(1)))
}

/// As [`dump`], with directories of `chunk` simulated time each (`None`: all files directly
/// in `dir`, each spanning the whole stretch).
pub fn dump_chunked(
    cfg: &SimConfig,
    until: DateTime<Utc>,
    dir: &Path,
    chunk: Option<Duration>,
) -> io::Result<DumpSummary> {
    fs::create_dir_all(dir)?;
    let mut summary = DumpSummary::default();
    let mut writers: BTreeMap<&'static str, (BufWriter<File>, u64)> = BTreeMap::new();
    let mut chunk_dir = dir.to_path_buf();
    let mut chunk_end: Option<DateTime<Utc>> = None;
    for record in Simulator::new(cfg.clone()).take_while(|r| r.time < until) {
        if let Some(len) = chunk
            && chunk_end.is_none_or(|end| record.time >= end)
        {
            finish(&mut writers, &chunk_dir, &mut summary)?;
            // Chunks are aligned to the simulation's start.
            let k = (record.time - cfg.start)
                .num_seconds()
                .div_euclid(len.num_seconds().max(1));
            let begin = cfg.start + len * i32::try_from(k).unwrap_or(i32::MAX);
            chunk_end = Some(begin + len);
            chunk_dir = dir.join(begin.format("%Y-%m-%dT%H%M").to_string());
            fs::create_dir_all(&chunk_dir)?;
        }
        let name = record.source.file_name();
        if !writers.contains_key(name) {
            let file = File::create(chunk_dir.join(name))?;
            writers.insert(name, (BufWriter::new(file), 0));
        }
        let Some((w, n)) = writers.get_mut(name) else {
            continue;
        };
        w.write_all(record.line.as_bytes())?;
        w.write_all(b"\n")?;
        *n += 1;
        *summary.lines.entry(record.source).or_default() += 1;
        if let Some(attack) = record.attack {
            *summary.attack_lines.entry(attack).or_default() += 1;
            summary.labels.insert((chunk_dir.join(name), *n), attack);
        }
    }
    finish(&mut writers, &chunk_dir, &mut summary)?;
    Ok(summary)
}

/// Flushes and closes the open files of a chunk.
fn finish(
    writers: &mut BTreeMap<&'static str, (BufWriter<File>, u64)>,
    dir: &Path,
    summary: &mut DumpSummary,
) -> io::Result<()> {
    for (name, (mut w, n)) in std::mem::take(writers) {
        w.flush()?;
        summary.files.insert(dir.join(name), n);
    }
    Ok(())
}

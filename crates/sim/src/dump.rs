//! Writing a stretch of the simulation to files, one per [`Source`], for `palisade hunt` or a
//! look with other tools. The only I/O in the crate.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::{Attack, SimConfig, Simulator, Source};

/// What [`dump`] wrote.
#[derive(Debug, Clone, Default)]
pub struct DumpSummary {
    /// File, lines written, per source.
    pub files: BTreeMap<Source, (PathBuf, u64)>,
    /// Lines per attack (ground truth).
    pub attack_lines: BTreeMap<Attack, u64>,
    /// The attack of every attack-labelled line, by (file, 1-based line number).
    pub labels: BTreeMap<(PathBuf, u64), Attack>,
}

impl DumpSummary {
    pub fn total_lines(&self) -> u64 {
        self.files.values().map(|(_, n)| n).sum()
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
/// one file per source named by [`Source::file_name`]. The ground truth is in the summary
/// ([`DumpSummary::write_labels`] saves it).
pub fn dump(cfg: &SimConfig, until: DateTime<Utc>, dir: &Path) -> io::Result<DumpSummary> {
    fs::create_dir_all(dir)?;
    let mut writers: BTreeMap<Source, (BufWriter<File>, u64)> = BTreeMap::new();
    let mut summary = DumpSummary::default();
    for source in Source::ALL {
        let path = dir.join(source.file_name());
        writers.insert(source, (BufWriter::new(File::create(&path)?), 0));
        summary.files.insert(source, (path, 0));
    }
    for record in Simulator::new(cfg.clone()).take_while(|r| r.time < until) {
        let Some((w, n)) = writers.get_mut(&record.source) else {
            continue;
        };
        w.write_all(record.line.as_bytes())?;
        w.write_all(b"\n")?;
        *n += 1;
        if let Some(attack) = record.attack {
            *summary.attack_lines.entry(attack).or_default() += 1;
            let file = dir.join(record.source.file_name());
            summary.labels.insert((file, *n), attack);
        }
    }
    for (source, (mut w, n)) in writers {
        w.flush()?;
        if let Some(entry) = summary.files.get_mut(&source) {
            entry.1 = n;
        }
    }
    Ok(summary)
}

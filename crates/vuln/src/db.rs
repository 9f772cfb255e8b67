//! A loaded set of advisories, indexed by ecosystem and package name.
//!
//! Sources are directories (searched recursively for `.json`, `.yaml`, `.yml`) and zip files
//! (OSV's per-ecosystem `all.zip`). A document that cannot be read is reported with its file
//! (and zip entry) and position and the others still load; withdrawn advisories and those of
//! ecosystems Palisade does not match are counted and left out.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::ecosystem::Ecosystem;
use crate::osv::{self, Advisory, Skip};

/// Largest single advisory document read (real ones are a few kilobytes).
const MAX_DOCUMENT: u64 = 8 << 20;

/// Errors that stop loading a source altogether.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a zip file: {message}")]
    Zip { path: String, message: String },
    #[error("{path}: neither a directory nor a .zip, .json or .yaml file")]
    Unsupported { path: String },
}

/// A document that could not be read.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DocumentError {
    /// The file, and for a zip `file!entry`.
    pub file: String,
    pub message: String,
}

impl std::fmt::Display for DocumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

/// Counts of one load.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LoadReport {
    pub documents: u64,
    pub loaded: u64,
    pub withdrawn: u64,
    pub unsupported: u64,
    /// Loaded again under an id already present (the later one replaced it).
    pub replaced: u64,
    pub errors: Vec<DocumentError>,
}

impl LoadReport {
    /// Adds another report's counts and errors.
    pub fn merge(&mut self, other: LoadReport) {
        self.documents += other.documents;
        self.loaded += other.loaded;
        self.withdrawn += other.withdrawn;
        self.unsupported += other.unsupported;
        self.replaced += other.replaced;
        self.errors.extend(other.errors);
    }
}

/// One raw advisory document: where it came from and its text (what the store keeps).
#[derive(Debug, Clone)]
pub struct Document {
    pub file: String,
    pub text: String,
}

/// Advisories indexed by (ecosystem, package name).
#[derive(Debug, Default)]
pub struct AdvisoryDb {
    advisories: Vec<Advisory>,
    by_id: HashMap<String, usize>,
    /// (ecosystem, normalised name) → (advisory, affected entry) pairs.
    index: HashMap<(Ecosystem, String), Vec<(u32, u32)>>,
}

impl AdvisoryDb {
    pub fn new() -> AdvisoryDb {
        AdvisoryDb::default()
    }

    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    pub fn advisories(&self) -> &[Advisory] {
        &self.advisories
    }

    pub fn get(&self, id: &str) -> Option<&Advisory> {
        self.by_id.get(id).map(|&i| &self.advisories[i])
    }

    /// Advisory counts per ecosystem.
    pub fn counts(&self) -> Vec<(Ecosystem, usize)> {
        let mut m: HashMap<Ecosystem, usize> = HashMap::new();
        for a in &self.advisories {
            let mut seen = Vec::new();
            for p in &a.affected {
                if !seen.contains(&p.ecosystem) {
                    seen.push(p.ecosystem);
                    *m.entry(p.ecosystem).or_default() += 1;
                }
            }
        }
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort();
        v
    }

    /// Adds an advisory; one with the same id replaces the earlier one (returns `true` then).
    pub fn insert(&mut self, adv: Advisory) -> bool {
        if let Some(&i) = self.by_id.get(&adv.id) {
            self.advisories[i] = adv;
            self.reindex();
            return true;
        }
        let i = self.advisories.len();
        for (j, p) in adv.affected.iter().enumerate() {
            self.index
                .entry((p.ecosystem, p.name.clone()))
                .or_default()
                .push((i as u32, j as u32));
        }
        self.by_id.insert(adv.id.clone(), i);
        self.advisories.push(adv);
        false
    }

    fn reindex(&mut self) {
        self.index.clear();
        for (i, a) in self.advisories.iter().enumerate() {
            for (j, p) in a.affected.iter().enumerate() {
                self.index
                    .entry((p.ecosystem, p.name.clone()))
                    .or_default()
                    .push((i as u32, j as u32));
            }
        }
    }

    /// The (advisory, affected entry) pairs naming a package.
    pub fn candidates(
        &self,
        eco: Ecosystem,
        normalised_name: &str,
    ) -> impl Iterator<Item = (&Advisory, &osv::AffectedPackage)> {
        self.index
            .get(&(eco, normalised_name.to_owned()))
            .into_iter()
            .flatten()
            .map(|&(i, j)| {
                let a = &self.advisories[i as usize];
                (a, &a.affected[j as usize])
            })
    }

    /// Reads one document's text and adds it; the report counts the outcome.
    pub fn add_document(&mut self, doc: &Document, report: &mut LoadReport) -> bool {
        report.documents += 1;
        match osv::parse_document(&doc.file, &doc.text).map(|p| p.advisory) {
            Ok(Ok(adv)) => {
                report.loaded += 1;
                if self.insert(adv) {
                    report.replaced += 1;
                }
                true
            }
            Ok(Err(Skip::Withdrawn)) => {
                report.withdrawn += 1;
                false
            }
            Ok(Err(Skip::Unsupported)) => {
                report.unsupported += 1;
                false
            }
            Err(message) => {
                report.errors.push(DocumentError {
                    file: doc.file.clone(),
                    message,
                });
                false
            }
        }
    }

    /// Loads every advisory document of `path` (directory, zip, or one file).
    pub fn load_path(&mut self, path: &Path, report: &mut LoadReport) -> Result<(), DbError> {
        let mut docs = LoadReport::default();
        let mut read = LoadReport::default();
        let result = for_each_document(
            path,
            &mut |doc| {
                self.add_document(&doc, &mut docs);
            },
            &mut read,
        );
        report.merge(docs);
        report.errors.extend(read.errors);
        result
    }
}

fn is_advisory_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    (lower.ends_with(".json") || lower.ends_with(".yaml") || lower.ends_with(".yml"))
        && !lower.ends_with("schema.json")
}

/// Calls `f` with every advisory document of a directory, zip or single file. Documents that
/// cannot even be read as text are recorded in `report.errors`.
pub fn for_each_document(
    path: &Path,
    f: &mut dyn FnMut(Document),
    report: &mut LoadReport,
) -> Result<(), DbError> {
    let io = |p: &Path, e: std::io::Error| DbError::Io {
        path: p.display().to_string(),
        source: e,
    };
    let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
    if meta.is_dir() {
        let mut files: Vec<PathBuf> = walkdir::WalkDir::new(path)
            .follow_links(false)
            .into_iter()
            .filter_map(|e| match e {
                Ok(e) => Some(e),
                Err(err) => {
                    report.errors.push(DocumentError {
                        file: err.path().map_or_else(
                            || path.display().to_string(),
                            |p| p.display().to_string(),
                        ),
                        message: err.to_string(),
                    });
                    None
                }
            })
            .filter(|e| e.file_type().is_file())
            .map(|e| e.into_path())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                is_advisory_name(name) || name.ends_with(".zip")
            })
            .collect();
        files.sort();
        for p in files {
            if p.extension().is_some_and(|e| e == "zip") {
                read_zip(&p, f, report)?;
            } else {
                read_file(&p, f, report);
            }
        }
        return Ok(());
    }
    let name = path.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".zip") {
        read_zip(path, f, report)
    } else if is_advisory_name(&name) {
        read_file(path, f, report);
        Ok(())
    } else {
        Err(DbError::Unsupported {
            path: path.display().to_string(),
        })
    }
}

fn read_file(path: &Path, f: &mut dyn FnMut(Document), report: &mut LoadReport) {
    let file = path.display().to_string();
    let read = File::open(path).and_then(|h| {
        let mut text = String::new();
        h.take(MAX_DOCUMENT + 1).read_to_string(&mut text)?;
        Ok(text)
    });
    match read {
        Ok(text) if text.len() as u64 > MAX_DOCUMENT => report.errors.push(DocumentError {
            file,
            message: format!("larger than {MAX_DOCUMENT} bytes"),
        }),
        Ok(text) => f(Document { file, text }),
        Err(e) => report.errors.push(DocumentError {
            file,
            message: e.to_string(),
        }),
    }
}

fn read_zip(
    path: &Path,
    f: &mut dyn FnMut(Document),
    report: &mut LoadReport,
) -> Result<(), DbError> {
    let shown = path.display().to_string();
    let h = File::open(path).map_err(|e| DbError::Io {
        path: shown.clone(),
        source: e,
    })?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(h)).map_err(|e| DbError::Zip {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    for i in 0..zip.len() {
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                report.errors.push(DocumentError {
                    file: format!("{shown}!#{i}"),
                    message: e.to_string(),
                });
                continue;
            }
        };
        let name = match entry.name() {
            Ok(n) => n.into_owned(),
            Err(e) => {
                report.errors.push(DocumentError {
                    file: format!("{shown}!#{i}"),
                    message: e.to_string(),
                });
                continue;
            }
        };
        if entry.is_dir() || !is_advisory_name(&name) {
            continue;
        }
        let file = format!("{shown}!{name}");
        if entry.size() > MAX_DOCUMENT {
            report.errors.push(DocumentError {
                file,
                message: format!("larger than {MAX_DOCUMENT} bytes"),
            });
            continue;
        }
        let mut text = String::new();
        match (&mut entry)
            .take(MAX_DOCUMENT + 1)
            .read_to_string(&mut text)
        {
            Ok(_) => f(Document { file, text }),
            Err(e) => report.errors.push(DocumentError {
                file,
                message: e.to_string(),
            }),
        }
    }
    Ok(())
}

//! Inventories: what is installed, read from package databases, lockfiles and SBOMs.
//!
//! One module per format; [`InventoryKind::detect`] tells the format from a file's name (and,
//! for JSON SBOMs, its first bytes), [`read_inventory`] reads one file, [`discover`] walks
//! directories. A file that cannot be read gives an [`InventoryError`] naming the file and the
//! position; entries that cannot be used (an unpinned requirement, a path dependency) are
//! counted in [`Inventory::skipped`] with the reason.

mod cargo;
mod dpkg;
mod go;
mod npm;
mod purl;
mod python;
mod sbom;

use std::path::{Path, PathBuf};

use crate::ecosystem::Ecosystem;

pub use purl::Purl;

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Package {
    pub ecosystem: Ecosystem,
    /// The name advisories use: for Debian packages the *source* package.
    pub name: String,
    pub version: String,
    /// The distribution release (`12` for Debian 12) of host packages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The binary package (Debian) when it differs from `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    /// 1-based line in the file, where the format has lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

/// The formats Palisade reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InventoryKind {
    DpkgStatus,
    CargoLock,
    PackageLock,
    YarnLock,
    Requirements,
    PoetryLock,
    PipfileLock,
    GoSum,
    CycloneDx,
    Spdx,
}

impl InventoryKind {
    pub fn name(self) -> &'static str {
        match self {
            InventoryKind::DpkgStatus => "dpkg-status",
            InventoryKind::CargoLock => "cargo-lock",
            InventoryKind::PackageLock => "package-lock",
            InventoryKind::YarnLock => "yarn-lock",
            InventoryKind::Requirements => "requirements",
            InventoryKind::PoetryLock => "poetry-lock",
            InventoryKind::PipfileLock => "pipfile-lock",
            InventoryKind::GoSum => "go-sum",
            InventoryKind::CycloneDx => "cyclonedx",
            InventoryKind::Spdx => "spdx",
        }
    }

    /// The format of a file from its name; `None` when the name says nothing. JSON files
    /// with SBOM-like names are told apart by [`InventoryKind::sniff_json`].
    pub fn from_name(path: &Path) -> Option<InventoryKind> {
        let name = path.file_name()?.to_str()?;
        let lower = name.to_ascii_lowercase();
        let parent = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str());
        Some(match lower.as_str() {
            "status" if parent == Some("dpkg") => InventoryKind::DpkgStatus,
            "cargo.lock" => InventoryKind::CargoLock,
            "package-lock.json" | "npm-shrinkwrap.json" => InventoryKind::PackageLock,
            "yarn.lock" => InventoryKind::YarnLock,
            "poetry.lock" => InventoryKind::PoetryLock,
            "pipfile.lock" => InventoryKind::PipfileLock,
            "go.sum" => InventoryKind::GoSum,
            _ if lower.ends_with(".txt") && lower.starts_with("requirements") => {
                InventoryKind::Requirements
            }
            _ if lower.ends_with(".spdx.json") => InventoryKind::Spdx,
            _ if lower.ends_with(".cdx.json") || lower == "bom.json" => InventoryKind::CycloneDx,
            _ => return None,
        })
    }

    /// Whether a JSON file's text is a CycloneDX or SPDX document.
    pub fn sniff_json(head: &str) -> Option<InventoryKind> {
        if head.contains("\"bomFormat\"") && head.contains("CycloneDX") {
            Some(InventoryKind::CycloneDx)
        } else if head.contains("\"spdxVersion\"") {
            Some(InventoryKind::Spdx)
        } else {
            None
        }
    }
}

/// A file that could not be read as its format.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", position.as_ref().map(|p| format!(":{p}")).unwrap_or_default())]
pub struct InventoryError {
    pub file: String,
    /// `line`, `line:column`, or a JSON path.
    pub position: Option<String>,
    pub message: String,
}

impl InventoryError {
    pub(crate) fn new(file: &str, position: Option<String>, message: impl Into<String>) -> Self {
        InventoryError {
            file: file.to_owned(),
            position,
            message: message.into(),
        }
    }

    pub(crate) fn json(file: &str, e: &serde_json::Error) -> Self {
        InventoryError::new(
            file,
            Some(format!("{}:{}", e.line(), e.column())),
            e.to_string(),
        )
    }

    pub(crate) fn toml(file: &str, text: &str, e: &toml::de::Error) -> Self {
        let position = e.span().map(|s| {
            let before = &text[..s.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("{line}:{col}")
        });
        InventoryError::new(file, position, e.message())
    }
}

/// The packages of one file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inventory {
    pub file: String,
    pub kind: InventoryKind,
    pub packages: Vec<Package>,
    /// Entries left out, by reason (e.g. "unpinned requirement"), with counts.
    pub skipped: Vec<(String, u64)>,
}

impl Inventory {
    pub(crate) fn new(file: &str, kind: InventoryKind) -> Inventory {
        Inventory {
            file: file.to_owned(),
            kind,
            packages: Vec::new(),
            skipped: Vec::new(),
        }
    }

    pub(crate) fn skip(&mut self, reason: &str) {
        match self.skipped.iter_mut().find(|(r, _)| r == reason) {
            Some((_, n)) => *n += 1,
            None => self.skipped.push((reason.to_owned(), 1)),
        }
    }
}

/// Largest inventory file read (a dpkg status of a big server is a few megabytes).
pub const MAX_INVENTORY_BYTES: u64 = 256 << 20;

/// Reads one inventory file of a known format.
pub fn read_inventory(path: &Path, kind: InventoryKind) -> Result<Inventory, InventoryError> {
    let file = path.display().to_string();
    let meta =
        std::fs::metadata(path).map_err(|e| InventoryError::new(&file, None, e.to_string()))?;
    if meta.len() > MAX_INVENTORY_BYTES {
        return Err(InventoryError::new(
            &file,
            None,
            format!("larger than {MAX_INVENTORY_BYTES} bytes"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| InventoryError::new(&file, None, e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        InventoryError::new(
            &file,
            Some(format!("byte {}", e.utf8_error().valid_up_to())),
            "not UTF-8",
        )
    })?;
    let host = dpkg::HostRelease::for_status_file(path);
    parse_inventory(&file, kind, &text, host.as_ref())
}

/// Reads inventory text of a known format (`file` names it in errors).
pub fn parse_inventory(
    file: &str,
    kind: InventoryKind,
    text: &str,
    host: Option<&dpkg::HostRelease>,
) -> Result<Inventory, InventoryError> {
    let mut inv = Inventory::new(file, kind);
    match kind {
        InventoryKind::DpkgStatus => dpkg::parse(text, host, &mut inv)?,
        InventoryKind::CargoLock => cargo::parse(file, text, &mut inv)?,
        InventoryKind::PackageLock => npm::parse_package_lock(file, text, &mut inv)?,
        InventoryKind::YarnLock => npm::parse_yarn_lock(file, text, &mut inv)?,
        InventoryKind::Requirements => python::parse_requirements(file, text, &mut inv)?,
        InventoryKind::PoetryLock => python::parse_poetry_lock(file, text, &mut inv)?,
        InventoryKind::PipfileLock => python::parse_pipfile_lock(file, text, &mut inv)?,
        InventoryKind::GoSum => go::parse_go_sum(file, text, &mut inv)?,
        InventoryKind::CycloneDx => sbom::parse_cyclonedx(file, text, &mut inv)?,
        InventoryKind::Spdx => sbom::parse_spdx(file, text, &mut inv)?,
    }
    Ok(inv)
}

pub use dpkg::HostRelease;

/// Directory names never searched (dependency caches and build output hold other projects'
/// lockfiles, which are not installed here).
const SKIP_DIRS: &[&str] = &[".git", "node_modules", "target", ".venv", "__pycache__"];

/// Finds inventory files: a file is taken as its name says (or, for a `.json`, as its content
/// says); a directory is searched recursively (not following symlinks, skipping `.git`,
/// `node_modules`, `target`, `.venv`). Unreadable directory entries are returned as errors.
pub fn discover(paths: &[PathBuf]) -> (Vec<(PathBuf, InventoryKind)>, Vec<InventoryError>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for root in paths {
        let meta = match std::fs::metadata(root) {
            Ok(m) => m,
            Err(e) => {
                errors.push(InventoryError::new(
                    &root.display().to_string(),
                    None,
                    e.to_string(),
                ));
                continue;
            }
        };
        if meta.is_file() {
            match kind_of(root, true) {
                Some(k) => found.push((root.clone(), k)),
                None => errors.push(InventoryError::new(
                    &root.display().to_string(),
                    None,
                    "not a known inventory (dpkg status, Cargo.lock, package-lock.json, yarn.lock, \
                     requirements*.txt, poetry.lock, Pipfile.lock, go.sum, CycloneDX or SPDX JSON)",
                )),
            }
            continue;
        }
        let walker = walkdir::WalkDir::new(root)
            .follow_links(false)
            .into_iter()
            .filter_entry(|e| {
                !(e.file_type().is_dir()
                    && e.depth() > 0
                    && e.file_name()
                        .to_str()
                        .is_some_and(|n| SKIP_DIRS.contains(&n)))
            });
        for entry in walker {
            match entry {
                Ok(e) if e.file_type().is_file() => {
                    if let Some(k) = kind_of(e.path(), false) {
                        found.push((e.into_path(), k));
                    }
                }
                Ok(_) => {}
                Err(e) => errors.push(InventoryError::new(
                    &e.path().unwrap_or(root).display().to_string(),
                    None,
                    e.to_string(),
                )),
            }
        }
    }
    found.sort();
    found.dedup();
    (found, errors)
}

fn kind_of(path: &Path, explicit: bool) -> Option<InventoryKind> {
    if let Some(k) = InventoryKind::from_name(path) {
        return Some(k);
    }
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if explicit && name == "status" {
        return Some(InventoryKind::DpkgStatus);
    }
    let sbom_like = name.contains("sbom") || name.contains("cyclonedx") || name.contains("spdx");
    if name.ends_with(".json") && (explicit || sbom_like) {
        let mut head = vec![0u8; 4096];
        let n = std::io::Read::read(&mut std::fs::File::open(path).ok()?, &mut head).ok()?;
        return InventoryKind::sniff_json(&String::from_utf8_lossy(&head[..n]));
    }
    None
}

/// The 1-based line of byte offset `at` in `text`.
pub(crate) fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

//! Version ordering per ecosystem.
//!
//! Every ecosystem orders versions its own way: crates.io and npm follow SemVer (pre-releases
//! sort before their release, build metadata is ignored), PyPI follows PEP 440 (epochs,
//! `a`/`b`/`rc`, `.post`, `.dev`, local labels), Debian and Ubuntu follow dpkg (epochs, `~`
//! before everything, letters before other symbols) and Go uses SemVer with a `v` prefix and
//! pseudo-versions for untagged commits. A [`Version`] is parsed once and compared many times.

mod debian;
mod go;
mod pep440;
mod semver_lenient;

use std::cmp::Ordering;
use std::fmt;

pub use debian::DebianVersion;
pub use go::is_pseudo_version;
pub use pep440::Pep440Version;
pub use semver_lenient::SemVersion;

/// How an ecosystem orders its versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// SemVer 2.0 (crates.io, npm), leniently read (`v1.2`, `=1.2.3`).
    SemVer,
    /// Go modules: SemVer with a `v` prefix, pseudo-versions, `+incompatible`.
    Go,
    /// PEP 440 (PyPI).
    Pep440,
    /// dpkg ordering (Debian, Ubuntu).
    Debian,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::SemVer => "semver",
            Scheme::Go => "go",
            Scheme::Pep440 => "pep440",
            Scheme::Debian => "debian",
        }
    }
}

/// A version that could not be read in its scheme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{scheme} version {text:?}: {reason}")]
pub struct VersionError {
    pub scheme: &'static str,
    pub text: String,
    pub reason: String,
}

impl VersionError {
    pub(crate) fn new(scheme: Scheme, text: &str, reason: impl Into<String>) -> Self {
        VersionError {
            scheme: scheme.name(),
            text: text.chars().take(80).collect(),
            reason: reason.into(),
        }
    }
}

/// A parsed version of one scheme. Versions of different schemes do not compare
/// (`partial_cmp` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    Sem(SemVersion),
    Pep440(Pep440Version),
    Debian(DebianVersion),
}

impl Version {
    /// Parses `text` in `scheme`.
    pub fn parse(scheme: Scheme, text: &str) -> Result<Version, VersionError> {
        match scheme {
            Scheme::SemVer => SemVersion::parse(text).map(Version::Sem),
            Scheme::Go => go::parse(text).map(Version::Sem),
            Scheme::Pep440 => Pep440Version::parse(text).map(Version::Pep440),
            Scheme::Debian => DebianVersion::parse(text).map(Version::Debian),
        }
    }

    /// The order of two versions of the same scheme; `None` across schemes.
    pub fn compare(&self, other: &Version) -> Option<Ordering> {
        match (self, other) {
            (Version::Sem(a), Version::Sem(b)) => Some(a.cmp(b)),
            (Version::Pep440(a), Version::Pep440(b)) => Some(a.cmp(b)),
            (Version::Debian(a), Version::Debian(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.compare(other)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Sem(v) => v.fmt(f),
            Version::Pep440(v) => v.fmt(f),
            Version::Debian(v) => v.fmt(f),
        }
    }
}

/// Compares two version strings of one scheme.
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Result<Ordering, VersionError> {
    let a = Version::parse(scheme, a)?;
    let b = Version::parse(scheme, b)?;
    Ok(a.compare(&b).unwrap_or(Ordering::Equal))
}

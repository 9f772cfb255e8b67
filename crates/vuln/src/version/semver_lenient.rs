//! SemVer as crates.io and npm use it, read leniently: a leading `v` or `=`, and missing
//! minor/patch numbers (`1.2` is `1.2.0`), because lockfiles and advisories write both.
//! Build metadata is kept for display but ignored when ordering (SemVer 2.0 §10).

use std::cmp::Ordering;
use std::fmt;

use super::{Scheme, VersionError};

#[derive(Debug, Clone)]
pub struct SemVersion(pub semver::Version);

impl SemVersion {
    pub fn parse(text: &str) -> Result<SemVersion, VersionError> {
        let t = text.trim();
        let t = t.strip_prefix('=').unwrap_or(t).trim_start();
        let t = t
            .strip_prefix('v')
            .or_else(|| t.strip_prefix('V'))
            .unwrap_or(t);
        if let Ok(v) = semver::Version::parse(t) {
            return Ok(SemVersion(v));
        }
        // Pad `1` / `1.2` (optionally followed by -pre or +build) to three numbers.
        let split = t.find(['-', '+']).unwrap_or(t.len());
        let (core, rest) = t.split_at(split);
        let parts = core.split('.').count();
        if (1..3).contains(&parts) && core.split('.').all(|p| !p.is_empty()) {
            let padded = format!("{core}{}{rest}", ".0".repeat(3 - parts));
            if let Ok(v) = semver::Version::parse(&padded) {
                return Ok(SemVersion(v));
            }
        }
        match semver::Version::parse(t) {
            Err(e) => Err(VersionError::new(Scheme::SemVer, text, e.to_string())),
            Ok(v) => Ok(SemVersion(v)),
        }
    }
}

impl PartialEq for SemVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for SemVersion {}

impl PartialOrd for SemVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SemVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (&self.0, &other.0);
        (a.major, a.minor, a.patch)
            .cmp(&(b.major, b.minor, b.patch))
            .then_with(|| a.pre.cmp(&b.pre))
    }
}

impl fmt::Display for SemVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> SemVersion {
        SemVersion::parse(s).unwrap()
    }

    #[test]
    fn lenient_forms() {
        assert_eq!(v("v1.2"), v("1.2.0"));
        assert_eq!(v("=1"), v("1.0.0"));
        assert_eq!(v("1.2-beta"), v("1.2.0-beta"));
        assert!(v("1.0.0-alpha") < v("1.0.0"));
        assert!(v("1.0.0-alpha.1") < v("1.0.0-alpha.beta"));
        assert_eq!(v("1.0.0+build.1"), v("1.0.0+other"));
        assert!(v("0.0.0-0") < v("0.0.0"));
        assert!(SemVersion::parse("not a version").is_err());
        assert!(SemVersion::parse("").is_err());
    }
}

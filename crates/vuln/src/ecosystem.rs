//! The package ecosystems Palisade matches, their OSV names and version schemes, and how
//! package names are compared in each.

use std::fmt;

use crate::version::Scheme;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Ecosystem {
    #[serde(rename = "crates.io")]
    CratesIo,
    #[serde(rename = "npm")]
    Npm,
    #[serde(rename = "PyPI")]
    PyPI,
    #[serde(rename = "Go")]
    Go,
    #[serde(rename = "Debian")]
    Debian,
    #[serde(rename = "Ubuntu")]
    Ubuntu,
}

impl Ecosystem {
    pub const ALL: [Ecosystem; 6] = [
        Ecosystem::CratesIo,
        Ecosystem::Npm,
        Ecosystem::PyPI,
        Ecosystem::Go,
        Ecosystem::Debian,
        Ecosystem::Ubuntu,
    ];

    /// Reads an OSV ecosystem (`crates.io`, `PyPI`, `Debian:12`, `Ubuntu:22.04:LTS`, …) into
    /// the ecosystem and its release, if any. `None` for ecosystems Palisade does not match.
    pub fn from_osv(text: &str) -> Option<(Ecosystem, Option<String>)> {
        let (base, release) = match text.split_once(':') {
            Some((b, r)) => (b, Some(r.split(':').next().unwrap_or(r).to_owned())),
            None => (text, None),
        };
        let eco = match base {
            "crates.io" => Ecosystem::CratesIo,
            "npm" => Ecosystem::Npm,
            "PyPI" => Ecosystem::PyPI,
            "Go" => Ecosystem::Go,
            "Debian" => Ecosystem::Debian,
            "Ubuntu" => Ecosystem::Ubuntu,
            _ => return None,
        };
        Some((eco, release.filter(|r| !r.is_empty())))
    }

    pub fn osv_name(self) -> &'static str {
        match self {
            Ecosystem::CratesIo => "crates.io",
            Ecosystem::Npm => "npm",
            Ecosystem::PyPI => "PyPI",
            Ecosystem::Go => "Go",
            Ecosystem::Debian => "Debian",
            Ecosystem::Ubuntu => "Ubuntu",
        }
    }

    pub fn scheme(self) -> Scheme {
        match self {
            Ecosystem::CratesIo | Ecosystem::Npm => Scheme::SemVer,
            Ecosystem::PyPI => Scheme::Pep440,
            Ecosystem::Go => Scheme::Go,
            Ecosystem::Debian | Ecosystem::Ubuntu => Scheme::Debian,
        }
    }

    /// The package URL type (purl) of the ecosystem.
    pub fn purl_type(self) -> &'static str {
        match self {
            Ecosystem::CratesIo => "cargo",
            Ecosystem::Npm => "npm",
            Ecosystem::PyPI => "pypi",
            Ecosystem::Go => "golang",
            Ecosystem::Debian => "deb",
            Ecosystem::Ubuntu => "deb",
        }
    }

    /// The name as the ecosystem compares it: PyPI names are normalised as PEP 503 says
    /// (case-insensitive, runs of `-`, `_`, `.` are one `-`); the others are exact.
    pub fn normalise_name(self, name: &str) -> String {
        match self {
            Ecosystem::PyPI => {
                let mut out = String::with_capacity(name.len());
                let mut sep = false;
                for c in name.trim().chars() {
                    if matches!(c, '-' | '_' | '.') {
                        sep = true;
                    } else {
                        if sep && !out.is_empty() {
                            out.push('-');
                        }
                        sep = false;
                        out.extend(c.to_lowercase());
                    }
                }
                out
            }
            _ => name.trim().to_owned(),
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.osv_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osv_names_and_releases() {
        assert_eq!(
            Ecosystem::from_osv("Debian:12"),
            Some((Ecosystem::Debian, Some("12".into())))
        );
        assert_eq!(
            Ecosystem::from_osv("Ubuntu:22.04:LTS"),
            Some((Ecosystem::Ubuntu, Some("22.04".into())))
        );
        assert_eq!(Ecosystem::from_osv("PyPI"), Some((Ecosystem::PyPI, None)));
        assert_eq!(Ecosystem::from_osv("Maven"), None);
    }

    #[test]
    fn pypi_names_normalise() {
        assert_eq!(
            Ecosystem::PyPI.normalise_name("Foo__Bar.baz"),
            "foo-bar-baz"
        );
        assert_eq!(Ecosystem::CratesIo.normalise_name("Foo_bar"), "Foo_bar");
    }
}

//! `/var/lib/dpkg/status`: the installed Debian/Ubuntu packages.
//!
//! Paragraphs of `Field: value` lines separated by blank lines. Only packages whose `Status`
//! ends in `installed` count. Debian's advisories name *source* packages, so each binary
//! package is reported under its `Source:` (`Source: openssl (3.0.11-1)` also gives the source
//! version when it differs from the binary's).

use std::path::{Path, PathBuf};

use super::{Inventory, InventoryError, Package};
use crate::ecosystem::Ecosystem;

/// The distribution of a host, from its `etc/os-release`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRelease {
    pub ecosystem: Ecosystem,
    /// `12`, `22.04`; `None` for testing/unstable without a number.
    pub release: Option<String>,
}

impl HostRelease {
    /// Reads `ID`/`ID_LIKE` and `VERSION_ID` of an os-release file's text.
    pub fn from_os_release(text: &str) -> Option<HostRelease> {
        let mut id = None;
        let mut like = String::new();
        let mut version = None;
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"').trim_matches('\'').to_owned();
            match k.trim() {
                "ID" => id = Some(v),
                "ID_LIKE" => like = v,
                "VERSION_ID" => version = Some(v),
                _ => {}
            }
        }
        let id = id?;
        let ecosystem = if id == "ubuntu" {
            Ecosystem::Ubuntu
        } else if id == "debian" || like.split_whitespace().any(|l| l == "debian") {
            Ecosystem::Debian
        } else {
            return None;
        };
        let release = if id == "debian" || id == "ubuntu" {
            version.filter(|v| !v.is_empty())
        } else {
            None
        };
        Some(HostRelease { ecosystem, release })
    }

    /// For `<root>/var/lib/dpkg/status`: the release named by `<root>/etc/os-release`.
    pub fn for_status_file(status: &Path) -> Option<HostRelease> {
        let root: PathBuf = status.parent()?.parent()?.parent()?.parent()?.to_path_buf();
        let text = std::fs::read_to_string(root.join("etc/os-release"))
            .or_else(|_| std::fs::read_to_string(root.join("usr/lib/os-release")))
            .ok()?;
        HostRelease::from_os_release(&text)
    }
}

pub(super) fn parse(
    text: &str,
    host: Option<&HostRelease>,
    inv: &mut Inventory,
) -> Result<(), InventoryError> {
    let ecosystem = host.map_or(Ecosystem::Debian, |h| h.ecosystem);
    let release = host.and_then(|h| h.release.clone());
    let mut para_line = 1;
    let mut fields: Vec<(&str, &str)> = Vec::new();
    let mut line_no = 0;
    for line in text.lines().chain(std::iter::once("")) {
        line_no += 1;
        if line.trim().is_empty() {
            if !fields.is_empty() {
                paragraph(&fields, para_line, ecosystem, release.as_ref(), inv);
                fields.clear();
            }
            para_line = line_no + 1;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue; // continuation of a multi-line field (Description, Conffiles)
        }
        match line.split_once(':') {
            Some((k, v)) => fields.push((k, v.trim())),
            None => {
                return Err(InventoryError::new(
                    &inv.file,
                    Some(line_no.to_string()),
                    "expected `Field: value`",
                ));
            }
        }
    }
    Ok(())
}

fn paragraph(
    fields: &[(&str, &str)],
    line: usize,
    ecosystem: Ecosystem,
    release: Option<&String>,
    inv: &mut Inventory,
) {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    let (Some(binary), Some(version)) = (get("Package"), get("Version")) else {
        inv.skip("paragraph without Package or Version");
        return;
    };
    if get("Status").is_none_or(|s| s.split_whitespace().last() != Some("installed")) {
        inv.skip("not installed");
        return;
    }
    let (name, src_version) = match get("Source") {
        Some(s) => match s.split_once('(') {
            Some((n, v)) => (n.trim(), v.trim_end_matches(')').trim()),
            None => (s.trim(), version),
        },
        None => (binary, version),
    };
    inv.packages.push(Package {
        ecosystem,
        name: name.to_owned(),
        version: src_version.to_owned(),
        release: release.cloned(),
        binary: (name != binary).then(|| binary.to_owned()),
        line: Some(line),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::InventoryKind;

    #[test]
    fn installed_packages_under_their_source() {
        let text = "Package: libssl3\nStatus: install ok installed\nSource: openssl (3.0.11-1~deb12u2)\n\
Version: 3.0.11-1~deb12u2\nDescription: x\n more\n\nPackage: gone\nStatus: deinstall ok config-files\n\
Version: 1\n\nPackage: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n";
        let host = HostRelease::from_os_release("ID=debian\nVERSION_ID=\"12\"\n").unwrap();
        let mut inv = Inventory::new("status", InventoryKind::DpkgStatus);
        parse(text, Some(&host), &mut inv).unwrap();
        assert_eq!(inv.packages.len(), 2);
        assert_eq!(inv.packages[0].name, "openssl");
        assert_eq!(inv.packages[0].binary.as_deref(), Some("libssl3"));
        assert_eq!(inv.packages[0].release.as_deref(), Some("12"));
        assert_eq!(inv.packages[1].name, "bash");
        assert_eq!(inv.packages[1].line, Some(12));
        assert_eq!(inv.skipped, vec![("not installed".to_owned(), 1)]);
    }

    #[test]
    fn ubuntu_and_derivatives() {
        let u = HostRelease::from_os_release("ID=ubuntu\nVERSION_ID=\"22.04\"").unwrap();
        assert_eq!(u.ecosystem, Ecosystem::Ubuntu);
        let mint =
            HostRelease::from_os_release("ID=kali\nID_LIKE=debian\nVERSION_ID=2024").unwrap();
        assert_eq!(mint.release, None);
        assert!(HostRelease::from_os_release("ID=fedora").is_none());
    }
}

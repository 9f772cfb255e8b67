//! Python: `requirements*.txt` (pinned `name==version` lines), `poetry.lock` and
//! `Pipfile.lock`.
//!
//! Only exact pins say what is installed; a range (`>=1.0`) needs an index to resolve and is
//! counted as skipped, never guessed.

use serde::Deserialize;
use serde_json::Value;

use super::{Inventory, InventoryError, Package};
use crate::ecosystem::Ecosystem;

fn pkg(name: &str, version: &str, line: Option<usize>) -> Package {
    Package {
        ecosystem: Ecosystem::PyPI,
        name: name.to_owned(),
        version: version.to_owned(),
        release: None,
        binary: None,
        line,
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

pub(super) fn parse_requirements(
    file: &str,
    text: &str,
    inv: &mut Inventory,
) -> Result<(), InventoryError> {
    let mut continued = false;
    for (i, raw) in text.lines().enumerate() {
        let was_continued = continued;
        continued = raw.trim_end().ends_with('\\');
        if was_continued {
            continue; // `--hash=…` lines of the requirement above
        }
        let line = raw
            .split(" #")
            .next()
            .unwrap_or(raw)
            .trim()
            .trim_end_matches('\\')
            .trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('-') {
            inv.skip("option line (-r, -e, --index-url, …)");
            continue;
        }
        if line.contains("://") || line.starts_with('.') || line.starts_with('/') {
            inv.skip("URL or path requirement");
            continue;
        }
        let spec = line.split(';').next().unwrap_or(line).trim();
        let name_end = spec.find(|c: char| !is_name_char(c)).unwrap_or(spec.len());
        let name = &spec[..name_end];
        if name.is_empty() {
            return Err(InventoryError::new(
                file,
                Some((i + 1).to_string()),
                format!("cannot read a requirement from {line:?}"),
            ));
        }
        let mut rest = spec[name_end..].trim_start();
        if rest.starts_with('[') {
            match rest.find(']') {
                Some(j) => rest = rest[j + 1..].trim_start(),
                None => {
                    return Err(InventoryError::new(
                        file,
                        Some((i + 1).to_string()),
                        "unclosed extras `[`",
                    ));
                }
            }
        }
        let pinned = rest
            .strip_prefix("===")
            .or_else(|| rest.strip_prefix("=="))
            .map(str::trim)
            .filter(|v| !v.contains([',', '*', ' ']) && !v.is_empty());
        match pinned {
            Some(v) => inv.packages.push(pkg(name, v, Some(i + 1))),
            None => inv.skip("unpinned requirement (needs an index to resolve)"),
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct PoetryLock {
    #[serde(default)]
    package: Vec<PoetryPackage>,
}

#[derive(Deserialize)]
struct PoetryPackage {
    name: String,
    version: String,
}

pub(super) fn parse_poetry_lock(
    file: &str,
    text: &str,
    inv: &mut Inventory,
) -> Result<(), InventoryError> {
    let lock: PoetryLock =
        toml::from_str(text).map_err(|e| InventoryError::toml(file, text, &e))?;
    for p in lock.package {
        inv.packages.push(pkg(&p.name, &p.version, None));
    }
    Ok(())
}

pub(super) fn parse_pipfile_lock(
    file: &str,
    text: &str,
    inv: &mut Inventory,
) -> Result<(), InventoryError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| InventoryError::json(file, &e))?;
    let mut any = false;
    for section in ["default", "develop"] {
        let Some(deps) = doc.get(section).and_then(Value::as_object) else {
            continue;
        };
        any = true;
        for (name, entry) in deps {
            match entry
                .get("version")
                .and_then(Value::as_str)
                .and_then(|v| v.strip_prefix("=="))
            {
                Some(v) => inv
                    .packages
                    .push(pkg(name, v.trim_start_matches('='), None)),
                None => inv.skip("entry without a pinned version (VCS or path)"),
            }
        }
    }
    if !any {
        return Err(InventoryError::new(
            file,
            None,
            "no `default` or `develop` section",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::InventoryKind;

    #[test]
    fn requirements_pins_extras_markers_hashes() {
        let text = "# comment\nrequests[security]==2.19.0 ; python_version > '3'\n\
Django>=3.0\n-r other.txt\nurllib3==1.24.1 \\\n    --hash=sha256:abc\nJinja2 === 2.10  # pinned\n";
        let mut inv = Inventory::new("requirements.txt", InventoryKind::Requirements);
        parse_requirements("requirements.txt", text, &mut inv).unwrap();
        let got: Vec<_> = inv
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.line))
            .collect();
        assert_eq!(
            got,
            [
                ("requests", "2.19.0", Some(2)),
                ("urllib3", "1.24.1", Some(5)),
                ("Jinja2", "2.10", Some(7))
            ]
        );
        assert_eq!(inv.skipped.len(), 2);
    }
}

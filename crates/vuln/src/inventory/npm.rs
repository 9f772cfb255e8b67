//! npm's `package-lock.json` / `npm-shrinkwrap.json` (lockfile versions 1–3) and Yarn's
//! `yarn.lock` (classic v1 and Berry's YAML-like form).

use serde_json::Value;

use super::{Inventory, InventoryError, Package};
use crate::ecosystem::Ecosystem;

fn pkg(name: &str, version: &str, line: Option<usize>) -> Package {
    Package {
        ecosystem: Ecosystem::Npm,
        name: name.to_owned(),
        version: version.to_owned(),
        release: None,
        binary: None,
        line,
    }
}

pub(super) fn parse_package_lock(
    file: &str,
    text: &str,
    inv: &mut Inventory,
) -> Result<(), InventoryError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| InventoryError::json(file, &e))?;
    let Some(obj) = doc.as_object() else {
        return Err(InventoryError::new(file, None, "expected a JSON object"));
    };
    if let Some(packages) = obj.get("packages").and_then(Value::as_object) {
        // v2/v3: keys are install paths (`node_modules/a/node_modules/@s/b`); "" is the root.
        for (path, entry) in packages {
            if path.is_empty() {
                continue;
            }
            if entry.get("link").and_then(Value::as_bool) == Some(true) {
                inv.skip("workspace link");
                continue;
            }
            let name = entry
                .get("name")
                .and_then(Value::as_str)
                .or_else(|| path.rsplit_once("node_modules/").map(|(_, n)| n));
            let Some(name) = name else {
                inv.skip("workspace package");
                continue;
            };
            match entry.get("version").and_then(Value::as_str) {
                Some(v) => inv.packages.push(pkg(name, v, None)),
                None => inv.skip("entry without version"),
            }
        }
        return Ok(());
    }
    if let Some(deps) = obj.get("dependencies").and_then(Value::as_object) {
        v1_dependencies(deps, inv, 0);
        return Ok(());
    }
    Err(InventoryError::new(
        file,
        None,
        "neither `packages` (lockfile v2/v3) nor `dependencies` (v1)",
    ))
}

fn v1_dependencies(deps: &serde_json::Map<String, Value>, inv: &mut Inventory, depth: usize) {
    if depth > 64 {
        inv.skip("nested too deeply");
        return;
    }
    for (name, entry) in deps {
        match entry.get("version").and_then(Value::as_str) {
            // `file:` / git URLs are not registry versions.
            Some(v) if !v.contains(':') && !v.contains('/') => {
                inv.packages.push(pkg(name, v, None))
            }
            _ => inv.skip("dependency without a registry version"),
        }
        if let Some(sub) = entry.get("dependencies").and_then(Value::as_object) {
            v1_dependencies(sub, inv, depth + 1);
        }
    }
}

/// The package name of a Yarn entry key (`"@s/b@^1.0.0"`, `lodash@npm:^4.17.0`).
fn yarn_name(spec: &str) -> Option<&str> {
    let spec = spec.trim().trim_matches('"');
    let at = if let Some(rest) = spec.strip_prefix('@') {
        rest.find('@')? + 1
    } else {
        spec.find('@')?
    };
    let name = &spec[..at];
    (!name.is_empty()).then_some(name)
}

pub(super) fn parse_yarn_lock(
    file: &str,
    text: &str,
    inv: &mut Inventory,
) -> Result<(), InventoryError> {
    let mut current: Option<(String, usize, bool)> = None; // name, line, is workspace/patch
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        if !raw.starts_with([' ', '\t']) {
            let Some(header) = raw.trim_end().strip_suffix(':') else {
                return Err(InventoryError::new(
                    file,
                    Some(line_no.to_string()),
                    "expected an entry header ending in `:`",
                ));
            };
            if header.trim_matches('"') == "__metadata" {
                current = None;
                continue;
            }
            let first = header.split(", ").next().unwrap_or(header);
            let Some(name) = yarn_name(first) else {
                return Err(InventoryError::new(
                    file,
                    Some(line_no.to_string()),
                    format!("cannot read a package name from {first:?}"),
                ));
            };
            let local = ["@workspace:", "@link:", "@portal:", "@file:"]
                .iter()
                .any(|p| header.contains(p));
            current = Some((name.to_owned(), line_no, local));
            continue;
        }
        let body = raw.trim();
        let version = body
            .strip_prefix("version ")
            .or_else(|| body.strip_prefix("version: "))
            .map(|v| v.trim().trim_matches('"'));
        if let (Some(v), Some((name, at, local))) = (version, current.take()) {
            if local {
                inv.skip("workspace or local package");
            } else {
                inv.packages.push(pkg(&name, v, Some(at)));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::InventoryKind;

    #[test]
    fn yarn_names() {
        assert_eq!(yarn_name("\"@babel/core@^7.0.0\""), Some("@babel/core"));
        assert_eq!(yarn_name("lodash@npm:^4.17.0"), Some("lodash"));
        assert_eq!(yarn_name("@"), None);
    }

    #[test]
    fn package_lock_v3_paths() {
        let text = r#"{"lockfileVersion":3,"packages":{"":{"name":"app"},
            "node_modules/lodash":{"version":"4.17.20"},
            "node_modules/a/node_modules/@s/b":{"version":"1.0.0"},
            "packages/w":{"name":"w","version":"0.0.1","link":true}}}"#;
        let mut inv = Inventory::new("package-lock.json", InventoryKind::PackageLock);
        parse_package_lock("package-lock.json", text, &mut inv).unwrap();
        // serde_json keeps key order only with its preserve_order feature: compare sorted.
        let mut names: Vec<_> = inv.packages.iter().map(|p| p.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["@s/b", "lodash"]);
    }
}

//! SBOMs in JSON: CycloneDX (1.2–1.6, nested `components`) and SPDX 2.x (`packages` with a
//! `purl` external reference). Components are recognised by their package URL; those without
//! one, or of an ecosystem Palisade does not match, are counted as skipped.

use serde_json::Value;

use super::{Inventory, InventoryError, Package, Purl};

fn from_purl(purl: &str, fallback_version: Option<&str>, inv: &mut Inventory) {
    let Some(p) = Purl::parse(purl) else {
        inv.skip("unreadable package URL");
        return;
    };
    let Some((ecosystem, name, release)) = p.package() else {
        inv.skip("ecosystem not matched");
        return;
    };
    let Some(version) = p
        .version
        .clone()
        .or_else(|| fallback_version.map(str::to_owned))
    else {
        inv.skip("component without a version");
        return;
    };
    inv.packages.push(Package {
        ecosystem,
        binary: (ecosystem.purl_type() == "deb" && name != p.name).then(|| p.name.clone()),
        name,
        version,
        release,
        line: None,
    });
}

pub(super) fn parse_cyclonedx(
    file: &str,
    text: &str,
    inv: &mut Inventory,
) -> Result<(), InventoryError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| InventoryError::json(file, &e))?;
    if doc.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") {
        return Err(InventoryError::new(
            file,
            Some("/bomFormat".into()),
            "not a CycloneDX document",
        ));
    }
    let mut stack: Vec<&Value> = Vec::new();
    if let Some(c) = doc.get("components").and_then(Value::as_array) {
        stack.extend(c);
    }
    if let Some(c) = doc.pointer("/metadata/component") {
        stack.push(c);
    }
    let mut seen = 0usize;
    while let Some(c) = stack.pop() {
        seen += 1;
        if seen > 1_000_000 {
            return Err(InventoryError::new(
                file,
                None,
                "more than a million components",
            ));
        }
        if let Some(sub) = c.get("components").and_then(Value::as_array) {
            stack.extend(sub);
        }
        match c.get("purl").and_then(Value::as_str) {
            Some(purl) => from_purl(purl, c.get("version").and_then(Value::as_str), inv),
            None => inv.skip("component without a package URL"),
        }
    }
    Ok(())
}

pub(super) fn parse_spdx(
    file: &str,
    text: &str,
    inv: &mut Inventory,
) -> Result<(), InventoryError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| InventoryError::json(file, &e))?;
    if doc.get("spdxVersion").and_then(Value::as_str).is_none() {
        return Err(InventoryError::new(
            file,
            Some("/spdxVersion".into()),
            "not an SPDX document",
        ));
    }
    for p in doc
        .get("packages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let purl = p
            .get("externalRefs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|r| r.get("referenceType").and_then(Value::as_str) == Some("purl"))
            .and_then(|r| r.get("referenceLocator").and_then(Value::as_str));
        match purl {
            Some(purl) => from_purl(purl, p.get("versionInfo").and_then(Value::as_str), inv),
            None => inv.skip("package without a package URL"),
        }
    }
    Ok(())
}

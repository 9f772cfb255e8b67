//! Machine formats of findings for other tools: SARIF 2.1.0 (code-scanning UIs) and a
//! CycloneDX 1.5 VEX document (vulnerabilities with the components they affect).

use serde_json::{Value, json};

use crate::Finding;
use crate::ecosystem::Ecosystem;
use palisade_event::Severity;

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Informational => "note",
    }
}

/// The package URL of a finding's package.
pub fn purl_of(f: &Finding) -> String {
    let name = match f.ecosystem {
        Ecosystem::Npm => f.package.replace('@', "%40"),
        _ => f.package.clone(),
    };
    let ns = match f.ecosystem {
        Ecosystem::Debian => "debian/",
        Ecosystem::Ubuntu => "ubuntu/",
        _ => "",
    };
    format!(
        "pkg:{}/{ns}{name}@{}",
        f.ecosystem.purl_type(),
        f.installed.replace('@', "%40")
    )
}

/// A SARIF 2.1.0 log: one rule per advisory, one result per finding located at the inventory
/// file (and line), `security-severity` set from the CVSS score as GitHub code scanning reads it.
pub fn sarif(findings: &[Finding], tool_version: &str) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_index: std::collections::HashMap<&str, usize> = Default::default();
    let mut results = Vec::new();
    for f in findings {
        let idx = *rule_index.entry(&f.id).or_insert_with(|| {
            let mut props = json!({"tags": ["security", "vulnerability"]});
            if let Some(c) = &f.cvss {
                props["security-severity"] = json!(format!("{:.1}", c.score));
            }
            rules.push(json!({
                "id": f.id,
                "name": f.id,
                "shortDescription": {"text": if f.summary.is_empty() { f.id.clone() } else { f.summary.clone() }},
                "fullDescription": {"text": format!("{} (aliases: {})", f.summary, f.aliases.join(", "))},
                "helpUri": f.references.first().cloned().unwrap_or_else(|| format!("https://osv.dev/vulnerability/{}", f.id)),
                "help": {"text": match &f.fixed {
                    Some(v) => format!("Upgrade {} to {v} or later.", f.package),
                    None => format!("No fixed version of {} is known; consider replacing it.", f.package),
                }},
                "properties": props,
            }));
            rules.len() - 1
        });
        let mut region = json!({});
        if let Some(l) = f.line {
            region = json!({"startLine": l});
        }
        let mut location = json!({"physicalLocation": {"artifactLocation": {"uri": f.file}}});
        if f.line.is_some() {
            location["physicalLocation"]["region"] = region;
        }
        results.push(json!({
            "ruleId": f.id,
            "ruleIndex": idx,
            "level": sarif_level(f.severity),
            "message": {"text": format!(
                "{} {} is affected by {}{}; priority {:.1}: {}",
                f.package, f.installed, f.id,
                f.fixed.as_ref().map(|v| format!(" (fixed in {v})")).unwrap_or_default(),
                f.priority,
                f.reasons.iter().map(|r| r.reason.as_str()).collect::<Vec<_>>().join("; "),
            )},
            "locations": [location],
            "partialFingerprints": {"palisadeVuln/v1": format!("{}|{}|{}|{}", f.id, f.ecosystem, f.package, f.installed)},
            "properties": {"priority": f.priority, "aliases": f.aliases, "purl": purl_of(f)},
        }));
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "palisade-vuln",
                "version": tool_version,
                "informationUri": "https://github.com/palisade-security/palisade",
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

fn vex_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Informational => "info",
    }
}

/// A CycloneDX 1.5 VEX document: each vulnerability once, with the components it affects,
/// `analysis.state` `exploitable` when known exploited, else `in_triage`, and the fix as the
/// response's detail. `timestamp` is RFC 3339.
pub fn cyclonedx_vex(findings: &[Finding], tool_version: &str, timestamp: &str) -> Value {
    let mut components: Vec<Value> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut vulns: Vec<Value> = Vec::new();
    let mut by_id: std::collections::HashMap<&str, usize> = Default::default();
    for f in findings {
        let purl = purl_of(f);
        if seen.insert(purl.clone()) {
            components.push(json!({
                "type": "library", "bom-ref": purl, "name": f.package,
                "version": f.installed, "purl": purl,
            }));
        }
        let affects =
            json!({"ref": purl, "versions": [{"version": f.installed, "status": "affected"}]});
        if let Some(&i) = by_id.get(f.id.as_str()) {
            if let Some(a) = vulns[i]["affects"].as_array_mut() {
                a.push(affects);
            }
            continue;
        }
        by_id.insert(&f.id, vulns.len());
        let mut ratings = Vec::new();
        if let Some(c) = &f.cvss {
            let method = match c.version {
                "4.0" => "CVSSv4",
                "3.1" => "CVSSv31",
                _ => "CVSSv3",
            };
            ratings.push(json!({"score": c.score, "severity": vex_severity(f.severity), "method": method, "vector": c.vector}));
        } else {
            ratings.push(json!({"severity": vex_severity(f.severity), "method": "other"}));
        }
        let (state, detail) = if f.kev.is_some() {
            (
                "exploitable",
                "listed in CISA's Known Exploited Vulnerabilities catalogue",
            )
        } else {
            (
                "in_triage",
                "affected version installed; exploitability not yet analysed",
            )
        };
        vulns.push(json!({
            "bom-ref": format!("vuln:{}", f.id),
            "id": f.id,
            "source": {"name": source_name(&f.id), "url": f.references.first().cloned().unwrap_or_default()},
            "references": f.aliases.iter().map(|a| json!({"id": a, "source": {"name": source_name(a)}})).collect::<Vec<_>>(),
            "ratings": ratings,
            "description": f.summary,
            "recommendation": match &f.fixed {
                Some(v) => format!("Upgrade {} to {v}", f.package),
                None => "No fixed version known".to_owned(),
            },
            "analysis": {
                "state": state,
                "detail": detail,
                "response": if f.fixed.is_some() { vec!["update"] } else { vec!["workaround_available"] },
            },
            "properties": [{"name": "palisade:priority", "value": format!("{:.1}", f.priority)}],
            "affects": [affects],
        }));
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{"type": "application", "name": "palisade", "version": tool_version}]},
        },
        "components": components,
        "vulnerabilities": vulns,
    })
}

fn source_name(id: &str) -> &'static str {
    match id.split('-').next().unwrap_or("") {
        "CVE" => "NVD",
        "GHSA" => "GitHub",
        "RUSTSEC" => "RustSec",
        "PYSEC" => "PyPA",
        "GO" => "Go",
        "DSA" | "DLA" | "DTSA" => "Debian",
        "USN" | "UBUNTU" => "Ubuntu",
        _ => "OSV",
    }
}

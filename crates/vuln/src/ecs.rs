//! Findings as ECS events, so they enter the pipeline like any log record: Sigma rules
//! (examples/rules/vuln) turn them into alerts and triage ranks them with the rest.
//! `event.module` is `palisade-vuln`; `event.action` is `vulnerable-package` or `host-weakness`;
//! `vulnerability.*` and `package.*` follow ECS.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::host::HostFinding;
use crate::scan::Finding;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A vulnerable package on `host`.
pub fn finding_event(f: &Finding, host: &str, at: DateTime<Utc>) -> Value {
    let mut v = json!({
        "@timestamp": ts(at),
        "event": {"kind": "event", "category": "package", "type": "info",
                  "action": "vulnerable-package", "module": "palisade-vuln"},
        "host": {"name": host},
        "package": {"name": f.package, "version": f.installed, "type": f.ecosystem.osv_name(),
                    "path": f.file},
        "vulnerability": {
            "id": f.id,
            "severity": f.severity.as_str(),
            "description": f.summary,
            "reference": f.references.first(),
            "classification": "CVSS",
            "scanner": {"vendor": "Palisade"},
        },
        "message": format!("{} {} is affected by {} (priority {:.1})", f.package, f.installed, f.id, f.priority),
        "palisade": {"vuln": {
            "aliases": f.aliases,
            "fixed": f.fixed,
            "priority": f.priority,
            "reasons": f.reasons.iter().map(|r| r.reason.as_str()).collect::<Vec<_>>(),
            "kev": f.kev.is_some(),
            "informational": f.informational,
        }},
    });
    if let Some(c) = &f.cvss {
        v["vulnerability"]["score"] = json!({"base": c.score, "version": c.version});
    }
    v
}

/// A weakness of `host`'s configuration.
pub fn host_event(f: &HostFinding, host: &str, at: DateTime<Utc>) -> Value {
    json!({
        "@timestamp": ts(at),
        "event": {"kind": "event", "category": "configuration", "type": "info",
                  "action": "host-weakness", "module": "palisade-vuln"},
        "host": {"name": host},
        "rule": {"id": f.check, "name": f.title},
        "vulnerability": {"id": f.check, "severity": f.severity.as_str(), "description": f.title},
        "message": format!("{}: {} ({})", f.title, f.target, f.evidence),
        "palisade": {"vuln": {"target": f.target, "evidence": f.evidence, "fix": f.fix}},
    })
}

//! Sigma matches as [`Alert`]s, shared by `palisade hunt` and `palisade serve`.

use std::sync::Arc;

use palisade_event::{Alert, Event, FieldId, Severity, Value};

use crate::correlation::{CompiledCorrelation, CorrelationAlert};
use crate::{RuleRef, RuleSet, SigmaRule};

/// The alert of a single-event rule match: the rule's level, the event's host, and the
/// fields the rule lists as evidence.
pub fn sigma_alert(rule: &SigmaRule, event: Arc<Event>) -> Alert {
    let evidence = rule
        .fields
        .iter()
        .filter_map(|f: &FieldId| {
            event
                .get(*f)
                .map(|v| (f.as_str().to_owned(), v.to_string()))
        })
        .collect();
    Alert {
        detector: "sigma",
        rule: Arc::clone(&rule.info),
        severity: rule.info.level.unwrap_or(Severity::Medium),
        timestamp: event.timestamp,
        host: event.host().map(Value::to_string),
        evidence,
        origins: vec![event.origin.clone()],
        event: Some(event),
    }
}

/// The alert of a fired correlation: its group-by values, count and time span, and the rules
/// it references.
pub fn correlation_alert(
    c: &CompiledCorrelation,
    a: CorrelationAlert,
    rules: &RuleSet,
    correlations: &[CompiledCorrelation],
) -> Alert {
    let mut evidence: Vec<(String, String)> = a.group.clone();
    evidence.push(("count".into(), a.count.to_string()));
    evidence.push(("first".into(), a.first.to_rfc3339()));
    evidence.push(("last".into(), a.last.to_rfc3339()));
    let referenced: Vec<String> = c
        .refs
        .iter()
        .map(|r| match r {
            RuleRef::Detection(d) => rules.rule(*d).info.title.clone(),
            RuleRef::Correlation(k) => correlations
                .get(*k as usize)
                .map_or_else(|| format!("correlation #{k}"), |c| c.info.title.clone()),
        })
        .collect();
    evidence.push(("rules".into(), referenced.join(", ")));
    let host = a
        .group
        .iter()
        .find(|(k, _)| {
            matches!(
                k.as_str(),
                "Computer" | "host.name" | "ComputerName" | "Hostname"
            )
        })
        .map(|(_, v)| v.clone());
    Alert {
        detector: "sigma-correlation",
        rule: Arc::clone(&c.info),
        severity: c.info.level.unwrap_or(Severity::Medium),
        timestamp: Some(a.last),
        host,
        evidence,
        event: None,
        origins: a.origins,
    }
}

//! What every detector emits.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{Event, Origin};

/// Severity on Sigma's scale (`informational` < `low` < `medium` < `high` < `critical`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Informational,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "informational" | "info" => Ok(Severity::Informational),
            "low" => Ok(Severity::Low),
            "medium" | "med" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" | "crit" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown level {other:?} (expected informational, low, medium, high or critical)"
            )),
        }
    }
}

/// The rule (or model) behind an alert; shared by all alerts it raises.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RuleInfo {
    pub id: String,
    pub title: String,
    pub level: Option<Severity>,
    pub tags: Vec<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    /// Where the rule was loaded from.
    pub path: Option<String>,
}

/// One detection: what fired, on which event(s), how severe, and the evidence.
#[derive(Debug, Clone)]
pub struct Alert {
    /// Detector family: `sigma`, `sigma-correlation`, `ioc`, `anomaly`, …
    pub detector: &'static str,
    pub rule: Arc<RuleInfo>,
    pub severity: Severity,
    /// Event time of the (last) triggering event.
    pub timestamp: Option<DateTime<Utc>>,
    /// Host the event came from, when known.
    pub host: Option<String>,
    /// Matched fields and their values, for the analyst.
    pub evidence: Vec<(String, String)>,
    /// The triggering event, for single-event rules.
    pub event: Option<Arc<Event>>,
    /// Where the contributing events are (correlations list several).
    pub origins: Vec<Origin>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_order_and_parse() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Low > Severity::Informational);
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        assert!("severe".parse::<Severity>().is_err());
    }
}

//! Incidents: alerts grouped by shared entities in time, deduplicated, with a kill-chain
//! timeline, a status, an owner and notes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use palisade_event::Severity;
use serde::{Deserialize, Serialize};

use crate::attack::{Tactic, tactic_name};
use crate::entity::Entity;
use crate::score::Contribution;

/// Where an incident is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    New,
    Acknowledged,
    Resolved,
    FalsePositive,
    TruePositive,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::New,
        Status::Acknowledged,
        Status::Resolved,
        Status::FalsePositive,
        Status::TruePositive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
            Status::FalsePositive => "false-positive",
            Status::TruePositive => "true-positive",
        }
    }

    /// Still waiting for an analyst.
    pub fn is_open(self) -> bool {
        matches!(self, Status::New | Status::Acknowledged)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "new" => Ok(Status::New),
            "acknowledged" | "ack" => Ok(Status::Acknowledged),
            "resolved" => Ok(Status::Resolved),
            "false-positive" | "fp" => Ok(Status::FalsePositive),
            "true-positive" | "tp" => Ok(Status::TruePositive),
            other => Err(format!(
                "unknown status {other:?} (expected new, acknowledged, resolved, false-positive or true-positive)"
            )),
        }
    }
}

/// An analyst's note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub author: String,
    pub at: DateTime<Utc>,
    pub text: String,
}

/// Identical alerts (same rule, same entities) collapsed into one line of the timeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertGroup {
    pub rule_id: String,
    pub rule_title: String,
    pub detector: String,
    pub severity: Severity,
    pub count: u64,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    /// Highest priority among the group's alerts, and that alert's breakdown.
    pub priority: f64,
    pub contributions: Vec<Contribution>,
    pub entities: Vec<Entity>,
    pub tactics: Vec<Tactic>,
    pub techniques: Vec<String>,
    /// Indices of the alerts (in the batch given to triage).
    pub alerts: Vec<usize>,
    /// Suppression that silenced every alert of the group, if any.
    pub suppressed_by: Option<u64>,
    /// One-line explanation (the detector's own, or the rule title).
    pub explanation: String,
    /// For network alerts: the originator, destination port and transport the group's alerts
    /// all share (ECS names), the "service" a false-positive verdict can suppress.
    #[serde(default)]
    pub scope: Vec<(String, String)>,
}

/// A group of related alerts the analyst handles as one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Incident {
    /// Store id (0 until stored).
    pub id: i64,
    pub title: String,
    /// One line: why this ranks where it does.
    pub reason: String,
    pub priority: f64,
    pub contributions: Vec<Contribution>,
    pub status: Status,
    pub owner: Option<String>,
    pub notes: Vec<Note>,
    /// The entity most of the incident is about.
    pub primary: Option<Entity>,
    pub entities: Vec<Entity>,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    /// Timeline in kill-chain order (tactic stage, then time; untagged alerts by time last).
    pub timeline: Vec<AlertGroup>,
    pub tactics: Vec<Tactic>,
    pub alert_count: u64,
    /// An entity's accumulated risk crossed the threshold.
    pub risk_triggered: bool,
    /// Every alert is suppressed (kept for the record, out of the queue).
    pub suppressed: bool,
}

impl Incident {
    /// Tactic names in kill-chain order.
    pub fn tactic_names(&self) -> Vec<&'static str> {
        self.tactics.iter().map(|&t| tactic_name(t)).collect()
    }

    /// Indices of every alert in the incident.
    pub fn alert_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.timeline.iter().flat_map(|g| g.alerts.iter().copied())
    }

    /// Takes in a later incident about the same entity (a service processes alerts batch by
    /// batch; one open incident grows instead of a new one per batch). Identical alert groups
    /// (same rule, same entities) add their counts; entities, tactics and the time span widen;
    /// the priority is the per-rule noisy-or over the merged groups, never below either
    /// incident's own, and the title, reason and breakdown are those of whichever scored
    /// higher. Alert indices of `other` refer to its own batch and are dropped.
    pub fn absorb(&mut self, other: Incident) {
        let before = self.priority;
        for mut g in other.timeline {
            g.alerts.clear();
            match self
                .timeline
                .iter_mut()
                .find(|h| h.rule_id == g.rule_id && h.entities == g.entities)
            {
                Some(h) => {
                    h.count += g.count;
                    h.first = min_opt(h.first, g.first);
                    h.last = h.last.max(g.last);
                    if g.priority > h.priority {
                        h.priority = g.priority;
                        h.contributions = g.contributions;
                    }
                    if g.suppressed_by.is_none() {
                        h.suppressed_by = None;
                    }
                }
                None => self.timeline.push(g),
            }
        }
        for g in &mut self.timeline {
            g.alerts.clear();
        }
        self.timeline.sort_by_key(|g| {
            (
                g.tactics.first().copied().map_or(u16::MAX, u16::from),
                g.first,
            )
        });
        for e in other.entities {
            if !self.entities.contains(&e) {
                self.entities.push(e);
            }
        }
        self.entities.sort();
        self.tactics.extend(other.tactics);
        self.tactics.sort_unstable();
        self.tactics.dedup();
        self.first = min_opt(self.first, other.first);
        self.last = self.last.max(other.last);
        self.alert_count += other.alert_count;
        self.risk_triggered |= other.risk_triggered;
        self.suppressed &= other.suppressed;
        let mut per_rule: std::collections::BTreeMap<&str, f64> = Default::default();
        for g in self.timeline.iter().filter(|g| g.suppressed_by.is_none()) {
            let m = per_rule.entry(g.rule_id.as_str()).or_insert(0.0);
            *m = m.max(g.priority);
        }
        let combined = crate::score::combine(per_rule.values().copied());
        if other.priority > before {
            self.title = other.title;
            self.reason = other.reason;
            self.contributions = other.contributions;
        }
        self.priority = combined.max(before).max(other.priority);
    }
}

fn min_opt<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_with_short_names() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
        }
        assert_eq!("fp".parse::<Status>(), Ok(Status::FalsePositive));
        assert!("done".parse::<Status>().is_err());
        assert!(Status::Acknowledged.is_open() && !Status::Resolved.is_open());
    }
}

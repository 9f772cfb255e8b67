//! Alert types (one static [`RuleInfo`] each), scores and the one-sentence explanations.

use std::fmt::Write;
use std::sync::{Arc, OnceLock};

use palisade_event::Severity;
use palisade_event::alert::RuleInfo;

use super::profile::{EntityKind, RelKind};

/// What deviated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    /// A value never seen for the entity (or forgotten) after warm-up.
    NewValue,
    /// A value with a small share of the entity's recent activity.
    RareValue,
    /// An hour of the week the entity is rarely active in.
    UnusualHour,
    /// Many more events this hour than the seasonal baseline.
    RateSpike,
    /// A value the entity's peers (almost) never have.
    PeerRare,
}

/// One deviation of one event for one entity; numbers only (text is read back from the event
/// when an alert is built, so scoring never allocates).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub entity: EntityKind,
    pub entity_key: u64,
    pub kind: FindingKind,
    pub rel: Option<RelKind>,
    pub value_hash: u64,
    pub score: f64,
    /// Observed quantity (decayed count, probability or event count).
    pub observed: f64,
    /// Expected range of that quantity.
    pub expected: (f64, f64),
    /// Share of the entity's (or peers') recent activity, 0–1.
    pub rarity: f64,
    /// Days since the value was last seen, when a top-k entry remembers it.
    pub last_seen_days: Option<f64>,
    /// Days the entity has been observed.
    pub history_days: f64,
    /// Events in the entity's baseline.
    pub baseline_events: u32,
    /// Peer group index for [`FindingKind::PeerRare`].
    pub group: u16,
}

impl Finding {
    /// Index into the rule table.
    fn rule_index(&self) -> usize {
        match self.kind {
            FindingKind::NewValue => self.rel.map_or(0, |r| r as usize),
            FindingKind::RareValue => RelKind::ALL.len(),
            FindingKind::UnusualHour => RelKind::ALL.len() + 1,
            FindingKind::RateSpike => RelKind::ALL.len() + 2,
            FindingKind::PeerRare => RelKind::ALL.len() + 3,
        }
    }

    pub fn rule(&self) -> Arc<RuleInfo> {
        rules()[self.rule_index()].clone()
    }

    /// Cooldown family: new and rare sightings of one value share one, so the second login
    /// from a new country is not reported again as "rare".
    pub fn family(&self) -> u64 {
        match self.kind {
            FindingKind::NewValue | FindingKind::RareValue => self.rel.map_or(0, |r| r as u64),
            FindingKind::UnusualHour => 100,
            FindingKind::RateSpike => 101,
            FindingKind::PeerRare => 200 + self.rel.map_or(0, |r| r as u64),
        }
    }
}

/// Score of a new value of `rel` on its own (0–1).
pub fn new_value_score(rel: RelKind) -> f64 {
    match rel {
        RelKind::SrcIp => 0.25,
        RelKind::Country => 0.7,
        RelKind::Asn => 0.45,
        RelKind::Device => 0.45,
        RelKind::Host => 0.4,
        RelKind::Process => 0.45,
        RelKind::ParentChild => 0.55,
        RelKind::DestPort => 0.4,
        RelKind::User => 0.4,
    }
}

/// Severity of a combined score.
pub fn severity(score: f64) -> Severity {
    if score >= 0.85 {
        Severity::High
    } else if score >= 0.6 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

fn rule(id: &str, title: &str, level: Severity, tags: &[&str], description: &str) -> Arc<RuleInfo> {
    Arc::new(RuleInfo {
        id: id.into(),
        title: title.into(),
        level: Some(level),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        description: Some(description.into()),
        author: Some("Palisade UEBA".into()),
        path: None,
    })
}

/// One rule per alert type: new value per relation (in [`RelKind`] order), then rare value,
/// unusual hour, rate spike, peer-group rarity.
pub fn rules() -> &'static [Arc<RuleInfo>] {
    static RULES: OnceLock<Vec<Arc<RuleInfo>>> = OnceLock::new();
    RULES.get_or_init(|| {
        use Severity::*;
        let va = ["attack.initial_access", "attack.t1078"];
        vec![
            rule(
                "ueba.new_source_ip",
                "First activity from a new source IP",
                Low,
                &va,
                "The entity's activity comes from a source IP not in its baseline.",
            ),
            rule(
                "ueba.new_country",
                "First activity from a new country",
                Medium,
                &va,
                "The user logs in from a country not seen in its baseline.",
            ),
            rule(
                "ueba.new_asn",
                "First activity from a new network (ASN)",
                Medium,
                &va,
                "The user logs in from an autonomous system not seen in its baseline.",
            ),
            rule(
                "ueba.new_device",
                "First activity from a new device",
                Medium,
                &va,
                "The user uses a device or user agent not seen in its baseline.",
            ),
            rule(
                "ueba.new_host",
                "First access to a new host",
                Medium,
                &["attack.lateral_movement", "attack.t1021", "attack.t1078"],
                "The user accesses a host not seen in its baseline.",
            ),
            rule(
                "ueba.new_process",
                "First run of a process on the host",
                Medium,
                &["attack.execution", "attack.t1204"],
                "The host runs an executable not seen in its baseline.",
            ),
            rule(
                "ueba.new_parent_child",
                "First parent→child process pair on the host",
                Medium,
                &["attack.execution", "attack.t1059"],
                "The host shows a parent→child process pair not seen in its baseline.",
            ),
            rule(
                "ueba.new_dest_port",
                "First connection to a destination port",
                Low,
                &["attack.command_and_control", "attack.t1571"],
                "The host talks to a destination port not seen in its baseline.",
            ),
            rule(
                "ueba.new_user",
                "First activity by a new user",
                Medium,
                &va,
                "A user not in the entity's baseline logs in to or through it.",
            ),
            rule(
                "ueba.rare_value",
                "Rare related value",
                Low,
                &va,
                "A related value with a very small share of the entity's recent activity.",
            ),
            rule(
                "ueba.unusual_hour",
                "Activity at an unusual hour",
                Low,
                &va,
                "Activity in an hour of the week the entity is rarely active in.",
            ),
            rule(
                "ueba.rate_spike",
                "Event-rate spike",
                Medium,
                &["attack.credential_access", "attack.t1110", "attack.impact"],
                "Many more events this hour than the entity's seasonal baseline.",
            ),
            rule(
                "ueba.peer_rare",
                "Value rare among peers",
                Medium,
                &va,
                "A related value that the entity's peer group (almost) never has.",
            ),
        ]
    })
}

/// The phrase for a related value: "login from country BR", "run of process /bin/sh".
pub fn phrase(out: &mut String, entity: EntityKind, rel: RelKind, act: &str, value: &str) {
    let _ = match rel {
        RelKind::SrcIp => write!(out, "{act} from source ip {value}"),
        RelKind::Country => write!(out, "{act} from country {value}"),
        RelKind::Asn => write!(out, "{act} from ASN {value}"),
        RelKind::Device => write!(out, "{act} from device {value}"),
        RelKind::Host => write!(out, "{act} to host {value}"),
        RelKind::Process => write!(out, "run of process {value}"),
        RelKind::ParentChild => write!(out, "process pair {value}"),
        RelKind::DestPort => write!(out, "connection to destination port {value}"),
        RelKind::User => match entity {
            EntityKind::SourceIp => write!(out, "{act} as user {value}"),
            _ => write!(out, "{act} by user {value}"),
        },
    };
}

/// `"08–18"` for a window of hours.
pub fn hours(w: (usize, usize)) -> String {
    if w.0 == w.1 {
        return "around the clock".into();
    }
    format!("{:02}–{:02}", w.0, if w.1 == 0 { 24 } else { w.1 })
}

/// Rounded days for sentences.
pub fn days(d: f64) -> String {
    if d < 1.0 {
        "1 day".into()
    } else {
        format!("{:.0} days", d.round())
    }
}

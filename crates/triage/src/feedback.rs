//! Analyst feedback: rule fidelity learned from true/false-positive verdicts, and suppressions
//! (scoped, expiring, attributed, revocable) including allowlist entries.

use chrono::{DateTime, Utc};
use palisade_event::Severity;
use serde::{Deserialize, Serialize};

use crate::entity::{Entity, EntityKind};

/// Prior belief that an alert of a rule at this level is a true positive, before any feedback.
pub fn prior_fidelity(level: Severity) -> f64 {
    match level {
        Severity::Critical => 0.9,
        Severity::High => 0.8,
        Severity::Medium => 0.6,
        Severity::Low => 0.4,
        Severity::Informational => 0.2,
    }
}

/// Weight of the prior in verdicts: after this many verdicts, feedback and prior weigh the same.
pub const PRIOR_WEIGHT: f64 = 4.0;

/// Verdict counts of one rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Fidelity {
    pub true_positives: u32,
    pub false_positives: u32,
}

impl Fidelity {
    /// Posterior mean of a Beta prior centred on the level's prior fidelity.
    pub fn value(&self, level: Severity) -> f64 {
        let p = prior_fidelity(level);
        (p * PRIOR_WEIGHT + f64::from(self.true_positives))
            / (PRIOR_WEIGHT + f64::from(self.true_positives) + f64::from(self.false_positives))
    }
}

/// One suppression. With a rule it is a scoped suppression (from false-positive feedback or
/// written by hand); without one it is an allowlist entry (the entity is never alerted on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suppression {
    pub id: u64,
    /// Rule id it applies to; `None` = every rule (allowlist).
    pub rule: Option<String>,
    /// Entity the alert must involve; an `ip` value may be a CIDR.
    pub entity: Option<Entity>,
    /// Field values the alert's event or evidence must carry (all of them, case-insensitive).
    pub fields: Vec<(String, String)>,
    pub expires: Option<DateTime<Utc>>,
    pub author: String,
    pub reason: String,
    pub created: DateTime<Utc>,
    pub revoked: Option<Revocation>,
    /// Incident whose feedback created it.
    pub incident: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revocation {
    pub at: DateTime<Utc>,
    pub by: String,
}

impl Suppression {
    /// In force at `t`: not revoked and not expired.
    pub fn active(&self, t: DateTime<Utc>) -> bool {
        self.revoked.is_none() && self.expires.is_none_or(|e| t < e)
    }

    pub fn is_allowlist(&self) -> bool {
        self.rule.is_none()
    }

    /// Whether this suppression covers an alert of `rule` on `entities` whose field values
    /// `field` returns.
    pub fn covers(
        &self,
        rule: &str,
        entities: &[Entity],
        field: &dyn Fn(&str) -> Option<String>,
    ) -> bool {
        if self.rule.as_deref().is_some_and(|r| r != rule) {
            return false;
        }
        if let Some(want) = &self.entity {
            let hit = entities.iter().any(|e| entity_matches(want, e));
            if !hit {
                return false;
            }
        }
        self.fields
            .iter()
            .all(|(k, v)| field(k).is_some_and(|got| got.trim().eq_ignore_ascii_case(v.trim())))
    }

    /// One line for listings.
    pub fn describe(&self) -> String {
        let mut scope = Vec::new();
        scope.push(match &self.rule {
            Some(r) => format!("rule {r}"),
            None => "every rule (allowlist)".to_string(),
        });
        if let Some(e) = &self.entity {
            scope.push(e.to_string());
        }
        for (k, v) in &self.fields {
            scope.push(format!("{k}={v}"));
        }
        scope.join(", ")
    }
}

fn entity_matches(want: &Entity, got: &Entity) -> bool {
    if want.kind != got.kind {
        return false;
    }
    if want.kind == EntityKind::Ip
        && let Ok(net) = want.value.parse::<ipnet::IpNet>()
    {
        return got
            .value
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| net.contains(&ip));
    }
    want.value == got.value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sup(rule: Option<&str>, entity: Option<&str>, fields: &[(&str, &str)]) -> Suppression {
        Suppression {
            id: 1,
            rule: rule.map(str::to_string),
            entity: entity.map(|e| Entity::parse(e).unwrap()),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            expires: Some("2026-02-01T00:00:00Z".parse().unwrap()),
            author: "ana".into(),
            reason: "backup job".into(),
            created: "2026-01-01T00:00:00Z".parse().unwrap(),
            revoked: None,
            incident: None,
        }
    }

    #[test]
    fn fidelity_starts_at_the_level_and_follows_verdicts() {
        let mut f = Fidelity::default();
        assert!((f.value(Severity::High) - 0.8).abs() < 1e-12);
        f.false_positives = 4;
        assert!((f.value(Severity::High) - 0.4).abs() < 1e-12);
        f.true_positives = 8;
        assert!(f.value(Severity::High) > 0.6);
    }

    #[test]
    fn scope_rule_entity_fields_and_expiry() {
        let s = sup(Some("r1"), Some("ip:10.0.0.0/8"), &[("dst_port", "445")]);
        let ents = [Entity::parse("ip:10.1.2.3").unwrap()];
        let port = |v: &'static str| move |k: &str| (k == "dst_port").then(|| v.to_string());
        assert!(s.covers("r1", &ents, &port("445")));
        assert!(!s.covers("r2", &ents, &port("445")));
        assert!(!s.covers("r1", &ents, &port("22")));
        assert!(!s.covers(
            "r1",
            &[Entity::parse("ip:192.168.1.1").unwrap()],
            &port("445")
        ));
        assert!(s.active("2026-01-15T00:00:00Z".parse().unwrap()));
        assert!(!s.active("2026-03-01T00:00:00Z".parse().unwrap()));
        let mut r = s.clone();
        r.revoked = Some(Revocation {
            at: "2026-01-02T00:00:00Z".parse().unwrap(),
            by: "bo".into(),
        });
        assert!(!r.active("2026-01-15T00:00:00Z".parse().unwrap()));
        let allow = sup(None, Some("user:svc-backup"), &[]);
        assert!(allow.is_allowlist());
        assert!(allow.covers(
            "anything",
            &[Entity::parse("user:svc-backup").unwrap()],
            &|_| None
        ));
    }
}

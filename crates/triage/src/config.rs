//! Triage settings and the asset inventory (criticality of hosts, users and subnets).

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::entity::{Entity, EntityKind, normalise};

/// How triage scores and groups. Every field has a default; a config file sets only what
/// it changes (`[triage]` in TOML, or JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriageConfig {
    /// Alerts sharing an entity link into one incident when they are at most this far apart.
    pub group_window_secs: i64,
    /// An entity seen with more distinct other entities than this (a DNS server, a proxy, a
    /// domain controller) is common infrastructure: it is kept on incidents but links nothing,
    /// or everything would become one incident.
    pub hub_degree: usize,
    /// Half-life of accumulated entity risk.
    pub risk_half_life_hours: f64,
    /// Accumulated risk at which an entity raises its incident to at least `risk_floor`.
    pub risk_threshold: f64,
    /// Priority an incident gets at least when one of its entities crossed `risk_threshold`.
    pub risk_floor: f64,
    /// Window in which distinct ATT&CK tactics on one entity count as breadth.
    pub breadth_window_hours: f64,
    /// Look-back of the per (rule, entity) routine baseline.
    pub routine_days: f64,
    /// Occurrences of a (rule, entity) pair in the look-back before it counts as routine.
    pub routine_min: u32,
    /// Expiry of suppressions created from false-positive feedback.
    pub suppression_days: f64,
    /// Most entities whose risk and routine state is kept (least risky are evicted first).
    pub max_entities: usize,
    /// Asset inventory.
    pub assets: Vec<Asset>,
}

impl Default for TriageConfig {
    fn default() -> Self {
        TriageConfig {
            group_window_secs: 4 * 3600,
            hub_degree: 20,
            risk_half_life_hours: 24.0,
            risk_threshold: 100.0,
            risk_floor: 60.0,
            breadth_window_hours: 24.0,
            routine_days: 30.0,
            routine_min: 5,
            suppression_days: 30.0,
            max_entities: 200_000,
            assets: Vec::new(),
        }
    }
}

/// A group of assets with one criticality: 1 (lab, guest) … 3 (ordinary) … 5 (crown jewels:
/// domain controllers, payment servers, admins).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Asset {
    pub name: String,
    pub hosts: Vec<String>,
    pub users: Vec<String>,
    pub subnets: Vec<IpNet>,
    pub tags: Vec<String>,
    pub criticality: u8,
}

impl TriageConfig {
    /// Checks values a user may have mistyped; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.group_window_secs <= 0 {
            return Err("group_window_secs must be positive".into());
        }
        if self.risk_half_life_hours.is_nan() || self.risk_half_life_hours <= 0.0 {
            return Err("risk_half_life_hours must be positive".into());
        }
        if self.risk_threshold.is_nan() || self.risk_threshold <= 0.0 {
            return Err("risk_threshold must be positive".into());
        }
        if !(0.0..=100.0).contains(&self.risk_floor) {
            return Err("risk_floor must be within 0..=100".into());
        }
        if [
            self.routine_days,
            self.breadth_window_hours,
            self.suppression_days,
        ]
        .iter()
        .any(|v| v.is_nan() || *v <= 0.0)
        {
            return Err(
                "routine_days, breadth_window_hours and suppression_days must be positive".into(),
            );
        }
        for (i, a) in self.assets.iter().enumerate() {
            if !(1..=5).contains(&a.criticality) {
                return Err(format!(
                    "assets[{i}] ({:?}): criticality {} is outside 1..=5",
                    a.name, a.criticality
                ));
            }
        }
        Ok(())
    }

    /// The most critical asset group an entity belongs to.
    pub fn asset_of(&self, e: &Entity) -> Option<&Asset> {
        self.assets
            .iter()
            .filter(|a| match e.kind {
                EntityKind::Host => a
                    .hosts
                    .iter()
                    .any(|h| normalise(EntityKind::Host, h).as_deref() == Some(e.value.as_str())),
                EntityKind::User => a
                    .users
                    .iter()
                    .any(|u| normalise(EntityKind::User, u).as_deref() == Some(e.value.as_str())),
                EntityKind::Ip => e
                    .value
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| a.subnets.iter().any(|n| n.contains(&ip))),
                _ => false,
            })
            .max_by_key(|a| a.criticality)
    }
}

/// Multiplier of a criticality level (3 is neutral).
pub fn criticality_factor(level: u8) -> f64 {
    match level {
        0 | 1 => 0.6,
        2 => 0.8,
        3 => 1.0,
        4 => 1.25,
        _ => 1.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_match_hosts_users_and_subnets() {
        let cfg: TriageConfig = serde_json::from_str(
            r#"{"assets":[
                {"name":"dcs","hosts":["DC01.corp"],"subnets":["10.0.0.0/24"],"criticality":5},
                {"name":"admins","users":["CORP\\root-admin"],"criticality":4}]}"#,
        )
        .unwrap();
        cfg.validate().unwrap();
        let crit = |e: &str| {
            cfg.asset_of(&Entity::parse(e).unwrap())
                .map(|a| a.criticality)
        };
        assert_eq!(crit("host:dc01.corp"), Some(5));
        assert_eq!(crit("ip:10.0.0.7"), Some(5));
        assert_eq!(crit("ip:10.0.1.7"), None);
        assert_eq!(crit("user:root-admin"), Some(4));
        assert_eq!(crit("user:alice"), None);
    }

    #[test]
    fn bad_settings_are_named() {
        let cfg: TriageConfig =
            serde_json::from_str(r#"{"assets":[{"name":"x","criticality":9}]}"#).unwrap();
        assert!(cfg.validate().unwrap_err().contains("criticality 9"));
        assert!(serde_json::from_str::<TriageConfig>(r#"{"group_windw_secs":5}"#).is_err());
    }
}

//! The configurable policy: thresholds, one weight per signal, windows, lists.
//!
//! Loaded from TOML or JSON; unknown keys are errors; [`Policy::validate`] checks ranges and
//! parses every CIDR so a bad policy fails at load with the field it concerns.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cidr::CidrSet;
use crate::error::AuthError;

/// Risk at or above `challenge_at` asks for a second factor; at or above `deny_at` denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Default 40.
    pub challenge_at: u8,
    /// Default 80.
    pub deny_at: u8,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            challenge_at: 40,
            deny_at: 80,
        }
    }
}

/// Points each signal adds to the risk (0..=100 each; the risk is their sum capped at 100).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    /// Device id never seen in the user's confirmed logins. Default 20.
    pub new_device: u8,
    /// IP address new for the user. Default 5.
    pub new_ip: u8,
    /// Autonomous system new for the user (needs an ASN database). Default 10.
    pub new_asn: u8,
    /// Country new for the user. Default 25.
    pub new_country: u8,
    /// The user has no confirmed login yet. Default 5.
    pub new_user: u8,
    /// Speed between consecutive confirmed logins above `max_speed_kmh`. Default 50
    /// (scaled by 0.6 when a place is only a country centroid).
    pub impossible_travel: u8,
    /// Hour of week the user never logs in at (after `hour_warmup_logins`). Default 15.
    pub unusual_hour: u8,
    /// Failed attempts for the user within `user_fail_window_secs` ≥ `user_fail_threshold`. Default 30.
    pub user_failures: u8,
    /// Failed attempts from the IP within `ip_fail_window_secs` ≥ `ip_fail_threshold`. Default 40.
    pub ip_failures: u8,
    /// The IP failed for ≥ `spray_min_users` distinct users within `spray_window_secs`. Default 60.
    pub password_spraying: u8,
    /// A global campaign of failures over many users and IPs with a low success rate is under
    /// way and this login comes from an IP new for the user. Default 50.
    pub credential_stuffing: u8,
    /// Headless browser or scripting client user agent (HeadlessChrome, PhantomJS, curl, …). Default 35.
    pub ua_automation: u8,
    /// Impossible browser version (e.g. `Chrome/999`) or an empty user agent. Default 35.
    pub ua_impossible: u8,
    /// The user's peer group has never logged in from this (new for the user) country. Default 15.
    pub peer_rarity: u8,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            new_device: 20,
            new_ip: 5,
            new_asn: 10,
            new_country: 25,
            new_user: 5,
            impossible_travel: 50,
            unusual_hour: 15,
            user_failures: 30,
            ip_failures: 40,
            password_spraying: 60,
            credential_stuffing: 50,
            ua_automation: 35,
            ua_impossible: 35,
            peer_rarity: 15,
        }
    }
}

/// Users and networks a list applies to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Members {
    pub users: Vec<String>,
    /// Addresses or CIDR networks.
    pub cidrs: Vec<String>,
}

/// A threat-intel or anonymiser list (e.g. Tor exit nodes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreatList {
    /// Shown in the reason, e.g. `tor_exit`.
    pub name: String,
    /// Points added when the IP is on the list. Default 40.
    #[serde(default = "default_threat_weight")]
    pub weight: u8,
    /// Inline addresses / CIDRs.
    #[serde(default)]
    pub cidrs: Vec<String>,
    /// A file with one address or CIDR per line (`#` comments; Tor `ExitAddress` lines work).
    #[serde(default)]
    pub file: Option<PathBuf>,
}

fn default_threat_weight() -> u8 {
    40
}

/// The whole policy. Every field has a default; see each field for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Default thresholds: challenge at 40, deny at 80.
    pub thresholds: Thresholds,
    /// Per-app thresholds, by `Request::app`; apps not listed use `thresholds`.
    pub apps: BTreeMap<String, Thresholds>,
    pub weights: Weights,
    /// Confirmed logins before novelty signals (device/IP/ASN/country) count fully; before that
    /// they are scaled by `confirmed / warmup_logins`, and a user with none gets only `new_user`.
    /// Default 5.
    pub warmup_logins: u32,
    /// Confirmed logins before `unusual_hour` can fire. Default 20.
    pub hour_warmup_logins: u32,
    /// Speeds above this are impossible travel. Default 1000 km/h.
    pub max_speed_kmh: f64,
    /// Distances below this never count as travel (geolocation error). Default 300 km.
    pub travel_min_km: f64,
    /// VPN / corporate egress networks: a login from or after one of them is not travel.
    pub vpn_egress: Vec<String>,
    /// Default 900 s (15 min).
    pub user_fail_window_secs: u32,
    /// Default 5 failures.
    pub user_fail_threshold: u32,
    /// Default 600 s.
    pub ip_fail_window_secs: u32,
    /// Default 20 failures.
    pub ip_fail_threshold: u32,
    /// Default 3600 s: sprays are slow on purpose (one attempt every half minute or minute, to
    /// stay under lockouts), and an hour with ten users is the threshold of the Sigma
    /// correlation `Password Spraying From One Address` that `palisade serve` ships.
    pub spray_window_secs: u32,
    /// Distinct users an IP failed for. Default 10.
    pub spray_min_users: u32,
    /// Global window for credential stuffing campaigns. Default 600 s.
    pub stuffing_window_secs: u32,
    /// Default 20 distinct users failing.
    pub stuffing_min_users: u32,
    /// Default 10 distinct IPs failing.
    pub stuffing_min_ips: u32,
    /// Campaign only while successes / attempts in the window is at most this. Default 0.2.
    pub stuffing_max_success_rate: f64,
    /// Browser major versions above this are impossible. Default 200.
    pub ua_max_major: u32,
    /// Always allowed (unless also always-challenged).
    pub always_allow: Members,
    /// Always at least challenged.
    pub always_challenge: Members,
    pub threat_lists: Vec<ThreatList>,
    /// Group name → members; enables `peer_rarity` for them.
    pub peer_groups: BTreeMap<String, Vec<String>>,
    /// Step-up mode: a deny becomes a challenge (ask for MFA first) unless risk ≥ `step_up_deny_at`.
    /// Default false.
    pub step_up: bool,
    /// Default 95.
    pub step_up_deny_at: u8,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            thresholds: Thresholds::default(),
            apps: BTreeMap::new(),
            weights: Weights::default(),
            warmup_logins: 5,
            hour_warmup_logins: 20,
            max_speed_kmh: 1000.0,
            travel_min_km: 300.0,
            vpn_egress: Vec::new(),
            user_fail_window_secs: 900,
            user_fail_threshold: 5,
            ip_fail_window_secs: 600,
            ip_fail_threshold: 20,
            spray_window_secs: 3600,
            spray_min_users: 10,
            stuffing_window_secs: 600,
            stuffing_min_users: 20,
            stuffing_min_ips: 10,
            stuffing_max_success_rate: 0.2,
            ua_max_major: 200,
            always_allow: Members::default(),
            always_challenge: Members::default(),
            threat_lists: Vec::new(),
            peer_groups: BTreeMap::new(),
            step_up: false,
            step_up_deny_at: 95,
        }
    }
}

fn bad(field: &str, message: impl Into<String>) -> AuthError {
    AuthError::Policy {
        field: field.to_string(),
        message: message.into(),
    }
}

fn check_thresholds(field: &str, t: &Thresholds) -> Result<(), AuthError> {
    if t.challenge_at == 0 || t.challenge_at > 100 || t.deny_at > 100 {
        return Err(bad(field, "thresholds must be within 1..=100"));
    }
    if t.challenge_at >= t.deny_at {
        return Err(bad(
            field,
            format!(
                "challenge_at ({}) must be below deny_at ({})",
                t.challenge_at, t.deny_at
            ),
        ));
    }
    Ok(())
}

impl Policy {
    pub fn from_toml_str(s: &str) -> Result<Self, AuthError> {
        let p: Policy = toml::from_str(s).map_err(|e| bad("toml", e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    pub fn from_json_str(s: &str) -> Result<Self, AuthError> {
        let p: Policy = serde_json::from_str(s).map_err(|e| bad("json", e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    /// Loads `.json` as JSON and anything else as TOML; errors name the file.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|e| AuthError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let r = if path.extension().is_some_and(|e| e == "json") {
            Self::from_json_str(&text)
        } else {
            Self::from_toml_str(&text)
        };
        r.map_err(|e| AuthError::PolicyFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Checks ranges and parses every inline CIDR.
    pub fn validate(&self) -> Result<(), AuthError> {
        check_thresholds("thresholds", &self.thresholds)?;
        for (app, t) in &self.apps {
            check_thresholds(&format!("apps.{app}"), t)?;
        }
        let w = &self.weights;
        for (name, v) in [
            ("new_device", w.new_device),
            ("new_ip", w.new_ip),
            ("new_asn", w.new_asn),
            ("new_country", w.new_country),
            ("new_user", w.new_user),
            ("impossible_travel", w.impossible_travel),
            ("unusual_hour", w.unusual_hour),
            ("user_failures", w.user_failures),
            ("ip_failures", w.ip_failures),
            ("password_spraying", w.password_spraying),
            ("credential_stuffing", w.credential_stuffing),
            ("ua_automation", w.ua_automation),
            ("ua_impossible", w.ua_impossible),
            ("peer_rarity", w.peer_rarity),
        ] {
            if v > 100 {
                return Err(bad(&format!("weights.{name}"), format!("{v} is above 100")));
            }
        }
        if !(self.max_speed_kmh.is_finite() && self.max_speed_kmh > 0.0) {
            return Err(bad("max_speed_kmh", "must be a positive number"));
        }
        if !(self.travel_min_km.is_finite() && self.travel_min_km >= 0.0) {
            return Err(bad("travel_min_km", "must be zero or positive"));
        }
        if !(0.0..=1.0).contains(&self.stuffing_max_success_rate) {
            return Err(bad("stuffing_max_success_rate", "must be within 0..=1"));
        }
        for (name, v) in [
            ("user_fail_window_secs", self.user_fail_window_secs),
            ("ip_fail_window_secs", self.ip_fail_window_secs),
            ("spray_window_secs", self.spray_window_secs),
            ("stuffing_window_secs", self.stuffing_window_secs),
            ("user_fail_threshold", self.user_fail_threshold),
            ("ip_fail_threshold", self.ip_fail_threshold),
            ("spray_min_users", self.spray_min_users),
            ("stuffing_min_users", self.stuffing_min_users),
            ("stuffing_min_ips", self.stuffing_min_ips),
        ] {
            if v == 0 {
                return Err(bad(name, "must be at least 1"));
            }
        }
        // The per-key rings hold the last 32 failures; larger thresholds could never fire.
        for (name, v) in [
            ("user_fail_threshold", self.user_fail_threshold),
            ("ip_fail_threshold", self.ip_fail_threshold),
            ("spray_min_users", self.spray_min_users),
        ] {
            if v > crate::state::FAIL_RING as u32 {
                return Err(bad(
                    name,
                    format!(
                        "{v} is above {} (the failures kept per key)",
                        crate::state::FAIL_RING
                    ),
                ));
            }
        }
        if self.step_up_deny_at > 100 {
            return Err(bad("step_up_deny_at", "must be within 0..=100"));
        }
        CidrSet::from_entries("vpn_egress", &self.vpn_egress)?;
        CidrSet::from_entries("always_allow.cidrs", &self.always_allow.cidrs)?;
        CidrSet::from_entries("always_challenge.cidrs", &self.always_challenge.cidrs)?;
        for (i, t) in self.threat_lists.iter().enumerate() {
            if t.name.is_empty() {
                return Err(bad(&format!("threat_lists[{i}].name"), "must not be empty"));
            }
            if t.weight > 100 {
                return Err(bad(&format!("threat_lists[{i}].weight"), "is above 100"));
            }
            CidrSet::from_entries(&format!("threat_lists[{i}].cidrs"), &t.cidrs)?;
        }
        Ok(())
    }

    /// The thresholds for an app.
    pub fn thresholds_for(&self, app: Option<&str>) -> Thresholds {
        app.and_then(|a| self.apps.get(a).copied())
            .unwrap_or(self.thresholds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_round_trip() {
        let p = Policy::default();
        p.validate().unwrap();
        let t = toml::to_string(&p).unwrap();
        assert_eq!(Policy::from_toml_str(&t).unwrap(), p);
        let j = serde_json::to_string(&p).unwrap();
        assert_eq!(Policy::from_json_str(&j).unwrap(), p);
    }

    #[test]
    fn bad_policies_name_the_field() {
        let e =
            Policy::from_toml_str("[thresholds]\nchallenge_at = 90\ndeny_at = 50\n").unwrap_err();
        assert!(e.to_string().contains("thresholds"), "{e}");
        let e = Policy::from_toml_str("vpn_egress = [\"10.0.0.0/99\"]").unwrap_err();
        assert!(e.to_string().contains("vpn_egress"), "{e}");
        let e = Policy::from_toml_str("[weights]\nnew_device = 150").unwrap_err();
        assert!(e.to_string().contains("new_device"), "{e}");
        let e = Policy::from_toml_str("no_such_key = 1").unwrap_err();
        assert!(e.to_string().contains("no_such_key"), "{e}");
        let e = Policy::from_json_str(r#"{"apps":{"vpn":{"challenge_at":0,"deny_at":10}}}"#)
            .unwrap_err();
        assert!(e.to_string().contains("apps.vpn"), "{e}");
        let e = Policy::from_toml_str("stuffing_max_success_rate = 2.0").unwrap_err();
        assert!(e.to_string().contains("stuffing_max_success_rate"), "{e}");
    }
}

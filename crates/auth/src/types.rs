//! The request the engine scores and the answer it gives.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// What happened to a login attempt, reported after the fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The password (first factor) was right.
    Success,
    /// The password was wrong.
    Failure,
    /// The second factor was passed: a confirmed login.
    MfaPassed,
    /// The second factor was failed.
    MfaFailed,
}

impl Outcome {
    /// Success and MFA passed are confirmed logins: only they update a user's profile.
    pub fn is_confirmed(self) -> bool {
        matches!(self, Outcome::Success | Outcome::MfaPassed)
    }
}

/// One login attempt, as the API takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub user: String,
    pub ip: IpAddr,
    #[serde(default)]
    pub user_agent: String,
    /// A device fingerprint or cookie id, when the login system has one.
    #[serde(default)]
    pub device_id: Option<String>,
    pub timestamp: DateTime<Utc>,
    /// Which application the login is for (selects per-app thresholds).
    #[serde(default)]
    pub app: Option<String>,
    /// Set when the caller reports the outcome together with the attempt.
    #[serde(default)]
    pub outcome: Option<Outcome>,
}

/// The engine's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Challenge,
    Deny,
}

/// One signal that contributed to the risk, with its evidence in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// The signal's name, e.g. `new_country`, `impossible_travel`, `password_spraying`.
    pub signal: String,
    /// Points this signal added to the risk (0..=100).
    pub score: u8,
    /// Why, in words: "new country BR for alice (seen: DE, FR)".
    pub evidence: String,
}

/// The decision, the risk it came from and every reason behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub decision: Decision,
    /// 0..=100: the sum of the reasons' scores, capped at 100.
    pub risk: u8,
    pub reasons: Vec<Reason>,
}

impl Assessment {
    /// Whether a reason from `signal` is present.
    pub fn has(&self, signal: &str) -> bool {
        self.reasons.iter().any(|r| r.signal == signal)
    }
}

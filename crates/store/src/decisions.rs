//! Response state: blocking *decisions* published to bouncers (CrowdSec's LAPI protocol), the
//! bouncers that pull them, and the respond engine's actions and append-only log.
//!
//! Kept apart from [`crate::Store`] (detection results) in its own trait, [`ResponseStore`],
//! so response code asks for exactly this. Times here are integer milliseconds since the Unix
//! epoch, as the tables keep them.

use std::net::{IpAddr, Ipv6Addr};

use crate::StoreError;

/// What a decision applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One address.
    Ip,
    /// A CIDR network.
    Range,
}

impl Scope {
    /// As CrowdSec spells it (`Ip`, `Range`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ip => "Ip",
            Scope::Range => "Range",
        }
    }

    /// `ip` / `range`, any case.
    pub fn parse(s: &str) -> Option<Scope> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ip" => Some(Scope::Ip),
            "range" => Some(Scope::Range),
            _ => None,
        }
    }
}

/// A decision to add.
#[derive(Debug, Clone)]
pub struct NewDecision {
    /// Who made it: `palisade` (playbooks), `palisade-cli` (an operator), …
    pub origin: String,
    /// `ban` unless a bouncer understands more (`captcha`, …).
    pub kind: String,
    pub scope: Scope,
    /// An address (scope Ip) or CIDR (scope Range); stored in canonical form.
    pub value: String,
    pub scenario: String,
    pub reason: String,
    /// When it is made (ms).
    pub created_at: i64,
    /// When it ends (ms); `None` = until deleted.
    pub until: Option<i64>,
    /// The response action that made it.
    pub action_id: Option<i64>,
    pub simulated: bool,
}

/// A stored decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub id: i64,
    pub uuid: String,
    pub origin: String,
    pub kind: String,
    pub scope: Scope,
    pub value: String,
    pub scenario: String,
    pub reason: String,
    pub created_at: i64,
    pub until: Option<i64>,
    /// When it was deleted or noticed expired.
    pub deleted_at: Option<i64>,
    pub action_id: Option<i64>,
    pub simulated: bool,
}

impl Decision {
    /// In force at `now`: not deleted and not past its end.
    pub fn is_active(&self, now: i64) -> bool {
        self.deleted_at.is_none() && self.until.is_none_or(|u| u > now)
    }

    /// When it stops (or stopped) being in force; `None` for a permanent, live one.
    pub fn ends_at(&self) -> Option<i64> {
        match (self.until, self.deleted_at) {
            (Some(u), Some(d)) => Some(u.min(d)),
            (u, d) => u.or(d),
        }
    }
}

/// Decisions whose address range relates to a queried address or range.
#[derive(Debug, Clone)]
pub struct AddressMatch {
    /// An address or CIDR.
    pub query: String,
    /// `true`: decisions containing the query (an Ip decision equal to an address, a Range
    /// holding it); `false`: decisions inside the queried range (CrowdSec's `contains=false`).
    pub contains: bool,
}

/// Which decisions to return; every field narrows (the default: active ones of any kind).
#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    /// Deleted and expired ones too.
    pub include_inactive: bool,
    /// Only this type (`ban`).
    pub kind: Option<String>,
    /// Only these scopes (empty: all).
    pub scopes: Vec<Scope>,
    /// Exactly this (canonical) value.
    pub value: Option<String>,
    /// Only these origins (empty: all).
    pub origins: Vec<String>,
    /// Scenario contains one of these (empty: any).
    pub scenarios_containing: Vec<String>,
    /// Scenario contains none of these.
    pub scenarios_not_containing: Vec<String>,
    pub address: Option<AddressMatch>,
    /// At most this many (newest first when set).
    pub limit: Option<usize>,
}

impl DecisionFilter {
    /// Whether `d` passes the scope, origin and scenario parts (what a bouncer's stream
    /// filters on).
    pub fn stream_matches(&self, d: &Decision) -> bool {
        (self.scopes.is_empty() || self.scopes.contains(&d.scope))
            && (self.origins.is_empty() || self.origins.iter().any(|o| o == &d.origin))
            && (self.scenarios_containing.is_empty()
                || self
                    .scenarios_containing
                    .iter()
                    .any(|s| d.scenario.contains(s.as_str())))
            && !self
                .scenarios_not_containing
                .iter()
                .any(|s| d.scenario.contains(s.as_str()))
    }
}

/// A bouncer (a consumer of decisions). Its key is never stored, only the key's SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BouncerRecord {
    pub id: i64,
    pub name: String,
    /// Hex SHA-256 of its key.
    pub key_hash: String,
    pub created_at: i64,
    pub last_pull_at: Option<i64>,
    pub last_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The last change-feed sequence number it was sent.
    pub cursor: i64,
}

/// A response action to record.
#[derive(Debug, Clone)]
pub struct NewResponseAction {
    pub created_at: i64,
    pub playbook: String,
    pub incident_id: Option<i64>,
    /// `block_ip`, `webhook`, …
    pub kind: String,
    pub target: String,
    /// `auto`, `approve` or `dry-run`.
    pub mode: String,
    /// `pending`, `active`, `done`, `failed`, `refused`, `denied`, `reverted`, `expired` or
    /// `dry-run`.
    pub state: String,
    pub action_json: String,
    pub revert_json: Option<String>,
    pub expires_at: Option<i64>,
    pub detail: String,
}

/// A stored response action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseAction {
    pub id: i64,
    pub created_at: i64,
    pub playbook: String,
    pub incident_id: Option<i64>,
    pub kind: String,
    pub target: String,
    pub mode: String,
    pub state: String,
    pub action_json: String,
    pub revert_json: Option<String>,
    pub expires_at: Option<i64>,
    pub detail: String,
    pub decided_by: Option<String>,
    pub updated_at: i64,
}

/// Which response actions to list (newest first); every field narrows.
#[derive(Debug, Clone, Default)]
pub struct ResponseActionFilter {
    pub states: Vec<String>,
    pub playbook: Option<String>,
    pub incident_id: Option<i64>,
    pub limit: Option<usize>,
}

/// One line of the append-only response log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseLogRecord {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action_id: Option<i64>,
    pub event: String,
    pub detail: String,
}

/// Decisions, bouncers, response actions and the response log.
pub trait ResponseStore {
    /// Adds a decision, or — when an active one of the same value and type exists — keeps
    /// that one, extending its end to the later of the two (permanent wins), and returns it.
    /// Only a really new decision enters the change feed.
    fn add_decision(&mut self, d: &NewDecision) -> Result<Decision, StoreError>;
    /// Deletes an active decision at `at`; false if there is no such active decision.
    fn delete_decision(&mut self, id: i64, at: i64) -> Result<bool, StoreError>;
    /// Deletes every active decision on `value` (an address or CIDR); returns how many.
    fn delete_decisions_for_value(&mut self, value: &str, at: i64) -> Result<u64, StoreError>;
    /// Marks active decisions whose end has passed as deleted (feeding the deletions to
    /// bouncers); returns how many.
    fn expire_decisions(&mut self, now: i64) -> Result<u64, StoreError>;
    /// Decisions matching `filter` at `now` (oldest first unless `limit` is set).
    fn decisions(&self, filter: &DecisionFilter, now: i64) -> Result<Vec<Decision>, StoreError>;
    /// How many decisions are active at `now`.
    fn active_decision_count(&self, now: i64) -> Result<u64, StoreError>;
    /// What bouncer `bouncer_id` has to apply: on `startup` every active decision matching
    /// `filter` (nothing deleted), otherwise the feed since its cursor (decisions still active
    /// as new, deleted ones as deleted). Advances its cursor to the feed's head in the same
    /// transaction, and records the pull time.
    fn decision_stream(
        &mut self,
        bouncer_id: i64,
        startup: bool,
        filter: &DecisionFilter,
        now: i64,
    ) -> Result<(Vec<Decision>, Vec<Decision>), StoreError>;

    /// Registers a bouncer by name with the SHA-256 (hex) of its key; returns its id.
    fn add_bouncer(&mut self, name: &str, key_hash: &str, now: i64) -> Result<i64, StoreError>;
    /// Every bouncer, by name.
    fn bouncers(&self) -> Result<Vec<BouncerRecord>, StoreError>;
    /// Removes a bouncer; false if there is none of that name.
    fn delete_bouncer(&mut self, name: &str) -> Result<bool, StoreError>;
    /// The bouncer whose key hashes to `key_hash`.
    fn bouncer_by_key_hash(&self, key_hash: &str) -> Result<Option<BouncerRecord>, StoreError>;
    /// Records a pull's address and user agent.
    fn touch_bouncer(
        &mut self,
        id: i64,
        at: i64,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Records a response action; returns its id.
    fn insert_response_action(&mut self, a: &NewResponseAction) -> Result<i64, StoreError>;
    /// Moves an action to `state` with `detail` (and who decided, for approvals); false if
    /// there is no such action.
    fn update_response_action(
        &mut self,
        id: i64,
        state: &str,
        detail: &str,
        decided_by: Option<&str>,
        at: i64,
    ) -> Result<bool, StoreError>;
    /// Records how an executed action ended: its state and detail, how to revert it and when
    /// it ends by itself (an approved action learns these only when it runs).
    #[allow(clippy::too_many_arguments)]
    fn finish_response_action(
        &mut self,
        id: i64,
        state: &str,
        detail: &str,
        revert_json: Option<&str>,
        expires_at: Option<i64>,
        decided_by: Option<&str>,
        at: i64,
    ) -> Result<bool, StoreError>;
    /// Active actions whose end has passed at `now` (oldest end first, at most `limit`).
    fn due_response_actions(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<ResponseAction>, StoreError>;
    /// Runs `f` in one transaction (many small writes of a burst commit once).
    fn in_transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError>
    where
        Self: Sized;
    fn response_action(&self, id: i64) -> Result<Option<ResponseAction>, StoreError>;
    fn response_actions(
        &self,
        filter: &ResponseActionFilter,
    ) -> Result<Vec<ResponseAction>, StoreError>;
    /// Appends to the response log (which refuses updates and deletes); returns the line's id.
    fn append_response_log(
        &mut self,
        at: i64,
        actor: &str,
        action_id: Option<i64>,
        event: &str,
        detail: &str,
    ) -> Result<i64, StoreError>;
    /// The newest `limit` lines (of one action when given), newest first.
    fn response_log(
        &self,
        action_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ResponseLogRecord>, StoreError>;
}

/// An address range as the table keeps it: family (4 or 6) and first/last address as 16 bytes
/// (IPv4 mapped into IPv6), so SQLite's byte-wise BLOB comparison orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub family: u8,
    pub start: [u8; 16],
    pub end: [u8; 16],
}

fn to16(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Parses an address or CIDR into its canonical text and span.
pub(crate) fn parse_span(value: &str) -> Result<(String, Scope, Span), StoreError> {
    let v = value.trim();
    let bad = || StoreError::Invalid(format!("{v:?} is not an IP address or CIDR range"));
    let (addr, len) = match v.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().map_err(|_| bad())?)),
        None => (v, None),
    };
    let ip: IpAddr = addr.parse::<IpAddr>().map_err(|_| bad())?.to_canonical();
    let family = if ip.is_ipv4() { 4 } else { 6 };
    let max = if family == 4 { 32 } else { 128 };
    let Some(len) = len else {
        let b = to16(ip);
        return Ok((
            ip.to_string(),
            Scope::Ip,
            Span {
                family,
                start: b,
                end: b,
            },
        ));
    };
    if len > max {
        return Err(bad());
    }
    let host_bits = u32::from(max - len);
    let bits = u128::from_be_bytes(to16(ip));
    let mask = if host_bits >= 128 {
        0
    } else {
        !((1u128 << host_bits) - 1)
    };
    // For IPv4 the mapped prefix (::ffff:0:0/96) must stay set.
    let mask = if family == 4 {
        mask | !((1u128 << 32) - 1)
    } else {
        mask
    };
    let (start, end) = (bits & mask, bits | !mask);
    let net = match family {
        4 => IpAddr::from(std::net::Ipv4Addr::from(start as u32)),
        _ => IpAddr::from(Ipv6Addr::from(start)),
    };
    Ok((
        format!("{net}/{len}"),
        Scope::Range,
        Span {
            family,
            start: start.to_be_bytes(),
            end: end.to_be_bytes(),
        },
    ))
}

/// The canonical form of a decision value for `scope`: an address (`2001:db8::1`, IPv4-mapped
/// addresses as IPv4) for Ip, a network with its host bits cleared (`10.0.0.0/8`) for Range.
pub fn canonical_value(scope: Scope, value: &str) -> Result<String, StoreError> {
    let (text, found, _) = parse_span(value)?;
    match (scope, found) {
        (Scope::Ip, Scope::Ip) | (Scope::Range, Scope::Range) => Ok(text),
        (Scope::Range, Scope::Ip) => Err(StoreError::Invalid(format!(
            "{value:?} is an address; a Range needs a CIDR such as 192.0.2.0/24"
        ))),
        (Scope::Ip, Scope::Range) => Err(StoreError::Invalid(format!(
            "{value:?} is a CIDR range; an Ip decision needs one address"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_canonical() {
        assert_eq!(
            canonical_value(Scope::Ip, " 192.0.2.7 ").unwrap(),
            "192.0.2.7"
        );
        assert_eq!(
            canonical_value(Scope::Ip, "::ffff:192.0.2.7").unwrap(),
            "192.0.2.7"
        );
        assert_eq!(
            canonical_value(Scope::Ip, "2001:DB8:0::1").unwrap(),
            "2001:db8::1"
        );
        assert_eq!(
            canonical_value(Scope::Range, "10.1.2.3/8").unwrap(),
            "10.0.0.0/8"
        );
        assert_eq!(
            canonical_value(Scope::Range, "2001:db8::77/32").unwrap(),
            "2001:db8::/32"
        );
        assert_eq!(
            canonical_value(Scope::Range, "0.0.0.0/0").unwrap(),
            "0.0.0.0/0"
        );
        assert!(canonical_value(Scope::Range, "10.0.0.0/33").is_err());
        assert!(canonical_value(Scope::Range, "10.0.0.1").is_err());
        assert!(canonical_value(Scope::Ip, "10.0.0.0/24").is_err());
        assert!(canonical_value(Scope::Ip, "example.com").is_err());
        let (_, _, s) = parse_span("192.0.2.0/24").unwrap();
        let (_, _, a) = parse_span("192.0.2.200").unwrap();
        assert!(s.start <= a.start && s.end >= a.end && s.family == 4);
        let (_, _, all6) = parse_span("::/0").unwrap();
        assert_eq!((all6.start, all6.end), ([0; 16], [0xff; 16]));
    }
}

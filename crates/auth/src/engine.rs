//! The engine: scores attempts ([`Engine::assess`]) and learns from outcomes ([`Engine::outcome`]).

use chrono::{Datelike, Timelike};
use rustc_hash::{FxHashMap, FxHashSet};
use siphasher::sip::SipHasher13;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use crate::cidr::CidrSet;
use crate::error::AuthError;
use crate::geo::{Geo, GeoInfo, haversine_km};
use crate::policy::Policy;
use crate::state::{FailRing, HAS_PLACE, PRECISE, UserState, VIA_EGRESS};
use crate::types::{Assessment, Decision, Outcome, Reason, Request};
use crate::ua::{self, UaFinding};

/// Failure events kept for the global credential-stuffing window.
const STUFF_RING: usize = 512;
/// Minute buckets of attempts/successes for the stuffing success rate (covers ≤ 60 min).
const MINUTES: usize = 64;

/// The secret keys of the engine's hashing of user names, devices and IPs: SipHash-1-3 (what
/// `std`'s `RandomState` uses) with 128 random bits from the OS, kept with saved profiles so
/// a restored engine recognises its users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keys {
    pub k0: u64,
    pub k1: u64,
}

impl Keys {
    fn random() -> Keys {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).unwrap_or_else(|e| panic!("the OS random source failed: {e}"));
        Keys {
            k0: u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
            k1: u64::from_le_bytes(b[8..].try_into().expect("8 bytes")),
        }
    }

    fn hash_one<T: Hash>(&self, v: T) -> u64 {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        v.hash(&mut h);
        h.finish()
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Campaign {
    /// Unix seconds of the failure that last confirmed the campaign.
    at: i64,
    failures: u32,
    users: u32,
    ips: u32,
    success_pct: u32,
}

#[derive(Debug)]
struct Stuffing {
    /// (unix seconds, user hash, ip hash) of recent failures.
    ring: Vec<(u32, u32, u32)>,
    pos: usize,
    /// (minute, attempts, successes).
    minutes: [(i64, u32, u32); MINUTES],
    campaign: Option<Campaign>,
    scratch: Vec<u32>,
}

/// The risk engine. Holds the compiled policy, the optional geolocation databases and all
/// learned state (per-user profiles, failure velocity, the global campaign window).
#[derive(Debug)]
pub struct Engine {
    policy: Policy,
    geo: Option<Geo>,
    /// Keyed (random per engine) hashing of user names, devices and IPs: a user name crafted
    /// to collide with another's cannot be computed offline.
    keys: Keys,
    users: FxHashMap<u64, UserState>,
    user_fails: FxHashMap<u64, FailRing>,
    ip_fails: FxHashMap<u128, FailRing>,
    stuffing: Stuffing,
    allow_users: FxHashSet<u64>,
    allow_cidrs: CidrSet,
    challenge_users: FxHashSet<u64>,
    challenge_cidrs: CidrSet,
    vpn: CidrSet,
    threats: Vec<(String, u8, CidrSet)>,
    peer_of: FxHashMap<u64, u16>,
    peer_names: Vec<String>,
    peer_countries: FxHashMap<(u16, u16), u32>,
    prune_at: usize,
    /// Most user profiles; past it, users not yet known are not learned (see
    /// [`Engine::set_max_users`]).
    max_users: usize,
    /// Confirmed logins not learned because the profile table was full.
    refused: u64,
    /// Bumped by every change to learned profiles (see [`Engine::generation`]).
    generation: u64,
}

fn ip_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// 12,345 style.
fn thousands(v: f64) -> String {
    let n = v.round().clamp(0.0, 1e15) as u64;
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn duration(secs: i64) -> String {
    let secs = secs.unsigned_abs();
    if secs < 120 {
        format!("{secs} s")
    } else if secs < 7200 {
        format!("{} min", secs / 60)
    } else {
        format!("{:.1} h", secs as f64 / 3600.0)
    }
}

fn how(ts: &chrono::DateTime<chrono::Utc>) -> usize {
    ts.weekday().num_days_from_monday() as usize * 24 + ts.hour() as usize
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// u32 seconds for the velocity rings (clamped: times before 1970 or after 2106 saturate).
fn secs32(t: i64) -> u32 {
    t.clamp(1, i64::from(u32::MAX)) as u32
}

impl Engine {
    /// Validates and compiles the policy (loading threat-list files); errors name the field or file.
    pub fn new(policy: Policy, geo: Option<Geo>) -> Result<Self, AuthError> {
        policy.validate()?;
        if policy.stuffing_window_secs > 3600 {
            return Err(AuthError::Policy {
                field: "stuffing_window_secs".into(),
                message: "must be at most 3600 (one hour)".into(),
            });
        }
        let mut threats = Vec::new();
        for (i, t) in policy.threat_lists.iter().enumerate() {
            let mut set = CidrSet::from_entries(&format!("threat_lists[{i}].cidrs"), &t.cidrs)?;
            if let Some(path) = &t.file {
                let from_file = CidrSet::load_file(path)?;
                if from_file.is_empty() {
                    return Err(AuthError::Io {
                        path: path.clone(),
                        message: format!("threat list {:?} has no entries", t.name),
                    });
                }
                set.merge(from_file);
            }
            threats.push((t.name.clone(), t.weight, set));
        }
        let mut e = Engine {
            allow_users: FxHashSet::default(),
            allow_cidrs: CidrSet::from_entries("always_allow.cidrs", &policy.always_allow.cidrs)?,
            challenge_users: FxHashSet::default(),
            challenge_cidrs: CidrSet::from_entries(
                "always_challenge.cidrs",
                &policy.always_challenge.cidrs,
            )?,
            vpn: CidrSet::from_entries("vpn_egress", &policy.vpn_egress)?,
            threats,
            peer_of: FxHashMap::default(),
            peer_names: policy.peer_groups.keys().cloned().collect(),
            peer_countries: FxHashMap::default(),
            users: FxHashMap::default(),
            user_fails: FxHashMap::default(),
            ip_fails: FxHashMap::default(),
            stuffing: Stuffing {
                ring: vec![(0, 0, 0); STUFF_RING],
                pos: 0,
                minutes: [(i64::MIN, 0, 0); MINUTES],
                campaign: None,
                scratch: Vec::with_capacity(STUFF_RING),
            },
            keys: Keys::random(),
            policy,
            geo,
            prune_at: 4096,
            max_users: usize::MAX,
            refused: 0,
            generation: 0,
        };
        e.hash_lists();
        Ok(e)
    }

    /// (Re)builds the policy's user lists and peer-group membership as hashes under the
    /// current keys.
    fn hash_lists(&mut self) {
        let keys = self.keys;
        let hash = |s: &String| keys.hash_one(s.as_str());
        let p = &self.policy;
        self.allow_users = p.always_allow.users.iter().map(hash).collect();
        self.challenge_users = p.always_challenge.users.iter().map(hash).collect();
        self.peer_of.clear();
        for (idx, members) in p.peer_groups.values().enumerate() {
            for m in members {
                self.peer_of.insert(hash(m), idx as u16);
            }
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Users with a profile.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// Bounds the profile table at `n` users. Once full, a confirmed login of a user without a
    /// profile is not learned (the user keeps being assessed as new; known users keep
    /// learning), so memory stays bounded and an attacker cannot evict real profiles.
    pub fn set_max_users(&mut self, n: usize) {
        self.max_users = n.max(1);
    }

    /// Confirmed logins not learned because the profile table was full.
    pub fn refused_users(&self) -> u64 {
        self.refused
    }

    /// Reserves room for `n` user profiles (avoids rehashing while a large population loads).
    pub fn reserve_users(&mut self, n: usize) {
        self.users.reserve(n);
    }

    /// Bytes held by the user-profile table: its slots (8-byte key + [`UserState`] + 1 control
    /// byte each) at the current capacity.
    pub fn profile_bytes(&self) -> usize {
        self.users.capacity() * (8 + std::mem::size_of::<UserState>() + 1)
    }

    /// Changes to learned profiles so far: a saver compares it with the value it last saved
    /// at to skip unchanged state.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The learned profiles (and the hash keys they are found by) as bytes, in the versioned
    /// layout of [`crate::persist`]: about [`crate::persist::USER_RECORD`] bytes per user.
    pub fn save_profiles(&self) -> Vec<u8> {
        let mut groups: Vec<(String, Vec<(u16, u32)>)> = self
            .peer_names
            .iter()
            .map(|n| (n.clone(), Vec::new()))
            .collect();
        for (&(g, c), &n) in &self.peer_countries {
            if let Some(slot) = groups.get_mut(g as usize) {
                slot.1.push((c, n));
            }
        }
        for g in &mut groups {
            g.1.sort_unstable();
        }
        crate::persist::encode(self.keys, &self.users, &groups)
    }

    /// Replaces the learned profiles with saved ones (from [`Engine::save_profiles`]) and
    /// returns how many users were restored. Failure windows start empty. Users beyond the
    /// profile bound are not restored (counted in [`Engine::refused_users`]); peer-group counts
    /// are kept for groups the policy still names. A damaged blob is an error naming the byte
    /// offset, and the engine is left as it was.
    pub fn restore_profiles(&mut self, bytes: &[u8]) -> Result<usize, AuthError> {
        let d = crate::persist::decode(bytes)?;
        self.keys = d.keys;
        self.hash_lists();
        self.users.clear();
        self.user_fails.clear();
        self.ip_fails.clear();
        let keep = d.users.len().min(self.max_users);
        self.refused += (d.users.len() - keep) as u64;
        self.users.reserve(keep);
        self.users.extend(d.users.into_iter().take(keep));
        self.peer_countries.clear();
        for (name, counts) in d.groups {
            if let Some(g) = self.peer_names.iter().position(|n| *n == name) {
                for (c, n) in counts {
                    self.peer_countries.insert((g as u16, c), n);
                }
            }
        }
        self.generation += 1;
        Ok(keep)
    }

    fn h64(&self, s: &str) -> u64 {
        self.keys.hash_one(s)
    }
    fn h32(&self, s: &str) -> u32 {
        self.keys.hash_one(s) as u32
    }
    fn ip32(&self, ip: IpAddr) -> u32 {
        self.keys.hash_one(ip_key(ip)) as u32
    }

    /// A lookup error (corrupt record) counts as "place unknown": place signals stay silent.
    fn locate(&self, ip: IpAddr) -> GeoInfo<'_> {
        self.geo
            .as_ref()
            .and_then(|g| g.lookup(ip).ok())
            .unwrap_or_default()
    }

    /// Scores one attempt. Does not learn: report what happened with [`Engine::outcome`].
    pub fn assess(&self, req: &Request) -> Assessment {
        let p = &self.policy;
        let w = &p.weights;
        let now = req.timestamp.timestamp();
        let now32 = secs32(now);
        let uh = self.h64(&req.user);
        let user = req.user.as_str();
        let st = self.users.get(&uh);
        let geo = self.locate(req.ip);
        let mut reasons: Vec<Reason> = Vec::new();
        let mut add = |signal: &str, score: u8, evidence: String| {
            if score > 0 {
                reasons.push(Reason {
                    signal: signal.to_string(),
                    score,
                    evidence,
                });
            }
        };
        let ip_is_new = st.is_none_or(|s| !s.ips.contains(self.ip32(req.ip)));

        // Novelty, scaled during warm-up.
        match st {
            None => add(
                "new_user",
                w.new_user,
                format!("no confirmed login yet for {user}: novelty signals start after the first"),
            ),
            Some(s) if s.confirmed == 0 => add(
                "new_user",
                w.new_user,
                format!("no confirmed login yet for {user}"),
            ),
            Some(s) => {
                let factor = (s.confirmed as f64 / p.warmup_logins.max(1) as f64).min(1.0);
                let scaled = |wt: u8| (f64::from(wt) * factor).round() as u8;
                let warm = if factor < 1.0 {
                    format!(
                        " (warm-up: {} of {} confirmed logins, weight scaled)",
                        s.confirmed, p.warmup_logins
                    )
                } else {
                    String::new()
                };
                if let Some(d) = req.device_id.as_deref()
                    && !s.devices.contains(self.h32(d))
                {
                    let shown: String = d.chars().take(24).collect();
                    add(
                        "new_device",
                        scaled(w.new_device),
                        format!(
                            "new device {shown:?} for {user} ({} known){warm}",
                            s.devices.len()
                        ),
                    );
                }
                if ip_is_new {
                    add(
                        "new_ip",
                        scaled(w.new_ip),
                        format!("new IP {} for {user}{warm}", req.ip),
                    );
                }
                if let Some(asn) = geo.asn
                    && !s.asns.is_empty()
                    && !s.asns.contains(asn)
                {
                    let seen: Vec<String> = s.asns.iter().map(|a| format!("AS{a}")).collect();
                    add(
                        "new_asn",
                        scaled(w.new_asn),
                        format!(
                            "new ASN AS{asn} for {user} (seen: {}){warm}",
                            seen.join(", ")
                        ),
                    );
                }
                if let Some(c) = geo.country
                    && s.knows_countries()
                    && !s.has_country(c)
                {
                    add(
                        "new_country",
                        scaled(w.new_country),
                        format!(
                            "new country {} for {user} (seen: {}){warm}",
                            geo.country_str(),
                            s.country_list()
                        ),
                    );
                    if let Some(&g) = self.peer_of.get(&uh)
                        && self
                            .peer_countries
                            .get(&(g, u16::from_be_bytes(c)))
                            .copied()
                            .unwrap_or(0)
                            == 0
                    {
                        add(
                            "peer_rarity",
                            w.peer_rarity,
                            format!(
                                "no one in {user}'s peer group {:?} has logged in from {}",
                                self.peer_names[g as usize],
                                geo.country_str()
                            ),
                        );
                    }
                }
            }
        }

        // Impossible travel between the last confirmed login and this attempt.
        if let Some(s) = st
            && s.last_flags & HAS_PLACE != 0
            && s.last_flags & VIA_EGRESS == 0
            && let Some(here) = geo.coords
            && !self.vpn.contains(req.ip)
        {
            let km = haversine_km((s.last_lat, s.last_lon), here);
            if km >= p.travel_min_km {
                let dt = (now - s.last_ts).abs().max(60);
                let kmh = km / (dt as f64 / 3600.0);
                if kmh > p.max_speed_kmh {
                    let precise = s.last_flags & PRECISE != 0 && geo.precise;
                    let (score, note) = if precise {
                        (w.impossible_travel, "")
                    } else {
                        (
                            (f64::from(w.impossible_travel) * 0.6).round() as u8,
                            " (country centroids only: lower confidence, score ×0.6)",
                        )
                    };
                    let from = std::str::from_utf8(&s.last_country).unwrap_or("??");
                    let to = match geo.city {
                        Some(c) => format!("{c}, {}", geo.country_str()),
                        None => geo.country_str().to_string(),
                    };
                    add(
                        "impossible_travel",
                        score,
                        format!(
                            "travel {} km in {} = {} km/h from {from} to {to} (max {} km/h){note}",
                            thousands(km),
                            duration(now - s.last_ts),
                            thousands(kmh),
                            thousands(p.max_speed_kmh)
                        ),
                    );
                }
            }
        }

        // Unusual hour of week.
        if let Some(s) = st
            && s.confirmed >= p.hour_warmup_logins
            && s.hours_total > 0
        {
            let h = how(&req.timestamp);
            let near: u32 = [167, 0, 1]
                .iter()
                .map(|d| u32::from(s.hours[(h + d) % 168]))
                .sum();
            let hod = h % 24;
            let mut day_hour = 0u32;
            for day in 0..7 {
                for d in [23, 0, 1] {
                    day_hour += u32::from(s.hours[day * 24 + (hod + d) % 24]);
                }
            }
            if near == 0 && day_hour * 50 < s.hours_total {
                add(
                    "unusual_hour",
                    w.unusual_hour,
                    format!(
                        "login {} {:02}:00 UTC: none of {user}'s last {} confirmed logins within ±1 h of this hour of week, {day_hour} within ±1 h of this hour of day",
                        DAYS[h / 24],
                        hod,
                        s.hours_total
                    ),
                );
            }
        }

        // Failure velocity: user, IP, spraying.
        if let Some(f) = self.user_fails.get(&uh) {
            let n = f.count(now32, p.user_fail_window_secs);
            if n >= p.user_fail_threshold {
                add(
                    "user_failures",
                    w.user_failures,
                    format!(
                        "{n} failed attempts for {user} in the last {} (threshold {})",
                        duration(i64::from(p.user_fail_window_secs)),
                        p.user_fail_threshold
                    ),
                );
            }
        }
        if let Some(f) = self.ip_fails.get(&ip_key(req.ip)) {
            let n = f.count(now32, p.ip_fail_window_secs);
            if n >= p.ip_fail_threshold {
                add(
                    "ip_failures",
                    w.ip_failures,
                    format!(
                        "{n} failed attempts from {} in the last {} (threshold {})",
                        req.ip,
                        duration(i64::from(p.ip_fail_window_secs)),
                        p.ip_fail_threshold
                    ),
                );
            }
            let users = f.distinct_users(now32, p.spray_window_secs);
            if users >= p.spray_min_users {
                add(
                    "password_spraying",
                    w.password_spraying,
                    format!(
                        "{} failed for {users} distinct users in the last {} (threshold {})",
                        req.ip,
                        duration(i64::from(p.spray_window_secs)),
                        p.spray_min_users
                    ),
                );
            }
        }

        // Credential stuffing campaign (global), applied to logins from an IP new for the user.
        if let Some(c) = self.stuffing.campaign
            && ip_is_new
            && now >= c.at - i64::from(p.stuffing_window_secs)
            && now - c.at < i64::from(p.stuffing_window_secs)
        {
            add(
                "credential_stuffing",
                w.credential_stuffing,
                format!(
                    "credential stuffing campaign under way: {} failures over {} users from {} IPs in {}, {}% success; {} is new for {user}",
                    c.failures,
                    c.users,
                    c.ips,
                    duration(i64::from(p.stuffing_window_secs)),
                    c.success_pct,
                    req.ip
                ),
            );
        }

        for (name, weight, set) in &self.threats {
            if set.contains(req.ip) {
                add(
                    "threat_list",
                    *weight,
                    format!("{} is on the {name:?} list", req.ip),
                );
            }
        }

        match ua::check(&req.user_agent, p.ua_max_major) {
            Some(UaFinding::Automation(what)) => add(
                "ua_automation",
                w.ua_automation,
                format!("user agent is an automation client ({what:?})"),
            ),
            Some(UaFinding::ImpossibleVersion { token, major }) => add(
                "ua_impossible",
                w.ua_impossible,
                format!(
                    "impossible browser version {token}{major} (max {})",
                    p.ua_max_major
                ),
            ),
            Some(UaFinding::Empty) => {
                add("ua_impossible", w.ua_impossible, "empty user agent".into())
            }
            None => {}
        }

        let risk = reasons
            .iter()
            .map(|r| u32::from(r.score))
            .sum::<u32>()
            .min(100) as u8;
        let t = p.thresholds_for(req.app.as_deref());
        let mut decision = if risk >= t.deny_at {
            Decision::Deny
        } else if risk >= t.challenge_at {
            Decision::Challenge
        } else {
            Decision::Allow
        };
        let mut note = |signal: &str, evidence: String| {
            reasons.push(Reason {
                signal: signal.to_string(),
                score: 0,
                evidence,
            })
        };
        if p.step_up && decision == Decision::Deny && risk < p.step_up_deny_at {
            decision = Decision::Challenge;
            note(
                "step_up",
                format!(
                    "risk {risk} ≥ deny_at {}: step-up asks for MFA first (deny only at ≥ {})",
                    t.deny_at, p.step_up_deny_at
                ),
            );
        }
        if self.allow_users.contains(&uh) || self.allow_cidrs.contains(req.ip) {
            if decision != Decision::Allow {
                decision = Decision::Allow;
            }
            note(
                "always_allow",
                format!("{user} or {} is on the always-allow list", req.ip),
            );
        }
        if self.challenge_users.contains(&uh) || self.challenge_cidrs.contains(req.ip) {
            if decision == Decision::Allow {
                decision = Decision::Challenge;
            }
            note(
                "always_challenge",
                format!("{user} or {} is on the always-challenge list", req.ip),
            );
        }
        Assessment {
            decision,
            risk,
            reasons,
        }
    }

    /// Assesses and, when `req.outcome` is set, learns from it (the API's one-call form).
    pub fn observe(&mut self, req: &Request) -> Assessment {
        let a = self.assess(req);
        if let Some(o) = req.outcome {
            self.outcome(req, o);
        }
        a
    }

    /// Learns what happened: confirmed logins (success, MFA passed) update the user's profile;
    /// failures (wrong password, MFA failed) feed the velocity, spraying and stuffing windows.
    pub fn outcome(&mut self, req: &Request, outcome: Outcome) {
        let now = req.timestamp.timestamp();
        self.count_attempt(now, outcome.is_confirmed());
        if outcome.is_confirmed() {
            self.learn(req);
        } else {
            self.fail(req, now);
        }
    }

    fn count_attempt(&mut self, now: i64, success: bool) {
        let minute = now.div_euclid(60);
        let slot = &mut self.stuffing.minutes[minute.rem_euclid(MINUTES as i64) as usize];
        if slot.0 != minute {
            *slot = (minute, 0, 0);
        }
        slot.1 += 1;
        if success {
            slot.2 += 1;
        }
    }

    fn learn(&mut self, req: &Request) {
        let uh = self.h64(&req.user);
        let dev = req.device_id.as_deref().map(|d| self.h32(d));
        let iph = self.ip32(req.ip);
        let via_egress = self.vpn.contains(req.ip);
        let geo = self.locate(req.ip);
        let (country, asn, coords, precise) = (geo.country, geo.asn, geo.coords, geo.precise);
        let peer = self.peer_of.get(&uh).copied();
        if self.users.len() >= self.max_users && !self.users.contains_key(&uh) {
            self.refused += 1;
            return;
        }
        self.generation += 1;
        let s = self.users.entry(uh).or_default();
        if let Some(d) = dev {
            s.devices.insert(d);
        }
        s.ips.insert(iph);
        if let Some(a) = asn {
            s.asns.insert(a);
        }
        let mut new_country = None;
        if let Some(c) = country {
            if !s.has_country(c) {
                new_country = Some(c);
            }
            s.add_country(c);
        }
        s.add_hour(how(&req.timestamp));
        s.confirmed = s.confirmed.saturating_add(1);
        let now = req.timestamp.timestamp();
        if now >= s.last_ts || s.last_flags & HAS_PLACE == 0 {
            s.last_ts = now;
            s.last_flags = 0;
            if let Some((la, lo)) = coords {
                s.last_lat = la;
                s.last_lon = lo;
                s.last_flags |= HAS_PLACE;
                if precise {
                    s.last_flags |= PRECISE;
                }
            }
            if via_egress {
                s.last_flags |= VIA_EGRESS;
            }
            s.last_country = country.unwrap_or(*b"??");
        }
        if let (Some(g), Some(c)) = (peer, new_country) {
            *self
                .peer_countries
                .entry((g, u16::from_be_bytes(c)))
                .or_default() += 1;
        }
    }

    fn fail(&mut self, req: &Request, now: i64) {
        let uh = self.h64(&req.user);
        let u32h = uh as u32;
        let iph = self.ip32(req.ip);
        let t = secs32(now);
        self.user_fails.entry(uh).or_default().push(t, u32h);
        self.ip_fails
            .entry(ip_key(req.ip))
            .or_default()
            .push(t, u32h);
        let sf = &mut self.stuffing;
        sf.ring[sf.pos] = (t, u32h, iph);
        sf.pos = (sf.pos + 1) % STUFF_RING;
        self.evaluate_campaign(now);
        if self.user_fails.len() + self.ip_fails.len() > self.prune_at {
            self.prune(now);
        }
    }

    fn evaluate_campaign(&mut self, now: i64) {
        let p = &self.policy;
        let window = p.stuffing_window_secs;
        let now32 = secs32(now);
        let sf = &mut self.stuffing;
        let live = |t: u32| t != 0 && t <= now32 && now32 - t < window;
        let failures = sf.ring.iter().filter(|e| live(e.0)).count() as u32;
        let distinct = |scratch: &mut Vec<u32>, f: &dyn Fn(&(u32, u32, u32)) -> u32| {
            scratch.clear();
            scratch.extend(sf.ring.iter().filter(|e| live(e.0)).map(f));
            scratch.sort_unstable();
            scratch.dedup();
            scratch.len() as u32
        };
        let mut scratch = std::mem::take(&mut sf.scratch);
        let users = distinct(&mut scratch, &|e| e.1);
        let ips = distinct(&mut scratch, &|e| e.2);
        sf.scratch = scratch;
        let minute = now.div_euclid(60);
        let span = i64::from(window).div_euclid(60).max(1);
        let (mut attempts, mut successes) = (0u64, 0u64);
        for &(m, a, s) in &sf.minutes {
            if minute
                .checked_sub(m)
                .is_some_and(|d| (0..span).contains(&d))
            {
                attempts += u64::from(a);
                successes += u64::from(s);
            }
        }
        let rate = if attempts == 0 {
            0.0
        } else {
            successes as f64 / attempts as f64
        };
        if users >= p.stuffing_min_users
            && ips >= p.stuffing_min_ips
            && rate <= p.stuffing_max_success_rate
        {
            sf.campaign = Some(Campaign {
                at: now,
                failures,
                users,
                ips,
                success_pct: (rate * 100.0).round() as u32,
            });
        }
    }

    /// Drops failure windows with nothing recent, keeping memory bounded under botnets.
    fn prune(&mut self, now: i64) {
        let p = &self.policy;
        let keep = p
            .user_fail_window_secs
            .max(p.ip_fail_window_secs)
            .max(p.spray_window_secs);
        let now32 = secs32(now);
        let fresh = |f: &FailRing| now32.saturating_sub(f.newest()) < keep;
        self.user_fails.retain(|_, f| fresh(f));
        self.ip_fails.retain(|_, f| fresh(f));
        self.prune_at = (2 * (self.user_fails.len() + self.ip_fails.len())).max(4096);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(thousands(27_600.4), "27,600");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(duration(20 * 60), "20 min");
        assert_eq!(duration(30), "30 s");
    }
}

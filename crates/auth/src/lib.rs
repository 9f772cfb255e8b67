//! # palisade-auth — risk-based authentication
//!
//! Scores each login attempt from device, network, place, time and velocity and answers
//! **allow / challenge / deny** with a 0..=100 risk and every reason behind it, each naming its
//! signal and its evidence in words. A library: the HTTP endpoint lives in the server.
//!
//! ```no_run
//! use palisade_auth::{Engine, Geo, Policy, Request, Outcome};
//! let geo = Geo::open("GeoLite2-City.mmdb").ok();
//! let mut engine = Engine::new(Policy::default(), geo).unwrap();
//! # let req: Request = serde_json::from_str(r#"{"user":"alice","ip":"192.0.2.1",
//! #   "user_agent":"Mozilla/5.0","timestamp":"2026-01-01T09:00:00Z"}"#).unwrap();
//! let a = engine.assess(&req);          // never learns
//! engine.outcome(&req, Outcome::Success); // learns only from confirmed logins
//! ```
//!
//! ## Signals (weights are [`Weights`]; defaults in brackets)
//! - `new_device` [20], `new_ip` [5], `new_asn` [10], `new_country` [25]: not among the user's
//!   last 8 devices / 8 IPs / 4 ASNs / 8 countries of confirmed logins.
//! - `new_user` [5]: no confirmed login yet. **Warm-up:** a brand-new user's first login gets
//!   only this; novelty weights are then scaled by `confirmed / warmup_logins` (default 5) so
//!   the second login from a new phone is not a full alarm; `unusual_hour` waits for
//!   `hour_warmup_logins` (20).
//! - `impossible_travel` [50]: haversine distance / time between the last confirmed login and
//!   this attempt above `max_speed_kmh` (1000), ignoring distances under `travel_min_km` (300);
//!   not raised when either end is in `vpn_egress`; ×0.6 when a place is a country centroid.
//! - `unusual_hour` [15]: no confirmed login within ±1 h of this hour of week (UTC) and under 2 %
//!   within ±1 h of this hour of day.
//! - `user_failures` [30] (5 in 15 min), `ip_failures` [40] (20 in 10 min): brute force.
//! - `password_spraying` [60]: the IP failed for ≥ 10 distinct users in an hour.
//! - `credential_stuffing` [50]: globally, failures over ≥ 20 users from ≥ 10 IPs in 10 min with
//!   ≤ 20 % success: a campaign; raised for logins from an IP new for the user while it lasts.
//! - `threat_list` [per list, 40]: IP on a user-supplied CIDR list or a Tor exit list file.
//! - `ua_automation` [35] (HeadlessChrome, PhantomJS, python-requests, curl, …),
//!   `ua_impossible` [35] (e.g. `Chrome/999`, above `ua_max_major` 200; empty user agent).
//! - `peer_rarity` [15]: a new country for the user that no one in their peer group has used.
//!
//! The risk is the sum of the scores, capped at 100. Thresholds (challenge 40, deny 80) can be
//! set per app; `always_allow` / `always_challenge` lists of users and CIDRs override the
//! decision (always-challenge wins); step-up mode turns a deny into a challenge unless the risk
//! reaches `step_up_deny_at` (95).
//!
//! ## Memory
//! One [`state::UserState`] of [`state::USER_STATE_BYTES`] (312) bytes per user with a
//! confirmed login, plus its hash-table slot (8-byte key, 1 control byte, load slack):
//! at most 640 bytes per user in all (measured 525 on 10,000 users by `tests/memory.rs`). Failure windows
//! exist only for users/IPs that recently failed (264 bytes each) and are pruned.
//!
//! ## Persistence
//! [`Engine::save_profiles`] / [`Engine::restore_profiles`] write and read the profiles (and
//! the secret keys their hashes are made with) in the versioned binary layout of [`persist`],
//! [`persist::USER_RECORD`] bytes per user; `palisade serve` saves them with its baseline
//! snapshots.

mod centroids;
pub mod cidr;
mod engine;
mod error;
pub mod geo;
pub mod persist;
pub mod policy;
pub mod sim;
pub mod state;
mod types;
pub mod ua;

pub use cidr::CidrSet;
pub use engine::Engine;
pub use error::AuthError;
pub use geo::{Geo, GeoInfo, haversine_km};
pub use policy::{Members, Policy, ThreatList, Thresholds, Weights};
pub use types::{Assessment, Decision, Outcome, Reason, Request};

#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use palisade_auth::{Outcome, Request};
use std::path::PathBuf;

/// `../shared/data/<rel>` (from the workspace root). Missing: panics under `CI=true`, otherwise
/// prints a loud skip and returns `None`.
pub fn data(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../../shared/data")
        .join(rel);
    let alt = PathBuf::from("/work/shared/data").join(rel);
    for c in [p, alt] {
        if c.exists() {
            return Some(c);
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("test data ../shared/data/{rel} is missing (CI=true: not skipping)");
    }
    eprintln!("\n!!!!! SKIPPED: test data ../shared/data/{rel} is missing !!!!!\n");
    None
}

pub const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Monday 2026-01-05 09:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()
}

pub fn at(mins: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(mins)
}

pub fn req(user: &str, ip: &str, device: Option<&str>, ts: DateTime<Utc>) -> Request {
    Request {
        user: user.into(),
        ip: ip.parse().unwrap(),
        user_agent: CHROME.into(),
        device_id: device.map(Into::into),
        timestamp: ts,
        app: None,
        outcome: None,
    }
}

/// `n` confirmed weekday-morning logins (Mon–Fri 09:00) from one IP and device.
pub fn history(e: &mut palisade_auth::Engine, user: &str, ip: &str, device: &str, n: i64) {
    let mut day = 0;
    let mut done = 0;
    while done < n {
        let ts = t0() - Duration::days(60) + Duration::days(day);
        day += 1;
        if ts.format("%u").to_string().parse::<u32>().unwrap() > 5 {
            continue;
        }
        e.outcome(&req(user, ip, Some(device), ts), Outcome::Success);
        done += 1;
    }
}

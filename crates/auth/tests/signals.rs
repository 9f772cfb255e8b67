//! One test per signal and policy feature; each can fail.

mod common;
use common::*;

use palisade_auth::{Decision, Engine, Geo, Members, Outcome, Policy, ThreatList};

fn engine(p: Policy) -> Engine {
    Engine::new(p, None).unwrap()
}

fn city_geo() -> Option<Geo> {
    let p = data("maxmind-test-db/test-data/GeoIP2-City-Test.mmdb")?;
    Some(Geo::open(p).unwrap())
}

const LONDON: &str = "81.2.69.142";
const CHANGCHUN: &str = "175.16.199.1";
const MILTON_US: &str = "216.160.83.56";

#[test]
fn usual_login_is_allowed_below_challenge() {
    let mut e = engine(Policy::default());
    history(&mut e, "alice", "192.0.2.10", "laptop", 30);
    let a = e.assess(&req("alice", "192.0.2.10", Some("laptop"), t0()));
    assert_eq!(a.decision, Decision::Allow, "{a:?}");
    assert!(a.risk < 40 && a.reasons.is_empty(), "{a:?}");
}

#[test]
fn new_country_and_new_device_are_challenged() {
    let Some(geo) = city_geo() else { return };
    let mut e = Engine::new(Policy::default(), Some(geo)).unwrap();
    history(&mut e, "alice", LONDON, "laptop", 30);
    let a = e.assess(&req("alice", CHANGCHUN, Some("evil-phone"), t0()));
    assert_eq!(a.decision, Decision::Challenge, "{a:#?}");
    assert!(a.has("new_country") && a.has("new_device"), "{a:#?}");
    let r = a
        .reasons
        .iter()
        .find(|r| r.signal == "new_country")
        .unwrap();
    assert_eq!(r.evidence, "new country CN for alice (seen: GB)");
    // Same place and device: nothing.
    let a = e.assess(&req("alice", LONDON, Some("laptop"), t0()));
    assert_eq!(a.decision, Decision::Allow, "{a:#?}");
}

#[test]
fn impossible_travel_and_vpn_allowance() {
    let Some(_) = city_geo() else { return };
    let mut e = Engine::new(Policy::default(), city_geo()).unwrap();
    history(&mut e, "alice", LONDON, "laptop", 30);
    e.outcome(
        &req("alice", LONDON, Some("laptop"), at(0)),
        Outcome::Success,
    );
    let a = e.assess(&req("alice", MILTON_US, Some("laptop"), at(20)));
    let r = a
        .reasons
        .iter()
        .find(|r| r.signal == "impossible_travel")
        .unwrap_or_else(|| panic!("{a:#?}"));
    // London (51.5142, -0.0931) → Milton, WA (47.2513, -122.3149): ≈ 7,700 km in 20 min.
    assert!(r.evidence.starts_with("travel 7,"), "{}", r.evidence);
    assert!(
        r.evidence.contains("in 20 min") && r.evidence.contains("Milton"),
        "{}",
        r.evidence
    );
    assert_eq!(r.score, 50);
    assert!(a.decision != Decision::Allow);
    // 20 hours later the same trip is possible.
    let a = e.assess(&req("alice", MILTON_US, Some("laptop"), at(20 * 60)));
    assert!(!a.has("impossible_travel"), "{a:#?}");

    let p = Policy {
        vpn_egress: vec!["216.160.83.0/24".into()],
        ..Policy::default()
    };
    let mut e = Engine::new(p, city_geo()).unwrap();
    history(&mut e, "alice", LONDON, "laptop", 30);
    e.outcome(
        &req("alice", LONDON, Some("laptop"), at(0)),
        Outcome::Success,
    );
    let a = e.assess(&req("alice", MILTON_US, Some("laptop"), at(20)));
    assert!(!a.has("impossible_travel"), "{a:#?}");
}

#[test]
fn travel_with_country_centroids_has_lower_confidence() {
    let Some(p) = data("geoip/ip-location-db/geo-whois-asn-country-ipv4.mmdb") else {
        return;
    };
    let mut e = Engine::new(Policy::default(), Some(Geo::open(p).unwrap())).unwrap();
    // 8.8.8.8 (US), 1.1.1.1 (AU in whois-country data, or US): pick two far apart by lookup.
    history(&mut e, "bob", "8.8.8.8", "pc", 30);
    e.outcome(&req("bob", "8.8.8.8", Some("pc"), at(0)), Outcome::Success);
    let a = e.assess(&req("bob", "194.25.0.1", Some("pc"), at(30)));
    let r = a
        .reasons
        .iter()
        .find(|r| r.signal == "impossible_travel")
        .unwrap_or_else(|| panic!("{a:#?}"));
    assert!(r.evidence.contains("lower confidence"), "{}", r.evidence);
    assert_eq!(r.score, 30);
}

#[test]
fn password_spraying_from_one_ip() {
    let mut e = engine(Policy::default());
    let ip = "198.51.100.7";
    let mut last = None;
    for i in 0..20 {
        let r = req(&format!("user{i}"), ip, None, at(i / 2));
        let a = e.assess(&r);
        e.outcome(&r, Outcome::Failure);
        last = Some(a);
    }
    let a = last.unwrap();
    assert!(a.has("password_spraying"), "{a:#?}");
    assert_ne!(a.decision, Decision::Allow);
    // An hour after the last failure the window has passed.
    let a = e.assess(&req("user99", ip, None, at(71)));
    assert!(!a.has("password_spraying"), "{a:#?}");
}

#[test]
fn brute_force_velocity_per_user_and_per_ip() {
    let mut e = engine(Policy::default());
    history(&mut e, "bob", "192.0.2.20", "pc", 10);
    for i in 0..4 {
        e.outcome(
            &req("bob", &format!("203.0.113.{i}"), None, at(i)),
            Outcome::Failure,
        );
    }
    assert!(
        !e.assess(&req("bob", "192.0.2.20", Some("pc"), at(5)))
            .has("user_failures")
    );
    e.outcome(&req("bob", "203.0.113.9", None, at(5)), Outcome::Failure);
    let a = e.assess(&req("bob", "192.0.2.20", Some("pc"), at(6)));
    assert!(a.has("user_failures"), "{a:#?}");
    // Per IP: 20 failures from one address against one user.
    for i in 0..20 {
        e.outcome(
            &req("carol", "203.0.113.50", None, at(i / 4)),
            Outcome::Failure,
        );
    }
    let a = e.assess(&req("carol", "203.0.113.50", None, at(6)));
    assert!(
        a.has("ip_failures") && !a.has("password_spraying"),
        "{a:#?}"
    );
}

#[test]
fn credential_stuffing_campaign() {
    let mut e = engine(Policy::default());
    history(&mut e, "dave", "192.0.2.30", "pc", 10);
    for i in 0..30 {
        let r = req(
            &format!("victim{i}"),
            &format!("100.64.{}.{}", i / 200, i % 200 + 1),
            None,
            at(i / 6),
        );
        e.outcome(&r, Outcome::Failure);
    }
    let a = e.assess(&req("dave", "100.64.9.9", Some("pc"), at(6)));
    assert!(a.has("credential_stuffing"), "{a:#?}");
    assert_ne!(a.decision, Decision::Allow);
    // From dave's usual address: no.
    let a = e.assess(&req("dave", "192.0.2.30", Some("pc"), at(6)));
    assert!(!a.has("credential_stuffing"), "{a:#?}");

    // The same failures among many successes are not a campaign.
    let mut e = engine(Policy::default());
    for i in 0..30 {
        e.outcome(
            &req(
                &format!("victim{i}"),
                &format!("100.64.0.{}", i + 1),
                None,
                at(1),
            ),
            Outcome::Failure,
        );
        for j in 0..5 {
            e.outcome(
                &req(&format!("ok{i}-{j}"), "192.0.2.99", None, at(1)),
                Outcome::Success,
            );
        }
    }
    assert!(
        !e.assess(&req("x", "100.64.9.9", None, at(2)))
            .has("credential_stuffing")
    );
}

#[test]
fn user_agent_anomalies() {
    let e = engine(Policy::default());
    let mut r = req("alice", "192.0.2.1", None, t0());
    r.user_agent = CHROME.replace("Chrome/", "HeadlessChrome/");
    assert!(e.assess(&r).has("ua_automation"));
    r.user_agent = "python-requests/2.32.3".into();
    assert!(e.assess(&r).has("ua_automation"));
    r.user_agent = CHROME.replace("Chrome/131", "Chrome/999");
    let a = e.assess(&r);
    assert!(a.has("ua_impossible"), "{a:#?}");
    r.user_agent = CHROME.into();
    let a = e.assess(&r);
    assert!(!a.has("ua_impossible") && !a.has("ua_automation"));
}

#[test]
fn unusual_hour_after_warm_up() {
    let mut e = engine(Policy::default());
    history(&mut e, "erin", "192.0.2.40", "pc", 10);
    // Before hour warm-up (20): silent.
    let sunday_3am = t0() + chrono::Duration::days(6) - chrono::Duration::hours(6);
    assert!(
        !e.assess(&req("erin", "192.0.2.40", Some("pc"), sunday_3am))
            .has("unusual_hour")
    );
    history(&mut e, "erin", "192.0.2.40", "pc", 20);
    let a = e.assess(&req("erin", "192.0.2.40", Some("pc"), sunday_3am));
    assert!(a.has("unusual_hour"), "{a:#?}");
    assert!(
        !e.assess(&req("erin", "192.0.2.40", Some("pc"), at(30)))
            .has("unusual_hour")
    );
}

#[test]
fn warm_up_of_a_new_user() {
    let mut e = engine(Policy::default());
    let a = e.assess(&req("newbie", "192.0.2.50", Some("d1"), t0()));
    assert_eq!(a.decision, Decision::Allow);
    assert!(a.has("new_user") && !a.has("new_device"), "{a:#?}");
    e.outcome(
        &req("newbie", "192.0.2.50", Some("d1"), t0()),
        Outcome::Success,
    );
    let a = e.assess(&req("newbie", "192.0.2.50", Some("d2"), at(60)));
    let r = a.reasons.iter().find(|r| r.signal == "new_device").unwrap();
    assert_eq!(r.score, 4, "{r:?}"); // 20 × 1/5
    assert!(r.evidence.contains("warm-up"));
    // Failures do not teach: a device only seen in failures stays new.
    e.outcome(
        &req("newbie", "192.0.2.50", Some("d3"), at(61)),
        Outcome::Failure,
    );
    assert!(
        e.assess(&req("newbie", "192.0.2.50", Some("d3"), at(62)))
            .has("new_device")
    );
}

#[test]
fn always_allow_and_always_challenge() {
    let p = Policy {
        always_allow: Members {
            users: vec!["svc-backup".into()],
            cidrs: vec![],
        },
        always_challenge: Members {
            users: vec![],
            cidrs: vec!["192.0.2.0/28".into()],
        },
        ..Policy::default()
    };
    let mut e = engine(p);
    let mut r = req("svc-backup", "203.0.113.1", None, t0());
    r.user_agent = "curl/8.0".into();
    for i in 0..12 {
        e.outcome(
            &req(&format!("u{i}"), "203.0.113.1", None, t0()),
            Outcome::Failure,
        );
    }
    let a = e.assess(&r);
    assert!(a.risk >= 40 && a.has("always_allow"), "{a:#?}");
    assert_eq!(a.decision, Decision::Allow);
    history(&mut e, "frank", "192.0.2.5", "pc", 10);
    let a = e.assess(&req("frank", "192.0.2.5", Some("pc"), t0()));
    assert_eq!(a.decision, Decision::Challenge, "{a:#?}");
    assert!(a.has("always_challenge"));
}

#[test]
fn step_up_and_per_app_thresholds() {
    let mk = |step_up| {
        let mut p = Policy {
            step_up,
            ..Policy::default()
        };
        p.apps.insert(
            "admin".into(),
            palisade_auth::Thresholds {
                challenge_at: 10,
                deny_at: 50,
            },
        );
        let mut e = engine(p);
        history(&mut e, "gina", "192.0.2.60", "pc", 10);
        e
    };
    // Spraying 60 + new device 20 + new IP 5 = 85: deny, or challenge in step-up mode.
    let attack = |e: &mut Engine| {
        for i in 0..12 {
            e.outcome(
                &req(&format!("u{i}"), "203.0.113.7", None, t0()),
                Outcome::Failure,
            );
        }
        e.assess(&req("gina", "203.0.113.7", Some("other"), at(1)))
    };
    let mut e = mk(false);
    let a = attack(&mut e);
    assert!((80..95).contains(&a.risk), "{a:#?}");
    assert_eq!(a.decision, Decision::Deny);
    let mut e = mk(true);
    let a = attack(&mut e);
    assert_eq!(a.decision, Decision::Challenge, "{a:#?}");
    assert!(a.has("step_up"));

    let mut r = req("gina", "192.0.2.60", Some("new-phone"), t0());
    assert_eq!(e.assess(&r).decision, Decision::Allow);
    r.app = Some("admin".into());
    assert_eq!(e.assess(&r).decision, Decision::Challenge);
}

#[test]
fn threat_lists_from_file_and_inline() {
    let dir = std::env::temp_dir().join(format!("palisade-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("tor.txt");
    std::fs::write(
        &f,
        "# Tor exits\n185.220.101.1\n\nExitAddress 185.220.101.2 2026-01-01 00:00:00\n",
    )
    .unwrap();
    let p = Policy {
        threat_lists: vec![
            ThreatList {
                name: "tor_exit".into(),
                weight: 40,
                cidrs: vec![],
                file: Some(f.clone()),
            },
            ThreatList {
                name: "bad_hosting".into(),
                weight: 30,
                cidrs: vec!["198.18.0.0/15".into()],
                file: None,
            },
        ],
        ..Policy::default()
    };
    let e = engine(p.clone());
    for ip in ["185.220.101.1", "185.220.101.2", "198.19.4.4"] {
        assert!(
            e.assess(&req("a", ip, None, t0())).has("threat_list"),
            "{ip}"
        );
    }
    assert!(
        !e.assess(&req("a", "185.220.101.3", None, t0()))
            .has("threat_list")
    );
    std::fs::write(&f, "185.220.101.1\nnot-an-ip\n").unwrap();
    let err = Engine::new(p, None).unwrap_err().to_string();
    assert!(err.contains("tor.txt:2"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn peer_group_rarity() {
    let Some(geo) = city_geo() else { return };
    let mut p = Policy::default();
    p.peer_groups
        .insert("finance".into(), vec!["hana".into(), "ivan".into()]);
    let mut e = Engine::new(p, Some(geo)).unwrap();
    history(&mut e, "hana", LONDON, "pc", 10);
    history(&mut e, "ivan", LONDON, "pc", 10);
    let a = e.assess(&req("hana", CHANGCHUN, Some("pc"), t0()));
    assert!(a.has("peer_rarity"), "{a:#?}");
    e.outcome(&req("ivan", CHANGCHUN, Some("pc"), t0()), Outcome::Success);
    let a = e.assess(&req("hana", CHANGCHUN, Some("pc"), at(2000)));
    assert!(a.has("new_country") && !a.has("peer_rarity"), "{a:#?}");
}

#[test]
fn request_json_shape() {
    let r: palisade_auth::Request = serde_json::from_str(
        r#"{"user":"alice","ip":"2001:db8::1","user_agent":"x","device_id":"d","timestamp":"2026-01-05T09:00:00Z","app":"vpn","outcome":"mfa_passed"}"#,
    )
    .unwrap();
    assert_eq!(r.outcome, Some(Outcome::MfaPassed));
    let mut e = engine(Policy::default());
    let a = e.observe(&r);
    assert_eq!(e.users(), 1);
    let j = serde_json::to_value(&a).unwrap();
    assert_eq!(j["decision"], "allow");
    assert!(j["reasons"][0]["signal"].is_string());
}

#[test]
fn a_full_profile_table_refuses_new_users_but_keeps_learning_known_ones() {
    let mut e = engine(Policy::default());
    e.set_max_users(2);
    history(&mut e, "alice", "192.0.2.10", "laptop", 3);
    history(&mut e, "bob", "192.0.2.11", "laptop", 3);
    history(&mut e, "carol", "192.0.2.12", "laptop", 3);
    assert_eq!(e.users(), 2);
    assert_eq!(e.refused_users(), 3);
    // Carol stays a new user; Alice keeps learning.
    let a = e.assess(&req("carol", "192.0.2.12", Some("laptop"), t0()));
    assert!(a.has("new_user"), "{a:?}");
    history(&mut e, "alice", "192.0.2.10", "laptop", 30);
    let a = e.assess(&req("alice", "192.0.2.10", Some("laptop"), t0()));
    assert!(a.reasons.is_empty(), "{a:?}");
}

//! assess/outcome never panic on arbitrary users, addresses, user agents, devices and times.

mod common;

use chrono::DateTime;
use palisade_auth::{Engine, Geo, Members, Outcome, Policy, Request};
use proptest::prelude::*;
use std::net::IpAddr;

fn engine() -> Engine {
    let geo = common::data("maxmind-test-db/test-data/GeoIP2-City-Test.mmdb")
        .map(|p| Geo::open(p).unwrap());
    let p = Policy {
        vpn_egress: vec!["10.0.0.0/8".into()],
        always_challenge: Members {
            users: vec!["x".into()],
            cidrs: vec!["::/0".into()],
        },
        step_up: true,
        ..Policy::default()
    };
    Engine::new(p, geo).unwrap()
}

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|v| IpAddr::from(std::net::Ipv4Addr::from(v))),
        any::<u128>().prop_map(|v| IpAddr::from(std::net::Ipv6Addr::from(v))),
        Just("81.2.69.142".parse().unwrap()),
        Just("216.160.83.56".parse().unwrap()),
    ]
}

fn arb_outcome() -> impl Strategy<Value = Option<Outcome>> {
    prop_oneof![
        Just(None),
        Just(Some(Outcome::Success)),
        Just(Some(Outcome::Failure)),
        Just(Some(Outcome::MfaPassed)),
        Just(Some(Outcome::MfaFailed)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn never_panics(
        reqs in proptest::collection::vec(
            (".{0,12}", arb_ip(), ".{0,40}", proptest::option::of(".{0,8}"),
             -62_000_000_000i64..250_000_000_000i64, proptest::option::of("[a-z]{0,3}"), arb_outcome()),
            1..40)
    ) {
        let mut e = engine();
        for (user, ip, ua, dev, secs, app, outcome) in reqs {
            let Some(ts) = DateTime::from_timestamp(secs, 0) else { continue };
            let r = Request { user, ip, user_agent: ua, device_id: dev, timestamp: ts, app, outcome };
            let a = e.observe(&r);
            prop_assert!(a.risk <= 100);
            prop_assert!(a.reasons.iter().all(|r| !r.evidence.is_empty() && !r.signal.is_empty()));
        }
    }
}

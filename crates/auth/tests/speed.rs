//! In-process assess latency with 1,000,000 users of state — a measurement for BENCHMARKS.md,
//! printed, never asserted. Ignored by default (slow in debug):
//! `cargo nextest run -p palisade-auth --release --run-ignored only -E 'test(p99)' --no-capture`

mod common;

use palisade_auth::{Engine, Geo, Outcome, Policy};
use std::time::Instant;

#[test]
#[ignore = "speed measurement: run in release"]
fn assess_p99_with_a_million_users() {
    let geo = common::data("geoip/ip-location-db/geo-whois-asn-country-ipv4.mmdb")
        .map(|p| Geo::open(p).unwrap());
    let mut e = Engine::new(Policy::default(), geo).unwrap();
    const USERS: u32 = 1_000_000;
    e.reserve_users(USERS as usize);
    let mut r = common::req("u", "1.2.3.4", Some("d"), common::t0());
    for i in 0..USERS {
        r.user.clear();
        r.user.push_str(&format!("user{i}"));
        r.ip = std::net::Ipv4Addr::from(
            0x0800_0000u32.wrapping_add(i.wrapping_mul(2_654_435_761) >> 4),
        )
        .into();
        r.device_id = Some(format!("dev{}", i % 1000));
        e.outcome(&r, Outcome::Success);
    }
    let mut lat = Vec::with_capacity(100_000);
    for i in 0..100_000u32 {
        let u = i.wrapping_mul(7919) % USERS;
        r.user = format!("user{u}");
        r.ip = std::net::Ipv4Addr::from(0x0800_0000u32.wrapping_add(i.wrapping_mul(40_503) << 3))
            .into();
        let t = Instant::now();
        let a = e.assess(&r);
        lat.push(t.elapsed().as_nanos() as u64);
        std::hint::black_box(a);
    }
    lat.sort_unstable();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)] as f64 / 1000.0;
    eprintln!(
        "assess with {} users: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, profile bytes {}",
        e.users(),
        p(0.5),
        p(0.99),
        p(0.999),
        e.profile_bytes()
    );
    // A measurement, not a check: the figure goes to BENCHMARKS.md (speed is never asserted).
    assert_eq!(
        e.users(),
        USERS as usize,
        "every simulated user has a profile"
    );
}

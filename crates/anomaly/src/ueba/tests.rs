use super::*;

use chrono::NaiveDate;
use palisade_event::{Origin, Severity};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const H: i64 = 3600;
const D: i64 = 86_400;

/// Monday 2026-01-05 00:00 UTC.
fn t0() -> i64 {
    NaiveDate::from_ymd_opt(2026, 1, 5)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp()
}

fn ev(ts: i64, fields: &[(&str, &str)]) -> Event {
    let mut e = Event::new(Origin::default(), "test");
    for (k, v) in fields {
        e.insert_named(k, (*v).into()).unwrap();
    }
    e.timestamp = DateTime::from_timestamp(ts, 0);
    e
}

fn login(ts: i64, user: &str, ip: &str, country: &str, asn: &str) -> Event {
    ev(
        ts,
        &[
            ("user.name", user),
            ("source.ip", ip),
            ("source.geo.country_iso_code", country),
            ("source.as.number", asn),
            ("user_agent.original", "Mozilla/5.0 (laptop-a)"),
            ("host.name", "vpn1"),
            ("event.category", "authentication"),
            ("event.outcome", "success"),
        ],
    )
}

/// Alice logs in on weekdays between 09:00 and 17:00 from two US addresses for `days` days.
fn train_alice(u: &mut Ueba, days: i64, out: &mut Vec<Alert>) {
    for d in 0..days {
        if (d % 7) >= 5 {
            continue;
        }
        for h in 9..17 {
            let ip = if h % 2 == 0 { "10.0.0.1" } else { "10.0.0.2" };
            u.observe(
                &login(t0() + d * D + h * H + 600, "alice", ip, "US", "7018"),
                out,
            );
        }
    }
}

fn get<'a>(a: &'a Alert, k: &str) -> Option<&'a str> {
    a.evidence
        .iter()
        .find(|(kk, _)| kk == k)
        .map(|(_, v)| v.as_str())
}

fn well_formed(a: &Alert) {
    assert_eq!(a.detector, "ueba");
    assert!(a.rule.id.starts_with("ueba."), "{}", a.rule.id);
    assert!(a.rule.tags.iter().any(|t| t.starts_with("attack.")));
    let s: f64 = get(a, "score").unwrap().parse().unwrap();
    assert!((0.0..=1.0).contains(&s));
    let ex = get(a, "explanation").unwrap();
    assert!(ex.contains(": ") && !ex.is_empty(), "{ex}");
    assert!(a.event.is_some() && a.timestamp.is_some());
    for k in [
        "feature",
        "observed",
        "expected",
        "rarity",
        "baseline_events",
    ] {
        assert!(get(a, k).is_some(), "missing {k} in {:?}", a.evidence);
    }
}

#[test]
fn warm_up_suppresses_alerts() {
    let mut u = Ueba::new(UebaConfig::default()).unwrap();
    let mut out = Vec::new();
    // Five days: 40 events, but fewer than the 7 days of warm-up.
    train_alice(&mut u, 5, &mut out);
    assert!(out.is_empty());
    u.observe(
        &login(t0() + 5 * D + 3 * H, "alice", "200.1.1.1", "BR", "28573"),
        &mut out,
    );
    assert!(out.is_empty(), "{:?}", out.first().map(|a| &a.evidence));
    let p = u.profile(EntityKind::User, "alice").unwrap();
    assert!(!p.warm);
    // The same anomaly after warm-up does alert (so this test can fail).
    let mut u = Ueba::new(UebaConfig::default()).unwrap();
    train_alice(&mut u, 21, &mut out);
    u.observe(
        &login(t0() + 22 * D + 3 * H, "alice", "200.1.1.1", "BR", "28573"),
        &mut out,
    );
    assert_eq!(out.len(), 1);
}

#[test]
fn new_country_after_warm_up_explains_itself() {
    let mut u = Ueba::new(UebaConfig::default()).unwrap();
    let mut out = Vec::new();
    train_alice(&mut u, 21, &mut out);
    assert!(out.is_empty(), "{:?}", out.first().map(|a| &a.evidence));
    // Tuesday of the fourth week, 03:12.
    let t = t0() + 22 * D + 3 * H + 12 * 60;
    u.observe(&login(t, "alice", "200.1.1.1", "BR", "28573"), &mut out);
    assert_eq!(out.len(), 1, "one combined alert, not one per finding");
    let a = &out[0];
    well_formed(a);
    assert_eq!(a.rule.id, "ueba.new_country");
    let ex = get(a, "explanation").unwrap();
    println!("{ex}");
    assert!(
        ex.starts_with("alice: first login from country BR in 22 days"),
        "{ex}"
    );
    assert!(ex.contains("usual hours 09–17, this one 03:12"), "{ex}");
    assert!(ex.contains("first login from ASN 28573"), "{ex}");
    assert_eq!(get(a, "feature"), Some("country"));
    assert_eq!(get(a, "value"), Some("BR"));
    assert_eq!(get(a, "days_since_last_seen"), Some("never"));
    assert_eq!(get(a, "baseline_events"), Some("120"));
    assert!(a.severity >= Severity::High, "{:?}", a.severity);
    assert_eq!(a.host.as_deref(), Some("vpn1"));
    // Cooldown: the same login again an hour later raises nothing new for BR.
    u.observe(&login(t + H, "alice", "200.1.1.1", "BR", "28573"), &mut out);
    assert_eq!(out.len(), 1, "{:?}", out.get(1).map(|a| &a.evidence));
}

#[test]
fn unusual_hour_alone() {
    let mut u = Ueba::new(UebaConfig::default()).unwrap();
    let mut out = Vec::new();
    train_alice(&mut u, 21, &mut out);
    u.observe(
        &login(
            t0() + 22 * D + 3 * H + 12 * 60,
            "alice",
            "10.0.0.1",
            "US",
            "7018",
        ),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    let a = &out[0];
    well_formed(a);
    assert_eq!(a.rule.id, "ueba.unusual_hour");
    assert_eq!(
        get(a, "explanation"),
        Some("alice: usual hours 09–17, this one 03:12")
    );
    // A usual hour does not alert.
    u.observe(
        &login(t0() + 22 * D + 11 * H, "alice", "10.0.0.2", "US", "7018"),
        &mut out,
    );
    assert_eq!(out.len(), 1);
}

#[test]
fn rate_spike() {
    let mut u = Ueba::new(UebaConfig::default()).unwrap();
    let mut out = Vec::new();
    let conn = |t: i64| {
        ev(
            t,
            &[
                ("user.name", "svc-backup"),
                ("source.ip", "10.9.9.9"),
                ("event.category", "authentication"),
            ],
        )
    };
    // Two events an hour, around the clock, for ten days.
    let mut t = t0();
    while t < t0() + 10 * D {
        u.observe(&conn(t), &mut out);
        t += 30 * 60;
    }
    assert!(out.is_empty(), "{:?}", out.first().map(|a| &a.evidence));
    for i in 0..200 {
        u.observe(&conn(t + i * 10), &mut out);
    }
    assert_eq!(out.len(), 1, "cooldown keeps it to one alert");
    let a = &out[0];
    well_formed(a);
    assert_eq!(a.rule.id, "ueba.rate_spike");
    let ex = get(a, "explanation").unwrap();
    println!("{ex}");
    assert!(
        ex.contains("source ip 10.9.9.9: 30 events this hour"),
        "{ex}"
    );
}

#[test]
fn forgotten_values_become_new_again() {
    let cfg = UebaConfig {
        half_life_days: 2.0,
        ..UebaConfig::default()
    };
    let run = |gap_days: i64| -> Vec<Alert> {
        let mut u = Ueba::new(cfg.clone()).unwrap();
        let mut out = Vec::new();
        let mut day = 0;
        // Every day 09–17: US; on days 0..3 also one login from DE at 10:30.
        while day < 40 {
            for h in 9..17 {
                u.observe(
                    &login(t0() + day * D + h * H, "alice", "10.0.0.1", "US", "7018"),
                    &mut out,
                );
            }
            if day < 3 || day >= 40 - (30 - gap_days) {
                u.observe(
                    &login(
                        t0() + day * D + 10 * H + 1800,
                        "alice",
                        "10.0.0.1",
                        "DE",
                        "7018",
                    ),
                    &mut out,
                );
            }
            day += 1;
        }
        out.clear();
        u.observe(
            &login(t0() + 40 * D + 11 * H, "alice", "10.0.0.1", "DE", "7018"),
            &mut out,
        );
        out
    };
    // DE last seen on day 2, asked on day 40: 19 half-lives later it is new again.
    let out = run(30);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].rule.id, "ueba.new_country");
    let ex = get(&out[0], "explanation").unwrap();
    println!("{ex}");
    assert!(
        ex.starts_with("alice: first login from country DE in 38 days"),
        "{ex}"
    );
    // DE seen in the last days: neither new nor rare.
    let out = run(27);
    assert!(out.is_empty(), "{:?}", out.first().map(|a| &a.evidence));
}

#[test]
fn eviction_bounds_entity_count() {
    let cfg = UebaConfig {
        max_entities: 1000,
        ..UebaConfig::default()
    };
    let mut u = Ueba::new(cfg).unwrap();
    let mut out = Vec::new();
    for i in 0..5000 {
        u.observe(
            &ev(t0() + i, &[("user.name", &format!("user{i}"))]),
            &mut out,
        );
        assert!(u.entity_count() <= 1000);
    }
    assert!(u.evictions() >= 4000);
    assert!(u.profile(EntityKind::User, "user4999").is_some());
    assert!(u.profile(EntityKind::User, "user0").is_none());
}

/// Fills `n` users with every relation, full top-k and maximal labels.
fn worst_case_users(u: &mut Ueba, n: usize) {
    let mut out = Vec::new();
    let pad = "x".repeat(60);
    for i in 0..n {
        for j in 0..12 {
            let user = format!("user-{i}");
            let ip = format!("2001:db8:{i:x}:{j:x}::1234:5678:9abc");
            let country = format!("C{j}");
            let asn = format!("{}", 64_000 + j);
            let device = format!("device-{j}-{pad}");
            let host = format!("host-{j}-{pad}");
            let e = ev(
                t0() + (j as i64) * 3 * H + i as i64,
                &[
                    ("user.name", &user),
                    ("source.ip", &ip),
                    ("source.geo.country_iso_code", &country),
                    ("source.as.number", &asn),
                    ("device.id", &device),
                    ("host.name", &host),
                ],
            );
            u.observe(&e, &mut out);
        }
    }
}

#[test]
fn byte_budget_per_entity() {
    let mut u = Ueba::new(UebaConfig::default()).unwrap();
    worst_case_users(&mut u, 2000);
    let slot = std::mem::size_of::<(u64, Box<profile::Entity>)>() + 1;
    let mut worst = 0;
    for e in u.entities.values().filter(|e| e.kind == EntityKind::User) {
        assert_eq!(e.rels.len(), 5);
        assert!(e.rels.iter().all(|r| r.top.len() == 3));
        worst = worst.max(std::mem::size_of::<profile::Entity>() + e.heap_bytes() + slot);
    }
    let users = 2000;
    let per = u.approx_bytes() as f64 / u.entity_count() as f64;
    println!(
        "inline Entity {} B, worst user {} B, average over {} entities ({} users) {:.0} B",
        std::mem::size_of::<profile::Entity>(),
        worst,
        u.entity_count(),
        users,
        per
    );
    assert!(worst <= 4096, "worst user entity takes {worst} bytes");
    assert!(per <= 4096.0);
}

/// A seeded mixed stream: users with habits, occasional travel, bursts and process events.
fn stream(seed: u64, n: usize) -> Vec<Event> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let countries = ["US", "US", "US", "DE", "BR", "CN"];
    let procs = ["/usr/bin/ssh", "/bin/bash", "/usr/bin/python3", "/tmp/x"];
    let mut out = Vec::with_capacity(n);
    let mut t = t0();
    for i in 0..n {
        t += rng.random_range(0..900);
        let u = rng.random_range(0..20);
        let hour = (t / H) % 24;
        let odd = rng.random_range(0..100) < 2;
        let user = format!("u{u}");
        let ip = format!("10.0.{}.{}", u, rng.random_range(0..3));
        let country = if odd {
            countries[rng.random_range(0..countries.len())]
        } else {
            "US"
        };
        let host = format!("h{}", rng.random_range(0..5));
        let burst = (t / D) % 9 == 5 && u == 3;
        let mut fields: Vec<(&str, String)> = vec![
            ("user.name", user),
            ("source.ip", ip),
            ("source.geo.country_iso_code", country.into()),
            ("host.name", host),
            ("event.category", "authentication".into()),
        ];
        if i % 3 == 0 {
            fields.push((
                "process.executable",
                procs[rng.random_range(0..procs.len())].into(),
            ));
            fields.push(("process.parent.executable", "/usr/sbin/sshd".into()));
            fields.push(("destination.port", rng.random_range(20..25).to_string()));
        }
        let _ = hour;
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        out.push(ev(t, &refs));
        if burst {
            for k in 0..40 {
                out.push(ev(t + k, &refs));
            }
        }
    }
    out
}

fn alert_key(a: &Alert) -> (String, Severity, Option<i64>, Vec<(String, String)>) {
    (
        a.rule.id.clone(),
        a.severity,
        a.timestamp.map(|t| t.timestamp()),
        a.evidence.clone(),
    )
}

fn small_cfg() -> UebaConfig {
    UebaConfig {
        warmup_min_events: 20,
        warmup_min_days: 2.0,
        learned_groups: 3,
        peer_recompute_hours: 12,
        peer_min_events: 50.0,
        peer_groups: [("u1".to_string(), "ops".to_string())].into(),
        ..UebaConfig::default()
    }
}

#[test]
fn snapshot_restore_mid_stream_changes_nothing() {
    let events = stream(42, 30_000);
    let cfg = small_cfg();
    let mut whole = Ueba::new(cfg.clone()).unwrap();
    let mut a1 = Vec::new();
    for e in &events {
        whole.observe(e, &mut a1);
    }
    let mut part = Ueba::new(cfg.clone()).unwrap();
    let mut a2 = Vec::new();
    let cut = events.len() / 2;
    for e in &events[..cut] {
        part.observe(e, &mut a2);
    }
    let bytes = part.snapshot();
    drop(part);
    let mut part = Ueba::restore(&bytes, cfg.clone()).unwrap();
    assert_eq!(
        part.snapshot(),
        bytes,
        "restore then snapshot is the identity"
    );
    for e in &events[cut..] {
        part.observe(e, &mut a2);
    }
    println!(
        "{} alerts; e.g. {:?}",
        a1.len(),
        a1.iter()
            .map(|a| get(a, "explanation").unwrap())
            .take(5)
            .collect::<Vec<_>>()
    );
    assert!(
        a1.len() > 10,
        "the stream must exercise alerts ({})",
        a1.len()
    );
    let kinds: std::collections::BTreeSet<&str> = a1.iter().map(|a| a.rule.id.as_str()).collect();
    println!("{kinds:?}");
    assert!(a1.iter().all(|a| !a.rule.id.is_empty()));
    assert_eq!(a1.len(), a2.len());
    for (x, y) in a1.iter().zip(&a2) {
        assert_eq!(alert_key(x), alert_key(y));
    }
    assert_eq!(whole.snapshot(), part.snapshot());
    for a in &a1 {
        well_formed(a);
    }
}

#[test]
fn snapshot_errors_are_clear() {
    let cfg = UebaConfig::default();
    let mut u = Ueba::new(cfg.clone()).unwrap();
    let mut out = Vec::new();
    train_alice(&mut u, 3, &mut out);
    let good = u.snapshot();
    assert!(matches!(
        Ueba::restore(b"nonsense", cfg.clone()),
        Err(UebaError::BadMagic)
    ));
    let mut v2 = good.clone();
    v2[8] = 2;
    let err = Ueba::restore(&v2, cfg.clone()).err().unwrap();
    assert!(matches!(
        err,
        UebaError::UnsupportedVersion {
            found: 2,
            supported: 1
        }
    ));
    assert!(
        err.to_string().contains("version 2 is not supported"),
        "{err}"
    );
    let other = UebaConfig {
        cms_width: 256,
        ..cfg.clone()
    };
    assert!(matches!(
        Ueba::restore(&good, other),
        Err(UebaError::Incompatible {
            knob: "cms_width",
            ..
        })
    ));
    assert!(Ueba::restore(&good[..good.len() - 3], cfg.clone()).is_err());
    let back = Ueba::restore(&good, cfg).unwrap();
    assert_eq!(back.entity_count(), u.entity_count());
    assert_eq!(
        back.profile(EntityKind::User, "alice"),
        u.profile(EntityKind::User, "alice")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(Ueba::restore(&bytes, UebaConfig::default()).is_err());
        let mut with_header = MAGIC.to_vec();
        with_header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        with_header.extend_from_slice(&bytes);
        let _ = Ueba::restore(&with_header, UebaConfig::default());
    }

    #[test]
    fn mutated_snapshots_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let good = good_snapshot();
        let mut b = good.to_vec();
        for (i, x) in flips {
            let i = 10 + i % (b.len() - 10);
            b[i] ^= x;
        }
        b.truncate(10 + cut % (b.len() - 9));
        if let Ok(mut u) = Ueba::restore(&b, UebaConfig::default()) {
            let mut out = Vec::new();
            u.observe(&login(t0() + 30 * D, "alice", "1.2.3.4", "BR", "1"), &mut out);
            let _ = u.profile(EntityKind::User, "alice");
            let _ = u.snapshot();
        }
    }
}

fn good_snapshot() -> &'static [u8] {
    static S: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        let mut u = Ueba::new(UebaConfig::default()).unwrap();
        let mut out = Vec::new();
        train_alice(&mut u, 10, &mut out);
        u.snapshot()
    })
}

#[test]
fn configured_peer_group_rarity() {
    let cfg = UebaConfig {
        peer_groups: (1..=6)
            .map(|i| (format!("user:f{i}"), "finance".to_string()))
            .collect(),
        learned_groups: 0,
        ..UebaConfig::default()
    };
    let mut u = Ueba::new(cfg).unwrap();
    let mut out = Vec::new();
    for d in 0..21 {
        for h in 9..17 {
            for i in 1..=6 {
                // f6 logged in from China once a week; nobody else ever does.
                let c = if i == 6 && h == 10 && d % 7 == 0 {
                    "CN"
                } else {
                    "US"
                };
                let user = format!("f{i}");
                u.observe(
                    &login(t0() + d * D + h * H + i * 60, &user, "10.0.0.1", c, "7018"),
                    &mut out,
                );
            }
        }
    }
    out.clear();
    u.observe(
        &login(t0() + 21 * D + 10 * H, "f6", "10.0.0.1", "CN", "7018"),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    let a = &out[0];
    well_formed(a);
    assert_eq!(a.rule.id, "ueba.peer_rare");
    assert_eq!(
        get(a, "explanation"),
        Some("f6: no one else in group finance has login from country CN")
    );
    assert_eq!(
        u.profile(EntityKind::User, "f6")
            .unwrap()
            .peer_group
            .as_deref(),
        Some("finance")
    );
    // A US login of a peer is ordinary.
    out.clear();
    u.observe(
        &login(t0() + 21 * D + 10 * H + 60, "f2", "10.0.0.1", "US", "7018"),
        &mut out,
    );
    assert!(out.is_empty());
}

#[test]
fn learned_peer_groups_and_profile_summary() {
    let cfg = UebaConfig {
        learned_groups: 2,
        ..UebaConfig::default()
    };
    let mut u = Ueba::new(cfg).unwrap();
    let mut out = Vec::new();
    for d in 0..10 {
        for i in 0..20 {
            let (from, to) = if i % 2 == 0 { (8, 16) } else { (16, 24) };
            for h in from..to {
                let user = format!("w{i}");
                u.observe(
                    &login(t0() + d * D + h * H + i, &user, "10.0.0.1", "US", "7018"),
                    &mut out,
                );
            }
        }
    }
    let g = |n: &str| u.profile(EntityKind::User, n).unwrap().peer_group;
    assert!(g("w0").is_some());
    assert_eq!(g("w0"), g("w2"));
    assert_eq!(g("w1"), g("w3"));
    assert_ne!(g("w0"), g("w1"));
    let p = u.profile(EntityKind::User, "w0").unwrap();
    assert_eq!(p.usual_hours.as_deref(), Some("08–16"));
    assert!(p.warm);
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.contains("\"value\":\"US\""), "{json}");
    let back: ProfileSummary = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
    assert!(u.profile(EntityKind::Host, "nope").is_none());
}

#[test]
fn openssh_loghub_sample() {
    let candidates = [
        std::env::var("PALISADE_DATA").unwrap_or_default(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data").to_string(),
        "/work/shared/data".to_string(),
    ];
    let path = candidates
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| std::path::Path::new(c).join("loghub/OpenSSH/OpenSSH_2k.log"))
        .find(|p| p.is_file());
    let Some(path) = path else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("loghub OpenSSH sample missing under CI");
        }
        eprintln!("SKIPPED openssh_loghub_sample: loghub/OpenSSH/OpenSSH_2k.log not found");
        return;
    };
    struct Collect(Vec<Event>);
    impl palisade_ingest::EventSink for Collect {
        fn events(&mut self, batch: &mut Vec<Event>) {
            self.0.append(batch);
        }
        fn warning(&mut self, _: palisade_ingest::RecordError) {}
    }
    let mut sink = Collect(Vec::new());
    let opts = palisade_ingest::IngestOptions {
        format: Some(palisade_ingest::Format::Syslog),
        ..Default::default()
    };
    palisade_ingest::read_input(
        &palisade_ingest::Input::Path(path.clone()),
        &opts,
        &mut sink,
    )
    .unwrap();
    let events = sink.0;
    assert!(events.len() > 1000);
    // The sample spans about a day and a half, so warm up quickly.
    let cfg = UebaConfig {
        warmup_min_events: 20,
        warmup_min_days: 0.1,
        rate_min_hours: 2,
        rate_min_count: 20,
        ..UebaConfig::default()
    };
    let mut u = Ueba::new(cfg.clone()).unwrap();
    let mut alerts = Vec::new();
    for e in &events {
        u.observe(e, &mut alerts);
    }
    println!(
        "{} events, {} entities, {} alerts, {} bytes",
        events.len(),
        u.entity_count(),
        alerts.len(),
        u.approx_bytes()
    );
    for a in alerts.iter().take(8) {
        println!("  [{}] {}", a.rule.id, get(a, "explanation").unwrap());
    }
    assert!(u.entity_count() > 10);
    assert!(u.profile(EntityKind::Host, "LabSZ").is_some());
    assert!(u.profile(EntityKind::Service, "sshd").is_some());
    for a in &alerts {
        well_formed(a);
    }
    assert!(
        !alerts.is_empty(),
        "brute force from a few addresses should stand out"
    );
    let back = Ueba::restore(&u.snapshot(), cfg).unwrap();
    assert_eq!(back.entity_count(), u.entity_count());
}

#[test]
fn silent_hours_fold_like_one_by_one() {
    // The closed form for runs of silent hours matches feeding the zeros one at a time.
    let (a_day, a_wd) = (0.05f32, 0.004f32);
    let mut fast = profile::Rate::default();
    let mut slow = profile::Rate::default();
    let mut hour = 500_000i64;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    for _ in 0..3000 {
        hour += rng.random_range(0..40);
        fast.count(hour, a_day, a_wd);
        // `slow` sees every silent hour as its own step.
        while slow.cur_hour != i64::MIN && slow.cur_hour + 1 < hour {
            let h = slow.cur_hour + 1;
            slow.count(h, a_day, a_wd);
            // `count` added one event to the silent hour; take it back.
            slow.cur_count -= 1;
        }
        slow.count(hour, a_day, a_wd);
    }
    assert_eq!(fast.folded, slow.folded);
    for i in 0..24 {
        assert!((fast.hod_mean[i] - slow.hod_mean[i]).abs() < 1e-3, "{i}");
        assert!((fast.hod_var[i] - slow.hod_var[i]).abs() < 1e-2, "{i}");
    }
    for i in 0..7 {
        assert!((fast.wd_mean[i] - slow.wd_mean[i]).abs() < 1e-3, "{i}");
    }
}

#[test]
fn config_round_trips_and_rejects_typos() {
    let cfg = UebaConfig::default();
    let json = serde_json::to_string(&cfg).unwrap();
    assert_eq!(serde_json::from_str::<UebaConfig>(&json).unwrap(), cfg);
    let partial: UebaConfig = serde_json::from_str(r#"{"half_life_days": 7}"#).unwrap();
    assert_eq!(partial.half_life_days, 7.0);
    assert_eq!(partial.top_k, cfg.top_k);
    assert!(serde_json::from_str::<UebaConfig>(r#"{"half_life": 7}"#).is_err());
    let bad = UebaConfig {
        cms_width: 100,
        ..UebaConfig::default()
    };
    assert!(matches!(Ueba::new(bad), Err(UebaError::Config(_))));
}

//! The stream's contract: time order, determinism, every line parsed by the ingest format it
//! is labelled with (to the same time and the fields the detectors read), and every attack
//! present once per campaign.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use palisade_event::Origin;
use palisade_sim::{Attack, SimConfig, SimRecord, Simulator, Source};

/// Two days with the campaign on the second, so the test is quick.
fn short() -> SimConfig {
    SimConfig {
        history: Duration::hours(24),
        ..SimConfig::default()
    }
}

fn take_days(cfg: &SimConfig, days: i64) -> Vec<SimRecord> {
    let until = cfg.start + Duration::days(days);
    Simulator::new(cfg.clone())
        .take_while(|r| r.time < until)
        .collect()
}

#[test]
fn records_are_in_time_order_and_deterministic() {
    let a = take_days(&short(), 2);
    assert!(a.len() > 5_000, "only {} records in two days", a.len());
    assert!(a.windows(2).all(|w| w[0].time <= w[1].time));
    assert_eq!(a, take_days(&short(), 2));
    let other = take_days(&SimConfig { seed: 2, ..short() }, 2);
    assert_ne!(
        a.len(),
        other.len(),
        "another seed should give other volumes"
    );
}

#[test]
fn every_line_parses_in_its_format() {
    let records = take_days(&short(), 2);
    let mut parsers: BTreeMap<Source, Box<dyn palisade_ingest::LineFormat>> = Source::ALL
        .into_iter()
        .map(|s| (s, s.format().line_parser().expect("line format")))
        .collect();
    for (n, r) in records.iter().enumerate() {
        assert_eq!(r.format, r.source.format());
        let sniffed = palisade_ingest::detect::sniff(r.line.as_bytes());
        assert_eq!(sniffed, Ok(r.format), "{}", r.line);
        let parser = parsers.get_mut(&r.source).expect("parser");
        let event = parser
            .parse_line(&r.line, Origin::new("sim".into(), n as u64 + 1))
            .unwrap_or_else(|e| panic!("{e:?}: {}", r.line))
            .expect("an event");
        let t = event.timestamp.expect("a timestamp");
        assert!(
            (t - r.time).num_milliseconds().abs() <= 1,
            "{t} vs {} in {}",
            r.time,
            r.line
        );
        let has = |f: &str| event.get_by_name(f).is_some();
        match r.source {
            Source::Sysmon => assert!(has("Image") && has("CommandLine") && has("host.name")),
            Source::WinSecurity => assert!(has("user.name") && has("source.ip")),
            Source::Sso => {
                assert!(has("user.name") && has("source.ip") && has("source.geo.country_iso_code"))
            }
            Source::Sshd => assert!(has("host.name")),
            _ => {
                assert!(has("source.ip") && has("destination.port"), "{}", r.line);
                let service = event.meta.service.as_deref().unwrap_or_default();
                assert_eq!(format!("sim/zeek-{service}"), r.source.name());
            }
        }
        // sshd logins are typed as ECS authentication events.
        if r.source == Source::Sshd && r.line.contains("password for") {
            assert_eq!(
                event
                    .get_by_name("event.action")
                    .map(|v| v.to_string())
                    .as_deref(),
                Some("ssh_login")
            );
            assert!(has("user.name") && has("source.ip"));
        }
    }
}

#[test]
fn one_campaign_has_every_attack_and_repeats_vary() {
    let cfg = short();
    let records = take_days(&cfg, 3);
    let mut seen: BTreeMap<Attack, BTreeSet<i64>> = BTreeMap::new();
    for r in &records {
        if let Some(a) = r.attack {
            let day = (r.time - cfg.start).num_days();
            seen.entry(a).or_default().insert(day);
        }
    }
    assert_eq!(seen.len(), Attack::ALL.len(), "{seen:?}");
    assert!(
        seen.values()
            .all(|days| days.contains(&1) && days.contains(&2))
    );
    assert!(
        records
            .iter()
            .filter(|r| r.attack.is_some())
            .all(|r| r.time >= cfg.start + cfg.history)
    );
    // The brute-force source differs between the two campaigns.
    let sources: BTreeSet<String> = records
        .iter()
        .filter(|r| r.attack == Some(Attack::SshBruteForce) && r.source == Source::Sshd)
        .filter_map(|r| r.line.split(" from ").nth(1))
        .filter_map(|rest| rest.split(' ').next().map(str::to_owned))
        .collect();
    assert!(sources.len() >= 2, "{sources:?}");
}

#[test]
fn without_repeats_the_campaign_runs_once() {
    let cfg = SimConfig {
        repeat_every: None,
        ..short()
    };
    let records = take_days(&cfg, 3);
    let last_attack = records
        .iter()
        .filter(|r| r.attack.is_some())
        .map(|r| r.time)
        .max();
    assert!(last_attack.is_some_and(|t| t < cfg.start + Duration::days(2)));
    assert!(
        records
            .last()
            .is_some_and(|r| r.time >= cfg.start + Duration::days(2))
    );
}

//! `palisade demo`'s path end to end: the simulated organisation (eight days of history and the
//! first attack campaign) through the service's ingress, write-ahead log, pipeline and triage,
//! with the example rules and the demo's detectors. The simulator's labels are the ground truth
//! (they never reach the records): each attack must rank near the top of the open queue, and
//! benign-only incidents must not fill it.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use chrono::Utc;
use common::*;
use palisade_server::demo::sim_config;
use palisade_server::wal::Record;
use palisade_sim::{Attack, Simulator};
use palisade_store::{IncidentFilter, ResponseStore, Store};

/// The demo starts its simulation from the current time, so the campaign can fall on any
/// weekday; the test pins two: a working day and a Sunday.
#[test]
fn the_demo_campaign_tops_the_queue_on_a_working_day() {
    campaign_at("2026-03-11T15:00:00Z");
}

#[test]
fn the_demo_campaign_tops_the_queue_on_a_sunday() {
    campaign_at("2026-03-15T09:00:00Z");
}

fn campaign_at(now: &str) {
    let now = chrono::DateTime::parse_from_rfc3339(now)
        .unwrap()
        .with_timezone(&Utc);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &["sigma", "ueba", "beacon"]);
    palisade_server::demo::demo_respond(&mut cfg);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (running, _) = rt
        .block_on(palisade_server::serve::start(cfg.clone()))
        .unwrap();
    let sim = sim_config(now, 7);

    // Feed everything up to now, remembering which sequence numbers carry which attack.
    let mut labels: HashMap<u64, Attack> = HashMap::new();
    // Addresses in each attack's records (the ground truth for response decisions).
    let mut attack_ips: BTreeMap<Attack, BTreeSet<Ipv4Addr>> = BTreeMap::new();
    let mut chunk: Vec<Record> = Vec::new();
    let mut chunk_labels: Vec<Option<Attack>> = Vec::new();
    let mut last = 0;
    let mut flush = |chunk: &mut Vec<Record>, chunk_labels: &mut Vec<Option<Attack>>| {
        let ack = running
            .state
            .ingress
            .submit_blocking(std::mem::take(chunk))
            .unwrap();
        for (k, l) in chunk_labels.drain(..).enumerate() {
            if let Some(a) = l {
                labels.insert(ack.first_seq + k as u64, a);
            }
        }
        last = ack.first_seq + ack.count - 1;
    };
    for rec in Simulator::new(sim).take_while(|r| r.time <= now) {
        if let Some(a) = rec.attack {
            attack_ips.entry(a).or_default().extend(ipv4s(&rec.line));
        }
        chunk.push(Record {
            source: Arc::from(rec.source.name()),
            format: rec.format,
            line: rec.line.into_bytes(),
        });
        chunk_labels.push(rec.attack);
        if chunk.len() == 2000 {
            flush(&mut chunk, &mut chunk_labels);
        }
    }
    flush(&mut chunk, &mut chunk_labels);
    wait_applied(&running.state, last);
    // Incidents are saved just after the checkpoint moves; let the last batch finish.
    std::thread::sleep(std::time::Duration::from_millis(500));

    let store = palisade_store::SqliteStore::open(&cfg.store_path()).unwrap();
    let queue = store
        .incidents(&IncidentFilter {
            statuses: vec!["new".into()],
            limit: Some(40),
            ..IncidentFilter::default()
        })
        .unwrap();
    let mut rank: BTreeMap<Attack, usize> = BTreeMap::new();
    let mut benign = Vec::new();
    for (k, inc) in queue.iter().enumerate() {
        let mut any = false;
        for a in store.incident_alerts(inc.id).unwrap() {
            if let Some(l) = a.position.and_then(|p| labels.get(&p)) {
                any = true;
                rank.entry(*l).or_insert(k + 1);
            }
        }
        benign.push(!any);
        eprintln!(
            "{:>2}. {:>5.1} {:<5} {}",
            k + 1,
            inc.priority,
            if any { "" } else { "(benign)" },
            inc.title
        );
    }
    for a in Attack::ALL {
        eprintln!("{:<22} rank {:?}", a.label(), rank.get(&a));
    }
    let b10 = benign.iter().take(10).filter(|b| **b).count();
    eprintln!("benign-only incidents in the top 10: {b10}");

    // Response: the built-in playbooks ban the brute-forcing and the spraying address on the
    // decisions API (the demo's blocks are decisions only), and ban nothing else.
    let external = |ip: &Ipv4Addr| {
        let o = ip.octets();
        (o[0], o[1], o[2]) == (192, 0, 2) || (o[0], o[1], o[2]) == (203, 0, 113)
    };
    let want: BTreeSet<Ipv4Addr> = [Attack::SshBruteForce, Attack::PasswordSpraying]
        .iter()
        .flat_map(|a| attack_ips.get(a).cloned().unwrap_or_default())
        .filter(external)
        .collect();
    assert!(
        !want.is_empty(),
        "no attacker addresses found in the records"
    );
    let every_attack_ip: BTreeSet<Ipv4Addr> = attack_ips.values().flatten().copied().collect();
    let started = std::time::Instant::now();
    let banned: BTreeSet<Ipv4Addr> = loop {
        let banned: BTreeSet<Ipv4Addr> = store
            .decisions(&Default::default(), Utc::now().timestamp_millis())
            .unwrap()
            .iter()
            .filter_map(|d| d.value.parse().ok())
            .collect();
        if want.is_subset(&banned) || started.elapsed() > std::time::Duration::from_secs(30) {
            break banned;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let actions = store.response_actions(&Default::default()).unwrap();
    for a in &actions {
        eprintln!(
            "action {} {} {} {} {}: {}",
            a.id, a.playbook, a.kind, a.target, a.state, a.detail
        );
    }
    rt.block_on(running.stop());
    assert!(
        want.is_subset(&banned),
        "brute-force/spraying addresses {want:?} not all banned: {banned:?}"
    );
    assert!(
        banned.is_subset(&every_attack_ip),
        "a benign address was banned: {:?}",
        banned.difference(&every_attack_ip).collect::<Vec<_>>()
    );
    assert!(
        actions.iter().all(|a| a.state != "failed"),
        "a demo action failed"
    );
    for a in Attack::ALL {
        let r = rank.get(&a).copied();
        assert!(
            r.is_some_and(|r| r <= 12),
            "{} ranks {r:?} in the demo queue",
            a.label()
        );
    }
    assert!(b10 <= 4, "{b10} of the top 10 incidents are benign alone");
}

/// The IPv4 addresses written in a log line.
fn ipv4s(line: &str) -> Vec<Ipv4Addr> {
    line.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|t| t.trim_matches('.').parse().ok())
        .collect()
}

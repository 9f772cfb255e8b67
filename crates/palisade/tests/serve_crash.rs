//! `kill -9` in the middle of a stream of HTTP ingest, then a restart: every acknowledged
//! event is stored exactly once, nothing is counted twice, and the learned baselines hold every
//! applied event (they are restored from the last snapshot and rebuilt from the write-ahead
//! log after it).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BATCH: u64 = 50;

fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: &[u8],
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|x| x.1.to_string())?;
    Some((status, body))
}

fn start(bin: &str, config: &Path) -> Child {
    Command::new(bin)
        .args(["serve", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start palisade serve")
}

fn wait_up(addr: SocketAddr, token: &str) {
    let t = Instant::now();
    while http(addr, "GET", "/api/v1/status", token, b"").is_none_or(|(s, _)| s != 200) {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "serve did not come up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn status(addr: SocketAddr, token: &str) -> serde_json::Value {
    let (_, body) = http(addr, "GET", "/api/v1/status", token, b"").expect("status");
    serde_json::from_str(&body).unwrap()
}

/// One authentication event per id: users rotate, one host.
fn event(id: u64) -> String {
    let user = ["alice", "bob", "carol"][(id % 3) as usize];
    let t = chrono::DateTime::from_timestamp(1_767_261_600 + id as i64, 0).unwrap();
    serde_json::json!({
        "@timestamp": t.to_rfc3339(),
        "event": {"category": "authentication", "outcome": "success", "id": id},
        "user": {"name": user},
        "source": {"ip": "10.1.2.3"},
        "host": {"name": "srv1"},
    })
    .to_string()
}

#[test]
fn kill_9_mid_stream_loses_no_acknowledged_event_and_counts_none_twice() {
    let bin = env!("CARGO_BIN_EXE_palisade");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = dir.path().join("palisade.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"data\"\n\
             [pipeline]\ndetectors = [\"ueba\"]\nsnapshot_secs = 1\nbatch_records = 64\n\
             [wal]\nfsync = true\n"
        ),
    )
    .unwrap();
    let out = Command::new(bin)
        .args(["token", "create", "--role", "analyst", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token: String = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    let mut child = start(bin, &config);
    wait_up(addr, &token);

    // A client streams batches until told to stop; it remembers which ids were acknowledged
    // and the highest sequence number an acknowledgement named.
    let acked: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
    let sent = Arc::new(AtomicU64::new(0));
    let max_seq = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (acked, sent, max_seq, stop, token) = (
            Arc::clone(&acked),
            Arc::clone(&sent),
            Arc::clone(&max_seq),
            Arc::clone(&stop),
            token.clone(),
        );
        std::thread::spawn(move || {
            let mut next = 0u64;
            while !stop.load(Ordering::Acquire) {
                let ids: Vec<u64> = (next..next + BATCH).collect();
                next += BATCH;
                sent.store(next, Ordering::Release);
                let body: String = ids.iter().map(|&i| event(i) + "\n").collect();
                match http(addr, "POST", "/api/v1/events", &token, body.as_bytes()) {
                    Some((202, b)) => {
                        let j: serde_json::Value = serde_json::from_str(&b).unwrap();
                        assert_eq!(j["accepted"], BATCH);
                        let last = j["first_seq"].as_u64().unwrap() + BATCH - 1;
                        max_seq.fetch_max(last, Ordering::AcqRel);
                        acked.lock().unwrap().extend(ids);
                    }
                    // The server died under us: unknown fate, retry is the sender's business.
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })
    };

    // Let a few snapshots happen, then kill -9 while requests are in flight.
    let t = Instant::now();
    while acked.lock().unwrap().len() < 3000 || t.elapsed() < Duration::from_millis(2500) {
        assert!(t.elapsed() < Duration::from_secs(60), "ingest too slow");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let acked_at_kill = acked.lock().unwrap().len();

    // Restart; the client keeps going against the new process for a moment.
    let mut child = start(bin, &config);
    wait_up(addr, &token);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Release);
    client.join().unwrap();
    let target = max_seq.load(Ordering::Acquire);
    let t = Instant::now();
    while status(addr, &token)["applied_seq"].as_u64().unwrap() < target {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "pipeline did not catch up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let st = status(addr, &token);
    let replayed = st["replayed"].as_u64().unwrap();

    // The baseline of each user, as the API shows it.
    let mut profile_events: BTreeMap<String, u64> = BTreeMap::new();
    for user in ["alice", "bob", "carol"] {
        let (code, body) = http(
            addr,
            "GET",
            &format!("/api/v1/entities/user/{user}"),
            &token,
            b"",
        )
        .unwrap();
        assert_eq!(code, 200, "{body}");
        let j: serde_json::Value = serde_json::from_str(&body).unwrap();
        profile_events.insert(
            user.to_string(),
            j["baseline"]["events"].as_u64().expect("a UEBA baseline"),
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // What the store holds.
    let db = rusqlite::Connection::open(dir.path().join("data/palisade.db")).unwrap();
    let ids: Vec<u64> = db
        .prepare("SELECT json_extract(body, '$.\"event.id\"') FROM events")
        .unwrap()
        .query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|r| r.unwrap() as u64)
        .collect();
    let stored: BTreeSet<u64> = ids.iter().copied().collect();
    let acked = acked.lock().unwrap().clone();
    let sent = sent.load(Ordering::Acquire);
    eprintln!(
        "sent {sent}, acknowledged {} ({acked_at_kill} before the kill), stored {} rows ({} distinct), replayed {replayed} records after restart",
        acked.len(),
        ids.len(),
        stored.len()
    );
    assert_eq!(ids.len(), stored.len(), "an event was stored twice");
    let lost: Vec<u64> = acked.difference(&stored).copied().take(10).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert!(stored.iter().all(|i| *i < sent), "stored an id never sent");
    let counted: i64 = db
        .query_row(
            "SELECT SUM(events) FROM runs WHERE command = 'serve'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        counted as usize,
        ids.len(),
        "runs counted events twice or not at all"
    );
    // Baselines: every applied event of each user is in its profile (restored snapshot plus
    // replay), none twice.
    for (user, n) in &profile_events {
        let k = ["alice", "bob", "carol"]
            .iter()
            .position(|u| u == user)
            .unwrap() as u64;
        let expected = stored.iter().filter(|i| *i % 3 == k).count() as u64;
        assert_eq!(*n, expected, "{user}: baseline events vs stored events");
    }
}

#[path = "common/mod.rs"]
mod common;
use common::free_port;

#[test]
fn check_config_loads_rules_and_names_bad_keys() {
    let ok = common::palisade(&[
        "serve",
        "--config",
        "examples/palisade.toml",
        "--check-config",
    ]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(
        ok.stdout
            .contains("rules: 28 detection, 8 correlation, 0 failed"),
        "{}",
        ok.stdout
    );
    assert!(ok.stdout.contains("configuration OK"));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nlisten = \"everywhere\"\n").unwrap();
    let run = common::palisade(&["serve", "--config", bad.to_str().unwrap(), "--check-config"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("bad.toml") && run.stderr.contains("server.listen"),
        "{}",
        run.stderr
    );
}

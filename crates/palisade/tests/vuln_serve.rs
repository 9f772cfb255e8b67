//! `palisade serve` with `[vuln]`: the scheduled scan is stored and its findings become alerts
//! through the example rules (the same pipeline as every other event).

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::root;

#[test]
fn scheduled_scan_is_stored_and_raises_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let f = root().join("crates/vuln/tests/fixtures");
    let config = dir.path().join("palisade.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = {:?}\n\
             [pipeline]\nrules = [{:?}]\n\
             [vuln]\nenabled = true\ninterval_minutes = 60\npaths = [{:?}]\ndb = [{:?}]\nhost = false\n",
            dir.path().join("data"),
            root().join("examples/rules/vuln"),
            f.join("lockfiles/node/package-lock.json"),
            f.join("osv"),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start palisade serve");
    let db = dir.path().join("data/palisade.db");
    let started = Instant::now();
    let mut seen = (0i64, 0i64);
    while started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(300));
        let Ok(conn) = rusqlite::Connection::open(&db) else {
            continue;
        };
        let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap_or(0);
        seen = (
            count("SELECT count(*) FROM vuln_findings"),
            count(
                "SELECT count(*) FROM alerts WHERE rule_title LIKE 'Weakness Found by Palisade%'",
            ),
        );
        if seen == (3, 3) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen, (3, 3), "(stored findings, alerts)");
}

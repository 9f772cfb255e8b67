//! Detect → block, end to end, in network namespaces the test creates and removes: an
//! "attacker" and a "benign" namespace joined by veth pairs to a "server" namespace, which runs
//! `palisade serve` (its HTTP listener on 0.0.0.0 is the TCP service both reach) tailing an
//! auth log. Replayed sshd failures for the attacker's address put it into Palisade's nftables
//! set; the attacker's connections then fail while the benign namespace still connects; when
//! the block's TTL ends, the attacker connects again. Addresses exist only inside the
//! namespaces (TEST-NET ranges).
//!
//! Needs root, `ip` and `nft`: fails under `CI=true` without them, skips with a notice otherwise.

mod common;

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use common::netns::{Netns, Proc, missing, run, wait_for};
use common::*;

const PORT: u16 = 18080;
const SERVER_A: &str = "198.51.100.1";
const ATTACKER: &str = "198.51.100.2";
const SERVER_B: &str = "203.0.113.1";
const BENIGN: &str = "203.0.113.2";

/// Joins `server` and `other` with a veth pair (made inside the namespaces, so no name can
/// clash with the host's) and addresses both ends.
fn link(server: &Netns, other: &Netns, server_ip: &str, other_ip: &str, name: &str) {
    let (s_if, o_if) = (format!("s-{name}"), format!("o-{name}"));
    run(
        "ip",
        &[
            "-n", &server.0, "link", "add", &s_if, "type", "veth", "peer", "name", &o_if, "netns",
            &other.0,
        ],
    );
    for (ns, ifname, ip) in [(server, &s_if, server_ip), (other, &o_if, other_ip)] {
        run(
            "ip",
            &[
                "-n",
                &ns.0,
                "addr",
                "add",
                &format!("{ip}/24"),
                "dev",
                ifname,
            ],
        );
        run("ip", &["-n", &ns.0, "link", "set", ifname, "up"]);
    }
}

/// Whether a TCP connection from `ns` to the server's `ip` succeeds within two seconds.
fn connects(ns: &Netns, ip: &str) -> bool {
    Command::new("ip")
        .args(["netns", "exec", &ns.0, "timeout", "2", "bash", "-c"])
        .arg(format!("exec 3<>/dev/tcp/{ip}/{PORT}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

fn sshd_line(ip: &str, k: usize) -> String {
    let now = chrono::Utc::now().format("%b %e %H:%M:%S");
    format!(
        "{now} srv sshd[{}]: Failed password for root from {ip} port {} ssh2\n",
        3000 + k,
        50000 + k
    )
}

#[test]
fn a_brute_forcing_address_is_dropped_by_nftables_until_its_block_expires() {
    if let Some(why) = missing(&["bash", "timeout"]) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the namespace test cannot run under CI: {why}"
        );
        eprintln!("SKIPPED a_brute_forcing_address_is_dropped_by_nftables: {why}");
        return;
    }
    let server = Netns::new("e2e-srv");
    let attacker = Netns::new("e2e-atk");
    let benign = Netns::new("e2e-ben");
    link(&server, &attacker, SERVER_A, ATTACKER, "a");
    link(&server, &benign, SERVER_B, BENIGN, "b");

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("auth.log");
    std::fs::write(&log, "").unwrap();
    // The brute-force playbook as shipped, with a short TTL so the test sees it expire.
    let book = dir.path().join("block.yml");
    std::fs::write(
        &book,
        "id: ssh-brute-force-e2e\ntitle: Block SSH brute force (short TTL)\ntrigger:\n  tags: [attack.t1110.001]\nactions:\n  - block:\n      target: source.ip\nmode: auto\nttl: 6s\n",
    )
    .unwrap();
    let config = dir.path().join("palisade.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"0.0.0.0:{PORT}\"\ndata_dir = {data:?}\n\n[wal]\nfsync = false\n\n\
             [pipeline]\ndetectors = [\"sigma\"]\nrules = [{rules:?}]\n\n\
             [[sources.file]]\nname = \"auth\"\npath = {log:?}\nformat = \"syslog\"\nfrom_start = true\n\n\
             [respond]\nnftables = true\nbuiltin_playbooks = false\nplaybooks = [{book:?}]\n",
            data = s(&dir.path().join("data")),
            rules = s(&root().join("examples/rules/linux")),
            log = s(&log),
            book = s(&book),
        ),
    )
    .unwrap();
    let serve = {
        let mut c = server.command(env!("CARGO_BIN_EXE_palisade"));
        c.args(["serve", "--config", s(&config)]);
        Proc::spawn(c)
    };
    wait_for(
        "palisade serve listens",
        || serve.output().contains("serving on") || serve.exited().is_some(),
        || serve.output(),
    );
    assert!(
        serve.exited().is_none(),
        "serve exited:\n{}",
        serve.output()
    );
    let set = || {
        let out = server
            .command("nft")
            .args(["list", "set", "inet", "palisade", "block4"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Palisade created its table at start; both clients reach the service.
    assert!(
        set().contains("block4"),
        "no palisade table:\n{}",
        serve.output()
    );
    assert!(
        connects(&attacker, SERVER_A),
        "attacker cannot connect before any block"
    );
    assert!(connects(&benign, SERVER_B), "benign cannot connect");

    // Four failures: under the threshold, nothing is blocked.
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    for k in 0..4 {
        f.write_all(sshd_line(ATTACKER, k).as_bytes()).unwrap();
    }
    // A benign sign-in failure or two from the other side stays under every threshold.
    f.write_all(sshd_line(BENIGN, 9).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !set().contains(ATTACKER),
        "blocked below the threshold:\n{}",
        set()
    );
    // The fifth line crosses it.
    let written = Instant::now();
    f.write_all(sshd_line(ATTACKER, 4).as_bytes()).unwrap();
    wait_for(
        "the attacker is in Palisade's nftables set",
        || set().contains(ATTACKER),
        || format!("{}\n{}", set(), serve.output()),
    );
    eprintln!(
        "blocked {:?} after the fifth line was written (polled every 200 ms):\n{}",
        written.elapsed(),
        set()
    );
    assert!(
        !set().contains(BENIGN),
        "the benign address was blocked:\n{}",
        set()
    );
    assert!(
        !connects(&attacker, SERVER_A),
        "the attacker still connects"
    );
    assert!(
        connects(&benign, SERVER_B),
        "the benign namespace lost its access"
    );

    // The block's TTL (6 s) ends: nftables drops the element and the attacker gets through.
    wait_for(
        "the block expired",
        || !set().contains(ATTACKER),
        || format!("{}\n{}", set(), serve.output()),
    );
    assert!(
        connects(&attacker, SERVER_A),
        "the attacker cannot connect after the TTL"
    );
    assert!(serve.exited().is_none(), "serve died:\n{}", serve.output());
}

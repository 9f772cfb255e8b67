//! The nftables executor against the real `nft`, inside a network namespace each test creates
//! and removes (so the host's firewall is never touched). Needs root, `ip` and `nft`: without
//! them the tests fail when `CI=true` and print a loud skip notice otherwise.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use palisade_respond::exec::{Nft, NftConfig};

static N: AtomicUsize = AtomicUsize::new(0);

/// A network namespace removed on drop.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn available() -> bool {
    let ok = |prog: &str, arg: &str| {
        Command::new(prog)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    });
    let have = ok("nft", "--version") && ok("ip", "-V") && root;
    if !have {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("tests/nft.rs needs root, `nft` and `ip` (apt-get install nftables iproute2)");
        }
        eprintln!(
            "\n!!!!!!!! SKIPPED: tests/nft.rs needs root, `nft` and `ip` (apt-get install nftables iproute2) !!!!!!!!\n"
        );
    }
    have
}

/// A fresh namespace and an `Nft` that runs inside it.
fn setup() -> Option<(Netns, Nft)> {
    if !available() {
        return None;
    }
    let name = format!(
        "palisade-t-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let st = Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .unwrap();
    assert!(st.success(), "ip netns add {name}");
    let ns = Netns(name.clone());
    let nft = Nft::new(NftConfig {
        prefix: ["ip", "netns", "exec", &name].map(String::from).to_vec(),
        ..NftConfig::default()
    });
    Some((ns, nft))
}

/// Runs nft in the namespace (for set-up and checks the executor does not do itself).
fn nft_in(ns: &Netns, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut c = Command::new("ip")
        .args(["netns", "exec", &ns.0, "nft"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        c.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(c.stdin.take());
    let o = c.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn rules_in(ns: &Netns, chain: &str) -> usize {
    let j: serde_json::Value = serde_json::from_str(&nft_in(
        ns,
        &["-j", "list", "chain", "inet", "palisade", chain],
        None,
    ))
    .unwrap();
    j["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x.get("rule").is_some())
        .count()
}

fn net(s: &str) -> IpNet {
    palisade_respond::playbook::parse_net(s).unwrap()
}

#[test]
fn ensure_is_idempotent_and_leaves_other_tables_alone() {
    let Some((ns, nft)) = setup() else { return };
    nft_in(
        &ns,
        &["-f", "-"],
        Some(
            "add table inet other\nadd chain inet other c { type filter hook input priority 0; policy accept; }\nadd rule inet other c tcp dport 22 accept\nadd table ip legacy\n",
        ),
    );
    let before = nft_in(&ns, &["list", "table", "inet", "other"], None);
    nft.ensure().unwrap();
    nft.block(net("192.0.2.1"), None).unwrap();
    nft.ensure().unwrap();
    // Each rule exactly once (IPv4 + IPv6 per direction), the element kept.
    assert_eq!(rules_in(&ns, "input"), 2);
    assert_eq!(rules_in(&ns, "output"), 2);
    assert_eq!(rules_in(&ns, "forward"), 4);
    assert_eq!(nft.list().unwrap(), vec![(net("192.0.2.1"), None)]);
    let ours = nft_in(&ns, &["list", "table", "inet", "palisade"], None);
    assert!(ours.contains("priority filter - 10"), "{ours}");
    assert!(
        ours.contains("ip saddr @block4 drop") && ours.contains("ip6 daddr @block6 drop"),
        "{ours}"
    );
    assert_eq!(
        nft_in(&ns, &["list", "table", "inet", "other"], None),
        before
    );
    nft.teardown().unwrap();
    nft.teardown().unwrap();
    let tables = nft_in(&ns, &["list", "tables"], None);
    assert_eq!(tables.trim(), "table inet other\ntable ip legacy");
}

#[test]
fn block_list_unblock_v4_v6_and_networks() {
    let Some((_ns, nft)) = setup() else { return };
    nft.ensure().unwrap();
    let hour = Some(Duration::from_secs(3600));
    nft.block(net("203.0.113.7"), hour).unwrap();
    nft.block(net("203.0.113.7"), hour).unwrap(); // twice is fine
    nft.block(net("2001:db8::7"), Some(Duration::from_secs(600)))
        .unwrap();
    nft.block(net("198.51.100.0/24"), None).unwrap();
    nft.block(net("198.51.100.9"), hour).unwrap(); // inside a blocked network: already covered
    nft.block(net("2001:db8:1::/48"), hour).unwrap();
    let mut l = nft.list().unwrap();
    l.sort_by_key(|(n, _)| *n);
    let nets: Vec<IpNet> = l.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        nets,
        [
            net("198.51.100.0/24"),
            net("203.0.113.7"),
            net("2001:db8::7"),
            net("2001:db8:1::/48")
        ]
    );
    let left = |n: &str| l.iter().find(|(x, _)| *x == net(n)).unwrap().1;
    assert_eq!(left("198.51.100.0/24"), None);
    let r = left("203.0.113.7").unwrap();
    assert!(
        r <= Duration::from_secs(3600) && r >= Duration::from_secs(3500),
        "{r:?}"
    );
    assert!(left("2001:db8::7").unwrap() <= Duration::from_secs(600));
    // Blocking an address again restarts its timeout (the attack went on).
    nft.block(net("2001:db8::7"), hour).unwrap();
    let again = nft.list().unwrap();
    let r = again
        .iter()
        .find(|(n, _)| *n == net("2001:db8::7"))
        .unwrap()
        .1
        .unwrap();
    assert!(r > Duration::from_secs(600), "timeout not restarted: {r:?}");
    // A wider network replaces the addresses inside it.
    nft.block(net("203.0.113.0/24"), hour).unwrap();
    assert!(
        !nft.list()
            .unwrap()
            .iter()
            .any(|(n, _)| *n == net("203.0.113.7"))
    );
    for n in [
        "203.0.113.0/24",
        "2001:db8::7",
        "198.51.100.0/24",
        "2001:db8:1::/48",
    ] {
        nft.unblock(net(n)).unwrap();
    }
    assert!(nft.list().unwrap().is_empty());
    nft.unblock(net("192.0.2.99")).unwrap(); // missing is fine
    nft.unblock(net("2001:db8::99")).unwrap();
}

#[test]
fn an_element_with_a_one_second_timeout_disappears_by_itself() {
    let Some((_ns, nft)) = setup() else { return };
    nft.ensure().unwrap();
    nft.block(net("192.0.2.55"), Some(Duration::from_secs(1)))
        .unwrap();
    nft.block(net("192.0.2.56"), None).unwrap();
    assert_eq!(nft.list().unwrap().len(), 2);
    let t = Instant::now();
    while nft.list().unwrap().len() == 2 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the 1s element did not expire"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(nft.list().unwrap(), vec![(net("192.0.2.56"), None)]);
}

#[test]
fn block_many_adds_a_thousand_addresses_in_one_call() {
    let Some((_ns, nft)) = setup() else { return };
    nft.ensure().unwrap();
    let many: Vec<(IpNet, Option<Duration>)> = (0..1000u32)
        .map(|i| {
            let ip = std::net::Ipv4Addr::from(0xC633_6400u32 + i * 3); // from 198.51.100.0 on
            (
                IpNet::from(std::net::IpAddr::V4(ip)),
                Some(Duration::from_secs(3600)),
            )
        })
        .chain((0..10u16).map(|i| (net(&format!("2001:db8::{i:x}")), None)))
        .collect();
    let t = Instant::now();
    nft.block_many(&many).unwrap();
    let took = t.elapsed();
    let l = nft.list().unwrap();
    assert_eq!(l.len(), 1010);
    eprintln!("block_many of 1010 entries: {took:?}");
    // Again: nothing new, still fine.
    nft.block_many(&many).unwrap();
    assert_eq!(nft.list().unwrap().len(), 1010);
}

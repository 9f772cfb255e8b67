//! The real Debian `crowdsec-firewall-bouncer` (nftables mode) against `palisade serve`, both
//! inside a network namespace of their own: decisions made with `palisade decisions` appear in
//! the bouncer's nftables sets, and leave them when deleted or expired; an SSH brute force in
//! the log serve tails becomes a playbook's ban in the bouncer's set, lifted by
//! `palisade respond revert`.
//!
//! Needs root, `ip`, `nft` and `crowdsec-firewall-bouncer` (scripts/test.sh installs them).
//! Without them the test fails under `CI=true` and is skipped with a notice otherwise.

mod common;

use std::path::Path;

use common::netns::{Netns, Proc, missing, wait_for};
use common::*;

const BOUNCER: &str = "crowdsec-firewall-bouncer";

fn cli(args: &[&str]) -> Run {
    let r = palisade(args);
    assert_eq!(r.code, 0, "palisade {args:?}: {}{}", r.stdout, r.stderr);
    r
}

#[test]
fn the_debian_firewall_bouncer_enforces_palisade_decisions_in_nftables() {
    if let Some(why) = missing(&[BOUNCER]) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the bouncer test cannot run under CI: {why}"
        );
        eprintln!(
            "SKIPPED the_debian_firewall_bouncer_enforces_palisade_decisions_in_nftables: {why}"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_s = s(&data).to_string();
    // Serve tails an auth log with the SSH rules; its built-in playbooks publish decisions
    // (respond.nftables is off: the bouncer is what enforces them).
    let config = dir.path().join("palisade.toml");
    let auth_log = dir.path().join("auth.log");
    std::fs::write(&auth_log, "").unwrap();
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = {data_s:?}\n\n[wal]\nfsync = false\n\n\
             [pipeline]\ndetectors = [\"sigma\"]\nrules = [{rules:?}]\n\n\
             [[sources.file]]\npath = {log:?}\nformat = \"syslog\"\nfrom_start = true\n",
            rules = s(&root().join("examples/rules/linux")),
            log = s(&auth_log),
        ),
    )
    .unwrap();
    let ns = Netns::new("bt");

    let serve = {
        let mut c = ns.command(env!("CARGO_BIN_EXE_palisade"));
        c.args(["serve", "--config", s(&config)]);
        Proc::spawn(c)
    };
    let mut addr = None;
    wait_for(
        "palisade serve listens",
        || {
            addr = serve.output().lines().find_map(|l| {
                l.split("serving on http://")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .map(String::from)
            });
            addr.is_some() || serve.exited().is_some()
        },
        || serve.output(),
    );
    let addr = addr.unwrap_or_else(|| panic!("serve did not start:\n{}", serve.output()));

    let added = cli(&["bouncer", "add", "fw-test", "--config", s(&config)]);
    let key = added.stdout.lines().last().unwrap().trim().to_string();
    assert_eq!(key.len(), 64, "{}", added.stdout);

    let yaml = dir.path().join("bouncer.yaml");
    std::fs::write(
        &yaml,
        format!(
            "mode: nftables
pid_dir: {dir}
update_frequency: 1s
daemonize: false
log_mode: stdout
log_level: debug
api_url: http://{addr}/
api_key: {key}
disable_ipv6: false
deny_action: DROP
deny_log: false
supported_decisions_types:
  - ban
blacklists_ipv4: crowdsec-blacklists
blacklists_ipv6: crowdsec6-blacklists
nftables:
  ipv4:
    enabled: true
    set-only: false
    table: crowdsec
    chain: crowdsec-chain
  ipv6:
    enabled: true
    set-only: false
    table: crowdsec6
    chain: crowdsec6-chain
prometheus:
  enabled: false
  listen_addr: 127.0.0.1
  listen_port: 60601
",
            dir = s(dir.path())
        ),
    )
    .unwrap();
    let bouncer = {
        let mut c = ns.command(BOUNCER);
        c.args(["-c", s(&yaml)]);
        Proc::spawn(c)
    };
    let context = |bouncer: &Proc, serve: &Proc| {
        format!(
            "--- bouncer ---\n{}\n--- serve ---\n{}",
            bouncer.output(),
            serve.output()
        )
    };
    let v4 = |ns: &Netns| ns.set("ip", "crowdsec", "crowdsec-blacklists");
    let v6 = |ns: &Netns| ns.set("ip6", "crowdsec6", "crowdsec6-blacklists");
    // The bouncer made its table and set, and pulled (startup) with its key.
    wait_for(
        "the bouncer created its nftables set",
        || {
            assert!(bouncer.exited().is_none(), "{}", context(&bouncer, &serve));
            v4(&ns).contains("crowdsec-blacklists") && !v4(&ns).contains("Error")
        },
        || context(&bouncer, &serve),
    );

    // A ban appears in the set, IPv4 and IPv6.
    cli(&[
        "decisions",
        "add",
        "--ip",
        "198.51.100.7",
        "--duration",
        "1h",
        "--reason",
        "bouncer test",
        "--config",
        s(&config),
    ]);
    cli(&[
        "decisions",
        "add",
        "--ip",
        "2001:db8::7",
        "--duration",
        "1h",
        "--reason",
        "bouncer test",
        "--config",
        s(&config),
    ]);
    wait_for(
        "198.51.100.7 and 2001:db8::7 are in the bouncer's sets",
        || v4(&ns).contains("198.51.100.7") && v6(&ns).contains("2001:db8::7"),
        || format!("{}\n{}\n{}", v4(&ns), v6(&ns), context(&bouncer, &serve)),
    );
    eprintln!("nftables after the bans:\n{}\n{}", v4(&ns), v6(&ns));

    // Deleted → lifted.
    cli(&[
        "decisions",
        "delete",
        "--ip",
        "198.51.100.7",
        "--config",
        s(&config),
    ]);
    cli(&[
        "decisions",
        "delete",
        "--ip",
        "2001:db8::7",
        "--config",
        s(&config),
    ]);
    wait_for(
        "the deleted decisions left the sets",
        || !v4(&ns).contains("198.51.100.7") && !v6(&ns).contains("2001:db8::7"),
        || format!("{}\n{}\n{}", v4(&ns), v6(&ns), context(&bouncer, &serve)),
    );

    // Expired → gone (serve's expiry pass feeds the deletion; the set's own timeout agrees).
    cli(&[
        "decisions",
        "add",
        "--ip",
        "192.0.2.33",
        "--duration",
        "3s",
        "--reason",
        "short",
        "--config",
        s(&config),
    ]);
    wait_for(
        "the short ban is in the set",
        || v4(&ns).contains("192.0.2.33"),
        || format!("{}\n{}", v4(&ns), context(&bouncer, &serve)),
    );
    wait_for(
        "the short ban expired from the set",
        || !v4(&ns).contains("192.0.2.33"),
        || format!("{}\n{}", v4(&ns), context(&bouncer, &serve)),
    );
    let listed = cli(&[
        "decisions",
        "list",
        "--all",
        "--format",
        "json",
        "--config",
        s(&config),
    ]);
    let rows: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let short = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["value"] == "192.0.2.33")
        .unwrap();
    assert_eq!(short["state"], "expired", "{short}");

    // Detection to enforcement: a brute force in the tailed log → the built-in playbook's ban
    // decision → the bouncer's set; reverting the action lifts it.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&auth_log)
            .unwrap();
        let now = chrono::Utc::now().format("%b %e %H:%M:%S");
        for k in 0..5 {
            writeln!(
                f,
                "{now} web-1 sshd[{}]: Failed password for root from 198.51.100.99 port {} ssh2",
                900 + k,
                41000 + k
            )
            .unwrap();
        }
    }
    wait_for(
        "the brute-forcing address is in the bouncer's set",
        || v4(&ns).contains("198.51.100.99"),
        || format!("{}\n{}", v4(&ns), context(&bouncer, &serve)),
    );
    let actions = cli(&[
        "respond",
        "list",
        "--format",
        "json",
        "--config",
        s(&config),
    ]);
    let actions: serde_json::Value = serde_json::from_str(&actions.stdout).unwrap();
    let block = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["target"] == "198.51.100.99")
        .unwrap_or_else(|| panic!("no action on 198.51.100.99: {actions}"));
    assert_eq!(
        (block["playbook"].as_str(), block["state"].as_str()),
        (Some("ssh-rdp-brute-force"), Some("active")),
        "{block}"
    );
    let id = block["id"].to_string();
    cli(&["respond", "revert", &id, "--config", s(&config)]);
    wait_for(
        "the reverted block left the bouncer's set",
        || !v4(&ns).contains("198.51.100.99"),
        || format!("{}\n{}", v4(&ns), context(&bouncer, &serve)),
    );

    // Palisade saw the bouncer: its pulls are recorded with its user agent.
    let b = cli(&[
        "bouncer",
        "list",
        "--format",
        "json",
        "--config",
        s(&config),
    ]);
    let b: serde_json::Value = serde_json::from_str(&b.stdout).unwrap();
    assert_eq!(b[0]["name"], "fw-test");
    assert_eq!(b[0]["ip"], "127.0.0.1");
    assert!(
        b[0]["user_agent"]
            .as_str()
            .is_some_and(|u| u.contains("crowdsec-firewall-bouncer")),
        "{b}"
    );
    assert!(b[0]["last_pull"].is_string());
    drop(bouncer);
    drop(serve);
    assert!(Path::new(&data).join("palisade.db").exists());
}

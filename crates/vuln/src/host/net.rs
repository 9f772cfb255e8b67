//! Sockets and firewall: listeners from `/proc/net/{tcp,tcp6,udp,udp6}` (with the process
//! owning each, from `/proc/<pid>/fd`, when readable), and whether a host firewall is
//! configured (nftables, ufw, firewalld, iptables-persistent, loaded iptables tables).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use palisade_event::Severity;

use super::{HostReport, under};

/// One listening socket.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Listener {
    /// `tcp`, `tcp6`, `udp`, `udp6`.
    pub proto: &'static str,
    pub address: IpAddr,
    pub port: u16,
    pub uid: u32,
    #[serde(skip)]
    pub inode: u64,
    /// The owning process and its executable, when `/proc` tells.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
}

impl Listener {
    pub fn socket(&self) -> String {
        match self.address {
            IpAddr::V6(a) => format!("{}/[{a}]:{}", self.proto, self.port),
            IpAddr::V4(a) => format!("{}/{a}:{}", self.proto, self.port),
        }
    }
}

fn hex_addr(s: &str) -> Option<IpAddr> {
    match s.len() {
        8 => {
            let v = u32::from_str_radix(s, 16).ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(v.swap_bytes())))
        }
        32 => {
            let mut bytes = [0u8; 16];
            for w in 0..4 {
                let v = u32::from_str_radix(&s[w * 8..w * 8 + 8], 16).ok()?;
                bytes[w * 4..w * 4 + 4].copy_from_slice(&v.to_le_bytes());
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

/// Listening sockets of one `/proc/net` table (`tcp` state LISTEN; `udp` unconnected).
/// Lines that cannot be read are skipped.
pub fn parse_proc_net(text: &str, proto: &'static str) -> Vec<Listener> {
    let want_state = if proto.starts_with("tcp") { "0A" } else { "07" };
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 || f[3] != want_state {
            continue;
        }
        let Some((addr, port)) = f[1].split_once(':') else {
            continue;
        };
        let (Some(address), Ok(port)) = (hex_addr(addr), u16::from_str_radix(port, 16)) else {
            continue;
        };
        out.push(Listener {
            proto,
            address,
            port,
            uid: f[7].parse().unwrap_or(0),
            inode: f[9].parse().unwrap_or(0),
            pid: None,
            exe: None,
        });
    }
    out
}

/// Running processes: executables and the socket inodes they hold.
#[derive(Debug, Default, Clone)]
pub struct HostProcesses {
    /// pid → executable path.
    pub exes: HashMap<u32, String>,
    /// socket inode → pid.
    pub sockets: HashMap<u64, u32>,
    pub listeners: Vec<Listener>,
}

impl HostProcesses {
    /// Reads `<root>/proc` (what this user may read; other users' processes need root).
    pub fn read(root: &Path) -> HostProcesses {
        let mut hp = HostProcesses::default();
        let proc_dir = under(root, "/proc");
        if let Ok(dir) = std::fs::read_dir(&proc_dir) {
            for e in dir.filter_map(|e| e.ok()) {
                let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                    continue;
                };
                if let Ok(exe) = std::fs::read_link(e.path().join("exe")) {
                    let exe = exe.to_string_lossy();
                    let exe = exe.strip_suffix(" (deleted)").unwrap_or(&exe);
                    hp.exes.insert(pid, exe.to_owned());
                }
                if let Ok(fds) = std::fs::read_dir(e.path().join("fd")) {
                    for fd in fds.filter_map(|f| f.ok()) {
                        let Ok(target) = std::fs::read_link(fd.path()) else {
                            continue;
                        };
                        let t = target.to_string_lossy();
                        if let Some(inode) = t
                            .strip_prefix("socket:[")
                            .and_then(|s| s.strip_suffix(']'))
                            .and_then(|s| s.parse().ok())
                        {
                            hp.sockets.insert(inode, pid);
                        }
                    }
                }
            }
        }
        for proto in ["tcp", "tcp6", "udp", "udp6"] {
            if let Ok(text) = std::fs::read_to_string(proc_dir.join("net").join(proto)) {
                hp.listeners.extend(parse_proc_net(&text, proto));
            }
        }
        for l in &mut hp.listeners {
            if let Some(&pid) = hp.sockets.get(&l.inode) {
                l.pid = Some(pid);
                l.exe = hp.exes.get(&pid).cloned();
            }
        }
        hp
    }
}

/// Services that should not face a network unprotected, and how bad it is.
fn risky_port(proto: &str, port: u16) -> Option<(Severity, &'static str)> {
    let tcp = proto.starts_with("tcp");
    Some(match (tcp, port) {
        (true, 23) => (Severity::High, "telnet (clear-text logins)"),
        (true, 21) => (Severity::Medium, "FTP (clear-text logins)"),
        (true, 512..=514) => (Severity::High, "r-services (rexec/rlogin/rsh)"),
        (false, 69) => (Severity::Medium, "TFTP (no authentication)"),
        (_, 111) => (Severity::Medium, "rpcbind/portmapper"),
        (true, 445) | (true, 139) => (Severity::Medium, "SMB file sharing"),
        (true, 2375) => (
            Severity::Critical,
            "Docker API without TLS (root on the host)",
        ),
        (true, 5900..=5910) => (Severity::Medium, "VNC"),
        (true, 6379) => (Severity::High, "Redis (no authentication by default)"),
        (_, 11211) => (
            Severity::High,
            "memcached (no authentication; UDP amplification)",
        ),
        (true, 27017) => (Severity::High, "MongoDB"),
        (true, 9200) => (Severity::High, "Elasticsearch"),
        (true, 3306) => (Severity::Medium, "MySQL/MariaDB"),
        (true, 5432) => (Severity::Medium, "PostgreSQL"),
        (false, 161) => (Severity::Medium, "SNMP"),
        _ => return None,
    })
}

pub(super) fn check_listeners(root: &Path, r: &mut HostReport) {
    let hp = HostProcesses::read(root);
    for l in &hp.listeners {
        if l.address.is_loopback() {
            continue;
        }
        let who = l
            .exe
            .as_deref()
            .map(|e| format!(" by {e}"))
            .unwrap_or_default();
        let everywhere = l.address.is_unspecified();
        let bound = if everywhere {
            "all addresses"
        } else {
            "a network address"
        };
        match risky_port(l.proto, l.port) {
            Some((severity, what)) => r.add(
                "listening-risky-service",
                severity,
                format!("{what} listening on {bound}"),
                l.socket(),
                format!("{} port {}{who}", l.proto, l.port),
                "Bind it to 127.0.0.1 or a private interface, require authentication, or stop it; \
                 firewall the port.",
            ),
            None => r.add(
                "listening-service",
                Severity::Informational,
                format!("Service listening on {bound}"),
                l.socket(),
                format!("{} port {}{who}", l.proto, l.port),
                "Check that this service must be reachable from the network; otherwise bind it to localhost.",
            ),
        }
    }
    r.listeners = hp.listeners;
}

fn exists_any(root: &Path, paths: &[&str]) -> Option<String> {
    paths
        .iter()
        .find(|p| under(root, p).exists())
        .map(|p| (*p).to_owned())
}

/// Where a host firewall is configured, if anywhere.
pub fn firewall_evidence(root: &Path) -> Option<String> {
    if let Ok(t) = std::fs::read_to_string(under(root, "/etc/ufw/ufw.conf"))
        && t.lines()
            .any(|l| l.trim().eq_ignore_ascii_case("ENABLED=yes"))
    {
        return Some("ufw enabled (/etc/ufw/ufw.conf)".into());
    }
    if let Some(p) = exists_any(
        root,
        &[
            "/etc/systemd/system/multi-user.target.wants/firewalld.service",
            "/etc/systemd/system/sysinit.target.wants/firewalld.service",
        ],
    ) {
        return Some(format!("firewalld enabled ({p})"));
    }
    if let Ok(t) = std::fs::read_to_string(under(root, "/etc/nftables.conf"))
        && t.contains("hook input")
        && exists_any(
            root,
            &[
                "/etc/systemd/system/sysinit.target.wants/nftables.service",
                "/etc/systemd/system/multi-user.target.wants/nftables.service",
            ],
        )
        .is_some()
    {
        return Some(
            "nftables ruleset with an input hook, service enabled (/etc/nftables.conf)".into(),
        );
    }
    for f in ["/etc/iptables/rules.v4", "/etc/iptables/rules.v6"] {
        if let Ok(t) = std::fs::read_to_string(under(root, f))
            && (t.contains("-A INPUT") || t.contains(":INPUT DROP"))
        {
            return Some(format!("iptables-persistent rules ({f})"));
        }
    }
    if let Ok(t) = std::fs::read_to_string(under(root, "/proc/net/ip_tables_names"))
        && t.lines().any(|l| l.trim() == "filter")
    {
        return Some("iptables filter table loaded (/proc/net/ip_tables_names)".into());
    }
    None
}

pub(super) fn check_firewall(root: &Path, r: &mut HostReport) {
    if firewall_evidence(root).is_none() {
        r.add(
            "firewall-missing",
            Severity::Medium,
            "No host firewall configured",
            "/etc/nftables.conf",
            "no enabled ufw, firewalld, nftables input chain, iptables-persistent rules or loaded iptables filter table",
            "Enable a default-deny input policy: `ufw default deny incoming && ufw allow ssh && ufw enable`, \
             or an nftables input chain with `policy drop` and `systemctl enable --now nftables`.",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tables() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0 100 0 0 10 0\n\
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 99 1 0 100 0 0 10 0\n\
   2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 98 1 0 100 0 0 10 0\n";
        let l = parse_proc_net(tcp, "tcp");
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].socket(), "tcp/0.0.0.0:22");
        assert_eq!(l[1].socket(), "tcp/127.0.0.1:8080");
        assert_eq!(l[1].uid, 1000);
        let tcp6 = "header\n   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1\n";
        let l6 = parse_proc_net(tcp6, "tcp6");
        assert_eq!(l6[0].address, "::1".parse::<IpAddr>().unwrap());
        assert!(parse_proc_net("junk\nmore junk here\n", "udp").is_empty());
    }
}

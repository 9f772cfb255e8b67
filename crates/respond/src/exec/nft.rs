//! nftables: one table Palisade owns (default `inet palisade`), two interval sets with
//! per-element timeouts (`block4`, `block6`) and base chains at priority -10 dropping traffic
//! from (input, forward) and to (output, forward) their elements.
//!
//! We shell out to the real `nft` binary with a script on stdin (`nft -f -`) rather than speak
//! netlink through a crate: a script is one atomic transaction exactly as an administrator would
//! write it (so `describe()` shows the real thing), nft's own parser validates it, the netlink
//! crates lag behind nft's set/element features (interval sets with timeouts), and we need no
//! unsafe or kernel-ABI code. The cost — a process per call — is why `block_many` batches.

use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::ExecError;
use super::command::run;
use crate::action::{net_text, set_of};
use crate::duration;

/// Where and how to run nft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NftConfig {
    /// Table family (`inet` covers IPv4 and IPv6).
    pub family: String,
    /// Table name; Palisade never touches any other table.
    pub table: String,
    /// The nft program.
    pub nft: String,
    /// Words put before the nft command, e.g. `["ip", "netns", "exec", "ns1"]` or `["sudo"]`.
    pub prefix: Vec<String>,
    /// Deadline for one nft call.
    #[serde(with = "crate::duration::secs")]
    pub timeout: Duration,
}

impl Default for NftConfig {
    fn default() -> Self {
        NftConfig {
            family: "inet".into(),
            table: "palisade".into(),
            nft: "nft".into(),
            prefix: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// The nftables executor.
#[derive(Debug, Clone)]
pub struct Nft {
    cfg: NftConfig,
    /// Our table was created by this executor (or a clone): blocks need not ensure it again.
    ready: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Nft {
    pub fn new(cfg: NftConfig) -> Nft {
        Nft {
            cfg,
            ready: Default::default(),
        }
    }

    pub fn config(&self) -> &NftConfig {
        &self.cfg
    }

    /// `inet palisade`.
    pub fn table(&self) -> String {
        format!("{} {}", self.cfg.family, self.cfg.table)
    }

    fn argv(&self, args: &[&str]) -> Vec<String> {
        self.cfg
            .prefix
            .iter()
            .cloned()
            .chain(std::iter::once(self.cfg.nft.clone()))
            .chain(args.iter().map(|s| s.to_string()))
            .collect()
    }

    fn script(&self, script: &str) -> Result<String, ExecError> {
        tracing::debug!(table = %self.table(), "nft -f -:\n{script}");
        run(&self.argv(&["-f", "-"]), Some(script), self.cfg.timeout).map(|r| r.stdout)
    }

    /// The transaction `ensure` runs: table, sets and chains created if missing, our chains
    /// flushed and their rules added again, so running it twice leaves each rule once.
    pub fn ensure_script(&self) -> String {
        let t = self.table();
        let mut s = format!(
            "add table {t}\n\
             add set {t} block4 {{ type ipv4_addr; flags interval, timeout; }}\n\
             add set {t} block6 {{ type ipv6_addr; flags interval, timeout; }}\n"
        );
        for chain in ["input", "forward", "output"] {
            s += &format!(
                "add chain {t} {chain} {{ type filter hook {chain} priority -10; policy accept; }}\n\
                 flush chain {t} {chain}\n"
            );
        }
        for (chain, dir) in [
            ("input", "saddr"),
            ("forward", "saddr"),
            ("forward", "daddr"),
            ("output", "daddr"),
        ] {
            s += &format!("add rule {t} {chain} ip {dir} @block4 drop\n");
            s += &format!("add rule {t} {chain} ip6 {dir} @block6 drop\n");
        }
        s
    }

    /// Creates the table, sets and chains if missing — one atomic transaction, idempotent,
    /// never touching another table. Elements already in the sets stay.
    pub fn ensure(&self) -> Result<(), ExecError> {
        self.script(&self.ensure_script())?;
        self.ready.store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Blocks `nets` in one transaction, creating the table first if this executor has not yet;
    /// when the add fails (someone deleted the table), recreates it once and retries.
    pub fn ensure_and_block(&self, nets: &[(IpNet, Option<Duration>)]) -> Result<(), ExecError> {
        if !self.ready.load(std::sync::atomic::Ordering::Acquire) {
            self.ensure()?;
        }
        match self.block_many(nets) {
            Ok(()) => Ok(()),
            Err(first) => {
                if let Err(e) = self.ensure() {
                    tracing::warn!("nft: {first}; recreating the table failed too");
                    return Err(e);
                }
                self.block_many(nets)
            }
        }
    }

    /// The element text: `10.0.0.1 timeout 4h` (no timeout clause when permanent).
    pub fn element(net: &IpNet, ttl: Option<Duration>) -> String {
        match ttl.filter(|d| !d.is_zero()) {
            // nft's smallest unit is the second; round sub-second timeouts up.
            Some(d) => format!(
                "{} timeout {}",
                net_text(net),
                duration::format(Duration::from_secs(d.as_secs().max(1)))
            ),
            None => net_text(net),
        }
    }

    /// Blocks one address or network.
    pub fn block(&self, net: IpNet, ttl: Option<Duration>) -> Result<(), ExecError> {
        self.block_many(&[(net, ttl)])
    }

    /// Blocks many at once in one nft transaction. Already covered entries (by an element in the
    /// set or a wider entry of the batch) are skipped, and set elements a new wider network
    /// covers are replaced by it: interval sets refuse overlapping elements.
    pub fn block_many(&self, nets: &[(IpNet, Option<Duration>)]) -> Result<(), ExecError> {
        if nets.is_empty() {
            return Ok(());
        }
        let mut batch: Vec<(IpNet, Option<Duration>)> =
            nets.iter().map(|(n, t)| (n.trunc(), *t)).collect();
        // Widest first, so a network comes before the addresses inside it.
        batch.sort_by_key(|(n, _)| (matches!(n, IpNet::V6(_)), n.prefix_len(), *n));
        let mut kept: Vec<(IpNet, Option<Duration>)> = Vec::with_capacity(batch.len());
        for (n, t) in batch {
            if !kept.iter().any(|(k, _)| k.contains(&n)) {
                kept.push((n, t));
            }
        }
        let t = self.table();
        // Fast path: add everything in one transaction. An element that is already there is
        // fine (nft takes the new timeout); only an overlap with a network in the set fails, and
        // then nothing was applied (transactions are atomic), so fall back to comparing with
        // the set's contents. Listing the set every time would cost in proportion to its size.
        let mut direct = String::new();
        for (set, want_v6) in [("block4", false), ("block6", true)] {
            let elems: Vec<String> = kept
                .iter()
                .filter(|(n, _)| matches!(n, IpNet::V6(_)) == want_v6)
                .map(|(n, ttl)| Self::element(n, *ttl))
                .collect();
            for chunk in elems.chunks(4096) {
                direct += &format!("add element {t} {set} {{ {} }}\n", chunk.join(", "));
            }
        }
        match self.script(&direct) {
            Ok(_) => return Ok(()),
            Err(e) if e.to_string().contains("overlaps") => {}
            Err(e) => return Err(e),
        }
        let existing = self.list()?;
        let mut script = String::new();
        let mut adds: [Vec<String>; 2] = [Vec::new(), Vec::new()];
        for (n, ttl) in &kept {
            if existing.iter().any(|(e, _)| e.contains(n)) {
                continue;
            }
            for (e, _) in existing.iter().filter(|(e, _)| n.contains(e)) {
                script += &format!("delete element {t} {} {{ {} }}\n", set_of(e), net_text(e));
            }
            let i = usize::from(set_of(n) == "block6");
            adds[i].push(Self::element(n, *ttl));
        }
        for (set, elems) in ["block4", "block6"].iter().zip(&adds) {
            for chunk in elems.chunks(4096) {
                script += &format!("add element {t} {set} {{ {} }}\n", chunk.join(", "));
            }
        }
        if script.is_empty() {
            return Ok(());
        }
        self.script(&script).map(drop)
    }

    /// Removes an address or network; removing one that is not there is fine (it is added and
    /// deleted in one transaction, which nft accepts either way). An address inside a blocked
    /// network cannot be cut out of it: that is an error naming the overlap.
    pub fn unblock(&self, net: IpNet) -> Result<(), ExecError> {
        let net = net.trunc();
        let (t, set, e) = (self.table(), set_of(&net), net_text(&net));
        self.script(&format!(
            "add element {t} {set} {{ {e} }}\ndelete element {t} {set} {{ {e} }}\n"
        ))
        .map(drop)
    }

    /// The blocked entries and their remaining time (`None`: no timeout).
    pub fn list(&self) -> Result<Vec<(IpNet, Option<Duration>)>, ExecError> {
        let mut out = Vec::new();
        for set in ["block4", "block6"] {
            let args = ["-j", "list", "set", &self.cfg.family, &self.cfg.table, set];
            let text = run(&self.argv(&args), None, self.cfg.timeout)?.stdout;
            parse_list(&text, &mut out)
                .map_err(|m| ExecError::Parse(format!("nft -j list set {set}: {m}")))?;
        }
        Ok(out)
    }

    /// Deletes our table (and with it every block); other tables are untouched. Missing is fine.
    pub fn teardown(&self) -> Result<(), ExecError> {
        let t = self.table();
        self.script(&format!("add table {t}\ndelete table {t}\n"))
            .map(drop)
    }
}

/// Reads the elements of `nft -j list set` output.
fn parse_list(text: &str, out: &mut Vec<(IpNet, Option<Duration>)>) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let items = v
        .get("nftables")
        .and_then(|n| n.as_array())
        .ok_or("no \"nftables\" array")?;
    for item in items {
        let Some(elems) = item
            .get("set")
            .and_then(|s| s.get("elem"))
            .and_then(|e| e.as_array())
        else {
            continue;
        };
        for e in elems {
            // `"10.0.0.1"`, `{"prefix": …}`, `{"range": …}` or `{"elem": {"val": …, "expires": n}}`.
            let (val, expires) = match e.get("elem") {
                Some(inner) => (
                    inner.get("val").ok_or("element without val")?,
                    inner.get("expires").and_then(|x| x.as_u64()),
                ),
                None => (e, None),
            };
            for net in nets_of(val)? {
                out.push((net, expires.map(Duration::from_secs)));
            }
        }
    }
    Ok(())
}

fn nets_of(val: &serde_json::Value) -> Result<Vec<IpNet>, String> {
    if let Some(s) = val.as_str() {
        return crate::playbook::parse_net(s)
            .map(|n| vec![n])
            .ok_or_else(|| format!("{s:?} is not an address"));
    }
    if let Some(p) = val.get("prefix") {
        let addr = p
            .get("addr")
            .and_then(|a| a.as_str())
            .ok_or("prefix without addr")?;
        let len = p
            .get("len")
            .and_then(|l| l.as_u64())
            .ok_or("prefix without len")?;
        return format!("{addr}/{len}")
            .parse::<IpNet>()
            .map(|n| vec![n])
            .map_err(|e| e.to_string());
    }
    if let Some(r) = val.get("range").and_then(|r| r.as_array()) {
        // A range that is not one prefix (nft merged neighbours): its covering prefixes.
        let ends: Vec<std::net::IpAddr> =
            r.iter().filter_map(|x| x.as_str()?.parse().ok()).collect();
        if let [a, b] = ends[..] {
            return match (a, b) {
                (std::net::IpAddr::V4(a), std::net::IpAddr::V4(b)) => {
                    Ok(ipnet::Ipv4Subnets::new(a, b, 0).map(IpNet::V4).collect())
                }
                (std::net::IpAddr::V6(a), std::net::IpAddr::V6(b)) => {
                    Ok(ipnet::Ipv6Subnets::new(a, b, 0).map(IpNet::V6).collect())
                }
                _ => Err("range of mixed families".into()),
            };
        }
        return Err("range without two addresses".into());
    }
    Err(format!("unexpected element {val}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nft_json_elements() {
        let text = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"set": {"family": "inet", "name": "block4", "table": "palisade", "type": "ipv4_addr", "elem": [{"elem": {"val": "10.0.0.1", "timeout": 3600, "expires": 3599}}, {"elem": {"val": {"prefix": {"addr": "10.1.0.0", "len": 16}}, "timeout": 14400, "expires": 14399}}, "10.2.0.1", {"prefix": {"addr": "10.3.0.0", "len": 24}}, {"range": ["10.4.0.1", "10.4.0.2"]}]}}]}"#;
        let mut out = Vec::new();
        parse_list(text, &mut out).unwrap();
        let want: Vec<(IpNet, Option<Duration>)> = vec![
            (
                "10.0.0.1/32".parse().unwrap(),
                Some(Duration::from_secs(3599)),
            ),
            (
                "10.1.0.0/16".parse().unwrap(),
                Some(Duration::from_secs(14399)),
            ),
            ("10.2.0.1/32".parse().unwrap(), None),
            ("10.3.0.0/24".parse().unwrap(), None),
            ("10.4.0.1/32".parse().unwrap(), None),
            ("10.4.0.2/32".parse().unwrap(), None),
        ];
        assert_eq!(out, want);
        assert!(parse_list("{}", &mut out).is_err());
    }

    #[test]
    fn ensure_script_touches_only_our_table() {
        let n = Nft::new(NftConfig {
            table: "pt".into(),
            ..NftConfig::default()
        });
        let s = n.ensure_script();
        assert!(
            s.lines()
                .all(|l| l.split_whitespace().collect::<Vec<_>>()[1..4].contains(&"pt")),
            "{s}"
        );
        assert_eq!(s.matches("add rule").count(), 8);
        assert_eq!(
            Nft::element(
                &"203.0.113.7/32".parse().unwrap(),
                Some(Duration::from_secs(14_400))
            ),
            "203.0.113.7 timeout 4h"
        );
    }
}

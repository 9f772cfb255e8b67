//! Fast membership tests for lists of addresses and networks.

use ipnet::IpNet;
use rustc_hash::FxHashSet;
use std::net::IpAddr;
use std::path::Path;

use crate::error::AuthError;

/// A set of IPv4/IPv6 networks. A lookup costs one hash probe per distinct prefix length in the
/// set (a Tor exit list of single addresses: one probe), whatever the number of entries.
#[derive(Debug, Clone, Default)]
pub struct CidrSet {
    /// (prefix length, masked network addresses) for IPv4, longest prefix first.
    v4: Vec<(u8, FxHashSet<u32>)>,
    v6: Vec<(u8, FxHashSet<u128>)>,
    len: usize,
}

fn mask4(a: u32, p: u8) -> u32 {
    if p == 0 {
        0
    } else {
        a & (u32::MAX << (32 - p as u32))
    }
}
fn mask6(a: u128, p: u8) -> u128 {
    if p == 0 {
        0
    } else {
        a & (u128::MAX << (128 - p as u32))
    }
}

impl CidrSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries inserted.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn insert(&mut self, net: IpNet) {
        self.len += 1;
        match net {
            IpNet::V4(n) => {
                let p = n.prefix_len();
                let a = mask4(u32::from(n.network()), p);
                match self.v4.iter_mut().find(|(q, _)| *q == p) {
                    Some((_, s)) => {
                        s.insert(a);
                    }
                    None => {
                        self.v4.push((p, std::iter::once(a).collect()));
                        self.v4.sort_by_key(|x| std::cmp::Reverse(x.0));
                    }
                }
            }
            IpNet::V6(n) => {
                let p = n.prefix_len();
                let a = mask6(u128::from(n.network()), p);
                match self.v6.iter_mut().find(|(q, _)| *q == p) {
                    Some((_, s)) => {
                        s.insert(a);
                    }
                    None => {
                        self.v6.push((p, std::iter::once(a).collect()));
                        self.v6.sort_by_key(|x| std::cmp::Reverse(x.0));
                    }
                }
            }
        }
    }

    /// Adds every entry of `other`.
    pub fn merge(&mut self, other: CidrSet) {
        for (p, set) in other.v4 {
            for a in set {
                self.insert(IpNet::V4(
                    ipnet::Ipv4Net::new(a.into(), p).expect("valid prefix"),
                ));
            }
        }
        for (p, set) in other.v6 {
            for a in set {
                self.insert(IpNet::V6(
                    ipnet::Ipv6Net::new(a.into(), p).expect("valid prefix"),
                ));
            }
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().any(|(p, s)| s.contains(&mask4(a, *p)))
            }
            IpAddr::V6(a) => {
                if let Some(v4) = a.to_ipv4_mapped() {
                    return self.contains(IpAddr::V4(v4));
                }
                let a = u128::from(a);
                self.v6.iter().any(|(p, s)| s.contains(&mask6(a, *p)))
            }
        }
    }

    /// Parses one address (`192.0.2.1`) or network (`192.0.2.0/24`).
    pub fn parse_entry(s: &str) -> Option<IpNet> {
        let s = s.trim();
        s.parse::<IpNet>()
            .ok()
            .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
    }

    /// Builds a set from entries; `list` names the list in the error.
    pub fn from_entries<S: AsRef<str>>(list: &str, entries: &[S]) -> Result<Self, AuthError> {
        let mut set = CidrSet::new();
        for e in entries {
            let e = e.as_ref();
            let net = Self::parse_entry(e).ok_or_else(|| AuthError::Policy {
                field: list.to_string(),
                message: format!("{e:?} is not an IP address or CIDR network"),
            })?;
            set.insert(net);
        }
        Ok(set)
    }

    /// Loads a list file: one address or CIDR per line; blank lines and `#` comments are
    /// skipped (the Tor exit list format, and the `ExitAddress <ip> <date>` lines of Tor's
    /// exit-addresses file). A bad line is an error naming the file and line.
    pub fn load_file(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|e| AuthError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut set = CidrSet::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let entry = match line.strip_prefix("ExitAddress ") {
                Some(rest) => rest.split_whitespace().next().unwrap_or(""),
                None if line.starts_with("ExitNode ")
                    || line.starts_with("Published ")
                    || line.starts_with("LastStatus ") =>
                {
                    continue;
                }
                None => line,
            };
            let net = Self::parse_entry(entry).ok_or_else(|| AuthError::ListLine {
                path: path.to_path_buf(),
                line: i + 1,
                message: format!("{entry:?} is not an IP address or CIDR network"),
            })?;
            set.insert(net);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_by_prefix() {
        let s = CidrSet::from_entries("t", &["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]).unwrap();
        assert!(s.contains("10.200.1.1".parse().unwrap()));
        assert!(s.contains("192.0.2.7".parse().unwrap()));
        assert!(!s.contains("192.0.2.8".parse().unwrap()));
        assert!(s.contains("2001:db8::1".parse().unwrap()));
        assert!(s.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!s.contains("11.0.0.1".parse().unwrap()));
        assert!(CidrSet::from_entries("t", &["10.0.0.0/33"]).is_err());
    }
}

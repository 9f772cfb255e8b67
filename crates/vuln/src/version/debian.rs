//! Debian package versions, ordered as `dpkg --compare-versions` orders them:
//! `[epoch:]upstream[-revision]`; the epoch compares numerically, then upstream and revision
//! with dpkg's `verrevcmp`: alternating runs of non-digits (compared character by character,
//! `~` before the end of the string, before letters, before other symbols) and digits
//! (compared as numbers). A missing revision equals `0`.

use std::cmp::Ordering;
use std::fmt;

use super::{Scheme, VersionError};

#[derive(Debug, Clone)]
pub struct DebianVersion {
    text: String,
    epoch: u64,
    /// Byte ranges of upstream and revision in `text`.
    upstream: (usize, usize),
    revision: (usize, usize),
}

impl DebianVersion {
    pub fn parse(text: &str) -> Result<DebianVersion, VersionError> {
        let err = |reason: &str| VersionError::new(Scheme::Debian, text, reason);
        let t = text.trim();
        if t.is_empty() {
            return Err(err("empty"));
        }
        if let Some(b) = t
            .bytes()
            .find(|b| b.is_ascii_whitespace() || !b.is_ascii_graphic())
        {
            return Err(err(&format!("invalid character {:?}", b as char)));
        }
        let (epoch, rest_start) = match t.find(':') {
            Some(i) => {
                let e = &t[..i];
                if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err("epoch is not a number"));
                }
                let epoch = e.parse::<u64>().map_err(|_| err("epoch too large"))?;
                (epoch, i + 1)
            }
            None => (0, 0),
        };
        let rest = &t[rest_start..];
        let (up_len, rev) = match rest.rfind('-') {
            Some(i) => (i, (rest_start + i + 1, t.len())),
            None => (rest.len(), (t.len(), t.len())),
        };
        if up_len == 0 {
            return Err(err("empty upstream version"));
        }
        if rest.contains('-') && rev.0 == rev.1 {
            return Err(err("empty revision"));
        }
        Ok(DebianVersion {
            text: t.to_owned(),
            epoch,
            upstream: (rest_start, rest_start + up_len),
            revision: rev,
        })
    }

    pub fn upstream(&self) -> &str {
        &self.text[self.upstream.0..self.upstream.1]
    }

    pub fn revision(&self) -> &str {
        &self.text[self.revision.0..self.revision.1]
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }
}

/// dpkg's character weight in the non-digit runs.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`.
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

impl PartialEq for DebianVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for DebianVersion {}

impl PartialOrd for DebianVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DebianVersion {
    fn cmp(&self, o: &Self) -> Ordering {
        self.epoch
            .cmp(&o.epoch)
            .then_with(|| verrevcmp(self.upstream().as_bytes(), o.upstream().as_bytes()))
            .then_with(|| verrevcmp(self.revision().as_bytes(), o.revision().as_bytes()))
    }
}

impl fmt::Display for DebianVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> DebianVersion {
        DebianVersion::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn dpkg_examples() {
        assert!(v("1.0~rc1") < v("1.0"));
        assert!(v("1.0~~") < v("1.0~"));
        assert!(v("1.0") < v("1.0a"));
        assert!(v("1.0a") < v("1.0+"));
        assert!(v("1:0.1") > v("9.9"));
        assert!(v("2.30-1ubuntu1") > v("2.30-1"));
        assert!(v("1.2.3-1") < v("1.2.3-1.1"));
        assert_eq!(v("1.0"), v("1.0-0"));
        assert_eq!(v("0:1.0"), v("1.0"));
        assert_eq!(v("1.001"), v("1.1"));
        assert_eq!(v("1.2-3").upstream(), "1.2");
        assert_eq!(v("1:1.2-3-4").revision(), "4");
        assert_eq!(v("1:1.2-3-4").upstream(), "1.2-3");
    }

    #[test]
    fn bad_versions_are_errors() {
        for bad in ["", "a:1.0", ":1.0", "1.0 2", "-1", "1:"] {
            assert!(DebianVersion::parse(bad).is_err(), "{bad}");
        }
    }
}

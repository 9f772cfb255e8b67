//! PEP 440 versions (PyPI), ordered as Python's `packaging.version.Version` orders them.
//!
//! `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, case-insensitive, with the spellings PEP 440
//! normalises (`alpha`, `beta`, `c`, `pre`, `preview`, `rev`, `r`, `-N` for a post-release,
//! separators `.`, `-`, `_` or none, a leading `v`, implicit numbers). The ordering key is
//! packaging's `_cmpkey`: trailing zeros of the release dropped; a dev release without a pre- or
//! post-release sorts before every pre-release of that release; no pre-release sorts after
//! every pre-release; no post-release before every post-release; no dev after every dev; local
//! labels compare segment-wise with numbers above strings.

use std::cmp::Ordering;
use std::fmt;

use super::{Scheme, VersionError};

#[derive(Debug, Clone)]
pub struct Pep440Version {
    text: String,
    epoch: u64,
    release: Vec<u64>,
    /// (0 = a, 1 = b, 2 = rc, number)
    pre: Option<(u8, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
    local: Vec<LocalPart>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum LocalPart {
    // Declared first: strings sort below numbers.
    Text(String),
    Num(u64),
}

/// Ordering sentinels around a value (packaging's `Infinity` / `NegativeInfinity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Bound<T> {
    Low,
    Value(T),
    High,
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat_sep(&mut self) -> bool {
        if matches!(self.peek(), Some(b'.' | b'-' | b'_')) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn number(&mut self) -> Option<Result<u64, ()>> {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        if start == self.i {
            return None;
        }
        let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        Some(digits.parse::<u64>().map_err(|_| ()))
    }
    /// Eats the longest of `words` (ASCII lower case) at the cursor.
    fn word(&mut self, words: &[&'static str]) -> Option<&'static str> {
        let rest = &self.s[self.i..];
        let best = words
            .iter()
            .filter(|w| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w.as_bytes()))
            .max_by_key(|w| w.len())?;
        self.i += best.len();
        Some(best)
    }
}

impl Pep440Version {
    pub fn parse(text: &str) -> Result<Pep440Version, VersionError> {
        let err = |reason: &str| VersionError::new(Scheme::Pep440, text, reason);
        let t = text.trim();
        if t.is_empty() {
            return Err(err("empty"));
        }
        let (public, local_text) = match t.split_once('+') {
            Some((p, l)) => (p, Some(l)),
            None => (t, None),
        };
        let mut c = Cursor {
            s: public.as_bytes(),
            i: 0,
        };
        if matches!(c.peek(), Some(b'v' | b'V')) {
            c.i += 1;
        }
        let too_big = || err("number too large");
        let mut epoch = 0;
        let mut release = Vec::new();
        let first = c.number().ok_or_else(|| err("expected a release number"))?;
        let first = first.map_err(|_| too_big())?;
        if c.peek() == Some(b'!') {
            c.i += 1;
            epoch = first;
            release.push(
                c.number()
                    .ok_or_else(|| err("expected a release number after the epoch"))?
                    .map_err(|_| too_big())?,
            );
        } else {
            release.push(first);
        }
        while c.peek() == Some(b'.') && matches!(c.s.get(c.i + 1), Some(b'0'..=b'9')) {
            c.i += 1;
            release.push(c.number().unwrap_or(Ok(0)).map_err(|_| too_big())?);
        }
        if release.len() > 64 {
            return Err(err("too many release numbers"));
        }
        let mut v = Pep440Version {
            text: t.to_owned(),
            epoch,
            release,
            pre: None,
            post: None,
            dev: None,
            local: Vec::new(),
        };
        // Pre-release.
        let save = c.i;
        c.eat_sep();
        let pre_words = ["a", "alpha", "b", "beta", "c", "rc", "pre", "preview"];
        if let Some(w) = c.word(&pre_words) {
            let kind = match w {
                "a" | "alpha" => 0,
                "b" | "beta" => 1,
                _ => 2,
            };
            c.eat_sep();
            let n = c.number().unwrap_or(Ok(0)).map_err(|_| too_big())?;
            v.pre = Some((kind, n));
        } else {
            c.i = save;
        }
        // Post-release: `-N`, or [sep](post|rev|r)[sep][N].
        let save = c.i;
        if c.peek() == Some(b'-') && matches!(c.s.get(c.i + 1), Some(b'0'..=b'9')) {
            c.i += 1;
            v.post = Some(c.number().unwrap_or(Ok(0)).map_err(|_| too_big())?);
        } else {
            c.eat_sep();
            if c.word(&["post", "rev", "r"]).is_some() {
                c.eat_sep();
                v.post = Some(c.number().unwrap_or(Ok(0)).map_err(|_| too_big())?);
            } else {
                c.i = save;
            }
        }
        // Dev release.
        let save = c.i;
        c.eat_sep();
        if c.word(&["dev"]).is_some() {
            c.eat_sep();
            v.dev = Some(c.number().unwrap_or(Ok(0)).map_err(|_| too_big())?);
        } else {
            c.i = save;
        }
        if c.i != c.s.len() {
            return Err(err(&format!("unexpected text at byte {}", c.i)));
        }
        if let Some(local) = local_text {
            if local.is_empty() {
                return Err(err("empty local label"));
            }
            for part in local.split(['.', '-', '_']) {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(err("bad local label"));
                }
                v.local.push(match part.parse::<u64>() {
                    Ok(n) if part.bytes().all(|b| b.is_ascii_digit()) => LocalPart::Num(n),
                    _ => LocalPart::Text(part.to_ascii_lowercase()),
                });
            }
        }
        Ok(v)
    }

    /// Whether this is a pre- or dev release (pip skips those unless asked).
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    fn release_key(&self) -> &[u64] {
        let mut n = self.release.len();
        while n > 1 && self.release[n - 1] == 0 {
            n -= 1;
        }
        if n == 1 && self.release[0] == 0 {
            // `0`, `0.0`, … are all the empty release tuple in packaging; keep one zero.
            return &self.release[..1];
        }
        &self.release[..n]
    }

    fn pre_key(&self) -> Bound<(u8, u64)> {
        match (self.pre, self.post, self.dev) {
            (None, None, Some(_)) => Bound::Low,
            (None, _, _) => Bound::High,
            (Some(p), _, _) => Bound::Value(p),
        }
    }

    fn post_key(&self) -> Bound<u64> {
        self.post.map_or(Bound::Low, Bound::Value)
    }

    fn dev_key(&self) -> Bound<u64> {
        self.dev.map_or(Bound::High, Bound::Value)
    }

    fn local_key(&self) -> Bound<&[LocalPart]> {
        if self.local.is_empty() {
            Bound::Low
        } else {
            Bound::Value(&self.local)
        }
    }
}

impl PartialEq for Pep440Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pep440Version {}

impl PartialOrd for Pep440Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pep440Version {
    fn cmp(&self, o: &Self) -> Ordering {
        self.epoch
            .cmp(&o.epoch)
            .then_with(|| self.release_key().cmp(o.release_key()))
            .then_with(|| self.pre_key().cmp(&o.pre_key()))
            .then_with(|| self.post_key().cmp(&o.post_key()))
            .then_with(|| self.dev_key().cmp(&o.dev_key()))
            .then_with(|| self.local_key().cmp(&o.local_key()))
    }
}

impl fmt::Display for Pep440Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Pep440Version {
        Pep440Version::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_pep_440_example_order() {
        // The order PEP 440's "Summary of permitted suffixes and relative ordering" gives.
        let ordered = [
            "1.dev0",
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
        ];
        for w in ordered.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
        }
    }

    #[test]
    fn normalised_spellings_are_equal() {
        assert_eq!(v("1.0"), v("1.0.0"));
        assert_eq!(v("1.0ALPHA1").cmp(&v("1.0a1")), Ordering::Equal);
        assert_eq!(v("1.0-c1").cmp(&v("1.0rc1")), Ordering::Equal);
        assert_eq!(v("1.0-1").cmp(&v("1.0.post1")), Ordering::Equal);
        assert_eq!(v("1.0.r").cmp(&v("1.0.post0")), Ordering::Equal);
        assert_eq!(v("v2!1.0_dev").cmp(&v("2!1.0.dev0")), Ordering::Equal);
        assert!(v("1!0.1") > v("2.0"));
        assert!(v("0") == v("0") && v("0").cmp(&v("0.0.0")) == Ordering::Equal);
    }

    #[test]
    fn bad_versions_are_errors() {
        for bad in [
            "",
            "abc",
            "1.0+",
            "1.0+a b",
            "1.0xyz",
            "1!",
            "99999999999999999999999",
        ] {
            assert!(Pep440Version::parse(bad).is_err(), "{bad}");
        }
    }
}

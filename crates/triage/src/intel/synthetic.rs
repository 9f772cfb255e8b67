//! Deterministic synthetic indicators, for benchmarks and tests: the same `(count, seed)`
//! always gives the same list.
//!
//! Mix: 40 % IPv4 (a tenth of them networks /16–/28), 5 % IPv6 (half /48–/64 networks), 25 %
//! domains, 10 % URLs, 20 % file hashes (MD5, SHA-1, SHA-256 in equal parts); a fifth expire
//! one year after `now`, the rest never.

use chrono::{DateTime, Duration, Utc};

use super::model::{self, Indicator, IndicatorKind};

/// SplitMix64: tiny, fast and good enough to spread synthetic values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const TLDS: &[&str] = &["com", "net", "org", "info", "xyz", "top", "ru", "io"];

fn label(rng: &mut Rng) -> String {
    let len = 5 + rng.below(9) as usize;
    (0..len)
        .map(|_| (b'a' + rng.below(26) as u8) as char)
        .collect()
}

fn hex(rng: &mut Rng, chars: usize) -> String {
    let mut s = String::with_capacity(chars);
    while s.len() < chars {
        s.push_str(&format!("{:016x}", rng.next()));
    }
    s.truncate(chars);
    s
}

/// `count` indicators of source `source`, from `seed`.
pub fn generate(count: usize, seed: u64, source: &str, now: DateTime<Utc>) -> Vec<Indicator> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(count);
    let mut seen = std::collections::HashSet::with_capacity(count);
    while out.len() < count {
        let pick = rng.below(100);
        let (kind, value) = match pick {
            0..=39 => {
                let a = std::net::Ipv4Addr::from(rng.next() as u32);
                if a.is_loopback() || a.is_unspecified() {
                    continue;
                }
                if rng.below(10) == 0 {
                    let len = 16 + rng.below(13) as u8;
                    let net = ipnet::Ipv4Net::new(a, len).map(|n| n.trunc());
                    match net {
                        Ok(n) => (IndicatorKind::Ipv4, n.to_string()),
                        Err(_) => continue,
                    }
                } else {
                    (IndicatorKind::Ipv4, a.to_string())
                }
            }
            40..=44 => {
                let a = std::net::Ipv6Addr::from(
                    (0x2001_0db8_u128 << 96)
                        | u128::from(rng.next()) << 32
                        | u128::from(rng.next() as u32),
                );
                if rng.below(2) == 0 {
                    let len = 48 + rng.below(17) as u8;
                    match ipnet::Ipv6Net::new(a, len).map(|n| n.trunc()) {
                        Ok(n) => (IndicatorKind::Ipv6, n.to_string()),
                        Err(_) => continue,
                    }
                } else {
                    (IndicatorKind::Ipv6, a.to_string())
                }
            }
            45..=69 => {
                let sub = if rng.below(3) == 0 {
                    format!("{}.", label(&mut rng))
                } else {
                    String::new()
                };
                let tld = TLDS[rng.below(TLDS.len() as u64) as usize];
                (
                    IndicatorKind::Domain,
                    format!("{sub}{}.{tld}", label(&mut rng)),
                )
            }
            70..=79 => {
                let tld = TLDS[rng.below(TLDS.len() as u64) as usize];
                let url = format!(
                    "http://{}.{tld}/{}/{}.php",
                    label(&mut rng),
                    label(&mut rng),
                    label(&mut rng)
                );
                match model::normalize_url(&url) {
                    Some(u) => (IndicatorKind::Url, u),
                    None => continue,
                }
            }
            _ => match rng.below(3) {
                0 => (IndicatorKind::Md5, hex(&mut rng, 32)),
                1 => (IndicatorKind::Sha1, hex(&mut rng, 40)),
                _ => (IndicatorKind::Sha256, hex(&mut rng, 64)),
            },
        };
        if !seen.insert((kind, value.clone())) {
            continue;
        }
        let confidence = 20 + rng.below(81) as u8;
        let mut ind = Indicator::new(kind, value, source, confidence);
        if rng.below(5) == 0 {
            ind.valid_until = Some(now + Duration::days(365));
        }
        out.push(ind);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_mix() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let a = generate(2_000, 7, "synthetic", now);
        assert_eq!(a, generate(2_000, 7, "synthetic", now));
        assert_ne!(a, generate(2_000, 8, "synthetic", now));
        assert_eq!(a.len(), 2_000);
        for kind in IndicatorKind::ALL {
            let n = a.iter().filter(|i| i.kind == kind).count();
            assert!(n > 20, "{kind}: {n}");
        }
        // Every generated value is already in normalised form.
        for i in &a {
            let hint = model::TypeHint::Kind(i.kind);
            assert_eq!(
                model::normalize(&i.value, hint),
                Ok((i.kind, i.value.clone()))
            );
        }
    }
}

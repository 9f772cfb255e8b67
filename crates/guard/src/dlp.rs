//! Data-leak protection: secrets (cloud keys, tokens, private keys) and personal data (e-mail
//! addresses, phone numbers, payment cards, IBANs, national identifiers) in prompts and model
//! answers, found, checked and redacted; canary tokens that reveal a leaked system prompt.
//!
//! A pattern alone is weak evidence, so where a format carries a checksum it is verified
//! (payment cards: Luhn; IBAN: ISO 13616 mod-97 and the country's length; GitHub tokens: the
//! CRC-32 in their last six characters; Spanish DNI/NIE: the control letter; JWT: a header that
//! decodes to JSON with `alg`), and generic `password=…` assignments must look random (Shannon
//! entropy). Findings never carry the secret itself, only a masked preview.

use std::sync::LazyLock;

use base64::Engine as _;
use regex::Regex;

/// What kind of thing leaked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Secret,
    Pii,
    Canary,
}

/// One finding; `start..end` is a byte range of the scanned text.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Finding {
    /// e.g. `aws_access_key_id`, `payment_card`, `iban`, `canary`.
    pub kind: &'static str,
    pub category: Category,
    pub start: usize,
    pub end: usize,
    /// True when a checksum or structural check confirmed the format.
    pub validated: bool,
    /// The first characters and a mask, never the whole value.
    pub preview: String,
}

type Validator = fn(&str) -> bool;

struct Detector {
    kind: &'static str,
    category: Category,
    pattern: Regex,
    /// Capture group holding the value (0 = whole match).
    group: usize,
    /// `Some`: findings are kept only when it says yes (validated); `None`: format only.
    validate: Option<Validator>,
}

fn det(
    kind: &'static str,
    category: Category,
    pattern: &str,
    group: usize,
    validate: Option<Validator>,
) -> Detector {
    Detector {
        kind,
        category,
        pattern: Regex::new(pattern).expect("built-in DLP pattern compiles"),
        group,
        validate,
    }
}

static DETECTORS: LazyLock<Vec<Detector>> = LazyLock::new(|| {
    use Category::{Pii, Secret};
    vec![
        det(
            "private_key",
            Secret,
            r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----(?s:.*?)-----END (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----",
            0,
            None,
        ),
        det(
            "aws_access_key_id",
            Secret,
            r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b",
            0,
            None,
        ),
        det(
            "aws_secret_access_key",
            Secret,
            r#"(?i)aws.{0,20}secret.{0,20}?[=:"'\s]\s*["']?([A-Za-z0-9/+]{40})\b"#,
            1,
            Some(|v| entropy(v) >= 4.0),
        ),
        det(
            "github_token",
            Secret,
            r"\bgh[pousr]_[A-Za-z0-9]{36}\b",
            0,
            Some(github_checksum_ok),
        ),
        det(
            "github_fine_grained_token",
            Secret,
            r"\bgithub_pat_[A-Za-z0-9_]{82}\b",
            0,
            None,
        ),
        det(
            "slack_token",
            Secret,
            r"\bxox[abposr]-[A-Za-z0-9-]{10,72}\b",
            0,
            None,
        ),
        det(
            "stripe_key",
            Secret,
            r"\b(?:sk|rk)_live_[A-Za-z0-9]{24,99}\b",
            0,
            None,
        ),
        det(
            "google_api_key",
            Secret,
            r"\bAIza[0-9A-Za-z_-]{35}\b",
            0,
            None,
        ),
        det(
            "anthropic_api_key",
            Secret,
            r"\bsk-ant-[A-Za-z0-9_-]{32,}",
            0,
            None,
        ),
        det(
            "openai_api_key",
            Secret,
            r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{32,}",
            0,
            Some(|v| !v.starts_with("sk-ant-") && entropy(v) >= 4.0),
        ),
        det(
            "jwt",
            Secret,
            r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,}",
            0,
            Some(jwt_header_ok),
        ),
        det(
            "password_assignment",
            Secret,
            r#"(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret)\b["']?\s*[:=]\s*["']?([^\s"'`,;]{8,128})"#,
            1,
            Some(|v| {
                entropy(v) >= 3.0
                    && v.chars()
                        .any(|c| c.is_ascii_digit() || !c.is_alphanumeric())
            }),
        ),
        det(
            "email_address",
            Pii,
            r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b",
            0,
            None,
        ),
        det(
            "payment_card",
            Pii,
            r"\b\d(?:[ -]?\d){12,18}\b",
            0,
            Some(card_ok),
        ),
        det(
            "iban",
            Pii,
            r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b",
            0,
            Some(iban_ok),
        ),
        det(
            "us_ssn",
            Pii,
            r"\b(\d{3})-(\d{2})-(\d{4})\b",
            0,
            Some(ssn_ok),
        ),
        det("es_dni", Pii, r"\b[XYZ0-9]\d{7}[A-Z]\b", 0, Some(dni_ok)),
        det(
            "phone_number",
            Pii,
            r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\b\d{2,4}[ .-])\d{3,4}[ .-]?\d{3,4}\b",
            0,
            Some(phone_ok),
        ),
    ]
});

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    for b in s.bytes() {
        counts[b as usize] += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

/// Luhn (mod 10) over the digits of `s`, ignoring spaces and dashes.
pub fn luhn_ok(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() < 2 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A payment card: 13–19 digits, a known issuer prefix and a valid Luhn check digit.
fn card_ok(s: &str) -> bool {
    let d: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    let prefix2: u32 = d.get(..2).and_then(|p| p.parse().ok()).unwrap_or(0);
    let prefix4: u32 = d.get(..4).and_then(|p| p.parse().ok()).unwrap_or(0);
    let issuer = match d.len() {
        13 | 16 | 19 if d.starts_with('4') => true,     // Visa
        16 if (51..=55).contains(&prefix2) => true,     // Mastercard
        16 if (2221..=2720).contains(&prefix4) => true, // Mastercard 2-series
        15 if prefix2 == 34 || prefix2 == 37 => true,   // Amex
        16..=19 if prefix4 == 6011 || prefix2 == 65 => true, // Discover
        16..=19 if (3528..=3589).contains(&prefix4) => true, // JCB
        14 if prefix2 == 36 || (3000..=3059).contains(&prefix4) => true, // Diners
        _ => false,
    };
    // A run of one repeated digit passes Luhn for some lengths but is never a card.
    issuer && luhn_ok(&d) && !d.chars().all(|c| d.starts_with(c))
}

/// IBAN length per country (ISO 13616 registry, common countries).
fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "NL" => 18,
        "SI" => 19,
        "AT" | "EE" | "LT" | "LU" | "KZ" => 20,
        "CH" | "HR" | "LV" | "LI" => 21,
        "BG" | "DE" | "GB" | "IE" | "ME" | "RS" => 22,
        "AE" | "GI" | "IL" => 23,
        "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" => 24,
        "PT" => 25,
        "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "MR" | "SM" => 27,
        "AL" | "AZ" | "CY" | "DO" | "HU" | "LB" | "PL" => 28,
        "BR" | "PS" | "QA" => 29,
        "JO" | "KW" | "MU" => 30,
        "MT" | "SC" => 31,
        _ => return None,
    })
}

/// ISO 13616: known country, its length, and mod-97 of the rearranged number equal to 1.
pub fn iban_ok(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(len) = compact.get(..2).and_then(iban_length) else {
        return false;
    };
    if compact.len() != len || !compact.is_ascii() {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// US SSN: no checksum exists, so the issuing rules (area not 000/666/9xx, group and serial
/// not zero) are all that can be checked.
fn ssn_ok(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [area, group, serial] = parts.as_slice() else {
        return false;
    };
    *area != "000"
        && *area != "666"
        && !area.starts_with('9')
        && *group != "00"
        && *serial != "0000"
}

/// Spanish DNI (8 digits) or NIE (X/Y/Z + 7 digits) with its control letter.
pub fn dni_ok(s: &str) -> bool {
    const LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let mut digits = String::new();
    for (i, c) in s.chars().enumerate() {
        match (i, c) {
            (0, 'X') => digits.push('0'),
            (0, 'Y') => digits.push('1'),
            (0, 'Z') => digits.push('2'),
            (_, '0'..='9') => digits.push(c),
            _ => {}
        }
    }
    let (Some(letter), Ok(n)) = (s.chars().last(), digits.parse::<u64>()) else {
        return false;
    };
    digits.len() == 8 && LETTERS[(n % 23) as usize] as char == letter
}

/// A phone number: 9–15 digits (E.164 allows 15), not a date-like or card-like run.
fn phone_ok(s: &str) -> bool {
    let n = s.chars().filter(|c| c.is_ascii_digit()).count();
    (9..=15).contains(&n)
        && (s.starts_with('+') || s.starts_with('(') || s.contains(' ') || s.contains('-'))
}

/// CRC-32 (IEEE, reflected), bitwise: short inputs only, no table needed.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` in base 62, left-padded with zeros to six characters.
pub fn base62_6(mut n: u32) -> String {
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// GitHub's token format (2021): prefix, 30 random characters, then the CRC-32 of those 30
/// in base 62 (6 characters).
fn github_checksum_ok(token: &str) -> bool {
    let Some(body) = token.get(4..) else {
        return false;
    };
    if body.len() != 36 {
        return false;
    }
    let (random, check) = body.split_at(30);
    base62_6(crc32(random.as_bytes())) == check
}

fn jwt_header_ok(token: &str) -> bool {
    let header = token.split('.').next().unwrap_or("");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.get("alg").is_some())
}

fn preview(value: &str) -> String {
    let shown: String = value.chars().take(4).collect();
    format!("{shown}…({} chars)", value.chars().count())
}

/// Finds secrets and personal data, plus the registered canary tokens.
#[derive(Clone, Debug, Default)]
pub struct Scanner {
    canaries: Vec<String>,
}

impl Scanner {
    pub fn new() -> Scanner {
        Scanner::default()
    }

    /// Also report these canary tokens (see [`canary_token`]) wherever they appear.
    pub fn with_canaries(mut self, canaries: impl IntoIterator<Item = String>) -> Scanner {
        self.canaries
            .extend(canaries.into_iter().filter(|c| c.len() >= 8));
        self
    }

    /// Every finding in `text`, in order of position, without overlaps (a longer, validated
    /// finding wins over what it covers: a card number is not also a phone number).
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let mut all = Vec::new();
        for c in &self.canaries {
            for (start, m) in text.match_indices(c.as_str()) {
                all.push(Finding {
                    kind: "canary",
                    category: Category::Canary,
                    start,
                    end: start + m.len(),
                    validated: true,
                    preview: preview(m),
                });
            }
        }
        for d in DETECTORS.iter() {
            for caps in d.pattern.captures_iter(text) {
                let Some(m) = caps.get(d.group) else { continue };
                let validated = match d.validate {
                    Some(check) if !check(m.as_str()) => continue,
                    Some(_) => true,
                    None => false,
                };
                all.push(Finding {
                    kind: d.kind,
                    category: d.category,
                    start: m.start(),
                    end: m.end(),
                    validated,
                    preview: preview(m.as_str()),
                });
            }
        }
        // Canaries first, then secrets over PII, then validated, then longer.
        let rank = |f: &Finding| {
            (
                f.category != Category::Canary,
                f.category != Category::Secret,
                !f.validated,
                usize::MAX - (f.end - f.start),
            )
        };
        all.sort_by_key(rank);
        let mut kept: Vec<Finding> = Vec::new();
        for f in all {
            if kept.iter().all(|k| f.end <= k.start || f.start >= k.end) {
                kept.push(f);
            }
        }
        kept.sort_by_key(|f| f.start);
        kept
    }

    /// `text` with every finding replaced by `[REDACTED:<kind>]`, and the findings.
    pub fn redact(&self, text: &str) -> (String, Vec<Finding>) {
        let findings = self.scan(text);
        (redact_with(text, &findings), findings)
    }
}

/// `text` with `findings` (sorted, non-overlapping, from [`Scanner::scan`]) replaced.
pub fn redact_with(text: &str, findings: &[Finding]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in findings {
        if f.start < at || f.end > text.len() {
            continue;
        }
        out.push_str(&text[at..f.start]);
        out.push_str("[REDACTED:");
        out.push_str(f.kind);
        out.push(']');
        at = f.end;
    }
    out.push_str(&text[at..]);
    out
}

/// A canary token for a system prompt: if it ever shows up in a model's answer or elsewhere,
/// the prompt leaked. `seed` should be random per deployment (e.g. 8 bytes from the OS).
pub fn canary_token(seed: u64) -> String {
    let mut x = seed;
    let mut hex = String::with_capacity(16);
    for _ in 0..2 {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        hex.push_str(&format!("{:08x}", (z ^ (z >> 31)) as u32));
    }
    format!("pal-canary-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kinds(text: &str) -> Vec<&'static str> {
        Scanner::new()
            .scan(text)
            .into_iter()
            .map(|f| f.kind)
            .collect()
    }

    fn github_token(random30: &str) -> String {
        format!("ghp_{random30}{}", base62_6(crc32(random30.as_bytes())))
    }

    #[test]
    fn checksums_accept_known_good_values() {
        assert!(luhn_ok("4111 1111 1111 1111"));
        assert!(card_ok("4111-1111-1111-1111"));
        assert!(card_ok("378282246310005")); // Amex test number
        assert!(iban_ok("GB82 WEST 1234 5698 7654 32"));
        assert!(iban_ok("DE89370400440532013000"));
        assert!(dni_ok("12345678Z"));
        assert!(dni_ok("X1234567L"));
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn checksums_refuse_one_changed_digit() {
        assert!(!card_ok("4111 1111 1111 1112"));
        assert!(!iban_ok("GB82 WEST 1234 5698 7654 33"));
        assert!(!dni_ok("12345678A"));
    }

    #[test]
    fn hostile_fixture_finds_every_kind() {
        let tok = github_token("abcdefghijklmnopqrstuvwxyzABCD");
        let text = format!(
            "aws key AKIAIOSFODNN7EXAMPLE and token {tok}\n\
             card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00,\n\
             mail jane.doe@example.com, call +44 20 7946 0958, DNI 12345678Z\n\
             password = \"Tr0ub4dor&3x!\"\n\
             -----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----"
        );
        let k = kinds(&text);
        for want in [
            "aws_access_key_id",
            "github_token",
            "payment_card",
            "iban",
            "email_address",
            "phone_number",
            "es_dni",
            "password_assignment",
            "private_key",
        ] {
            assert!(k.contains(&want), "{want} missing from {k:?}");
        }
        let (red, _) = Scanner::new().redact(&text);
        assert!(!red.contains("4111 1111"));
        assert!(!red.contains("AKIAIOSFODNN7EXAMPLE"));
        assert!(!red.contains("MIIBOg"));
        assert!(red.contains("[REDACTED:iban]"));
    }

    #[test]
    fn benign_fixture_finds_nothing() {
        let text = "Order 1234 5678 shipped on 2024-03-05 at 10:30. Version 1.2.3, \
                    build 20240305123456. ISBN 978-3-16-148410-0. The password must be \
                    at least 8 characters. Use api_key = <your key here>. \
                    Invoice total 4111 EUR, ref GB00 TEST. Call extension 42.";
        assert_eq!(kinds(text), Vec::<&str>::new());
    }

    #[test]
    fn a_github_token_with_a_bad_checksum_is_not_reported() {
        let good = github_token("abcdefghijklmnopqrstuvwxyzABCD");
        let mut bad = good.clone();
        bad.replace_range(39..40, if good.ends_with('0') { "1" } else { "0" });
        assert_eq!(kinds(&good), ["github_token"]);
        assert!(kinds(&bad).is_empty());
    }

    #[test]
    fn canaries_are_found_and_redacted() {
        let c = canary_token(42);
        assert!(c.starts_with("pal-canary-") && c.len() == 27);
        assert_ne!(c, canary_token(43));
        let s = Scanner::new().with_canaries([c.clone()]);
        let (red, f) = s.redact(&format!("My instructions say {c}."));
        assert_eq!(f[0].category, Category::Canary);
        assert_eq!(red, "My instructions say [REDACTED:canary].");
    }

    proptest! {
        #[test]
        fn scan_never_panics_and_findings_are_in_bounds(s in "\\PC{0,400}") {
            let (red, f) = Scanner::new().redact(&s);
            for w in f.windows(2) {
                prop_assert!(w[0].end <= w[1].start);
            }
            for x in &f {
                prop_assert!(x.end <= s.len() && s.is_char_boundary(x.start) && s.is_char_boundary(x.end));
            }
            if f.is_empty() {
                prop_assert_eq!(red, s);
            }
        }

        #[test]
        fn every_luhn_valid_visa_is_found_and_redacted(body in proptest::collection::vec(0u32..10, 14)) {
            let mut digits: String = std::iter::once('4').chain(body.iter().map(|d| char::from_digit(*d, 10).unwrap())).collect();
            let check = (0..10).find(|c| luhn_ok(&format!("{digits}{c}"))).unwrap();
            digits.push(char::from_digit(check, 10).unwrap());
            prop_assume!(!digits.chars().all(|c| c == '4'));
            let text = format!("pay with {digits} today");
            let (red, _) = Scanner::new().redact(&text);
            prop_assert_eq!(red, "pay with [REDACTED:payment_card] today");
        }

        #[test]
        fn a_changed_iban_digit_breaks_the_checksum(pos in 4usize..22, delta in 1u32..10) {
            let good = "DE89370400440532013000";
            let mut b: Vec<char> = good.chars().collect();
            let d = b[pos].to_digit(10).unwrap();
            b[pos] = char::from_digit((d + delta) % 10, 10).unwrap();
            let bad: String = b.into_iter().collect();
            prop_assert!(!iban_ok(&bad));
        }
    }
}

//! Timestamps in CEF (`rt`, `end`, `start`) and LEEF (`devTime` with `devTimeFormat`).

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

use crate::formats::syslog::{Stamp, YearContext, parse_time};

/// Epoch milliseconds (or seconds), `MMM dd [yyyy] HH:mm:ss[.SSS][ zone]`, or RFC 3339.
pub(super) fn parse_text(s: &str, years: &mut YearContext) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = s.parse().ok()?;
        // Past 1e11 seconds is the year 5138: such values are milliseconds.
        return if n > 100_000_000_000 {
            Utc.timestamp_millis_opt(n).single()
        } else {
            Utc.timestamp_opt(n, 0).single()
        };
    }
    let (stamp, rest) = parse_time(s)?;
    let offset = zone_offset(rest.trim())?;
    let t = years.stamp(stamp)?;
    Some(match stamp {
        // A BSD time is local to the zone written after it.
        Stamp::Bsd(_) => t - chrono::Duration::seconds(i64::from(offset.local_minus_utc())),
        Stamp::Full(_) if rest.trim().is_empty() => t,
        Stamp::Full(_) => return None,
    })
}

/// The offset of a zone written after a time: empty/`UTC`/`Z`, `±hh:mm`/`±hhmm`, or a common
/// abbreviation. Unknown names give `None` rather than a wrong time.
fn zone_offset(zone: &str) -> Option<FixedOffset> {
    let hours = match zone {
        "" | "UTC" | "GMT" | "Z" | "UT" => 0,
        "EST" | "CDT" => -5,
        "EDT" => -4,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        "CET" | "BST" => 1,
        "CEST" | "EET" => 2,
        "EEST" => 3,
        "JST" => 9,
        _ => return numeric_offset(zone),
    };
    FixedOffset::east_opt(hours * 3600)
}

fn numeric_offset(zone: &str) -> Option<FixedOffset> {
    let (sign, rest) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// A Java `SimpleDateFormat` pattern (LEEF `devTimeFormat`) as a chrono format string, and
/// whether it includes a numeric zone. `None` for patterns chrono cannot follow.
pub(super) fn java_to_chrono(pattern: &str) -> Option<(String, bool)> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut zone = false;
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        i += run;
        let spec = match (c, run) {
            ('\'', _) => {
                i = quoted(&chars, i - run, &mut out);
                continue;
            }
            ('y', 2) => "%y",
            ('y', _) => "%Y",
            ('M', 1 | 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', _) => "%d",
            ('H', _) => "%H",
            ('h', _) => "%I",
            ('m', _) => "%M",
            ('s', _) => "%S",
            ('S', 3) => "%3f",
            ('S', 6) => "%6f",
            ('S', 9) => "%9f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('Z', _) | ('X', 1 | 2) => {
                zone = true;
                "%z"
            }
            ('X', _) => {
                zone = true;
                "%:z"
            }
            (c, _) if c.is_ascii_alphabetic() => return None,
            (c, n) => {
                for _ in 0..n {
                    if c == '%' {
                        out.push('%');
                    }
                    out.push(c);
                }
                continue;
            }
        };
        out.push_str(spec);
    }
    Some((out, zone))
}

/// Copies a `'quoted'` literal starting at `start`; returns the index after it.
fn quoted(chars: &[char], start: usize, out: &mut String) -> usize {
    let mut i = start + 1;
    if chars.get(i) == Some(&'\'') {
        out.push('\'');
        return i + 1;
    }
    while let Some(&c) = chars.get(i) {
        i += 1;
        if c == '\'' {
            if chars.get(i) == Some(&'\'') {
                out.push('\'');
                i += 1;
                continue;
            }
            break;
        }
        if c == '%' {
            out.push('%');
        }
        out.push(c);
    }
    i
}

/// Parses `s` with a translated chrono format.
pub(super) fn parse_with(s: &str, format: &str, zone: bool) -> Option<DateTime<Utc>> {
    if zone {
        return DateTime::parse_from_str(s.trim(), format)
            .ok()
            .map(|d| d.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s.trim(), format)
        .ok()
        .map(|n| Utc.from_utc_datetime(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Option<String> {
        parse_text(s, &mut YearContext::new(2024)).map(|t| t.to_rfc3339())
    }

    #[test]
    fn cef_times() {
        assert_eq!(
            at("1456133436000").as_deref(),
            Some("2016-02-22T09:30:36+00:00")
        );
        assert_eq!(
            at("1456133436").as_deref(),
            Some("2016-02-22T09:30:36+00:00")
        );
        assert_eq!(
            at("Feb 22 2016 10:10:36").as_deref(),
            Some("2016-02-22T10:10:36+00:00")
        );
        assert_eq!(
            at("Feb 22 2016 10:10:36.500 UTC").as_deref(),
            Some("2016-02-22T10:10:36.500+00:00")
        );
        assert_eq!(
            at("Feb 22 2016 10:10:36 +01:00").as_deref(),
            Some("2016-02-22T09:10:36+00:00")
        );
        assert_eq!(
            at("Feb 22 2016 10:10:36 EST").as_deref(),
            Some("2016-02-22T15:10:36+00:00")
        );
        assert_eq!(
            at("Mar  1 10:00:00").as_deref(),
            Some("2024-03-01T10:00:00+00:00")
        );
        assert_eq!(
            at("2016-02-22T10:10:36Z").as_deref(),
            Some("2016-02-22T10:10:36+00:00")
        );
        assert_eq!(at("Feb 22 2016 10:10:36 Mars/Olympus"), None);
        assert_eq!(at("yesterday"), None);
        assert_eq!(at("99999999999999999999999"), None);
    }

    #[test]
    fn java_patterns() {
        let (f, z) = java_to_chrono("yyyy-MM-dd'T'HH:mm:ss.SSSZ").unwrap();
        assert_eq!((f.as_str(), z), ("%Y-%m-%dT%H:%M:%S.%3f%z", true));
        let t = parse_with("2024-01-18T14:00:00.250+0100", &f, z).unwrap();
        assert_eq!(t.to_rfc3339(), "2024-01-18T13:00:00.250+00:00");
        let (f, z) = java_to_chrono("MMM dd yyyy HH:mm:ss").unwrap();
        assert_eq!(
            parse_with("Jan 18 2024 14:00:00", &f, z)
                .unwrap()
                .to_rfc3339(),
            "2024-01-18T14:00:00+00:00"
        );
        let (f, _) = java_to_chrono("dd/MM/yyyy hh:mm:ss a '100%'''").unwrap();
        assert_eq!(f, "%d/%m/%Y %I:%M:%S %p 100%%'");
        assert!(java_to_chrono("yyyy G").is_none());
        assert!(java_to_chrono("'unterminated").is_some());
    }
}

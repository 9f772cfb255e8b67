//! The syslog header: `<PRI>`, timestamp, host and tag (RFC 3164) or the RFC 5424 header
//! fields and structured data, split from the free-text message.
//!
//! Everything here borrows from the line; nothing allocates except unescaped structured-data
//! values.

use chrono::{DateTime, Utc};

use super::sd::{self, SdParam};
use crate::line::ParseError;

/// A timestamp as written in the line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Stamp {
    /// RFC 3164 `Mmm dd hh:mm:ss`, usually without a year.
    Bsd(BsdTime),
    /// RFC 3339 / RFC 5424 timestamp with its offset, converted to UTC.
    Full(DateTime<Utc>),
}

/// An RFC 3164 timestamp. The year is only present in non-standard variants
/// (`Mmm dd yyyy hh:mm:ss`); otherwise the reader's context supplies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BsdTime {
    pub year: Option<i32>,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
}

/// One syslog line split into its parts.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Header<'a> {
    pub pri: Option<u8>,
    /// RFC 5424 VERSION; `None` for RFC 3164.
    pub version: Option<u8>,
    pub time: Option<Stamp>,
    pub host: Option<&'a str>,
    /// APP-NAME (RFC 5424) or the tag's name (RFC 3164), verbatim: `sshd(pam_unix)`.
    pub app: Option<&'a str>,
    /// PROCID (RFC 5424) or the `[pid]` of an RFC 3164 tag.
    pub procid: Option<&'a str>,
    /// Extra words of a tag such as `syslogd 1.4.1:`.
    pub app_version: Option<&'a str>,
    pub msgid: Option<&'a str>,
    pub structured: Vec<SdParam<'a>>,
    pub msg: &'a str,
}

/// Parses a syslog line. Fails only when the line claims a syslog shape it does not keep to
/// (a broken `<PRI>` or RFC 5424 header) or carries neither a `<PRI>` nor a timestamp.
pub(crate) fn parse(line: &str) -> Result<Header<'_>, ParseError> {
    let (pri, rest) = split_pri(line)?;
    if pri.is_some()
        && let Some((version, after)) = split_version(rest)
    {
        return parse_5424(pri, version, after);
    }
    let (time, rest) = match parse_time(rest) {
        Some((t, r)) => (Some(t), r),
        None if pri.is_some() => (None, rest),
        None => return Err(ParseError::new("no syslog <PRI> or timestamp at the start")),
    };
    Ok(parse_3164_body(pri, time, rest))
}

/// Parses what precedes an embedded record (CEF/LEEF): PRI, timestamp and host if present.
/// Never fails; unknown text yields an empty header.
pub(crate) fn parse_prefix(prefix: &str) -> Header<'_> {
    let prefix = prefix.trim();
    if prefix.is_empty() {
        return Header::default();
    }
    parse(prefix).unwrap_or_default()
}

/// Whether `line` starts like syslog: `<PRI>` with a version or timestamp, or a timestamp
/// followed by more text.
pub(crate) fn looks_like_syslog(line: &str) -> bool {
    let Ok((pri, rest)) = split_pri(line) else {
        return false;
    };
    if pri.is_some() && split_version(rest).is_some() {
        return true;
    }
    match parse_time(rest) {
        Some((_, after)) => !after.trim().is_empty(),
        None => false,
    }
}

/// Splits a leading `<PRI>` (0–191).
fn split_pri(line: &str) -> Result<(Option<u8>, &str), ParseError> {
    let Some(rest) = line.strip_prefix('<') else {
        return Ok((None, line));
    };
    let end = rest
        .bytes()
        .take(4)
        .position(|b| b == b'>')
        .ok_or_else(|| ParseError::new("unterminated syslog <PRI>"))?;
    let (digits, after) = (&rest[..end], &rest[end + 1..]);
    match digits.parse::<u8>() {
        Ok(p) if p <= 191 && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Ok((Some(p), after))
        }
        _ => Err(ParseError::new(format!(
            "invalid syslog <PRI> {digits:?}: expected 0-191"
        ))),
    }
}

/// An RFC 5424 VERSION (1–3 digits, no leading zero) followed by a space.
fn split_version(rest: &str) -> Option<(u8, &str)> {
    let b = rest.as_bytes();
    let n = b.iter().take(4).take_while(|c| c.is_ascii_digit()).count();
    if !(1..=3).contains(&n) || b[0] == b'0' || b.get(n) != Some(&b' ') {
        return None;
    }
    // `<13>2024-…` is an RFC 3164 line with an ISO timestamp, not version 2024.
    let version = rest[..n].parse::<u8>().ok()?;
    Some((version, &rest[n + 1..]))
}

/// A leading RFC 3164 or RFC 3339 timestamp, and the text after it (leading spaces skipped).
pub(crate) fn parse_time(s: &str) -> Option<(Stamp, &str)> {
    if let Some((t, rest)) = parse_bsd_time(s) {
        return Some((Stamp::Bsd(t), rest.trim_start_matches(' ')));
    }
    let token = s.split(' ').next()?;
    if token.len() < 19 || !token.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let dt = DateTime::parse_from_rfc3339(token).ok()?;
    let rest = s[token.len()..].trim_start_matches(' ');
    Some((Stamp::Full(dt.with_timezone(&Utc)), rest))
}

fn month_number(name: &[u8]) -> Option<u32> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let lower = [
        name.first()?.to_ascii_lowercase(),
        name.get(1)?.to_ascii_lowercase(),
        name.get(2)?.to_ascii_lowercase(),
    ];
    MONTHS
        .iter()
        .position(|m| **m == lower)
        .map(|i| i as u32 + 1)
}

/// Reads 1..=`max` ASCII digits at `*pos`, advancing it.
fn digits(b: &[u8], pos: &mut usize, min: usize, max: usize) -> Option<u32> {
    let start = *pos;
    let mut value = 0u32;
    while *pos < b.len() && *pos - start < max && b[*pos].is_ascii_digit() {
        value = value * 10 + u32::from(b[*pos] - b'0');
        *pos += 1;
    }
    (*pos - start >= min).then_some(value)
}

fn expect(b: &[u8], pos: &mut usize, byte: u8) -> Option<()> {
    (b.get(*pos) == Some(&byte)).then(|| *pos += 1)
}

/// `Mmm dd hh:mm:ss[.frac]` or `Mmm dd yyyy hh:mm:ss[.frac]`; the day may be space-padded.
pub(crate) fn parse_bsd_time(s: &str) -> Option<(BsdTime, &str)> {
    let b = s.as_bytes();
    let month = month_number(b)?;
    let mut pos = 3;
    expect(b, &mut pos, b' ')?;
    while b.get(pos) == Some(&b' ') {
        pos += 1;
    }
    let day = digits(b, &mut pos, 1, 2)?;
    expect(b, &mut pos, b' ')?;
    let year = {
        let mut p = pos;
        match digits(b, &mut p, 4, 4) {
            Some(y) if b.get(p) == Some(&b' ') => {
                pos = p + 1;
                Some(y as i32)
            }
            _ => None,
        }
    };
    let hour = digits(b, &mut pos, 2, 2)?;
    expect(b, &mut pos, b':')?;
    let minute = digits(b, &mut pos, 2, 2)?;
    expect(b, &mut pos, b':')?;
    let second = digits(b, &mut pos, 2, 2)?;
    let nanos = fraction(b, &mut pos);
    let valid = (1..=31).contains(&day) && hour < 24 && minute < 60 && second < 61;
    if !valid || !matches!(b.get(pos), None | Some(b' ')) {
        return None;
    }
    let t = BsdTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
        nanos,
    };
    Some((t, &s[pos..]))
}

/// An optional `.digits` fraction of a second, as nanoseconds.
fn fraction(b: &[u8], pos: &mut usize) -> u32 {
    if b.get(*pos) != Some(&b'.') {
        return 0;
    }
    let mut p = *pos + 1;
    let start = p;
    let mut nanos = 0u32;
    while p < b.len() && b[p].is_ascii_digit() {
        if p - start < 9 {
            nanos = nanos * 10 + u32::from(b[p] - b'0');
        }
        p += 1;
    }
    if p == start {
        return 0;
    }
    for _ in (p - start)..9 {
        nanos *= 10;
    }
    *pos = p;
    nanos
}

/// After the timestamp of an RFC 3164 line: `HOST TAG: MSG`, with host or tag possibly absent.
fn parse_3164_body<'a>(pri: Option<u8>, time: Option<Stamp>, rest: &'a str) -> Header<'a> {
    let mut header = Header {
        pri,
        time,
        ..Header::default()
    };
    let first = rest.split(' ').next().unwrap_or("");
    let after_host = if first.is_empty() || looks_like_tag(first) {
        rest
    } else {
        header.host = Some(first);
        rest[first.len()..].trim_start_matches(' ')
    };
    match split_tag(after_host) {
        Some((tag, msg)) => {
            fill_tag(&mut header, tag);
            header.msg = msg;
        }
        None => header.msg = after_host,
    }
    header.msg = header.msg.trim_end();
    header
}

/// `sshd[12]:` or `kernel:` — a word that ends the tag rather than naming a host.
fn looks_like_tag(word: &str) -> bool {
    word.ends_with(':') || (word.contains('[') && word.ends_with("]:"))
}

/// Longest tag accepted; longer text before a colon is message, not tag.
const MAX_TAG: usize = 96;

/// Splits `TAG: MSG`. The tag is the text before the first `": "` (or a final `:`), holding at
/// most one space (`syslogd 1.4.1:`, `-- root[2421]:`).
fn split_tag(s: &str) -> Option<(&str, &str)> {
    let window = &s[..floor_char_boundary(s, MAX_TAG.min(s.len()))];
    let colon = window
        .find(": ")
        .or_else(|| (s.len() <= MAX_TAG && s.ends_with(':') && s.len() > 1).then(|| s.len() - 1))?;
    let tag = &s[..colon];
    if tag.is_empty() || tag.bytes().any(|b| matches!(b, b'=' | b'"' | b'\'')) {
        return None;
    }
    // A second word is a version (`syslogd 1.4.1:`) or follows punctuation (`-- root[2421]:`);
    // anything else is a message that happens to contain a colon.
    if let Some((first, second)) = tag.split_once(' ') {
        let punctuation = !first.bytes().any(|b| b.is_ascii_alphanumeric());
        let version = second.bytes().next().is_some_and(|b| b.is_ascii_digit());
        if second.contains(' ') || !(punctuation || version) {
            return None;
        }
    }
    let msg = s.get(colon + 1..).unwrap_or("");
    Some((tag, msg.strip_prefix(' ').unwrap_or(msg)))
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Splits a tag into app name, `[pid]` and an optional version word.
fn fill_tag<'a>(header: &mut Header<'a>, tag: &'a str) {
    let (name, pid) = match tag.strip_suffix(']').and_then(|t| t.rsplit_once('[')) {
        Some((name, pid)) => (name, Some(pid)),
        None => (tag, None),
    };
    let (name, version) = match name.split_once(' ') {
        // `-- root[2421]:` — a punctuation word before the real name.
        Some((first, second)) if !first.bytes().any(|b| b.is_ascii_alphanumeric()) => {
            (second, None)
        }
        Some((first, second)) => (first, Some(second)),
        None => (name, None),
    };
    header.app = (!name.is_empty()).then_some(name);
    header.procid = pid.filter(|p| !p.is_empty());
    header.app_version = version.filter(|v| !v.is_empty());
}

/// The part of an RFC 5424 line after `<PRI>VERSION `.
fn parse_5424(pri: Option<u8>, version: u8, rest: &str) -> Result<Header<'_>, ParseError> {
    let mut fields = rest.splitn(6, ' ');
    let mut next = |what: &str| {
        fields
            .next()
            .ok_or_else(|| ParseError::new(format!("RFC 5424 header ends before its {what}")))
    };
    let (ts, host, app, procid, msgid) = (
        next("TIMESTAMP")?,
        next("HOSTNAME")?,
        next("APP-NAME")?,
        next("PROCID")?,
        next("MSGID")?,
    );
    let after = next("STRUCTURED-DATA")?;
    let time = match ts {
        "-" => None,
        t => Some(Stamp::Full(
            DateTime::parse_from_rfc3339(t)
                .map_err(|e| ParseError::new(format!("RFC 5424 TIMESTAMP {t:?}: {e}")))?
                .with_timezone(&Utc),
        )),
    };
    let mut structured = Vec::new();
    let msg = if let Some(m) = after.strip_prefix('-') {
        m
    } else if after.starts_with('[') {
        let end = sd::parse(after, &mut structured)?;
        &after[end..]
    } else {
        return Err(ParseError::new(
            "RFC 5424 STRUCTURED-DATA must be '-' or start with '['",
        ));
    };
    if !msg.is_empty() && !msg.starts_with(' ') {
        return Err(ParseError::new(
            "RFC 5424 STRUCTURED-DATA not followed by a space",
        ));
    }
    let msg = msg.strip_prefix(' ').unwrap_or(msg);
    fn nil(s: &str) -> Option<&str> {
        (s != "-" && !s.is_empty()).then_some(s)
    }
    Ok(Header {
        pri,
        version: Some(version),
        time,
        host: nil(host),
        app: nil(app),
        procid: nil(procid),
        app_version: None,
        msgid: nil(msgid),
        structured,
        msg: msg.trim_start_matches('\u{feff}').trim_end(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bsd(s: &str) -> BsdTime {
        parse_bsd_time(s).unwrap().0
    }

    #[test]
    fn bsd_timestamps() {
        let t = bsd("Jul  7 08:06:15 combo");
        assert_eq!(
            (t.month, t.day, t.hour, t.minute, t.second),
            (7, 7, 8, 6, 15)
        );
        assert_eq!(bsd("Dec 10 06:55:46.250 x").nanos, 250_000_000);
        assert_eq!(bsd("Feb 14 2024 19:04:54 x").year, Some(2024));
        assert!(parse_bsd_time("Jux 10 06:55:46").is_none());
        assert!(parse_bsd_time("Dec 10 25:55:46").is_none());
        assert!(parse_bsd_time("Dec 10 06:55").is_none());
        assert!(parse_bsd_time("Dec 10 06:55:46x").is_none());
    }

    #[test]
    fn rfc3164_with_pid_and_pam_style_tag() {
        let h = parse("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; x ")
            .unwrap();
        assert_eq!(h.host, Some("combo"));
        assert_eq!(h.app, Some("sshd(pam_unix)"));
        assert_eq!(h.procid, Some("19939"));
        assert_eq!(h.msg, "authentication failure; x");
    }

    #[test]
    fn rfc3164_odd_tags() {
        let h = parse("Jul 27 14:41:57 combo syslogd 1.4.1: restart.").unwrap();
        assert_eq!(
            (h.app, h.app_version, h.msg),
            (Some("syslogd"), Some("1.4.1"), "restart.")
        );
        let h = parse("Jul  7 08:06:15 combo  -- root[2421]: ROOT LOGIN ON tty2").unwrap();
        assert_eq!((h.app, h.procid), (Some("root"), Some("2421")));
        let h = parse("<13>Feb  5 17:32:18 sshd[123]: hello").unwrap();
        assert_eq!((h.host, h.app, h.pri), (None, Some("sshd"), Some(13)));
        let h = parse("Jun 14 15:16:01 combo a message: with key=value").unwrap();
        assert_eq!((h.app, h.msg), (None, "a message: with key=value"));
        let h = parse("Oct 11 22:14:15 mymachine su: 'su root' failed").unwrap();
        assert_eq!((h.app, h.msg), (Some("su"), "'su root' failed"));
    }

    #[test]
    fn iso_timestamp_3164() {
        let h = parse("2024-03-01T10:00:00.5+01:00 web1 sudo:  alice : TTY=pts/0").unwrap();
        assert_eq!(
            h.time,
            Some(Stamp::Full(
                DateTime::parse_from_rfc3339("2024-03-01T09:00:00.5Z")
                    .unwrap()
                    .with_timezone(&Utc)
            ))
        );
        assert_eq!((h.host, h.app), (Some("web1"), Some("sudo")));
    }

    #[test]
    fn rfc5424() {
        let h = parse(
            r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event"#,
        )
        .unwrap();
        assert_eq!(h.version, Some(1));
        assert_eq!(h.host, Some("mymachine.example.com"));
        assert_eq!(
            (h.app, h.procid, h.msgid),
            (Some("evntslog"), None, Some("ID47"))
        );
        assert_eq!(h.structured.len(), 2);
        assert_eq!(h.msg, "An application event");
        let h = parse("<34>1 - - - - - -").unwrap();
        assert_eq!((h.time, h.host, h.msg), (None, None, ""));
        assert!(parse("<34>1 2003-10-11T22:14:15Z host").is_err());
        assert!(parse("<34>1 yesterday host app - - - msg").is_err());
        assert!(parse("<34>1 - host app - - [x msg").is_err());
    }

    #[test]
    fn bad_pri_and_no_header() {
        assert!(parse("<999>Jun 14 15:16:01 combo x: y").is_err());
        assert!(parse("<12 Jun").is_err());
        assert!(parse("just some text").is_err());
        assert!(parse("<13>no timestamp here").is_ok());
    }

    #[test]
    fn sniffing() {
        assert!(looks_like_syslog("Dec 10 06:55:46 LabSZ sshd[24200]: x"));
        assert!(looks_like_syslog(
            "<34>1 2003-10-11T22:14:15.003Z host app - - - x"
        ));
        assert!(looks_like_syslog("2024-01-01T00:00:00Z host app: x"));
        assert!(!looks_like_syslog("0,tcp,private,REJ,0"));
        assert!(!looks_like_syslog("Dec 10 06:55:46"));
        assert!(!looks_like_syslog("hello world"));
    }
}

//! The indicator model and value normalisation shared by the importers and the matcher.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Longest indicator value accepted (URLs included); longer values are skipped with a warning.
pub const MAX_VALUE_LEN: usize = 8 * 1024;
/// Longest description kept; longer ones are cut at a character boundary.
pub const MAX_DESCRIPTION_LEN: usize = 4 * 1024;
/// Most labels kept per indicator, and the longest label.
pub const MAX_LABELS: usize = 32;
pub const MAX_LABEL_LEN: usize = 256;
/// Most indicators one file may yield; the rest are counted as skipped.
pub const MAX_INDICATORS_PER_FILE: usize = 5_000_000;
/// Most per-record warnings kept for one file (all are still counted in the skip reasons).
pub const MAX_WARNINGS_PER_FILE: usize = 1_000;
/// Confidence of an indicator when neither its record nor the importer's options give one.
pub const DEFAULT_CONFIDENCE: u8 = 50;

/// What an indicator's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndicatorKind {
    /// An IPv4 address or network (`192.0.2.1`, `198.51.100.0/24`).
    Ipv4,
    /// An IPv6 address or network.
    Ipv6,
    /// A domain name; matches the name and every subdomain of it.
    Domain,
    /// A URL, normalised (see [`normalize_url`]).
    Url,
    Md5,
    Sha1,
    Sha256,
}

impl IndicatorKind {
    pub const ALL: [IndicatorKind; 7] = [
        IndicatorKind::Ipv4,
        IndicatorKind::Ipv6,
        IndicatorKind::Domain,
        IndicatorKind::Url,
        IndicatorKind::Md5,
        IndicatorKind::Sha1,
        IndicatorKind::Sha256,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorKind::Ipv4 => "ipv4",
            IndicatorKind::Ipv6 => "ipv6",
            IndicatorKind::Domain => "domain",
            IndicatorKind::Url => "url",
            IndicatorKind::Md5 => "md5",
            IndicatorKind::Sha1 => "sha1",
            IndicatorKind::Sha256 => "sha256",
        }
    }

    /// A file hash kind for a hex digest of this many characters.
    pub fn hash_for_len(len: usize) -> Option<IndicatorKind> {
        match len {
            32 => Some(IndicatorKind::Md5),
            40 => Some(IndicatorKind::Sha1),
            64 => Some(IndicatorKind::Sha256),
            _ => None,
        }
    }

    pub fn is_hash(self) -> bool {
        matches!(
            self,
            IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256
        )
    }

    /// Liberal parsing of the type names found in CSV lists, MISP and STIX (`ip-dst`,
    /// `domain-name`, `SHA-256`, `FileHash-MD5`, …). `None` for `hash`/`ip`-like names that need
    /// the value to decide, and for unknown names; see [`TypeHint`].
    pub fn parse_loose(name: &str) -> TypeHint {
        let n: String = name
            .trim()
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' ' | '.'))
            .flat_map(char::to_lowercase)
            .collect();
        match n.as_str() {
            "ipv4" | "ipv4addr" | "ip4" | "ipv4cidr" => TypeHint::Kind(IndicatorKind::Ipv4),
            "ipv6" | "ipv6addr" | "ip6" | "ipv6cidr" => TypeHint::Kind(IndicatorKind::Ipv6),
            "ip" | "ipaddr" | "ipaddress" | "ipdst" | "ipsrc" | "cidr" | "netblock" | "subnet"
            | "ipdstport" | "ipsrcport" | "ipport" => TypeHint::Ip,
            "domain" | "domainname" | "hostname" | "host" | "fqdn" | "dns" | "domainip" => {
                TypeHint::Kind(IndicatorKind::Domain)
            }
            "url" | "uri" | "link" => TypeHint::Kind(IndicatorKind::Url),
            "md5" | "filehashmd5" | "filemd5" | "hashmd5" | "filenamemd5" => {
                TypeHint::Kind(IndicatorKind::Md5)
            }
            "sha1" | "filehashsha1" | "filesha1" | "hashsha1" | "filenamesha1" => {
                TypeHint::Kind(IndicatorKind::Sha1)
            }
            "sha256" | "filehashsha256" | "filesha256" | "hashsha256" | "filenamesha256" => {
                TypeHint::Kind(IndicatorKind::Sha256)
            }
            "hash" | "filehash" | "digest" | "checksum" => TypeHint::Hash,
            "" | "auto" | "any" | "indicator" | "ioc" => TypeHint::Detect,
            _ => TypeHint::Unknown,
        }
    }
}

impl fmt::Display for IndicatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IndicatorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IndicatorKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown indicator kind {s:?}"))
    }
}

/// What a type column or attribute type says about a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeHint {
    /// Exactly this kind.
    Kind(IndicatorKind),
    /// An address or network of either family.
    Ip,
    /// A file hash of any supported algorithm (told by length).
    Hash,
    /// Nothing said: detect from the value.
    Detect,
    /// A type this importer does not support.
    Unknown,
}

/// One threat-intelligence indicator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Indicator {
    /// Stable id: the same (source, kind, value) always gets the same id, so re-importing a
    /// feed updates its indicators instead of duplicating them.
    pub id: String,
    pub kind: IndicatorKind,
    /// The normalised value (see [`normalize`]).
    pub value: String,
    /// The intel source (feed) name given at import.
    pub source: String,
    /// 0–100.
    pub confidence: u8,
    pub valid_from: Option<DateTime<Utc>>,
    /// After this instant the indicator never matches.
    pub valid_until: Option<DateTime<Utc>>,
    pub description: Option<String>,
    pub labels: Vec<String>,
    /// The id of the record it came from in its feed (STIX object id, MISP attribute uuid).
    pub reference: Option<String>,
}

impl Indicator {
    /// An indicator with the stable id computed from source, kind and (normalised) value.
    pub fn new(kind: IndicatorKind, value: String, source: &str, confidence: u8) -> Indicator {
        Indicator {
            id: stable_id(source, kind, &value),
            kind,
            value,
            source: source.to_owned(),
            confidence: confidence.min(100),
            valid_from: None,
            valid_until: None,
            description: None,
            labels: Vec::new(),
            reference: None,
        }
    }

    /// Whether the indicator has expired at `at`.
    pub fn expired_at(&self, at: DateTime<Utc>) -> bool {
        self.valid_until.is_some_and(|u| u < at)
    }
}

/// `ioc-` and 16 hex digits of FNV-1a 64 over `source NUL kind NUL value`: deterministic across
/// builds and platforms (unlike std's `DefaultHasher`), so ids stay stable in the store.
pub fn stable_id(source: &str, kind: IndicatorKind, value: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [
        source.as_bytes(),
        kind.as_str().as_bytes(),
        value.as_bytes(),
    ] {
        for &b in part.iter().chain(std::iter::once(&0u8)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("ioc-{h:016x}")
}

/// Undoes the usual "defanging" of shared indicators: `hxxp://`, `evil[.]com`, `1.2.3[.]4`,
/// `[:]//`. Returns the input unchanged when there is nothing to undo.
pub fn refang(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['[', '(', '{'])
        && !value
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("hxxp"))
    {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut s = value
        .replace("[.]", ".")
        .replace("(.)", ".")
        .replace("{.}", ".")
        .replace("[dot]", ".")
        .replace("[:]", ":")
        .replace("[://]", "://");
    if s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("hxxp")) {
        s.replace_range(..4, "http");
    }
    std::borrow::Cow::Owned(s)
}

/// Parses an address or network (`1.2.3.4`, `10.0.0.0/8`, `2001:db8::/32`, `1.2.3.4:443`,
/// `[2001:db8::1]:443`), returning the network with host bits cleared. IPv4-mapped IPv6
/// addresses become IPv4.
pub fn parse_ip_net(value: &str) -> Option<IpNet> {
    let v = value.trim();
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(IpNet::from(ip.to_canonical()));
    }
    if let Ok(net) = v.parse::<IpNet>() {
        return Some(canonical_net(net));
    }
    // `addr:port` and `[v6]:port`, as some lists and MISP `ip-dst|port` write them.
    if let Ok(sa) = v.parse::<std::net::SocketAddr>() {
        return Some(IpNet::from(sa.ip().to_canonical()));
    }
    None
}

fn canonical_net(net: IpNet) -> IpNet {
    let net = net.trunc();
    if let IpNet::V6(n) = net
        && let Some(v4) = n.addr().to_ipv4_mapped()
        && n.prefix_len() >= 96
    {
        return ipnet::Ipv4Net::new(v4, n.prefix_len() - 96)
            .map(IpNet::V4)
            .unwrap_or(net);
    }
    net
}

/// The text form of a network as stored: a host address without its `/32` or `/128`.
pub fn net_to_string(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// A domain name, lower-cased, without a trailing dot, with at least two labels, each 1–63
/// characters of letters, digits, `-` or `_`, and a top-level label that is not all digits.
pub fn normalize_domain(value: &str) -> Option<String> {
    let v = value.trim().trim_end_matches('.');
    let v = v.strip_prefix("*.").unwrap_or(v);
    if v.is_empty() || v.len() > 253 || !v.contains('.') {
        return None;
    }
    let mut last = "";
    for label in v.split('.') {
        if label.is_empty()
            || label.len() > 63
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        last = label;
    }
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(v.to_ascii_lowercase())
}

/// A URL's match key: host lower-cased, ports 80 and 443 dropped,
/// an empty path as `/`, fragment dropped, path and query kept as written. The scheme is not
/// part of the key: Zeek and proxy logs record the host and path of a request but often not
/// its scheme, and the same resource on the same host is the indicator whichever scheme
/// fetched it. `None` when there is no host.
pub fn normalize_url(value: &str) -> Option<String> {
    let mut out = String::new();
    url_key_into(value.trim(), &mut out).then_some(out)
}

/// Writes the match key of `url` into `out` (cleared first); false when `url` has no host.
/// Accepts `scheme://host[:port]/path?query#frag` and the schemeless `host/path`.
pub fn url_key_into(url: &str, out: &mut String) -> bool {
    out.clear();
    // `scheme://`: the first `:` followed by `//` (a plain byte search; `str::find` with a
    // string pattern sets up a two-way searcher per call).
    let scheme_end = url
        .find(':')
        .filter(|&i| url.as_bytes().get(i + 1..i + 3) == Some(b"//"));
    let rest = match scheme_end {
        Some(i) => {
            let scheme = &url[..i];
            if scheme.is_empty()
                || !scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
            {
                return false;
            }
            &url[i + 3..]
        }
        None => url,
    };
    let rest = rest.split('#').next().unwrap_or("");
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(host_end);
    // Drop user info.
    let authority = authority.rsplit('@').next().unwrap_or("");
    let (host, port) = split_host_port(authority);
    if host.is_empty() || host.contains(char::is_whitespace) {
        return false;
    }
    // An IPv6 host keeps its brackets, so the key's port stays separable.
    let bracket = host.contains(':');
    if bracket {
        out.push('[');
    }
    if host.is_ascii() {
        let from = out.len();
        out.push_str(host);
        out[from..].make_ascii_lowercase();
    } else {
        for c in host.chars() {
            out.extend(c.to_lowercase());
        }
    }
    if bracket {
        out.push(']');
    }
    // The web's default ports are dropped whatever the scheme, since the scheme is not kept.
    if let Some(p) = port
        && p != "80"
        && p != "443"
    {
        out.push(':');
        out.push_str(p);
    }
    if !path.starts_with('/') {
        out.push('/');
    }
    out.push_str(path);
    true
}

/// Splits `host:port` (and `[v6]:port`); a bare IPv6 address has no port.
pub fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':').filter(|p| !p.is_empty())),
            None => (rest, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => {
            (h, (!p.is_empty()).then_some(p))
        }
        _ => (authority, None),
    }
}

/// A hex digest, lower-cased, when it has the length of `kind` (or any supported length for
/// `None`); returns the kind too.
pub fn normalize_hash(value: &str, kind: Option<IndicatorKind>) -> Option<(IndicatorKind, String)> {
    let v = value.trim();
    let by_len = IndicatorKind::hash_for_len(v.len())?;
    if kind.is_some_and(|k| k != by_len) || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((by_len, v.to_ascii_lowercase()))
}

/// Why a value could not become an indicator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueError {
    Empty,
    TooLong(usize),
    /// The value is not of the declared kind (or not of any kind, when detecting).
    Invalid {
        expected: &'static str,
    },
    /// An address or network that would match far too much to be an indicator: the
    /// unspecified or loopback address, or a network wider than /8 (IPv4) or /16 (IPv6).
    TooBroad(String),
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::Empty => f.write_str("empty value"),
            ValueError::TooLong(n) => write!(f, "value of {n} bytes exceeds {MAX_VALUE_LEN}"),
            ValueError::Invalid { expected } => write!(f, "not a valid {expected}"),
            ValueError::TooBroad(v) => write!(
                f,
                "{v} is unspecified, loopback or wider than /8 (IPv4) or /16 (IPv6): it would \
                 match far too much to be an indicator"
            ),
        }
    }
}

/// Normalises `value` for the kinds `hint` allows, detecting the kind when the hint leaves it
/// open. Defanged values are refanged first.
pub fn normalize(value: &str, hint: TypeHint) -> Result<(IndicatorKind, String), ValueError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ValueError::Empty);
    }
    if value.len() > MAX_VALUE_LEN {
        return Err(ValueError::TooLong(value.len()));
    }
    let value = refang(value);
    let (kind, v) = normalize_refanged(value.as_ref(), hint)?;
    if matches!(kind, IndicatorKind::Ipv4 | IndicatorKind::Ipv6)
        && let Some(net) = parse_ip_net(&v)
        && too_broad(&net)
    {
        return Err(ValueError::TooBroad(v));
    }
    Ok((kind, v))
}

/// Whether a network would match so much that it cannot be meant as an indicator.
pub fn too_broad(net: &IpNet) -> bool {
    match net {
        IpNet::V4(n) => n.prefix_len() < 8 || n.addr().is_unspecified() || n.addr().is_loopback(),
        IpNet::V6(n) => n.prefix_len() < 16 || n.addr().is_unspecified() || n.addr().is_loopback(),
    }
}

fn normalize_refanged(value: &str, hint: TypeHint) -> Result<(IndicatorKind, String), ValueError> {
    let ip = |v: &str| {
        parse_ip_net(v).map(|n| {
            let kind = match n {
                IpNet::V4(_) => IndicatorKind::Ipv4,
                IpNet::V6(_) => IndicatorKind::Ipv6,
            };
            (kind, net_to_string(&n))
        })
    };
    let invalid = |expected| Err(ValueError::Invalid { expected });
    match hint {
        TypeHint::Kind(k @ (IndicatorKind::Ipv4 | IndicatorKind::Ipv6)) => match ip(value) {
            Some((got, v)) if got == k => Ok((got, v)),
            _ => invalid(if k == IndicatorKind::Ipv4 {
                "IPv4 address or network"
            } else {
                "IPv6 address or network"
            }),
        },
        TypeHint::Ip => ip(value).map_or_else(|| invalid("IP address or network"), Ok),
        TypeHint::Kind(IndicatorKind::Domain) => {
            // Lists often give `ip` values under a host/domain column.
            if let Some(found) = ip(value) {
                return Ok(found);
            }
            normalize_domain(value)
                .map(|d| (IndicatorKind::Domain, d))
                .map_or_else(|| invalid("domain name"), Ok)
        }
        TypeHint::Kind(IndicatorKind::Url) => {
            if !value.contains("://") && !value.contains('/') {
                // A bare host under a URL column is a domain indicator.
                if let Some(found) = ip(value) {
                    return Ok(found);
                }
                if let Some(d) = normalize_domain(value) {
                    return Ok((IndicatorKind::Domain, d));
                }
            }
            normalize_url(value)
                .filter(|_| url_host_ok(value))
                .map(|u| (IndicatorKind::Url, u))
                .map_or_else(|| invalid("URL"), Ok)
        }
        TypeHint::Kind(k) if k.is_hash() => {
            normalize_hash(value, Some(k)).map_or_else(|| invalid(k.as_str()), Ok)
        }
        TypeHint::Hash => normalize_hash(value, None)
            .map_or_else(|| invalid("MD5, SHA-1 or SHA-256 hex digest"), Ok),
        TypeHint::Kind(_) | TypeHint::Detect => detect(value).map_or_else(
            || invalid("IP address, network, domain, URL or file hash"),
            Ok,
        ),
        TypeHint::Unknown => invalid("supported indicator type"),
    }
}

/// Whether the host part of a URL is a domain or an address (so `foo/bar` with a host `foo`
/// is not taken for a URL).
fn url_host_ok(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or("");
    let (host, _) = split_host_port(authority);
    if url.contains("://") {
        return !host.is_empty()
            && (parse_ip_net(host).is_some()
                || host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')));
    }
    parse_ip_net(host).is_some() || normalize_domain(host).is_some()
}

/// The kind of an untyped value: address/network, hash, URL, then domain.
fn detect(value: &str) -> Option<(IndicatorKind, String)> {
    if let Some(n) = parse_ip_net(value) {
        let kind = match n {
            IpNet::V4(_) => IndicatorKind::Ipv4,
            IpNet::V6(_) => IndicatorKind::Ipv6,
        };
        return Some((kind, net_to_string(&n)));
    }
    if let Some(h) = normalize_hash(value, None) {
        return Some(h);
    }
    if value.contains("://") || value.contains('/') {
        return url_host_ok(value)
            .then(|| normalize_url(value))
            .flatten()
            .map(|u| (IndicatorKind::Url, u));
    }
    normalize_domain(value).map(|d| (IndicatorKind::Domain, d))
}

/// Parses the time formats intel feeds use: RFC 3339, `YYYY-MM-DD[ T]HH:MM:SS[.f]` (UTC),
/// `YYYY-MM-DD`, and Unix seconds.
pub fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, f) {
            return Some(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    if v.len() <= 12 && v.bytes().all(|b| b.is_ascii_digit()) {
        return v
            .parse::<i64>()
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0));
    }
    None
}

/// Confidence as written in lists: `0`–`100`, a fraction `0.0`–`1.0`, or a word
/// (`high`/`medium`/`low`).
pub fn parse_confidence(value: &str) -> Option<u8> {
    let v = value.trim().trim_end_matches('%');
    if let Ok(n) = v.parse::<u64>() {
        return (n <= 100).then_some(n as u8);
    }
    if let Ok(f) = v.parse::<f64>() {
        if (0.0..=1.0).contains(&f) && v.contains('.') {
            return Some((f * 100.0).round() as u8);
        }
        return (0.0..=100.0).contains(&f).then(|| f.round() as u8);
    }
    match v.to_ascii_lowercase().as_str() {
        "high" | "h" => Some(85),
        "medium" | "med" | "m" => Some(60),
        "low" | "l" => Some(30),
        "none" | "unknown" => None,
        _ => None,
    }
}

/// Cuts a description to [`MAX_DESCRIPTION_LEN`] bytes at a character boundary.
pub fn clip(text: &str, max: usize) -> String {
    let t = text.trim();
    if t.len() <= max {
        return t.to_owned();
    }
    let mut end = max;
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    t[..end].to_owned()
}

/// Adds `label` to `labels` unless present, empty or over the limits.
pub fn push_label(labels: &mut Vec<String>, label: &str) {
    let l = label.trim();
    if l.is_empty() || labels.len() >= MAX_LABELS || labels.iter().any(|x| x == l) {
        return;
    }
    labels.push(clip(l, MAX_LABEL_LEN));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_kinds() {
        fn d(v: &str) -> Result<(IndicatorKind, String), ValueError> {
            normalize(v, TypeHint::Detect)
        }
        assert_eq!(d("1.2.3.4"), Ok((IndicatorKind::Ipv4, "1.2.3.4".into())));
        assert_eq!(
            d("10.1.2.3/8"),
            Ok((IndicatorKind::Ipv4, "10.0.0.0/8".into()))
        );
        assert_eq!(
            d("1.2.3.4:443"),
            Ok((IndicatorKind::Ipv4, "1.2.3.4".into()))
        );
        assert_eq!(
            d("2001:DB8::1"),
            Ok((IndicatorKind::Ipv6, "2001:db8::1".into()))
        );
        assert_eq!(
            d("::ffff:1.2.3.4"),
            Ok((IndicatorKind::Ipv4, "1.2.3.4".into()))
        );
        assert_eq!(
            d("Evil.COM."),
            Ok((IndicatorKind::Domain, "evil.com".into()))
        );
        assert_eq!(
            d("evil[.]com"),
            Ok((IndicatorKind::Domain, "evil.com".into()))
        );
        assert_eq!(
            d("hxxp://Evil.com:80/a?b=1#x"),
            Ok((IndicatorKind::Url, "evil.com/a?b=1".into()))
        );
        assert_eq!(
            d("https://evil.com:8443"),
            Ok((IndicatorKind::Url, "evil.com:8443/".into()))
        );
        assert_eq!(
            d("evil.com/gate.php"),
            Ok((IndicatorKind::Url, "evil.com/gate.php".into()))
        );
        assert_eq!(d(&"A".repeat(32)), Ok((IndicatorKind::Md5, "a".repeat(32))));
        assert_eq!(d(&"b".repeat(40)).map(|k| k.0), Ok(IndicatorKind::Sha1));
        assert_eq!(d(&"c".repeat(64)).map(|k| k.0), Ok(IndicatorKind::Sha256));
        assert!(d("localhost").is_err());
        for broad in [
            "0.0.0.0",
            "0.0.0.0/0",
            "127.0.0.1",
            "::",
            "::1",
            "10.0.0.0/7",
            "2001::/15",
        ] {
            assert!(matches!(d(broad), Err(ValueError::TooBroad(_))), "{broad}");
        }
        assert_eq!(d("10.0.0.0/8").map(|k| k.1), Ok("10.0.0.0/8".to_owned()));
        assert_eq!(
            d("http://[2001:DB8::1]:8080/x"),
            Ok((IndicatorKind::Url, "[2001:db8::1]:8080/x".into()))
        );
        assert!(d("1.2.3").is_err(), "all-numeric TLD is not a domain");
        assert!(d("a b.com").is_err());
        assert!(d("").is_err());
        assert!(d(&"a".repeat(MAX_VALUE_LEN + 1)).is_err());
    }

    #[test]
    fn hints_constrain_kinds() {
        assert!(normalize("1.2.3.4", TypeHint::Kind(IndicatorKind::Ipv6)).is_err());
        assert!(normalize(&"a".repeat(64), TypeHint::Kind(IndicatorKind::Md5)).is_err());
        assert_eq!(
            normalize("evil.com", TypeHint::Kind(IndicatorKind::Url)),
            Ok((IndicatorKind::Domain, "evil.com".into()))
        );
        assert!(normalize("x", TypeHint::Unknown).is_err());
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = stable_id("feed", IndicatorKind::Domain, "evil.com");
        assert_eq!(a, stable_id("feed", IndicatorKind::Domain, "evil.com"));
        assert_ne!(a, stable_id("feed2", IndicatorKind::Domain, "evil.com"));
        assert_ne!(a, stable_id("feed", IndicatorKind::Url, "evil.com"));
        // Field boundaries count: ("ab","c") differs from ("a","bc").
        assert_ne!(
            stable_id("ab", IndicatorKind::Domain, "c.com"),
            stable_id("a", IndicatorKind::Domain, "bc.com")
        );
        assert!(a.starts_with("ioc-") && a.len() == 20);
    }

    #[test]
    fn times_and_confidences() {
        assert_eq!(
            parse_time("2024-01-02T03:04:05Z").map(|t| t.timestamp()),
            Some(1_704_164_645)
        );
        assert_eq!(
            parse_time("2024-01-02").map(|t| t.timestamp()),
            Some(1_704_153_600)
        );
        assert_eq!(
            parse_time("1704153600").map(|t| t.timestamp()),
            Some(1_704_153_600)
        );
        assert_eq!(parse_time("soon"), None);
        assert_eq!(parse_confidence("75"), Some(75));
        assert_eq!(parse_confidence("0.9"), Some(90));
        assert_eq!(parse_confidence("High"), Some(85));
        assert_eq!(parse_confidence("101"), None);
    }
}

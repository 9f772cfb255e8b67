//! Matching events against indicators at ingest speed.
//!
//! [`IntelSet`] compiles indicators into one structure per kind: IPv4 and IPv6 prefixes as
//! sorted ranges (one binary search, then the chain of enclosing prefixes), domains in a hash
//! map probed with each suffix of the name (right to left label boundaries: `evil.com` matches
//! `a.b.evil.com` but not `notevil.com`), URLs by their normalised key (see
//! [`model::normalize_url`]; an indicator without a query also matches the same URL with one),
//! and hashes as bytes in a hash set (case-insensitive by construction).
//!
//! Which event fields are read, and as what, is one table: [`INTEL_FIELDS`]. Matching walks the
//! event's stored fields once, with one hash probe per field into that table (an event has
//! 10–60 fields; probing the table's ~50 names one by one would scan the field list each
//! time). A stored field that a format's alias table names for an ECS entry of the table
//! (`source.ip` → `id.orig_h`) is read too; those targets are worked out once per alias table
//! and kept in the per-thread scratch.
//!
//! An indicator matches only while valid: its `valid_until` is compared with the event's time
//! when the event has one, else with the set's "now".

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use palisade_event::alert::RuleInfo;
use palisade_event::{Alert, AliasTable, Event, FieldId, Severity, Value};
use rustc_hash::FxHashMap;

use super::model::{self, Indicator, IndicatorKind};
use super::ranges::PrefixTable;

/// How a field's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldUse {
    /// An IP address.
    Ip,
    /// A host name, or an address, possibly with `:port`.
    Host,
    /// A URL (its host is also checked as a [`FieldUse::Host`]); a value that is only a path
    /// (`/gate.php`, as Zeek's http `uri`) is joined to the event's HTTP host.
    Url,
    /// A hex digest (its length tells MD5, SHA-1 or SHA-256).
    Hash,
    /// Sysmon's `Hashes`: `SHA1=…,MD5=…,SHA256=…,IMPHASH=…` (IMPHASH is not a file hash and is
    /// ignored).
    HashList,
}

/// Every event field the IOC detector reads, with what it holds. A hit names the field as the
/// event stores it (`id.resp_h` in a Zeek log, even when reached as `destination.ip`).
pub const INTEL_FIELDS: &[(&str, FieldUse)] = &[
    // Zeek (conn/dns/http/ssl/files/…)
    ("id.orig_h", FieldUse::Ip),
    ("id.resp_h", FieldUse::Ip),
    ("tx_hosts", FieldUse::Ip),
    ("rx_hosts", FieldUse::Ip),
    ("query", FieldUse::Host),
    ("answers", FieldUse::Host),
    ("host", FieldUse::Host),
    ("server_name", FieldUse::Host),
    ("uri", FieldUse::Url),
    ("md5", FieldUse::Hash),
    ("sha1", FieldUse::Hash),
    ("sha256", FieldUse::Hash),
    // Windows Security and Sysmon
    ("IpAddress", FieldUse::Ip),
    ("SourceIp", FieldUse::Ip),
    ("DestinationIp", FieldUse::Ip),
    ("SourceAddress", FieldUse::Ip),
    ("DestAddress", FieldUse::Ip),
    ("SourceHostname", FieldUse::Host),
    ("DestinationHostname", FieldUse::Host),
    ("QueryName", FieldUse::Host),
    ("Hashes", FieldUse::HashList),
    ("Hash", FieldUse::HashList),
    // CEF/LEEF
    ("src", FieldUse::Ip),
    ("dst", FieldUse::Ip),
    ("shost", FieldUse::Host),
    ("dhost", FieldUse::Host),
    ("request", FieldUse::Url),
    ("url", FieldUse::Url),
    // ECS (JSON/NDJSON, Winlogbeat, and every format's aliases)
    ("source.ip", FieldUse::Ip),
    ("destination.ip", FieldUse::Ip),
    ("client.ip", FieldUse::Ip),
    ("server.ip", FieldUse::Ip),
    ("source.address", FieldUse::Host),
    ("destination.address", FieldUse::Host),
    ("source.domain", FieldUse::Host),
    ("destination.domain", FieldUse::Host),
    ("dns.question.name", FieldUse::Host),
    ("dns.answers.data", FieldUse::Host),
    ("url.domain", FieldUse::Host),
    ("tls.client.server_name", FieldUse::Host),
    ("url.full", FieldUse::Url),
    ("url.original", FieldUse::Url),
    ("file.hash.md5", FieldUse::Hash),
    ("file.hash.sha1", FieldUse::Hash),
    ("file.hash.sha256", FieldUse::Hash),
    ("process.hash.md5", FieldUse::Hash),
    ("process.hash.sha1", FieldUse::Hash),
    ("process.hash.sha256", FieldUse::Hash),
];

/// Fields holding the HTTP host a path-only URL value belongs to.
const URL_HOST_FIELDS: &[&str] = &["host", "url.domain", "destination.domain"];

/// One match of an indicator on an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntelHit {
    /// Index of the indicator in [`IntelSet::indicators`].
    pub indicator: u32,
    /// The event field it matched in.
    pub field: &'static str,
    /// The field's value as read.
    pub value: String,
}

/// How one stored field is read: its use and its name.
type FieldEntry = (FieldUse, &'static str);

/// Per-thread buffers for [`IntelSet::match_event`], so matching does not allocate.
#[derive(Debug, Default)]
pub struct IntelScratch {
    buf: String,
    url: String,
    num: String,
    /// Indicators already hit on this event.
    seen: Vec<u32>,
    /// Per alias table (by address): stored fields that are alias targets of the table's ECS
    /// entries and not entries themselves.
    alias_targets: Vec<(usize, FxHashMap<FieldId, FieldEntry>)>,
    /// What was decided for the field at each position of recent events (logs repeat one
    /// layout line after line): the field id and its entry, valid for `layout_aliases`. A
    /// matching id costs one comparison instead of a hash probe.
    layout: Vec<(FieldId, Option<FieldEntry>)>,
    /// Per position, the last single text value that matched nothing. Logs repeat values in
    /// consecutive records (the same host address line after line); for a given set a miss
    /// stays a miss (expiry only ever removes hits), so an equal value is skipped.
    last_miss: Vec<String>,
    layout_aliases: usize,
    /// The [`IntelSet::serial`] these caches were filled for.
    owner: u64,
}

/// A compiled set of indicators.
#[derive(Debug, Default)]
pub struct IntelSet {
    indicators: Vec<Indicator>,
    rule_of: Vec<u32>,
    rules: Vec<Arc<RuleInfo>>,
    v4: PrefixTable<u32>,
    v6: PrefixTable<u128>,
    domains: FxHashMap<Box<str>, Vec<u32>>,
    urls: FxHashMap<Box<str>, Vec<u32>>,
    /// The authority (host and non-default port) of every URL key, so a path-only value
    /// (Zeek's `uri`) is joined to its host only when some URL indicator could match it.
    url_authorities: rustc_hash::FxHashSet<Box<str>>,
    hashes: FxHashMap<Box<[u8]>, Vec<u32>>,
    fields: FxHashMap<FieldId, FieldEntry>,
    url_hosts: Vec<FieldId>,
    now: DateTime<Utc>,
    invalid: usize,
    /// Unique per compiled set, so a scratch used with another set drops its caches.
    serial: u64,
}

/// Alert severity for an indicator's confidence: 0–19 informational, 20–49 low, 50–79 medium,
/// 80–100 high. A single indicator hit is evidence, not proof; critical is left to rules and
/// to triage's combined scoring.
pub fn severity_for(confidence: u8) -> Severity {
    match confidence {
        0..=19 => Severity::Informational,
        20..=49 => Severity::Low,
        50..=79 => Severity::Medium,
        _ => Severity::High,
    }
}

fn v6_key(a: std::net::Ipv6Addr) -> u128 {
    u128::from(a)
}

/// A dotted-quad IPv4 address, accepting exactly what `Ipv4Addr::from_str` accepts (four
/// decimal octets ≤ 255, no leading zeros) without its general parser's cost; event fields
/// hold millions of these.
pub(crate) fn parse_ipv4(s: &[u8]) -> Option<u32> {
    if s.len() < 7 || s.len() > 15 {
        return None;
    }
    let mut acc = 0u32;
    let mut octet = 0u32;
    let mut digits = 0u8;
    let mut dots = 0u8;
    let mut leading_zero = false;
    for &b in s {
        match b {
            b'0'..=b'9' => {
                if digits == 1 && leading_zero {
                    return None;
                }
                if digits == 0 {
                    leading_zero = b == b'0';
                }
                octet = octet * 10 + u32::from(b - b'0');
                digits += 1;
                if digits > 3 || octet > 255 {
                    return None;
                }
            }
            b'.' => {
                if digits == 0 || dots == 3 {
                    return None;
                }
                acc = acc << 8 | octet;
                octet = 0;
                digits = 0;
                dots += 1;
            }
            _ => return None,
        }
    }
    (dots == 3 && digits > 0).then_some(acc << 8 | octet)
}

fn decode_hex(s: &str, out: &mut [u8; 32]) -> Option<usize> {
    let b = s.as_bytes();
    if !matches!(b.len(), 32 | 40 | 64) {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = nib(pair[0])? << 4 | nib(pair[1])?;
    }
    Some(b.len() / 2)
}

impl IntelSet {
    /// Compiles `indicators`, with "now" (for events without a time) the current time.
    pub fn new(indicators: Vec<Indicator>) -> IntelSet {
        Self::with_now(indicators, Utc::now())
    }

    /// Compiles `indicators`; events without a time are checked for expiry against `now`.
    /// Indicators whose value does not parse as their kind are left out and counted
    /// ([`IntelSet::invalid`]).
    pub fn with_now(indicators: Vec<Indicator>, now: DateTime<Utc>) -> IntelSet {
        static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut set = IntelSet {
            now,
            serial: SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ..IntelSet::default()
        };
        let mut sources: FxHashMap<String, u32> = FxHashMap::default();
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut kept = Vec::with_capacity(indicators.len());
        for ind in indicators {
            let idx = kept.len() as u32;
            let ok = match ind.kind {
                IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => {
                    match model::parse_ip_net(&ind.value) {
                        Some(IpNet::V4(n)) if ind.kind == IndicatorKind::Ipv4 => {
                            v4.push((u32::from(n.network()), u32::from(n.broadcast()), idx));
                            true
                        }
                        Some(IpNet::V6(n)) if ind.kind == IndicatorKind::Ipv6 => {
                            v6.push((v6_key(n.network()), v6_key(n.broadcast()), idx));
                            true
                        }
                        _ => false,
                    }
                }
                IndicatorKind::Domain => match model::normalize_domain(&ind.value) {
                    Some(d) => {
                        set.domains.entry(d.into()).or_default().push(idx);
                        true
                    }
                    None => false,
                },
                IndicatorKind::Url => match model::normalize_url(&ind.value) {
                    Some(u) => {
                        let auth = &u[..u.find(['/', '?']).unwrap_or(u.len())];
                        set.url_authorities.insert(auth.into());
                        set.urls.entry(u.into()).or_default().push(idx);
                        true
                    }
                    None => false,
                },
                IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 => {
                    let mut b = [0u8; 32];
                    match decode_hex(ind.value.trim(), &mut b) {
                        Some(n) if IndicatorKind::hash_for_len(n * 2) == Some(ind.kind) => {
                            set.hashes.entry(b[..n].into()).or_default().push(idx);
                            true
                        }
                        _ => false,
                    }
                }
            };
            if !ok {
                set.invalid += 1;
                continue;
            }
            let next = sources.len() as u32;
            let rule = *sources.entry(ind.source.clone()).or_insert_with(|| {
                set.rules.push(Arc::new(rule_for(&ind.source)));
                next
            });
            set.rule_of.push(rule);
            kept.push(ind);
        }
        set.indicators = kept;
        set.v4 = PrefixTable::build(v4);
        set.v6 = PrefixTable::build(v6);
        let has_ip = !set.v4.is_empty() || !set.v6.is_empty();
        let has_host = has_ip || !set.domains.is_empty();
        let has_url = has_host || !set.urls.is_empty();
        let has_hash = !set.hashes.is_empty();
        set.fields = INTEL_FIELDS
            .iter()
            .filter(|(_, u)| match u {
                FieldUse::Ip => has_ip,
                FieldUse::Host => has_host,
                FieldUse::Url => has_url,
                FieldUse::Hash | FieldUse::HashList => has_hash,
            })
            .map(|&(name, u)| (FieldId::known(name), (u, name)))
            .collect();
        set.url_hosts = URL_HOST_FIELDS.iter().map(|n| FieldId::known(n)).collect();
        set
    }

    pub fn indicators(&self) -> &[Indicator] {
        &self.indicators
    }

    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    /// Indicators left out because their value did not parse as their kind.
    pub fn invalid(&self) -> usize {
        self.invalid
    }

    /// The rule each source's alerts carry (`ioc:<source>`).
    pub fn rules(&self) -> &[Arc<RuleInfo>] {
        &self.rules
    }

    /// Appends to `hits` every valid indicator that matches a field of `event`, each indicator
    /// once (at the first field, in the event's field order, where it matched).
    pub fn match_event(&self, event: &Event, scratch: &mut IntelScratch, hits: &mut Vec<IntelHit>) {
        if self.indicators.is_empty() {
            return;
        }
        scratch.seen.clear();
        if scratch.owner != self.serial {
            scratch.alias_targets.clear();
            scratch.layout.clear();
            scratch.last_miss.clear();
            scratch.owner = self.serial;
        }
        let at = event.timestamp.unwrap_or(self.now);
        let aliased = match event.aliases() {
            Some(table) => {
                let key = table as *const AliasTable as usize;
                let i = match scratch.alias_targets.iter().position(|(k, _)| *k == key) {
                    Some(i) => i,
                    None => {
                        scratch.alias_targets.push((key, self.alias_targets(table)));
                        scratch.alias_targets.len() - 1
                    }
                };
                Some(i)
            }
            None => None,
        };
        let aliases_key = event
            .aliases()
            .map_or(0, |t| t as *const AliasTable as usize);
        let IntelScratch {
            buf,
            url,
            num,
            seen,
            alias_targets,
            layout,
            last_miss,
            layout_aliases,
            owner: _,
        } = scratch;
        if *layout_aliases != aliases_key {
            layout.clear();
            last_miss.clear();
            *layout_aliases = aliases_key;
        }
        let extra = aliased.map(|i| &alias_targets[i].1);
        let mut ctx = Ctx {
            set: self,
            event,
            at,
            buf,
            url,
            seen,
            hits,
            found_any: false,
        };
        for (pos, (id, value)) in event.fields().enumerate() {
            let entry = match layout.get(pos) {
                Some(&(known, entry)) if known == id => entry,
                _ => {
                    let entry = self
                        .fields
                        .get(&id)
                        .or_else(|| extra.and_then(|m| m.get(&id)))
                        .copied();
                    if pos < layout.len() {
                        layout[pos] = (id, entry);
                        last_miss[pos].clear();
                    } else if pos == layout.len() && pos < MAX_LAYOUT {
                        layout.push((id, entry));
                        last_miss.push(String::new());
                    }
                    entry
                }
            };
            let Some((usage, name)) = entry else {
                continue;
            };
            match value {
                Value::Str(s) => {
                    // A path-only URL's hits depend on the record's host too, so its value
                    // alone cannot be remembered as a miss.
                    let memo = if matches!(usage, FieldUse::Url) && s.starts_with('/') {
                        None
                    } else {
                        last_miss.get_mut(pos)
                    };
                    if let Some(m) = &memo
                        && !m.is_empty()
                        && m.as_str() == s.as_str()
                    {
                        continue;
                    }
                    ctx.found_any = false;
                    ctx.text(usage, name, s);
                    if let Some(m) = memo {
                        m.clear();
                        // Only a value no indicator contains is remembered: one already hit on
                        // this event, or expired at its time, may hit on the next.
                        if !ctx.found_any && s.len() <= 256 {
                            m.push_str(s);
                        }
                    }
                }
                other => {
                    other.for_each_text(num, &mut |text| {
                        ctx.text(usage, name, text);
                        false
                    });
                }
            }
        }
    }

    /// Stored fields that `table` makes stand for one of our entries and that are not
    /// entries themselves (LEEF's `url` for `url.original` would be, were it not listed).
    fn alias_targets(&self, table: &AliasTable) -> FxHashMap<FieldId, FieldEntry> {
        table
            .pairs()
            .iter()
            .filter(|(_, target)| !self.fields.contains_key(target))
            .filter_map(|(alias, target)| {
                self.fields
                    .get(alias)
                    .map(|&(usage, _)| (*target, (usage, target.as_str())))
            })
            .collect()
    }

    fn lookup_ip_text(&self, text: &str, f: &mut impl FnMut(u32)) {
        let t = text.trim();
        if let Some(a) = parse_ipv4(t.as_bytes()) {
            self.v4.lookup(a, f);
        } else if t.contains(':')
            && let Ok(ip) = t.parse::<IpAddr>()
        {
            self.lookup_ip(ip, f);
        }
    }

    /// Every indicator whose address or network contains `ip`.
    pub fn lookup_ip(&self, ip: IpAddr, f: &mut impl FnMut(u32)) {
        match ip.to_canonical() {
            IpAddr::V4(a) => self.v4.lookup(u32::from(a), f),
            IpAddr::V6(a) => self.v6.lookup(v6_key(a), f),
        }
    }

    /// A host name (every suffix at a label boundary is looked up) or an address, either
    /// possibly with `:port`.
    fn lookup_host(&self, text: &str, buf: &mut String, f: &mut impl FnMut(u32)) {
        let t = text.trim();
        if t.is_empty() || t == "-" {
            return;
        }
        if let Some(a) = parse_ipv4(t.as_bytes()) {
            return self.v4.lookup(a, f);
        }
        if t.contains(':')
            && let Ok(ip) = t.parse::<IpAddr>()
        {
            return self.lookup_ip(ip, f);
        }
        let (host, _) = model::split_host_port(t);
        if let Some(a) = parse_ipv4(host.as_bytes()) {
            return self.v4.lookup(a, f);
        }
        if host.contains(':')
            && let Ok(ip) = host.parse::<IpAddr>()
        {
            return self.lookup_ip(ip, f);
        }
        self.lookup_domain(host, buf, f);
    }

    /// Every domain indicator equal to `name` or a parent domain of it.
    pub fn lookup_domain(&self, name: &str, buf: &mut String, f: &mut impl FnMut(u32)) {
        if self.domains.is_empty() {
            return;
        }
        buf.clear();
        let name = name.trim().trim_end_matches('.');
        if name.is_ascii() {
            buf.push_str(name);
            buf.make_ascii_lowercase();
        } else {
            for c in name.chars() {
                buf.extend(c.to_lowercase());
            }
        }
        let mut rest = buf.as_str();
        // Domain indicators have at least two labels, so the last label alone is not probed.
        while rest.contains('.') {
            if let Some(ids) = self.domains.get(rest) {
                ids.iter().for_each(|&i| f(i));
            }
            match rest.find('.') {
                Some(dot) => rest = &rest[dot + 1..],
                None => break,
            }
        }
    }

    fn lookup_url(
        &self,
        text: &str,
        event: &Event,
        buf: &mut String,
        key: &mut String,
        f: &mut impl FnMut(u32),
    ) {
        let t = text.trim();
        if t.is_empty() || t == "-" {
            return;
        }
        let ok = if t.starts_with('/') {
            // A path: join it to the request's host — only when a URL indicator has that
            // host (the authority of `host + path` is the authority of `host` alone).
            if self.urls.is_empty() {
                return;
            }
            let Some(host) = self
                .url_hosts
                .iter()
                .find_map(|id| event.get(*id).and_then(Value::as_str))
            else {
                return;
            };
            if !model::url_key_into(host.trim(), key)
                || !self
                    .url_authorities
                    .contains(key.strip_suffix('/').unwrap_or(key))
            {
                return;
            }
            buf.clear();
            buf.push_str(host.trim());
            buf.push_str(t);
            model::url_key_into(buf, key)
        } else {
            let ok = model::url_key_into(t, key);
            if ok {
                // The URL's host against the domain and address indicators.
                let host_end = key.find(['/', '?']).unwrap_or(key.len());
                let host = &key[..host_end];
                let (h, _) = model::split_host_port(host);
                match h.parse::<IpAddr>() {
                    Ok(ip) => self.lookup_ip(ip, f),
                    Err(_) => self.lookup_domain(h, buf, f),
                }
            }
            ok
        };
        if !ok || self.urls.is_empty() {
            return;
        }
        self.lookup_url_key(key, f);
    }

    /// URL indicators with this normalised key, or with the key's query removed.
    pub fn lookup_url_key(&self, key: &str, f: &mut impl FnMut(u32)) {
        if let Some(ids) = self.urls.get(key) {
            ids.iter().for_each(|&i| f(i));
        }
        if let Some(q) = key.find('?')
            && let Some(ids) = self.urls.get(&key[..q])
        {
            ids.iter().for_each(|&i| f(i));
        }
    }

    /// Hash indicators equal to the hex digest `text` (any case).
    pub fn lookup_hash(&self, text: &str, f: &mut impl FnMut(u32)) {
        if self.hashes.is_empty() {
            return;
        }
        let mut b = [0u8; 32];
        if let Some(n) = decode_hex(text.trim(), &mut b)
            && let Some(ids) = self.hashes.get(&b[..n])
        {
            ids.iter().for_each(|&i| f(i));
        }
    }

    /// The alert for a hit on `event`.
    pub fn alert(&self, hit: &IntelHit, event: Arc<Event>) -> Alert {
        let ind = &self.indicators[hit.indicator as usize];
        let rule = self
            .rule_of
            .get(hit.indicator as usize)
            .and_then(|&r| self.rules.get(r as usize))
            .cloned()
            .unwrap_or_else(|| Arc::new(rule_for(&ind.source)));
        let mut evidence = vec![
            ("indicator".to_owned(), ind.value.clone()),
            ("indicator.kind".to_owned(), ind.kind.as_str().to_owned()),
            ("indicator.id".to_owned(), ind.id.clone()),
            ("matched.field".to_owned(), hit.field.to_owned()),
            ("matched.value".to_owned(), hit.value.clone()),
            ("intel.source".to_owned(), ind.source.clone()),
            ("intel.confidence".to_owned(), ind.confidence.to_string()),
            (
                "intel.valid_until".to_owned(),
                ind.valid_until
                    .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339()),
            ),
        ];
        if let Some(d) = &ind.description {
            evidence.push(("intel.description".to_owned(), d.clone()));
        }
        if !ind.labels.is_empty() {
            evidence.push(("intel.labels".to_owned(), ind.labels.join(", ")));
        }
        if let Some(r) = &ind.reference {
            evidence.push(("intel.reference".to_owned(), r.clone()));
        }
        Alert {
            detector: "ioc",
            rule,
            severity: severity_for(ind.confidence),
            timestamp: event.timestamp,
            host: event.host().map(Value::to_string),
            evidence,
            origins: vec![event.origin.clone()],
            event: Some(event),
        }
    }
}

/// Positions of an event's fields remembered in [`IntelScratch`].
const MAX_LAYOUT: usize = 256;

/// One event's matching state.
struct Ctx<'a, 'e> {
    set: &'a IntelSet,
    event: &'e Event,
    at: DateTime<Utc>,
    buf: &'e mut String,
    url: &'e mut String,
    seen: &'e mut Vec<u32>,
    hits: &'e mut Vec<IntelHit>,
    /// Whether a lookup since this was last cleared found any indicator (valid or not).
    found_any: bool,
}

impl Ctx<'_, '_> {
    /// Matches one text value of a field read as `usage`.
    #[inline]
    fn text(&mut self, usage: FieldUse, name: &'static str, text: &str) {
        let Ctx {
            set,
            event,
            at,
            buf,
            url,
            seen,
            hits,
            found_any,
        } = self;
        let set = *set;
        let mut found = |i: u32| {
            *found_any = true;
            if seen.contains(&i) || set.indicators[i as usize].expired_at(*at) {
                return;
            }
            seen.push(i);
            hits.push(IntelHit {
                indicator: i,
                field: name,
                value: text.to_owned(),
            });
        };
        match usage {
            FieldUse::Ip => set.lookup_ip_text(text, &mut found),
            FieldUse::Host => set.lookup_host(text, buf, &mut found),
            FieldUse::Url => set.lookup_url(text, event, buf, url, &mut found),
            FieldUse::Hash => set.lookup_hash(text, &mut found),
            FieldUse::HashList => {
                for part in text.split(',') {
                    let (algo, digest) = part.split_once('=').unwrap_or(("", part));
                    if algo.trim().eq_ignore_ascii_case("IMPHASH") {
                        continue;
                    }
                    set.lookup_hash(digest, &mut found);
                }
            }
        }
    }
}

fn rule_for(source: &str) -> RuleInfo {
    RuleInfo {
        id: format!("ioc:{source}"),
        title: format!("Threat intel match ({source})"),
        level: None,
        tags: vec!["ioc".to_owned()],
        description: Some(format!(
            "An event field matched an indicator of the intel source {source}"
        )),
        author: None,
        path: None,
    }
}

#[cfg(test)]
mod tests;

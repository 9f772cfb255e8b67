//! ArcSight CEF and IBM QRadar LEEF records, optionally after a syslog prefix.
//!
//! * **CEF**: `CEF:Version|Vendor|Product|Version|SignatureID|Name|Severity|Extension`, header
//!   escapes `\|` and `\\`; the extension is `key=value` pairs separated by spaces, a value
//!   running until the next ` key=`, with escapes `\=`, `\\`, `\n`, `\r`.
//! * **LEEF 1.0** `LEEF:1.0|Vendor|Product|Version|EventID|` then TAB-separated `key=value`;
//!   **LEEF 2.0** adds a delimiter field after EventID (a character, or hex as `x5E`/`0x5E`).
//!   A delimiter rsyslog rewrote to `#011` is recognised.
//!
//! Extension keys are stored verbatim (`src`, `dst`, `spt`, `suser`, `act`, `usrName`, …; port,
//! byte and count keys as integers) and the header as `cef.device_vendor`, `cef.device_product`,
//! `cef.device_version`, `cef.signature_id`, `cef.name`, `cef.severity` (LEEF: `leef.*`,
//! `leef.event_id`). ECS names resolve through a static alias table per format (`source.ip` →
//! `src`, `destination.port` → `dpt`/`dstPort`, `event.action` → `act`, …); the few derived
//! values are stored: `user.name` (CEF `suser`, else `duser`), `host.name` (`dvchost`, else the
//! syslog host), `event.severity` (numeric; CEF `Low`/`Medium`/`High`/`Very-High` become
//! 3/6/8/10), `network.transport` (lower-cased, IANA numbers named) and the event time (`rt`,
//! `end`, `start`, LEEF `devTime` with `devTimeFormat`, else the syslog prefix's time).
//! `meta.product` is the vendor in Sigma's spelling (`paloalto`, `cisco`, `fortigate`, …) and
//! `meta.service` the device product, lower-cased.
//!
//! Either parser accepts both CEF and LEEF lines, as mixed syslog feeds carry both.
//! Not handled: CEF records split across lines, and `devTimeFormat` patterns with zone names
//! (`z`), which chrono cannot parse.

mod ext;
mod time;

use std::borrow::Cow;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use compact_str::CompactString;
use palisade_event::{AliasTable, Event, FieldId, Origin, Value};

use super::syslog::{YearContext, field_ids, parse_prefix};
use crate::line::{LineFormat, ParseError};

/// Longest syslog prefix accepted before `CEF:`/`LEEF:`.
const MAX_PREFIX: usize = 1024;

/// Whether `line` holds a CEF record (`CEF:<digit>` followed by its header).
pub fn sniff_cef(line: &str) -> bool {
    find_marker(line, "CEF:").is_some_and(|i| line[i..].bytes().filter(|b| *b == b'|').count() >= 7)
}

/// Whether `line` holds a LEEF record (`LEEF:<digit>` followed by its header).
pub fn sniff_leef(line: &str) -> bool {
    find_marker(line, "LEEF:")
        .is_some_and(|i| line[i..].bytes().filter(|b| *b == b'|').count() >= 5)
}

/// Position of `marker` followed by a digit, within the first [`MAX_PREFIX`] bytes.
fn find_marker(line: &str, marker: &str) -> Option<usize> {
    let finder = memchr::memmem::find_iter(line.as_bytes(), marker.as_bytes());
    finder.take_while(|&i| i <= MAX_PREFIX).find(|&i| {
        line.as_bytes()
            .get(i + marker.len())
            .is_some_and(u8::is_ascii_digit)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cef,
    Leef,
}

/// CEF / LEEF parser for one input.
#[derive(Debug, Clone)]
pub struct CefFormat {
    kind: Kind,
    /// Years for syslog prefixes and year-less `rt` values.
    years: YearContext,
    /// The last `devTimeFormat` seen and its chrono translation.
    dev_time_format: Option<(String, Option<(String, bool)>)>,
}

impl CefFormat {
    /// A parser for an input detected as CEF.
    pub fn cef() -> Self {
        CefFormat::new(Kind::Cef)
    }

    /// A parser for an input detected as LEEF.
    pub fn leef() -> Self {
        CefFormat::new(Kind::Leef)
    }

    fn new(kind: Kind) -> Self {
        use chrono::Datelike;
        CefFormat {
            kind,
            years: YearContext::new(Utc::now().year()),
            dev_time_format: None,
        }
    }

    /// Dates year-less timestamps in `year` instead of the current year.
    pub fn with_year(mut self, year: i32) -> Self {
        self.years = YearContext::new(year);
        self
    }
}

impl Default for CefFormat {
    fn default() -> Self {
        CefFormat::cef()
    }
}

impl LineFormat for CefFormat {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Cef => "cef",
            Kind::Leef => "leef",
        }
    }

    fn parse_line(&mut self, line: &str, origin: Origin) -> Result<Option<Event>, ParseError> {
        if line.trim().is_empty() {
            return Ok(None);
        }
        let cef = find_marker(line, "CEF:");
        let leef = find_marker(line, "LEEF:");
        // The earliest marker wins: a LEEF record may quote "CEF:" in a value, and vice versa.
        let (at, kind) = match (cef, leef) {
            (Some(c), Some(l)) if l < c => (l, Kind::Leef),
            (Some(c), _) => (c, Kind::Cef),
            (None, Some(l)) => (l, Kind::Leef),
            (None, None) => {
                return Err(ParseError::new(match self.kind {
                    Kind::Cef => "no CEF:<version>| header in the line",
                    Kind::Leef => "no LEEF:<version>| header in the line",
                }));
            }
        };
        let prefix = parse_prefix(&line[..at]);
        let mut record = match kind {
            Kind::Cef => self.parse_cef(&line[at + 4..], origin)?,
            Kind::Leef => self.parse_leef(&line[at + 5..], origin)?,
        };
        let ids = Ids::get();
        if record.timestamp.is_none() {
            record.timestamp = prefix.time.and_then(|t| self.years.stamp(t));
        }
        if record.get(ids.host).is_none()
            && let Some(host) = prefix.host
        {
            record.insert(ids.host, host.into())?;
        }
        Ok(Some(record))
    }
}

field_ids! {
    struct Ids {
        host => "host.name",
        user => "user.name",
        severity => "event.severity",
        transport => "network.transport",
        suser => "suser",
        duser => "duser",
        dvchost => "dvchost",
        proto => "proto",
        cef_version => "cef.version",
        cef_vendor => "cef.device_vendor",
        cef_product => "cef.device_product",
        cef_device_version => "cef.device_version",
        cef_signature => "cef.signature_id",
        cef_name => "cef.name",
        cef_severity => "cef.severity",
        leef_version => "leef.version",
        leef_vendor => "leef.device_vendor",
        leef_product => "leef.device_product",
        leef_device_version => "leef.device_version",
        leef_event_id => "leef.event_id",
    }
}

/// ECS names of CEF's keys (after Elastic's CEF module).
fn cef_aliases() -> &'static AliasTable {
    static T: LazyLock<AliasTable> = LazyLock::new(|| {
        AliasTable::new(&[
            ("source.ip", "src"),
            ("source.port", "spt"),
            ("source.mac", "smac"),
            ("source.domain", "shost"),
            ("source.user.name", "suser"),
            ("source.nat.ip", "sourceTranslatedAddress"),
            ("source.nat.port", "sourceTranslatedPort"),
            ("source.bytes", "in"),
            ("destination.ip", "dst"),
            ("destination.port", "dpt"),
            ("destination.mac", "dmac"),
            ("destination.domain", "dhost"),
            ("destination.user.name", "duser"),
            ("destination.nat.ip", "destinationTranslatedAddress"),
            ("destination.nat.port", "destinationTranslatedPort"),
            ("destination.bytes", "out"),
            ("event.action", "act"),
            ("event.code", "cef.signature_id"),
            ("event.outcome", "outcome"),
            ("message", "msg"),
            ("rule.name", "cef.name"),
            ("network.protocol", "app"),
            ("url.original", "request"),
            ("http.request.method", "requestMethod"),
            ("user_agent.original", "requestClientApplication"),
            ("file.name", "fname"),
            ("file.path", "filePath"),
            ("file.size", "fsize"),
            ("process.pid", "dvcpid"),
            ("observer.hostname", "dvchost"),
            ("observer.ip", "dvc"),
            ("observer.vendor", "cef.device_vendor"),
            ("observer.product", "cef.device_product"),
            ("observer.version", "cef.device_version"),
        ])
    });
    &T
}

/// ECS names of LEEF's predefined attributes.
fn leef_aliases() -> &'static AliasTable {
    static T: LazyLock<AliasTable> = LazyLock::new(|| {
        AliasTable::new(&[
            ("source.ip", "src"),
            ("source.port", "srcPort"),
            ("source.mac", "srcMAC"),
            ("source.bytes", "srcBytes"),
            ("source.packets", "srcPackets"),
            ("source.nat.ip", "srcPostNAT"),
            ("source.nat.port", "srcPostNATPort"),
            ("destination.ip", "dst"),
            ("destination.port", "dstPort"),
            ("destination.mac", "dstMAC"),
            ("destination.bytes", "dstBytes"),
            ("destination.packets", "dstPackets"),
            ("destination.nat.ip", "dstPostNAT"),
            ("destination.nat.port", "dstPostNATPort"),
            ("user.name", "usrName"),
            ("user.domain", "domain"),
            ("group.name", "identGrpName"),
            ("url.original", "url"),
            ("event.code", "leef.event_id"),
            ("observer.vendor", "leef.device_vendor"),
            ("observer.product", "leef.device_product"),
            ("observer.version", "leef.device_version"),
        ])
    });
    &T
}

/// Keys whose values are numbers when they parse as such.
fn is_numeric_key(key: &str) -> bool {
    matches!(
        key,
        "spt"
            | "dpt"
            | "cnt"
            | "in"
            | "out"
            | "fsize"
            | "oldFileSize"
            | "cn1"
            | "cn2"
            | "cn3"
            | "dvcpid"
            | "spid"
            | "dpid"
            | "type"
            | "sourceTranslatedPort"
            | "destinationTranslatedPort"
            | "srcPort"
            | "dstPort"
            | "srcPreNATPort"
            | "dstPreNATPort"
            | "srcPostNATPort"
            | "dstPostNATPort"
            | "srcBytes"
            | "dstBytes"
            | "totalBytes"
            | "srcPackets"
            | "dstPackets"
            | "totalPackets"
            | "sev"
    )
}

fn typed(key: &str, value: Cow<'_, str>) -> Value {
    if is_numeric_key(key)
        && let Ok(n) = value.trim().parse::<i64>()
    {
        return Value::Int(n);
    }
    Value::Str(CompactString::from(value))
}

impl CefFormat {
    /// The text after `CEF:`.
    fn parse_cef(&mut self, body: &str, origin: Origin) -> Result<Event, ParseError> {
        let (header, extension) = ext::header_fields(body, 7).map_err(cef_err)?;
        let pairs = ext::cef_extension(extension).map_err(cef_err)?;
        let mut event = cef_header(&header, origin)?;
        let mut time = None;
        for (key, value) in pairs {
            if matches!(key, "rt" | "end" | "start")
                && time.is_none_or(|(rank, _)| rank > time_rank(key))
                && let Some(t) = time::parse_text(&value, &mut self.years)
            {
                time = Some((time_rank(key), t));
            }
            event.insert(intern(key)?, typed(key, value))?;
        }
        event.timestamp = time.map(|(_, t)| t);
        derived_fields(&mut event, Ids::get())?;
        Ok(event)
    }

    /// The text after `LEEF:`.
    fn parse_leef(&mut self, body: &str, origin: Origin) -> Result<Event, ParseError> {
        let (header, rest) = ext::header_fields(body, 5).map_err(leef_err)?;
        let [version, vendor, product, dev_version, event_id] = &header[..] else {
            return Err(ParseError::new("LEEF header must have 5 fields"));
        };
        let (delimiter, attributes) = leef_delimiter(version, rest);
        let pairs = ext::leef_attributes(attributes, &delimiter).map_err(leef_err)?;
        let ids = Ids::get();
        let mut event = Event::new(origin, "leef");
        event.set_aliases(leef_aliases());
        event.meta.product = Some(sigma_product(vendor, product));
        event.meta.service = non_empty_lower(product);
        for (id, v) in [
            (ids.leef_version, version),
            (ids.leef_vendor, vendor),
            (ids.leef_product, product),
            (ids.leef_device_version, dev_version),
            (ids.leef_event_id, event_id),
        ] {
            event.insert(id, v.as_ref().into())?;
        }
        let mut dev_time = None;
        let mut dev_time_format = None;
        for (key, value) in pairs {
            match key {
                "devTime" => dev_time = Some(value.clone()),
                "devTimeFormat" => dev_time_format = Some(value.clone()),
                "sev" => {
                    if let Ok(s) = value.trim().parse::<i64>() {
                        event.insert(ids.severity, Value::Int(s))?;
                    }
                }
                _ => {}
            }
            event.insert(intern(key)?, typed(key, value))?;
        }
        event.timestamp = dev_time.and_then(|t| self.leef_time(&t, dev_time_format.as_deref()));
        derived_fields(&mut event, ids)?;
        Ok(event)
    }

    /// `devTime` in `devTimeFormat` (translated once per distinct format), else the default
    /// forms.
    fn leef_time(&mut self, value: &str, format: Option<&str>) -> Option<DateTime<Utc>> {
        if let Some(java) = format {
            let stale = self.dev_time_format.as_ref().is_none_or(|(j, _)| j != java);
            if stale {
                self.dev_time_format = Some((java.to_owned(), time::java_to_chrono(java)));
            }
            if let Some((_, Some((fmt, zone)))) = &self.dev_time_format
                && let Some(t) = time::parse_with(value, fmt, *zone)
            {
                return Some(t);
            }
        }
        time::parse_text(value, &mut self.years)
    }
}

/// A new event holding the seven CEF header fields.
fn cef_header(header: &[Cow<'_, str>], origin: Origin) -> Result<Event, ParseError> {
    let [
        version,
        vendor,
        product,
        dev_version,
        signature,
        name,
        severity,
    ] = header
    else {
        return Err(ParseError::new("CEF header must have 7 fields"));
    };
    let version: i64 = version
        .trim()
        .parse()
        .map_err(|_| ParseError::new(format!("CEF version {version:?} is not a number")))?;
    let ids = Ids::get();
    let mut event = Event::new(origin, "cef");
    event.set_aliases(cef_aliases());
    event.meta.product = Some(sigma_product(vendor, product));
    event.meta.service = non_empty_lower(product);
    event.insert(ids.cef_version, Value::Int(version))?;
    for (id, v) in [
        (ids.cef_vendor, vendor),
        (ids.cef_product, product),
        (ids.cef_device_version, dev_version),
        (ids.cef_signature, signature),
        (ids.cef_name, name),
        (ids.cef_severity, severity),
    ] {
        event.insert(id, v.as_ref().into())?;
    }
    if let Some(sev) = cef_severity(severity) {
        event.insert(ids.severity, Value::Int(sev))?;
    }
    Ok(event)
}

/// `rt` (receipt time) is preferred to `end`, `end` to `start`.
fn time_rank(key: &str) -> u8 {
    match key {
        "rt" => 0,
        "end" => 1,
        _ => 2,
    }
}

fn intern(key: &str) -> Result<FieldId, ParseError> {
    FieldId::intern(key).map_err(|e| ParseError::new(format!("key {key:?}: {e}")))
}

fn cef_err(e: ParseError) -> ParseError {
    ParseError::new(format!("CEF {}", e.0))
}

fn leef_err(e: ParseError) -> ParseError {
    ParseError::new(format!("LEEF {}", e.0))
}

/// LEEF 2.0's optional delimiter field: a character, or its hex code (`x09`, `0x5E`). LEEF 1.0
/// uses TAB, or the `#011` rsyslog writes for one.
fn leef_delimiter<'a>(version: &str, rest: &'a str) -> (Cow<'static, str>, &'a str) {
    let default = |attrs: &str| -> Cow<'static, str> {
        if !attrs.contains('\t') && attrs.contains("#011") {
            Cow::Borrowed("#011")
        } else {
            Cow::Borrowed("\t")
        }
    };
    if !version.trim().starts_with('2') {
        return (default(rest), rest);
    }
    let Some((spec, attrs)) = rest.split_once('|') else {
        return (default(rest), rest);
    };
    let hex = spec
        .strip_prefix("0x")
        .or_else(|| spec.strip_prefix('x'))
        .or_else(|| spec.strip_prefix("\\x"))
        .filter(|h| (1..=4).contains(&h.len()))
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .and_then(char::from_u32);
    match (hex, spec.chars().count()) {
        (Some(c), _) => (Cow::Owned(c.to_string()), attrs),
        (None, 1) => (Cow::Owned(spec.to_owned()), attrs),
        (None, 0) => (default(attrs), attrs),
        // Not a delimiter spec: the `|` belongs to the attributes.
        _ => (default(rest), rest),
    }
}

/// ECS values that need a choice or a conversion, so cannot be aliases.
fn derived_fields(event: &mut Event, ids: &Ids) -> Result<(), ParseError> {
    let user = event
        .get(ids.suser)
        .or_else(|| event.get(ids.duser))
        .cloned();
    if let Some(u) = user {
        event.insert(ids.user, u)?;
    }
    if let Some(h) = event.get(ids.dvchost).cloned() {
        event.insert(ids.host, h)?;
    }
    let transport = match event.get(ids.proto) {
        Some(Value::Int(n)) => transport_name(*n).map(Value::from),
        Some(Value::Str(s)) => match s.parse::<i64>() {
            Ok(n) => transport_name(n).map(Value::from),
            Err(_) => Some(Value::from(s.to_ascii_lowercase())),
        },
        _ => None,
    };
    if let Some(t) = transport {
        event.insert(ids.transport, t)?;
    }
    Ok(())
}

fn transport_name(n: i64) -> Option<&'static str> {
    Some(match n {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        47 => "gre",
        50 => "esp",
        58 => "ipv6-icmp",
        132 => "sctp",
        _ => return None,
    })
}

/// CEF severity: 0–10, or ArcSight's names.
fn cef_severity(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    Some(match s.to_ascii_lowercase().as_str() {
        "low" => 3,
        "medium" => 6,
        "high" => 8,
        "very-high" | "very high" => 10,
        _ => return None,
    })
}

fn non_empty_lower(s: &str) -> Option<CompactString> {
    let s = s.trim();
    (!s.is_empty()).then(|| CompactString::from(s.to_lowercase()))
}

/// The vendor as Sigma's `logsource.product` names it: lower case, without corporate suffixes
/// (`Palo Alto Networks` → `paloalto`); FortiGate/FortiOS devices by their product.
fn sigma_product(vendor: &str, product: &str) -> CompactString {
    let p = product.trim().to_lowercase();
    if p == "fortigate" || p == "fortios" {
        return CompactString::from(p);
    }
    let mut v = vendor.trim().to_lowercase();
    for suffix in [
        ", inc.",
        " inc.",
        " inc",
        " networks",
        " systems",
        " corporation",
        " corp.",
        " technologies",
        " software",
    ] {
        if let Some(stripped) = v.strip_suffix(suffix) {
            v.truncate(stripped.len());
        }
    }
    let v: String = v.chars().filter(|c| !c.is_whitespace()).collect();
    CompactString::from(if v.is_empty() { p } else { v })
}

#[cfg(test)]
mod tests;

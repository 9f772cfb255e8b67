//! Zeek logs, in both of Zeek's writers:
//!
//! * **TSV** (the ASCII writer): `#separator`, `#set_separator`, `#empty_field`,
//!   `#unset_field`, `#path`, `#fields` and `#types` headers, then one record per line. Values
//!   are typed from `#types`: `time` → float (and the event time for `ts`), `count`/`int`/`port`
//!   → integer, `interval`/`double` → float, `bool` → bool, `set[…]`/`vector[…]` → list split on
//!   the set separator; the unset marker (`-`) omits the field and the empty marker (`(empty)`)
//!   is an empty list or string. Extra columns such as Stratosphere's `label` and
//!   `detailedlabel` are ordinary fields. A new `#separator` line starts a new header block, so
//!   concatenated logs work.
//! * **JSON lines** (`{"ts":…,"uid":…,"id.orig_h":…}`), `ts` as epoch seconds or ISO 8601.
//!
//! Fields keep Zeek's own names (`id.orig_h`, `conn_state`, `query`); ECS names (`source.ip`,
//! `destination.port`, `dns.question.name`, `url.original`, …) resolve through a static alias
//! table chosen per log type, so no value is stored twice. `meta.product` is `zeek` and
//! `meta.service` the log type: `#path`, a JSON `_path`, or inferred from the fields.
//!
//! Not handled: Zeek's binary writers, and un-escaping `\xHH` inside values (kept verbatim, as
//! Zeek's JSON writer also writes them, so both forms compare equal).

mod schema;
mod tsv;

use chrono::{DateTime, Utc};
use compact_str::CompactString;
use palisade_event::{AliasTable, Event, FieldId, Origin, Value};

use super::flatten::{FlatSink, flatten_str};
use crate::line::{LineFormat, ParseError};
use tsv::TsvHeader;

/// Whether `line` is a Zeek JSON record: an object with `ts` and a key only Zeek writes
/// (a connection id, `_path`, a Zeek uid, or the key fields of logs without connection ids).
pub fn sniff_json(line: &str) -> bool {
    const ZEEK_KEYS: [&str; 9] = [
        "\"id.orig_h\"",
        "\"_path\"",
        "\"uid\":\"C",
        "\"uid\": \"C",
        "\"fuid\":\"F",
        "\"conn_uids\"",
        "\"software_type\"",
        "\"certificate.serial\"",
        "\"seen_bytes\"",
    ];
    let l = line.trim_start_matches('\u{feff}').trim_start();
    l.starts_with('{') && l.contains("\"ts\"") && ZEEK_KEYS.iter().any(|key| l.contains(key))
}

/// Zeek parser for one input (TSV with headers, or JSON lines).
#[derive(Debug, Default)]
pub struct ZeekFormat {
    tsv: TsvHeader,
    /// Log type and aliases of the current TSV header block.
    tsv_service: Option<CompactString>,
    tsv_aliases: Option<&'static AliasTable>,
}

impl LineFormat for ZeekFormat {
    fn name(&self) -> &'static str {
        "zeek"
    }

    fn parse_line(&mut self, line: &str, origin: Origin) -> Result<Option<Event>, ParseError> {
        let line = line.trim_start_matches('\u{feff}');
        if line.trim().is_empty() {
            return Ok(None);
        }
        if line.starts_with('#') {
            self.tsv.directive(line)?;
            self.refresh_service();
            return Ok(None);
        }
        if line.trim_start().starts_with('{') {
            return json_record(line, origin).map(Some);
        }
        self.tsv_record(line, origin).map(Some)
    }
}

impl ZeekFormat {
    fn refresh_service(&mut self) {
        let service = match &self.tsv.path {
            Some(p) => Some(p.clone()),
            None => schema::infer_service(|f| self.tsv.has_field(f)).map(CompactString::const_new),
        };
        self.tsv_aliases = Some(schema::aliases(service.as_deref().unwrap_or("")));
        self.tsv_service = service;
    }

    fn tsv_record(&self, line: &str, origin: Origin) -> Result<Event, ParseError> {
        if !self.tsv.has_fields() {
            return Err(ParseError::new(
                "record before any #fields header (not a Zeek TSV or JSON log?)",
            ));
        }
        let mut event = new_event(origin, self.tsv_service.clone());
        if let Some(a) = self.tsv_aliases {
            event.set_aliases(a);
        }
        self.tsv.record(line, &mut event)?;
        Ok(event)
    }
}

fn new_event(origin: Origin, service: Option<CompactString>) -> Event {
    let mut event = Event::new(origin, "zeek");
    event.meta.product = Some(CompactString::const_new("zeek"));
    event.meta.service = service;
    event
}

/// One JSON line.
fn json_record(line: &str, origin: Origin) -> Result<Event, ParseError> {
    let mut sink = JsonRecord {
        event: new_event(origin, None),
        path: None,
        ts: FieldId::known("ts"),
    };
    flatten_str(line.trim(), &mut sink).map_err(|e| ParseError::new(e.to_string()))?;
    let JsonRecord {
        mut event, path, ..
    } = sink;
    let service = match path {
        Some(p) => Some(p),
        None => {
            schema::infer_service(|f| FieldId::lookup(f).is_some_and(|id| event.get(id).is_some()))
                .map(CompactString::const_new)
        }
    };
    event.set_aliases(schema::aliases(service.as_deref().unwrap_or("")));
    event.meta.service = service;
    Ok(event)
}

struct JsonRecord {
    event: Event,
    path: Option<CompactString>,
    ts: FieldId,
}

impl FlatSink for JsonRecord {
    fn leaf(&mut self, path: &str, value: Value) -> Result<(), String> {
        if path == "_path" {
            self.path = value.as_str().map(CompactString::new);
            return Ok(());
        }
        if path.is_empty() {
            return Err("expected a JSON object".into());
        }
        let id = FieldId::intern(path).map_err(|e| e.to_string())?;
        if id == self.ts {
            self.event.timestamp = timestamp(&value);
        }
        self.event.insert(id, value).map_err(|e| e.to_string())
    }
}

/// The event time of a `ts` value: epoch seconds or ISO 8601 text.
fn timestamp(value: &Value) -> Option<DateTime<Utc>> {
    super::json::parse_timestamp(value)
}

fn parse_iso(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests;

//! The [`Event`]: one owned record of a log line, flow or EVTX record.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use compact_str::CompactString;

use crate::field::{FieldId, InternError};
use crate::value::Value;

/// Fields naming an event's host, in order of preference ([`Event::host`]).
pub const HOST_FIELDS: [&str; 3] = ["host.name", "Computer", "host.hostname"];

/// Most fields one event may carry; a record with more is hostile or broken.
pub const MAX_FIELDS_PER_EVENT: usize = 4096;

/// Where an event came from: enough to point a user at the exact record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// File path, `-` for stdin, or a listener name.
    pub source: Arc<str>,
    /// 1-based line number for text formats, record number for EVTX.
    pub position: u64,
}

impl Origin {
    pub fn new(source: Arc<str>, position: u64) -> Self {
        Origin { source, position }
    }
}

impl Default for Origin {
    fn default() -> Self {
        Origin {
            source: Arc::from("-"),
            position: 0,
        }
    }
}

/// What kind of log an event is, for routing it to the rules written for that kind
/// (Sigma's `logsource`). Windows events carry their channel in their fields instead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMeta {
    /// Parser that produced the event: `evtx`, `json`, `syslog`, `zeek`, `flowcsv`, `cef`, `leef`.
    pub format: &'static str,
    /// Sigma product (`windows`, `linux`, `zeek`, …) when the format implies one.
    pub product: Option<CompactString>,
    /// Sigma service (`sshd`, `sudo`, `conn`, `dns`, …) when known.
    pub service: Option<CompactString>,
}

/// Maps alternative names (ECS names such as `host.name`) to the field that actually holds the
/// value in a given format (`Computer` in EVTX). One static table per format, so the values are
/// stored once and both vocabularies resolve.
#[derive(Debug, Default)]
pub struct AliasTable {
    pairs: Vec<(FieldId, FieldId)>,
}

impl AliasTable {
    /// Builds a table from `(alias, target)` name pairs.
    pub fn new(pairs: &[(&'static str, &'static str)]) -> Self {
        let mut pairs: Vec<_> = pairs
            .iter()
            .map(|(a, t)| (FieldId::known(a), FieldId::known(t)))
            .collect();
        pairs.sort_unstable_by_key(|p| p.0);
        AliasTable { pairs }
    }

    /// The field an alias points at.
    pub fn target(&self, alias: FieldId) -> Option<FieldId> {
        self.pairs
            .binary_search_by_key(&alias, |p| p.0)
            .ok()
            .map(|i| self.pairs[i].1)
    }

    /// All `(alias, target)` pairs.
    pub fn pairs(&self) -> &[(FieldId, FieldId)] {
        &self.pairs
    }
}

/// Why a field could not be added to an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    Intern(InternError),
    TooMany,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldError::Intern(e) => e.fmt(f),
            FieldError::TooMany => {
                write!(f, "more than {MAX_FIELDS_PER_EVENT} fields in one record")
            }
        }
    }
}

impl std::error::Error for FieldError {}

impl From<InternError> for FieldError {
    fn from(e: InternError) -> Self {
        FieldError::Intern(e)
    }
}

/// One record. Fields keep the source's own names (`EventID`, `CommandLine`, `id.orig_h`) and
/// ECS names (`source.ip`, `user.name`), either stored directly or reached through the format's
/// [`AliasTable`]. Nested objects are flattened to dotted names by the parsers, so a dotted path
/// is a single lookup.
///
/// Lookups scan a small vector of 4-byte keys: for the 10–60 fields of a typical record that is
/// faster than hashing, and it never allocates.
#[derive(Debug, Clone, Default)]
pub struct Event {
    fields: Vec<(FieldId, Value)>,
    /// Union of the stored fields' [`FieldId::bit`]s: a clear bit proves a field absent without
    /// scanning (rules look up many fields an event does not have), and lets insertion skip the
    /// duplicate-key scan for most new fields.
    present: u64,
    aliases: Option<&'static AliasTable>,
    /// Event time (not ingest time), when the record carries one.
    pub timestamp: Option<DateTime<Utc>>,
    pub origin: Origin,
    pub meta: SourceMeta,
}

impl Event {
    pub fn new(origin: Origin, format: &'static str) -> Self {
        Self::with_capacity(origin, format, 16)
    }

    /// An empty event with room for `fields` fields before reallocating.
    pub fn with_capacity(origin: Origin, format: &'static str, fields: usize) -> Self {
        Event {
            fields: Vec::with_capacity(fields.min(MAX_FIELDS_PER_EVENT)),
            present: 0,
            aliases: None,
            timestamp: None,
            origin,
            meta: SourceMeta {
                format,
                ..SourceMeta::default()
            },
        }
    }

    /// Makes `table`'s alternative names resolve on this event.
    pub fn set_aliases(&mut self, table: &'static AliasTable) {
        self.aliases = Some(table);
    }

    pub fn aliases(&self) -> Option<&'static AliasTable> {
        self.aliases
    }

    /// The value of a field, following the alias table when the name is not stored directly.
    #[inline]
    pub fn get(&self, id: FieldId) -> Option<&Value> {
        if let Some(v) = self.get_stored(id) {
            return Some(v);
        }
        let target = self.aliases?.target(id)?;
        self.get_stored(target)
    }

    #[inline]
    fn get_stored(&self, id: FieldId) -> Option<&Value> {
        if self.present & id.bit() == 0 {
            return None;
        }
        self.fields.iter().find(|(k, _)| *k == id).map(|(_, v)| v)
    }

    /// The value of a field by name; no allocation. `None` if no event ever used the name.
    pub fn get_by_name(&self, name: &str) -> Option<&Value> {
        self.get(FieldId::lookup(name)?)
    }

    /// The host the event is about: ECS `host.name`, Windows' `Computer`, or `host.hostname`.
    pub fn host(&self) -> Option<&Value> {
        HOST_FIELDS.iter().find_map(|n| self.get_by_name(n))
    }

    /// The string value of a field, if it is a string.
    pub fn get_str(&self, id: FieldId) -> Option<&str> {
        self.get(id).and_then(Value::as_str)
    }

    /// Adds a field. A repeated key turns the value into a list rather than losing data.
    pub fn insert(&mut self, id: FieldId, value: Value) -> Result<(), FieldError> {
        if self.present & id.bit() != 0
            && let Some((_, existing)) = self.fields.iter_mut().find(|(k, _)| *k == id)
        {
            existing.push(value);
            return Ok(());
        }
        if self.fields.len() >= MAX_FIELDS_PER_EVENT {
            return Err(FieldError::TooMany);
        }
        self.present |= id.bit();
        self.fields.push((id, value));
        Ok(())
    }

    /// Adds a field by name (interning it).
    pub fn insert_named(&mut self, name: &str, value: Value) -> Result<(), FieldError> {
        let id = FieldId::intern(name)?;
        self.insert(id, value)
    }

    /// Replaces a field's value, adding the field if absent.
    pub fn set(&mut self, id: FieldId, value: Value) -> Result<(), FieldError> {
        if self.present & id.bit() != 0
            && let Some((_, existing)) = self.fields.iter_mut().find(|(k, _)| *k == id)
        {
            *existing = value;
            return Ok(());
        }
        self.insert(id, value)
    }

    /// Stored fields in insertion order (aliases not included).
    pub fn fields(&self) -> impl ExactSizeIterator<Item = (FieldId, &Value)> {
        self.fields.iter().map(|(k, v)| (*k, v))
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The stored fields as a flat JSON object (`{"EventID": 4688, "source.ip": "…"}`).
    pub fn fields_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::with_capacity(self.fields.len());
        for (k, v) in &self.fields {
            map.insert(
                k.as_str().to_owned(),
                serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
            );
        }
        serde_json::Value::Object(map)
    }

    /// Approximate heap bytes held by this event, for memory accounting.
    pub fn approx_size(&self) -> usize {
        fn value_size(v: &Value) -> usize {
            match v {
                Value::Str(s) if s.is_heap_allocated() => s.len(),
                Value::Array(items) => {
                    items.iter().map(value_size).sum::<usize>() + 32 * items.len()
                }
                _ => 0,
            }
        }
        std::mem::size_of::<Self>()
            + self.fields.capacity() * std::mem::size_of::<(FieldId, Value)>()
            + self
                .fields
                .iter()
                .map(|(_, v)| value_size(v))
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn table() -> &'static AliasTable {
        static T: OnceLock<AliasTable> = OnceLock::new();
        T.get_or_init(|| AliasTable::new(&[("host.name", "Computer")]))
    }

    #[test]
    fn lookups_follow_aliases() {
        let mut e = Event::new(Origin::default(), "test");
        e.insert_named("Computer", "WS01".into()).unwrap();
        e.set_aliases(table());
        assert_eq!(
            e.get_by_name("Computer").and_then(Value::as_str),
            Some("WS01")
        );
        assert_eq!(
            e.get_by_name("host.name").and_then(Value::as_str),
            Some("WS01")
        );
        assert!(e.get_by_name("never.seen.field.name").is_none());
    }

    #[test]
    fn repeated_keys_become_lists() {
        let mut e = Event::new(Origin::default(), "test");
        let id = FieldId::intern("Data").unwrap();
        e.insert(id, "a".into()).unwrap();
        e.insert(id, "b".into()).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e.get(id).unwrap().to_string(), "[a, b]");
    }

    #[test]
    fn field_count_is_bounded() {
        let mut e = Event::new(Origin::default(), "test");
        for i in 0..MAX_FIELDS_PER_EVENT {
            e.insert_named(&format!("f{i}"), Value::Int(i as i64))
                .unwrap();
        }
        assert_eq!(
            e.insert_named("one.too.many", Value::Null),
            Err(FieldError::TooMany)
        );
    }
}

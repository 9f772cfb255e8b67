//! Zeek's ASCII (TSV) writer format: `#` directives describe the columns, then one record per
//! line with typed values.

use compact_str::CompactString;
use palisade_event::{Event, FieldId, Value};

use crate::line::ParseError;

/// The scalar types of Zeek's `#types` line, as Palisade stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scalar {
    /// `time`: epoch seconds as a float.
    Time,
    /// `count`, `int`, `port`.
    Int,
    /// `interval`, `double`.
    Float,
    Bool,
    /// `string`, `addr`, `subnet`, `enum`, `pattern` and anything unknown.
    Text,
}

/// One column: its name, scalar type and whether it is a `set[…]`/`vector[…]`.
#[derive(Debug, Clone, Copy)]
struct Column {
    id: FieldId,
    scalar: Scalar,
    container: bool,
}

impl Column {
    fn typed(id: FieldId, ty: &str) -> Column {
        let (inner, container) = match ty
            .strip_prefix("set[")
            .or_else(|| ty.strip_prefix("vector["))
            .and_then(|t| t.strip_suffix(']'))
        {
            Some(inner) => (inner, true),
            None => (ty, false),
        };
        let scalar = match inner {
            "time" => Scalar::Time,
            "count" | "int" | "port" => Scalar::Int,
            "interval" | "double" => Scalar::Float,
            "bool" => Scalar::Bool,
            _ => Scalar::Text,
        };
        Column {
            id,
            scalar,
            container,
        }
    }
}

/// The state a TSV log's header establishes.
#[derive(Debug, Clone)]
pub(super) struct TsvHeader {
    separator: CompactString,
    set_separator: CompactString,
    empty: CompactString,
    unset: CompactString,
    pub path: Option<CompactString>,
    names: Vec<FieldId>,
    types: Vec<CompactString>,
    columns: Vec<Column>,
    ts: FieldId,
}

impl Default for TsvHeader {
    fn default() -> Self {
        TsvHeader {
            separator: CompactString::const_new("\t"),
            set_separator: CompactString::const_new(","),
            empty: CompactString::const_new("(empty)"),
            unset: CompactString::const_new("-"),
            path: None,
            names: Vec::new(),
            types: Vec::new(),
            columns: Vec::new(),
            ts: FieldId::known("ts"),
        }
    }
}

/// Most columns accepted in a `#fields` line.
const MAX_COLUMNS: usize = 2048;

impl TsvHeader {
    /// Applies one `#` line. Unknown directives (`#open`, `#close`, comments) are ignored.
    pub fn directive(&mut self, line: &str) -> Result<(), ParseError> {
        if let Some(value) = line.strip_prefix("#separator") {
            // A new header block starts; everything before it is forgotten.
            *self = TsvHeader::default();
            self.separator = unescape_hex(value.trim_start_matches([' ', '\t']));
            if self.separator.is_empty() {
                return Err(ParseError::new("empty #separator"));
            }
            return Ok(());
        }
        let body = &line[1..];
        let (name, value) = body
            .split_once(self.separator.as_str())
            .unwrap_or((body, ""));
        match name {
            "set_separator" => self.set_separator = CompactString::new(value),
            "empty_field" => self.empty = CompactString::new(value),
            "unset_field" => self.unset = CompactString::new(value),
            "path" => self.path = Some(CompactString::new(value)),
            "fields" => self.set_fields(value)?,
            "types" => {
                self.types = value
                    .split(self.separator.as_str())
                    .map(CompactString::new)
                    .collect();
                self.build_columns();
            }
            _ => {}
        }
        Ok(())
    }

    fn set_fields(&mut self, value: &str) -> Result<(), ParseError> {
        let mut names = Vec::new();
        for name in value.split(self.separator.as_str()) {
            if names.len() >= MAX_COLUMNS {
                return Err(ParseError::new(format!("more than {MAX_COLUMNS} #fields")));
            }
            let id = FieldId::intern(name).map_err(|e| ParseError::new(format!("#fields: {e}")))?;
            names.push(id);
        }
        self.names = names;
        self.build_columns();
        Ok(())
    }

    /// Pairs names with types; without a `#types` line every column but `ts` is text.
    fn build_columns(&mut self) {
        self.columns = self
            .names
            .iter()
            .enumerate()
            .map(|(i, &id)| match self.types.get(i) {
                Some(ty) if self.types.len() == self.names.len() => Column::typed(id, ty),
                _ if id == self.ts => Column::typed(id, "time"),
                _ => Column::typed(id, "string"),
            })
            .collect();
    }

    /// The names of the columns, for inferring the log type.
    pub fn has_field(&self, name: &str) -> bool {
        FieldId::lookup(name).is_some_and(|id| self.names.contains(&id))
    }

    pub fn has_fields(&self) -> bool {
        !self.names.is_empty()
    }

    /// Adds the values of one record line to `event`.
    pub fn record(&self, line: &str, event: &mut Event) -> Result<(), ParseError> {
        if !self.types.is_empty() && self.types.len() != self.names.len() {
            return Err(ParseError::new(format!(
                "#types lists {} types for {} #fields",
                self.types.len(),
                self.names.len()
            )));
        }
        // A one-byte separator (Zeek's tab) is found in one vectorised pass over the line;
        // a longer one needs the substring searcher. An ASCII separator only splits at
        // character boundaries.
        let sep = self.separator.as_str();
        match sep.as_bytes() {
            &[b] if b.is_ascii() => {
                let mut start = 0;
                let cuts = memchr::memchr_iter(b, line.as_bytes()).chain([line.len()]);
                let parts = cuts.map(|end| {
                    let part = line.get(start..end).unwrap_or_default();
                    start = end + 1;
                    part
                });
                self.fields(parts, event)
            }
            _ => self.fields(line.split(sep), event),
        }
    }

    /// The record's `parts` (the line split at the separator) into `event`.
    fn fields<'l>(
        &self,
        mut parts: impl Iterator<Item = &'l str>,
        event: &mut Event,
    ) -> Result<(), ParseError> {
        for (i, col) in self.columns.iter().enumerate() {
            let Some(raw) = parts.next() else {
                return Err(self.count_error(i));
            };
            if raw == self.unset {
                continue;
            }
            let value = self.value(col, raw)?;
            if col.id == self.ts
                && let Some(ts) = super::timestamp(&value)
            {
                event.timestamp = Some(ts);
            }
            event.insert(col.id, value)?;
        }
        match parts.count() {
            0 => Ok(()),
            extra => Err(self.count_error(self.columns.len() + extra)),
        }
    }

    fn count_error(&self, found: usize) -> ParseError {
        ParseError::new(format!(
            "expected {} fields (per #fields), found {found}",
            self.columns.len()
        ))
    }

    fn value(&self, col: &Column, raw: &str) -> Result<Value, ParseError> {
        if !col.container {
            if raw == self.empty && col.scalar == Scalar::Text {
                return Ok(Value::from(""));
            }
            return scalar(col, raw);
        }
        if raw == self.empty {
            return Ok(Value::Array(Vec::new()));
        }
        raw.split(self.set_separator.as_str())
            .map(|item| {
                if item == self.unset {
                    Ok(Value::Null)
                } else {
                    scalar(col, item)
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    }
}

fn scalar(col: &Column, raw: &str) -> Result<Value, ParseError> {
    let bad = |what: &str| {
        ParseError::new(format!(
            "field {}: expected {what}, found {:?}",
            col.id,
            preview(raw)
        ))
    };
    Ok(match col.scalar {
        Scalar::Text => Value::from(raw),
        Scalar::Int => match raw.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(raw.parse::<u64>().map_err(|_| bad("an integer"))? as f64),
        },
        Scalar::Float => Value::Float(parse_float(raw).ok_or_else(|| bad("a number"))?),
        Scalar::Time => match parse_float(raw) {
            Some(f) => Value::Float(f),
            // Some exporters write ISO 8601 times; keep them as text (still dated).
            None if super::parse_iso(raw).is_some() => Value::from(raw),
            None => return Err(bad("a time")),
        },
        Scalar::Bool => match raw {
            "T" | "true" => Value::Bool(true),
            "F" | "false" => Value::Bool(false),
            _ => return Err(bad("T or F")),
        },
    })
}

/// A finite decimal number (Zeek never writes `inf`/`nan` words).
fn parse_float(raw: &str) -> Option<f64> {
    let first = *raw.as_bytes().first()?;
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return None;
    }
    raw.parse::<f64>().ok()
}

fn preview(s: &str) -> &str {
    let mut end = s.len().min(40);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `\x09` → tab, as in the `#separator` line.
fn unescape_hex(s: &str) -> CompactString {
    let mut out = CompactString::default();
    let mut rest = s;
    while !rest.is_empty() {
        let byte = rest
            .strip_prefix("\\x")
            .and_then(|h| h.get(..2))
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .filter(u8::is_ascii);
        match byte {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[4..];
            }
            None => {
                let Some(c) = rest.chars().next() else { break };
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_escapes() {
        assert_eq!(unescape_hex("\\x09"), "\t");
        assert_eq!(unescape_hex("\\x2c|"), ",|");
        assert_eq!(unescape_hex("\\xZZ"), "\\xZZ");
        assert_eq!(unescape_hex("\\x"), "\\x");
        assert_eq!(unescape_hex("é\\x"), "é\\x");
    }

    #[test]
    fn types() {
        let id = FieldId::known("x");
        assert_eq!(Column::typed(id, "set[addr]").scalar, Scalar::Text);
        assert!(Column::typed(id, "vector[interval]").container);
        assert_eq!(Column::typed(id, "port").scalar, Scalar::Int);
        let c = Column::typed(id, "count");
        assert_eq!(
            scalar(&c, "18446744073709551615").unwrap(),
            Value::Float(1.8446744073709552e19)
        );
        assert!(
            scalar(&c, "x")
                .unwrap_err()
                .0
                .contains("field x: expected an integer")
        );
        assert!(scalar(&Column::typed(id, "double"), "inf").is_err());
        assert!(scalar(&Column::typed(id, "bool"), "Y").is_err());
    }
}

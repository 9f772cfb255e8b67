//! Field values.

use std::fmt;

use compact_str::CompactString;
use serde::ser::{Serialize, SerializeSeq, Serializer};

/// One field's value. Nested objects do not appear here: parsers flatten them into dotted
/// field names (`process.parent.name`), so every value is a scalar or a list of them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Short strings (≤ 24 bytes) live inline without a heap allocation.
    Str(CompactString),
    Array(Vec<Value>),
}

impl Value {
    /// The string, when this value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The integer value: an `Int`, or a `Str`/`Float` that holds an exact integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The numeric value of an `Int`, `Float`, or a `Str` that parses as a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => s.trim().parse().ok(),
            Value::Bool(_) | Value::Null | Value::Array(_) => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Calls `f` with the text of each scalar in this value (each element of an array), using
    /// `buf` for numbers so no allocation happens once `buf` has grown. Null yields nothing.
    pub fn for_each_text<'a>(&'a self, buf: &mut String, f: &mut dyn FnMut(&str) -> bool) -> bool {
        use std::fmt::Write;
        match self {
            Value::Null => false,
            Value::Str(s) => f(s),
            Value::Bool(b) => f(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                buf.clear();
                let _ = write!(buf, "{i}");
                f(buf)
            }
            Value::Float(x) => {
                buf.clear();
                let _ = write!(buf, "{x}");
                f(buf)
            }
            Value::Array(items) => items.iter().any(|v| v.for_each_text(buf, f)),
        }
    }

    /// Appends `other` to this value, turning it into an array if it was a scalar. Used when a
    /// record repeats a key.
    pub fn push(&mut self, other: Value) {
        match self {
            Value::Array(items) => items.push(other),
            _ => {
                let first = std::mem::replace(self, Value::Null);
                *self = Value::Array(vec![first, other]);
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(CompactString::new(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(CompactString::from(s))
    }
}

impl From<CompactString> for Value {
    fn from(s: CompactString) -> Self {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<u16> for Value {
    fn from(i: u16) -> Self {
        Value::Int(i64::from(i))
    }
}

impl From<u32> for Value {
    fn from(i: u32) -> Self {
        Value::Int(i64::from(i))
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => f.write_str(s),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(x) => s.serialize_f64(*x),
            Value::Str(v) => s.serialize_str(v),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_render_as_text_without_allocating_each_time() {
        let mut buf = String::new();
        let mut seen = Vec::new();
        Value::Array(vec![Value::Int(4688), "x".into(), Value::Null]).for_each_text(
            &mut buf,
            &mut |t| {
                seen.push(t.to_string());
                false
            },
        );
        assert_eq!(seen, ["4688", "x"]);
    }

    #[test]
    fn push_makes_arrays() {
        let mut v = Value::from("a");
        v.push("b".into());
        v.push("c".into());
        assert_eq!(v.to_string(), "[a, b, c]");
    }

    #[test]
    fn numeric_views() {
        assert_eq!(Value::from(" 42 ").as_i64(), Some(42));
        assert_eq!(Value::Float(3.0).as_i64(), Some(3));
        assert_eq!(Value::Float(3.5).as_i64(), None);
        assert_eq!(Value::from("1.5").as_f64(), Some(1.5));
    }
}

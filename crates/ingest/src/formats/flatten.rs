//! Streaming JSON flattening: walks a JSON document once and hands every leaf to a sink under
//! its dotted path (`{"process":{"pid":4}}` → `process.pid = 4`), without building an
//! intermediate `serde_json::Value` tree. Arrays of scalars become one list value; arrays of
//! objects flatten each element under the same path, so repeated leaves become lists.
//!
//! Nesting depth is bounded by serde_json's recursion limit (128), so hostile documents fail
//! with an error instead of exhausting the stack.

use std::borrow::Cow;
use std::fmt;

use compact_str::CompactString;
use palisade_event::Value;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Receives flattened leaves.
pub trait FlatSink {
    /// One leaf value at its dotted `path`. An `Err` aborts the document.
    fn leaf(&mut self, path: &str, value: Value) -> Result<(), String>;
}

/// Flattens one JSON document from `bytes` into `sink`.
pub fn flatten_slice(bytes: &[u8], sink: &mut dyn FlatSink) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut path = String::with_capacity(64);
    Node {
        path: &mut path,
        sink,
    }
    .deserialize(&mut de)?;
    de.end()
}

struct Node<'p, 's> {
    path: &'p mut String,
    sink: &'s mut dyn FlatSink,
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(NodeVisitor(self))
    }
}

struct NodeVisitor<'p, 's>(Node<'p, 's>);

impl NodeVisitor<'_, '_> {
    fn emit<E: de::Error>(self, v: Value) -> Result<(), E> {
        let Node { path, sink } = self.0;
        sink.leaf(path, v).map_err(E::custom)
    }
}

impl<'de> Visitor<'de> for NodeVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.emit(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.emit(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.emit(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.emit(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.emit(Value::Str(CompactString::new(v)))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.emit(Value::Str(CompactString::from(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.emit(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.emit(Value::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Node { path, sink } = self.0;
        let base = path.len();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if base > 0 {
                path.push('.');
            }
            path.push_str(&key);
            let res = map.next_value_seed(Node {
                path: &mut *path,
                sink: &mut *sink,
            });
            path.truncate(base);
            res?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Node { path, sink } = self.0;
        let mut scalars = Vec::new();
        while let Some(item) = seq.next_element_seed(Element {
            path: &mut *path,
            sink: &mut *sink,
        })? {
            if let Some(v) = item {
                scalars.push(v);
            }
        }
        if scalars.is_empty() {
            return Ok(());
        }
        sink.leaf(path, Value::Array(scalars))
            .map_err(de::Error::custom)
    }
}

/// An array element: a scalar is returned to be collected into a list; an object or nested
/// array is flattened in place under the array's path.
struct Element<'p, 's> {
    path: &'p mut String,
    sink: &'s mut dyn FlatSink,
}

impl<'de> DeserializeSeed<'de> for Element<'_, '_> {
    type Value = Option<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Element<'_, '_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Value::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(
            i64::try_from(v).map_or(Value::Float(v as f64), Value::Int),
        ))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Value::Float(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Value::Str(CompactString::new(v))))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Value::Str(CompactString::from(v))))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        NodeVisitor(Node {
            path: self.path,
            sink: self.sink,
        })
        .visit_map(map)?;
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        NodeVisitor(Node {
            path: self.path,
            sink: self.sink,
        })
        .visit_seq(seq)?;
        Ok(None)
    }
}

/// Object keys, borrowed from the input when they contain no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Vec<(String, String)>);
    impl FlatSink for Collect {
        fn leaf(&mut self, path: &str, value: Value) -> Result<(), String> {
            self.0.push((path.to_owned(), value.to_string()));
            Ok(())
        }
    }

    fn flat(json: &str) -> Vec<(String, String)> {
        let mut c = Collect(Vec::new());
        flatten_slice(json.as_bytes(), &mut c).unwrap();
        c.0
    }

    #[test]
    fn nested_objects_become_dotted_paths() {
        let got = flat(r#"{"process":{"pid":4,"parent":{"name":"a\"b"}},"ok":true,"n":null}"#);
        assert_eq!(
            got,
            [
                ("process.pid".into(), "4".into()),
                ("process.parent.name".into(), "a\"b".into()),
                ("ok".into(), "true".into()),
                ("n".into(), "null".into()),
            ]
        );
    }

    #[test]
    fn arrays_of_scalars_and_objects() {
        let got = flat(r#"{"tags":["a","b"],"hits":[{"ip":"1.1.1.1"},{"ip":"2.2.2.2"}]}"#);
        assert_eq!(got[0], ("tags".into(), "[a, b]".into()));
        assert_eq!(got[1], ("hits.ip".into(), "1.1.1.1".into()));
        assert_eq!(got[2], ("hits.ip".into(), "2.2.2.2".into()));
    }

    #[test]
    fn escaped_keys_work() {
        assert_eq!(flat(r#"{"a\u0062":1}"#), [("ab".into(), "1".into())]);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        let mut c = Collect(Vec::new());
        assert!(flatten_slice(deep.as_bytes(), &mut c).is_err());
        let deep = r#"{"a":"#.repeat(10_000) + "1" + &"}".repeat(10_000);
        assert!(flatten_slice(deep.as_bytes(), &mut c).is_err());
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let mut c = Collect(Vec::new());
        assert!(flatten_slice(br#"{"a":1} x"#, &mut c).is_err());
    }
}

//! Streaming JSON flattening: walks a JSON document once and hands every leaf to a sink under
//! its dotted path (`{"process":{"pid":4}}` → `process.pid = 4`), without building an
//! intermediate tree. Arrays of scalars become one list value; arrays of objects flatten each
//! element under the same path, so repeated leaves become lists.
//!
//! A small hand-written parser rather than serde: this runs once per EVTX record and per JSON
//! line, and a direct byte scanner that borrows keys and unescaped strings from the input is
//! several times cheaper than a generic deserializer driving a visitor. It accepts exactly JSON
//! (RFC 8259) except that it does not reject control characters inside strings; nesting deeper
//! than [`MAX_DEPTH`] is an error, so hostile documents cannot exhaust the stack.

use std::borrow::Cow;
use std::fmt;

use compact_str::CompactString;
use palisade_event::Value;

/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 128;

/// Receives flattened leaves.
pub trait FlatSink {
    /// One leaf value at its dotted `path`. An `Err` aborts the document.
    fn leaf(&mut self, path: &str, value: Value) -> Result<(), String>;
}

/// Why a document could not be flattened, with the byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlattenError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for FlattenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for FlattenError {}

/// Flattens one JSON document from `bytes` into `sink`.
pub fn flatten_slice(bytes: &[u8], sink: &mut dyn FlatSink) -> Result<(), FlattenError> {
    let text = std::str::from_utf8(bytes).map_err(|e| FlattenError {
        offset: e.valid_up_to(),
        message: "not valid UTF-8".into(),
    })?;
    flatten_str(text, sink)
}

/// Flattens one JSON document into `sink`. Working on `&str` means string values are sliced
/// out without validating their UTF-8 again.
pub fn flatten_str(text: &str, sink: &mut dyn FlatSink) -> Result<(), FlattenError> {
    let mut p = Parser {
        s: text,
        b: text.as_bytes(),
        i: 0,
        path: String::with_capacity(64),
        sink,
    };
    p.ws();
    p.value(0)?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err("trailing characters after the JSON value"));
    }
    Ok(())
}

struct Parser<'a, 's> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    path: String,
    sink: &'s mut dyn FlatSink,
}

impl<'a> Parser<'a, '_> {
    fn err(&self, message: impl Into<String>) -> FlattenError {
        FlattenError {
            offset: self.i,
            message: message.into(),
        }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), FlattenError> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(format!("expected `{}`", c as char)))
        }
    }

    fn emit(&mut self, v: Value) -> Result<(), FlattenError> {
        let at = self.i;
        self.sink
            .leaf(&self.path, v)
            .map_err(|message| FlattenError {
                offset: at,
                message,
            })
    }

    /// A value at the current path: scalars are emitted, containers descend.
    fn value(&mut self, depth: usize) -> Result<(), FlattenError> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            _ => {
                let v = self.scalar()?;
                self.emit(v)
            }
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), FlattenError> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<(), FlattenError> {
        self.check_depth(depth)?;
        self.i += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        let base = self.path.len();
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected an object key"));
            }
            let key = self.string()?;
            if base > 0 {
                self.path.push('.');
            }
            self.path.push_str(&key);
            self.ws();
            self.expect(b':')?;
            self.ws();
            let res = self.value(depth);
            self.path.truncate(base);
            res?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected `,` or `}`")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), FlattenError> {
        self.check_depth(depth)?;
        self.i += 1;
        self.ws();
        let mut scalars = Vec::new();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            match self.peek() {
                Some(b'{') => self.object(depth + 1)?,
                Some(b'[') => self.array(depth + 1)?,
                _ => scalars.push(self.scalar()?),
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    break;
                }
                _ => return Err(self.err("expected `,` or `]`")),
            }
        }
        if scalars.is_empty() {
            return Ok(());
        }
        self.emit(Value::Array(scalars))
    }

    fn scalar(&mut self) -> Result<Value, FlattenError> {
        match self.peek() {
            Some(b'"') => Ok(Value::Str(CompactString::from(self.string()?))),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("expected a JSON value")),
            None => Err(self.err("unexpected end of input")),
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, FlattenError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn number(&mut self) -> Result<Value, FlattenError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        if self.i == digits {
            return Err(self.err("expected digits"));
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            float = true;
            self.i += 1;
            let frac = self.i;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
            if self.i == frac {
                return Err(self.err("expected digits after the decimal point"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            float = true;
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            let exp = self.i;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
            if self.i == exp {
                return Err(self.err("expected exponent digits"));
            }
        }
        // The slice is ASCII digits, signs and dots, so these are char boundaries.
        let text = &self.s[start..self.i];
        if !float && let Ok(i) = text.parse::<i64>() {
            return Ok(Value::Int(i));
        }
        text.parse::<f64>()
            .map(Value::Float)
            .map_err(|_| self.err("bad number"))
    }

    /// A string at the current `"`; borrowed from the input unless it has escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, FlattenError> {
        self.i += 1;
        let start = self.i;
        let rest = &self.b[start..];
        match memchr::memchr2(b'"', b'\\', rest) {
            Some(n) if rest[n] == b'"' => {
                self.i = start + n + 1;
                // Quotes are ASCII, so both ends are char boundaries of the valid input.
                Ok(Cow::Borrowed(&self.s[start..start + n]))
            }
            Some(_) => self.escaped_string(start).map(Cow::Owned),
            None => Err(self.err("unterminated string")),
        }
    }

    fn escaped_string(&mut self, start: usize) -> Result<String, FlattenError> {
        let mut out = String::with_capacity(32);
        self.i = start;
        loop {
            let rest = &self.b[self.i..];
            let Some(n) = memchr::memchr2(b'"', b'\\', rest) else {
                return Err(self.err("unterminated string"));
            };
            out.push_str(&self.s[self.i..self.i + n]);
            self.i += n;
            if self.b[self.i] == b'"' {
                self.i += 1;
                return Ok(out);
            }
            self.i += 1;
            let esc = self.peek().ok_or_else(|| self.err("unterminated escape"))?;
            self.i += 1;
            let c = match esc {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => self.unicode_escape()?,
                _ => return Err(self.err("invalid escape")),
            };
            out.push(c);
        }
    }

    fn hex4(&mut self) -> Result<u32, FlattenError> {
        let text = self
            .s
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("bad \\u escape"))?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.err("bad \\u escape"));
        }
        let v = u32::from_str_radix(text, 16).map_err(|_| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(v)
    }

    /// `\uXXXX`, joining surrogate pairs; a lone surrogate becomes U+FFFD.
    fn unicode_escape(&mut self) -> Result<char, FlattenError> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.b[self.i..].starts_with(b"\\u") {
            let save = self.i;
            self.i += 2;
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or('\u{fffd}'));
            }
            self.i = save;
        }
        Ok(char::from_u32(hi).unwrap_or('\u{fffd}'))
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
    fn escapes_and_numbers() {
        let got = flat(
            r#"{"s":"a\\b\"c\u00e9\ud83d\ude00\n","n":-1.5e2,"i":9223372036854775807,"big":18446744073709551615}"#,
        );
        assert_eq!(got[0].1, "a\\b\"cé😀\n");
        assert_eq!(got[1].1, "-150");
        assert_eq!(got[2].1, "9223372036854775807");
        assert_eq!(got[3].1, "18446744073709552000");
    }

    #[test]
    fn malformed_documents_are_errors() {
        for bad in [
            "",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "[1,]",
            "{\"a\":tru}",
            "\"abc",
            "{\"a\":\"\\x\"}",
            "{\"a\":01x}",
            "{\"a\":-}",
            "{\"a\":1.}",
            "{\"a\":1e}",
            "{1:2}",
        ] {
            let mut c = Collect(Vec::new());
            assert!(
                flatten_slice(bad.as_bytes(), &mut c).is_err(),
                "{bad:?} should fail"
            );
        }
    }

    proptest::proptest! {
        /// Agrees with serde_json on any valid document serde_json produces.
        #[test]
        fn agrees_with_serde_json(v in json_value(3)) {
            let text = serde_json::to_string(&v).unwrap();
            let mut c = Collect(Vec::new());
            flatten_slice(text.as_bytes(), &mut c).unwrap();
            let mut expected = Vec::new();
            reference(&v, &mut String::new(), &mut expected);
            proptest::prop_assert_eq!(c.0, expected);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let mut c = Collect(Vec::new());
            let _ = flatten_slice(&bytes, &mut c);
        }
    }

    fn json_value(depth: u32) -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|i| serde_json::json!(i)),
            "[ -~é\\n\"\\\\]{0,8}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(depth, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// The flattening rules applied to a serde_json tree, as the reference.
    fn reference(v: &serde_json::Value, path: &mut String, out: &mut Vec<(String, String)>) {
        use serde_json::Value as J;
        let scalar = |v: &J| match v {
            J::Null => "null".to_string(),
            J::Bool(b) => b.to_string(),
            J::Number(n) => n.to_string(),
            J::String(s) => s.clone(),
            _ => unreachable!(),
        };
        match v {
            J::Object(m) => {
                for (k, child) in m {
                    let base = path.len();
                    if base > 0 {
                        path.push('.');
                    }
                    path.push_str(k);
                    reference(child, path, out);
                    path.truncate(base);
                }
            }
            J::Array(items) => {
                let mut scalars = Vec::new();
                for i in items {
                    match i {
                        J::Object(_) | J::Array(_) => reference(i, path, out),
                        s => scalars.push(scalar(s)),
                    }
                }
                if !scalars.is_empty() {
                    out.push((path.clone(), format!("[{}]", scalars.join(", "))));
                }
            }
            s => out.push((path.clone(), scalar(s))),
        }
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let mut c = Collect(Vec::new());
        assert!(flatten_slice(br#"{"a":1} x"#, &mut c).is_err());
    }
}

//! RFC 5424 STRUCTURED-DATA: `[id name="value" …][id2 …]`, values escaping `"`, `\` and `]`
//! with a backslash.

use std::borrow::Cow;

use crate::line::ParseError;

/// One `name="value"` parameter of an SD element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SdParam<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub value: Cow<'a, str>,
}

/// Most parameters kept from one line; more is hostile.
const MAX_PARAMS: usize = 512;

/// Parses the SD elements at the start of `s` into `out`, returning the byte length consumed.
pub(crate) fn parse<'a>(s: &'a str, out: &mut Vec<SdParam<'a>>) -> Result<usize, ParseError> {
    let b = s.as_bytes();
    let mut pos = 0;
    while b.get(pos) == Some(&b'[') {
        pos = element(s, pos + 1, out)?;
    }
    Ok(pos)
}

/// One element from just after its `[`; returns the position after its `]`.
fn element<'a>(s: &'a str, start: usize, out: &mut Vec<SdParam<'a>>) -> Result<usize, ParseError> {
    let b = s.as_bytes();
    let id_len = b[start..]
        .iter()
        .position(|c| matches!(c, b' ' | b']' | b'=' | b'"'))
        .ok_or_else(|| ParseError::new("unterminated RFC 5424 SD element"))?;
    if id_len == 0 {
        return Err(ParseError::new("RFC 5424 SD element without an SD-ID"));
    }
    let id = &s[start..start + id_len];
    let mut pos = start + id_len;
    loop {
        match b.get(pos) {
            Some(b']') => return Ok(pos + 1),
            Some(b' ') => pos += 1,
            _ => {
                return Err(ParseError::new(format!(
                    "malformed RFC 5424 SD element [{id}"
                )));
            }
        }
        let (param, next) = param(s, id, pos)?;
        if out.len() >= MAX_PARAMS {
            return Err(ParseError::new("too many RFC 5424 SD parameters"));
        }
        out.push(param);
        pos = next;
    }
}

/// `name="value"` at `pos`; returns it and the position after the closing quote.
fn param<'a>(s: &'a str, id: &'a str, pos: usize) -> Result<(SdParam<'a>, usize), ParseError> {
    let b = s.as_bytes();
    let bad = || ParseError::new(format!("malformed parameter in RFC 5424 SD element [{id}"));
    let name_len = b[pos..].iter().position(|c| *c == b'=').ok_or_else(bad)?;
    let name = &s[pos..pos + name_len];
    if name.is_empty() || name.bytes().any(|c| matches!(c, b' ' | b']' | b'"')) {
        return Err(bad());
    }
    let vstart = pos + name_len + 1;
    if b.get(vstart) != Some(&b'"') {
        return Err(bad());
    }
    let mut i = vstart + 1;
    let mut escaped = false;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                escaped = true;
                i += 2;
            }
            b'"' => {
                let raw = &s[vstart + 1..i];
                let value = if escaped {
                    unescape(raw)
                } else {
                    Cow::Borrowed(raw)
                };
                return Ok((SdParam { id, name, value }, i + 1));
            }
            _ => i += 1,
        }
    }
    Err(ParseError::new(format!(
        "unterminated value of {name} in RFC 5424 SD element [{id}"
    )))
}

/// Removes the backslash before `"`, `\` and `]`; other backslashes stay (RFC 5424 §6.3.3).
fn unescape(raw: &str) -> Cow<'_, str> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(n @ ('"' | '\\' | ']')) => out.push(n),
            Some(n) => {
                out.push('\\');
                out.push(n);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// Renders a value with RFC 5424 escapes (for tests and round trips).
#[cfg(test)]
pub(crate) fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type Params = Vec<(String, String, String)>;

    fn all(s: &str) -> Result<(Params, usize), ParseError> {
        let mut out = Vec::new();
        let n = parse(s, &mut out)?;
        let v = out
            .into_iter()
            .map(|p| (p.id.to_owned(), p.name.to_owned(), p.value.into_owned()))
            .collect();
        Ok((v, n))
    }

    #[test]
    fn elements_and_escapes() {
        let line = r#"[a x="1" y="q\"\]\\z"][b@1 k="\n"] rest"#;
        let (v, n) = all(line).unwrap();
        assert_eq!(
            v,
            [
                ("a".into(), "x".into(), "1".into()),
                ("a".into(), "y".into(), "q\"]\\z".into()),
                ("b@1".into(), "k".into(), "\\n".into()),
            ]
        );
        assert_eq!(&line[n..], " rest");
        assert_eq!(all("[empty]").unwrap().0, []);
    }

    #[test]
    fn malformed() {
        for s in [
            "[",
            "[]",
            "[a",
            "[a x]",
            "[a x=1]",
            r#"[a x="1"#,
            r#"[a x="1\"]"#,
            "[a  x=\"\"]",
        ] {
            assert!(all(s).is_err(), "{s}");
        }
    }

    #[test]
    fn escape_round_trips() {
        let v = r#"a"b]c\d"#;
        let s = format!("[id k=\"{}\"]", escape(v));
        assert_eq!(all(&s).unwrap().0[0].2, v);
    }
}

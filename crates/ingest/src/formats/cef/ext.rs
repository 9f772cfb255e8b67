//! The pipe-delimited headers and `key=value` extensions of CEF and LEEF.

use std::borrow::Cow;

use crate::line::ParseError;

/// Most extension pairs kept from one record.
const MAX_PAIRS: usize = 1024;

/// Splits `count` `|`-delimited header fields off `s` (honouring `\|` and `\\`), returning
/// them unescaped and the text after the last delimiter.
pub(super) fn header_fields(
    s: &str,
    count: usize,
) -> Result<(Vec<Cow<'_, str>>, &str), ParseError> {
    let b = s.as_bytes();
    let mut fields = Vec::with_capacity(count);
    let (mut start, mut i, mut escaped) = (0, 0, false);
    while fields.len() < count {
        match b.get(i) {
            None => {
                return Err(ParseError::new(format!(
                    "header ends after {} of its {count} |-separated fields",
                    fields.len()
                )));
            }
            Some(b'\\') => {
                escaped = true;
                i += 2;
            }
            Some(b'|') => {
                let raw = &s[start..i];
                fields.push(if escaped {
                    unescape_header(raw)
                } else {
                    Cow::Borrowed(raw)
                });
                escaped = false;
                i += 1;
                start = i;
            }
            Some(_) => i += 1,
        }
    }
    Ok((fields, &s[start..]))
}

fn unescape_header(raw: &str) -> Cow<'_, str> {
    unescape(raw, |c| match c {
        '|' | '\\' => Some(c),
        _ => None,
    })
}

/// Replaces `\c` by `map(c)`; a backslash before anything else is kept.
fn unescape(raw: &str, map: impl Fn(char) -> Option<char>) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(n) => match map(n) {
                Some(m) => out.push(m),
                None => {
                    out.push('\\');
                    out.push(n);
                }
            },
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// CEF extension value escapes: `\=`, `\\`, `\n`, `\r` (and a stray `\|`).
pub(super) fn unescape_value(raw: &str) -> Cow<'_, str> {
    unescape(raw, |c| match c {
        '=' | '\\' | '|' => Some(c),
        'n' => Some('\n'),
        'r' => Some('\r'),
        _ => None,
    })
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'[' | b']')
}

/// Parses a CEF extension: `key=value` pairs separated by spaces, where a value runs until
/// the next ` key=` (an unescaped `=` preceded by a space and a key). Values keep inner
/// spaces; trailing spaces are dropped, since they cannot be told from separators.
pub(super) fn cef_extension(ext: &str) -> Result<Vec<(&str, Cow<'_, str>)>, ParseError> {
    let ext = ext.trim_matches(|c: char| c == ' ' || c == '\t');
    let keys = key_positions(ext);
    match keys.first() {
        None if ext.is_empty() => return Ok(Vec::new()),
        None => return Err(ParseError::new("extension holds no key=value pair")),
        Some(&(start, _)) if start != 0 => {
            return Err(ParseError::new(format!(
                "extension starts with text that is not a key=value pair: {:?}",
                preview(&ext[..start])
            )));
        }
        Some(_) => {}
    }
    if keys.len() > MAX_PAIRS {
        return Err(ParseError::new(format!(
            "more than {MAX_PAIRS} extension pairs"
        )));
    }
    let mut pairs = Vec::with_capacity(keys.len());
    for (n, &(key_start, eq)) in keys.iter().enumerate() {
        let value_end = keys.get(n + 1).map_or(ext.len(), |&(next, _)| next - 1);
        let key = &ext[key_start..eq];
        let value = ext
            .get(eq + 1..value_end)
            .unwrap_or("")
            .trim_end_matches(' ');
        pairs.push((key, unescape_value(value)));
    }
    Ok(pairs)
}

/// `(key start, '=' position)` of every key in `ext`.
fn key_positions(ext: &str) -> Vec<(usize, usize)> {
    let b = ext.as_bytes();
    let mut keys = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'=' => {
                let mut j = i;
                while j > 0 && is_key_byte(b[j - 1]) {
                    j -= 1;
                }
                if j < i && (j == 0 || b[j - 1] == b' ') {
                    keys.push((j, i));
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    keys
}

/// Parses a LEEF attribute list: `key=value` pairs separated by `delimiter`. A piece without
/// `=` belongs to the previous value (a delimiter that was part of it).
pub(super) fn leef_attributes<'a>(
    ext: &'a str,
    delimiter: &str,
) -> Result<Vec<(&'a str, Cow<'a, str>)>, ParseError> {
    let mut pairs: Vec<(&str, Cow<'_, str>)> = Vec::new();
    for piece in ext.split(delimiter) {
        if piece.trim().is_empty() {
            continue;
        }
        match piece.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                if pairs.len() >= MAX_PAIRS {
                    return Err(ParseError::new(format!("more than {MAX_PAIRS} attributes")));
                }
                pairs.push((key.trim(), Cow::Borrowed(value)));
            }
            _ => match pairs.last_mut() {
                Some((_, value)) => {
                    let v = value.to_mut();
                    v.push_str(delimiter);
                    v.push_str(piece);
                }
                None => {
                    return Err(ParseError::new(format!(
                        "attributes start with text that is not key=value: {:?}",
                        preview(piece)
                    )));
                }
            },
        }
    }
    Ok(pairs)
}

fn preview(s: &str) -> &str {
    let mut end = s.len().min(40);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Renders a CEF extension value with escapes (for tests and round trips).
#[cfg(test)]
pub(super) fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// Renders a CEF header field with escapes (for tests and round trips).
#[cfg(test)]
pub(super) fn escape_header(v: &str) -> String {
    v.replace('\\', "\\\\").replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(ext: &str) -> Vec<(String, String)> {
        cef_extension(ext)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_owned()))
            .collect()
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn header_splitting() {
        let (f, rest) = header_fields(r"0|Ven\|dor|Pro\\duct|1|2|n|3|ext a=b", 7).unwrap();
        assert_eq!(f, ["0", "Ven|dor", "Pro\\duct", "1", "2", "n", "3"]);
        assert_eq!(rest, "ext a=b");
        assert!(
            header_fields("0|a|b", 7)
                .unwrap_err()
                .0
                .contains("after 2 of its 7")
        );
        assert!(header_fields("0|a\\", 7).is_err());
    }

    #[test]
    fn values_with_spaces_and_escapes() {
        assert_eq!(
            pairs(r"src=10.0.0.1 msg=hello big world act=blocked a\=b request=http://x/?a=b&c=d"),
            [
                p("src", "10.0.0.1"),
                p("msg", "hello big world"),
                p("act", "blocked a=b"),
                p("request", "http://x/?a=b&c=d"),
            ]
        );
        assert_eq!(
            pairs(r"msg=line1\nline2\r\\ path=C:\\Windows cs1Label=x "),
            [
                p("msg", "line1\nline2\r\\"),
                p("path", "C:\\Windows"),
                p("cs1Label", "x")
            ]
        );
        assert_eq!(pairs("a= b=1"), [p("a", ""), p("b", "1")]);
        assert_eq!(pairs(""), Vec::<(String, String)>::new());
        assert_eq!(pairs("ad.key[0]=v"), [p("ad.key[0]", "v")]);
        assert!(cef_extension("just text").is_err());
        assert!(cef_extension("junk src=1").is_err());
    }

    #[test]
    fn leef_attributes_split_on_the_delimiter() {
        let got = leef_attributes("src=1.2.3.4\tdst=5.6.7.8\tmsg=a=b\tcont", "\t").unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[2], ("msg", Cow::Owned::<str>("a=b\tcont".into())));
        let got = leef_attributes("^src=1^^usrName=bob^", "^").unwrap();
        assert_eq!(
            got,
            [
                ("src", Cow::Borrowed("1")),
                ("usrName", Cow::Borrowed("bob"))
            ]
        );
        assert!(leef_attributes("oops\tsrc=1", "\t").is_err());
    }
}

//! STIX 2.1 bundles: `indicator` objects whose `stix` patterns are disjunctions of equality
//! comparisons on the observables Palisade matches.
//!
//! Supported object paths: `ipv4-addr:value`, `ipv6-addr:value` (an address or a CIDR, with `=`
//! or `ISSUBSET`), `domain-name:value`, `url:value`, `file:hashes.'SHA-256'` / `MD5` / `SHA-1`
//! (quoted or not); `IN ('a', 'b')` is read as several equalities. Comparisons and observation
//! expressions may be joined by `OR`. Patterns that need `AND` or `FOLLOWEDBY`, qualifiers
//! (`WITHIN`, `REPEATS`, `START … STOP`), negation, other operators (`LIKE`, `MATCHES`, `!=`, …)
//! or other observables cannot be expressed as a list of values: they are skipped, each with a
//! warning saying why, and counted.
//!
//! Honoured properties: `revoked` (skipped), `valid_from`, `valid_until` (already expired:
//! skipped), `confidence`, `name` and `description`, `labels` and `indicator_types`.

use serde_json::Value as Json;

use super::model::{self, IndicatorKind, TypeHint};
use super::{Collector, ImportError, ImportOptions, Imported, IntelFormat, parse_json};

/// Longest pattern parsed.
const MAX_PATTERN_LEN: usize = 256 * 1024;
/// Deepest parenthesis nesting in a pattern.
const MAX_DEPTH: usize = 64;

/// Reads a bundle (`{"type": "bundle", "objects": […]}`), a single object, or a JSON list of
/// objects.
pub fn import(bytes: &[u8], file: &str, opts: &ImportOptions) -> Result<Imported, ImportError> {
    let doc = parse_json(bytes, file)?;
    let err = |message: &str| ImportError {
        file: file.to_owned(),
        position: "top level".into(),
        message: message.to_owned(),
    };
    let (objects, prefix): (&[Json], &str) = match &doc {
        Json::Object(o) => match o.get("objects") {
            Some(Json::Array(a)) => (a.as_slice(), "objects"),
            Some(_) => return Err(err("\"objects\" is not a list")),
            None if o.get("type").and_then(Json::as_str).is_some() => {
                (std::slice::from_ref(&doc), "object")
            }
            None => return Err(err("not a STIX bundle (no \"objects\" list or \"type\")")),
        },
        Json::Array(a) => (a.as_slice(), ""),
        _ => return Err(err("not a STIX bundle (expected a JSON object)")),
    };
    let mut c = Collector::new(opts, file, IntelFormat::Stix);
    for (i, obj) in objects.iter().enumerate() {
        if obj.get("type").and_then(Json::as_str) != Some("indicator") {
            continue;
        }
        let id = obj.get("id").and_then(Json::as_str);
        let position = || match id {
            Some(id) => format!("{prefix}[{i}] ({})", model::clip(id, 100)),
            None => format!("{prefix}[{i}]"),
        };
        indicator(&mut c, obj, id, &position);
    }
    Ok(c.out)
}

fn indicator(c: &mut Collector<'_>, obj: &Json, id: Option<&str>, position: &dyn Fn() -> String) {
    if obj.get("revoked").and_then(Json::as_bool) == Some(true) {
        return c.skip(position, "revoked", "");
    }
    let pattern_type = obj
        .get("pattern_type")
        .and_then(Json::as_str)
        .unwrap_or("stix");
    if pattern_type != "stix" {
        return c.skip(
            position,
            "pattern type other than stix",
            &model::clip(pattern_type, 40),
        );
    }
    let Some(pattern) = obj.get("pattern").and_then(Json::as_str) else {
        return c.skip(position, "no pattern", "");
    };
    let confidence = match obj.get("confidence") {
        None | Some(Json::Null) => None,
        Some(v) => match v.as_u64().filter(|n| *n <= 100) {
            Some(n) => Some(n as u8),
            None => {
                return c.skip(
                    position,
                    "invalid confidence",
                    &format!("{v} (expected 0-100)"),
                );
            }
        },
    };
    let time = |key: &str| {
        obj.get(key)
            .and_then(Json::as_str)
            .and_then(model::parse_time)
    };
    let valid_from = time("valid_from");
    let valid_until = time("valid_until");
    if obj.get("valid_until").is_some_and(|v| !v.is_null()) && valid_until.is_none() {
        return c.skip(position, "invalid valid_until", "");
    }
    let name = obj.get("name").and_then(Json::as_str);
    let desc = obj.get("description").and_then(Json::as_str);
    let description = match (name, desc) {
        (Some(n), Some(d)) if !d.trim().is_empty() => Some(format!("{n}: {d}")),
        (Some(n), _) => Some(n.to_owned()),
        (None, d) => d.map(str::to_owned),
    };
    let mut labels = Vec::new();
    for key in ["labels", "indicator_types"] {
        if let Some(Json::Array(a)) = obj.get(key) {
            labels.extend(a.iter().filter_map(Json::as_str).map(str::to_owned));
        }
    }
    let values = match parse_pattern(pattern) {
        Ok(v) => v,
        Err(reason) => return c.skip(position, reason.counted(), &reason.detail()),
    };
    for (hint, value) in values {
        match model::normalize(&value, hint) {
            Ok((kind, v)) => c.push(
                position,
                kind,
                v,
                confidence,
                None,
                valid_from,
                valid_until,
                description.as_deref(),
                &labels,
                id,
            ),
            Err(e) => c.skip(
                position,
                "invalid value in pattern",
                &format!("{:?}: {e}", model::clip(&value, 80)),
            ),
        }
    }
}

/// Why a pattern cannot become indicators. The counted reason is the variant; the detail
/// names the offending part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsupported {
    And(&'static str),
    Qualifier(String),
    Operator(String),
    Negation,
    Path(String),
    Syntax(String),
}

impl Unsupported {
    fn counted(&self) -> &'static str {
        match self {
            Unsupported::And(_) => "pattern needs AND (all comparisons must hold together)",
            Unsupported::Qualifier(_) => "pattern has a qualifier (WITHIN/REPEATS/START-STOP)",
            Unsupported::Operator(_) => "pattern uses an operator other than = / IN / ISSUBSET",
            Unsupported::Negation => "pattern uses NOT",
            Unsupported::Path(_) => "pattern names an observable Palisade does not match",
            Unsupported::Syntax(_) => "pattern syntax error",
        }
    }

    fn detail(&self) -> String {
        match self {
            Unsupported::And(op) => format!("joined by {op}; an indicator list can only say OR"),
            Unsupported::Qualifier(q) | Unsupported::Operator(q) | Unsupported::Path(q) => {
                model::clip(q, 80)
            }
            Unsupported::Negation => String::new(),
            Unsupported::Syntax(s) => model::clip(s, 120),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Str(String),
    /// An object path, keyword, number or operator.
    Word(String),
}

fn tokenize(p: &str) -> Result<Vec<Tok>, Unsupported> {
    let mut out = Vec::new();
    let mut chars = p.char_indices().peekable();
    while let Some(&(i, ch)) = chars.peek() {
        match ch {
            c if c.is_whitespace() => {
                chars.next();
            }
            '[' => {
                chars.next();
                out.push(Tok::LBracket);
            }
            ']' => {
                chars.next();
                out.push(Tok::RBracket);
            }
            '(' => {
                chars.next();
                out.push(Tok::LParen);
            }
            ')' => {
                chars.next();
                out.push(Tok::RParen);
            }
            ',' => {
                chars.next();
                out.push(Tok::Comma);
            }
            '\'' => {
                chars.next();
                out.push(Tok::Str(string_lit(&mut chars, i)?));
            }
            '=' | '!' | '<' | '>' => {
                let mut op = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if matches!(c, '=' | '!' | '<' | '>') {
                        op.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Word(op));
            }
            _ => {
                // A word: object path (may contain quoted segments after `.`), keyword,
                // number, or a typed literal such as t'…', h'…', b64'…'.
                let mut w = String::new();
                while let Some(&(j, c)) = chars.peek() {
                    if c.is_alphanumeric() || matches!(c, '-' | '_' | ':' | '.' | '*') {
                        w.push(c);
                        chars.next();
                    } else if c == '\''
                        && (w.ends_with('.') || matches!(w.as_str(), "t" | "h" | "b64"))
                    {
                        chars.next();
                        let s = string_lit(&mut chars, j)?;
                        if w.ends_with('.') {
                            w.push('\'');
                            w.push_str(&s);
                            w.push('\'');
                        } else {
                            w.push('\'');
                            w.push_str(&s);
                            w.push('\'');
                            break;
                        }
                    } else {
                        break;
                    }
                }
                if w.is_empty() {
                    return Err(Unsupported::Syntax(format!(
                        "unexpected {ch:?} at offset {i}"
                    )));
                }
                out.push(Tok::Word(w));
            }
        }
    }
    Ok(out)
}

fn string_lit(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    start: usize,
) -> Result<String, Unsupported> {
    let mut s = String::new();
    loop {
        match chars.next() {
            None => {
                return Err(Unsupported::Syntax(format!(
                    "unterminated string at offset {start}"
                )));
            }
            Some((_, '\'')) => return Ok(s),
            Some((_, '\\')) => match chars.next() {
                Some((_, c)) => s.push(c),
                None => return Err(Unsupported::Syntax("dangling backslash".into())),
            },
            Some((_, c)) => s.push(c),
        }
    }
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

type Values = Vec<(TypeHint, String)>;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&self) -> Option<String> {
        match self.peek() {
            Some(Tok::Word(w)) => Some(w.to_ascii_uppercase()),
            _ => None,
        }
    }

    fn enter(&mut self) -> Result<(), Unsupported> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Unsupported::Syntax(format!(
                "nested deeper than {MAX_DEPTH}"
            )));
        }
        Ok(())
    }

    /// pattern := observation (OR observation)* ; AND/FOLLOWEDBY and qualifiers refused.
    fn pattern(&mut self) -> Result<Values, Unsupported> {
        self.enter()?;
        let mut values = self.observation()?;
        loop {
            match self.keyword().as_deref() {
                Some("OR") => {
                    self.pos += 1;
                    values.extend(self.observation()?);
                }
                Some("AND") => return Err(Unsupported::And("AND")),
                Some("FOLLOWEDBY") => return Err(Unsupported::And("FOLLOWEDBY")),
                Some(q @ ("WITHIN" | "REPEATS" | "START" | "STOP")) => {
                    return Err(Unsupported::Qualifier(q.to_owned()));
                }
                _ => break,
            }
        }
        self.depth -= 1;
        Ok(values)
    }

    fn observation(&mut self) -> Result<Values, Unsupported> {
        match self.next() {
            Some(Tok::LBracket) => {
                let v = self.comparisons()?;
                match self.next() {
                    Some(Tok::RBracket) => Ok(v),
                    t => Err(Unsupported::Syntax(format!("expected ] but found {t:?}"))),
                }
            }
            Some(Tok::LParen) => {
                let v = self.pattern()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(v),
                    t => Err(Unsupported::Syntax(format!("expected ) but found {t:?}"))),
                }
            }
            t => Err(Unsupported::Syntax(format!(
                "expected [ or ( but found {t:?}"
            ))),
        }
    }

    /// comparisons := comparison (OR comparison)* inside brackets.
    fn comparisons(&mut self) -> Result<Values, Unsupported> {
        self.enter()?;
        let mut values = self.comparison()?;
        loop {
            match self.keyword().as_deref() {
                Some("OR") => {
                    self.pos += 1;
                    values.extend(self.comparison()?);
                }
                Some("AND") => return Err(Unsupported::And("AND")),
                _ => break,
            }
        }
        self.depth -= 1;
        Ok(values)
    }

    fn comparison(&mut self) -> Result<Values, Unsupported> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let v = self.comparisons()?;
            return match self.next() {
                Some(Tok::RParen) => Ok(v),
                t => Err(Unsupported::Syntax(format!("expected ) but found {t:?}"))),
            };
        }
        let path = match self.next() {
            Some(Tok::Word(w)) => w,
            t => {
                return Err(Unsupported::Syntax(format!(
                    "expected an object path but found {t:?}"
                )));
            }
        };
        if self.keyword().as_deref() == Some("NOT") {
            return Err(Unsupported::Negation);
        }
        let op = match self.next() {
            Some(Tok::Word(w)) => w.to_ascii_uppercase(),
            t => {
                return Err(Unsupported::Syntax(format!(
                    "expected an operator but found {t:?}"
                )));
            }
        };
        let values: Vec<String> = match op.as_str() {
            "=" | "ISSUBSET" => match self.next() {
                Some(Tok::Str(s)) => vec![s],
                t => {
                    return Err(Unsupported::Syntax(format!(
                        "expected a string but found {t:?}"
                    )));
                }
            },
            "IN" => self.string_list()?,
            other => return Err(Unsupported::Operator(other.to_owned())),
        };
        let hint = path_hint(&path).ok_or(Unsupported::Path(path.clone()))?;
        if op == "ISSUBSET"
            && !matches!(
                hint,
                TypeHint::Kind(IndicatorKind::Ipv4 | IndicatorKind::Ipv6)
            )
        {
            return Err(Unsupported::Operator(format!("ISSUBSET on {path}")));
        }
        Ok(values.into_iter().map(|v| (hint, v)).collect())
    }

    fn string_list(&mut self) -> Result<Vec<String>, Unsupported> {
        if self.next() != Some(Tok::LParen) {
            return Err(Unsupported::Syntax("IN needs a ( list )".into()));
        }
        let mut out = Vec::new();
        loop {
            match self.next() {
                Some(Tok::Str(s)) => out.push(s),
                t => {
                    return Err(Unsupported::Syntax(format!(
                        "expected a string but found {t:?}"
                    )));
                }
            }
            match self.next() {
                Some(Tok::Comma) => {}
                Some(Tok::RParen) => return Ok(out),
                t => {
                    return Err(Unsupported::Syntax(format!(
                        "expected , or ) but found {t:?}"
                    )));
                }
            }
        }
    }
}

/// What a supported object path holds.
fn path_hint(path: &str) -> Option<TypeHint> {
    let (object, property) = path.split_once(':')?;
    match (object, property) {
        ("ipv4-addr", "value") => Some(TypeHint::Kind(IndicatorKind::Ipv4)),
        ("ipv6-addr", "value") => Some(TypeHint::Kind(IndicatorKind::Ipv6)),
        ("domain-name", "value") => Some(TypeHint::Kind(IndicatorKind::Domain)),
        ("url", "value") => Some(TypeHint::Kind(IndicatorKind::Url)),
        ("file", p) => {
            let algo = p.strip_prefix("hashes.")?;
            let algo: String = algo
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .flat_map(|c| c.to_uppercase())
                .collect();
            match algo.as_str() {
                "MD5" => Some(TypeHint::Kind(IndicatorKind::Md5)),
                "SHA1" => Some(TypeHint::Kind(IndicatorKind::Sha1)),
                "SHA256" => Some(TypeHint::Kind(IndicatorKind::Sha256)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The values a pattern is the disjunction of, each with the kind its object path implies; or
/// why it is not such a disjunction.
pub fn parse_pattern(pattern: &str) -> Result<Vec<(TypeHint, String)>, Unsupported> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(Unsupported::Syntax(format!(
            "pattern of {} bytes is too long",
            pattern.len()
        )));
    }
    let toks = tokenize(pattern)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let values = p.pattern()?;
    match p.peek() {
        None => Ok(values),
        Some(t) => Err(Unsupported::Syntax(format!(
            "unexpected {t:?} after the pattern"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn values(p: &str) -> Vec<String> {
        parse_pattern(p)
            .unwrap()
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    }

    #[test]
    fn patterns() {
        assert_eq!(values("[ipv4-addr:value = '1.2.3.4']"), ["1.2.3.4"]);
        assert_eq!(
            values(
                "[domain-name:value = 'a.com' OR url:value = 'http://b.com/x'] OR [file:hashes.'SHA-256' = 'ab\\'c']"
            ),
            ["a.com", "http://b.com/x", "ab'c"]
        );
        assert_eq!(
            values("([ipv4-addr:value ISSUBSET '10.0.0.0/8'])"),
            ["10.0.0.0/8"]
        );
        assert_eq!(values("[file:hashes.MD5 IN ('a', 'b')]"), ["a", "b"]);
        assert!(matches!(
            parse_pattern("[file:hashes.MD5 = 'a' AND file:name = 'x.exe']"),
            Err(Unsupported::And("AND"))
        ));
        assert!(matches!(
            parse_pattern("[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [domain-name:value = 'a.com']"),
            Err(Unsupported::And("FOLLOWEDBY"))
        ));
        assert!(matches!(
            parse_pattern("[ipv4-addr:value = '1.2.3.4'] WITHIN 300 SECONDS"),
            Err(Unsupported::Qualifier(_))
        ));
        assert!(matches!(
            parse_pattern("[process:name = 'x']"),
            Err(Unsupported::Path(_))
        ));
        assert!(matches!(
            parse_pattern("[url:value LIKE '%x%']"),
            Err(Unsupported::Operator(_))
        ));
        assert!(matches!(
            parse_pattern("[url:value NOT = 'x']"),
            Err(Unsupported::Negation)
        ));
        assert!(matches!(
            parse_pattern("[url:value = 'x'"),
            Err(Unsupported::Syntax(_))
        ));
        assert!(matches!(
            parse_pattern(&"(".repeat(500)),
            Err(Unsupported::Syntax(_))
        ));
    }

    #[test]
    fn bundle() {
        let bundle = include_bytes!("../../tests/fixtures/stix_bundle.json");
        let opts = ImportOptions::new("osint", Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap());
        let got = import(bundle, "b.json", &opts).unwrap();
        let values: Vec<_> = got
            .indicators
            .iter()
            .map(|i| (i.kind, i.value.as_str(), i.confidence))
            .collect();
        assert_eq!(
            values,
            [
                (IndicatorKind::Ipv4, "198.51.100.7", 80),
                (IndicatorKind::Ipv4, "203.0.113.0/24", 80),
                (IndicatorKind::Domain, "evil-c2.example", 50),
                (IndicatorKind::Url, "evil-c2.example/gate.php", 50),
                (
                    IndicatorKind::Sha256,
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                    95
                ),
                (IndicatorKind::Md5, "d41d8cd98f00b204e9800998ecf8427e", 95),
                (IndicatorKind::Ipv6, "2001:db8:bad::/48", 50),
            ]
        );
        let first = &got.indicators[0];
        assert_eq!(
            first.description.as_deref(),
            Some("C2 servers: seen in campaign X")
        );
        assert_eq!(first.labels, ["malicious-activity", "c2"]);
        assert_eq!(first.reference.as_deref(), Some("indicator--a1"));
        assert!(first.valid_until.is_some() && first.valid_from.is_some());
        assert_eq!(got.skipped.get("revoked"), Some(&1));
        assert_eq!(got.skipped.get("already expired"), Some(&1));
        assert_eq!(
            got.skipped
                .get("pattern needs AND (all comparisons must hold together)"),
            Some(&1)
        );
        assert_eq!(got.skipped.get("pattern type other than stix"), Some(&1));
        let w = got
            .warnings
            .iter()
            .find(|w| w.message.starts_with("pattern needs AND"))
            .unwrap();
        assert_eq!(w.position, "objects[7] (indicator--and)");
        assert_eq!(w.file, "b.json");
    }

    #[test]
    fn not_a_bundle() {
        let opts = ImportOptions::new("x", Utc::now());
        let e = import(b"{\"objects\": [1,", "bad.json", &opts).unwrap_err();
        assert!(e.position.starts_with("line 1, column"), "{e}");
        assert!(import(b"42", "n.json", &opts).is_err());
        assert!(import(b"{\"a\":1}", "n.json", &opts).is_err());
    }
}

//! Value modifiers: turns one detection item (`Field|mod1|mod2: values`) into a [`Predicate`].
//!
//! Modifiers apply left to right, as the specification says. Transformations (`base64`,
//! `base64offset`, `wide`/`utf16*`, `windash`, `expand`, `contains`/`startswith`/`endswith`)
//! rewrite the values; type modifiers (`re`, `cidr`, `lt`…, `exists`, `fieldref`, time parts)
//! change how a value is compared; `all` and `neq` change how the values combine.
//! A value that expands into several (windash, base64offset, placeholders) becomes an OR-group,
//! so `|all` ANDs the groups: `CommandLine|contains|all|windash: ['-a','-b']` means
//! `(-a or /a …) and (-b or /b …)`.

use std::collections::HashMap;
use std::net::IpAddr;

use base64::Engine as _;
use ipnet::IpNet;

use crate::pattern::{LazyRegex, Piece, SigmaString, StrMatcher};

/// A scalar value as written in the rule.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    Str(String),
    Int(i64),
    /// A YAML float, kept as written.
    Float(String),
    Bool(bool),
    Null,
}

impl RawValue {
    fn text(&self) -> String {
        match self {
            RawValue::Str(s) | RawValue::Float(s) => s.clone(),
            RawValue::Int(i) => i.to_string(),
            RawValue::Bool(b) => b.to_string(),
            RawValue::Null => String::new(),
        }
    }
}

/// Numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

impl CmpOp {
    pub fn holds(self, field: f64, value: f64) -> bool {
        match self {
            CmpOp::Lt => field < value,
            CmpOp::Lte => field <= value,
            CmpOp::Gt => field > value,
            CmpOp::Gte => field >= value,
        }
    }
}

/// Part of a timestamp, for the time modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// How a field reference compares two fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefShape {
    Equals,
    StartsWith,
    EndsWith,
    Contains,
}

/// One comparison of a field with one value.
#[derive(Debug, Clone)]
pub enum ValueMatcher {
    Str(StrMatcher),
    /// A regex and, when its syntax guarantees one, literals one of which every match contains
    /// (lower-case), for the prefilter.
    Regex(LazyRegex, Option<Vec<String>>),
    Cidr(IpNet),
    Cmp(CmpOp, f64),
    Exists(bool),
    /// The field is absent or null.
    Null,
    FieldRef {
        field: String,
        shape: RefShape,
        cased: bool,
    },
    TimePart(TimePart, i64),
}

/// A detection item compiled: the field (none for keyword searches), OR-groups of
/// alternatives, whether all groups must match, and whether the whole item is negated (`neq`).
#[derive(Debug, Clone)]
pub struct Predicate {
    pub field: Option<String>,
    pub groups: Vec<Vec<ValueMatcher>>,
    pub all: bool,
    pub negate: bool,
}

/// What compiling needs besides the item itself.
#[derive(Debug, Default, Clone)]
pub struct ModifierContext {
    /// Values for `%placeholder%` names used with `expand`.
    pub placeholders: HashMap<String, Vec<String>>,
}

/// Non-fatal findings while compiling (e.g. an unconfigured placeholder).
pub type Warnings = Vec<String>;

const MAX_EXPANSION: usize = 4096;

/// A value while modifiers are being applied.
#[derive(Debug, Clone)]
enum Val {
    Str {
        s: SigmaString,
        cased: bool,
        bom: bool,
    },
    Regex {
        src: String,
        i: bool,
        m: bool,
        s: bool,
    },
    Cidr(IpNet),
    Cmp(CmpOp, f64),
    Exists(bool),
    Null,
    FieldRef {
        field: String,
        starts: bool,
        ends: bool,
        cased: bool,
    },
    TimePart(TimePart, i64),
    Num(RawValue),
}

/// Builds the predicate for `key` (`Field|mods`, or `|mods`/empty for keywords) and its values.
pub fn build_predicate(
    key: &str,
    values: &[RawValue],
    ctx: &ModifierContext,
    warnings: &mut Warnings,
) -> Result<Predicate, String> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or_default();
    let field = (!field.is_empty()).then(|| field.to_owned());
    let mut modifiers: Vec<&str> = parts.collect();
    // Keywords are full-text searches: a bare keyword matches anywhere in a value.
    const SHAPES: [&str; 7] = [
        "contains",
        "startswith",
        "endswith",
        "re",
        "cidr",
        "exists",
        "fieldref",
    ];
    if field.is_none() && !modifiers.iter().any(|m| SHAPES.contains(m)) {
        modifiers.push("contains");
    }
    let mut all = false;
    let mut negate = false;
    for m in &modifiers {
        match *m {
            "all" => all = true,
            "neq" => negate = true,
            _ => {}
        }
    }
    if modifiers.contains(&"exists") && field.is_none() {
        return Err("the exists modifier needs a field".into());
    }
    let mut groups = Vec::with_capacity(values.len());
    for raw in values {
        let mut current = vec![initial(raw)];
        let mut applied: Vec<&str> = Vec::new();
        for m in &modifiers {
            if matches!(*m, "all" | "neq") {
                continue;
            }
            let mut next = Vec::with_capacity(current.len());
            for v in current {
                apply(m, v, raw, &applied, ctx, warnings, &mut next)?;
            }
            if next.len() > MAX_EXPANSION {
                return Err(format!(
                    "modifier {m} expands a value into more than {MAX_EXPANSION} variants"
                ));
            }
            current = next;
            applied.push(m);
        }
        let group = current
            .into_iter()
            .map(finish)
            .collect::<Result<Vec<_>, _>>()?;
        groups.push(group);
    }
    if all && groups.len() < 2 && !modifiers.is_empty() {
        // The specification discourages `all` on one value; it is harmless, so accept it.
    }
    Ok(Predicate {
        field,
        groups,
        all,
        negate,
    })
}

fn initial(raw: &RawValue) -> Val {
    match raw {
        RawValue::Str(s) => Val::Str {
            s: SigmaString::parse(s),
            cased: false,
            bom: false,
        },
        RawValue::Null => Val::Null,
        other => Val::Num(other.clone()),
    }
}

/// Numbers and booleans used where a string is expected become their text.
fn as_string(v: Val) -> Val {
    match v {
        Val::Num(raw) => Val::Str {
            s: SigmaString::literal(&raw.text()),
            cased: false,
            bom: false,
        },
        other => other,
    }
}

fn number(v: &Val) -> Option<f64> {
    match v {
        Val::Num(RawValue::Int(i)) => Some(*i as f64),
        Val::Num(RawValue::Float(f)) => f.parse().ok(),
        Val::Str { s, .. } => s.as_plain()?.trim().parse().ok(),
        _ => None,
    }
}

fn apply(
    m: &str,
    v: Val,
    raw: &RawValue,
    applied: &[&str],
    ctx: &ModifierContext,
    warnings: &mut Warnings,
    out: &mut Vec<Val>,
) -> Result<(), String> {
    match m {
        "contains" | "startswith" | "endswith" => out.push(wildcard_shape(m, as_string(v))?),
        "base64" => out.push(base64_plain(as_string(v))?),
        "base64offset" => out.extend(base64_offsets(as_string(v))?),
        "wide" | "utf16le" | "utf16be" | "utf16" => out.push(utf16(m, as_string(v))?),
        "windash" => out.extend(windash(as_string(v))?),
        "cased" => match as_string(v) {
            Val::Str { s, bom, .. } => out.push(Val::Str {
                s,
                cased: true,
                bom,
            }),
            Val::FieldRef {
                field,
                starts,
                ends,
                ..
            } => out.push(Val::FieldRef {
                field,
                starts,
                ends,
                cased: true,
            }),
            _ => return Err("cased applies to strings only".into()),
        },
        "re" => {
            if !applied.is_empty() {
                return Err("re must be the first modifier of a value".into());
            }
            let src = match raw {
                RawValue::Str(s) => s.clone(),
                other => other.text(),
            };
            out.push(Val::Regex {
                src,
                i: false,
                m: false,
                s: false,
            });
        }
        "i" | "ignorecase" | "m" | "multiline" | "s" | "dotall" => match v {
            Val::Regex {
                src,
                mut i,
                m: mut ml,
                mut s,
            } => {
                match m {
                    "i" | "ignorecase" => i = true,
                    "m" | "multiline" => ml = true,
                    _ => s = true,
                }
                out.push(Val::Regex { src, i, m: ml, s });
            }
            _ => return Err(format!("{m} is a regular expression flag; use it after re")),
        },
        "cidr" => {
            if !applied.is_empty() {
                return Err("cidr must be the first modifier of a value".into());
            }
            let text = raw.text();
            let net = parse_cidr(&text).ok_or_else(|| format!("{text:?} is not a CIDR network"))?;
            out.push(Val::Cidr(net));
        }
        "lt" | "lte" | "gt" | "gte" => {
            let n =
                number(&v).ok_or_else(|| format!("{m} needs a number, got {:?}", raw.text()))?;
            let op = match m {
                "lt" => CmpOp::Lt,
                "lte" => CmpOp::Lte,
                "gt" => CmpOp::Gt,
                _ => CmpOp::Gte,
            };
            out.push(Val::Cmp(op, n));
        }
        "exists" => {
            let b = match raw {
                RawValue::Bool(b) => *b,
                RawValue::Str(s) if s.eq_ignore_ascii_case("true") => true,
                RawValue::Str(s) if s.eq_ignore_ascii_case("false") => false,
                other => {
                    return Err(format!(
                        "exists needs true or false, got {:?}",
                        other.text()
                    ));
                }
            };
            out.push(Val::Exists(b));
        }
        "fieldref" => match as_string(v) {
            Val::Str { s, cased, .. } => {
                let field = s
                    .as_plain()
                    .ok_or("a field reference must not contain wildcards")?;
                out.push(Val::FieldRef {
                    field,
                    starts: false,
                    ends: false,
                    cased,
                });
            }
            _ => return Err("fieldref needs a field name".into()),
        },
        "expand" => out.extend(expand(as_string(v), ctx, warnings)?),
        "minute" | "hour" | "day" | "week" | "month" | "year" => {
            let n = number(&v).ok_or_else(|| format!("{m} needs a number"))?;
            let part = match m {
                "minute" => TimePart::Minute,
                "hour" => TimePart::Hour,
                "day" => TimePart::Day,
                "week" => TimePart::Week,
                "month" => TimePart::Month,
                _ => TimePart::Year,
            };
            out.push(Val::TimePart(part, n as i64));
        }
        other => return Err(format!("unknown modifier {other:?}")),
    }
    Ok(())
}

fn wildcard_shape(m: &str, v: Val) -> Result<Val, String> {
    Ok(match v {
        Val::Str { mut s, cased, bom } => {
            if m != "endswith" {
                s.append_star();
            }
            if m != "startswith" {
                s.prepend_star();
            }
            Val::Str { s, cased, bom }
        }
        Val::Regex {
            mut src,
            i,
            m: ml,
            s,
        } => {
            if has_toplevel_alternation(&src) {
                src = format!("(?:{src})");
            }
            if m != "endswith" && !src.ends_with(".*") && !ends_unescaped(&src, '$') {
                src.push_str(".*");
            }
            if m != "startswith" && !src.starts_with(".*") && !src.starts_with('^') {
                src.insert_str(0, ".*");
            }
            Val::Regex { src, i, m: ml, s }
        }
        Val::FieldRef {
            field,
            starts,
            ends,
            cased,
        } => Val::FieldRef {
            field,
            starts: starts || m != "endswith",
            ends: ends || m != "startswith",
            cased,
        },
        _ => return Err(format!("{m} applies to strings only")),
    })
}

fn ends_unescaped(s: &str, c: char) -> bool {
    if !s.ends_with(c) {
        return false;
    }
    let head = &s[..s.len() - c.len_utf8()];
    (head.len() - head.trim_end_matches('\\').len()).is_multiple_of(2)
}

fn has_toplevel_alternation(re: &str) -> bool {
    let mut depth = 0i32;
    let mut in_class = false;
    let mut chars = re.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            ']' if in_class => in_class = false,
            _ if in_class => {}
            '[' => in_class = true,
            '(' => depth += 1,
            ')' => depth -= 1,
            '|' if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

fn plain_bytes(v: &Val) -> Result<(Vec<u8>, bool), String> {
    match v {
        Val::Str { s, bom, .. } => {
            let text = s
                .as_plain()
                .ok_or("base64 encoding of values with wildcards is not allowed")?;
            let mut bytes = text.into_bytes();
            if *bom && bytes.starts_with("\u{feff}".as_bytes()) {
                bytes.splice(0..3, [0xff, 0xfe]);
            }
            Ok((bytes, *bom))
        }
        _ => Err("base64 applies to strings only".into()),
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_plain(v: Val) -> Result<Val, String> {
    let (bytes, _) = plain_bytes(&v)?;
    Ok(Val::Str {
        s: SigmaString::literal(&b64(&bytes)),
        cased: true,
        bom: false,
    })
}

/// The three encodings of a value at byte offsets 0, 1 and 2 within a base64 stream, cut to the
/// characters that do not depend on neighbouring bytes.
fn base64_offsets(v: Val) -> Result<Vec<Val>, String> {
    let (data, _) = plain_bytes(&v)?;
    const START: [usize; 3] = [0, 2, 3];
    const END_CUT: [usize; 3] = [0, 3, 2];
    let mut out = Vec::with_capacity(3);
    for i in 0..3 {
        let mut shifted = vec![b' '; i];
        shifted.extend_from_slice(&data);
        let enc = b64(&shifted);
        let cut = END_CUT[(data.len() + i) % 3];
        let end = enc.len().saturating_sub(cut);
        let start = START[i].min(end);
        out.push(Val::Str {
            s: SigmaString::literal(&enc[start..end]),
            cased: true,
            bom: false,
        });
    }
    Ok(out)
}

/// UTF-16 encodings, kept as text with NUL bytes so later base64 sees the right bytes
/// (as in pySigma, only code units below 0x80 survive that round trip).
fn utf16(m: &str, v: Val) -> Result<Val, String> {
    let Val::Str { s, cased, .. } = v else {
        return Err(format!("{m} applies to strings only"));
    };
    let mut bad = false;
    let mut s = s.map_literals(|lit| {
        let mut out = String::with_capacity(lit.len() * 2);
        for c in lit.chars() {
            if !c.is_ascii() {
                bad = true;
            }
            if m == "utf16be" {
                out.push('\0');
                out.push(c);
            } else {
                out.push(c);
                out.push('\0');
            }
        }
        out
    });
    if bad {
        return Err(format!("{m} supports ASCII text only"));
    }
    let bom = m == "utf16";
    if bom {
        match s.pieces.first_mut() {
            Some(Piece::Lit(l)) => l.insert(0, '\u{feff}'),
            _ => s.pieces.insert(0, Piece::Lit("\u{feff}".into())),
        }
    }
    Ok(Val::Str { s, cased, bom })
}

const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every combination of dash characters at flag positions: a `-` or `/` that follows a non-word
/// character (or starts the text) and precedes a word character.
fn windash(v: Val) -> Result<Vec<Val>, String> {
    let Val::Str { s, cased, bom } = v else {
        return Err("windash applies to strings only".into());
    };
    let mut variants = vec![SigmaString::default()];
    for piece in &s.pieces {
        let Piece::Lit(lit) = piece else {
            for v in &mut variants {
                v.pieces.push(piece.clone());
            }
            continue;
        };
        let chars: Vec<char> = lit.chars().collect();
        let mut texts = vec![String::new()];
        for (i, &c) in chars.iter().enumerate() {
            let flag = (c == '-' || c == '/')
                && (i == 0 || !is_word(chars[i - 1]))
                && chars.get(i + 1).is_some_and(|n| is_word(*n));
            if flag {
                texts = texts
                    .iter()
                    .flat_map(|t| DASHES.iter().map(move |d| format!("{t}{d}")))
                    .collect();
                if texts.len() > MAX_EXPANSION {
                    return Err("windash produces too many variants".into());
                }
            } else {
                texts.iter_mut().for_each(|t| t.push(c));
            }
        }
        let options: Vec<SigmaString> = texts.iter().map(|t| SigmaString::literal(t)).collect();
        variants = product(&variants, &options, "windash produces too many variants")?;
    }
    Ok(variants
        .into_iter()
        .map(|s| Val::Str { s, cased, bom })
        .collect())
}

/// Every variant followed by every option. The size is checked before the product is built:
/// each piece (between wildcards) multiplies the variants, so `-a*-b*-c*…` would otherwise grow
/// as 5^pieces before any check.
fn product(
    variants: &[SigmaString],
    options: &[SigmaString],
    too_many: &str,
) -> Result<Vec<SigmaString>, String> {
    if variants.len().saturating_mul(options.len()) > MAX_EXPANSION {
        return Err(too_many.into());
    }
    Ok(variants
        .iter()
        .flat_map(|v| {
            options.iter().map(move |o| {
                let mut v = v.clone();
                v.append(o);
                v
            })
        })
        .collect())
}

/// Replaces `%name%` placeholders with each configured value. `\%` is a literal percent.
fn expand(v: Val, ctx: &ModifierContext, warnings: &mut Warnings) -> Result<Vec<Val>, String> {
    let Val::Str { s, cased, bom } = v else {
        return Err("expand applies to strings only".into());
    };
    let mut variants = vec![SigmaString::default()];
    for piece in &s.pieces {
        let Piece::Lit(lit) = piece else {
            variants
                .iter_mut()
                .for_each(|v| v.pieces.push(piece.clone()));
            continue;
        };
        for seg in split_placeholders(lit) {
            let options: Vec<SigmaString> = match seg {
                Segment::Text(t) => vec![SigmaString::literal(&t)],
                Segment::Placeholder(name) => match ctx.placeholders.get(&name) {
                    Some(values) => values.iter().map(|v| SigmaString::parse(v)).collect(),
                    None => {
                        warnings.push(format!(
                            "placeholder %{name}% has no configured values, so it matches nothing"
                        ));
                        Vec::new()
                    }
                },
            };
            variants = product(
                &variants,
                &options,
                "placeholder expansion produces too many values",
            )?;
        }
    }
    Ok(variants
        .into_iter()
        .map(|s| Val::Str { s, cased, bom })
        .collect())
}

enum Segment {
    Text(String),
    Placeholder(String),
}

fn split_placeholders(lit: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = lit.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'%') {
            text.push('%');
            chars.next();
        } else if c == '%' {
            let name: String = chars.clone().take_while(|c| *c != '%').collect();
            let closed = chars.clone().nth(name.chars().count()) == Some('%');
            if closed && !name.is_empty() {
                if !text.is_empty() {
                    out.push(Segment::Text(std::mem::take(&mut text)));
                }
                for _ in 0..=name.chars().count() {
                    chars.next();
                }
                out.push(Segment::Placeholder(name));
            } else {
                text.push('%');
            }
        } else {
            text.push(c);
        }
    }
    if !text.is_empty() {
        out.push(Segment::Text(text));
    }
    out
}

/// Literals one of which every match of the regex contains: the best of its possible prefixes,
/// its possible suffixes, and its required inner factors (see [`required_factors`]), when
/// finitely many and all at least three bytes long. Lower-cased, because the prefilter compares
/// ignoring ASCII case.
fn regex_literals(src: &str, i: bool, m: bool, s: bool) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(!src.is_ascii())
        .utf8(!src.is_ascii())
        .case_insensitive(i)
        .multi_line(m)
        .dot_matches_new_line(s)
        .build()
        .parse(src)
        .ok()?;
    let mut best: Option<Vec<String>> = None;
    for kind in [ExtractKind::Prefix, ExtractKind::Suffix] {
        let seq = Extractor::new()
            .kind(kind)
            .limit_class(8)
            .limit_repeat(8)
            .limit_literal_len(32)
            .limit_total(64)
            .extract(&hir);
        let Some(lits) = seq.literals() else { continue };
        let mut out: Vec<String> = Vec::with_capacity(lits.len());
        let mut usable = !lits.is_empty();
        for l in lits {
            match std::str::from_utf8(l.as_bytes()) {
                Ok(t) if t.len() >= 3 => out.push(t.to_lowercase()),
                _ => usable = false,
            }
        }
        out.sort();
        out.dedup();
        if usable && out.iter().all(|t| crate::pattern::ascii_foldable(t)) {
            best = better(best, Some(out));
        }
    }
    better(best, required_factors(&hir).filter(|f| usable_factors(f)))
}

/// Most alternatives a factor set may have.
const MAX_FACTORS: usize = 64;

fn usable_factors(f: &[String]) -> bool {
    !f.is_empty()
        && f.len() <= MAX_FACTORS
        && f.iter()
            .all(|t| t.len() >= 3 && crate::pattern::ascii_foldable(t))
}

/// The more selective of two literal sets: longest shortest member, then fewest members.
fn better(a: Option<Vec<String>>, b: Option<Vec<String>>) -> Option<Vec<String>> {
    let score = |v: &Vec<String>| {
        let min = v.iter().map(|t| t.len().min(16)).min().unwrap_or(0);
        (min, std::cmp::Reverse(v.len()))
    };
    match (a, b) {
        (Some(a), Some(b)) => Some(if score(&b) > score(&a) { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// A set of lower-case strings at least one of which occurs in every match of `h`: a literal
/// run of a concatenation, or the union over an alternation's branches. Classes count only when
/// they stand for one ASCII character in either case (what `(?i)` makes of a letter); anything
/// else breaks a run. This finds the anchors prefix/suffix extraction misses, e.g. in
/// `.*invoke-(?:mimikatz|kerberoast).*`.
fn required_factors(h: &regex_syntax::hir::Hir) -> Option<Vec<String>> {
    use regex_syntax::hir::HirKind;
    match h.kind() {
        HirKind::Literal(_) | HirKind::Class(_) => literal_text(h).map(|t| vec![t]),
        HirKind::Capture(c) => required_factors(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => required_factors(&r.sub),
        HirKind::Alternation(branches) => {
            let mut all = Vec::new();
            for b in branches {
                all.extend(required_factors(b)?);
                if all.len() > MAX_FACTORS {
                    return None;
                }
            }
            all.sort();
            all.dedup();
            Some(all)
        }
        HirKind::Concat(items) => {
            let mut best: Option<Vec<String>> = None;
            let mut run = String::new();
            for item in items {
                if let Some(t) = literal_text(item) {
                    run.push_str(&t);
                    continue;
                }
                if !run.is_empty() {
                    best = better(best, Some(vec![std::mem::take(&mut run)]));
                }
                best = better(best, required_factors(item).filter(|f| usable_factors(f)));
            }
            if !run.is_empty() {
                best = better(best, Some(vec![run]));
            }
            best
        }
        _ => None,
    }
}

/// The text a literal (or a one-letter case class, or a capture of one) stands for.
fn literal_text(h: &regex_syntax::hir::Hir) -> Option<String> {
    use regex_syntax::hir::{Class, HirKind};
    match h.kind() {
        HirKind::Literal(l) => std::str::from_utf8(&l.0).ok().map(str::to_lowercase),
        HirKind::Capture(c) => literal_text(&c.sub),
        HirKind::Class(class) => {
            let mut chars = Vec::new();
            let ranges: Vec<(u32, u32)> = match class {
                Class::Unicode(c) => c
                    .ranges()
                    .iter()
                    .map(|r| (r.start() as u32, r.end() as u32))
                    .collect(),
                Class::Bytes(c) => c
                    .ranges()
                    .iter()
                    .map(|r| (u32::from(r.start()), u32::from(r.end())))
                    .collect(),
            };
            for (start, end) in ranges {
                for code in start..=end {
                    if chars.len() >= 2 || code > 0x7f {
                        return None;
                    }
                    chars.push(char::from(code as u8));
                }
            }
            match chars.as_slice() {
                [a] => Some(a.to_ascii_lowercase().to_string()),
                [a, b] if a.eq_ignore_ascii_case(b) => Some(a.to_ascii_lowercase().to_string()),
                _ => None,
            }
        }
        _ => None,
    }
}

pub(crate) fn parse_cidr(text: &str) -> Option<IpNet> {
    let t = text.trim();
    t.parse::<IpNet>()
        .ok()
        .or_else(|| t.parse::<IpAddr>().ok().map(IpNet::from))
}

fn finish(v: Val) -> Result<ValueMatcher, String> {
    Ok(match v {
        Val::Str { s, cased, .. } => ValueMatcher::Str(
            StrMatcher::new(&s, cased).map_err(|e| format!("wildcard pattern: {e}"))?,
        ),
        Val::Num(raw) => ValueMatcher::Str(
            StrMatcher::new(&SigmaString::literal(&raw.text()), false)
                .map_err(|e| e.to_string())?,
        ),
        Val::Regex { src, i, m, s } => {
            let re = LazyRegex::new(&src, i, m, s)?;
            ValueMatcher::Regex(re, regex_literals(&src, i, m, s))
        }
        Val::Cidr(n) => ValueMatcher::Cidr(n),
        Val::Cmp(op, n) => ValueMatcher::Cmp(op, n),
        Val::Exists(b) => ValueMatcher::Exists(b),
        Val::Null => ValueMatcher::Null,
        Val::FieldRef {
            field,
            starts,
            ends,
            cased,
        } => ValueMatcher::FieldRef {
            field,
            shape: match (starts, ends) {
                (true, true) => RefShape::Contains,
                (true, false) => RefShape::StartsWith,
                (false, true) => RefShape::EndsWith,
                (false, false) => RefShape::Equals,
            },
            cased,
        },
        Val::TimePart(p, n) => ValueMatcher::TimePart(p, n),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pred(key: &str, vals: &[&str]) -> Predicate {
        let raw: Vec<RawValue> = vals.iter().map(|v| RawValue::Str((*v).into())).collect();
        build_predicate(key, &raw, &ModifierContext::default(), &mut Vec::new()).unwrap()
    }

    fn texts(p: &Predicate) -> Vec<Vec<String>> {
        p.groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|m| match m {
                        ValueMatcher::Str(s) => format!("{:?}", s.op),
                        ValueMatcher::Regex(r, _) => r.as_str().to_owned(),
                        other => format!("{other:?}"),
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn base64offset_matches_pysigma_reference() {
        // Reference values computed with pySigma for "/bin/sh".
        let p = pred("CommandLine|base64offset|contains", &["/bin/sh"]);
        let got = texts(&p);
        assert_eq!(
            got[0],
            [
                "Contains(\"L2Jpbi9za\")",
                "Contains(\"9iaW4vc2\")",
                "Contains(\"vYmluL3No\")"
            ]
        );
    }

    #[test]
    fn windash_expands_flag_positions_only() {
        let p = pred("CommandLine|contains|windash", &[" -enc foo-bar"]);
        assert_eq!(p.groups[0].len(), 5);
        let p = pred("CommandLine|windash|contains|all", &["-a", "/b"]);
        assert!(p.all);
        assert_eq!(p.groups.len(), 2);
        assert_eq!(p.groups[1].len(), 5);
    }

    /// Each wildcard-separated piece multiplied the variants before any limit was checked:
    /// `-a*-b*…*-p` would have built 5^16 strings (found reading the code while fuzzing).
    #[test]
    fn windash_products_are_bounded_before_they_are_built() {
        let dashes = |n: u8| -> String {
            (b'a'..b'a' + n)
                .map(|c| format!("-{}", c as char))
                .collect::<Vec<_>>()
                .join("*")
        };
        let ctx = ModifierContext::default();
        let err = build_predicate(
            "x|windash",
            &[RawValue::Str(dashes(16))],
            &ctx,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(err.contains("too many variants"), "{err}");
        let p = pred("x|windash", &[&dashes(5)]);
        assert_eq!(p.groups[0].len(), 5usize.pow(5));
        let mut ctx = ModifierContext::default();
        let many: Vec<String> = (0..100).map(|i| format!("v{i}")).collect();
        ctx.placeholders.insert("P".into(), many);
        let err = build_predicate(
            "x|expand",
            &[RawValue::Str("%P%-%P%".into())],
            &ctx,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(err.contains("too many values"), "{err}");
    }

    #[test]
    fn wide_base64() {
        // "cmd" as UTF-16LE is 63 00 6d 00 64 00, base64 "YwBtAGQA".
        let p = pred("x|wide|base64", &["cmd"]);
        assert_eq!(texts(&p)[0], ["Exact(\"YwBtAGQA\")"]);
        let p = pred("x|utf16|base64", &["cmd"]);
        assert_eq!(texts(&p)[0], ["Exact(\"//5jAG0AZAA=\")"]);
    }

    #[test]
    fn regex_flags_and_shapes() {
        let p = pred("x|re|i", &["^abc"]);
        let ValueMatcher::Regex(r, lits) = &p.groups[0][0] else {
            panic!()
        };
        assert!(r.is_match("ABCdef"));
        assert_eq!(lits.as_deref(), Some(&["abc".to_string()][..]));
        assert!(
            build_predicate(
                "x|contains|re",
                &[RawValue::Str("a".into())],
                &ModifierContext::default(),
                &mut Vec::new()
            )
            .is_err()
        );
    }

    #[test]
    fn regex_literals_are_required_substrings() {
        assert_eq!(
            regex_literals("(?:foo|bar)baz", false, false, false),
            Some(vec!["barbaz".into(), "foobaz".into()])
        );
        assert_eq!(
            regex_literals(r"\\cmd\.exe$", true, false, false),
            Some(vec!["\\cmd.exe".into()])
        );
        assert_eq!(regex_literals(".*x.*", false, false, false), None);
        assert_eq!(
            regex_literals(".*invoke-(?:mimikatz|kerberoast).*", false, false, false),
            Some(vec!["kerberoast".into(), "mimikatz".into()])
        );
        assert_eq!(
            regex_literals(r"\s+(?:Mimikatz|Kerberos)\s*\d", false, false, false),
            Some(vec!["kerberos".into(), "mimikatz".into()])
        );
        assert_eq!(
            regex_literals(r"(?i)\$\{?input\}?", false, false, false),
            Some(vec!["$input".into(), "${input".into()])
        );
        assert_eq!(
            regex_literals(r"[a-z]+\d(?i)input\d", false, false, false),
            Some(vec!["input".into()])
        );
        assert_eq!(
            regex_literals("a|bcd", false, false, false),
            None,
            "one alternative is too short"
        );
    }

    #[test]
    fn bad_values_are_errors() {
        let ctx = ModifierContext::default();
        let mut w = Vec::new();
        assert!(
            build_predicate("ip|cidr", &[RawValue::Str("10.0.0/8".into())], &ctx, &mut w).is_err()
        );
        assert!(build_predicate("x|lt", &[RawValue::Str("abc".into())], &ctx, &mut w).is_err());
        assert!(build_predicate("x|nosuch", &[RawValue::Str("a".into())], &ctx, &mut w).is_err());
        assert!(build_predicate("x|re", &[RawValue::Str("(".into())], &ctx, &mut w).is_err());
        assert!(build_predicate("x|base64", &[RawValue::Str("a*".into())], &ctx, &mut w).is_err());
    }

    #[test]
    fn placeholders_expand_or_warn() {
        let mut ctx = ModifierContext::default();
        ctx.placeholders
            .insert("Admins".into(), vec!["root".into(), "adm_*".into()]);
        let mut w = Vec::new();
        let p = build_predicate(
            "User|expand",
            &[RawValue::Str("%Admins%".into())],
            &ctx,
            &mut w,
        )
        .unwrap();
        assert_eq!(texts(&p)[0], ["Exact(\"root\")", "Prefix(\"adm_\")"]);
        let p = build_predicate(
            "User|expand",
            &[RawValue::Str("%Other%".into())],
            &ctx,
            &mut w,
        )
        .unwrap();
        assert!(p.groups[0].is_empty());
        assert_eq!(w.len(), 1);
        let p = build_predicate(
            "User|expand",
            &[RawValue::Str(r"\%x%Admins%".into())],
            &ctx,
            &mut w,
        )
        .unwrap();
        assert_eq!(texts(&p)[0], ["Exact(\"%xroot\")", "Prefix(\"%xadm_\")"]);
    }
}

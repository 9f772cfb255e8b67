//! Sigma string values: wildcards (`*`, `?`), backslash escaping, and how a value is matched
//! against a field's text.
//!
//! Escaping follows the specification: `\` escapes `*`, `?` and `\`; a backslash before any
//! other character is a literal backslash. So `C:\Windows\*` is the prefix `C:\Windows\`, and
//! `\\*` is a literal backslash followed by a wildcard.
//!
//! Matching is case-insensitive unless the rule says `cased`. The common shapes (exact, prefix,
//! suffix, contains) are compared byte-wise with ASCII case folding, which never allocates; only
//! values with inner wildcards become (compiled-once) regular expressions.

use std::sync::OnceLock;

use regex::bytes::{Regex, RegexBuilder};

/// One piece of a parsed Sigma string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A Sigma string parsed into literal text and wildcards.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SigmaString {
    pub pieces: Vec<Piece>,
}

impl SigmaString {
    /// Parses a rule value, honouring wildcards and escapes.
    pub fn parse(raw: &str) -> SigmaString {
        let mut s = SigmaString::default();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&n @ ('*' | '?' | '\\')) => {
                        chars.next();
                        s.push_char(n);
                    }
                    _ => s.push_char('\\'),
                },
                '*' => {
                    if s.pieces.last() != Some(&Piece::Star) {
                        s.pieces.push(Piece::Star);
                    }
                }
                '?' => s.pieces.push(Piece::One),
                c => s.push_char(c),
            }
        }
        s
    }

    /// A string of literal text only (no wildcard interpretation).
    pub fn literal(text: &str) -> SigmaString {
        let mut s = SigmaString::default();
        if !text.is_empty() {
            s.pieces.push(Piece::Lit(text.to_owned()));
        }
        s
    }

    fn push_char(&mut self, c: char) {
        if let Some(Piece::Lit(l)) = self.pieces.last_mut() {
            l.push(c);
        } else {
            self.pieces.push(Piece::Lit(c.to_string()));
        }
    }

    /// Appends `other`, merging literal text across the join.
    pub fn append(&mut self, other: &SigmaString) {
        for p in &other.pieces {
            match (self.pieces.last_mut(), p) {
                (Some(Piece::Lit(l)), Piece::Lit(t)) => l.push_str(t),
                _ => self.pieces.push(p.clone()),
            }
        }
    }

    pub fn has_wildcards(&self) -> bool {
        self.pieces.iter().any(|p| !matches!(p, Piece::Lit(_)))
    }

    /// The text when there are no wildcards.
    pub fn as_plain(&self) -> Option<String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Lit(l) => out.push_str(l),
                _ => return None,
            }
        }
        Some(out)
    }

    pub fn starts_with_star(&self) -> bool {
        self.pieces.first() == Some(&Piece::Star)
    }

    pub fn ends_with_star(&self) -> bool {
        self.pieces.last() == Some(&Piece::Star)
    }

    pub fn prepend_star(&mut self) {
        if !self.starts_with_star() {
            self.pieces.insert(0, Piece::Star);
        }
    }

    pub fn append_star(&mut self) {
        if !self.ends_with_star() {
            self.pieces.push(Piece::Star);
        }
    }

    /// Maps every literal piece through `f` (encodings, dash variants), keeping wildcards.
    pub fn map_literals(&self, mut f: impl FnMut(&str) -> String) -> SigmaString {
        SigmaString {
            pieces: self
                .pieces
                .iter()
                .map(|p| match p {
                    Piece::Lit(l) => Piece::Lit(f(l)),
                    other => other.clone(),
                })
                .collect(),
        }
    }

    /// The longest literal run, the best anchor for a substring prefilter.
    pub fn longest_literal(&self) -> Option<&str> {
        self.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Lit(l) => Some(l.as_str()),
                _ => None,
            })
            .max_by_key(|l| l.len())
    }

    /// An anchored regular expression equivalent to this pattern.
    pub fn to_regex_source(&self, case_sensitive: bool) -> String {
        let mut re = String::from(if case_sensitive { "(?s)^" } else { "(?si)^" });
        for p in &self.pieces {
            match p {
                Piece::Lit(l) => re.push_str(&regex::escape(l)),
                Piece::Star => re.push_str(".*"),
                Piece::One => re.push('.'),
            }
        }
        re.push('$');
        re
    }
}

/// Largest compiled regex accepted from a rule.
const REGEX_SIZE_LIMIT: usize = 4 << 20;

/// A regular expression whose syntax is checked when its rule loads and which is compiled on
/// first use: compiling every rule's expressions up front dominated start-up, while most rules
/// never see an event that gets past the prefilter.
///
/// For ASCII expressions, semantics are PCRE's default (non-UTF) mode, which Sigma names as its
/// flavour: `\w`, `\d`, `\s`, `\b` and case folding are ASCII, and `.` matches one byte.
/// Besides matching what rule authors test against, this makes compiling about seven times
/// cheaper than with Unicode classes.
#[derive(Debug, Clone)]
pub struct LazyRegex {
    src: String,
    /// Unicode classes and case folding (wildcard patterns, where `?` is one character, and
    /// expressions with non-ASCII characters); otherwise PCRE's byte-wise default.
    unicode: bool,
    case_insensitive: bool,
    multi_line: bool,
    dot_all: bool,
    compiled: OnceLock<Option<Regex>>,
}

impl LazyRegex {
    /// Checks the syntax of a Sigma `re` value with the given flags. ASCII expressions get
    /// PCRE's byte-wise default; one with other characters (`[-/–]`) is compiled with Unicode
    /// semantics so those characters mean themselves.
    pub fn new(
        src: &str,
        case_insensitive: bool,
        multi_line: bool,
        dot_all: bool,
    ) -> Result<LazyRegex, String> {
        Self::with_mode(src, !src.is_ascii(), case_insensitive, multi_line, dot_all)
    }

    /// A regex with Unicode semantics (for wildcard patterns).
    pub fn unicode(src: &str) -> Result<LazyRegex, String> {
        Self::with_mode(src, true, false, false, false)
    }

    fn with_mode(
        src: &str,
        unicode: bool,
        case_insensitive: bool,
        multi_line: bool,
        dot_all: bool,
    ) -> Result<LazyRegex, String> {
        regex_syntax::ParserBuilder::new()
            .unicode(unicode)
            .utf8(unicode)
            .case_insensitive(case_insensitive)
            .multi_line(multi_line)
            .dot_matches_new_line(dot_all)
            .build()
            .parse(src)
            .map_err(|e| format!("invalid regular expression {src:?}: {e}"))?;
        Ok(LazyRegex {
            src: src.to_owned(),
            unicode,
            case_insensitive,
            multi_line,
            dot_all,
            compiled: OnceLock::new(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.src
    }

    /// Whether the expression matches anywhere in `text`. An expression too large to compile
    /// (over the size limit) matches nothing; that is logged once.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex().is_some_and(|r| r.is_match(text.as_bytes()))
    }

    fn regex(&self) -> Option<&Regex> {
        self.compiled
            .get_or_init(|| {
                RegexBuilder::new(&self.src)
                    .unicode(self.unicode)
                    .case_insensitive(self.case_insensitive)
                    .multi_line(self.multi_line)
                    .dot_matches_new_line(self.dot_all)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| {
                        tracing::warn!("regular expression {:?} not usable: {e}", self.src)
                    })
                    .ok()
            })
            .as_ref()
    }
}

/// How a string value compares with a field's text.
#[derive(Debug, Clone)]
pub enum StrOp {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    /// Inner wildcards whose literal parts compare byte-wise (see [`ascii_foldable`]): a
    /// direct wildcard matcher, plus the longest literal for prefiltering.
    Wildcard(Vec<Piece>, Option<String>),
    /// Other inner wildcards: an anchored regex, plus the longest literal for prefiltering.
    Glob(LazyRegex, Option<String>),
    /// `*` alone: any value that is present and not null.
    Any,
}

/// Whether comparing bytes with ASCII case folding is exact for this (lower-case) needle: every
/// character is ASCII or has no case (dashes, digits of other scripts, CJK). Such needles need
/// no Unicode lower-casing of the haystack, and can be prefilter needles.
pub fn ascii_foldable(needle: &str) -> bool {
    needle.chars().all(|c| {
        c.is_ascii()
            || (c.to_lowercase().eq(std::iter::once(c)) && c.to_uppercase().eq(std::iter::once(c)))
    })
}

/// A compiled string comparison.
#[derive(Debug, Clone)]
pub struct StrMatcher {
    pub op: StrOp,
    pub cased: bool,
    /// Byte-wise ASCII folding is exact for the needle (see [`ascii_foldable`]).
    fold_bytes: bool,
    /// For `Exact` values that are integers: compare numerically with integer fields.
    pub int: Option<i64>,
}

impl StrMatcher {
    /// Compiles a parsed Sigma string. Needles are stored lower-case unless `cased`.
    pub fn new(s: &SigmaString, cased: bool) -> Result<StrMatcher, String> {
        let fold = |t: &str| {
            if cased {
                t.to_owned()
            } else {
                t.to_lowercase()
            }
        };
        let op = match s.pieces.as_slice() {
            [] => StrOp::Exact(String::new()),
            [Piece::Star] => StrOp::Any,
            [Piece::Lit(l)] => StrOp::Exact(fold(l)),
            [Piece::Lit(l), Piece::Star] => StrOp::Prefix(fold(l)),
            [Piece::Star, Piece::Lit(l)] => StrOp::Suffix(fold(l)),
            [Piece::Star, Piece::Lit(l), Piece::Star] => StrOp::Contains(fold(l)),
            pieces
                if pieces.iter().all(|p| match p {
                    Piece::Lit(l) => cased || ascii_foldable(&l.to_lowercase()),
                    _ => true,
                }) =>
            {
                let pieces = pieces
                    .iter()
                    .map(|p| match p {
                        Piece::Lit(l) => Piece::Lit(fold(l)),
                        other => other.clone(),
                    })
                    .collect();
                StrOp::Wildcard(pieces, s.longest_literal().map(fold))
            }
            _ => StrOp::Glob(
                LazyRegex::unicode(&s.to_regex_source(cased))?,
                s.longest_literal().map(fold),
            ),
        };
        let int = match &op {
            // Canonical integers only: "0042" must keep matching as text.
            StrOp::Exact(t)
                if !t.is_empty()
                    && t.bytes().all(|b| b.is_ascii_digit())
                    && (t == "0" || !t.starts_with('0')) =>
            {
                t.parse().ok()
            }
            _ => None,
        };
        let fold_bytes = match &op {
            StrOp::Exact(n) | StrOp::Prefix(n) | StrOp::Suffix(n) | StrOp::Contains(n) => {
                ascii_foldable(n)
            }
            StrOp::Wildcard(..) | StrOp::Glob(..) | StrOp::Any => false,
        };
        Ok(StrMatcher {
            op,
            cased,
            int,
            fold_bytes,
        })
    }

    /// Whether `hay` satisfies the comparison.
    pub fn matches(&self, hay: &str) -> bool {
        match &self.op {
            StrOp::Any => true,
            StrOp::Glob(re, _) => re.is_match(hay),
            StrOp::Wildcard(pieces, _) => wildcard_match(pieces, hay.as_bytes(), !self.cased),
            StrOp::Exact(n) => self.cmp(hay, n, |h, n| h == n, eq_fold),
            StrOp::Prefix(n) => self.cmp(hay, n, |h, n| h.starts_with(n), prefix_fold),
            StrOp::Suffix(n) => self.cmp(hay, n, |h, n| h.ends_with(n), suffix_fold),
            StrOp::Contains(n) => self.cmp(hay, n, |h, n| h.contains(n), contains_fold),
        }
    }

    fn cmp(
        &self,
        hay: &str,
        needle: &str,
        exact: fn(&str, &str) -> bool,
        folded: fn(&[u8], &[u8]) -> bool,
    ) -> bool {
        if self.cased {
            return exact(hay, needle);
        }
        if self.fold_bytes {
            // Fold ASCII bytes only: the needle's other characters have no case, so the
            // haystack's bytes must equal them exactly.
            return folded(hay.as_bytes(), needle.as_bytes());
        }
        exact(&hay.to_lowercase(), needle)
    }

    /// For a case-insensitive `contains` whose needle byte-wise ASCII folding compares exactly,
    /// the needle: such matchers can be merged into one Aho-Corasick search.
    pub fn foldable_contains(&self) -> Option<&str> {
        match &self.op {
            StrOp::Contains(n) if !self.cased && self.fold_bytes && !n.is_empty() => Some(n),
            _ => None,
        }
    }

    /// The literal every matching text must contain (lower-case), for prefiltering.
    /// Only literals that ASCII case folding compares exactly qualify.
    pub fn required_literal(&self) -> Option<&str> {
        let lit = match &self.op {
            StrOp::Exact(n) | StrOp::Prefix(n) | StrOp::Suffix(n) | StrOp::Contains(n) => {
                n.as_str()
            }
            StrOp::Glob(_, lit) | StrOp::Wildcard(_, lit) => lit.as_deref()?,
            StrOp::Any => return None,
        };
        (!lit.is_empty() && ascii_foldable(lit)).then_some(lit)
    }
}

/// Length of the UTF-8 character starting with byte `b`.
fn char_len(b: u8) -> usize {
    match b {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// Matches a whole text against wildcard pieces: `*` any run of characters, `?` one
/// character, literals compared byte-wise (ASCII case folded when `fold`). The classic
/// single-backtrack algorithm: on a mismatch, retry from the most recent `*` one character
/// further, which is exact for `*` patterns and linear in practice.
pub fn wildcard_match(pieces: &[Piece], hay: &[u8], fold: bool) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut resume: Option<(usize, usize)> = None;
    loop {
        let advanced = match pieces.get(p) {
            Some(Piece::Star) => {
                resume = Some((p + 1, t));
                p += 1;
                true
            }
            Some(Piece::Lit(l)) => {
                let l = l.as_bytes();
                let ok = hay.len() - t >= l.len()
                    && if fold {
                        hay[t..t + l.len()].eq_ignore_ascii_case(l)
                    } else {
                        &hay[t..t + l.len()] == l
                    };
                if ok {
                    t += l.len();
                    p += 1;
                }
                ok
            }
            Some(Piece::One) => {
                let ok = t < hay.len();
                if ok {
                    t += char_len(hay[t]).min(hay.len() - t);
                    p += 1;
                }
                ok
            }
            None if t == hay.len() => return true,
            None => false,
        };
        if advanced {
            continue;
        }
        let Some((rp, rt)) = resume else {
            return false;
        };
        if rt >= hay.len() {
            return false;
        }
        let next = rt + char_len(hay[rt]).min(hay.len() - rt);
        resume = Some((rp, next));
        p = rp;
        t = next;
    }
}

fn eq_fold(h: &[u8], n: &[u8]) -> bool {
    h.eq_ignore_ascii_case(n)
}

fn prefix_fold(h: &[u8], n: &[u8]) -> bool {
    h.len() >= n.len() && h[..n.len()].eq_ignore_ascii_case(n)
}

fn suffix_fold(h: &[u8], n: &[u8]) -> bool {
    h.len() >= n.len() && h[h.len() - n.len()..].eq_ignore_ascii_case(n)
}

/// Case-insensitive substring search for an ASCII, lower-case needle: jump between candidate
/// positions of the first byte (either case) with `memchr2`, then compare the rest.
pub fn contains_fold(h: &[u8], n: &[u8]) -> bool {
    let Some((&first, rest)) = n.split_first() else {
        return true;
    };
    if h.len() < n.len() {
        return false;
    }
    let last_start = h.len() - n.len();
    let upper = first.to_ascii_uppercase();
    let mut from = 0;
    while from <= last_start {
        let window = &h[from..=last_start];
        let Some(i) = memchr::memchr2(first, upper, window) else {
            return false;
        };
        let at = from + i;
        if h[at + 1..at + n.len()].eq_ignore_ascii_case(rest) {
            return true;
        }
        from = at + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(raw: &str) -> StrMatcher {
        StrMatcher::new(&SigmaString::parse(raw), false).unwrap()
    }

    #[test]
    fn escaping_follows_the_specification() {
        assert_eq!(
            SigmaString::parse(r"C:\Windows\*").pieces,
            [Piece::Lit(r"C:\Windows*".into())]
        );
        assert_eq!(
            SigmaString::parse(r"C:\Windows\\*").pieces,
            [Piece::Lit(r"C:\Windows\".into()), Piece::Star]
        );
        assert_eq!(
            SigmaString::parse(r"a\*b").pieces,
            [Piece::Lit("a*b".into())]
        );
        assert_eq!(
            SigmaString::parse(r"\\*").pieces,
            [Piece::Lit(r"\".into()), Piece::Star]
        );
        assert_eq!(
            SigmaString::parse(r"\\\*").pieces,
            [Piece::Lit(r"\*".into())]
        );
        assert_eq!(
            SigmaString::parse(r"\\\\server").pieces,
            [Piece::Lit(r"\\server".into())]
        );
        assert_eq!(SigmaString::parse(r"a\?").pieces, [Piece::Lit("a?".into())]);
        assert_eq!(SigmaString::parse(r"x\").pieces, [Piece::Lit(r"x\".into())]);
    }

    #[test]
    fn shapes_and_case() {
        assert!(m("cmd.exe").matches("CMD.EXE"));
        assert!(!m("cmd.exe").matches("xcmd.exe"));
        assert!(m(r"*\cmd.exe").matches(r"C:\Windows\System32\CMD.exe"));
        assert!(m("C:\\Windows\\\\*").matches("c:\\windows\\x"));
        assert!(m("*mimikatz*").matches("run MimiKatz now"));
        assert!(m("prog?.exe").matches("progA.exe"));
        assert!(!m("prog?.exe").matches("prog.exe"));
        assert!(m("a*b*c").matches("AxxBxxC"));
        assert!(m("*").matches(""));
        assert!(m("").matches(""));
        assert!(!m("").matches("x"));
        assert!(m("*ÄRGER*").matches("großer ärger"));
        assert!(m("*\u{2013}enc*").matches("x \u{2013}ENC y"));
        assert!(!m("*\u{2013}enc*").matches("x -enc y"));
        assert!(ascii_foldable("\u{2013}enc"));
        assert!(!ascii_foldable("ärger"));
    }

    #[test]
    fn cased_values_respect_case() {
        let c = StrMatcher::new(&SigmaString::parse("*Evil*"), true).unwrap();
        assert!(c.matches("an Evil thing"));
        assert!(!c.matches("an evil thing"));
    }

    proptest! {
        #[test]
        fn contains_fold_agrees_with_lowercase_search(h in "[a-zA-Z ]{0,40}", n in "[a-z]{1,4}") {
            prop_assert_eq!(
                contains_fold(h.as_bytes(), n.as_bytes()),
                h.to_ascii_lowercase().contains(&n)
            );
        }

        #[test]
        fn literal_values_match_themselves_in_any_case(s in "[ -~]{0,30}") {
            let escaped = s.replace('\\', "\\\\").replace('*', "\\*").replace('?', "\\?");
            let matcher = m(&escaped);
            prop_assert!(matcher.matches(&s));
            prop_assert!(matcher.matches(&s.to_ascii_uppercase()));
        }

        #[test]
        fn contains_modifier_matches_any_embedding(pre in "[ -~]{0,10}", s in "[a-zA-Z0-9]{1,10}", post in "[ -~]{0,10}") {
            let matcher = m(&format!("*{s}*"));
            let hay = format!("{pre}{s}{post}");
            prop_assert!(matcher.matches(&hay));
        }

        #[test]
        fn wildcards_agree_with_regex_reference(h in "[aBé]{0,10}", p in "[abé*?]{0,7}") {
            let matcher = m(&p);
            let reference = regex::Regex::new(&SigmaString::parse(&p).to_regex_source(false)).unwrap();
            prop_assert_eq!(matcher.matches(&h), reference.is_match(&h), "pattern {:?} text {:?}", p, h);
        }

        #[test]
        fn glob_agrees_with_regex_reference(h in "[ab]{0,8}", p in "[ab*?]{0,6}") {
            let matcher = m(&p);
            let reference = regex::Regex::new(&SigmaString::parse(&p).to_regex_source(false)).unwrap();
            prop_assert_eq!(matcher.matches(&h), reference.is_match(&h));
        }
    }
}

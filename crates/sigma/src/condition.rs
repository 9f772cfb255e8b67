//! The `condition` expression: `and`, `or`, `not`, parentheses, `1 of`/`all of` with search
//! identifier patterns or `them`.
//!
//! Precedence, loosest first: `or`, `and`, `not`, `x of`, parentheses. Keywords are
//! case-insensitive. Sigma v1 aggregations (`| count() > 5`, `near`) are rejected with a pointer
//! to correlation rules.

/// Parsed condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Search(String),
    /// `1 of pattern`: any matching search.
    AnyOf(Quantified),
    /// `all of pattern`: every matching search.
    AllOf(Quantified),
}

/// What `x of` ranges over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quantified {
    /// Every search not starting with `_`.
    Them,
    /// Searches whose names match a `*` pattern.
    Pattern(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    One,
    All,
    Of,
    Them,
    Ident(String),
    Pipe,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        match c {
            '(' => {
                chars.next();
                toks.push(Tok::LParen);
            }
            ')' => {
                chars.next();
                toks.push(Tok::RParen);
            }
            '|' => {
                chars.next();
                toks.push(Tok::Pipe);
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.' | '?') => {
                let mut end = i;
                while let Some(&(j, c)) = chars.peek() {
                    if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.' | '?') {
                        end = j + c.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let word = &s[i..end];
                toks.push(match word.to_ascii_lowercase().as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    "1" | "any" => Tok::One,
                    "all" => Tok::All,
                    "of" => Tok::Of,
                    "them" => Tok::Them,
                    _ => Tok::Ident(word.to_owned()),
                });
            }
            other => return Err(format!("unexpected character {other:?} at position {i}")),
        }
    }
    Ok(toks)
}

/// Parses a condition string.
pub fn parse(s: &str) -> Result<Cond, String> {
    let toks = if s.contains('|') {
        vec![Tok::Pipe]
    } else {
        tokenize(s)?
    };
    if toks.contains(&Tok::Pipe) {
        return Err(
            "aggregation expressions (`| count() …`) are Sigma v1; write a correlation rule".into(),
        );
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let cond = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!(
            "unexpected {:?} after a complete condition",
            p.toks[p.pos]
        ));
    }
    Ok(cond)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

/// Deepest nesting of parentheses and `not` accepted.
const MAX_DEPTH: usize = 100;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::Or(items)
        })
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.not()?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::And(items)
        })
    }

    fn not(&mut self) -> Result<Cond, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("condition nested deeper than {MAX_DEPTH} levels"));
        }
        let result = if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            self.not().map(|c| Cond::Not(Box::new(c)))
        } else {
            self.primary()
        };
        self.depth -= 1;
        result
    }

    fn primary(&mut self) -> Result<Cond, String> {
        match self.next() {
            Some(Tok::LParen) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(inner),
                    _ => Err("missing closing parenthesis".into()),
                }
            }
            Some(q @ (Tok::One | Tok::All)) => {
                if self.next() != Some(Tok::Of) {
                    return Err("expected `of` after `1`/`all`".into());
                }
                let target = match self.next() {
                    Some(Tok::Them) => Quantified::Them,
                    Some(Tok::Ident(p)) => Quantified::Pattern(p),
                    other => {
                        return Err(format!(
                            "expected a search pattern or `them`, found {other:?}"
                        ));
                    }
                };
                Ok(if q == Tok::One {
                    Cond::AnyOf(target)
                } else {
                    Cond::AllOf(target)
                })
            }
            Some(Tok::Ident(name)) => Ok(Cond::Search(name)),
            Some(other) => Err(format!("unexpected {other:?}")),
            None => Err("the condition ends too early".into()),
        }
    }
}

/// Whether a search name matches an `x of` pattern (`*` any run, `?` one byte).
///
/// Greedy matching that only ever backtracks to the most recent `*`: a later star can absorb
/// anything an earlier one could, so O(pattern × name) steps suffice. (Trying every split per
/// star, as a naive recursion does, is exponential in the number of stars: a hostile rule's
/// `1 of *a*a*a*…` would hang the loader.)
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    // After the last `*` seen: the pattern position following it, and where in the name its
    // run currently ends.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some(b'*') => {
                pi += 1;
                star = Some((pi, ni));
            }
            Some(&c) if c == b'?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((after, run_end)) => {
                    pi = after;
                    ni = run_end + 1;
                    star = Some((after, ni));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: &str) -> Cond {
        Cond::Search(n.into())
    }

    #[test]
    fn precedence() {
        assert_eq!(
            parse("a or b and not c").unwrap(),
            Cond::Or(vec![
                s("a"),
                Cond::And(vec![s("b"), Cond::Not(Box::new(s("c")))])
            ])
        );
        assert_eq!(
            parse("(a or b) and c").unwrap(),
            Cond::And(vec![Cond::Or(vec![s("a"), s("b")]), s("c")])
        );
    }

    #[test]
    fn quantifiers() {
        assert_eq!(
            parse("selection and not 1 of filter_*").unwrap(),
            Cond::And(vec![
                s("selection"),
                Cond::Not(Box::new(Cond::AnyOf(Quantified::Pattern(
                    "filter_*".into()
                ))))
            ])
        );
        assert_eq!(parse("all of them").unwrap(), Cond::AllOf(Quantified::Them));
        assert_eq!(
            parse("ALL OF sel*").unwrap(),
            Cond::AllOf(Quantified::Pattern("sel*".into()))
        );
    }

    #[test]
    fn errors() {
        assert!(parse("a and").is_err());
        assert!(parse("(a").is_err());
        assert!(parse("a b").is_err());
        assert!(
            parse("sel | count() > 5")
                .unwrap_err()
                .contains("correlation")
        );
        assert!(parse("1 of").is_err());
        assert!(parse("a & b").is_err());
        assert!(parse(&("(".repeat(10_000) + "a" + &")".repeat(10_000))).is_err());
        assert!(parse(&"not ".repeat(10_000)).is_err());
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("filter_*", "filter_main"));
        assert!(pattern_matches("sel*", "sel"));
        assert!(!pattern_matches("sel*", "xsel"));
        assert!(pattern_matches("*", "anything"));
        assert!(pattern_matches("sel?", "sel1"));
        assert!(!pattern_matches("sel?", "sel"));
        assert!(pattern_matches("*_*_x", "a_b_c_x"));
        assert!(!pattern_matches("a*b", "ab_c"));
        assert!(pattern_matches("", ""));
        assert!(!pattern_matches("", "a"));
    }

    /// Found by the `sigma_condition` fuzz target: many stars made the old recursive matcher
    /// exponential (a 75-byte condition ran for minutes).
    #[test]
    fn many_stars_match_in_linear_time() {
        let cond = " any of  *******o****wwww or wwccww or wwwwww or wwwwwwww or ww or wwwo*";
        let start = std::time::Instant::now();
        assert!(!pattern_matches("*******o****wwww", cond));
        let pattern = "*a".repeat(200) + "b";
        assert!(!pattern_matches(&pattern, &"a".repeat(5000)));
        assert!(pattern_matches(&pattern, &("a".repeat(300) + "b")));
        // Generous: the old matcher needed minutes for the first case alone.
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    proptest::proptest! {
        #[test]
        fn patterns_agree_with_a_regex_reference(p in "[ab*?]{0,10}", n in "[ab]{0,10}") {
            let re: String = p
                .chars()
                .map(|c| match c {
                    '*' => ".*".to_owned(),
                    '?' => ".".to_owned(),
                    c => c.to_string(),
                })
                .collect();
            let re = regex::Regex::new(&format!("(?s)^{re}$")).unwrap();
            proptest::prop_assert_eq!(pattern_matches(&p, &n), re.is_match(&n));
        }
    }
}

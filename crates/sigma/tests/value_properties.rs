//! Property tests for Sigma value matching and conditions, through the compiled rule (the way
//! the engine evaluates them): windash variants, base64offset against the `base64` crate, CIDR
//! membership, and condition semantics on random truth assignments.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use palisade_event::{Event, Origin, Value};
use palisade_sigma::compile::{CompiledDetection, compile_detection};
use palisade_sigma::condition;
use palisade_sigma::modifier::{ModifierContext, RawValue};
use palisade_sigma::rule::{Detection, Search, SearchItem};
use proptest::prelude::*;

/// One search `sel` with one item, condition `sel`.
fn compile_item(key: &str, value: &str) -> CompiledDetection {
    let detection = Detection {
        searches: vec![(
            "sel".into(),
            Search::Map(vec![SearchItem {
                key: key.into(),
                values: vec![RawValue::Str(value.into())],
                line: 1,
            }]),
        )],
        conditions: vec!["sel".into()],
    };
    compile_detection(
        &detection,
        &[],
        &ModifierContext::default(),
        &mut Vec::new(),
    )
    .unwrap_or_else(|e| panic!("{key}: {value:?}: {e}"))
}

fn event(fields: &[(&str, Value)]) -> Event {
    let mut e = Event::new(Origin::default(), "test");
    for (k, v) in fields {
        e.insert_named(k, v.clone()).unwrap();
    }
    e
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// Words, some of them flags (`-x` or `/x`), joined by spaces.
fn command_line() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        "[a-z0-9]{1,6}",
        "-[a-zA-Z][a-z0-9]{0,4}",
        "/[a-zA-Z][a-z0-9]{0,4}",
        "[a-z]{1,3}-[a-z]{1,3}",
    ];
    proptest::collection::vec(word, 1..6).prop_map(|w| w.join(" "))
}

/// Positions of the characters windash treats as flag dashes.
fn flag_positions(s: &str) -> Vec<usize> {
    let chars: Vec<char> = s.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    (0..chars.len())
        .filter(|&i| {
            (chars[i] == '-' || chars[i] == '/')
                && (i == 0 || !word(chars[i - 1]))
                && chars.get(i + 1).is_some_and(|n| word(*n))
        })
        .collect()
}

fn replace_at(s: &str, positions: &[usize], with: impl Fn(usize) -> char) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| match positions.iter().position(|&p| p == i) {
            Some(k) => with(k),
            None => c,
        })
        .collect()
}

/// A random network and an address inside it.
fn net_and_inside_v4() -> impl Strategy<Value = (Ipv4Addr, u8, Ipv4Addr)> {
    (any::<u32>(), 0u8..=32, any::<u32>()).prop_map(|(base, len, host)| {
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        let net = base & mask;
        (
            Ipv4Addr::from(net),
            len,
            Ipv4Addr::from(net | (host & !mask)),
        )
    })
}

fn net_and_inside_v6() -> impl Strategy<Value = (Ipv6Addr, u8, Ipv6Addr)> {
    (any::<u128>(), 1u8..=128, any::<u128>()).prop_map(|(base, len, host)| {
        let mask = u128::MAX << (128 - u32::from(len));
        let net = base & mask;
        (
            Ipv6Addr::from(net),
            len,
            Ipv6Addr::from(net | (host & !mask)),
        )
    })
}

/// A boolean expression over the searches `s0`…`s3`.
#[derive(Debug, Clone)]
enum Expr {
    Var(usize),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    fn eval(&self, truth: &[bool]) -> bool {
        match self {
            Expr::Var(i) => truth[*i],
            Expr::Not(e) => !e.eval(truth),
            Expr::And(a, b) => a.eval(truth) && b.eval(truth),
            Expr::Or(a, b) => a.eval(truth) || b.eval(truth),
        }
    }

    /// Written with parentheses only where precedence (`not` > `and` > `or`) needs them.
    fn render(&self, keyword_case: bool) -> String {
        let (and, or, not) = if keyword_case {
            ("AND", "Or", "NOT")
        } else {
            ("and", "or", "not")
        };
        match self {
            Expr::Var(i) => format!("s{i}"),
            Expr::Not(e) => match **e {
                Expr::Var(_) | Expr::Not(_) => format!("{not} {}", e.render(keyword_case)),
                _ => format!("{not} ({})", e.render(keyword_case)),
            },
            Expr::And(a, b) => {
                let side = |e: &Expr| match e {
                    Expr::Or(..) => format!("({})", e.render(keyword_case)),
                    _ => e.render(keyword_case),
                };
                format!("{} {and} {}", side(a), side(b))
            }
            Expr::Or(a, b) => format!("{} {or} {}", a.render(keyword_case), b.render(keyword_case)),
        }
    }
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = (0usize..4).prop_map(Expr::Var);
    leaf.prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
        ]
    })
}

/// Searches `s0`…`s3`, each true when its field `p.f<i>` is `yes`.
fn compile_condition(condition: &str) -> Result<CompiledDetection, String> {
    let searches = (0..4)
        .map(|i| {
            (
                format!("s{i}"),
                Search::Map(vec![SearchItem {
                    key: format!("p.f{i}"),
                    values: vec![RawValue::Str("yes".into())],
                    line: 1,
                }]),
            )
        })
        .collect();
    let detection = Detection {
        searches,
        conditions: vec![condition.to_owned()],
    };
    compile_detection(
        &detection,
        &[],
        &ModifierContext::default(),
        &mut Vec::new(),
    )
}

fn truth_event(truth: &[bool]) -> Event {
    let names: Vec<String> = (0..truth.len()).map(|i| format!("p.f{i}")).collect();
    let fields: Vec<(&str, Value)> = names
        .iter()
        .zip(truth)
        .map(|(n, t)| (n.as_str(), Value::from(if *t { "yes" } else { "no" })))
        .collect();
    event(&fields)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn windash_matches_every_dash_spelling(
        value in command_line(),
        picks in proptest::collection::vec(0usize..5, 8),
        pre in "[a-z ]{0,5}",
        post in "[a-z ]{0,5}",
    ) {
        let rule = compile_item("CommandLine|windash|contains", &value);
        let flags = flag_positions(&value);
        let spelled = replace_at(&value, &flags, |k| DASHES[picks[k % picks.len()]]);
        let hay = format!("{pre}{spelled}{post}");
        prop_assert!(
            rule.matches(&event(&[("CommandLine", hay.as_str().into())])),
            "{value:?} missed {hay:?}"
        );
        // Something that is no dash in a flag position matches none of the variants.
        if !flags.is_empty() {
            let other = replace_at(&value, &flags, |_| '+');
            prop_assert!(!rule.matches(&event(&[("CommandLine", other.as_str().into())])));
        }
    }

    #[test]
    fn base64offset_finds_the_value_at_any_offset(
        value in "[a-zA-Z0-9 .,:;=+/-]{1,24}",
        pre in proptest::collection::vec(any::<u8>(), 0..12),
        post in proptest::collection::vec(any::<u8>(), 0..12),
    ) {
        let rule = compile_item("Payload|base64offset|contains", &value);
        let mut plain = pre.clone();
        plain.extend_from_slice(value.as_bytes());
        plain.extend_from_slice(&post);
        let encoded = b64(&plain);
        prop_assert!(
            rule.matches(&event(&[("Payload", encoded.as_str().into())])),
            "{value:?} not found in {encoded} (offset {})", pre.len() % 3
        );
        // The same through UTF-16: `wide` before `base64offset`, as PowerShell's -enc.
        let wide = compile_item("Payload|wide|base64offset|contains", &value);
        let text = format!("{}{value}{}", "x".repeat(pre.len()), "y".repeat(post.len()));
        let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let encoded = b64(&utf16);
        prop_assert!(wide.matches(&event(&[("Payload", encoded.as_str().into())])));
    }

    #[test]
    fn cidr_v4_contains_exactly_its_addresses(
        (net, len, inside) in net_and_inside_v4(),
        flip in 0u32..32,
    ) {
        let rule = compile_item("ip|cidr", &format!("{net}/{len}"));
        let hit = |ip: IpAddr| rule.matches(&event(&[("ip", ip.to_string().into())]));
        prop_assert!(hit(IpAddr::V4(inside)));
        // IPv4-mapped IPv6 spellings are the same address.
        let mapped = inside.to_ipv6_mapped();
        prop_assert!(rule.matches(&event(&[("ip", mapped.to_string().into())])));
        if len > 0 {
            // Flipping a network bit leaves the network.
            let bit = 31 - (flip % u32::from(len));
            let outside = Ipv4Addr::from(u32::from(inside) ^ (1 << bit));
            prop_assert!(!hit(IpAddr::V4(outside)), "{outside} in {net}/{len}");
        }
    }

    #[test]
    fn cidr_v6_contains_exactly_its_addresses(
        (net, len, inside) in net_and_inside_v6(),
        flip in 0u32..128,
    ) {
        // IPv4-mapped space is compared as IPv4; keep this test to real IPv6.
        prop_assume!(inside.to_ipv4_mapped().is_none() && net.to_ipv4_mapped().is_none());
        let rule = compile_item("ip|cidr", &format!("{net}/{len}"));
        let hit = |ip: Ipv6Addr| rule.matches(&event(&[("ip", ip.to_string().into())]));
        prop_assert!(hit(inside));
        let bit = 127 - (flip % u32::from(len));
        let outside = Ipv6Addr::from(u128::from(inside) ^ (1 << bit));
        prop_assume!(outside.to_ipv4_mapped().is_none());
        prop_assert!(!hit(outside), "{outside} in {net}/{len}");
    }

    #[test]
    fn condition_parser_never_panics(s in "\\PC{0,80}") {
        let _ = condition::parse(&s);
    }

    #[test]
    fn condition_parser_never_panics_on_near_conditions(
        toks in proptest::collection::vec(
            prop_oneof![
                Just("s0"), Just("s1"), Just("and"), Just("or"), Just("not"), Just("("),
                Just(")"), Just("1 of"), Just("all of"), Just("them"), Just("s*"), Just("|"),
            ],
            0..24,
        )
    ) {
        let text = toks.join(" ");
        if let Ok(d) = compile_condition(&text) {
            let _ = d.matches(&truth_event(&[true, false, true, false]));
        }
    }

    #[test]
    fn conditions_follow_boolean_logic(e in expr(), truth in proptest::collection::vec(any::<bool>(), 4), upper in any::<bool>()) {
        let text = e.render(upper);
        let compiled = compile_condition(&text).unwrap_or_else(|err| panic!("{text}: {err}"));
        let ev = truth_event(&truth);
        prop_assert_eq!(compiled.matches(&ev), e.eval(&truth), "{} with {:?}", text, truth);
        // `1 of s*` is any of the four, `all of s*` all of them, `not` their negation.
        let any = truth.iter().any(|t| *t);
        let all = truth.iter().all(|t| *t);
        for (cond, want) in [
            ("1 of s*", any),
            ("all of s*", all),
            ("not 1 of s*", !any),
            ("not all of them", !all),
            ("s0 and not s0", false),
            ("s1 or not s1", true),
        ] {
            let c = compile_condition(cond).unwrap();
            prop_assert_eq!(c.matches(&ev), want, "{} with {:?}", cond, truth);
        }
    }
}

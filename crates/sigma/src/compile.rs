//! Compiles a parsed rule into an expression over predicates that evaluates an [`Event`]
//! without allocating, and works out the literals any match must contain (for the prefilter).

use std::net::IpAddr;

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind};
use chrono::{DateTime, Datelike, Timelike, Utc};
use palisade_event::{Event, FieldId, Value};

use crate::condition::{self, Cond, Quantified};
use crate::logsource::Tri;
use crate::modifier::{
    ModifierContext, Predicate, RefShape, TimePart, ValueMatcher, Warnings, build_predicate,
};
use crate::pattern::{StrMatcher, StrOp, contains_fold};
use crate::rule::{Detection, Search};

/// Boolean structure of a rule's condition; leaves index its predicates.
#[derive(Debug, Clone)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Pred(u32),
    Const(bool),
}

/// A predicate with its field names resolved to interned ids.
#[derive(Debug, Clone)]
pub struct CompiledPredicate {
    /// `None` searches every field (keywords).
    pub field: Option<FieldId>,
    pub groups: Vec<Vec<Matcher>>,
    pub all: bool,
    pub negate: bool,
    /// For "any of many `contains` values" (a common rule shape with dozens of values): one
    /// automaton over those needles instead of one scan per value. Built only once the
    /// predicate has been evaluated [`CONTAINS_SET_WARMUP`] times: building one costs about as
    /// much as a few hundred plain scans, and most predicates are evaluated far less often.
    contains_set: OnceLock<Option<Box<ContainsSet>>>,
    evaluations: Evaluations,
}

/// Evaluations after which a predicate's contains set is built.
const CONTAINS_SET_WARMUP: u32 = 256;

/// A counter that starts afresh when its predicate is cloned (a clone is a new instance).
#[derive(Debug, Default)]
struct Evaluations(std::sync::atomic::AtomicU32);

impl Clone for Evaluations {
    fn clone(&self) -> Self {
        Evaluations::default()
    }
}

impl Evaluations {
    /// Counts one evaluation; true once the warm-up is over.
    fn warmed_up(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let n = self.0.load(Relaxed);
        if n >= CONTAINS_SET_WARMUP {
            return true;
        }
        self.0.store(n + 1, Relaxed);
        false
    }
}

/// The `contains` alternatives of a predicate merged into one search, plus the others.
#[derive(Debug, Clone)]
struct ContainsSet {
    automaton: AhoCorasick,
    rest: Vec<Matcher>,
}

/// Fewest `contains` values worth an automaton of their own.
const CONTAINS_SET_MIN: usize = 4;

fn contains_set(groups: &[Vec<Matcher>], all: bool) -> Option<Box<ContainsSet>> {
    if all {
        return None;
    }
    let mut needles = Vec::new();
    let mut rest = Vec::new();
    for m in groups.iter().flatten() {
        match m {
            Matcher::Value(ValueMatcher::Str(s)) if s.foldable_contains().is_some() => {
                needles.push(s.foldable_contains().unwrap_or_default().to_owned());
            }
            other => rest.push(other.clone()),
        }
    }
    if needles.len() < CONTAINS_SET_MIN {
        return None;
    }
    let automaton = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .kind(Some(AhoCorasickKind::ContiguousNFA))
        .build(&needles)
        .ok()?;
    Some(Box::new(ContainsSet { automaton, rest }))
}

/// A value comparison with field references resolved.
#[derive(Debug, Clone)]
pub enum Matcher {
    Value(ValueMatcher),
    FieldRef {
        field: FieldId,
        shape: RefShape,
        cased: bool,
    },
}

/// A rule body ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledDetection {
    pub expr: Expr,
    pub preds: Vec<CompiledPredicate>,
}

/// Compiles a detection (and any filter detections ANDed onto it).
pub fn compile_detection(
    main: &Detection,
    filters: &[&Detection],
    ctx: &ModifierContext,
    warnings: &mut Warnings,
) -> Result<CompiledDetection, String> {
    let mut preds = Vec::new();
    let mut parts = vec![compile_one(main, ctx, warnings, &mut preds)?];
    for f in filters {
        parts.push(compile_one(f, ctx, warnings, &mut preds).map_err(|e| format!("filter: {e}"))?);
    }
    let expr = if parts.len() == 1 {
        parts.remove(0)
    } else {
        Expr::And(parts)
    };
    Ok(CompiledDetection { expr, preds })
}

fn compile_one(
    det: &Detection,
    ctx: &ModifierContext,
    warnings: &mut Warnings,
    preds: &mut Vec<CompiledPredicate>,
) -> Result<Expr, String> {
    let mut searches: Vec<(&str, Expr)> = Vec::with_capacity(det.searches.len());
    for (name, search) in &det.searches {
        let e = compile_search(search, ctx, warnings, preds)
            .map_err(|e| format!("search `{name}`: {e}"))?;
        searches.push((name, e));
    }
    let mut conds = Vec::with_capacity(det.conditions.len());
    for c in &det.conditions {
        let parsed = condition::parse(c).map_err(|e| format!("condition {c:?}: {e}"))?;
        conds.push(resolve(&parsed, &searches).map_err(|e| format!("condition {c:?}: {e}"))?);
    }
    Ok(if conds.len() == 1 {
        conds.remove(0)
    } else {
        Expr::Or(conds)
    })
}

fn compile_search(
    search: &Search,
    ctx: &ModifierContext,
    warnings: &mut Warnings,
    preds: &mut Vec<CompiledPredicate>,
) -> Result<Expr, String> {
    Ok(match search {
        Search::Map(items) => {
            let mut all = Vec::with_capacity(items.len());
            for item in items {
                let p = build_predicate(&item.key, &item.values, ctx, warnings)
                    .map_err(|e| format!("line {}: `{}`: {e}", item.line, item.key))?;
                all.push(push_pred(p, preds)?);
            }
            and(all)
        }
        Search::Any(items) => Expr::Or(
            items
                .iter()
                .map(|s| compile_search(s, ctx, warnings, preds))
                .collect::<Result<_, _>>()?,
        ),
        Search::Keywords(values) => {
            let p = build_predicate("", values, ctx, warnings)?;
            push_pred(p, preds)?
        }
    })
}

fn and(mut items: Vec<Expr>) -> Expr {
    if items.len() == 1 {
        items.remove(0)
    } else {
        Expr::And(items)
    }
}

fn intern(name: &str) -> Result<FieldId, String> {
    FieldId::intern(name).map_err(|e| format!("field {name:?}: {e}"))
}

fn push_pred(p: Predicate, preds: &mut Vec<CompiledPredicate>) -> Result<Expr, String> {
    let field = p.field.as_deref().map(intern).transpose()?;
    let mut groups = Vec::with_capacity(p.groups.len());
    for g in p.groups {
        let mut out = Vec::with_capacity(g.len());
        for m in g {
            out.push(match m {
                ValueMatcher::FieldRef {
                    field,
                    shape,
                    cased,
                } => Matcher::FieldRef {
                    field: intern(&field)?,
                    shape,
                    cased,
                },
                other => Matcher::Value(other),
            });
        }
        groups.push(out);
    }
    let idx = u32::try_from(preds.len()).map_err(|_| "too many predicates")?;
    preds.push(CompiledPredicate {
        field,
        groups,
        all: p.all,
        negate: p.negate,
        contains_set: OnceLock::new(),
        evaluations: Evaluations::default(),
    });
    Ok(Expr::Pred(idx))
}

fn resolve(c: &Cond, searches: &[(&str, Expr)]) -> Result<Expr, String> {
    let pick = |q: &Quantified| -> Result<Vec<Expr>, String> {
        let chosen: Vec<Expr> = searches
            .iter()
            .filter(|(name, _)| match q {
                Quantified::Them => !name.starts_with('_'),
                Quantified::Pattern(p) => condition::pattern_matches(p, name),
            })
            .map(|(_, e)| e.clone())
            .collect();
        if chosen.is_empty() {
            return Err(match q {
                Quantified::Them => "`them` but the rule defines no searches".into(),
                Quantified::Pattern(p) => format!("pattern `{p}` matches no search identifier"),
            });
        }
        Ok(chosen)
    };
    Ok(match c {
        Cond::And(items) => Expr::And(
            items
                .iter()
                .map(|i| resolve(i, searches))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Or(items) => Expr::Or(
            items
                .iter()
                .map(|i| resolve(i, searches))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Not(inner) => Expr::Not(Box::new(resolve(inner, searches)?)),
        Cond::Search(name) => searches
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.clone())
            .ok_or_else(|| format!("unknown search identifier `{name}`"))?,
        Cond::AnyOf(q) => Expr::Or(pick(q)?),
        Cond::AllOf(q) => Expr::And(pick(q)?),
    })
}

impl CompiledDetection {
    /// Evaluates the rule body on an event.
    pub fn matches(&self, event: &Event) -> bool {
        let mut buf = String::new();
        self.eval(&self.expr, event, &mut buf)
    }

    fn eval(&self, e: &Expr, event: &Event, buf: &mut String) -> bool {
        match e {
            Expr::Pred(i) => self.preds[*i as usize].eval(event, buf),
            Expr::And(items) => items.iter().all(|i| self.eval(i, event, buf)),
            Expr::Or(items) => items.iter().any(|i| self.eval(i, event, buf)),
            Expr::Not(inner) => !self.eval(inner, event, buf),
            Expr::Const(b) => *b,
        }
    }

    /// Replaces field ids through `map` (for log sources whose field names differ).
    pub fn remap_fields(&mut self, map: &dyn Fn(FieldId) -> FieldId) {
        for p in &mut self.preds {
            p.field = p.field.map(map);
            for g in &mut p.groups {
                for m in g {
                    if let Matcher::FieldRef { field, .. } = m {
                        *field = map(*field);
                    }
                }
            }
        }
    }

    /// Every field the rule reads.
    pub fn fields(&self) -> impl Iterator<Item = FieldId> + '_ {
        self.preds.iter().filter_map(|p| p.field)
    }
}

impl CompiledPredicate {
    fn eval(&self, event: &Event, buf: &mut String) -> bool {
        let set = || {
            if let Some(built) = self.contains_set.get() {
                return built.as_deref();
            }
            if !self.evaluations.warmed_up() {
                return None;
            }
            self.contains_set
                .get_or_init(|| contains_set(&self.groups, self.all))
                .as_deref()
        };
        let hit = match self.field {
            Some(f) if let Some(set) = set() => {
                let v = event.get(f);
                any_text(v, buf, &mut |t| set.automaton.is_match(t))
                    || set.rest.iter().any(|m| m.matches(v, event, buf))
            }
            Some(f) => {
                let v = event.get(f);
                let group = |g: &Vec<Matcher>| g.iter().any(|m| m.matches(v, event, buf));
                if self.all {
                    self.groups.iter().all(group)
                } else {
                    self.groups.iter().any(group)
                }
            }
            None => {
                let group = |g: &Vec<Matcher>| g.iter().any(|m| keyword(m, event, buf));
                if self.all {
                    self.groups.iter().all(group)
                } else {
                    self.groups.iter().any(group)
                }
            }
        };
        hit != self.negate
    }
}

/// A keyword matches when any field's value matches it.
fn keyword(m: &Matcher, event: &Event, buf: &mut String) -> bool {
    event
        .fields()
        .any(|(_, v)| !v.is_null() && m.matches(Some(v), event, buf))
}

impl Matcher {
    fn matches(&self, v: Option<&Value>, event: &Event, buf: &mut String) -> bool {
        match self {
            Matcher::Value(m) => value_matches(m, v, buf),
            Matcher::FieldRef {
                field,
                shape,
                cased,
            } => {
                let (Some(a), Some(b)) = (v, event.get(*field)) else {
                    return false;
                };
                let (a, b) = (a.to_string(), b.to_string());
                let (a, b) = if *cased {
                    (a, b)
                } else {
                    (a.to_lowercase(), b.to_lowercase())
                };
                match shape {
                    RefShape::Equals => a == b,
                    RefShape::StartsWith => a.starts_with(&b),
                    RefShape::EndsWith => a.ends_with(&b),
                    RefShape::Contains => a.contains(&b),
                }
            }
        }
    }
}

fn value_matches(m: &ValueMatcher, v: Option<&Value>, buf: &mut String) -> bool {
    match m {
        ValueMatcher::Exists(want) => v.is_some() == *want,
        ValueMatcher::Null => v.is_none_or(Value::is_null),
        ValueMatcher::Str(s) => str_matches(s, v, buf),
        ValueMatcher::Regex(re, _) => any_text(v, buf, &mut |t| re.is_match(t)),
        ValueMatcher::Cidr(net) => any_text(v, buf, &mut |t| {
            parse_ip(t).is_some_and(|ip| net.contains(&ip))
        }),
        ValueMatcher::Cmp(op, n) => {
            any_scalar(v, &mut |x| x.as_f64().is_some_and(|f| op.holds(f, *n)))
        }
        ValueMatcher::TimePart(part, n) => any_text(v, buf, &mut |t| {
            parse_time(t).is_some_and(|d| time_part(&d, *part) == *n)
        }),
        ValueMatcher::FieldRef { .. } => false,
    }
}

fn str_matches(s: &StrMatcher, v: Option<&Value>, buf: &mut String) -> bool {
    match v {
        None => false,
        Some(Value::Null) => matches!(&s.op, StrOp::Exact(n) if n.is_empty()),
        Some(Value::Int(i)) if s.int.is_some() => s.int == Some(*i),
        Some(Value::Array(items)) => items.iter().any(|i| str_matches(s, Some(i), buf)),
        Some(other) => other.for_each_text(buf, &mut |t| s.matches(t)),
    }
}

fn any_text(v: Option<&Value>, buf: &mut String, f: &mut dyn FnMut(&str) -> bool) -> bool {
    v.is_some_and(|v| v.for_each_text(buf, f))
}

fn any_scalar(v: Option<&Value>, f: &mut dyn FnMut(&Value) -> bool) -> bool {
    match v {
        None => false,
        Some(Value::Array(items)) => items.iter().any(|i| any_scalar(Some(i), f)),
        Some(x) => f(x),
    }
}

fn parse_ip(t: &str) -> Option<IpAddr> {
    let t = t.trim();
    let t = t
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(t);
    match t.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)),
        v4 => Some(v4),
    }
}

fn parse_time(t: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(t.trim()) {
        return Some(d.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(t.trim(), "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

fn time_part(d: &DateTime<Utc>, part: TimePart) -> i64 {
    i64::from(match part {
        TimePart::Minute => d.minute(),
        TimePart::Hour => d.hour(),
        TimePart::Day => d.day(),
        TimePart::Week => d.iso_week().week(),
        TimePart::Month => d.month(),
        TimePart::Year => return i64::from(d.year()),
    })
}

impl CompiledDetection {
    /// Evaluates what can be known from the routing fields alone: predicates on `known_fields`
    /// are evaluated against `known`, all others are unknown. A rule that is `False` here can
    /// never match an event with these routing values.
    pub fn partial_eval(&self, known: &Event, known_fields: &[FieldId]) -> Tri {
        let mut buf = String::new();
        self.partial(&self.expr, known, known_fields, &mut buf)
    }

    fn partial(&self, e: &Expr, known: &Event, fields: &[FieldId], buf: &mut String) -> Tri {
        match e {
            Expr::Const(b) => Tri::from(*b),
            Expr::Pred(i) => {
                let p = &self.preds[*i as usize];
                let knowable = p.field.is_some_and(|f| fields.contains(&f))
                    && p.groups
                        .iter()
                        .flatten()
                        .all(|m| matches!(m, Matcher::Value(_)));
                if knowable {
                    Tri::from(p.eval(known, buf))
                } else {
                    Tri::Unknown
                }
            }
            Expr::Not(inner) => match self.partial(inner, known, fields, buf) {
                Tri::True => Tri::False,
                Tri::False => Tri::True,
                Tri::Unknown => Tri::Unknown,
            },
            Expr::And(items) => {
                let mut out = Tri::True;
                for i in items {
                    match self.partial(i, known, fields, buf) {
                        Tri::False => return Tri::False,
                        Tri::Unknown => out = Tri::Unknown,
                        Tri::True => {}
                    }
                }
                out
            }
            Expr::Or(items) => {
                let mut out = Tri::False;
                for i in items {
                    match self.partial(i, known, fields, buf) {
                        Tri::True => return Tri::True,
                        Tri::Unknown => out = Tri::Unknown,
                        Tri::False => {}
                    }
                }
                out
            }
        }
    }
}

/// A literal that must occur (ASCII case-insensitively) in a field for a predicate to hold;
/// `field: None` means "in some field" (keywords).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Needle {
    pub field: Option<FieldId>,
    pub text: String,
}

/// A set of needles at least one of which occurs whenever the rule matches. `Some(empty)`
/// means the rule can never match; `None` means no such set is known (always evaluate).
pub type Requirement = Option<Vec<Needle>>;

impl CompiledDetection {
    /// The needles at least one of which every match contains. Predicates on `skip` fields
    /// (the routing fields, already known per bucket) are not used as needles.
    pub fn requirement(&self, skip: &[FieldId]) -> Requirement {
        self.expr_req(&self.expr, skip)
    }

    fn expr_req(&self, e: &Expr, skip: &[FieldId]) -> Requirement {
        match e {
            Expr::Pred(i) => pred_req(&self.preds[*i as usize], skip),
            Expr::Const(false) => Some(Vec::new()),
            Expr::Const(true) | Expr::Not(_) => None,
            Expr::Or(items) => {
                let mut all = Vec::new();
                for i in items {
                    all.extend(self.expr_req(i, skip)?);
                }
                Some(all)
            }
            Expr::And(items) => items
                .iter()
                .filter_map(|i| self.expr_req(i, skip))
                .max_by_key(|r| score(r)),
        }
    }
}

/// Prefer requirements whose shortest needle is longest (more selective), then fewer needles.
fn score(req: &[Needle]) -> (usize, std::cmp::Reverse<usize>) {
    let min = req
        .iter()
        .map(|n| n.text.len().min(12))
        .min()
        .unwrap_or(usize::MAX);
    (min, std::cmp::Reverse(req.len()))
}

fn pred_req(p: &CompiledPredicate, skip: &[FieldId]) -> Requirement {
    if p.negate {
        return None;
    }
    let group_req = |g: &Vec<Matcher>| -> Requirement {
        let mut out = Vec::with_capacity(g.len());
        if p.field.is_some_and(|f| skip.contains(&f)) {
            return None;
        }
        for m in g {
            match m {
                Matcher::Value(ValueMatcher::Str(s)) => out.push(Needle {
                    field: p.field,
                    text: s.required_literal()?.to_owned(),
                }),
                Matcher::Value(ValueMatcher::Regex(_, Some(lits))) => {
                    out.extend(lits.iter().map(|t| Needle {
                        field: p.field,
                        text: t.clone(),
                    }))
                }
                _ => return None,
            }
        }
        Some(out)
    };
    if p.all {
        p.groups
            .iter()
            .filter_map(group_req)
            .max_by_key(|r| score(r))
    } else {
        let mut all = Vec::new();
        for g in &p.groups {
            all.extend(group_req(g)?);
        }
        Some(all)
    }
}

/// Needle scan helper shared with the engine: whether `text` contains `needle` ignoring ASCII case.
pub fn contains_needle(text: &str, needle: &str) -> bool {
    contains_fold(text.as_bytes(), needle.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{RuleDoc, parse_doc};
    use palisade_event::Origin;

    fn detection(yaml: &str) -> CompiledDetection {
        let doc = crate::yaml::load(yaml).unwrap();
        let RuleDoc::Detection(r) = parse_doc(&doc[0]).unwrap() else {
            panic!()
        };
        compile_detection(
            &r.detection,
            &[],
            &ModifierContext::default(),
            &mut Vec::new(),
        )
        .unwrap()
    }

    fn event(fields: &[(&str, Value)]) -> Event {
        let mut e = Event::new(Origin::default(), "test");
        for (k, v) in fields {
            e.insert_named(k, v.clone()).unwrap();
        }
        e
    }

    const RULE: &str = "title: t\nlogsource: {product: windows}\ndetection:\n  sel:\n    Image|endswith: '\\cmd.exe'\n    CommandLine|contains|all: ['/c', 'whoami']\n  filter:\n    User: SYSTEM\n  condition: sel and not filter\n";

    #[test]
    fn evaluates_conditions() {
        let d = detection(RULE);
        let hit = event(&[
            ("Image", "C:\\Windows\\System32\\CMD.EXE".into()),
            ("CommandLine", "cmd /c WHOAMI /all".into()),
            ("User", "alice".into()),
        ]);
        assert!(d.matches(&hit));
        let filtered = event(&[
            ("Image", "C:\\Windows\\System32\\cmd.exe".into()),
            ("CommandLine", "cmd /c whoami".into()),
            ("User", "system".into()),
        ]);
        assert!(!d.matches(&filtered));
        let partial = event(&[
            ("Image", "C:\\Windows\\System32\\cmd.exe".into()),
            ("CommandLine", "cmd /c dir".into()),
        ]);
        assert!(!d.matches(&partial));
    }

    #[test]
    fn requirement_picks_a_selective_needle() {
        let d = detection(RULE);
        let req = d.requirement(&[]).unwrap();
        assert_eq!(req.len(), 1);
        assert_eq!(req[0].text, "\\cmd.exe");
    }

    #[test]
    fn numbers_null_exists_and_keywords() {
        let d = detection(
            "title: t\nlogsource: {}\ndetection:\n  a:\n    EventID: 4624\n    LogonType|gte: 3\n    Missing: null\n    Present|exists: true\n  kw:\n    - 'mimikatz'\n  condition: a or kw\n",
        );
        let e = event(&[
            ("EventID", Value::Int(4624)),
            ("LogonType", "10".into()),
            ("Present", Value::Null),
        ]);
        assert!(d.matches(&e));
        let kw = event(&[("Payload", "Invoke-Mimikatz -dump".into())]);
        assert!(d.matches(&kw));
        let req = d.requirement(&[]).unwrap();
        let texts: Vec<_> = req
            .iter()
            .map(|n| (n.field.is_none(), n.text.as_str()))
            .collect();
        assert_eq!(texts, [(false, "4624"), (true, "mimikatz")]);
    }

    #[test]
    fn many_contains_values_use_one_automaton() {
        let d = detection(
            "title: t\nlogsource: {}\ndetection:\n  a:\n    CommandLine|contains: [' -enc ', 'iex(', 'downloadstring', 'frombase64', 'bypass']\n    CommandLine|endswith: [x]\n  b:\n    Image|endswith: ['\\\\a.exe']\n  condition: a or b\n",
        );
        let hit = event(&[(
            "CommandLine",
            "powershell IEX(New-Object Net.WebClient).DownloadString(u) x".into(),
        )]);
        assert!(d.matches(&hit));
        let miss = event(&[("CommandLine", "powershell -noprofile x".into())]);
        assert!(!d.matches(&miss));
        assert!(
            d.preds[0].contains_set.get().is_none(),
            "not built before the warm-up"
        );
        for _ in 0..=CONTAINS_SET_WARMUP {
            assert!(!d.matches(&miss));
        }
        assert!(d.preds[0].contains_set.get().is_some_and(Option::is_some));
        assert!(d.matches(&hit), "same answer through the automaton");
        assert!(!d.matches(&miss));
    }

    #[test]
    fn cidr_and_fieldref() {
        let d = detection(
            "title: t\nlogsource: {}\ndetection:\n  a:\n    SourceIp|cidr: 10.0.0.0/8\n    SourceHostname|fieldref: DestinationHostname\n  condition: a\n",
        );
        let e = event(&[
            ("SourceIp", "10.1.2.3".into()),
            ("SourceHostname", "WS1".into()),
            ("DestinationHostname", "ws1".into()),
        ]);
        assert!(d.matches(&e));
        let e = event(&[
            ("SourceIp", "::ffff:192.168.1.1".into()),
            ("SourceHostname", "WS1".into()),
            ("DestinationHostname", "ws1".into()),
        ]);
        assert!(!d.matches(&e));
    }
}

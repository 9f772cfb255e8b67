//! The Sigma rule model and its parsing from YAML: detection rules, correlation rules and
//! filter rules (Sigma specification v2).

use std::collections::HashMap;
use std::time::Duration;

use palisade_event::Severity;

use crate::modifier::RawValue;
use crate::yaml::Node;

/// Metadata shared by every kind of rule document.
#[derive(Debug, Clone, Default)]
pub struct RuleMeta {
    pub title: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub references: Vec<String>,
    pub tags: Vec<String>,
    pub level: Option<Severity>,
    pub falsepositives: Vec<String>,
    pub fields: Vec<String>,
    pub date: Option<String>,
    pub modified: Option<String>,
}

/// `logsource`: which logs a rule is written for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LogSource {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
}

/// A search identifier's definition.
#[derive(Debug, Clone, PartialEq)]
pub enum Search {
    /// A mapping: every `field|modifiers: values` item must match.
    Map(Vec<SearchItem>),
    /// A list of mappings or keyword groups: any must match.
    Any(Vec<Search>),
    /// Keyword values searched in the whole event (any value matches).
    Keywords(Vec<RawValue>),
}

/// One `field|modifiers: values` entry of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchItem {
    pub key: String,
    pub values: Vec<RawValue>,
    pub line: usize,
}

/// The `detection` section.
#[derive(Debug, Clone, Default)]
pub struct Detection {
    pub searches: Vec<(String, Search)>,
    /// One or more conditions; several are OR-ed.
    pub conditions: Vec<String>,
}

/// A detection rule.
#[derive(Debug, Clone)]
pub struct DetectionRule {
    pub meta: RuleMeta,
    pub logsource: LogSource,
    pub detection: Detection,
}

/// Correlation types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrelationKind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
}

/// A correlation condition: every bound given must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CountCondition {
    pub gt: Option<f64>,
    pub gte: Option<f64>,
    pub lt: Option<f64>,
    pub lte: Option<f64>,
    pub eq: Option<f64>,
    pub neq: Option<f64>,
}

impl CountCondition {
    pub fn holds(&self, n: f64) -> bool {
        self.gt.is_none_or(|v| n > v)
            && self.gte.is_none_or(|v| n >= v)
            && self.lt.is_none_or(|v| n < v)
            && self.lte.is_none_or(|v| n <= v)
            && self.eq.is_none_or(|v| n == v)
            && self.neq.is_none_or(|v| n != v)
    }

    /// True when only lower bounds are set: the condition, once met, stays met as more events
    /// arrive, so it can fire as soon as it holds.
    pub fn is_monotone(&self) -> bool {
        self.lt.is_none() && self.lte.is_none() && self.eq.is_none() && self.neq.is_none()
    }
}

/// A correlation rule.
#[derive(Debug, Clone)]
pub struct CorrelationRule {
    pub meta: RuleMeta,
    pub kind: CorrelationKind,
    /// Referenced rules, by id or name.
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    pub timespan: Duration,
    pub condition: Option<CountCondition>,
    /// For value_count: the field whose distinct values are counted.
    pub field: Option<String>,
    /// alias → (rule name → field).
    pub aliases: HashMap<String, HashMap<String, String>>,
    /// Whether the referenced rules also alert on their own.
    pub generate: bool,
}

/// A filter rule: extra conditions ANDed onto the rules it names.
#[derive(Debug, Clone)]
pub struct FilterRule {
    pub meta: RuleMeta,
    pub logsource: LogSource,
    pub rules: Vec<String>,
    pub detection: Detection,
}

/// One YAML document of a rule file.
#[derive(Debug, Clone)]
pub enum RuleDoc {
    Detection(DetectionRule),
    Correlation(CorrelationRule),
    Filter(FilterRule),
}

impl RuleDoc {
    pub fn meta(&self) -> &RuleMeta {
        match self {
            RuleDoc::Detection(r) => &r.meta,
            RuleDoc::Correlation(r) => &r.meta,
            RuleDoc::Filter(r) => &r.meta,
        }
    }
}

/// Parses one YAML document into a rule. Errors name the offending line.
pub fn parse_doc(doc: &Node) -> Result<RuleDoc, String> {
    if !matches!(doc, Node::Map(..)) {
        return Err(format!("a rule must be a mapping, found a {}", doc.kind()));
    }
    let meta = parse_meta(doc)?;
    if let Some(corr) = doc.get("correlation") {
        return parse_correlation(meta, corr).map(RuleDoc::Correlation);
    }
    if let Some(filter) = doc.get("filter") {
        return parse_filter(meta, doc, filter).map(RuleDoc::Filter);
    }
    if doc.get("action").is_some() {
        return Err(
            "legacy rule collections (`action: global/reset/repeat`) are not part of Sigma v2; \
             split the file into standalone rules"
                .into(),
        );
    }
    let detection = doc.get("detection").ok_or("missing `detection` section")?;
    let logsource = doc
        .get("logsource")
        .ok_or("missing `logsource` section")
        .and_then(|n| parse_logsource(n).map_err(|_| "`logsource` must be a mapping"))?;
    Ok(RuleDoc::Detection(DetectionRule {
        meta,
        logsource,
        detection: parse_detection(detection)?,
    }))
}

fn opt_str(doc: &Node, key: &str) -> Result<Option<String>, String> {
    match doc.get(key) {
        None => Ok(None),
        Some(n) if n.is_null() => Ok(None),
        Some(n) => n
            .as_str()
            .map(|s| Some(s.to_owned()))
            .ok_or_else(|| format!("line {}: `{key}` must be a string", n.line())),
    }
}

fn str_list(doc: &Node, key: &str) -> Result<Vec<String>, String> {
    match doc.get(key) {
        None => Ok(Vec::new()),
        Some(n) if n.is_null() => Ok(Vec::new()),
        Some(n) => n
            .as_str_list()
            .ok_or_else(|| format!("line {}: `{key}` must be a list of strings", n.line())),
    }
}

fn parse_meta(doc: &Node) -> Result<RuleMeta, String> {
    let title = opt_str(doc, "title")?.ok_or("missing `title`")?;
    let level = match opt_str(doc, "level")? {
        None => None,
        Some(l) => Some(l.parse::<Severity>()?),
    };
    Ok(RuleMeta {
        title,
        id: opt_str(doc, "id")?,
        name: opt_str(doc, "name")?,
        status: opt_str(doc, "status")?,
        description: opt_str(doc, "description")?,
        author: opt_str(doc, "author")?,
        references: str_list(doc, "references")?,
        tags: str_list(doc, "tags")?,
        level,
        falsepositives: str_list(doc, "falsepositives")?,
        fields: str_list(doc, "fields")?,
        date: opt_str(doc, "date")?,
        modified: opt_str(doc, "modified")?,
    })
}

fn parse_logsource(n: &Node) -> Result<LogSource, ()> {
    if !matches!(n, Node::Map(..)) {
        return Err(());
    }
    let get = |k: &str| {
        n.get(k)
            .and_then(Node::as_str)
            .map(|s| s.to_ascii_lowercase())
    };
    Ok(LogSource {
        product: get("product"),
        category: get("category"),
        service: get("service"),
    })
}

/// Reads the `detection` (or filter) section: search identifiers plus `condition`.
pub fn parse_detection(n: &Node) -> Result<Detection, String> {
    let Node::Map(entries, line) = n else {
        return Err(format!("line {}: `detection` must be a mapping", n.line()));
    };
    let mut detection = Detection::default();
    for (key, value) in entries {
        if key == "condition" {
            detection.conditions = value.as_str_list().ok_or_else(|| {
                format!(
                    "line {}: `condition` must be a string or a list of strings",
                    value.line()
                )
            })?;
        } else if key == "timeframe" {
            // Sigma v1 aggregation window; correlations replaced it.
            return Err(format!(
                "line {}: `timeframe` belongs to obsolete aggregations; use a correlation rule",
                value.line()
            ));
        } else {
            let search = parse_search(value)
                .map_err(|e| format!("search `{key}` (line {}): {e}", value.line()))?;
            detection.searches.push((key.clone(), search));
        }
    }
    if detection.conditions.is_empty() {
        return Err(format!("line {line}: `detection` has no `condition`"));
    }
    Ok(detection)
}

fn parse_search(n: &Node) -> Result<Search, String> {
    match n {
        Node::Map(entries, _) => {
            let mut items = Vec::with_capacity(entries.len());
            for (key, value) in entries {
                items.push(SearchItem {
                    key: key.clone(),
                    values: raw_values(value)?,
                    line: value.line(),
                });
            }
            Ok(Search::Map(items))
        }
        Node::Seq(items, _) => {
            if items.iter().all(|i| matches!(i, Node::Scalar { .. })) {
                return Ok(Search::Keywords(raw_values(n)?));
            }
            let mut any = Vec::with_capacity(items.len());
            for item in items {
                any.push(match item {
                    Node::Scalar { .. } => Search::Keywords(vec![raw_value(item)]),
                    other => parse_search(other)?,
                });
            }
            Ok(Search::Any(any))
        }
        Node::Scalar { .. } if n.is_null() => Err("empty search".into()),
        Node::Scalar { .. } => Ok(Search::Keywords(vec![raw_value(n)])),
    }
}

fn raw_values(n: &Node) -> Result<Vec<RawValue>, String> {
    match n {
        Node::Seq(items, _) => items
            .iter()
            .map(|i| match i {
                Node::Scalar { .. } => Ok(raw_value(i)),
                other => Err(format!(
                    "line {}: a value list may hold only scalars, found a {}",
                    other.line(),
                    other.kind()
                )),
            })
            .collect(),
        Node::Map(_, line) => Err(format!("line {line}: a field value cannot be a mapping")),
        scalar => Ok(vec![raw_value(scalar)]),
    }
}

/// Types a scalar the way Sigma means it: quoted text is text; plain `null`, booleans and
/// canonical integers are typed; anything else (`0x1F`, `007`, `1e3`) stays text as written.
fn raw_value(n: &Node) -> RawValue {
    let Node::Scalar { text, quoted, .. } = n else {
        return RawValue::Null;
    };
    if *quoted {
        return RawValue::Str(text.clone());
    }
    if n.is_null() {
        return RawValue::Null;
    }
    match text.as_str() {
        "true" | "True" | "TRUE" => return RawValue::Bool(true),
        "false" | "False" | "FALSE" => return RawValue::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && let Ok(i) = text.parse::<i64>()
    {
        return RawValue::Int(i);
    }
    if text.contains('.')
        && text.parse::<f64>().is_ok()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return RawValue::Float(text.clone());
    }
    RawValue::Str(text.clone())
}

/// Parses `30s`, `5m`, `1h`, `2d`, `1w` (also `M` for 30-day months and `y` for years).
pub fn parse_timespan(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| {
        format!("timespan {s:?} must be a number followed by s, m, h, d, w, M or y")
    })?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "M" => 30 * 86_400,
        "y" => 365 * 86_400,
        _ => return Err(format!("timespan {s:?} has an unknown unit {unit:?}")),
    };
    n.checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("timespan {s:?} is too large"))
}

fn parse_correlation(meta: RuleMeta, n: &Node) -> Result<CorrelationRule, String> {
    let kind = match opt_str(n, "type")?.as_deref() {
        Some("event_count") => CorrelationKind::EventCount,
        Some("value_count") => CorrelationKind::ValueCount,
        Some("temporal") => CorrelationKind::Temporal,
        Some("temporal_ordered") => CorrelationKind::TemporalOrdered,
        Some(other) => return Err(format!("unknown correlation type {other:?}")),
        None => return Err("correlation without `type`".into()),
    };
    let rules = str_list(n, "rules")?;
    if rules.is_empty() {
        return Err("correlation without `rules`".into());
    }
    let group_by = str_list(n, "group-by")?;
    let timespan =
        parse_timespan(&opt_str(n, "timespan")?.ok_or("correlation without `timespan`")?)?;
    let (condition, field) = match n.get("condition") {
        None => (None, None),
        Some(c) => parse_count_condition(c)?,
    };
    if matches!(
        kind,
        CorrelationKind::EventCount | CorrelationKind::ValueCount
    ) && condition.is_none()
    {
        return Err("event_count and value_count correlations need a `condition`".into());
    }
    if kind == CorrelationKind::ValueCount && field.is_none() {
        return Err("value_count needs `field` in its condition".into());
    }
    let mut aliases = HashMap::new();
    if let Some(Node::Map(entries, _)) = n.get("aliases") {
        for (alias, per_rule) in entries {
            let Node::Map(pairs, line) = per_rule else {
                return Err(format!("alias {alias:?} must map rule names to fields"));
            };
            let mut map = HashMap::new();
            for (rule, field) in pairs {
                let f = field
                    .as_str()
                    .ok_or_else(|| format!("line {line}: alias field must be a string"))?;
                map.insert(rule.clone(), f.to_owned());
            }
            aliases.insert(alias.clone(), map);
        }
    }
    let generate = match n.get("generate") {
        Some(Node::Scalar { text, .. }) => text.eq_ignore_ascii_case("true"),
        _ => false,
    };
    Ok(CorrelationRule {
        meta,
        kind,
        rules,
        group_by,
        timespan,
        condition,
        field,
        aliases,
        generate,
    })
}

fn parse_count_condition(n: &Node) -> Result<(Option<CountCondition>, Option<String>), String> {
    let Node::Map(entries, line) = n else {
        return Err(format!(
            "line {}: correlation `condition` must be a mapping",
            n.line()
        ));
    };
    let mut c = CountCondition::default();
    let mut field = None;
    for (k, v) in entries {
        if k == "field" {
            field = v.as_str().map(str::to_owned);
            continue;
        }
        let x: f64 = v
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("line {}: condition `{k}` needs a number", v.line()))?;
        match k.as_str() {
            "gt" => c.gt = Some(x),
            "gte" => c.gte = Some(x),
            "lt" => c.lt = Some(x),
            "lte" => c.lte = Some(x),
            "eq" => c.eq = Some(x),
            "neq" => c.neq = Some(x),
            other => return Err(format!("line {line}: unknown condition operator {other:?}")),
        }
    }
    let has_bound = [c.gt, c.gte, c.lt, c.lte, c.eq, c.neq]
        .iter()
        .any(Option::is_some);
    Ok((has_bound.then_some(c), field))
}

fn parse_filter(meta: RuleMeta, doc: &Node, filter: &Node) -> Result<FilterRule, String> {
    let logsource = doc
        .get("logsource")
        .ok_or("a filter needs `logsource`")
        .and_then(|n| parse_logsource(n).map_err(|_| "`logsource` must be a mapping"))?;
    let rules = str_list(filter, "rules")?;
    if rules.is_empty() {
        return Err("a filter needs `rules`".into());
    }
    let Node::Map(entries, line) = filter else {
        return Err("`filter` must be a mapping".into());
    };
    let det = Node::Map(
        entries
            .iter()
            .filter(|(k, _)| k != "rules")
            .cloned()
            .collect(),
        *line,
    );
    Ok(FilterRule {
        meta,
        logsource,
        rules,
        detection: parse_detection(&det)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::load;

    fn doc(text: &str) -> Result<RuleDoc, String> {
        parse_doc(&load(text).unwrap()[0])
    }

    #[test]
    fn detection_rule() {
        let RuleDoc::Detection(r) = doc(
            "title: T\nid: 1\nlevel: high\ntags: [attack.t1059]\nlogsource:\n  product: Windows\n  category: process_creation\ndetection:\n  sel:\n    Image|endswith: '\\cmd.exe'\n    EventID: [1, 0x10]\n  kw:\n    - evil\n  condition: sel or kw\n",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(r.meta.level, Some(Severity::High));
        assert_eq!(r.logsource.product.as_deref(), Some("windows"));
        assert_eq!(r.detection.searches.len(), 2);
        let Search::Map(items) = &r.detection.searches[0].1 else {
            panic!()
        };
        assert_eq!(
            items[1].values,
            [RawValue::Int(1), RawValue::Str("0x10".into())]
        );
        assert!(matches!(r.detection.searches[1].1, Search::Keywords(_)));
    }

    #[test]
    fn missing_parts_are_reported() {
        assert!(
            doc("title: T\nlogsource: {}\n")
                .unwrap_err()
                .contains("detection")
        );
        assert!(
            doc("logsource: {}\ndetection: {condition: x}\n")
                .unwrap_err()
                .contains("title")
        );
        assert!(
            doc("title: T\nlevel: severe\nlogsource: {}\ndetection: {a: {x: 1}, condition: a}\n")
                .is_err()
        );
    }

    #[test]
    fn correlation_rule() {
        let RuleDoc::Correlation(c) = doc(
            "title: C\ncorrelation:\n  type: value_count\n  rules: [a]\n  group-by: [Computer]\n  timespan: 15m\n  condition:\n    field: User\n    gte: 10\n",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(c.kind, CorrelationKind::ValueCount);
        assert_eq!(c.timespan, Duration::from_secs(900));
        assert_eq!(c.field.as_deref(), Some("User"));
        assert!(c.condition.unwrap().holds(10.0));
    }

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("90m").unwrap(), Duration::from_secs(5400));
        assert!(parse_timespan("5x").is_err());
        assert!(parse_timespan("m").is_err());
    }
}

//! Sigma correlation rules, evaluated in event time: `event_count`, `value_count`, `temporal`
//! and `temporal_ordered`, with `group-by`, `timespan`, field aliases and chaining (a
//! correlation may reference another correlation).
//!
//! Feed base-rule hits in timestamp order. Conditions with only lower bounds (`gte: 10`) fire
//! as soon as they hold within a sliding window, then the group starts afresh; conditions with
//! upper bounds (`lt`, `lte`, `eq`) can only be judged once a window is over, so they use
//! windows that open at a group's first event and are judged when the next event falls outside
//! or when the input ends.
//!
//! Memory is bounded: at most [`MAX_GROUPS`] groups per correlation and [`MAX_WINDOW`] entries
//! per group; expired groups are dropped first.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use palisade_event::alert::RuleInfo;
use palisade_event::{Event, FieldId, Origin};

use crate::rule::{CorrelationKind, CountCondition};

/// Most groups tracked per correlation.
pub const MAX_GROUPS: usize = 100_000;
/// Most events remembered per group window.
pub const MAX_WINDOW: usize = 100_000;
/// Origins kept per alert, as evidence.
const MAX_ORIGINS: usize = 50;

/// What a correlation references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleRef {
    Detection(u32),
    Correlation(u32),
}

/// A group-by field, resolved per referenced rule (aliases).
#[derive(Debug, Clone)]
pub struct GroupField {
    pub name: String,
    pub default: FieldId,
    pub per_rule: HashMap<RuleRef, FieldId>,
}

/// A correlation ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledCorrelation {
    pub info: Arc<RuleInfo>,
    pub kind: CorrelationKind,
    pub refs: Vec<RuleRef>,
    pub group_by: Vec<GroupField>,
    pub timespan: ChronoDuration,
    pub condition: Option<CountCondition>,
    pub field: Option<FieldId>,
}

/// A fired correlation.
#[derive(Debug, Clone)]
pub struct CorrelationAlert {
    pub correlation: u32,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// `(group-by field, value)`.
    pub group: Vec<(String, String)>,
    /// The counted quantity: events, distinct values or rules seen.
    pub count: u64,
    pub origins: Vec<Origin>,
}

/// Where a hit's field values come from.
#[derive(Clone, Copy)]
pub enum HitSource<'a> {
    Event(&'a Event),
    /// A fired correlation's group values, for chained correlations.
    Group(&'a [(String, String)]),
}

impl HitSource<'_> {
    fn value(&self, field: FieldId) -> Option<String> {
        match self {
            HitSource::Event(e) => e.get(field).map(|v| v.to_string()),
            HitSource::Group(g) => g
                .iter()
                .find(|(k, _)| k == field.as_str())
                .map(|(_, v)| v.clone()),
        }
    }
}

#[derive(Default)]
struct Group {
    window: VecDeque<(DateTime<Utc>, Option<String>, Origin)>,
    opened: Option<DateTime<Utc>>,
    /// temporal: last time each referenced rule was seen. temporal_ordered: latest start time
    /// of an in-order match ending at each position.
    marks: Vec<Option<DateTime<Utc>>>,
    origins: Vec<Origin>,
    last_seen: Option<DateTime<Utc>>,
}

/// Evaluates a set of correlations over a time-ordered stream of hits.
pub struct CorrelationEngine {
    correlations: Vec<CompiledCorrelation>,
    /// For each referenced rule, the correlations (and position in their `refs`) listening.
    listeners: HashMap<RuleRef, Vec<(u32, usize)>>,
    groups: Vec<HashMap<Vec<String>, Group>>,
    /// Hits skipped because their event had no timestamp.
    pub untimed: u64,
}

impl CorrelationEngine {
    pub fn new(correlations: Vec<CompiledCorrelation>) -> Self {
        let mut listeners: HashMap<RuleRef, Vec<(u32, usize)>> = HashMap::new();
        for (ci, c) in correlations.iter().enumerate() {
            for (pos, r) in c.refs.iter().enumerate() {
                listeners.entry(*r).or_default().push((ci as u32, pos));
            }
        }
        let groups = correlations.iter().map(|_| HashMap::new()).collect();
        CorrelationEngine {
            correlations,
            listeners,
            groups,
            untimed: 0,
        }
    }

    pub fn correlations(&self) -> &[CompiledCorrelation] {
        &self.correlations
    }

    /// Whether any correlation listens to this rule.
    pub fn listens_to(&self, rule: RuleRef) -> bool {
        self.listeners.contains_key(&rule)
    }

    /// Feeds one hit of `rule` at `time`; returns correlations that fired (including chained
    /// ones). Hits must arrive in non-decreasing time order.
    pub fn feed(
        &mut self,
        rule: RuleRef,
        time: Option<DateTime<Utc>>,
        source: HitSource<'_>,
        origin: &Origin,
    ) -> Vec<CorrelationAlert> {
        let Some(time) = time else {
            if self.listeners.contains_key(&rule) {
                self.untimed += 1;
            }
            return Vec::new();
        };
        let mut fired = Vec::new();
        let Some(targets) = self.listeners.get(&rule).cloned() else {
            return fired;
        };
        for (ci, pos) in targets {
            if let Some(alert) = self.step(ci, pos, rule, time, source, origin) {
                fired.push(alert);
            }
        }
        // Chained correlations see fired ones as hits of their own.
        let mut chained = Vec::new();
        for a in &fired {
            let r = RuleRef::Correlation(a.correlation);
            if self.listeners.contains_key(&r) {
                let origin = a.origins.last().cloned().unwrap_or_default();
                chained.extend(self.feed(r, Some(a.last), HitSource::Group(&a.group), &origin));
            }
        }
        fired.extend(chained);
        fired
    }

    fn step(
        &mut self,
        ci: u32,
        pos: usize,
        rule: RuleRef,
        time: DateTime<Utc>,
        source: HitSource<'_>,
        origin: &Origin,
    ) -> Option<CorrelationAlert> {
        let c = &self.correlations[ci as usize];
        let key: Vec<String> = c
            .group_by
            .iter()
            .map(|g| {
                let f = g.per_rule.get(&rule).copied().unwrap_or(g.default);
                source.value(f).unwrap_or_default()
            })
            .collect();
        let value = c.field.map(|f| source.value(f).unwrap_or_default());
        let groups = &mut self.groups[ci as usize];
        if groups.len() >= MAX_GROUPS && !groups.contains_key(&key) {
            let span = c.timespan;
            groups.retain(|_, g| g.last_seen.is_some_and(|t| time - t <= span));
            if groups.len() >= MAX_GROUPS {
                return None;
            }
        }
        let n_refs = c.refs.len();
        let group = groups.entry(key.clone()).or_insert_with(|| Group {
            marks: vec![None; n_refs],
            ..Group::default()
        });
        group.last_seen = Some(time);
        let alert = match c.kind {
            CorrelationKind::EventCount | CorrelationKind::ValueCount => {
                count_step(c, group, time, value, origin)
            }
            CorrelationKind::Temporal => temporal_step(c, group, pos, time, origin),
            CorrelationKind::TemporalOrdered => ordered_step(c, group, pos, time, origin),
        }?;
        Some(CorrelationAlert {
            correlation: ci,
            group: c.group_by.iter().map(|g| g.name.clone()).zip(key).collect(),
            ..alert
        })
    }

    /// Judges windows still open at the end of the input (conditions with upper bounds).
    pub fn finish(&mut self) -> Vec<CorrelationAlert> {
        let mut out = Vec::new();
        for (ci, c) in self.correlations.iter().enumerate() {
            let monotone = c.condition.as_ref().is_none_or(CountCondition::is_monotone);
            if monotone
                || !matches!(
                    c.kind,
                    CorrelationKind::EventCount | CorrelationKind::ValueCount
                )
            {
                continue;
            }
            for (key, g) in self.groups[ci].iter_mut() {
                if let Some(mut a) = close_window(c, g) {
                    a.correlation = ci as u32;
                    a.group = c
                        .group_by
                        .iter()
                        .map(|f| f.name.clone())
                        .zip(key.clone())
                        .collect();
                    out.push(a);
                }
            }
        }
        out.sort_by_key(|a| a.last);
        out
    }
}

fn blank(
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    count: u64,
    origins: Vec<Origin>,
) -> CorrelationAlert {
    CorrelationAlert {
        correlation: 0,
        first,
        last,
        group: Vec::new(),
        count,
        origins,
    }
}

fn measure(c: &CompiledCorrelation, g: &Group) -> u64 {
    match c.kind {
        CorrelationKind::ValueCount => g
            .window
            .iter()
            .filter_map(|(_, v, _)| v.as_deref())
            .filter(|v| !v.is_empty())
            .collect::<HashSet<_>>()
            .len() as u64,
        _ => g.window.len() as u64,
    }
}

fn count_step(
    c: &CompiledCorrelation,
    g: &mut Group,
    time: DateTime<Utc>,
    value: Option<String>,
    origin: &Origin,
) -> Option<CorrelationAlert> {
    let monotone = c.condition.as_ref().is_none_or(CountCondition::is_monotone);
    let mut closed = None;
    if monotone {
        while g
            .window
            .front()
            .is_some_and(|(t, _, _)| time - *t > c.timespan)
        {
            g.window.pop_front();
        }
    } else if g.opened.is_some_and(|o| time - o > c.timespan) {
        closed = close_window(c, g);
    }
    if g.opened.is_none() {
        g.opened = Some(time);
    }
    if g.window.len() < MAX_WINDOW {
        g.window.push_back((time, value, origin.clone()));
    }
    if closed.is_some() {
        return closed;
    }
    if !monotone {
        return None;
    }
    let n = measure(c, g);
    if c.condition
        .as_ref()
        .is_some_and(|cond| cond.holds(n as f64))
    {
        let first = g.window.front().map_or(time, |(t, _, _)| *t);
        let origins = g
            .window
            .iter()
            .rev()
            .take(MAX_ORIGINS)
            .map(|(_, _, o)| o.clone())
            .collect();
        g.window.clear();
        g.opened = None;
        return Some(blank(first, time, n, origins));
    }
    None
}

/// Judges and clears a group's tumbling window.
fn close_window(c: &CompiledCorrelation, g: &mut Group) -> Option<CorrelationAlert> {
    let n = measure(c, g);
    let first = g.window.front().map(|(t, _, _)| *t);
    let last = g.window.back().map(|(t, _, _)| *t);
    let origins = g
        .window
        .iter()
        .rev()
        .take(MAX_ORIGINS)
        .map(|(_, _, o)| o.clone())
        .collect();
    g.window.clear();
    g.opened = None;
    let (first, last) = (first?, last?);
    c.condition
        .as_ref()
        .is_some_and(|cond| cond.holds(n as f64))
        .then(|| blank(first, last, n, origins))
}

fn remember(g: &mut Group, origin: &Origin) {
    if g.origins.len() >= MAX_ORIGINS {
        g.origins.remove(0);
    }
    g.origins.push(origin.clone());
}

fn temporal_step(
    c: &CompiledCorrelation,
    g: &mut Group,
    pos: usize,
    time: DateTime<Utc>,
    origin: &Origin,
) -> Option<CorrelationAlert> {
    g.marks[pos] = Some(time);
    remember(g, origin);
    for m in &mut g.marks {
        if m.is_some_and(|t| time - t > c.timespan) {
            *m = None;
        }
    }
    let seen = g.marks.iter().flatten().count() as u64;
    let enough = match &c.condition {
        Some(cond) => cond.holds(seen as f64),
        None => seen as usize == c.refs.len(),
    };
    if !enough {
        return None;
    }
    let first = g.marks.iter().flatten().min().copied().unwrap_or(time);
    let origins = std::mem::take(&mut g.origins);
    g.marks.iter_mut().for_each(|m| *m = None);
    Some(blank(first, time, seen, origins))
}

/// `marks[k]` holds the latest start time of an in-order sequence of refs `0..=k` within the
/// timespan; a later start is always better, so keeping only the latest is exact.
fn ordered_step(
    c: &CompiledCorrelation,
    g: &mut Group,
    pos: usize,
    time: DateTime<Utc>,
    origin: &Origin,
) -> Option<CorrelationAlert> {
    remember(g, origin);
    let start = if pos == 0 {
        Some(time)
    } else {
        g.marks[pos - 1].filter(|s| time - *s <= c.timespan)
    };
    if let Some(s) = start
        && g.marks[pos].is_none_or(|old| s > old)
    {
        g.marks[pos] = Some(s);
    }
    let last = c.refs.len() - 1;
    let start = g.marks[last]?;
    let origins = std::mem::take(&mut g.origins);
    g.marks.iter_mut().for_each(|m| *m = None);
    Some(blank(start, time, c.refs.len() as u64, origins))
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_event::Value;

    fn corr(
        kind: CorrelationKind,
        refs: usize,
        cond: Option<CountCondition>,
        span_s: i64,
    ) -> CompiledCorrelation {
        CompiledCorrelation {
            info: Arc::new(RuleInfo::default()),
            kind,
            refs: (0..refs as u32).map(RuleRef::Detection).collect(),
            group_by: vec![GroupField {
                name: "User".into(),
                default: FieldId::known("User"),
                per_rule: HashMap::new(),
            }],
            timespan: ChronoDuration::seconds(span_s),
            condition: cond,
            field: Some(FieldId::known("Target")),
        }
    }

    fn ev(user: &str, target: &str) -> Event {
        let mut e = Event::new(Origin::default(), "t");
        e.insert_named("User", Value::from(user)).unwrap();
        e.insert_named("Target", Value::from(target)).unwrap();
        e
    }

    fn t(s: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(1_700_000_000 + s, 0)
    }

    #[test]
    fn event_count_fires_within_the_window_per_group() {
        let gte3 = CountCondition {
            gte: Some(3.0),
            ..Default::default()
        };
        let mut eng =
            CorrelationEngine::new(vec![corr(CorrelationKind::EventCount, 1, Some(gte3), 60)]);
        let (a, b) = (ev("alice", "x"), ev("bob", "x"));
        let o = Origin::default();
        let r = RuleRef::Detection(0);
        assert!(eng.feed(r, t(0), HitSource::Event(&a), &o).is_empty());
        assert!(eng.feed(r, t(10), HitSource::Event(&b), &o).is_empty());
        assert!(eng.feed(r, t(20), HitSource::Event(&a), &o).is_empty());
        // third alice event falls outside 60 s of the first: window slides, no alert yet
        assert!(eng.feed(r, t(70), HitSource::Event(&a), &o).is_empty());
        let fired = eng.feed(r, t(75), HitSource::Event(&a), &o);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].count, 3);
        assert_eq!(fired[0].group, [("User".to_string(), "alice".to_string())]);
        assert!(eng.feed(r, t(76), HitSource::Event(&a), &o).is_empty());
    }

    #[test]
    fn value_count_counts_distinct_values() {
        let gte2 = CountCondition {
            gte: Some(2.0),
            ..Default::default()
        };
        let mut eng =
            CorrelationEngine::new(vec![corr(CorrelationKind::ValueCount, 1, Some(gte2), 60)]);
        let o = Origin::default();
        let r = RuleRef::Detection(0);
        assert!(
            eng.feed(r, t(0), HitSource::Event(&ev("a", "h1")), &o)
                .is_empty()
        );
        assert!(
            eng.feed(r, t(1), HitSource::Event(&ev("a", "h1")), &o)
                .is_empty()
        );
        assert_eq!(
            eng.feed(r, t(2), HitSource::Event(&ev("a", "h2")), &o)
                .len(),
            1
        );
    }

    #[test]
    fn upper_bounds_are_judged_when_the_window_closes() {
        let lt2 = CountCondition {
            lt: Some(2.0),
            ..Default::default()
        };
        let mut eng =
            CorrelationEngine::new(vec![corr(CorrelationKind::EventCount, 1, Some(lt2), 60)]);
        let o = Origin::default();
        let r = RuleRef::Detection(0);
        assert!(
            eng.feed(r, t(0), HitSource::Event(&ev("a", "")), &o)
                .is_empty()
        );
        let fired = eng.feed(r, t(100), HitSource::Event(&ev("a", "")), &o);
        assert_eq!(fired.len(), 1, "first window held one event");
        assert_eq!(eng.finish().len(), 1, "second window is judged at the end");
    }

    #[test]
    fn temporal_ordered_requires_order() {
        let mut eng =
            CorrelationEngine::new(vec![corr(CorrelationKind::TemporalOrdered, 2, None, 60)]);
        let e = ev("a", "");
        let o = Origin::default();
        let (r0, r1) = (RuleRef::Detection(0), RuleRef::Detection(1));
        assert!(eng.feed(r1, t(0), HitSource::Event(&e), &o).is_empty());
        assert!(eng.feed(r0, t(1), HitSource::Event(&e), &o).is_empty());
        assert_eq!(eng.feed(r1, t(2), HitSource::Event(&e), &o).len(), 1);
        // too far apart
        assert!(eng.feed(r0, t(10), HitSource::Event(&e), &o).is_empty());
        assert!(eng.feed(r1, t(100), HitSource::Event(&e), &o).is_empty());
    }

    #[test]
    fn temporal_any_order_and_chaining() {
        let mut temporal = corr(CorrelationKind::Temporal, 2, None, 60);
        temporal.field = None;
        let mut chained = corr(
            CorrelationKind::EventCount,
            1,
            Some(CountCondition {
                gte: Some(2.0),
                ..Default::default()
            }),
            600,
        );
        chained.refs = vec![RuleRef::Correlation(0)];
        let mut eng = CorrelationEngine::new(vec![temporal, chained]);
        let e = ev("a", "");
        let o = Origin::default();
        let (r0, r1) = (RuleRef::Detection(0), RuleRef::Detection(1));
        assert!(eng.feed(r1, t(0), HitSource::Event(&e), &o).is_empty());
        assert_eq!(eng.feed(r0, t(5), HitSource::Event(&e), &o).len(), 1);
        assert!(eng.feed(r0, t(10), HitSource::Event(&e), &o).is_empty());
        let fired = eng.feed(r1, t(20), HitSource::Event(&e), &o);
        assert_eq!(
            fired.len(),
            2,
            "temporal fires again and the chained count reaches 2"
        );
        assert_eq!(fired[1].correlation, 1);
    }
}

//! The matching engine: routes each event to the rules written for its log source and finds the
//! ones that match, fast.
//!
//! How an event is matched:
//! 1. Its [`RouteKey`] (product, service, Windows channel, EventID, provider) selects a
//!    [`Bucket`]: the rules whose log source admits that key and whose conditions on the routing
//!    fields are not already false (a Security rule for `EventID: 4688` is not in the bucket for
//!    4624). Buckets are built on first sight of a key and shared by identical rule sets.
//! 2. Per field, one Aho-Corasick automaton over the bucket's literal needles scans the field
//!    once. Each rule registered the needles at least one of which must occur for it to match
//!    (see [`crate::compile::Requirement`]); a rule whose needles did not occur is skipped
//!    without evaluation. Rules with no usable needle are always evaluated.
//! 3. The remaining candidates are evaluated exactly.
//!
//! A [`RuleSet`] is shared across threads; each thread brings its own [`Scratch`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use palisade_event::alert::RuleInfo;
use palisade_event::{Event, FieldId, Origin, Value};

use crate::compile::{CompiledDetection, Requirement};
use crate::logsource::{Route, RouteFields, RouteKey, Tri};
use crate::rule::LogSource;

/// Most distinct routing keys cached; beyond that, buckets are built per event (hostile input).
const MAX_CACHED_ROUTES: usize = 16_384;

/// A detection rule ready to run.
#[derive(Debug)]
pub struct SigmaRule {
    pub info: Arc<RuleInfo>,
    pub name: Option<String>,
    pub logsource: LogSource,
    pub route: Route,
    /// Whether matches are reported (false for rules only referenced by correlations).
    pub alerting: bool,
    /// Fields the rule reads, shown as evidence.
    pub fields: Vec<FieldId>,
    pub detection: CompiledDetection,
    /// For an instance of another rule on a different log source (Security 4688 for a Sysmon
    /// process-creation rule), that rule's index: matches count as that rule's.
    pub primary: Option<u32>,
}

impl SigmaRule {
    /// The index under which this rule's matches are reported and correlated.
    pub fn canonical(&self, own: u32) -> u32 {
        self.primary.unwrap_or(own)
    }
}

struct Instance {
    rule: u32,
    guard: Option<(FieldId, &'static [&'static str])>,
    requirement: Requirement,
}

/// The rules that can match events of one routing key, with their prefilter.
pub struct Bucket {
    /// Rule indices, in rule order.
    members: Vec<u32>,
    /// Positions in `members` always evaluated.
    always: Vec<u32>,
    scans: Vec<FieldScan>,
    /// Needles searched in every field (keyword rules).
    any_field: Option<FieldScan>,
}

struct FieldScan {
    field: Option<FieldId>,
    automaton: AhoCorasick,
    /// Per pattern, the positions in `members` it makes candidates.
    owners: Vec<Vec<u32>>,
}

/// Per-thread working memory for matching.
#[derive(Default)]
pub struct Scratch {
    key: String,
    text: String,
    marks: Vec<u64>,
    local: HashMap<Box<str>, Arc<Bucket>>,
    /// Rules evaluated exactly, for statistics.
    pub evaluated: u64,
}

/// Options for building a rule set.
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineOptions {
    /// Run every rule on every event regardless of `logsource` (as Hayabusa does).
    pub ignore_logsource: bool,
}

/// Compiled rules plus the routing caches.
pub struct RuleSet {
    rules: Vec<SigmaRule>,
    instances: Vec<Instance>,
    route_fields: RouteFields,
    buckets: RwLock<HashMap<Box<str>, Arc<Bucket>>>,
    by_members: Mutex<HashMap<Vec<u32>, Arc<Bucket>>>,
}

impl RuleSet {
    pub fn new(rules: Vec<SigmaRule>, options: EngineOptions) -> RuleSet {
        let route_fields = RouteFields::new();
        let skip = [
            route_fields.channel,
            route_fields.event_id,
            route_fields.provider,
        ];
        let mut rules = rules;
        if options.ignore_logsource {
            for r in &mut rules {
                r.route = Route::Everything;
            }
        }
        let instances = rules
            .iter()
            .enumerate()
            .map(|(i, r)| Instance {
                rule: i as u32,
                guard: r
                    .route
                    .guard()
                    .map(|(f, values)| (FieldId::known(f), values)),
                requirement: r.detection.requirement(&skip),
            })
            .collect();
        RuleSet {
            rules,
            instances,
            route_fields,
            buckets: RwLock::new(HashMap::new()),
            by_members: Mutex::new(HashMap::new()),
        }
    }

    pub fn rules(&self) -> &[SigmaRule] {
        &self.rules
    }

    pub fn rule(&self, idx: u32) -> &SigmaRule {
        &self.rules[idx as usize]
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Appends the indices of the rules matching `event` to `out`, in rule order.
    pub fn match_event(&self, event: &Event, scratch: &mut Scratch, out: &mut Vec<u32>) {
        RouteKey::write_key(event, &self.route_fields, &mut scratch.key);
        let bucket = match scratch.local.get(scratch.key.as_str()) {
            Some(b) => Arc::clone(b),
            None => {
                let b = self.bucket(&scratch.key);
                if scratch.local.len() >= MAX_CACHED_ROUTES {
                    scratch.local.clear();
                }
                scratch
                    .local
                    .insert(scratch.key.as_str().into(), Arc::clone(&b));
                b
            }
        };
        if bucket.members.is_empty() {
            return;
        }
        let words = bucket.members.len().div_ceil(64);
        scratch.marks.clear();
        scratch.marks.resize(words, 0);
        for &i in &bucket.always {
            scratch.marks[i as usize / 64] |= 1 << (i % 64);
        }
        let mut text = std::mem::take(&mut scratch.text);
        for scan in &bucket.scans {
            if let Some(v) = scan.field.and_then(|f| event.get(f)) {
                scan.mark(v, &mut text, &mut scratch.marks);
            }
        }
        if let Some(scan) = &bucket.any_field {
            for (_, v) in event.fields() {
                scan.mark(v, &mut text, &mut scratch.marks);
            }
        }
        scratch.text = text;
        for (w, &word) in scratch.marks.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let rule_idx = bucket.members[w * 64 + b];
                let inst = &self.instances[rule_idx as usize];
                scratch.evaluated += 1;
                if guard_holds(inst.guard, event)
                    && self.rules[rule_idx as usize].detection.matches(event)
                {
                    out.push(inst.rule);
                }
            }
        }
    }

    fn bucket(&self, key: &str) -> Arc<Bucket> {
        if let Ok(map) = self.buckets.read()
            && let Some(b) = map.get(key)
        {
            return Arc::clone(b);
        }
        let members = self.members_for(&RouteKey::from_key(key));
        let bucket = {
            let mut by_members = self.by_members.lock().unwrap_or_else(|e| e.into_inner());
            match by_members.get(&members) {
                Some(b) => Arc::clone(b),
                None => {
                    let b = Arc::new(self.build_bucket(members.clone()));
                    if by_members.len() < MAX_CACHED_ROUTES {
                        by_members.insert(members, Arc::clone(&b));
                    }
                    b
                }
            }
        };
        if let Ok(mut map) = self.buckets.write()
            && map.len() < MAX_CACHED_ROUTES
        {
            map.insert(key.into(), Arc::clone(&bucket));
        }
        bucket
    }

    /// The rules whose log source admits `key` and that routing fields do not rule out.
    fn members_for(&self, key: &RouteKey) -> Vec<u32> {
        let f = &self.route_fields;
        let mut known = Event::new(Origin::default(), "route");
        if let Some(ch) = &key.channel {
            let _ = known.insert(f.channel, Value::from(ch.as_str()));
        }
        if let Some(id) = key.event_id {
            let _ = known.insert(f.event_id, Value::Int(id));
        }
        if let Some(p) = &key.provider {
            let _ = known.insert(f.provider, Value::from(p.as_str()));
        }
        let known_fields: Vec<FieldId> = if key.product.as_deref() == Some("windows") {
            vec![f.channel, f.event_id, f.provider]
        } else {
            Vec::new()
        };
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.route.admits(key) && r.detection.partial_eval(&known, &known_fields) != Tri::False
            })
            .map(|(i, _)| i as u32)
            .collect()
    }

    fn build_bucket(&self, members: Vec<u32>) -> Bucket {
        let mut always = Vec::new();
        // field → needle text → member positions
        let mut per_field: HashMap<Option<FieldId>, HashMap<&str, Vec<u32>>> = HashMap::new();
        for (pos, &rule) in members.iter().enumerate() {
            match &self.instances[rule as usize].requirement {
                None => always.push(pos as u32),
                Some(needles) => {
                    for n in needles {
                        per_field
                            .entry(n.field)
                            .or_default()
                            .entry(n.text.as_str())
                            .or_default()
                            .push(pos as u32);
                    }
                }
            }
        }
        let mut scans = Vec::new();
        let mut any_field = None;
        let mut fields: Vec<_> = per_field.into_iter().collect();
        fields.sort_by_key(|(f, _)| *f);
        for (field, needles) in fields {
            let mut needles: Vec<(&str, Vec<u32>)> = needles.into_iter().collect();
            needles.sort();
            let patterns: Vec<&str> = needles.iter().map(|(n, _)| *n).collect();
            let mut builder = AhoCorasickBuilder::new();
            builder
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard);
            let automaton = builder.build(&patterns);
            let Ok(automaton) = automaton else {
                // Too large to build: evaluate these rules without the prefilter.
                for (_, owners) in needles {
                    always.extend(owners);
                }
                continue;
            };
            let scan = FieldScan {
                field,
                automaton,
                owners: needles.into_iter().map(|(_, o)| o).collect(),
            };
            if field.is_none() {
                any_field = Some(scan);
            } else {
                scans.push(scan);
            }
        }
        always.sort_unstable();
        always.dedup();
        Bucket {
            members,
            always,
            scans,
            any_field,
        }
    }

    /// The rules of the bucket for `event` that the prefilter cannot skip (always evaluated),
    /// for diagnosing slow rule sets.
    pub fn unfiltered_rules(&self, event: &Event) -> Vec<u32> {
        let mut key = String::new();
        RouteKey::write_key(event, &self.route_fields, &mut key);
        let b = self.bucket(&key);
        b.always.iter().map(|&i| b.members[i as usize]).collect()
    }

    /// Number of distinct routing keys seen and buckets built, for diagnostics.
    pub fn cache_stats(&self) -> (usize, usize) {
        let routes = self.buckets.read().map(|m| m.len()).unwrap_or(0);
        let buckets = self.by_members.lock().map(|m| m.len()).unwrap_or(0);
        (routes, buckets)
    }
}

fn guard_holds(guard: Option<(FieldId, &'static [&'static str])>, event: &Event) -> bool {
    let Some((field, allowed)) = guard else {
        return true;
    };
    event
        .get(field)
        .and_then(Value::as_str)
        .is_some_and(|v| allowed.iter().any(|a| a.eq_ignore_ascii_case(v)))
}

impl FieldScan {
    fn mark(&self, v: &Value, text: &mut String, marks: &mut [u64]) {
        v.for_each_text(text, &mut |t| {
            for m in self.automaton.find_overlapping_iter(t) {
                for &pos in &self.owners[m.pattern().as_usize()] {
                    marks[pos as usize / 64] |= 1 << (pos % 64);
                }
            }
            false
        });
    }
}

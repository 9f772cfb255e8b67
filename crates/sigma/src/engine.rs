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
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
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

/// The rules one log (product, service, channel) can see, whatever the event ID.
struct Group {
    /// Rule indices, in rule order.
    members: Vec<u32>,
}

/// The rules that can match events of one routing key.
pub struct Bucket {
    /// Bit per rule: in this bucket.
    active: Vec<u64>,
    /// Rules evaluated whatever the prefilter says.
    always: Vec<u32>,
    /// Prefilter scans of the fields this bucket's rules have needles on.
    scans: Vec<Arc<FieldScan>>,
    /// Needles searched in every field (keyword rules).
    any_field: Option<Arc<FieldScan>>,
    /// Whether any rule is active (empty buckets skip all work).
    any: bool,
}

/// One field's prefilter: an automaton over the needles every rule registered for the field.
struct FieldScan {
    field: Option<FieldId>,
    /// A contiguous NFA: quick to build, about 20 instructions per byte scanned.
    automaton: AhoCorasick,
    /// Per pattern, the rules it makes candidates.
    owners: Vec<Vec<u32>>,
    /// The same patterns as a DFA (half the scanning cost, several times the build cost and
    /// memory), built once this field has been scanned enough to repay it: a one-shot hunt
    /// stays on the NFA, a long run or a service switches.
    dfa: OnceLock<AhoCorasick>,
    patterns: Vec<String>,
    /// Bytes to scan before the DFA is worth building.
    payback: u64,
    scanned: std::sync::atomic::AtomicU64,
    upgrading: std::sync::atomic::AtomicBool,
}

/// Bytes scanned per byte of patterns before a field's DFA is built.
const DFA_PAYBACK: u64 = 64;

/// A field scan built on first use, shared by every bucket that needs it.
type LazyScan = Arc<OnceLock<Arc<FieldScan>>>;

/// Needle text → rules, for one field.
type NeedleOwners = Vec<(String, Vec<u32>)>;

/// Per-thread working memory for matching.
#[derive(Default)]
pub struct Scratch {
    key: String,
    text: String,
    lower: Vec<u8>,
    marks: Vec<u64>,
    /// This thread's routing-key → bucket cache, hashed with FxHash (a lookup per event).
    local: rustc_hash::FxHashMap<Box<str>, Arc<Bucket>>,
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
    groups: Mutex<HashMap<String, Arc<OnceLock<Arc<Group>>>>>,
    /// Every rule's needles per field (cut to [`MAX_NEEDLE_BYTES`]), the input of the scans.
    needles: HashMap<Option<FieldId>, NeedleOwners>,
    /// Field scans, built the first time a bucket needs them.
    scans: Mutex<HashMap<Option<FieldId>, LazyScan>>,
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
            .collect::<Vec<_>>();
        let needles = index_needles(&instances);
        RuleSet {
            rules,
            instances,
            route_fields,
            buckets: RwLock::new(HashMap::new()),
            groups: Mutex::new(HashMap::new()),
            needles,
            scans: Mutex::new(HashMap::new()),
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
        if !bucket.any {
            return;
        }
        scratch.marks.clear();
        scratch.marks.resize(bucket.active.len(), 0);
        for &i in &bucket.always {
            scratch.marks[i as usize / 64] |= 1 << (i % 64);
        }
        let mut text = std::mem::take(&mut scratch.text);
        let mut lower = std::mem::take(&mut scratch.lower);
        for scan in &bucket.scans {
            if let Some(v) = scan.field.and_then(|f| event.get(f)) {
                scan.mark(v, &mut text, &mut lower, &mut scratch.marks);
            }
        }
        if let Some(scan) = &bucket.any_field {
            for (_, v) in event.fields() {
                scan.mark(v, &mut text, &mut lower, &mut scratch.marks);
            }
        }
        scratch.text = text;
        scratch.lower = lower;
        for (w, (&word, &active)) in scratch.marks.iter().zip(&bucket.active).enumerate() {
            let mut bits = word & active;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let rule_idx = w * 64 + b;
                let inst = &self.instances[rule_idx];
                scratch.evaluated += 1;
                if guard_holds(inst.guard, event) && self.rules[rule_idx].detection.matches(event) {
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
        let route = RouteKey::from_key(key);
        let group = self.group(&route);
        let bucket = Arc::new(self.build_bucket(&route, group));
        if let Ok(mut map) = self.buckets.write()
            && map.len() < MAX_CACHED_ROUTES
        {
            map.insert(key.into(), Arc::clone(&bucket));
        }
        bucket
    }

    /// The group of the log `key` belongs to (its key without EventID and provider).
    fn group(&self, key: &RouteKey) -> Arc<Group> {
        let name = format!(
            "{}\u{1f}{}\u{1f}{}",
            key.product.as_deref().unwrap_or(""),
            key.service.as_deref().unwrap_or(""),
            key.channel.as_deref().unwrap_or("")
        );
        // The map lock is held only to find the group's cell; the group is built outside it, so
        // other threads keep matching and building other groups, and threads that need the
        // same group wait for the one building it instead of building it twice.
        let cell = {
            let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
            match groups.get(&name) {
                Some(c) => Arc::clone(c),
                None => {
                    let c = Arc::new(OnceLock::new());
                    if groups.len() < MAX_CACHED_ROUTES {
                        groups.insert(name, Arc::clone(&c));
                    }
                    c
                }
            }
        };
        Arc::clone(cell.get_or_init(|| {
            let members: Vec<u32> = (0..self.rules.len() as u32)
                .filter(|&i| self.rules[i as usize].route.admits_log(key))
                .collect();
            Arc::new(Group { members })
        }))
    }

    /// The group members whose log source admits `key` and that the routing fields do not
    /// rule out, with the field scans their needles need.
    fn build_bucket(&self, key: &RouteKey, group: Arc<Group>) -> Bucket {
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
        let mut active = vec![0u64; self.rules.len().div_ceil(64)];
        let mut always = Vec::new();
        let mut fields: Vec<Option<FieldId>> = Vec::new();
        let mut any = false;
        for &i in &group.members {
            let r = &self.rules[i as usize];
            if !r.route.admits(key) || r.detection.partial_eval(&known, &known_fields) == Tri::False
            {
                continue;
            }
            active[i as usize / 64] |= 1 << (i % 64);
            any = true;
            match &self.instances[i as usize].requirement {
                None => always.push(i),
                Some(needles) => fields.extend(needles.iter().map(|n| n.field)),
            }
        }
        fields.sort();
        fields.dedup();
        let mut scans = Vec::new();
        let mut any_field = None;
        for field in fields {
            let Some(scan) = self.field_scan(field) else {
                continue;
            };
            if field.is_none() {
                any_field = Some(scan);
            } else {
                scans.push(scan);
            }
        }
        Bucket {
            active,
            always,
            scans,
            any_field,
            any,
        }
    }

    /// The scan of one field over every rule's needles for it, built on first request. Threads
    /// that need the same scan wait for the one building it.
    fn field_scan(&self, field: Option<FieldId>) -> Option<Arc<FieldScan>> {
        let needles = self.needles.get(&field)?;
        let cell = {
            let mut scans = self.scans.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(scans.entry(field).or_default())
        };
        Some(Arc::clone(
            cell.get_or_init(|| Arc::new(build_scan(field, needles))),
        ))
    }

    /// The rules of the bucket for `event` that the prefilter cannot skip (always evaluated),
    /// for diagnosing slow rule sets.
    pub fn unfiltered_rules(&self, event: &Event) -> Vec<u32> {
        let mut key = String::new();
        RouteKey::write_key(event, &self.route_fields, &mut key);
        self.bucket(&key).always.clone()
    }

    /// Number of distinct routing keys seen and log groups built, for diagnostics.
    pub fn cache_stats(&self) -> (usize, usize) {
        let routes = self.buckets.read().map(|m| m.len()).unwrap_or(0);
        let groups = self.groups.lock().map(|m| m.len()).unwrap_or(0);
        (routes, groups)
    }
}

/// Every rule's needles grouped by field and text, with the rules that need each.
fn index_needles(instances: &[Instance]) -> HashMap<Option<FieldId>, NeedleOwners> {
    let mut per_field: HashMap<Option<FieldId>, HashMap<String, Vec<u32>>> = HashMap::new();
    for (i, inst) in instances.iter().enumerate() {
        for n in inst.requirement.iter().flatten() {
            let owners = per_field
                .entry(n.field)
                .or_default()
                .entry(needle_prefix(&n.text).to_ascii_lowercase())
                .or_default();
            if owners.last() != Some(&(i as u32)) {
                owners.push(i as u32);
            }
        }
    }
    per_field
        .into_iter()
        .map(|(field, needles)| {
            let mut list: NeedleOwners = needles.into_iter().collect();
            list.sort();
            (field, list)
        })
        .collect()
}

/// Builds one field's automaton. A contiguous NFA builds much faster than a DFA and searches
/// nearly as fast; an automaton is built once per run, so build time counts. If it cannot be
/// built (too large), its rules are marked on every value, so they are simply evaluated.
fn build_scan(field: Option<FieldId>, needles: &NeedleOwners) -> FieldScan {
    tracing::debug!(
        field = ?field,
        patterns = needles.len(),
        bytes = needles.iter().map(|(n, _)| n.len()).sum::<usize>(),
        "building prefilter automaton"
    );
    let patterns: Vec<String> = needles.iter().map(|(n, _)| n.clone()).collect();
    let built = AhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::ContiguousNFA))
        .build(&patterns);
    let (automaton, owners, patterns) = match built {
        Ok(automaton) => (
            automaton,
            needles.iter().map(|(_, o)| o.clone()).collect(),
            patterns,
        ),
        Err(e) => {
            tracing::warn!("prefilter automaton for {field:?} not built: {e}");
            let everyone: Vec<u32> = needles
                .iter()
                .flat_map(|(_, o)| o.iter().copied())
                .collect();
            let automaton =
                AhoCorasick::new([""]).unwrap_or_else(|_| unreachable!("one empty pattern"));
            (automaton, vec![everyone], vec![String::new()])
        }
    };
    let pattern_bytes: u64 = patterns.iter().map(|p| p.len() as u64).sum();
    FieldScan {
        field,
        automaton,
        owners,
        dfa: OnceLock::new(),
        payback: pattern_bytes.saturating_mul(DFA_PAYBACK),
        patterns,
        scanned: Default::default(),
        upgrading: Default::default(),
    }
}

/// Longest prefilter needle, in bytes. Any prefix of a required literal is itself required, so
/// cutting long needles (hash lists, long command lines) keeps the prefilter sound while the
/// automata shrink several-fold and build much faster; 16 bytes stay highly selective.
const MAX_NEEDLE_BYTES: usize = 16;

fn needle_prefix(text: &str) -> &str {
    if text.len() <= MAX_NEEDLE_BYTES {
        return text;
    }
    // The end of a literal is usually its distinctive part (`…\\system32\\rundll32.exe`),
    // while its start is often shared (`c:\\windows\\system32\\`).
    let mut start = text.len() - MAX_NEEDLE_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
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
    /// The DFA once built; otherwise the NFA, counting the bytes so the thread that crosses
    /// the payback point builds the DFA (the others keep scanning meanwhile).
    fn automaton_for(&self, len: usize) -> &AhoCorasick {
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(dfa) = self.dfa.get() {
            return dfa;
        }
        let scanned = self.scanned.fetch_add(len as u64, Relaxed) + len as u64;
        if scanned > self.payback && !self.upgrading.swap(true, Relaxed) {
            let dfa = AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::DFA))
                .build(&self.patterns);
            match dfa {
                Ok(dfa) => {
                    let _ = self.dfa.set(dfa);
                }
                Err(e) => tracing::debug!("prefilter DFA for {:?} not built: {e}", self.field),
            }
        }
        &self.automaton
    }

    /// Marks the rules whose needles occur in `v`. The automaton is case-sensitive over
    /// lower-case needles and reads an ASCII-lower-cased copy of the text: cheaper to build and
    /// to run than an ASCII-case-insensitive automaton, whose every state has twice the
    /// transitions.
    fn mark(&self, v: &Value, text: &mut String, lower: &mut Vec<u8>, marks: &mut [u64]) {
        v.for_each_text(text, &mut |t| {
            lower.clear();
            lower.extend(t.bytes().map(|b| b.to_ascii_lowercase()));
            let automaton = self.automaton_for(lower.len());
            for m in automaton.find_overlapping_iter(lower.as_slice()) {
                for &pos in &self.owners[m.pattern().as_usize()] {
                    marks[pos as usize / 64] |= 1 << (pos % 64);
                }
            }
            false
        });
    }
}

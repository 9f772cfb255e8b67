//! Per-entity behaviour baselines (UEBA) for users, hosts, source IPs and services.
//!
//! [`Ueba::observe`] first scores an event against the baselines of every entity it names,
//! then learns from it. Each entity keeps, in bounded memory:
//!
//! * a 168-slot hour-of-week activity profile (decayed counts, `f32`) and its 24-slot
//!   hour-of-day marginal;
//! * a seasonal event rate: EWMA mean/variance of per-hour counts per hour of day and per
//!   weekday (silent hours count as zero);
//! * for each kind of related value (user → source ip / country / ASN / device / host;
//!   host → user / process / parent→child pair / destination port; source ip and service →
//!   user): a decayed total, a 32-register HyperLogLog of distinct values and a top-k of the
//!   most frequent values with first/last-seen times, all backed by one shared, cache-line
//!   blocked count-min sketch (`cms_depth × cms_width` `f32` cells) over 64-bit value hashes —
//!   strings are kept only in top-k labels.
//!
//! Every count is forward-decayed with `half_life_days` (see [`sketch`]), so a value unseen for
//! many half-lives becomes new again. Peer groups ([`peer`]) are configured or learned
//! (k-means over users' hour-of-week profiles) and keep their own decayed sketches.
//!
//! Findings ([`FindingKind`]): a new value after warm-up, a rare value, an unusual hour, an
//! event-rate spike (z-score against the seasonal EWMA), a value rare among peers. Entities
//! alert only after warm-up; an event's findings across all its entities are combined into one
//! [`Alert`] (rule of the strongest finding, score `1 − Π(1 − sᵢ)`) whose evidence starts with
//! an `explanation` sentence and a `score`; a per-(entity, alert family, value) cooldown stops
//! floods. [`explain::rules`] lists the alert types.
//!
//! Known behaviour is scored and learned without allocating (a test counts allocations):
//! values are hashed from the event's fields in place, scratch buffers are reused.
//!
//! **Memory.** [`Ueba::approx_bytes`] adds, per entity, `size_of::<Entity>()` (inline part,
//! boxed), the requested heap of its vectors (capacity × element size) and labels, and the
//! map slot (`(u64, Box<Entity>)` + 1 control byte per bucket, over the table's capacity);
//! allocator headers/rounding are excluded, which the `ueba_mem` example checks against RSS.
//! The default profile's worst case (a user with all five relations, full top-k and maximal
//! labels) is asserted ≤ 4 KiB by a test.

pub mod config;
pub mod explain;
pub mod peer;
pub mod profile;
pub mod sketch;
mod snapshot;
#[cfg(test)]
mod tests;

use std::fmt::Write;
use std::sync::Arc;

use chrono::{DateTime, Timelike, Utc};
use palisade_event::{Alert, Event, FieldId, Value};
use rustc_hash::FxHashMap;

pub use config::UebaConfig;
pub use explain::{Finding, FindingKind};
pub use profile::{EntityKind, ProfileSummary, RelKind, RelSummary, TopValue};
pub use snapshot::{FORMAT_VERSION, MAGIC};

use explain::{days, hours, new_value_score, phrase, severity};
use peer::{Group, Peers};
use profile::{Entity, HOW, NO_GROUP, hour_of_week};
use sketch::{cms_add, cms_get, hash_bytes, hll_add, mix, topk_update};

/// Errors from [`Ueba`].
#[derive(Debug, thiserror::Error)]
pub enum UebaError {
    #[error("invalid UEBA configuration: {0}")]
    Config(String),
    #[error("not a UEBA snapshot (bad magic bytes)")]
    BadMagic,
    #[error("UEBA snapshot format version {found} is not supported (this build reads {supported})")]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("corrupt UEBA snapshot: {0}")]
    Corrupt(String),
    #[error(
        "UEBA snapshot was taken with {knob} = {found}, but the configuration says {configured}"
    )]
    Incompatible {
        knob: &'static str,
        found: u64,
        configured: u64,
    },
}

/// Field ids resolved once.
struct Fields {
    user: FieldId,
    host: FieldId,
    src_ip: FieldId,
    country: FieldId,
    asn: FieldId,
    device_id: FieldId,
    user_agent: FieldId,
    service: FieldId,
    proc_exe: FieldId,
    proc_name: FieldId,
    parent_exe: FieldId,
    parent_name: FieldId,
    dst_port: FieldId,
    category: FieldId,
}

impl Fields {
    fn new() -> Self {
        let k = FieldId::known;
        Fields {
            user: k("user.name"),
            host: k("host.name"),
            src_ip: k("source.ip"),
            country: k("source.geo.country_iso_code"),
            asn: k("source.as.number"),
            device_id: k("device.id"),
            user_agent: k("user_agent.original"),
            service: k("service.name"),
            proc_exe: k("process.executable"),
            proc_name: k("process.name"),
            parent_exe: k("process.parent.executable"),
            parent_name: k("process.parent.name"),
            dst_port: k("destination.port"),
            category: k("event.category"),
        }
    }
}

/// A scalar field's text without allocating (numbers are written into `buf`).
fn text<'a>(ev: &'a Event, id: FieldId, buf: &'a mut String) -> Option<&'a str> {
    let v = ev.get(id)?;
    let v = match v {
        Value::Array(items) => items.first()?,
        v => v,
    };
    match v {
        Value::Str(s) => {
            let s = s.as_str().trim();
            (!s.is_empty() && s != "-").then_some(s)
        }
        Value::Int(i) => {
            buf.clear();
            let _ = write!(buf, "{i}");
            Some(buf.as_str())
        }
        Value::Float(f) if f.fract() == 0.0 => {
            buf.clear();
            let _ = write!(buf, "{}", *f as i64);
            Some(buf.as_str())
        }
        _ => None,
    }
}

/// Per-event scratch, reused so the hot path does not allocate.
#[derive(Default)]
struct Scratch {
    buf: String,
    buf2: String,
    /// (kind, key) of the entities named by the event.
    ents: Vec<(EntityKind, u64)>,
    /// Hash of each relation's value in this event (`RelKind as usize`), 0 when absent.
    vals: [u64; RelKind::ALL.len()],
    findings: Vec<Finding>,
}

/// Per-entity behaviour baselines; see the [module docs](self).
pub struct Ueba {
    cfg: UebaConfig,
    f: Fields,
    hl_secs: f64,
    a_day: f32,
    a_wd: f32,
    entities: FxHashMap<u64, Box<Entity>>,
    /// (entity, family, value) hash → muted until (Unix seconds).
    cooldown: FxHashMap<u64, i64>,
    peers: Peers,
    /// Configured peer group of an entity key.
    configured: FxHashMap<u64, u16>,
    /// Latest event time seen (used for events without a timestamp).
    clock: i64,
    evictions: u64,
    s: Scratch,
}

fn warm(cfg: &UebaConfig, e: &Entity) -> bool {
    e.events >= cfg.warmup_min_events
        && (e.last_seen - e.first_seen) as f64 >= cfg.warmup_min_days * 86_400.0
}

/// The group an entity compares with: configured first, then learned.
fn group_of(
    cfg: &UebaConfig,
    configured: &FxHashMap<u64, u16>,
    peers: &Peers,
    key: u64,
    e: &Entity,
) -> u16 {
    if let Some(g) = configured.get(&key) {
        return *g;
    }
    if e.group != NO_GROUP && (e.group as usize) < cfg.learned_groups {
        return peers.configured as u16 + e.group;
    }
    NO_GROUP
}

/// Key of an entity: its kind and name hashed together.
pub fn entity_key(kind: EntityKind, name: &str) -> u64 {
    hash_bytes(0x0E17_1700 + kind as u64, name.as_bytes())
}

impl Ueba {
    /// A fresh model; errors when the configuration is unusable.
    pub fn new(cfg: UebaConfig) -> Result<Ueba, UebaError> {
        cfg.validate().map_err(UebaError::Config)?;
        let hl_secs = cfg.half_life_days * 86_400.0;
        // Hour-of-day slots are updated once a day, weekday slots 24 times a week-day.
        let a_day = 1.0 - 0.5f64.powf(1.0 / cfg.rate_half_life_days);
        let a_wd = 1.0 - 0.5f64.powf(1.0 / (cfg.rate_half_life_days / 7.0 * 24.0));
        let mut u = Ueba {
            f: Fields::new(),
            hl_secs,
            a_day: a_day as f32,
            a_wd: a_wd as f32,
            entities: FxHashMap::default(),
            cooldown: FxHashMap::default(),
            peers: Peers::default(),
            configured: FxHashMap::default(),
            clock: i64::MIN,
            evictions: 0,
            s: Scratch::default(),
            cfg,
        };
        u.set_groups(Vec::new());
        Ok(u)
    }

    /// Builds the group table from the configuration, reusing `old` sketches by name.
    fn set_groups(&mut self, old: Vec<Group>) {
        let cells = self.cfg.cms_depth * self.cfg.peer_cms_width;
        let mut names: Vec<&String> = self.cfg.peer_groups.values().collect();
        names.sort();
        names.dedup();
        let take = |name: String| -> Group {
            old.iter()
                .find(|g| g.name == name && g.cms.len() == cells)
                .cloned()
                .unwrap_or_else(|| Group::new(name, cells))
        };
        let mut groups: Vec<Group> = names.iter().map(|n| take((*n).clone())).collect();
        let configured = groups.len();
        for i in 0..self.cfg.learned_groups {
            groups.push(take(format!("learned-{i}")));
        }
        self.configured = self
            .cfg
            .peer_groups
            .iter()
            .map(|(k, g)| {
                let (kind, name) = match k.split_once(':') {
                    Some(("host", n)) => (EntityKind::Host, n),
                    Some(("user", n)) => (EntityKind::User, n),
                    Some(("ip", n)) | Some(("source_ip", n)) => (EntityKind::SourceIp, n),
                    Some(("service", n)) => (EntityKind::Service, n),
                    _ => (EntityKind::User, k.as_str()),
                };
                let gi = names.iter().position(|n| *n == g).unwrap_or(0) as u16;
                (entity_key(kind, name), gi)
            })
            .collect();
        self.peers.groups = groups;
        self.peers.configured = configured;
    }

    pub fn config(&self) -> &UebaConfig {
        &self.cfg
    }

    /// Entities currently tracked.
    pub fn entity_count(&self) -> usize {
        self.entities.len()
    }

    /// Entities evicted so far to respect `max_entities`.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Approximate bytes held (see the module docs for what is counted).
    pub fn approx_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(u64, Box<Entity>)>() + 1;
        std::mem::size_of::<Self>()
            + self.entities.capacity() * slot
            + self
                .entities
                .values()
                .map(|e| std::mem::size_of::<Entity>() + e.heap_bytes())
                .sum::<usize>()
            + self.cooldown.capacity() * (std::mem::size_of::<(u64, i64)>() + 1)
            + self
                .peers
                .groups
                .iter()
                .map(|g| std::mem::size_of::<Group>() + g.cms.capacity() * 4 + g.name.len())
                .sum::<usize>()
            + self.peers.centroids.len() * (HOW * 4 + 24)
    }

    fn warm(&self, e: &Entity) -> bool {
        warm(&self.cfg, e)
    }

    fn group_of(&self, key: u64, e: &Entity) -> u16 {
        group_of(&self.cfg, &self.configured, &self.peers, key, e)
    }

    /// A serialisable view of one entity's baseline.
    pub fn profile(&self, kind: EntityKind, name: &str) -> Option<ProfileSummary> {
        let key = entity_key(kind, name);
        let e = self.entities.get(&key)?;
        let now = self.clock.max(e.last_seen);
        let w = e.weight_at(now, self.hl_secs);
        let total = e.how_total.max(f32::MIN_POSITIVE);
        let g = self.group_of(key, e);
        Some(ProfileSummary {
            kind,
            name: name.to_string(),
            events: e.events,
            first_seen: e.first_seen,
            last_seen: e.last_seen,
            warm: self.warm(e),
            usual_hours: e.usual_hours().map(hours),
            hour_of_week: e.how.iter().map(|c| c / total).collect(),
            hourly_rate_mean: e.rate.hod_mean.to_vec(),
            hourly_rate_std: e.rate.hod_var.iter().map(|v| v.sqrt()).collect(),
            peer_group: (g != NO_GROUP)
                .then(|| self.peers.groups.get(g as usize).map(|g| g.name.clone()))
                .flatten(),
            relations: kind
                .relations()
                .iter()
                .filter_map(|r| e.summary_rel(*r, w))
                .collect(),
        })
    }

    /// The text of a relation's value in `ev`, into `buf`.
    fn rel_text<'a>(
        f: &Fields,
        ev: &'a Event,
        rel: RelKind,
        buf: &'a mut String,
    ) -> Option<&'a str> {
        match rel {
            RelKind::SrcIp => text(ev, f.src_ip, buf),
            RelKind::Country => text(ev, f.country, buf),
            RelKind::Asn => text(ev, f.asn, buf),
            RelKind::Device => {
                if ev.get(f.device_id).is_some() {
                    text(ev, f.device_id, buf)
                } else {
                    text(ev, f.user_agent, buf)
                }
            }
            RelKind::Host => text(ev, f.host, buf),
            RelKind::Process => {
                if ev.get(f.proc_exe).is_some() {
                    text(ev, f.proc_exe, buf)
                } else {
                    text(ev, f.proc_name, buf)
                }
            }
            RelKind::ParentChild => {
                let mut b2 = String::new();
                let child = if ev.get(f.proc_exe).is_some() {
                    text(ev, f.proc_exe, &mut b2)
                } else {
                    text(ev, f.proc_name, &mut b2)
                }?
                .to_string();
                let parent = if ev.get(f.parent_exe).is_some() {
                    text(ev, f.parent_exe, buf)
                } else {
                    text(ev, f.parent_name, buf)
                }?
                .to_string();
                buf.clear();
                let _ = write!(buf, "{parent} → {child}");
                Some(buf.as_str())
            }
            RelKind::DestPort => text(ev, f.dst_port, buf),
            RelKind::User => text(ev, f.user, buf),
        }
    }

    /// Hashes of the event's related values (0 = absent), without allocating. Only the
    /// relations of the entities the event names are read (the others are never looked at:
    /// a Zeek conn record names a source address and the `conn` service, both of which relate
    /// only to users), so an event does not pay for field lookups and number formatting it
    /// cannot use.
    fn hash_values(&mut self, ev: &Event) {
        let f = &self.f;
        let s = &mut self.s;
        let mut wanted = 0u32;
        for &(kind, _) in &s.ents {
            for &rel in kind.relations() {
                wanted |= 1 << rel as u32;
            }
        }
        for rel in RelKind::ALL {
            s.vals[rel as usize] = if wanted & (1 << rel as u32) == 0 {
                0
            } else if rel == RelKind::ParentChild {
                // Hash parent and child separately and combine: no string is built.
                let child = if ev.get(f.proc_exe).is_some() {
                    text(ev, f.proc_exe, &mut s.buf)
                } else {
                    text(ev, f.proc_name, &mut s.buf)
                }
                .map(|t| hash_bytes(1, t.as_bytes()));
                let parent = if ev.get(f.parent_exe).is_some() {
                    text(ev, f.parent_exe, &mut s.buf2)
                } else {
                    text(ev, f.parent_name, &mut s.buf2)
                }
                .map(|t| hash_bytes(2, t.as_bytes()));
                match (parent, child) {
                    (Some(p), Some(c)) => mix(p ^ c.rotate_left(17) ^ rel.salt()) | 1,
                    _ => 0,
                }
            } else {
                match Self::rel_text(f, ev, rel, &mut s.buf) {
                    Some(t) => hash_bytes(rel.salt(), t.as_bytes()) | 1,
                    None => 0,
                }
            };
        }
    }

    fn evict_if_full(&mut self) {
        if self.entities.len() < self.cfg.max_entities {
            return;
        }
        // Drop the least recently seen 1/16 (ties broken by key, so the choice does not
        // depend on map order): one O(n) pass per max/16 insertions.
        let n = (self.cfg.max_entities / 16).max(1);
        let mut ages: Vec<(i64, u64)> = self
            .entities
            .iter()
            .map(|(k, e)| (e.last_seen, *k))
            .collect();
        let n = n.min(ages.len());
        ages.select_nth_unstable(n - 1);
        for (_, k) in &ages[..n] {
            self.entities.remove(k);
        }
        self.evictions += n as u64;
    }

    fn maybe_recluster(&mut self, t: i64) {
        let k = self.cfg.learned_groups;
        let hour = t.div_euclid(3600);
        if k == 0 || hour < self.peers.next_recompute_hour {
            return;
        }
        let period = self.cfg.peer_recompute_hours.max(1) as i64;
        // Too few warm users yet: try again within a day rather than a whole period.
        self.peers.next_recompute_hour = hour + period.min(24);
        let mut keys: Vec<u64> = self
            .entities
            .iter()
            .filter(|(_, e)| {
                e.kind == EntityKind::User
                    && e.how_total > 0.0
                    && e.events >= self.cfg.warmup_min_events
            })
            .map(|(k, _)| *k)
            .collect();
        if keys.len() < k.max(2) {
            return;
        }
        keys.sort_unstable();
        keys.truncate(self.cfg.peer_sample.max(k));
        let pts: Vec<[f32; HOW]> = keys
            .iter()
            .map(|k| peer::normalise(&self.entities[k].how))
            .collect();
        self.peers.next_recompute_hour = hour + period;
        self.peers.centroids = peer::kmeans(&pts, k, &self.peers.centroids, self.cfg.seed);
        self.peers.epoch = self.peers.epoch.wrapping_add(1);
    }

    /// Scores `ev` against the baselines of the entities it names, appends at most one alert
    /// to `out`, then learns from it. Events without a timestamp use the latest time seen;
    /// events before any timestamp was seen are ignored.
    pub fn observe(&mut self, ev: &Event, out: &mut Vec<Alert>) {
        let t = match ev.timestamp {
            Some(ts) => ts.timestamp(),
            None if self.clock != i64::MIN => self.clock,
            None => return,
        };
        self.clock = self.clock.max(t);
        // Entities named by the event.
        let mut ents = std::mem::take(&mut self.s.ents);
        ents.clear();
        {
            let f = &self.f;
            let buf = &mut self.s.buf;
            if let Some(u) = text(ev, f.user, buf) {
                ents.push((EntityKind::User, entity_key(EntityKind::User, u)));
            }
            if let Some(h) = text(ev, f.host, buf) {
                ents.push((EntityKind::Host, entity_key(EntityKind::Host, h)));
            }
            if let Some(ip) = text(ev, f.src_ip, buf) {
                ents.push((EntityKind::SourceIp, entity_key(EntityKind::SourceIp, ip)));
            }
            let svc = ev.meta.service.as_deref().filter(|s| !s.is_empty());
            if let Some(s) = svc.or_else(|| text(ev, f.service, buf)) {
                ents.push((EntityKind::Service, entity_key(EntityKind::Service, s)));
            }
        }
        if ents.is_empty() {
            self.s.ents = ents;
            return;
        }
        self.maybe_recluster(t);
        self.s.ents = ents;
        self.hash_values(ev);
        let ents = std::mem::take(&mut self.s.ents);
        let mut findings = std::mem::take(&mut self.s.findings);
        findings.clear();
        let hour = t.div_euclid(3600);
        let how = hour_of_week(hour);
        for &(kind, key) in &ents {
            self.score_and_learn(ev, kind, key, t, hour, how, &mut findings);
        }
        if !findings.is_empty() {
            self.emit(ev, t, &mut findings, out);
        }
        self.s.findings = findings;
        self.s.ents = ents;
    }

    /// [`Ueba::observe`] over a batch in stream order; each alert comes with the index of its
    /// event in `events`.
    pub fn observe_batch(&mut self, events: &[Event], out: &mut Vec<(usize, Alert)>) {
        let mut one = Vec::new();
        for (i, ev) in events.iter().enumerate() {
            self.observe(ev, &mut one);
            out.extend(one.drain(..).map(|a| (i, a)));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn score_and_learn(
        &mut self,
        ev: &Event,
        kind: EntityKind,
        key: u64,
        t: i64,
        hour: i64,
        how: usize,
        findings: &mut Vec<Finding>,
    ) {
        let hl = self.hl_secs;
        let depth = self.cfg.cms_depth;
        let vals = self.s.vals;
        // Evicting before the lookup (when full) keeps one hash lookup per entity; at worst a
        // known entity is evicted as least recently seen and starts again.
        self.evict_if_full();
        let cfg = &self.cfg;
        let e = self
            .entities
            .entry(key)
            .or_insert_with(|| Box::new(Entity::new(kind, t)));
        // Lazy (re)assignment to a learned peer group.
        if kind == EntityKind::User
            && !self.peers.centroids.is_empty()
            && e.group_epoch != self.peers.epoch
            && e.how_total > 0.0
        {
            e.group = peer::nearest(&self.peers.centroids, &peer::normalise(&e.how)) as u16;
            e.group_epoch = self.peers.epoch;
        }
        let group = group_of(cfg, &self.configured, &self.peers, key, e);
        // The current hour's count includes this event.
        e.rate.count(hour, self.a_day, self.a_wd);
        if warm(cfg, e) {
            let history_days = (t - e.first_seen) as f64 / 86_400.0;
            let base = Finding {
                entity: kind,
                entity_key: key,
                kind: FindingKind::UnusualHour,
                rel: None,
                value_hash: 0,
                score: 0.0,
                observed: 0.0,
                expected: (0.0, 0.0),
                rarity: 0.0,
                last_seen_days: None,
                history_days,
                baseline_events: e.events,
                group: NO_GROUP,
            };
            // Unusual hour.
            let p = e.how_prob(how);
            if p < cfg.unusual_hour_prob {
                findings.push(Finding {
                    score: 0.3 + 0.4 * (1.0 - p / cfg.unusual_hour_prob),
                    observed: p,
                    expected: (cfg.unusual_hour_prob, 1.0),
                    rarity: p,
                    value_hash: how as u64,
                    ..base.clone()
                });
            }
            // Rate spike.
            let c = e.rate.cur_count as f64;
            if e.rate.folded >= cfg.rate_min_hours && c >= cfg.rate_min_count as f64 {
                let (m, v) = e.rate.expected(hour);
                let sd = (v + m + 1.0).sqrt();
                let z = (c - m) / sd;
                if z >= cfg.rate_z && c >= cfg.rate_min_ratio * m {
                    findings.push(Finding {
                        kind: FindingKind::RateSpike,
                        score: (0.45 + 0.05 * (z - cfg.rate_z)).min(1.0),
                        observed: c,
                        expected: ((m - 2.0 * sd).max(0.0), m + 2.0 * sd),
                        rarity: z,
                        ..base.clone()
                    });
                }
            }
            // Related values.
            let w_now = e.weight_at(t, hl);
            let group_w = self
                .peers
                .groups
                .get(group as usize)
                .and_then(|g| g.weight_at(t, hl));
            for &rel in kind.relations() {
                let h = vals[rel as usize];
                if h == 0 {
                    continue;
                }
                let Some(r) = e.rel(rel) else { continue };
                if r.events < cfg.relation_min_events {
                    continue;
                }
                let est = cms_get(&e.cms, depth, h) as f64 / w_now;
                let total = r.total as f64 / w_now;
                let share = if total > 0.0 { est / total } else { 0.0 };
                let last = r
                    .top
                    .iter()
                    .find(|x| x.hash == h)
                    .map(|x| (t - x.last_seen) as f64 / 86_400.0);
                let f = Finding {
                    rel: Some(rel),
                    value_hash: h,
                    observed: est,
                    expected: (cfg.rare_share * total, total),
                    rarity: share,
                    last_seen_days: last,
                    ..base.clone()
                };
                let open_ended = r.distinct as f64 > cfg.novelty_max * r.events as f64;
                if open_ended {
                    // New values are the norm here; only peer rarity may still speak.
                } else if est < cfg.new_below {
                    findings.push(Finding {
                        kind: FindingKind::NewValue,
                        score: new_value_score(rel),
                        ..f
                    });
                } else if share < cfg.rare_share && est < cfg.rare_max_count {
                    findings.push(Finding {
                        kind: FindingKind::RareValue,
                        score: 0.35,
                        ..f
                    });
                }
                // Peer-group rarity (own contribution removed).
                if group != NO_GROUP
                    && rel.peer_comparable()
                    && est < cfg.peer_self_max
                    && let Some(gw) = group_w
                    && let Some(g) = self.peers.groups.get(group as usize)
                {
                    let (g_est, g_total) = g.get(depth, rel, h, gw);
                    let peers_total = g_total - total;
                    if peers_total >= cfg.peer_min_events {
                        let peers_est = (g_est - est).max(0.0);
                        let pshare = peers_est / peers_total;
                        if pshare < cfg.peer_rare_share {
                            findings.push(Finding {
                                kind: FindingKind::PeerRare,
                                score: if peers_est < 0.5 { 0.55 } else { 0.45 },
                                observed: peers_est,
                                expected: (cfg.peer_rare_share * peers_total, peers_total),
                                rarity: pshare,
                                group,
                                ..f
                            });
                        }
                    }
                }
            }
        }
        // Learn.
        let w = e.weight(t, hl);
        e.how[how] += w;
        e.hod[how % 24] += w;
        e.how_total += w;
        let mut group = self
            .peers
            .groups
            .get_mut(group as usize)
            .filter(|_| kind.relations().iter().any(|r| vals[*r as usize] != 0))
            .map(|g| {
                let gw = g.prepare(t, hl);
                (g, gw)
            });
        e.events = e.events.saturating_add(1);
        e.first_seen = e.first_seen.min(t);
        e.last_seen = e.last_seen.max(t);
        for &rel in kind.relations() {
            let h = vals[rel as usize];
            if h == 0 {
                continue;
            }
            if e.cms.is_empty() {
                e.cms = vec![0.0; depth * cfg.cms_width];
            }
            let est = cms_add(&mut e.cms, depth, h, w);
            let r = e.rel_mut(rel);
            r.events = r.events.saturating_add(1);
            r.total += w;
            if hll_add(&mut r.hll, h) {
                r.distinct = sketch::hll_estimate(&r.hll) as f32;
            }
            let f = &self.f;
            topk_update(&mut r.top, cfg.top_k, h, w, est, t, &|| {
                let mut b = String::new();
                Self::rel_text(f, ev, rel, &mut b).unwrap_or("").to_string()
            });
            if rel.peer_comparable()
                && let Some((g, gw)) = group.as_mut()
            {
                g.add(depth, rel, h, *gw);
            }
        }
    }
}

fn cooldown_key(f: &Finding) -> u64 {
    mix(f.entity_key ^ mix(f.family().wrapping_mul(0x9E37_79B9) ^ f.value_hash))
}

impl Ueba {
    /// The entity's name as written in the event.
    fn entity_name(&mut self, ev: &Event, kind: EntityKind) -> String {
        let f = &self.f;
        let buf = &mut self.s.buf;
        match kind {
            EntityKind::User => text(ev, f.user, buf),
            EntityKind::Host => text(ev, f.host, buf),
            EntityKind::SourceIp => text(ev, f.src_ip, buf),
            EntityKind::Service => ev
                .meta
                .service
                .as_deref()
                .filter(|s| !s.is_empty())
                .or_else(|| text(ev, f.service, buf)),
        }
        .unwrap_or("?")
        .to_string()
    }

    /// Applies cooldowns, combines the event's findings and appends one alert.
    fn emit(&mut self, ev: &Event, t: i64, findings: &mut Vec<Finding>, out: &mut Vec<Alert>) {
        // An unusual hour for the user says it all; the same hour being unusual for the host
        // or address the user came through would only repeat it.
        if findings
            .iter()
            .any(|f| f.kind == FindingKind::UnusualHour && f.entity == EntityKind::User)
        {
            findings.retain(|f| f.kind != FindingKind::UnusualHour || f.entity == EntityKind::User);
        }
        findings.retain(|f| {
            self.cooldown
                .get(&cooldown_key(f))
                .is_none_or(|&until| until <= t)
        });
        if findings.is_empty() {
            return;
        }
        let combined = 1.0 - findings.iter().map(|f| 1.0 - f.score).product::<f64>();
        if combined < self.cfg.min_score {
            return;
        }
        let until = t.saturating_add(self.cfg.cooldown_secs);
        for f in findings.iter() {
            self.cooldown.insert(cooldown_key(f), until);
        }
        self.prune_cooldown(t);
        findings.sort_by(|a, b| b.score.total_cmp(&a.score));

        let act = match text(ev, self.f.category, &mut self.s.buf) {
            Some(c) if c.eq_ignore_ascii_case("authentication") || c == "session" => "login",
            _ => "activity",
        };
        let when = DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default();
        // Entities in order of their strongest finding.
        let mut order: Vec<(EntityKind, u64)> = Vec::new();
        for f in findings.iter() {
            if !order.iter().any(|o| o.1 == f.entity_key) {
                order.push((f.entity, f.entity_key));
            }
        }
        // (who, what) per entity; entities saying the same thing share one clause.
        let mut parts: Vec<(String, String)> = Vec::new();
        let mut evidence: Vec<(String, String)> = Vec::new();
        let mut n = 0;
        for (kind, key) in order {
            let name = self.entity_name(ev, kind);
            let who = match kind {
                EntityKind::User => name.clone(),
                _ => format!("{} {name}", kind.as_str()),
            };
            let mut sentence = String::new();
            for (part, f) in findings.iter().filter(|f| f.entity_key == key).enumerate() {
                if part > 0 {
                    sentence.push_str("; ");
                }
                let mut value = String::new();
                if let Some(rel) = f.rel {
                    value = Self::rel_text(&self.f, ev, rel, &mut self.s.buf2)
                        .unwrap_or("?")
                        .to_string();
                }
                let mut ph = String::new();
                if let Some(rel) = f.rel {
                    phrase(&mut ph, kind, rel, act, &value);
                }
                let feature;
                let mut expected = format!("{:.3}–{:.3}", f.expected.0, f.expected.1);
                match f.kind {
                    FindingKind::NewValue => {
                        feature = f.rel.map_or("value", |r| r.key()).to_string();
                        let d = f.last_seen_days.unwrap_or(f.history_days);
                        let _ = write!(sentence, "first {ph} in {}", days(d));
                    }
                    FindingKind::RareValue => {
                        feature = f.rel.map_or("value", |r| r.key()).to_string();
                        let _ = write!(
                            sentence,
                            "rare {ph} ({:.1}% of recent activity)",
                            100.0 * f.rarity
                        );
                    }
                    FindingKind::UnusualHour => {
                        feature = "hour_of_week".into();
                        value = format!("{}", when.format("%a %H:%M"));
                        let usual = self
                            .entities
                            .get(&key)
                            .and_then(|e| e.usual_hours())
                            .map(hours)
                            .unwrap_or_else(|| "unknown".into());
                        expected = usual.clone();
                        let _ = write!(
                            sentence,
                            "usual hours {usual}, this one {:02}:{:02}",
                            when.hour(),
                            when.minute()
                        );
                    }
                    FindingKind::RateSpike => {
                        feature = "events_per_hour".into();
                        value = format!("{:.0}", f.observed);
                        expected = format!("{:.0}–{:.0}", f.expected.0, f.expected.1);
                        let _ = write!(
                            sentence,
                            "{:.0} events this hour, expected at most {:.0} (z {:.1})",
                            f.observed, f.expected.1, f.rarity
                        );
                    }
                    FindingKind::PeerRare => {
                        feature = format!("peer_{}", f.rel.map_or("value", |r| r.key()));
                        let g = self
                            .peers
                            .groups
                            .get(f.group as usize)
                            .map_or("?", |g| g.name.as_str());
                        if f.observed < 0.5 {
                            let _ = write!(sentence, "no one else in group {g} has {ph}");
                        } else {
                            let _ = write!(
                                sentence,
                                "{ph} is rare in group {g} ({:.2}% of peers' activity)",
                                100.0 * f.rarity
                            );
                        }
                    }
                }
                n += 1;
                let p = if n == 1 {
                    String::new()
                } else {
                    format!("{n}.")
                };
                let ev_push = |ev: &mut Vec<(String, String)>, k: &str, v: String| {
                    ev.push((format!("{p}{k}"), v));
                };
                ev_push(&mut evidence, "rule", f.rule().id.clone());
                ev_push(
                    &mut evidence,
                    "entity",
                    format!("{}:{}", kind.as_str(), self.entity_name(ev, kind)),
                );
                ev_push(&mut evidence, "feature", feature);
                if !value.is_empty() {
                    ev_push(&mut evidence, "value", value);
                }
                ev_push(&mut evidence, "observed", format!("{:.4}", f.observed));
                ev_push(&mut evidence, "expected", expected);
                ev_push(&mut evidence, "rarity", format!("{:.4}", f.rarity));
                if f.rel.is_some() {
                    ev_push(
                        &mut evidence,
                        "days_since_last_seen",
                        f.last_seen_days
                            .map_or_else(|| "never".into(), |d| format!("{d:.1}")),
                    );
                }
                ev_push(
                    &mut evidence,
                    "days_since_first_seen",
                    format!("{:.1}", f.history_days),
                );
                ev_push(
                    &mut evidence,
                    "baseline_events",
                    f.baseline_events.to_string(),
                );
                ev_push(&mut evidence, "finding_score", format!("{:.3}", f.score));
            }
            match parts.iter_mut().find(|p| p.1 == sentence) {
                Some(p) => {
                    p.0.push_str(" and ");
                    p.0.push_str(&who);
                }
                None => parts.push((who, sentence)),
            }
        }
        let mut sentence = String::new();
        for (who, what) in &parts {
            if !sentence.is_empty() {
                sentence.push_str("; ");
            }
            let _ = write!(sentence, "{who}: {what}");
        }
        let mut head = vec![
            ("explanation".to_string(), sentence),
            ("score".to_string(), format!("{combined:.3}")),
        ];
        head.append(&mut evidence);
        let rule = findings[0].rule();
        let host = text(ev, self.f.host, &mut self.s.buf).map(str::to_string);
        out.push(Alert {
            detector: "ueba",
            rule,
            severity: severity(combined),
            timestamp: ev.timestamp.or(Some(when)),
            host,
            evidence: head,
            event: Some(Arc::new(ev.clone())),
            origins: vec![ev.origin.clone()],
        });
    }

    fn prune_cooldown(&mut self, t: i64) {
        if self.cooldown.len() <= self.cfg.cooldown_max {
            return;
        }
        self.cooldown.retain(|_, until| *until > t);
        if self.cooldown.len() > self.cfg.cooldown_max {
            // Still too many live entries: drop those expiring first (ties all go, so the
            // result does not depend on map order).
            let mut v: Vec<i64> = self.cooldown.values().copied().collect();
            let mid = v.len() / 2;
            let (_, cut, _) = v.select_nth_unstable(mid);
            let cut = *cut;
            self.cooldown.retain(|_, until| *until > cut);
        }
    }
}

//! [`Triage`]: scores a batch of alerts, groups them into incidents and keeps what it learns
//! (entity risk, routine baselines, rule fidelity, suppressions) between batches.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use palisade_event::{Alert, Severity};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::attack::{self, TACTICS, Tactic};
use crate::config::{TriageConfig, criticality_factor};
use crate::entity::{Entity, entities_of};
use crate::feedback::{Fidelity, Revocation, Suppression, prior_fidelity};
use crate::incident::{AlertGroup, Incident, Status};
use crate::score::{self, Contribution};

/// Most timestamps kept per (rule, entity) routine key.
const ROUTINE_KEEP: usize = 512;

/// Fields (ECS names; Zeek's resolve through aliases) that describe a network alert's
/// "service": who originated it, to which port, over what.
const SERVICE_FIELDS: [&str; 3] = ["source.ip", "destination.port", "network.transport"];

/// How far a false-positive verdict's suppressions reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Rule + the incident's entity: the same thing on the same entity.
    Entity,
    /// Rule + originator + destination port + transport for network alerts (the same service
    /// used by the same host, to any peer); rule + entity for other alerts.
    #[default]
    Service,
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "entity" => Ok(Scope::Entity),
            "service" => Ok(Scope::Service),
            o => Err(format!("unknown scope {o:?} (expected entity or service)")),
        }
    }
}

/// One alert after scoring.
#[derive(Debug, Clone, Serialize)]
pub struct ScoredAlert {
    pub entities: Vec<Entity>,
    pub priority: f64,
    pub contributions: Vec<Contribution>,
    pub tactics: Vec<Tactic>,
    pub suppressed_by: Option<u64>,
    /// Event time in seconds (the batch's latest known time when the alert has none).
    pub time: i64,
}

/// What one batch produced: each input alert scored (same order) and the incidents, ranked.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub alerts: Vec<ScoredAlert>,
    pub incidents: Vec<Incident>,
}

impl Outcome {
    /// Incidents in the queue (not suppressed), best first.
    pub fn queue(&self) -> impl Iterator<Item = &Incident> {
        self.incidents.iter().filter(|i| !i.suppressed)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct EntityState {
    risk: f64,
    at: i64,
    /// Last time each tactic was seen on the entity (0 = never).
    tactics: Vec<i64>,
}

/// What triage remembers between batches (and runs: it serialises to JSON for the store).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TriageState {
    pub version: u32,
    pub fidelity: BTreeMap<String, Fidelity>,
    pub suppressions: Vec<Suppression>,
    pub next_suppression: u64,
    entities: Vec<(Entity, EntityState)>,
    routine: Vec<(String, Entity, Vec<i64>)>,
}

/// Format version of [`TriageState`].
pub const STATE_VERSION: u32 = 1;

/// The triage engine.
pub struct Triage {
    cfg: TriageConfig,
    fidelity: BTreeMap<String, Fidelity>,
    suppressions: Vec<Suppression>,
    next_suppression: u64,
    entities: FxHashMap<Entity, EntityState>,
    routine: FxHashMap<(String, Entity), VecDeque<i64>>,
}

fn decayed(risk: f64, from: i64, to: i64, half_life_s: f64) -> f64 {
    if to <= from {
        risk
    } else {
        risk * 0.5f64.powf((to - from) as f64 / half_life_s)
    }
}

fn evidence<'a>(alert: &'a Alert, key: &str) -> Option<&'a str> {
    alert
        .evidence
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn field_value(alert: &Alert, key: &str) -> Option<String> {
    if let Some(v) = evidence(alert, key) {
        return Some(v.to_string());
    }
    alert
        .event
        .as_ref()
        .and_then(|e| e.get_by_name(key))
        .map(|v| v.to_string())
}

struct Dsu(Vec<usize>);
impl Dsu {
    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }
    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

impl Triage {
    pub fn new(cfg: TriageConfig) -> Triage {
        Triage {
            cfg,
            fidelity: BTreeMap::new(),
            suppressions: Vec::new(),
            next_suppression: 1,
            entities: FxHashMap::default(),
            routine: FxHashMap::default(),
        }
    }

    pub fn config(&self) -> &TriageConfig {
        &self.cfg
    }

    /// Restores what an earlier run learned.
    pub fn restore(cfg: TriageConfig, state: TriageState) -> Result<Triage, String> {
        if state.version > STATE_VERSION {
            return Err(format!(
                "triage state version {} is newer than this Palisade supports ({STATE_VERSION})",
                state.version
            ));
        }
        let mut t = Triage::new(cfg);
        t.fidelity = state.fidelity;
        t.next_suppression = state.next_suppression.max(
            state
                .suppressions
                .iter()
                .map(|s| s.id + 1)
                .max()
                .unwrap_or(1),
        );
        t.suppressions = state.suppressions;
        t.entities = state.entities.into_iter().collect();
        t.routine = state
            .routine
            .into_iter()
            .map(|(r, e, ts)| ((r, e), ts.into_iter().collect()))
            .collect();
        Ok(t)
    }

    /// Everything learned, for the store.
    pub fn state(&self) -> TriageState {
        let mut entities: Vec<(Entity, EntityState)> = self
            .entities
            .iter()
            .map(|(e, s)| (e.clone(), s.clone()))
            .collect();
        entities.sort_by(|a, b| a.0.cmp(&b.0));
        let mut routine: Vec<(String, Entity, Vec<i64>)> = self
            .routine
            .iter()
            .map(|((r, e), ts)| (r.clone(), e.clone(), ts.iter().copied().collect()))
            .collect();
        routine.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        TriageState {
            version: STATE_VERSION,
            fidelity: self.fidelity.clone(),
            suppressions: self.suppressions.clone(),
            next_suppression: self.next_suppression,
            entities,
            routine,
        }
    }

    /// An entity's accumulated risk at `at` (seconds), decayed; `None` if it never had any.
    pub fn entity_risk(&self, e: &Entity, at: i64) -> Option<f64> {
        let half = self.cfg.risk_half_life_hours * 3600.0;
        self.entities
            .get(e)
            .map(|s| decayed(s.risk, s.at, at, half))
    }

    /// The latest time (seconds) any entity's risk was updated.
    pub fn latest(&self) -> Option<i64> {
        self.entities.values().map(|s| s.at).max()
    }

    /// The `n` entities with the highest risk at `at`, highest first.
    pub fn riskiest(&self, at: i64, n: usize) -> Vec<(Entity, f64)> {
        let half = self.cfg.risk_half_life_hours * 3600.0;
        let mut v: Vec<(Entity, f64)> = self
            .entities
            .iter()
            .map(|(e, s)| (e.clone(), decayed(s.risk, s.at, at, half)))
            .filter(|(_, r)| *r >= 0.5)
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    pub fn suppressions(&self) -> &[Suppression] {
        &self.suppressions
    }

    pub fn fidelity(&self, rule: &str) -> Fidelity {
        self.fidelity.get(rule).copied().unwrap_or_default()
    }

    /// Adds a suppression (id assigned here) and returns its id.
    pub fn add_suppression(&mut self, mut s: Suppression) -> u64 {
        s.id = self.next_suppression;
        self.next_suppression += 1;
        let id = s.id;
        self.suppressions.push(s);
        id
    }

    /// Revokes a suppression; false if there is no such active suppression.
    pub fn revoke(&mut self, id: u64, by: &str, at: DateTime<Utc>) -> bool {
        match self
            .suppressions
            .iter_mut()
            .find(|s| s.id == id && s.revoked.is_none())
        {
            Some(s) => {
                s.revoked = Some(Revocation {
                    at,
                    by: by.to_string(),
                });
                true
            }
            None => false,
        }
    }

    /// An analyst's verdict on an incident. False positive: each of its rules loses fidelity
    /// and a suppression scoped to (rule, the group's own entity) is created for each alert
    /// group, expiring after `suppression_days`; true positive: each rule gains fidelity.
    /// Returns the suppressions created.
    pub fn verdict(
        &mut self,
        incident: &Incident,
        status: Status,
        author: &str,
        now: DateTime<Utc>,
    ) -> Vec<Suppression> {
        self.verdict_scoped(incident, status, author, now, Scope::default())
    }

    /// [`Triage::verdict`] with an explicit reach for the suppressions of a false positive.
    pub fn verdict_scoped(
        &mut self,
        incident: &Incident,
        status: Status,
        author: &str,
        now: DateTime<Utc>,
        scope: Scope,
    ) -> Vec<Suppression> {
        let mut rules: Vec<&str> = incident
            .timeline
            .iter()
            .map(|g| g.rule_id.as_str())
            .collect();
        rules.sort_unstable();
        rules.dedup();
        let mut created = Vec::new();
        match status {
            Status::TruePositive => {
                for r in rules {
                    self.fidelity
                        .entry(r.to_string())
                        .or_default()
                        .true_positives += 1;
                }
            }
            Status::FalsePositive => {
                for r in rules {
                    self.fidelity
                        .entry(r.to_string())
                        .or_default()
                        .false_positives += 1;
                }
                let expires =
                    now + Duration::seconds((self.cfg.suppression_days * 86_400.0).round() as i64);
                let mut seen = FxHashSet::default();
                for g in &incident.timeline {
                    if g.suppressed_by.is_some() {
                        continue;
                    }
                    // Entity scope: the incident's primary entity when this group involves
                    // it, else the group's own first entity. Service scope: the originator,
                    // with the port and transport as fields (the originator as a field too,
                    // so the entity cannot match in the responder's role).
                    let originator =
                        g.scope
                            .iter()
                            .find(|(k, _)| k == "source.ip")
                            .and_then(|(_, v)| {
                                crate::entity::normalise(crate::entity::EntityKind::Ip, v)
                            });
                    let (entity, fields) = match (scope, originator) {
                        (Scope::Service, Some(ip)) => (
                            Some(Entity::new(crate::entity::EntityKind::Ip, ip)),
                            g.scope.clone(),
                        ),
                        _ => (
                            incident
                                .primary
                                .clone()
                                .filter(|p| g.entities.contains(p))
                                .or_else(|| g.entities.first().cloned()),
                            Vec::new(),
                        ),
                    };
                    if !seen.insert((g.rule_id.clone(), entity.clone(), fields.clone())) {
                        continue;
                    }
                    let s = Suppression {
                        id: 0,
                        rule: Some(g.rule_id.clone()),
                        entity,
                        fields,
                        expires: Some(expires),
                        author: author.to_string(),
                        reason: format!(
                            "marked false positive (incident {}): {}",
                            incident.id, g.rule_title
                        ),
                        created: now,
                        revoked: None,
                        incident: (incident.id > 0).then_some(incident.id),
                    };
                    let id = self.add_suppression(s);
                    if let Some(s) = self.suppressions.iter().find(|s| s.id == id) {
                        created.push(s.clone());
                    }
                }
            }
            _ => {}
        }
        created
    }

    /// Scores `alerts`, groups them into incidents and updates what triage remembers.
    pub fn process(&mut self, alerts: &[Alert]) -> Outcome {
        let n = alerts.len();
        let mut ents: Vec<Vec<Entity>> = Vec::with_capacity(n);
        let mut tactics: Vec<Vec<Tactic>> = Vec::with_capacity(n);
        let mut times = vec![0i64; n];
        let mut last_known = 0i64;
        for (i, a) in alerts.iter().enumerate() {
            ents.push(entities_of(a));
            tactics.push(attack::tactics_of_tags(&a.rule.tags));
            times[i] = a.timestamp.map(|t| t.timestamp()).unwrap_or(last_known);
            last_known = last_known.max(times[i]);
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| times[i]);

        // Hubs: entities seen with more distinct partners than `hub_degree` in this batch.
        let mut partners: FxHashMap<&Entity, FxHashSet<&Entity>> = FxHashMap::default();
        for es in &ents {
            for e in es {
                let p = partners.entry(e).or_default();
                if p.len() <= self.cfg.hub_degree {
                    for o in es {
                        if o != e {
                            p.insert(o);
                        }
                    }
                }
            }
        }
        let hubs: FxHashSet<Entity> = partners
            .into_iter()
            .filter(|(_, p)| p.len() > self.cfg.hub_degree)
            .map(|(e, _)| e.clone())
            .collect();

        // Scored in time order (risk, breadth and routine accumulate), returned in input order.
        let mut crossed: FxHashMap<Entity, (f64, u32)> = FxHashMap::default();
        let mut scored: Vec<(usize, ScoredAlert)> = Vec::with_capacity(n);
        for &i in &order {
            let s = self.score_one(
                &alerts[i],
                &ents[i],
                &tactics[i],
                times[i],
                &hubs,
                &mut crossed,
            );
            scored.push((i, s));
        }
        scored.sort_by_key(|(i, _)| *i);
        let scored: Vec<ScoredAlert> = scored.into_iter().map(|(_, s)| s).collect();
        self.bound_memory();

        // Grouping: link alerts sharing a non-hub entity within the window (suppressed alerts
        // only among themselves).
        let mut dsu = Dsu((0..n).collect());
        let mut last: FxHashMap<(&Entity, bool), usize> = FxHashMap::default();
        for &i in &order {
            let sup = scored[i].suppressed_by.is_some();
            for e in ents[i].iter().filter(|e| !hubs.contains(*e)) {
                if let Some(&j) = last.get(&(e, sup))
                    && times[i] - times[j] <= self.cfg.group_window_secs
                {
                    dsu.union(i, j);
                }
                last.insert((e, sup), i);
            }
        }
        let mut comps: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &i in &order {
            let r = dsu.find(i);
            comps.entry(r).or_default().push(i);
        }
        let mut incidents: Vec<Incident> = comps
            .into_values()
            .map(|members| self.build_incident(alerts, &scored, &ents, &members, &hubs, &crossed))
            .collect();
        incidents.sort_by(|a, b| {
            a.suppressed
                .cmp(&b.suppressed)
                .then(b.priority.total_cmp(&a.priority))
                .then(b.last.cmp(&a.last))
        });
        Outcome {
            alerts: scored,
            incidents,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn score_one(
        &mut self,
        alert: &Alert,
        entities: &[Entity],
        tactics: &[Tactic],
        t: i64,
        hubs: &FxHashSet<Entity>,
        crossed: &mut FxHashMap<Entity, (f64, u32)>,
    ) -> ScoredAlert {
        let cfg = &self.cfg;
        let mut parts = Vec::new();
        let sev = alert.severity;
        let s = score::severity_points(sev);
        parts.push(Contribution::new(
            "severity",
            s,
            format!("{sev} {} alert", alert.detector),
        ));
        // Fidelity.
        let level = alert.rule.level.unwrap_or(sev);
        let fid = self.fidelity(&alert.rule.id);
        let f = fid.value(level);
        let f0 = prior_fidelity(level);
        let fp = s * (f / f0 - 1.0);
        if fid.true_positives + fid.false_positives > 0 {
            parts.push(Contribution::new(
                "fidelity",
                fp,
                format!(
                    "rule fidelity {f:.2} (level prior {f0:.2}; {} true / {} false positives)",
                    fid.true_positives, fid.false_positives
                ),
            ));
        }
        // Asset criticality.
        if let Some((e, a)) = entities
            .iter()
            .filter_map(|e| cfg.asset_of(e).map(|a| (e, a)))
            .max_by_key(|(_, a)| a.criticality)
        {
            let c = criticality_factor(a.criticality);
            if c != 1.0 {
                parts.push(Contribution::new(
                    "criticality",
                    (s + fp) * (c - 1.0),
                    format!(
                        "{e} is in asset group {:?} (criticality {})",
                        a.name, a.criticality
                    ),
                ));
            }
        }
        let linked: Vec<&Entity> = entities.iter().filter(|e| !hubs.contains(*e)).collect();
        let hl = cfg.risk_half_life_hours * 3600.0;
        // Entity risk already accumulated.
        if let Some((e, r)) = linked
            .iter()
            .filter_map(|e| {
                self.entities
                    .get(*e)
                    .map(|st| (*e, decayed(st.risk, st.at, t, hl)))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
        {
            let pts = (r / 5.0).min(score::RISK_CAP);
            if pts >= 0.05 {
                parts.push(Contribution::new(
                    "entity_risk",
                    pts,
                    format!("{e} already carries risk {r:.0} from earlier alerts"),
                ));
            }
        }
        // ATT&CK breadth.
        let win = (cfg.breadth_window_hours * 3600.0) as i64;
        let mut best: Option<(&Entity, Vec<Tactic>)> = None;
        for e in &linked {
            let st = self.entities.entry((*e).clone()).or_default();
            if st.tactics.len() != TACTICS.len() {
                st.tactics = vec![0; TACTICS.len()];
            }
            for &tc in tactics {
                st.tactics[tc as usize] = t.max(1);
            }
            let seen: Vec<Tactic> = (0..TACTICS.len())
                .filter(|&k| st.tactics[k] != 0 && t - st.tactics[k] <= win)
                .map(|k| k as Tactic)
                .collect();
            if best.as_ref().is_none_or(|b| seen.len() > b.1.len()) {
                best = Some((e, seen));
            }
        }
        if let Some((e, seen)) = best
            && seen.len() > 1
            && !tactics.is_empty()
        {
            let pts = (score::BREADTH_STEP * (seen.len() - 1) as f64).min(score::BREADTH_CAP);
            let names: Vec<&str> = seen.iter().map(|&t| attack::tactic_name(t)).collect();
            parts.push(Contribution::new(
                "breadth",
                pts,
                format!(
                    "{} ATT&CK tactics on {e} within {}h: {}",
                    seen.len(),
                    cfg.breadth_window_hours,
                    names.join(", ")
                ),
            ));
        }
        // Threat intel.
        if alert.detector == "ioc" {
            let conf = evidence(alert, "intel.confidence")
                .or_else(|| evidence(alert, "confidence"))
                .and_then(|c| c.trim().parse::<f64>().ok())
                .unwrap_or(50.0)
                .clamp(0.0, 100.0);
            let src = evidence(alert, "intel.source")
                .or_else(|| evidence(alert, "source"))
                .unwrap_or("threat intel");
            parts.push(Contribution::new(
                "intel",
                score::INTEL_MAX * conf / 100.0,
                format!("threat-intel hit from {src} (confidence {conf:.0})"),
            ));
        }
        // Anomaly strength.
        match alert.detector {
            "anomaly" => {
                if let Some(r) = evidence(alert, "rarity").and_then(|v| v.parse::<f64>().ok()) {
                    let strength = 1.0 - (r * 100.0).clamp(0.0, 1.0);
                    parts.push(Contribution::new(
                        "anomaly",
                        score::ANOMALY_MAX * strength,
                        format!(
                            "scores above {:.2} % of the baseline's warm-up rows",
                            100.0 * (1.0 - r)
                        ),
                    ));
                }
            }
            "ueba" => {
                if let Some(v) = evidence(alert, "score").and_then(|v| v.parse::<f64>().ok()) {
                    parts.push(Contribution::new(
                        "anomaly",
                        score::ANOMALY_MAX * v.clamp(0.0, 1.0),
                        format!("behaviour deviation score {v:.2}"),
                    ));
                }
            }
            _ => {}
        }
        // Routine.
        let look = (cfg.routine_days * 86_400.0) as i64;
        // The rarest pairing decides: an alert is routine only when the rule has fired
        // repeatedly on every entity it involves (a new attacker against a often-scanned
        // server is not routine).
        let mut rarest: Option<(&Entity, u32)> = None;
        // Entities this rule already added risk to within one risk half-life: a repeat adds
        // none (risk measures distinct detections, not how often one rule re-fires).
        let mut repeated: Vec<&Entity> = Vec::new();
        let hl_secs = hl as i64;
        for e in entities {
            let key = (alert.rule.id.clone(), e.clone());
            let q = self.routine.entry(key).or_default();
            while q.front().is_some_and(|&x| x < t - look) {
                q.pop_front();
            }
            if q.iter().any(|&x| x <= t && t - x < hl_secs) {
                repeated.push(e);
            }
            let c = q.iter().filter(|&&x| x <= t).count() as u32;
            if rarest.is_none_or(|m| c < m.1) {
                rarest = Some((e, c));
            }
            q.push_back(t);
            if q.len() > ROUTINE_KEEP {
                q.pop_front();
            }
        }
        if let Some((e, c)) = rarest {
            let f = score::routine_factor(c, cfg.routine_min);
            if f < 1.0 {
                let sub: f64 = parts.iter().map(|p| p.points).sum();
                let more = if c as usize >= ROUTINE_KEEP {
                    "at least "
                } else {
                    ""
                };
                parts.push(Contribution::new(
                    "routine",
                    sub * (f - 1.0),
                    format!(
                        "routine: seen {more}{c} times in {} days on {e}",
                        cfg.routine_days
                    ),
                ));
            }
        }
        // Suppressions and allowlist.
        let at = alert.timestamp.unwrap_or_else(Utc::now);
        let sup = self.suppressions.iter().find(|s| {
            s.active(at) && s.covers(&alert.rule.id, entities, &|k| field_value(alert, k))
        });
        let suppressed_by = sup.map(|s| s.id);
        if let Some(s) = sup {
            let sub: f64 = parts.iter().map(|p| p.points).sum();
            parts.push(Contribution::new(
                "suppressed",
                -sub,
                format!(
                    "suppressed by #{} ({}) by {}: {}",
                    s.id,
                    s.describe(),
                    s.author,
                    s.reason
                ),
            ));
        }
        let priority = score::total(&mut parts);
        // Accumulate risk.
        if suppressed_by.is_none() && priority > 0.0 {
            for e in linked.iter().filter(|e| !repeated.contains(*e)) {
                let st = self.entities.entry((*e).clone()).or_default();
                let before = decayed(st.risk, st.at, t, hl);
                st.risk = before + priority;
                st.at = st.at.max(t);
                if before < cfg.risk_threshold && st.risk >= cfg.risk_threshold {
                    crossed.insert((*e).clone(), (st.risk, 0));
                }
                if let Some(c) = crossed.get_mut(*e) {
                    c.0 = c.0.max(st.risk);
                    c.1 += 1;
                }
            }
        }
        ScoredAlert {
            entities: entities.to_vec(),
            priority,
            contributions: parts,
            tactics: tactics.to_vec(),
            suppressed_by,
            time: t,
        }
    }

    fn bound_memory(&mut self) {
        let max = self.cfg.max_entities.max(1);
        if self.entities.len() > max {
            let mut v: Vec<(Entity, f64)> = self
                .entities
                .iter()
                .map(|(e, s)| (e.clone(), s.risk))
                .collect();
            v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            for (e, _) in v.into_iter().skip(max) {
                self.entities.remove(&e);
            }
        }
        if self.routine.len() > 2 * max {
            let mut v: Vec<((String, Entity), i64)> = self
                .routine
                .iter()
                .map(|(k, q)| (k.clone(), q.back().copied().unwrap_or(0)))
                .collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            for (k, _) in v.into_iter().skip(2 * max) {
                self.routine.remove(&k);
            }
        }
    }

    fn build_incident(
        &self,
        alerts: &[Alert],
        scored: &[ScoredAlert],
        ents: &[Vec<Entity>],
        members: &[usize],
        hubs: &FxHashSet<Entity>,
        crossed: &FxHashMap<Entity, (f64, u32)>,
    ) -> Incident {
        // Deduplicate: same rule and same entities.
        let mut groups: Vec<AlertGroup> = Vec::new();
        let mut index: FxHashMap<(&str, &[Entity]), usize> = FxHashMap::default();
        for &i in members {
            let a = &alerts[i];
            let s = &scored[i];
            let key = (a.rule.id.as_str(), ents[i].as_slice());
            let gi = *index.entry(key).or_insert_with(|| {
                groups.push(AlertGroup {
                    rule_id: a.rule.id.clone(),
                    rule_title: a.rule.title.clone(),
                    detector: a.detector.to_string(),
                    severity: a.severity,
                    count: 0,
                    first: None,
                    last: None,
                    priority: -1.0,
                    contributions: Vec::new(),
                    entities: ents[i].clone(),
                    tactics: s.tactics.clone(),
                    techniques: attack::techniques_of_tags(&a.rule.tags),
                    alerts: Vec::new(),
                    suppressed_by: s.suppressed_by,
                    explanation: evidence(a, "explanation")
                        .map(str::to_string)
                        .unwrap_or_else(|| a.rule.title.clone()),
                    scope: service_of(a),
                });
                groups.len() - 1
            });
            let g = &mut groups[gi];
            g.count += 1;
            g.alerts.push(i);
            g.severity = g.severity.max(a.severity);
            if let Some(ts) = a.timestamp {
                g.first = Some(g.first.map_or(ts, |f| f.min(ts)));
                g.last = Some(g.last.map_or(ts, |l| l.max(ts)));
            }
            if s.suppressed_by.is_none() {
                g.suppressed_by = None;
            }
            if g.count > 1 && !g.scope.is_empty() {
                // Keep only what every alert of the group shares.
                let mine = service_of(a);
                g.scope.retain(|kv| mine.contains(kv));
            }
            if s.priority > g.priority {
                g.priority = s.priority;
                g.contributions = s.contributions.clone();
            }
        }
        groups.sort_by_key(|g| {
            (
                g.tactics.first().copied().map_or(u16::MAX, u16::from),
                g.first,
            )
        });
        let suppressed = groups.iter().all(|g| g.suppressed_by.is_some());
        // Entities and the primary one (in most alerts, preferring linking entities).
        let mut count: BTreeMap<&Entity, (bool, usize)> = BTreeMap::new();
        for &i in members {
            for e in &ents[i] {
                let c = count.entry(e).or_insert((!hubs.contains(e), 0));
                c.1 += 1;
            }
        }
        let primary = count
            .iter()
            .max_by(|a, b| (a.1.0, a.1.1).cmp(&(b.1.0, b.1.1)).then(b.0.cmp(a.0)))
            .map(|(e, _)| (*e).clone());
        let entities: Vec<Entity> = count.keys().map(|e| (*e).clone()).collect();
        let mut tactics: Vec<Tactic> = groups.iter().flat_map(|g| g.tactics.clone()).collect();
        tactics.sort_unstable();
        tactics.dedup();
        let first = groups.iter().filter_map(|g| g.first).min();
        let last = groups.iter().filter_map(|g| g.last).max();
        let alert_count: u64 = groups.iter().map(|g| g.count).sum();

        // Priority: noisy-or over live groups, risk floor.
        let live: Vec<&AlertGroup> = groups
            .iter()
            .filter(|g| g.suppressed_by.is_none())
            .collect();
        let mut by_prio = live.clone();
        by_prio.sort_by(|a, b| b.priority.total_cmp(&a.priority));
        let mut per_rule: BTreeMap<&str, f64> = BTreeMap::new();
        for g in &live {
            let m = per_rule.entry(g.rule_id.as_str()).or_insert(0.0);
            *m = m.max(g.priority);
        }
        let combined = score::combine(per_rule.values().copied());
        let mut parts = Vec::new();
        let mut top = String::new();
        for g in by_prio.iter().take(3) {
            if !top.is_empty() {
                top.push_str(", ");
            }
            let _ = write!(top, "{:?} {:.1}", g.rule_title, g.priority);
        }
        parts.push(Contribution::new(
            "combined",
            combined,
            format!(
                "{} rule(s) over {} alert group(s) combined; top: {top}",
                per_rule.len(),
                live.len()
            ),
        ));
        let mut priority = combined;
        let risky = count
            .keys()
            .filter_map(|e| crossed.get(*e).map(|c| (*e, c)))
            .max_by(|a, b| a.1.0.total_cmp(&b.1.0));
        let risk_triggered = risky.is_some() && !suppressed;
        if let Some((e, (r, _))) = risky
            && !suppressed
            && priority < self.cfg.risk_floor
        {
            parts.push(Contribution::new(
                "risk_threshold",
                self.cfg.risk_floor - priority,
                format!(
                    "{e} accumulated risk {r:.0} ≥ threshold {:.0}",
                    self.cfg.risk_threshold
                ),
            ));
            priority = self.cfg.risk_floor;
        }
        let head = by_prio.first().copied().or(groups.first());
        let title = match (head, &primary) {
            (Some(g), Some(p)) if groups.len() > 1 => {
                format!("{} on {p} (+{} more)", g.rule_title, groups.len() - 1)
            }
            (Some(g), Some(p)) => format!("{} on {p}", g.rule_title),
            (Some(g), None) => g.rule_title.clone(),
            _ => "incident".to_string(),
        };
        // One-line reason: the strongest group's non-trivial contributions, breadth, risk.
        let mut why: Vec<String> = Vec::new();
        if let Some(g) = head {
            why.push(format!("{} {}", g.severity, g.detector));
            // The two strongest other contributions, and routine/suppression always.
            let mut rest: Vec<&Contribution> = g
                .contributions
                .iter()
                .filter(|c| !matches!(c.factor.as_str(), "severity" | "clamp"))
                .filter(|c| c.points.abs() >= 0.5)
                .collect();
            rest.sort_by(|a, b| b.points.abs().total_cmp(&a.points.abs()));
            for (k, c) in rest.iter().enumerate() {
                if k < 2 || matches!(c.factor.as_str(), "routine" | "suppressed") {
                    why.push(c.reason.clone());
                }
            }
            if g.count > 1 {
                why.push(format!("{}× the same alert", g.count));
            }
        }
        if live.len() > 1 {
            why.push(format!("{} distinct alerts", live.len()));
        }
        if let Some((e, (r, _))) = risky.filter(|_| risk_triggered) {
            why.push(format!(
                "{e} accumulated risk {r:.0} ≥ threshold {:.0}",
                self.cfg.risk_threshold
            ));
        }
        if suppressed {
            why.push("every alert suppressed".into());
        }
        Incident {
            id: 0,
            title,
            reason: why.join("; "),
            priority,
            contributions: parts,
            status: Status::New,
            owner: None,
            notes: Vec::new(),
            primary,
            entities,
            first,
            last,
            timeline: groups,
            tactics,
            alert_count,
            risk_triggered,
            suppressed,
        }
    }
}

/// A network alert's service fields (empty when it has no originator and port).
fn service_of(a: &Alert) -> Vec<(String, String)> {
    let vals: Vec<Option<String>> = SERVICE_FIELDS.iter().map(|k| field_value(a, k)).collect();
    if vals[0].is_none() || vals[1].is_none() {
        return Vec::new();
    }
    SERVICE_FIELDS
        .iter()
        .zip(vals)
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect()
}

/// Severity name for a priority (for tables).
pub fn priority_band(p: f64) -> Severity {
    match p {
        p if p >= 80.0 => Severity::Critical,
        p if p >= 60.0 => Severity::High,
        p if p >= 35.0 => Severity::Medium,
        p if p >= 15.0 => Severity::Low,
        _ => Severity::Informational,
    }
}

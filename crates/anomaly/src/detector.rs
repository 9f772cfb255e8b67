//! Streaming anomaly detection over events, as a detector: one model per kind of source
//! (Zeek conn, flow CSV, authentication, process), learning online while it scores.
//!
//! Per source kind, the first `warmup` rows only learn: the first half fits the scaler
//! (feature bounds), the second half trains the Half-Space Trees on scaled rows and records
//! their scores. The alert threshold is then the `alert_quantile` of those warm-up scores and
//! the scaler is frozen, so the feature space under the model stays fixed. After warm-up each
//! row is scored first; rows above the threshold raise an alert. Only rows at least as typical
//! as the median warm-up row are learned (`learn_quantile`), so a flood of attack rows cannot
//! teach the model that attacks are normal.
//! Alerts explain themselves: the features furthest outside the range seen in warm-up, with
//! that range, and how rare the score is among warm-up scores.

use std::sync::Arc;

use palisade_event::alert::RuleInfo;
use palisade_event::{Alert, Event, Severity};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::Model;
use crate::beacon::{Beacon, BeaconConfig};
use crate::features::{Extractor, SourceKind};
use crate::hst::{HalfSpaceTrees, HstConfig};
use crate::scale::Scaler;
use crate::ueba::{Ueba, UebaConfig};

/// Settings of the streaming anomaly detector.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomalyConfig {
    /// Rows per source kind that only learn before alerting (half scale, half model).
    pub warmup: usize,
    /// Quantile of warm-up scores used as the alert threshold (0.999 = about 1 alert per
    /// 1000 normal rows before cooldown).
    pub alert_quantile: f64,
    /// Learn only rows scored under the `learn_quantile` of warm-up scores (robust to attack
    /// floods: a stream dominated by attacks cannot become the baseline).
    pub guarded: bool,
    /// With `guarded`, the quantile of warm-up scores under which a row is learned. 0.5
    /// (learn rows at least as typical as the median warm-up row) was chosen on validation
    /// splits of the training rows (`palisade eval anomaly --validation --guard-quantile`):
    /// it keeps ≥ 90 % of the frozen model's ROC-AUC on every data set, where learning every
    /// row under the alert threshold lost up to 75 % on UNSW-NB15.
    pub learn_quantile: f64,
    /// Seconds during which a source (ip, user, host) alerts at most once per source kind.
    pub cooldown_secs: i64,
    /// Most sources remembered for cooldown (oldest forgotten first).
    pub max_cooldown_keys: usize,
    /// Features named in an explanation.
    pub explain_top: usize,
    pub hst: HstConfig,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            warmup: 2000,
            alert_quantile: 0.999,
            guarded: true,
            learn_quantile: 0.5,
            cooldown_secs: 600,
            max_cooldown_keys: 100_000,
            explain_top: 3,
            hst: HstConfig::default(),
        }
    }
}

/// One model per source kind: the feature extractor, and what turns its rows into scores.
/// (Postcard writes a nested struct's fields inline, so this layout serializes exactly as the
/// flat one did.)
#[derive(Serialize, Deserialize)]
struct KindModel {
    extractor: Extractor,
    scorer: KindScorer,
}

#[derive(Serialize, Deserialize)]
struct KindScorer {
    scaler: Scaler,
    model: HalfSpaceTrees,
    seen: u64,
    /// Scores of the model's warm-up rows (emptied once the threshold is set).
    warm_scores: Vec<f64>,
    /// Sorted warm-up scores kept for "rarer than N % of normal" (a bounded sample).
    reference: Vec<f64>,
    threshold: Option<f64>,
    /// Rows scoring at or under this are learned (with `guarded`).
    learn_below: f64,
    /// Scaled warm-up rows the model learned before its first window was complete (their
    /// scores are not meaningful yet); scored once the window closes when warm-up ends with
    /// no other scores. Not in snapshots (bounded by one window of rows).
    #[serde(skip)]
    warm_rows: Vec<f32>,
}

impl KindScorer {
    /// Ends warm-up: the alert threshold, the learn threshold and the reference sample from
    /// the warm-up scores; when the model never completed a window (a short warm-up), the
    /// window is closed and the rows it learned are scored instead.
    fn finish_warmup(&mut self, cfg: &AnomalyConfig, width: usize) {
        let mut scores = std::mem::take(&mut self.warm_scores);
        let rows = std::mem::take(&mut self.warm_rows);
        if scores.is_empty() && !rows.is_empty() && width > 0 {
            if !self.model.is_warm() {
                self.model.end_window();
            }
            scores = rows.chunks(width).map(|r| self.model.score(r)).collect();
        }
        if scores.is_empty() {
            return;
        }
        scores.sort_by(f64::total_cmp);
        let q = ((scores.len() as f64 - 1.0) * cfg.alert_quantile).round() as usize;
        self.threshold = Some(scores[q.min(scores.len() - 1)]);
        let l = ((scores.len() as f64 - 1.0) * cfg.learn_quantile.clamp(0.0, 1.0)).round();
        self.learn_below = scores[(l as usize).min(scores.len() - 1)];
        let step = scores.len().div_ceil(512).max(1);
        self.reference = scores.iter().step_by(step).copied().collect();
    }
}

/// The detector-wide state scoring a row touches.
struct ScoreCtx<'a> {
    cfg: &'a AnomalyConfig,
    cooldown: &'a mut FxHashMap<u64, i64>,
    x: &'a mut Vec<f32>,
    alerts: &'a mut u64,
}

/// The streaming anomaly detector.
#[derive(Serialize, Deserialize)]
pub struct FlowAnomaly {
    cfg: AnomalyConfig,
    kinds: Vec<(SourceKind, KindModel)>,
    /// Source key → time of its last alert (unix seconds).
    cooldown: FxHashMap<u64, i64>,
    #[serde(skip)]
    raw: Vec<f64>,
    #[serde(skip)]
    x: Vec<f32>,
    alerts: u64,
    /// [`FlowAnomaly::observe_batch`] scratch: raw rows, then (event index, model) per row.
    #[serde(skip)]
    batch_rows: Vec<f64>,
    #[serde(skip)]
    batch_meta: Vec<(usize, usize)>,
    #[serde(skip)]
    batch_route: Vec<Option<usize>>,
}

/// Events per chunk handed from the extracting thread to the scoring thread.
const CHUNK: usize = 128;

/// Feature rows of one chunk: raw rows back to back, and (event index, model) per row.
#[derive(Default)]
struct Chunk {
    rows: Vec<f64>,
    meta: Vec<(usize, usize)>,
}

static RULE: std::sync::LazyLock<Arc<RuleInfo>> = std::sync::LazyLock::new(|| {
    Arc::new(RuleInfo {
        id: "anomaly.flow".into(),
        title: "Anomalous activity (learned baseline)".into(),
        level: Some(Severity::Medium),
        tags: vec!["anomaly".into()],
        description: Some(
            "A row scored above the threshold learned from this source's normal traffic \
             (streaming Half-Space Trees)."
                .into(),
        ),
        author: Some("Palisade".into()),
        path: None,
    })
});

impl FlowAnomaly {
    pub fn new(cfg: AnomalyConfig) -> Self {
        FlowAnomaly {
            cfg,
            kinds: Vec::new(),
            cooldown: FxHashMap::default(),
            raw: Vec::new(),
            x: Vec::new(),
            alerts: 0,
            batch_rows: Vec::new(),
            batch_meta: Vec::new(),
            batch_route: Vec::new(),
        }
    }

    pub fn config(&self) -> &AnomalyConfig {
        &self.cfg
    }

    /// Alerts raised so far.
    pub fn alerts(&self) -> u64 {
        self.alerts
    }

    /// Ends warm-up now for every source kind past its scaler half (its threshold from the
    /// rows seen so far), so a short, clean training span fully trains the detector and the
    /// stream after it is never learned unguarded. Kinds already alerting are untouched.
    pub fn finish_warmup(&mut self) {
        let half = (self.cfg.warmup / 2) as u64;
        for (_, km) in &mut self.kinds {
            let s = &mut km.scorer;
            if s.threshold.is_none() && s.seen > half {
                s.finish_warmup(&self.cfg, km.extractor.width());
            }
        }
    }

    /// Rows seen per source kind.
    pub fn rows(&self) -> Vec<(SourceKind, u64)> {
        self.kinds
            .iter()
            .map(|(k, m)| (*k, m.scorer.seen))
            .collect()
    }

    fn model_for(&mut self, kind: SourceKind) -> Option<usize> {
        if let Some(i) = self.kinds.iter().position(|(k, _)| *k == kind) {
            return Some(i);
        }
        let extractor = Extractor::for_kind(kind);
        let scaler = extractor.new_scaler();
        let model = HalfSpaceTrees::new(extractor.width(), self.cfg.hst.clone()).ok()?;
        self.kinds.push((
            kind,
            KindModel {
                extractor,
                scorer: KindScorer {
                    scaler,
                    model,
                    seen: 0,
                    warm_scores: Vec::new(),
                    reference: Vec::new(),
                    threshold: None,
                    learn_below: f64::NEG_INFINITY,
                    warm_rows: Vec::new(),
                },
            },
        ));
        Some(self.kinds.len() - 1)
    }

    /// Learns from `ev` and appends an alert when it is anomalous.
    pub fn observe(&mut self, ev: &Event, out: &mut Vec<Alert>) {
        self.observe_scored(ev, out);
    }

    /// [`FlowAnomaly::observe`], returning the event's anomaly score once its source kind is
    /// past warm-up (`None` before, and for events no model reads).
    pub fn observe_scored(&mut self, ev: &Event, out: &mut Vec<Alert>) -> Option<f64> {
        let i = self.extract(ev)?;
        let raw = std::mem::take(&mut self.raw);
        let score = self.score_row(i, ev, &raw, out);
        self.raw = raw;
        score
    }

    /// [`FlowAnomaly::observe`] over a batch in stream order; each alert comes with the index
    /// of its event in `events`. The result is exactly that of observing the events one by
    /// one: the batch is first turned into feature rows (feature extraction does not depend
    /// on scores), then every row is scaled, scored and learned in order. Keeping the two
    /// phases apart keeps each phase's working set (context tables, then trees) in cache
    /// and is where a batched model call goes.
    pub fn observe_batch(&mut self, events: &[Event], out: &mut Vec<(usize, Alert)>) {
        let mut rows = std::mem::take(&mut self.batch_rows);
        let mut meta = std::mem::take(&mut self.batch_meta);
        rows.clear();
        meta.clear();
        for (e, ev) in events.iter().enumerate() {
            if let Some(i) = self.extract(ev) {
                rows.extend_from_slice(&self.raw);
                meta.push((e, i));
            }
        }
        let mut alerts = Vec::new();
        let mut start = 0;
        for &(e, i) in &meta {
            let w = self.kinds[i].1.extractor.width();
            self.score_row(i, &events[e], &rows[start..start + w], &mut alerts);
            start += w;
            out.extend(alerts.drain(..).map(|a| (e, a)));
        }
        self.batch_rows = rows;
        self.batch_meta = meta;
    }

    /// [`FlowAnomaly::observe_batch`] on two threads, with the same result: a second thread
    /// runs `beside` on each chunk of the batch (`CHUNK` events, in order) and then extracts
    /// the chunk's feature rows, while this thread scales, scores and learns the rows of the
    /// chunks already extracted. Feature extraction never depends on scores, so running it
    /// ahead changes nothing; `beside` is where an independent detector (UEBA) goes.
    pub fn observe_batch_beside<F>(
        &mut self,
        events: &[Event],
        out: &mut Vec<(usize, Alert)>,
        mut beside: F,
    ) where
        F: FnMut(std::ops::Range<usize>) + Send,
    {
        // Models are created in order of first appearance, as observing one by one does.
        let mut route = std::mem::take(&mut self.batch_route);
        route.clear();
        for ev in events {
            let i = SourceKind::detect(ev).and_then(|k| self.model_for(k));
            route.push(i);
        }
        let names: Vec<std::sync::Arc<[String]>> = self
            .kinds
            .iter()
            .map(|(_, km)| km.extractor.shared_names())
            .collect();
        let mut extractors = Vec::with_capacity(self.kinds.len());
        let mut scorers = Vec::with_capacity(self.kinds.len());
        for (kind, km) in &mut self.kinds {
            extractors.push(&mut km.extractor);
            scorers.push((*kind, &mut km.scorer));
        }
        let mut ctx = ScoreCtx {
            cfg: &self.cfg,
            cooldown: &mut self.cooldown,
            x: &mut self.x,
            alerts: &mut self.alerts,
        };
        let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(4);
        let (back_tx, back_rx) = std::sync::mpsc::channel::<Chunk>();
        let route_ref = &route;
        std::thread::scope(|s| {
            let producer = s.spawn(move || {
                let mut raw = Vec::new();
                let mut start = 0;
                while start < events.len() {
                    let end = (start + CHUNK).min(events.len());
                    beside(start..end);
                    let mut c = back_rx.try_recv().unwrap_or_default();
                    c.rows.clear();
                    c.meta.clear();
                    for (e, ev) in events.iter().enumerate().take(end).skip(start) {
                        if let Some(i) = route_ref[e] {
                            extractors[i].extract_unchecked(ev, &mut raw);
                            c.rows.extend_from_slice(&raw);
                            c.meta.push((e, i));
                        }
                    }
                    if tx.send(c).is_err() {
                        return;
                    }
                    start = end;
                }
            });
            let mut one = Vec::new();
            for c in rx {
                let mut at = 0;
                for &(e, i) in &c.meta {
                    let w = names[i].len();
                    let (kind, scorer) = &mut scorers[i];
                    let raw = &c.rows[at..at + w];
                    score_row(
                        &mut ctx, *kind, scorer, &names[i], &events[e], raw, &mut one,
                    );
                    at += w;
                    out.extend(one.drain(..).map(|a| (e, a)));
                }
                let _ = back_tx.send(c);
            }
            if let Err(panic) = producer.join() {
                std::panic::resume_unwind(panic);
            }
        });
        self.batch_route = route;
    }

    /// Routes `ev` to its model and writes its raw feature row into `self.raw`; the model's
    /// index, or `None` for events no model reads.
    #[inline]
    fn extract(&mut self, ev: &Event) -> Option<usize> {
        let kind = SourceKind::detect(ev)?;
        let i = self.model_for(kind)?;
        let km = &mut self.kinds[i].1;
        km.extractor.extract_unchecked(ev, &mut self.raw);
        Some(i)
    }

    /// Scales, scores and learns the raw row of `ev` for model `i`; see
    /// [`FlowAnomaly::observe_scored`].
    fn score_row(
        &mut self,
        i: usize,
        ev: &Event,
        raw: &[f64],
        out: &mut Vec<Alert>,
    ) -> Option<f64> {
        let (kind, km) = &mut self.kinds[i];
        let mut ctx = ScoreCtx {
            cfg: &self.cfg,
            cooldown: &mut self.cooldown,
            x: &mut self.x,
            alerts: &mut self.alerts,
        };
        score_row(
            &mut ctx,
            *kind,
            &mut km.scorer,
            km.extractor.names(),
            ev,
            raw,
            out,
        )
    }

    /// Serialized state (versioned), to resume learning after a restart.
    pub fn snapshot(&self) -> Result<Vec<u8>, postcard::Error> {
        let mut out = SNAPSHOT_MAGIC.to_vec();
        out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        postcard::to_extend(self, out)
    }

    /// Restores a [`FlowAnomaly::snapshot`].
    pub fn restore(bytes: &[u8]) -> Result<FlowAnomaly, String> {
        let body = bytes
            .strip_prefix(SNAPSHOT_MAGIC)
            .ok_or("not a Palisade anomaly snapshot")?;
        let (version, body) = body.split_at_checked(4).ok_or("truncated snapshot")?;
        let version = u32::from_le_bytes(version.try_into().map_err(|_| "truncated snapshot")?);
        if version != SNAPSHOT_VERSION {
            return Err(format!(
                "anomaly snapshot format {version} is not supported (this build reads {SNAPSHOT_VERSION})"
            ));
        }
        postcard::from_bytes(body).map_err(|e| format!("corrupt anomaly snapshot: {e}"))
    }
}

const SNAPSHOT_MAGIC: &[u8] = b"PALANOM";
/// 2: the learn threshold of guarded learning joined the per-kind state.
const SNAPSHOT_VERSION: u32 = 2;

/// Scales, scores and learns one raw row of `ev` (see [`FlowAnomaly::observe_scored`]).
fn score_row(
    ctx: &mut ScoreCtx<'_>,
    kind: SourceKind,
    km: &mut KindScorer,
    names: &[String],
    ev: &Event,
    raw: &[f64],
    out: &mut Vec<Alert>,
) -> Option<f64> {
    let cfg = ctx.cfg;
    let half = (cfg.warmup / 2) as u64;
    km.seen += 1;
    ctx.x.resize(names.len(), 0.0);
    if km.seen <= half {
        km.scaler.update(raw);
        if km.seen == half {
            km.scaler.refresh();
        }
        return None;
    }
    km.scaler.transform(raw, ctx.x);
    let Some(threshold) = km.threshold else {
        let s = km.model.score_learn(ctx.x);
        if km.model.is_warm() {
            km.warm_scores.push(s);
        } else if km.warm_scores.is_empty() {
            km.warm_rows.extend_from_slice(ctx.x);
        }
        if km.seen >= cfg.warmup as u64 {
            km.finish_warmup(cfg, names.len());
        }
        return None;
    };
    let score = km.model.score(ctx.x);
    if !cfg.guarded || score <= km.learn_below.min(threshold) {
        km.model.learn(ctx.x);
    }
    if score <= threshold {
        return Some(score);
    }
    let key = source_key(ev, kind);
    let now = ev.timestamp.map_or(0, |t| t.timestamp());
    if let Some(&last) = ctx.cooldown.get(&key)
        && now >= last
        && now - last < cfg.cooldown_secs
    {
        return Some(score);
    }
    if ctx.cooldown.len() >= cfg.max_cooldown_keys {
        // Forget the oldest half; cooldown is a courtesy, not state that must survive.
        let mut times: Vec<i64> = ctx.cooldown.values().copied().collect();
        times.sort_unstable();
        let cut = times[times.len() / 2];
        ctx.cooldown.retain(|_, t| *t > cut);
    }
    ctx.cooldown.insert(key, now);
    *ctx.alerts += 1;
    out.push(explain(
        km,
        names,
        kind,
        ev,
        raw,
        ctx.x,
        score,
        threshold,
        cfg.explain_top,
    ));
    Some(score)
}

fn source_key(ev: &Event, kind: SourceKind) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    (kind as u8).hash(&mut h);
    for name in ["source.ip", "id.orig_h", "user.name", "host.name"] {
        if let Some(v) = ev.get_by_name(name) {
            // Hashes as the value's text does (`str` and `String` hash alike), without
            // formatting the common case into a new string: rows over the threshold but in
            // cooldown pass here too.
            match v {
                palisade_event::Value::Str(s) => s.as_str().hash(&mut h),
                v => v.to_string().hash(&mut h),
            }
            break;
        }
    }
    h.finish()
}

fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a == a.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[allow(clippy::too_many_arguments)]
fn explain(
    km: &KindScorer,
    names: &[String],
    kind: SourceKind,
    ev: &Event,
    raw: &[f64],
    x: &[f32],
    score: f64,
    threshold: f64,
    top: usize,
) -> Alert {
    // Deviation of each feature outside its warm-up range, in units of that range.
    let mut dev: Vec<(f64, usize)> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let v = f64::from(v);
            let d = if v > 1.0 {
                v - 1.0
            } else if v < 0.0 {
                -v
            } else {
                0.0
            };
            (d, i)
        })
        .filter(|(d, _)| *d > 0.0)
        .collect();
    dev.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut parts = Vec::new();
    let mut evidence = Vec::new();
    for &(_, i) in dev.iter().take(top) {
        let (lo, hi) = km.scaler.expected_range(i);
        let name = &names[i];
        parts.push(format!(
            "{name} {} (usual {}–{})",
            human(raw[i]),
            human(lo),
            human(hi)
        ));
        evidence.push((format!("feature.{name}"), human(raw[i])));
        evidence.push((
            format!("expected.{name}"),
            format!("{}–{}", human(lo), human(hi)),
        ));
    }
    let below = km.reference.partition_point(|s| *s < score);
    let rarer = 1.0 - below as f64 / km.reference.len().max(1) as f64;
    let who = ["source.ip", "id.orig_h", "user.name", "host.name"]
        .iter()
        .find_map(|n| ev.get_by_name(n))
        .map(|v| v.to_string())
        .unwrap_or_else(|| "event".into());
    let dest = ["destination.ip", "id.resp_h"]
        .iter()
        .find_map(|n| ev.get_by_name(n))
        .map(|v| {
            let port = ["destination.port", "id.resp_p"]
                .iter()
                .find_map(|n| ev.get_by_name(n))
                .map(|p| format!(":{p}"))
                .unwrap_or_default();
            format!(" → {v}{port}")
        })
        .unwrap_or_default();
    let what = if parts.is_empty() {
        "an unusual combination of otherwise ordinary values".to_string()
    } else {
        parts.join("; ")
    };
    let sentence = format!(
        "{who}{dest}: {kind} record unlike the learned baseline — {what}; anomaly score \
         {score:.4} above threshold {threshold:.4} (higher than {:.1} % of warm-up rows)",
        100.0 * (1.0 - rarer),
        kind = kind.name(),
    );
    let mut ev_fields = vec![
        ("explanation".to_string(), sentence),
        ("score".to_string(), format!("{score:.6}")),
        ("rarity".to_string(), format!("{rarer:.4}")),
        ("threshold".to_string(), format!("{threshold:.4}")),
        ("model".to_string(), "hst".to_string()),
        ("source_kind".to_string(), kind.name().to_string()),
    ];
    ev_fields.extend(evidence);
    // Beyond every warm-up score by a margin as wide as the threshold's own distance from
    // the median warm-up score: clearly outside the baseline.
    let median = km
        .reference
        .get(km.reference.len() / 2)
        .copied()
        .unwrap_or(threshold);
    let severity = if score > threshold + (threshold - median).max(0.0) {
        Severity::High
    } else {
        Severity::Medium
    };
    Alert {
        detector: "anomaly",
        rule: Arc::clone(&RULE),
        severity,
        timestamp: ev.timestamp,
        host: ev
            .get_by_name("host.name")
            .or_else(|| ev.get_by_name("Computer"))
            .map(|v| v.to_string()),
        evidence: ev_fields,
        event: Some(Arc::new(ev.clone())),
        origins: vec![ev.origin.clone()],
    }
}

/// The learned detectors `hunt` (and later `serve`) runs next to Sigma: streaming anomaly
/// models and UEBA baselines, with one snapshot for both.
#[derive(Default)]
pub struct Learned {
    pub anomaly: Option<FlowAnomaly>,
    pub ueba: Option<Ueba>,
    pub beacon: Option<Beacon>,
}

/// Smallest batch [`Learned::observe_batch`] splits across two threads (below it, starting
/// a thread costs more than it saves).
pub const PARALLEL_BATCH: usize = 256;

/// Merges two detectors' alerts, each tagged with its event's index and in event order, into
/// the order sequential observation gives: by event, `first`'s alerts before `second`'s.
pub fn merge_tagged<T>(first: Vec<(usize, T)>, second: Vec<(usize, T)>, out: &mut Vec<T>) {
    out.reserve(first.len() + second.len());
    let mut second = second.into_iter().peekable();
    for (i, a) in first {
        while let Some((_, b)) = second.next_if(|(j, _)| *j < i) {
            out.push(b);
        }
        out.push(a);
    }
    out.extend(second.map(|(_, b)| b));
}

/// Like [`merge_tagged`], keeping the event index of each item.
fn merge_tagged_keep<T>(first: Vec<(usize, T)>, second: Vec<(usize, T)>) -> Vec<(usize, T)> {
    let mut out = Vec::with_capacity(first.len() + second.len());
    let mut second = second.into_iter().peekable();
    for (i, a) in first {
        while let Some(b) = second.next_if(|(j, _)| *j < i) {
            out.push(b);
        }
        out.push((i, a));
    }
    out.extend(second);
    out
}

/// Snapshot container: magic, version, then postcard of [`LearnedParts`] (version 1:
/// [`LearnedPartsV1`], without the beacon detector).
const LEARNED_MAGIC: &[u8] = b"PALLRND";
const LEARNED_VERSION: u32 = 2;

#[derive(Serialize, Deserialize)]
struct LearnedPartsV1 {
    anomaly: Option<Vec<u8>>,
    ueba: Option<Vec<u8>>,
    /// UEBA configuration as JSON (the UEBA snapshot needs it to resume).
    ueba_config: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct LearnedParts {
    anomaly: Option<Vec<u8>>,
    ueba: Option<Vec<u8>>,
    /// UEBA configuration as JSON (the UEBA snapshot needs it to resume).
    ueba_config: Option<String>,
    beacon: Option<Beacon>,
}

impl Learned {
    /// Both detectors with the given settings.
    pub fn with_configs(anomaly: AnomalyConfig, ueba: UebaConfig) -> Result<Learned, String> {
        Ok(Learned {
            anomaly: Some(FlowAnomaly::new(anomaly)),
            ueba: Some(Ueba::new(ueba).map_err(|e| e.to_string())?),
            beacon: None,
        })
    }

    /// The UEBA baseline of one entity, if UEBA is on and knows it.
    pub fn profile(
        &self,
        kind: crate::ueba::EntityKind,
        name: &str,
    ) -> Option<crate::ueba::ProfileSummary> {
        self.ueba.as_ref()?.profile(kind, name)
    }

    /// Which detectors are on: (anomaly, UEBA, beacon).
    pub fn enabled(&self) -> (bool, bool, bool) {
        (
            self.anomaly.is_some(),
            self.ueba.is_some(),
            self.beacon.is_some(),
        )
    }

    /// Turns the beacon detector on (default settings, unless already on) or off.
    pub fn enable_beacon(&mut self, on: bool) {
        if on {
            self.beacon
                .get_or_insert_with(|| Beacon::new(BeaconConfig::default()));
        } else {
            self.beacon = None;
        }
    }

    /// Turns detectors on (with default settings) or off; state of those kept is untouched.
    pub fn enable(&mut self, anomaly: bool, ueba: bool) {
        if anomaly {
            self.anomaly
                .get_or_insert_with(|| FlowAnomaly::new(AnomalyConfig::default()));
        } else {
            self.anomaly = None;
        }
        if ueba {
            if self.ueba.is_none() {
                self.ueba = Ueba::new(UebaConfig::default()).ok();
            }
        } else {
            self.ueba = None;
        }
    }

    /// Learns from `ev`; appends the alerts it raises.
    pub fn observe(&mut self, ev: &Event, out: &mut Vec<Alert>) {
        if let Some(a) = &mut self.anomaly {
            a.observe(ev, out);
        }
        if let Some(u) = &mut self.ueba {
            u.observe(ev, out);
        }
        if let Some(b) = &mut self.beacon {
            b.observe(ev, out);
        }
    }

    /// [`Learned::observe`] over a batch in stream order, with the same alerts in the same
    /// order (per event: the anomaly alert, then the UEBA alert). From [`PARALLEL_BATCH`]
    /// events on, two threads share the work ([`FlowAnomaly::observe_batch_beside`]): one
    /// runs UEBA and feature extraction, the other scores and learns the feature rows. UEBA,
    /// feature extraction and the models share no state and each sees every event in order,
    /// so the result is that of observing one event at a time.
    pub fn observe_batch(&mut self, events: &[Event], out: &mut Vec<Alert>) {
        match (&mut self.anomaly, &mut self.ueba, &mut self.beacon) {
            (Some(a), ueba, beacon) if events.len() >= PARALLEL_BATCH => {
                let mut ua = Vec::new();
                let mut aa = Vec::new();
                let mut ba = Vec::new();
                let mut one = Vec::new();
                a.observe_batch_beside(events, &mut aa, |r| {
                    let base = r.start;
                    if let Some(u) = ueba.as_mut() {
                        u.observe_batch(&events[r.clone()], &mut one);
                        ua.extend(one.drain(..).map(|(i, a)| (base + i, a)));
                    }
                    if let Some(b) = beacon.as_mut() {
                        let mut mine = Vec::new();
                        for (i, ev) in events[r].iter().enumerate() {
                            b.observe(ev, &mut mine);
                            ba.extend(mine.drain(..).map(|a| (base + i, a)));
                        }
                    }
                });
                let first = merge_tagged_keep(aa, ua);
                merge_tagged(first, ba, out);
            }
            _ => {
                for ev in events {
                    self.observe(ev, out);
                }
            }
        }
    }

    /// One line for people: what has been learned.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(a) = &self.anomaly {
            let rows: u64 = a.rows().iter().map(|(_, n)| n).sum();
            parts.push(format!("anomaly: {rows} rows learned"));
        }
        if let Some(u) = &self.ueba {
            parts.push(format!("ueba: {} entities", u.entity_count()));
        }
        if let Some(b) = &self.beacon {
            parts.push(format!("beacon: {} connection pairs", b.pairs()));
        }
        parts.join(", ")
    }

    /// Versioned snapshot of everything learned.
    pub fn snapshot(&self) -> Result<Vec<u8>, postcard::Error> {
        let parts = LearnedParts {
            anomaly: self.anomaly.as_ref().map(|a| a.snapshot()).transpose()?,
            ueba: self.ueba.as_ref().map(|u| u.snapshot()),
            ueba_config: self
                .ueba
                .as_ref()
                .and_then(|u| serde_json::to_string(u.config()).ok()),
            beacon: self.beacon.clone(),
        };
        let mut out = LEARNED_MAGIC.to_vec();
        out.extend_from_slice(&LEARNED_VERSION.to_le_bytes());
        postcard::to_extend(&parts, out)
    }

    /// Restores a [`Learned::snapshot`]; a newer or corrupt snapshot is an error, not a panic.
    pub fn restore(bytes: &[u8]) -> Result<Learned, String> {
        let body = bytes
            .strip_prefix(LEARNED_MAGIC)
            .ok_or("not a Palisade learned-state snapshot")?;
        let (version, body) = body.split_at_checked(4).ok_or("truncated snapshot")?;
        let version = u32::from_le_bytes(version.try_into().map_err(|_| "truncated snapshot")?);
        let parts: LearnedParts = match version {
            1 => {
                let v1: LearnedPartsV1 =
                    postcard::from_bytes(body).map_err(|e| format!("corrupt snapshot: {e}"))?;
                LearnedParts {
                    anomaly: v1.anomaly,
                    ueba: v1.ueba,
                    ueba_config: v1.ueba_config,
                    beacon: None,
                }
            }
            LEARNED_VERSION => {
                postcard::from_bytes(body).map_err(|e| format!("corrupt snapshot: {e}"))?
            }
            _ => {
                return Err(format!(
                    "learned-state format {version} is not supported (this build reads 1 to {LEARNED_VERSION})"
                ));
            }
        };
        let anomaly = parts
            .anomaly
            .map(|b| FlowAnomaly::restore(&b))
            .transpose()?;
        let ueba = match parts.ueba {
            Some(b) => {
                let cfg = match parts.ueba_config {
                    Some(json) => serde_json::from_str(&json)
                        .map_err(|e| format!("corrupt UEBA configuration: {e}"))?,
                    None => UebaConfig::default(),
                };
                Some(Ueba::restore(&b, cfg).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        Ok(Learned {
            anomaly,
            ueba,
            beacon: parts.beacon,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_one_snapshots_still_restore() {
        let v1 = LearnedPartsV1 {
            anomaly: None,
            ueba: None,
            ueba_config: None,
        };
        let mut bytes = LEARNED_MAGIC.to_vec();
        bytes.extend_from_slice(&1u32.to_le_bytes());
        let bytes = postcard::to_extend(&v1, bytes).unwrap();
        let l = Learned::restore(&bytes).unwrap();
        assert!(l.anomaly.is_none() && l.ueba.is_none() && l.beacon.is_none());
        let mut newer = LEARNED_MAGIC.to_vec();
        newer.extend_from_slice(&9u32.to_le_bytes());
        let err = Learned::restore(&newer)
            .err()
            .expect("a newer format is refused");
        assert!(err.contains("format 9"), "{err}");
    }

    #[test]
    fn beacon_state_survives_a_snapshot() {
        let mut l = Learned::default();
        l.enable_beacon(true);
        let snap = l.snapshot().unwrap();
        let back = Learned::restore(&snap).unwrap();
        assert!(back.beacon.is_some());
    }

    #[test]
    fn merge_tagged_orders_by_event_then_first_detector() {
        let first = vec![(0, "a0"), (2, "a2"), (2, "a2'"), (5, "a5")];
        let second = vec![(1, "u1"), (2, "u2"), (5, "u5"), (7, "u7")];
        let mut out = vec!["earlier"];
        merge_tagged(first, second, &mut out);
        assert_eq!(
            out,
            ["earlier", "a0", "u1", "a2", "a2'", "u2", "a5", "u5", "u7"]
        );
        let mut out = Vec::new();
        merge_tagged(Vec::new(), vec![(3, 'u')], &mut out);
        assert_eq!(out, ['u']);
    }

    fn data(rel: &str, format: palisade_ingest::Format) -> Option<Vec<Event>> {
        let candidates = [
            std::env::var("PALISADE_DATA").unwrap_or_default(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data").to_string(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../../../shared/data").to_string(),
        ];
        let Some(path) = candidates
            .iter()
            .filter(|c| !c.is_empty())
            .map(|c| std::path::Path::new(c).join(rel))
            .find(|p| p.is_file())
        else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{rel} missing under CI"
            );
            eprintln!("SKIPPED: {rel} not found");
            return None;
        };
        struct Collect(Vec<Event>);
        impl palisade_ingest::EventSink for Collect {
            fn events(&mut self, batch: &mut Vec<Event>) {
                self.0.append(batch);
            }
            fn warning(&mut self, _: palisade_ingest::RecordError) {}
        }
        let mut sink = Collect(Vec::new());
        let opts = palisade_ingest::IngestOptions {
            format: Some(format),
            ..Default::default()
        };
        palisade_ingest::read_input(&palisade_ingest::Input::Path(path), &opts, &mut sink)
            .expect("readable");
        Some(sink.0)
    }

    fn key(a: &Alert) -> String {
        format!(
            "{}|{}|{:?}|{:?}|{:?}",
            a.detector, a.rule.id, a.timestamp, a.evidence, a.origins
        )
    }

    /// Batches (split across threads or not, of any size) give exactly the alerts of
    /// observing event by event, in the same order, and leave the same learned state.
    #[test]
    fn a_short_clean_warm_up_is_finished_on_request() {
        let Some(zeek) = data(
            "stratosphere-zeek/008-zeek-mixed/data/conn.log.labeled",
            palisade_ingest::Format::Zeek,
        ) else {
            return;
        };
        // 150 rows: 100 fit the scaler, 50 the model — less than one HST window (250).
        let cfg = AnomalyConfig {
            warmup: 200,
            ..AnomalyConfig::default()
        };
        let mut a = FlowAnomaly::new(cfg.clone());
        let mut out = Vec::new();
        for ev in &zeek[..150] {
            a.observe(ev, &mut out);
        }
        let mut probe = Vec::new();
        let mut b = FlowAnomaly::restore(&a.snapshot().unwrap()).unwrap();
        assert_eq!(
            b.observe_scored(&zeek[150], &mut probe),
            None,
            "still warming up"
        );
        a.finish_warmup();
        assert!(out.is_empty());
        let scored = zeek[150..400]
            .iter()
            .filter(|ev| a.observe_scored(ev, &mut out).is_some())
            .count();
        assert_eq!(
            scored, 250,
            "every row after the finished warm-up is scored"
        );
        // A long warm-up is untouched by the request until its scaler half is done.
        let mut c = FlowAnomaly::new(AnomalyConfig::default());
        for ev in &zeek[..100] {
            c.observe(ev, &mut out);
        }
        c.finish_warmup();
        assert_eq!(c.observe_scored(&zeek[100], &mut probe), None);
    }

    #[test]
    fn batches_equal_event_by_event() {
        let (Some(zeek), Some(ssh)) = (
            data(
                "stratosphere-zeek/008-zeek-mixed/data/conn.log.labeled",
                palisade_ingest::Format::Zeek,
            ),
            data(
                "loghub/OpenSSH/OpenSSH_2k.log",
                palisade_ingest::Format::Syslog,
            ),
        ) else {
            return;
        };
        // Interleave the two sources so both detectors alert within the same batches.
        let mut events = Vec::new();
        let mut ssh = ssh.into_iter();
        for (i, e) in zeek.into_iter().enumerate() {
            events.push(e);
            if i % 3 == 0 {
                events.extend(ssh.next());
            }
        }
        events.extend(ssh);
        let make = || {
            Learned::with_configs(
                AnomalyConfig {
                    warmup: 400,
                    ..AnomalyConfig::default()
                },
                UebaConfig {
                    warmup_min_events: 20,
                    warmup_min_days: 0.0,
                    rate_min_hours: 2,
                    rate_min_count: 20,
                    ..UebaConfig::default()
                },
            )
            .unwrap()
        };
        let mut one = make();
        let mut expected = Vec::new();
        for e in &events {
            one.observe(e, &mut expected);
        }
        let anomaly = expected.iter().filter(|a| a.detector == "anomaly").count();
        let ueba = expected.len() - anomaly;
        assert!(
            anomaly > 10 && ueba > 10,
            "{anomaly} anomaly, {ueba} UEBA alerts"
        );
        let expected: Vec<String> = expected.iter().map(key).collect();
        for size in [1, 300, 1024, 4096] {
            let mut batched = make();
            let mut got = Vec::new();
            for chunk in events.chunks(size) {
                batched.observe_batch(chunk, &mut got);
            }
            let got: Vec<String> = got.iter().map(key).collect();
            assert_eq!(got.len(), expected.len(), "batch size {size}");
            assert!(got == expected, "batch size {size}: alerts differ");
            assert_eq!(
                batched.snapshot().unwrap(),
                one.snapshot().unwrap(),
                "batch size {size}: learned state differs"
            );
        }
        // The anomaly detector's own (single-threaded, two-phase) batch entry point.
        let expected_anomaly: Vec<&String> = expected
            .iter()
            .filter(|k| k.starts_with("anomaly|"))
            .collect();
        let mut alone = make().anomaly.unwrap();
        let mut tagged = Vec::new();
        for (c, chunk) in events.chunks(700).enumerate() {
            let from = tagged.len();
            alone.observe_batch(chunk, &mut tagged);
            for (i, _) in &mut tagged[from..] {
                *i += c * 700;
            }
        }
        assert!(tagged.windows(2).all(|w| w[0].0 <= w[1].0));
        let got: Vec<String> = tagged.iter().map(|(_, a)| key(a)).collect();
        assert_eq!(got.iter().collect::<Vec<_>>(), expected_anomaly);
        assert_eq!(
            alone.snapshot().unwrap(),
            one.anomaly.as_ref().unwrap().snapshot().unwrap()
        );
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;
    use palisade_event::Value;

    /// The cooldown key (kept in snapshots) is the hash of the source's text, however the
    /// value is stored.
    #[test]
    fn source_key_hashes_the_text() {
        use std::hash::{Hash, Hasher};
        let text_key = |kind: SourceKind, text: &str| {
            let mut h = rustc_hash::FxHasher::default();
            (kind as u8).hash(&mut h);
            text.to_string().hash(&mut h);
            h.finish()
        };
        let mut ev = Event::default();
        ev.insert_named("source.ip", Value::Str("10.0.0.7".into()))
            .unwrap();
        assert_eq!(
            source_key(&ev, SourceKind::Auth),
            text_key(SourceKind::Auth, "10.0.0.7")
        );
        let mut ev = Event::default();
        ev.insert_named("user.name", Value::Int(1001)).unwrap();
        assert_eq!(
            source_key(&ev, SourceKind::Process),
            text_key(SourceKind::Process, "1001")
        );
        assert_ne!(
            source_key(&ev, SourceKind::Process),
            source_key(&ev, SourceKind::Auth)
        );
    }
}

//! The continuous pipeline: numbered records from the write-ahead log → parse → Sigma, IOC,
//! anomaly/UEBA/beacon → alerts → store, then triage → incidents.
//!
//! **Exactly once.** Each batch's events, alerts and the highest sequence number it applied
//! are stored in one transaction (`serve.applied`). Baselines (learned detectors and triage)
//! are snapshotted every `snapshot_secs` with the sequence number they include
//! (`serve.snapshot`). On start the pipeline restores the snapshot and replays the log from
//! just after it: records up to `serve.applied` only rebuild detector state (their results are
//! already stored), later ones are applied normally. So a killed process loses no
//! acknowledged record, stores none twice, and its baselines lose nothing at all (they are
//! rebuilt from the log, which is kept back to the last snapshot).
//!
//! **Incidents.** Triage scores each batch's alerts with everything it remembers (entity risk,
//! routine, fidelity, suppressions). An incident whose primary entity already has an open
//! incident within the triage window grows that incident ([`Incident::absorb`]) instead of
//! opening another.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use palisade_anomaly::detector::Learned;
use palisade_event::{Alert, Event, FieldId, Origin, Value};
use palisade_ingest::{Format, LineFormat};
use palisade_respond::Subject;
use palisade_sigma::correlation::CorrelationEngine;
use palisade_sigma::{HitSource, LoadedRules, RuleRef, Scratch};
use palisade_store::{
    EventRow, IncidentFilter, IncidentWrite, NewIncident, RunRecord, ServeCommit, SqliteStore,
    Store,
};
use palisade_triage::incident::{Incident, Status};
use palisade_triage::intel::{IntelHit, IntelScratch, IntelSet};
use palisade_triage::{Entity, Triage};
use serde::{Deserialize, Serialize};

use crate::ingress::{Batch, Done};

use crate::metrics::{DetectorLabel, Metrics};
use crate::wal::{self, WalRecord};

/// Store state holding the highest applied sequence number.
pub const APPLIED: &str = "serve.applied";
/// Store state holding the baseline snapshot.
pub const SNAPSHOT: &str = "serve.snapshot";
/// Store state holding the risk-based authentication profiles (`palisade_auth::persist`),
/// saved with each baseline snapshot when they changed.
pub const AUTH_PROFILES: &str = "serve.auth_profiles";
/// Store state holding the disabled rule ids.
pub const DISABLED_RULES: &str = "serve.disabled_rules";
/// Most per-source parsers kept (Zeek TSV headers are per source).
const MAX_PARSERS: usize = 4096;
/// Parse warnings logged before only counting.
const LOGGED_WARNINGS: u64 = 50;

/// The detectors a pipeline runs; shared pieces are also used by the API.
pub struct Detectors {
    pub rules: Option<Arc<LoadedRules>>,
    pub intel: Option<Arc<IntelSet>>,
    pub learned: Option<Arc<Mutex<Learned>>>,
    pub triage: Arc<Mutex<Triage>>,
    /// Rule ids that raise no alerts (`PUT /api/v1/rules/{id}`).
    pub disabled: Arc<RwLock<std::collections::HashSet<String>>>,
    /// The risk-based authentication engine: sign-ins in the logs (sshd, PAM, …) teach it the
    /// same per-user state the assess API uses.
    pub auth: Option<Arc<RwLock<palisade_auth::Engine>>>,
}

/// What the baselines snapshot holds.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    /// The last sequence number the snapshot includes.
    seq: u64,
    learned: Option<Vec<u8>>,
    /// Triage state as JSON.
    triage: Vec<u8>,
}

/// Counters the API and tests read.
#[derive(Debug, Default)]
pub struct Progress {
    /// Highest sequence number applied (stored).
    pub applied: AtomicU64,
    /// Highest sequence number in the last snapshot.
    pub snapshot: AtomicU64,
    pub events: AtomicU64,
    pub alerts: AtomicU64,
    pub parse_errors: AtomicU64,
    /// Records replayed from the log at start (state rebuilt, results already stored).
    pub replayed: AtomicU64,
    /// Highest sequence number the committer has finished with (stored or failed).
    committed: AtomicU64,
    /// Incidents an analyst closed (the pipeline stops growing them).
    closed: Mutex<Vec<i64>>,
    /// An analyst changed triage state (verdict, suppression): snapshot soon.
    snapshot_wanted: std::sync::atomic::AtomicBool,
}

impl Progress {
    /// An analyst closed incident `id`: later alerts open a new incident.
    pub fn close(&self, id: i64) {
        let mut c = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        if c.len() < 10_000 {
            c.push(id);
        }
    }

    /// Asks the pipeline to snapshot at its next turn (triage state changed).
    pub fn request_snapshot(&self) {
        self.snapshot_wanted.store(true, Ordering::Release);
    }
}

pub struct Settings {
    pub store_events: bool,
    pub keep_events: u64,
    pub snapshot_every: Duration,
    pub batch_records: usize,
    pub rule_count: u64,
}

pub struct Pipeline {
    store: SqliteStore,
    det: Detectors,
    correlation: Option<CorrelationEngine>,
    run_id: i64,
    /// Highest sequence number whose results are stored.
    applied: u64,
    /// Highest sequence number the detectors have seen.
    seen: u64,
    snapshot_seq: u64,
    last_snapshot: Instant,
    /// The authentication engine's generation its profiles were last saved (or restored) at.
    auth_saved: u64,
    parsers: HashMap<(Arc<str>, Format), Box<dyn LineFormat>>,
    /// Open incidents by primary entity: (local key, the incident). A loaded incident's local
    /// key is its store id; one opened here gets `LOCAL_BASE + n` until the committer maps it.
    live: HashMap<Entity, (u64, Incident)>,
    next_local: u64,
    /// Store id → local key of incidents opened here (for `forget`).
    db_to_local: HashMap<i64, u64>,
    metrics: Arc<Metrics>,
    progress: Arc<Progress>,
    settings: Settings,
    scratch: Scratch,
    intel_scratch: IntelScratch,
    done: Option<Done>,
    /// Stores batches inline (start-up replay) until `run` moves it to its own thread.
    committer: Option<Committer>,
    writer: Option<Writer>,
    /// Build playbook subjects (a responder listens).
    respond: bool,
}

/// Local keys of incidents opened by this process start here (store ids stay below).
const LOCAL_BASE: u64 = 1 << 52;

/// One batch's results on their way to the store.
struct CommitJob {
    rows: Vec<EventRow>,
    fresh: u64,
    skipped: u64,
    alerts: Vec<Alert>,
    /// Incident writes; `existing` holds a *local key*, translated by the committer.
    writes: Vec<IncidentWrite>,
    /// Local key of each write (new or grown).
    locals: Vec<u64>,
    risk: Vec<(String, chrono::DateTime<Utc>, f64)>,
    /// What the responder looks at, per incident write (index into `writes`); sent once the
    /// incidents have their store ids.
    subjects: Vec<(usize, Subject)>,
    checkpoint: u64,
    /// Records of the batch, released from the ingress queue once stored.
    release: u64,
}

/// Stores batches: its own connection, the local-key → store-id map of new incidents.
struct Committer {
    store: SqliteStore,
    run_id: i64,
    ids: HashMap<u64, i64>,
    progress: Arc<Progress>,
    metrics: Arc<Metrics>,
    done: Option<Done>,
    keep_events: u64,
    since_prune: u64,
    /// Where stored incidents go for playbooks (`respond.enabled`).
    respond: Option<std::sync::mpsc::SyncSender<Vec<Subject>>>,
}

/// The committer on its own thread.
struct Writer {
    tx: std::sync::mpsc::SyncSender<CommitJob>,
    created: Receiver<(i64, u64)>,
    handle: std::thread::JoinHandle<()>,
}

impl Committer {
    /// Gives the responder the batch's incidents, now with their store ids. Never waits: when
    /// the responder is that far behind, the subjects are dropped and counted.
    fn send_subjects(
        &self,
        subjects: Vec<(usize, Subject)>,
        writes: &[IncidentWrite],
        ids: &[Option<i64>],
    ) {
        let Some(tx) = &self.respond else { return };
        let mut out = Vec::with_capacity(subjects.len());
        for (k, mut subject) in subjects {
            let id = match writes.get(k).and_then(|w| w.existing) {
                Some(id) if id > 0 => Some(id),
                _ => ids.get(k).copied().flatten(),
            };
            let Some(id) = id else { continue };
            subject.incident = id;
            out.push(subject);
        }
        if out.is_empty() {
            return;
        }
        let n = out.len() as u64;
        if let Err(std::sync::mpsc::TrySendError::Full(_)) = tx.try_send(out) {
            self.metrics.respond_dropped.inc_by(n);
            tracing::warn!("respond: {n} incidents not planned (the responder is behind)");
        }
    }

    /// Stores one job; returns the (store id, local key) of incidents it created.
    fn commit(&mut self, mut job: CommitJob) -> Vec<(i64, u64)> {
        let mut created = Vec::new();
        for (w, local) in job.writes.iter_mut().zip(&job.locals) {
            if w.existing.is_some() {
                w.existing = Some(if *local < LOCAL_BASE {
                    *local as i64
                } else {
                    match self.ids.get(local) {
                        Some(id) => *id,
                        // Its creation failed to store: nothing to grow.
                        None => -1,
                    }
                });
            }
        }
        let result = self.store.commit_serve(&ServeCommit {
            run_id: self.run_id,
            events: &job.rows,
            event_count: job.fresh,
            skipped: job.skipped,
            alerts: &job.alerts,
            incidents: &job.writes,
            risk: &job.risk,
            checkpoint_name: APPLIED,
            checkpoint: job.checkpoint as i64,
        });
        match result {
            Ok(committed) => {
                self.send_subjects(
                    std::mem::take(&mut job.subjects),
                    &job.writes,
                    &committed.incident_ids,
                );
                for ((w, local), id) in job
                    .writes
                    .iter()
                    .zip(&job.locals)
                    .zip(&committed.incident_ids)
                {
                    match (w.existing, id) {
                        (None, Some(id)) => {
                            self.ids.insert(*local, *id);
                            created.push((*id, *local));
                            self.metrics.incidents_created.inc();
                        }
                        (Some(_), Some(_)) => {
                            self.metrics.incidents_updated.inc();
                        }
                        _ => {}
                    }
                }
                self.progress
                    .applied
                    .store(job.checkpoint, Ordering::Release);
                self.progress.events.fetch_add(job.fresh, Ordering::Relaxed);
                self.progress
                    .alerts
                    .fetch_add(job.alerts.len() as u64, Ordering::Relaxed);
                self.metrics.events_applied.inc_by(job.fresh);
                for a in &job.alerts {
                    self.metrics
                        .alerts
                        .get_or_create(&DetectorLabel {
                            detector: a.detector.to_string(),
                        })
                        .inc();
                }
                self.since_prune += job.fresh;
                if self.since_prune >= 50_000 {
                    self.since_prune = 0;
                    if let Err(e) = self.store.prune_events(self.keep_events) {
                        tracing::error!("pruning events: {e}");
                    }
                }
            }
            Err(e) => tracing::error!("storing a pipeline batch failed: {e}"),
        }
        self.progress
            .committed
            .store(job.checkpoint, Ordering::Release);
        if let Some(d) = &self.done {
            d.applied(job.release);
        }
        created
    }
}

impl Pipeline {
    /// Opens the store, restores the baseline snapshot and the live incidents.
    pub fn open(
        store_path: &Path,
        det: Detectors,
        settings: Settings,
        metrics: Arc<Metrics>,
        progress: Arc<Progress>,
    ) -> Result<Pipeline> {
        let mut store = SqliteStore::open(store_path)
            .with_context(|| format!("opening {}", store_path.display()))?;
        // Checkpoints run on another connection (serve.rs), off the pipeline's thread.
        store.set_autocheckpoint(0)?;
        let applied = read_u64(&store, APPLIED)?;
        let mut snapshot_seq = 0;
        if let Some(bytes) = store.load_state(SNAPSHOT)? {
            let snap: Snapshot = postcard::from_bytes(&bytes)
                .context("the stored baseline snapshot is unreadable")?;
            snapshot_seq = snap.seq;
            if let (Some(bytes), Some(learned)) = (snap.learned, det.learned.as_ref()) {
                let mut learned = learned.lock().unwrap_or_else(|e| e.into_inner());
                let restored = Learned::restore(&bytes)
                    .map_err(|e| anyhow::anyhow!("restoring learned baselines: {e}"))?;
                let (anomaly, ueba, beacon) = learned.enabled();
                *learned = restored;
                learned.enable(anomaly, ueba);
                learned.enable_beacon(beacon);
            }
            if !snap.triage.is_empty() {
                let state = serde_json::from_slice(&snap.triage)
                    .context("the stored triage state is unreadable")?;
                let mut t = det.triage.lock().unwrap_or_else(|e| e.into_inner());
                let cfg = t.config().clone();
                *t = Triage::restore(cfg, state).map_err(|e| anyhow::anyhow!(e))?;
            }
        }
        if let Some(bytes) = store.load_state(DISABLED_RULES)?
            && let Ok(ids) = serde_json::from_slice::<Vec<String>>(&bytes)
        {
            det.disabled
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .extend(ids);
        }
        let now = Utc::now();
        let run_id = store.start_run(&RunRecord {
            command: "serve".into(),
            started: now,
            finished: now,
            inputs: Vec::new(),
            rule_count: settings.rule_count,
            events: 0,
            skipped_records: 0,
        })?;
        let correlation = det.rules.as_ref().map(|r| r.correlation_engine());
        let commit_store = SqliteStore::open(store_path)
            .with_context(|| format!("opening {}", store_path.display()))?;
        commit_store.set_autocheckpoint(0)?;
        let committer = Committer {
            store: commit_store,
            run_id,
            ids: HashMap::new(),
            progress: Arc::clone(&progress),
            metrics: Arc::clone(&metrics),
            done: None,
            keep_events: settings.keep_events,
            since_prune: 0,
            respond: None,
        };
        progress.applied.store(applied, Ordering::Release);
        progress.snapshot.store(snapshot_seq, Ordering::Release);
        let auth_saved = det.auth.as_ref().map_or(0, |a| {
            a.read().unwrap_or_else(|e| e.into_inner()).generation()
        });
        let mut p = Pipeline {
            store,
            det,
            correlation,
            run_id,
            applied,
            seen: snapshot_seq,
            snapshot_seq,
            last_snapshot: Instant::now(),
            auth_saved,
            parsers: HashMap::new(),
            live: HashMap::new(),
            next_local: LOCAL_BASE,
            db_to_local: HashMap::new(),
            metrics,
            progress,
            settings,
            scratch: Scratch::default(),
            intel_scratch: IntelScratch::default(),
            done: None,
            committer: Some(committer),
            writer: None,
            respond: false,
        };
        p.progress.committed.store(applied, Ordering::Release);
        p.load_live()?;
        Ok(p)
    }

    /// The sequence number replay must start after.
    pub fn snapshot_seq(&self) -> u64 {
        self.snapshot_seq
    }

    /// Sends every stored incident to the responder (before [`Pipeline::run`]).
    pub fn set_respond(&mut self, tx: std::sync::mpsc::SyncSender<Vec<Subject>>) {
        if let Some(c) = &mut self.committer {
            c.respond = Some(tx);
            self.respond = true;
        }
    }

    pub fn set_done(&mut self, done: Done) {
        if let Some(c) = self.committer.as_mut() {
            c.done = Some(done.clone());
        }
        self.done = Some(done);
    }

    /// Moves the committer to its own thread (storing overlaps detecting the next batch).
    fn start_writer(&mut self) {
        let Some(mut committer) = self.committer.take() else {
            return;
        };
        let (tx, rx) = std::sync::mpsc::sync_channel::<CommitJob>(2);
        let (created_tx, created) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("palisade-store".into())
            .spawn(move || {
                for job in rx {
                    for c in committer.commit(job) {
                        let _ = created_tx.send(c);
                    }
                }
            });
        match handle {
            Ok(handle) => {
                self.writer = Some(Writer {
                    tx,
                    created,
                    handle,
                })
            }
            Err(e) => tracing::error!("cannot start the store thread: {e}"),
        }
    }

    /// Hands a job to the committer (thread or inline).
    fn submit(&mut self, job: CommitJob) {
        if let Some(w) = &self.writer {
            if let Err(std::sync::mpsc::SendError(job)) = w.tx.send(job) {
                tracing::error!(
                    "the store thread is gone; batch up to #{} not stored",
                    job.checkpoint
                );
            }
            while let Ok((id, local)) = w.created.try_recv() {
                self.db_to_local.insert(id, local);
            }
        } else if let Some(c) = self.committer.as_mut() {
            for (id, local) in c.commit(job) {
                self.db_to_local.insert(id, local);
            }
        }
    }

    /// Waits until every job handed in is stored (before a snapshot: a snapshot must never be
    /// ahead of the store).
    fn wait_committed(&self) -> bool {
        let start = Instant::now();
        while self.progress.committed.load(Ordering::Acquire) < self.seen {
            if start.elapsed() > Duration::from_secs(60) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    fn load_live(&mut self) -> Result<()> {
        let window = self.triage_window();
        let cutoff = Utc::now() - window;
        let open = self.store.incidents(&IncidentFilter {
            statuses: vec!["new".into(), "acknowledged".into()],
            ..IncidentFilter::default()
        })?;
        for rec in open {
            let Ok(inc) = serde_json::from_value::<Incident>(rec.body.clone()) else {
                continue;
            };
            let recent = rec.last_seen.is_none_or(|t| t >= cutoff) || rec.updated >= cutoff;
            if let (Some(p), true) = (inc.primary.clone(), recent) {
                self.live.entry(p).or_insert((rec.id as u64, inc));
            }
        }
        Ok(())
    }

    fn triage_window(&self) -> chrono::Duration {
        let t = self.det.triage.lock().unwrap_or_else(|e| e.into_inner());
        chrono::Duration::seconds(t.config().group_window_secs)
    }

    /// Replays the log after the snapshot up to `until` (inclusive).
    pub fn replay(&mut self, wal_dir: &Path, until: u64) -> Result<()> {
        let mut batch: Batch = Vec::new();
        let mut err = None;
        let cap = self.settings.batch_records;
        wal::read_after(
            wal_dir,
            self.snapshot_seq,
            |r| {
                if r.seq > until {
                    return false;
                }
                batch.push(r);
                if batch.len() >= cap {
                    let b = std::mem::take(&mut batch);
                    if let Err(e) = self.apply(&b) {
                        err = Some(e);
                        return false;
                    }
                }
                true
            },
            |p| {
                tracing::error!(
                    "write-ahead log {} at byte {}: {}; the rest of that segment is lost",
                    p.path,
                    p.offset,
                    p.why
                )
            },
        )?;
        if let Some(e) = err {
            return Err(e);
        }
        if !batch.is_empty() {
            self.apply(&batch)?;
        }
        Ok(())
    }

    /// Runs until the ingress side hangs up: applies batches, snapshots on schedule.
    pub fn run(mut self, rx: Receiver<Batch>) {
        self.start_writer();
        let mut pending: Batch = Vec::new();
        loop {
            let timeout = Duration::from_millis(100);
            match rx.recv_timeout(timeout) {
                Ok(mut b) => {
                    pending.append(&mut b);
                    while pending.len() < self.settings.batch_records {
                        match rx.try_recv() {
                            Ok(mut more) => pending.append(&mut more),
                            Err(_) => break,
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.flush_and_snapshot(&mut pending);
                    return;
                }
            }
            if !pending.is_empty() {
                if let Err(e) = self.apply(&pending) {
                    tracing::error!("pipeline batch failed: {e:#}");
                }
                pending.clear();
            }
            let closed: Vec<i64> = std::mem::take(
                &mut *self
                    .progress
                    .closed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()),
            );
            for id in closed {
                self.forget(id);
            }
            let wanted = self.progress.snapshot_wanted.swap(false, Ordering::AcqRel);
            if (wanted || self.last_snapshot.elapsed() >= self.settings.snapshot_every)
                && let Err(e) = self.snapshot()
            {
                tracing::error!("baseline snapshot failed: {e:#}");
            }
        }
    }

    fn flush_and_snapshot(&mut self, pending: &mut Batch) {
        if !pending.is_empty() {
            if let Err(e) = self.apply(pending) {
                tracing::error!("pipeline batch failed: {e:#}");
            }
            pending.clear();
        }
        // Let the store thread finish everything, then snapshot.
        if let Some(w) = self.writer.take() {
            drop(w.tx);
            let _ = w.handle.join();
            while let Ok((id, local)) = w.created.try_recv() {
                self.db_to_local.insert(id, local);
            }
        }
        if let Err(e) = self.snapshot() {
            tracing::error!("baseline snapshot failed: {e:#}");
        }
    }

    /// Saves the baselines with the sequence number they include, then lets the log drop
    /// what is older.
    pub fn snapshot(&mut self) -> Result<()> {
        self.last_snapshot = Instant::now();
        if !self.wait_committed() {
            anyhow::bail!("the store is more than a minute behind; snapshot skipped");
        }
        let learned = match &self.det.learned {
            Some(l) => Some(
                l.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .snapshot()
                    .context("encoding learned baselines")?,
            ),
            None => None,
        };
        let triage = {
            let t = self.det.triage.lock().unwrap_or_else(|e| e.into_inner());
            serde_json::to_vec(&t.state())?
        };
        // Authentication profiles first: should the service die between the two writes, the
        // replay after the older snapshot re-teaches a few sign-ins (an extra count in an
        // hour slot), never loses one.
        if let Some(auth) = &self.det.auth {
            let (generation, bytes) = {
                let a = auth.read().unwrap_or_else(|e| e.into_inner());
                let g = a.generation();
                (g, (g != self.auth_saved).then(|| a.save_profiles()))
            };
            if let Some(bytes) = bytes {
                self.store.save_state(AUTH_PROFILES, &bytes)?;
                self.auth_saved = generation;
            }
        }
        let snap = Snapshot {
            version: 1,
            seq: self.seen,
            learned,
            triage,
        };
        let bytes = postcard::to_allocvec(&snap).context("encoding the snapshot")?;
        self.store.save_state(SNAPSHOT, &bytes)?;
        self.snapshot_seq = self.seen;
        self.progress
            .snapshot
            .store(self.snapshot_seq, Ordering::Release);
        self.metrics.snapshots.inc();
        if let Some(d) = &self.done {
            let applied = self.progress.applied.load(Ordering::Acquire);
            d.snapshotted(self.snapshot_seq.min(applied));
        }
        Ok(())
    }

    fn parser(&mut self, source: &Arc<str>, format: Format) -> Option<&mut Box<dyn LineFormat>> {
        let key = (Arc::clone(source), format);
        if self.parsers.len() >= MAX_PARSERS && !self.parsers.contains_key(&key) {
            self.parsers.clear();
        }
        match self.parsers.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => Some(e.into_mut()),
            std::collections::hash_map::Entry::Vacant(v) => Some(v.insert(format.line_parser()?)),
        }
    }

    /// Applies one batch: every record through every detector; results stored unless the
    /// records were applied before (replay).
    pub fn apply(&mut self, batch: &[WalRecord]) -> Result<()> {
        let started = Instant::now();
        let Some(last) = batch.last().map(|r| r.seq) else {
            return Ok(());
        };
        let store_results = last > self.applied;
        let now = Utc::now();
        // Parse.
        let t = Instant::now();
        let mut events: Vec<Event> = Vec::with_capacity(batch.len());
        let mut seqs: Vec<u64> = Vec::with_capacity(batch.len());
        let mut skipped = 0u64;
        for r in batch {
            let source = r.record.source.clone();
            let line = String::from_utf8_lossy(&r.record.line);
            let line = line.trim_end_matches(['\r', '\n']);
            let Some(parser) = self.parser(&source, r.record.format) else {
                skipped += 1;
                continue;
            };
            match parser.parse_line(line, Origin::new(source.clone(), r.seq)) {
                Ok(Some(mut ev)) => {
                    if ev.timestamp.is_none() {
                        // A live record without its own time happened when it arrived.
                        ev.timestamp = Some(now);
                    }
                    events.push(ev);
                    seqs.push(r.seq);
                }
                Ok(None) => {}
                Err(e) => {
                    skipped += 1;
                    // A replayed record's error was counted (and logged) the first time.
                    if store_results {
                        let n = self.progress.parse_errors.fetch_add(1, Ordering::Relaxed);
                        self.metrics
                            .parse_errors
                            .get_or_create(&self.metrics.source(source_label(&source)))
                            .inc();
                        if n < LOGGED_WARNINGS {
                            tracing::warn!("skipped {source} record {}: {e}", r.seq);
                        }
                    }
                }
            }
        }
        self.observe("parse", t);
        if let Some(auth) = &self.det.auth {
            feed_auth(auth, &events);
        }

        // Single-event detectors.
        let mut alerts: Vec<Alert> = Vec::new();
        let t = Instant::now();
        let mut shared: Vec<Option<Arc<Event>>> = vec![None; events.len()];
        if let Some(rules) = self.det.rules.clone() {
            let disabled = self.det.disabled.read().unwrap_or_else(|e| e.into_inner());
            let mut hits = Vec::new();
            let mut corr_hits: Vec<(u32, usize)> = Vec::new();
            for (k, ev) in events.iter().enumerate() {
                hits.clear();
                rules.rules.match_event(ev, &mut self.scratch, &mut hits);
                for &h in &hits {
                    let rule = rules.rules.rule(h);
                    if disabled.contains(&rule.info.id) {
                        continue;
                    }
                    let arc = shared[k]
                        .get_or_insert_with(|| Arc::new(ev.clone()))
                        .clone();
                    if rule.alerting {
                        alerts.push(palisade_sigma::alert::sigma_alert(rule, arc));
                    }
                    corr_hits.push((h, k));
                }
            }
            if let Some(engine) = self.correlation.as_mut() {
                corr_hits.sort_by_key(|&(_, k)| events[k].timestamp);
                // The engine was built from these, in this order.
                let corrs = &rules.correlations;
                for (h, k) in corr_hits {
                    let rref = RuleRef::Detection(rules.rules.rule(h).canonical(h));
                    if !engine.listens_to(rref) {
                        continue;
                    }
                    let ev = &events[k];
                    for fired in engine.feed(rref, ev.timestamp, HitSource::Event(ev), &ev.origin) {
                        let c = &corrs[fired.correlation as usize];
                        if disabled.contains(&c.info.id) {
                            continue;
                        }
                        alerts.push(palisade_sigma::alert::correlation_alert(
                            c,
                            fired,
                            &rules.rules,
                            corrs,
                        ));
                    }
                }
            }
        }
        self.observe("sigma", t);
        let t = Instant::now();
        if let Some(intel) = self.det.intel.clone() {
            let mut hits: Vec<IntelHit> = Vec::new();
            for (k, ev) in events.iter().enumerate() {
                hits.clear();
                intel.match_event(ev, &mut self.intel_scratch, &mut hits);
                if hits.is_empty() {
                    continue;
                }
                let arc = shared[k]
                    .get_or_insert_with(|| Arc::new(ev.clone()))
                    .clone();
                for h in &hits {
                    alerts.push(intel.alert(h, Arc::clone(&arc)));
                }
            }
        }
        self.observe("ioc", t);
        let t = Instant::now();
        if let Some(learned) = &self.det.learned {
            learned
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .observe_batch(&events, &mut alerts);
        }
        self.observe("learned", t);
        alerts.sort_by_key(|a| a.timestamp);
        self.seen = self.seen.max(last);

        if !store_results {
            // Replay: rebuild triage state too, but everything is already stored.
            let mut t = self.det.triage.lock().unwrap_or_else(|e| e.into_inner());
            t.process(&alerts);
            self.progress
                .replayed
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            return Ok(());
        }

        // Triage: score and group the batch's alerts, and plan the incident writes.
        let t = Instant::now();
        let mut risk = Vec::new();
        let mut writes: Vec<IncidentWrite> = Vec::new();
        let mut locals: Vec<u64> = Vec::new();
        let mut subjects: Vec<(usize, Subject)> = Vec::new();
        if !alerts.is_empty() {
            let outcome = {
                let mut t = self.det.triage.lock().unwrap_or_else(|e| e.into_inner());
                let outcome = t.process(&alerts);
                // Risk over time: one sample per entity the batch touched.
                let at = alerts
                    .iter()
                    .filter_map(|a| a.timestamp)
                    .max()
                    .unwrap_or(now);
                let mut seen = std::collections::BTreeSet::new();
                for a in &alerts {
                    for e in palisade_triage::entities_of(a) {
                        if seen.insert(e.clone())
                            && let Some(r) = t.entity_risk(&e, at.timestamp())
                        {
                            risk.push((e.to_string(), at, r));
                        }
                    }
                }
                outcome
            };
            // What playbooks look at: each incident with its own alerts.
            let batch_subjects: Vec<Subject> = if self.respond {
                outcome
                    .incidents
                    .iter()
                    .filter(|i| !i.suppressed)
                    .map(|i| {
                        let own: Vec<&Alert> =
                            i.alert_indices().filter_map(|k| alerts.get(k)).collect();
                        Subject::from_incident(i, &own)
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let suppressed: Vec<bool> = outcome.incidents.iter().map(|i| i.suppressed).collect();
            let index = self.plan_incidents(outcome.incidents, &mut writes, &mut locals);
            let mut batch_subjects = batch_subjects.into_iter();
            for (k, sup) in index.into_iter().zip(suppressed) {
                if sup {
                    continue;
                }
                if let Some(mut s) = batch_subjects.next() {
                    // The incident as stored: a grown incident ranks by everything it holds.
                    s.priority = s.priority.max(writes[k].incident.priority);
                    subjects.push((k, s));
                }
            }
        }
        self.observe("triage", t);

        // Events, alerts, incidents and the checkpoint go to the store in one transaction, on
        // the store thread while the next batch is detected.
        let t = Instant::now();
        let rows: Vec<EventRow> = if self.settings.store_events {
            events
                .iter()
                .zip(&seqs)
                .filter(|(_, s)| **s > self.applied)
                .map(|(e, s)| event_row(e, *s))
                .collect()
        } else {
            Vec::new()
        };
        let fresh = seqs.iter().filter(|s| **s > self.applied).count() as u64;
        self.applied = last;
        self.submit(CommitJob {
            rows,
            fresh,
            skipped,
            alerts,
            writes,
            locals,
            risk,
            subjects,
            checkpoint: last,
            release: batch.len() as u64,
        });
        self.observe("store", t);

        self.metrics
            .batch_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Decides, per incident of the batch, whether it opens a new incident or grows the open
    /// one of its primary entity (also one opened earlier in the same batch); new incidents
    /// join the live set at once under a local key.
    fn plan_incidents(
        &mut self,
        incidents: Vec<Incident>,
        writes: &mut Vec<IncidentWrite>,
        locals: &mut Vec<u64>,
    ) -> Vec<usize> {
        let window = self.triage_window();
        let mut new_in_batch: HashMap<Entity, usize> = HashMap::new();
        let mut index = Vec::with_capacity(incidents.len());
        for inc in incidents {
            let idx: Vec<i64> = inc.alert_indices().map(|k| k as i64).collect();
            let primary = inc.primary.clone().filter(|_| !inc.suppressed);
            if let Some(p) = &primary {
                if let Some(&k) = new_in_batch.get(p)
                    && let Some((_, live)) = self.live.get_mut(p)
                {
                    live.absorb(inc);
                    let mut ids = std::mem::take(&mut writes[k].incident.alert_ids);
                    ids.extend(idx);
                    writes[k].incident = new_incident(Some(self.run_id), live, ids);
                    index.push(k);
                    continue;
                }
                if let Some((local, live)) = self.live.get_mut(p) {
                    let close = match (live.last, inc.first) {
                        (Some(a), Some(b)) => b - a <= window,
                        _ => true,
                    };
                    if close {
                        live.absorb(inc);
                        writes.push(IncidentWrite {
                            existing: Some(0),
                            incident: new_incident(Some(self.run_id), live, idx),
                        });
                        locals.push(*local);
                        index.push(writes.len() - 1);
                        continue;
                    }
                }
            }
            let local = self.next_local;
            self.next_local += 1;
            writes.push(IncidentWrite {
                existing: None,
                incident: new_incident(Some(self.run_id), &inc, idx),
            });
            locals.push(local);
            index.push(writes.len() - 1);
            if let Some(p) = primary {
                let mut inc = inc;
                for g in &mut inc.timeline {
                    g.alerts.clear();
                }
                self.live.insert(p.clone(), (local, inc));
                new_in_batch.insert(p, writes.len() - 1);
            }
        }
        index
    }

    /// Forgets a live incident the analyst closed (so new alerts open a new one).
    pub fn forget(&mut self, id: i64) {
        if let Some(w) = &self.writer {
            while let Ok((db, local)) = w.created.try_recv() {
                self.db_to_local.insert(db, local);
            }
        }
        let local = self.db_to_local.get(&id).copied().unwrap_or(id as u64);
        self.live.retain(|_, (l, _)| *l != local);
    }

    fn observe(&self, detector: &str, since: Instant) {
        self.metrics
            .detector_seconds
            .get_or_create(&DetectorLabel {
                detector: detector.to_string(),
            })
            .observe(since.elapsed().as_secs_f64());
    }
}

/// An incident as the store keeps it (a suppressed one is stored resolved).
pub fn new_incident(run: Option<i64>, i: &Incident, alert_ids: Vec<i64>) -> NewIncident {
    NewIncident {
        run_id: run,
        status: if i.suppressed {
            Status::Resolved
        } else {
            i.status
        }
        .as_str()
        .to_string(),
        priority: i.priority,
        title: i.title.clone(),
        reason: i.reason.clone(),
        first_seen: i.first,
        last_seen: i.last,
        alert_count: i.alert_count as i64,
        body: serde_json::to_value(i).unwrap_or(serde_json::Value::Null),
        alert_ids,
    }
}

/// Metric label of a source: its configured name, without per-file or per-peer detail.
pub fn source_label(source: &str) -> &str {
    source.split(['/', ':']).next().unwrap_or(source)
}

fn read_u64(store: &SqliteStore, name: &str) -> Result<u64> {
    Ok(match store.load_state(name)? {
        Some(b) if b.len() == 8 => {
            i64::from_le_bytes(b.as_slice().try_into().unwrap_or_default()).max(0) as u64
        }
        _ => 0,
    })
}

/// The highest applied sequence number stored at `path` (0 when none).
pub fn applied_in(store: &SqliteStore) -> Result<u64> {
    read_u64(store, APPLIED)
}

/// Sign-ins the logs record (ECS `event.category` authentication with a user, a source address
/// and an outcome, e.g. sshd's `Failed password`/`Accepted publickey`) become outcomes for the
/// authentication engine: failures feed its velocity, spraying and stuffing windows, successes
/// its per-user profile. Palisade's own assessment events are skipped (no feedback loop).
fn text<'e>(e: &'e Event, name: &'static str) -> Option<&'e str> {
    e.get(FieldId::known(name)).and_then(Value::as_str)
}

fn feed_auth(auth: &RwLock<palisade_auth::Engine>, events: &[Event]) {
    use palisade_auth::{Outcome, Request};
    let mut seen: Vec<(Request, Outcome)> = Vec::new();
    for e in events {
        // Every event passes here: look without allocating, and only at sign-ins.
        let is_auth = match e.get(FieldId::known("event.category")) {
            Some(Value::Str(c)) => c.as_str() == "authentication",
            Some(Value::Array(cs)) => cs.iter().any(|c| c.as_str() == Some("authentication")),
            _ => false,
        };
        if !is_auth || text(e, "event.action") == Some("palisade-assess") {
            continue;
        }
        let outcome = match text(e, "event.outcome") {
            Some("success") => Outcome::Success,
            Some("failure") => Outcome::Failure,
            _ => continue,
        };
        let (Some(user), Some(ip)) = (
            field(e, "user.name"),
            field(e, "source.ip").and_then(|v| v.parse::<std::net::IpAddr>().ok()),
        ) else {
            continue;
        };
        if user.is_empty() || user.len() > 256 {
            continue;
        }
        seen.push((
            Request {
                user,
                ip,
                user_agent: String::new(),
                device_id: None,
                timestamp: e.timestamp.unwrap_or_else(Utc::now),
                app: field(e, "process.name"),
                outcome: None,
            },
            outcome,
        ));
    }
    if seen.is_empty() {
        return;
    }
    let mut engine = auth.write().unwrap_or_else(|e| e.into_inner());
    for (req, outcome) in &seen {
        engine.outcome(req, *outcome);
    }
}

fn field(e: &Event, name: &'static str) -> Option<String> {
    e.get(FieldId::known(name)).map(Value::to_string)
}

fn event_row(e: &Event, seq: u64) -> EventRow {
    EventRow {
        seq: seq as i64,
        timestamp: e.timestamp,
        source: e.origin.source.to_string(),
        host: e.host().map(Value::to_string),
        user: field(e, "user.name"),
        source_ip: field(e, "source.ip"),
        destination_ip: field(e, "destination.ip"),
        body: e.fields_json().to_string(),
    }
}

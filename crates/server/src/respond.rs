//! Response in `palisade serve`: incidents → playbooks → actions, recorded and reversible.
//!
//! The committer hands every stored incident of a batch to the responder thread
//! (`palisade-respond`) as a [`Subject`]. The [`Planner`] decides what its playbooks do about
//! it; the [`Engine`] records each decision as a response action and carries out the automatic
//! ones at once:
//!
//! - **block** — into Palisade's own nftables sets when `respond.nftables` is on (one `nft`
//!   transaction for every block of a burst), and always as a ban *decision* on the
//!   CrowdSec-compatible decisions API, so bouncers elsewhere enforce it too;
//! - **decision** — the ban decision only;
//! - lock user, kill process, quarantine file, webhook, exec — through the executors when
//!   `respond.local_actions` is on, otherwise recorded as dry-run.
//!
//! Approve-mode actions wait as `pending` until an analyst approves or denies them (API, web
//! UI, `palisade respond approve|deny`); dry-run ones are recorded with exactly what would have
//! run. Every step — planned, refused (allowlist, blast-radius cap), executed, failed, approved,
//! denied, reverted, expired — is a line of the append-only response log with the incident, the
//! mode, the result and how to revert. Reverting undoes the action (unblock, unlock, restore)
//! and withdraws its decisions; an action with a TTL expires by itself (nftables timeouts,
//! decision expiry; user locks are unlocked by the responder).
//!
//! Cooldown refusals are not recorded: they are the planner saying "already handled", and an
//! incident that keeps growing would otherwise add a row per batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use palisade_respond::{
    Action, Allowlist, ExecConfig, Executors, Mode, Planned, Planner, Playbook, Revert, Subject,
};
use palisade_store::{
    NewDecision, NewResponseAction, ResponseAction, ResponseStore, Scope, SqliteStore, StoreError,
};

use crate::config::ServeConfig;
use crate::metrics::Metrics;

/// Actor name of the engine's own log lines.
pub const ACTOR: &str = "palisade-respond";
/// Most subjects one planning round takes (the rest wait for the next round).
const ROUND: usize = 4096;

/// Response action states.
pub mod state {
    pub const PENDING: &str = "pending";
    pub const ACTIVE: &str = "active";
    pub const DONE: &str = "done";
    pub const FAILED: &str = "failed";
    pub const REFUSED: &str = "refused";
    pub const DENIED: &str = "denied";
    pub const REVERTED: &str = "reverted";
    pub const EXPIRED: &str = "expired";
    pub const DRY_RUN: &str = "dry-run";
}

/// Why an operator's request on an action could not be done.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("response action {0} does not exist")]
    NotFound(i64),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The playbooks `respond` configures: built-in ones unless turned off, then the files' (a
/// file's playbook replaces a built-in one of the same id). Errors name file, line and key.
pub fn load_playbooks(cfg: &ServeConfig) -> Result<Vec<Playbook>> {
    let mut books: Vec<Playbook> = if cfg.respond.builtin_playbooks {
        palisade_respond::default_playbooks()
    } else {
        Vec::new()
    };
    for path in &cfg.respond.playbooks {
        let loaded = palisade_respond::load_path(path).map_err(|e| anyhow::anyhow!("{e}"))?;
        for pb in loaded {
            books.retain(|b| b.id != pb.id);
            books.push(pb);
        }
    }
    Ok(books)
}

/// The allowlist: this host's addresses and name, loopback, link-local, and the configured.
pub fn allowlist(cfg: &ServeConfig) -> Allowlist {
    let mut a = Allowlist::for_this_host();
    for c in &cfg.respond.allow_cidrs {
        if let Some(n) = palisade_respond::playbook::parse_net(c) {
            a.add_cidr(n);
        }
    }
    a.users.extend(cfg.respond.allow_users.iter().cloned());
    a.hosts.extend(cfg.respond.allow_hosts.iter().cloned());
    a
}

/// Executor settings with the quarantine folder under the data directory unless configured.
pub fn exec_config(cfg: &ServeConfig) -> ExecConfig {
    let mut e = cfg.respond.exec.clone();
    if e.quarantine_dir == ExecConfig::default().quarantine_dir {
        e.quarantine_dir = cfg.server.data_dir.join("quarantine");
    }
    e
}

/// Records and carries out response actions; shared by the responder thread, the API and the
/// CLI (each with its own store connection).
pub struct Engine {
    exec: Executors,
    nftables: bool,
    local_actions: bool,
    dry_run: bool,
    metrics: Option<Arc<Metrics>>,
    /// What the responder runs, for the API and UI.
    pub playbooks: Vec<crate::api::respond::PlaybookOut>,
}

/// What running one action did.
struct Ran {
    state: &'static str,
    detail: String,
    revert: Option<Revert>,
}

impl Engine {
    pub fn new(cfg: &ServeConfig, metrics: Option<Arc<Metrics>>) -> Engine {
        Engine {
            exec: Executors::new(exec_config(cfg)),
            nftables: cfg.respond.nftables,
            local_actions: cfg.respond.local_actions,
            dry_run: cfg.respond.dry_run,
            metrics,
            playbooks: Vec::new(),
        }
    }

    /// Remembers the playbooks the responder runs (listed by the API and UI).
    pub fn with_playbooks(mut self, books: &[Playbook]) -> Engine {
        self.playbooks = books.iter().map(Into::into).collect();
        self
    }

    /// Creates Palisade's nft table, sets and chains when nftables is on (idempotent).
    pub fn prepare(&self) -> Result<()> {
        if self.nftables {
            self.exec
                .nft()
                .ensure()
                .context("respond.nftables: creating Palisade's nftables table")?;
        }
        Ok(())
    }

    pub fn executors(&self) -> &Executors {
        &self.exec
    }

    /// The mode an action really runs in (configuration can force dry-run).
    fn effective_mode(&self, p: &Planned) -> (Mode, Option<&'static str>) {
        if self.dry_run && p.mode != Mode::DryRun {
            return (Mode::DryRun, Some("respond.dry_run is on"));
        }
        let local = !matches!(p.action, Action::Block { .. } | Action::Decision { .. });
        if local && !self.local_actions && p.mode != Mode::DryRun {
            return (Mode::DryRun, Some("respond.local_actions is off"));
        }
        (p.mode, None)
    }

    /// Records what the planner decided for a batch of incidents and runs the automatic
    /// actions (blocks of the batch in one nft transaction); one store transaction for all.
    /// Returns the new action ids.
    pub fn handle(
        &self,
        store: &mut SqliteStore,
        planned: Vec<(i64, Planned)>,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        let planned: Vec<(i64, Planned)> = planned
            .into_iter()
            .filter(|(_, p)| {
                let cooldown = p
                    .refused
                    .as_deref()
                    .is_some_and(|r| r.starts_with("cooldown"));
                if cooldown && let Some(m) = &self.metrics {
                    m.respond_skipped.inc();
                }
                !cooldown
            })
            .collect();
        if planned.is_empty() {
            return Ok(Vec::new());
        }
        // Automatic blocks go to nftables together, before anything is stored: the firewall is
        // what the attacker meets.
        let mut runs: Vec<Option<Ran>> = planned.iter().map(|_| None).collect();
        let mut blocks: Vec<(usize, IpNet, Option<Duration>)> = Vec::new();
        for (k, (_, p)) in planned.iter().enumerate() {
            if p.refused.is_some() || self.effective_mode(p).0 != Mode::Auto {
                continue;
            }
            match &p.action {
                Action::Block { net, ttl } if self.nftables => blocks.push((k, *net, *ttl)),
                _ => runs[k] = Some(self.run(&p.action)),
            }
        }
        if !blocks.is_empty() {
            let nets: Vec<(IpNet, Option<Duration>)> =
                blocks.iter().map(|(_, n, t)| (*n, *t)).collect();
            let result = self.nft_block(&nets);
            for (k, net, ttl) in blocks {
                runs[k] = Some(match &result {
                    Ok(()) => Ran {
                        state: state::ACTIVE,
                        detail: format!(
                            "blocked {} in nftables table {} for {}",
                            net_value(net),
                            self.exec.nft().table(),
                            ttl_text(ttl)
                        ),
                        revert: Some(Revert::Unblock { net }),
                    },
                    Err(e) => Ran {
                        state: state::FAILED,
                        detail: format!("nft: {e}"),
                        revert: None,
                    },
                });
            }
        }
        let at = now.timestamp_millis();
        store.in_transaction(|s| {
            let mut ids = Vec::with_capacity(planned.len());
            for ((incident, p), ran) in planned.iter().zip(runs) {
                let (mode, forced) = self.effective_mode(p);
                let (st, detail, revert) = if let Some(r) = &p.refused {
                    (state::REFUSED, format!("refused: {r}"), None)
                } else if mode == Mode::DryRun {
                    let why = forced.map(|f| format!(" ({f})")).unwrap_or_default();
                    (
                        state::DRY_RUN,
                        format!("dry-run{why}: would run {}", self.exec.describe(&p.action)),
                        None,
                    )
                } else if mode == Mode::Approve {
                    (
                        state::PENDING,
                        format!(
                            "waiting for approval: would run {}",
                            self.exec.describe(&p.action)
                        ),
                        None,
                    )
                } else {
                    let r = ran.unwrap_or_else(|| self.run(&p.action));
                    (r.state, r.detail, r.revert)
                };
                let id = self.record(s, *incident, p, mode, st, &detail, revert.as_ref(), at)?;
                ids.push(id);
            }
            Ok(ids)
        })
    }

    /// Stores one action, its decision (for active blocks and decisions) and its log line.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        s: &mut SqliteStore,
        incident: i64,
        p: &Planned,
        mode: Mode,
        st: &'static str,
        detail: &str,
        revert: Option<&Revert>,
        at: i64,
    ) -> Result<i64, StoreError> {
        let expires = p
            .ttl
            .filter(|_| st == state::ACTIVE)
            .map(|t| at + t.as_millis() as i64);
        let id = s.insert_response_action(&NewResponseAction {
            created_at: at,
            playbook: p.playbook.clone(),
            incident_id: (incident > 0).then_some(incident),
            kind: p.action.kind().to_string(),
            target: p.action.target(),
            mode: mode.as_str().to_string(),
            state: st.to_string(),
            action_json: serde_json::to_string(p).unwrap_or_default(),
            revert_json: revert.map(|r| serde_json::to_string(r).unwrap_or_default()),
            expires_at: expires,
            detail: detail.to_string(),
        })?;
        if st == state::ACTIVE {
            self.publish(s, id, p, at)?;
        }
        self.log(s, ACTOR, id, st, p, detail, revert, at)?;
        if let Some(m) = &self.metrics {
            m.respond_actions
                .get_or_create(&crate::metrics::StateLabel {
                    state: st.to_string(),
                })
                .inc();
        }
        Ok(id)
    }

    /// A ban decision for an active block or decision action.
    fn publish(
        &self,
        s: &mut SqliteStore,
        id: i64,
        p: &Planned,
        at: i64,
    ) -> Result<(), StoreError> {
        let (net, scenario) = match &p.action {
            Action::Block { net, .. } => (*net, format!("palisade/{}", p.playbook)),
            Action::Decision { net, scenario, .. } => (*net, scenario.clone()),
            _ => return Ok(()),
        };
        s.add_decision(&decision_for(net, scenario, &p.reason, p.ttl, id, at))?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn log(
        &self,
        s: &mut SqliteStore,
        actor: &str,
        id: i64,
        event: &str,
        p: &Planned,
        detail: &str,
        revert: Option<&Revert>,
        at: i64,
    ) -> Result<(), StoreError> {
        let line = serde_json::json!({
            "playbook": p.playbook,
            "mode": p.mode.as_str(),
            "action": p.action.kind(),
            "target": p.action.target(),
            "why": p.reason,
            "result": detail,
            "revert": revert.map(Revert::describe),
        });
        s.append_response_log(at, actor, Some(id), event, &line.to_string())?;
        Ok(())
    }

    fn nft_block(&self, nets: &[(IpNet, Option<Duration>)]) -> Result<(), String> {
        self.exec
            .nft()
            .ensure_and_block(nets)
            .map_err(|e| e.to_string())
    }

    /// Runs one action now.
    fn run(&self, action: &Action) -> Ran {
        if let Action::Block { net, ttl } = action {
            if !self.nftables {
                return Ran {
                    state: state::ACTIVE,
                    detail: format!(
                        "ban decision on {} for {} published (respond.nftables is off: this host's firewall is unchanged)",
                        net_value(*net),
                        ttl_text(*ttl)
                    ),
                    revert: Some(Revert::WithdrawDecision {
                        net: *net,
                        scenario: String::new(),
                    }),
                };
            }
            return match self.nft_block(&[(*net, *ttl)]) {
                Ok(()) => Ran {
                    state: state::ACTIVE,
                    detail: format!("blocked {} for {}", net_value(*net), ttl_text(*ttl)),
                    revert: Some(Revert::Unblock { net: *net }),
                },
                Err(e) => Ran {
                    state: state::FAILED,
                    detail: format!("nft: {e}"),
                    revert: None,
                },
            };
        }
        match self.exec.execute(action) {
            Ok(o) => Ran {
                // Something to undo later: it stays active until reverted or expired.
                state: if o.revert.is_some() {
                    state::ACTIVE
                } else {
                    state::DONE
                },
                detail: o.detail,
                revert: o.revert,
            },
            Err(e) => Ran {
                state: state::FAILED,
                detail: e.to_string(),
                revert: None,
            },
        }
    }

    /// Approves a pending action: runs it now, as `actor`.
    pub fn approve(
        &self,
        s: &mut SqliteStore,
        id: i64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<ResponseAction, OpError> {
        let a = action_in_state(s, id, state::PENDING)?;
        let p = planned_of(&a)?;
        let at = now.timestamp_millis();
        let r = self.run(&p.action);
        let expires = p
            .ttl
            .filter(|_| r.state == state::ACTIVE)
            .map(|t| at + t.as_millis() as i64);
        let revert = r
            .revert
            .as_ref()
            .map(|x| serde_json::to_string(x).unwrap_or_default());
        s.in_transaction(|s| {
            s.finish_response_action(
                id,
                r.state,
                &r.detail,
                revert.as_deref(),
                expires,
                Some(actor),
                at,
            )?;
            if r.state == state::ACTIVE {
                self.publish(s, id, &p, at)?;
            }
            self.log(
                s,
                actor,
                id,
                "approved",
                &p,
                &r.detail,
                r.revert.as_ref(),
                at,
            )
        })?;
        s.response_action(id)?.ok_or(OpError::NotFound(id))
    }

    /// Denies a pending action.
    pub fn deny(
        &self,
        s: &mut SqliteStore,
        id: i64,
        actor: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<ResponseAction, OpError> {
        let a = action_in_state(s, id, state::PENDING)?;
        let p = planned_of(&a)?;
        let at = now.timestamp_millis();
        let detail = if reason.trim().is_empty() {
            format!("denied by {actor}")
        } else {
            format!("denied by {actor}: {}", reason.trim())
        };
        s.in_transaction(|s| {
            s.update_response_action(id, state::DENIED, &detail, Some(actor), at)?;
            self.log(s, actor, id, "denied", &p, &detail, None, at)
        })?;
        s.response_action(id)?.ok_or(OpError::NotFound(id))
    }

    /// Reverts an active (or done but reversible) action: undoes it and withdraws its
    /// decisions.
    pub fn revert(
        &self,
        s: &mut SqliteStore,
        id: i64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<ResponseAction, OpError> {
        let a = action_in_state(s, id, state::ACTIVE)?;
        let p = planned_of(&a)?;
        let revert: Option<Revert> = a
            .revert_json
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| OpError::Failed(format!("response action {id}: stored revert: {e}")))?;
        let at = now.timestamp_millis();
        let mut detail = match &revert {
            None => {
                return Err(OpError::Conflict(format!(
                    "response action {id} cannot be reverted: {}",
                    a.detail
                )));
            }
            Some(Revert::WithdrawDecision { net, .. }) => {
                format!("withdrew the decision on {}", net_value(*net))
            }
            Some(Revert::Unblock { net }) if !self.nftables => {
                // Blocked while nftables was on; now off: try anyway, the table may exist.
                self.exec
                    .revert(&Revert::Unblock { net: *net })
                    .map_err(|e| OpError::Failed(e.to_string()))?
            }
            Some(r) => self
                .exec
                .revert(r)
                .map_err(|e| OpError::Failed(format!("reverting action {id}: {e}")))?,
        };
        s.in_transaction(|s| {
            if let Some(net) = action_net(&p.action) {
                let n = s.delete_decisions_for_value(&net_value(net), at)?;
                if n > 0 {
                    detail.push_str(&format!("; {n} decision(s) withdrawn"));
                }
            }
            s.update_response_action(id, state::REVERTED, &detail, Some(actor), at)?;
            self.log(s, actor, id, "reverted", &p, &detail, None, at)
        })?;
        s.response_action(id)?.ok_or(OpError::NotFound(id))
    }

    /// Active actions past their TTL become `expired`; user locks are unlocked (blocks and
    /// decisions end by themselves). Returns how many expired.
    pub fn expire(&self, s: &mut SqliteStore, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let at = now.timestamp_millis();
        let due = s.due_response_actions(at, 1000)?;
        let mut n = 0;
        for a in due {
            let Ok(p) = planned_of(&a) else { continue };
            let revert: Option<Revert> = a
                .revert_json
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok());
            let detail = match &revert {
                Some(r @ Revert::UnlockUser { .. }) => match self.exec.revert(r) {
                    Ok(d) => format!("expired: {d}"),
                    Err(e) => format!("expired, but undoing failed: {e}"),
                },
                _ => "expired (its TTL ended; nftables and bouncers dropped it)".to_string(),
            };
            s.in_transaction(|s| {
                s.update_response_action(a.id, state::EXPIRED, &detail, None, at)?;
                self.log(s, ACTOR, a.id, "expired", &p, &detail, None, at)
            })?;
            n += 1;
        }
        Ok(n)
    }
}

/// The action `id`, which must be in state `want` (pending to approve or deny, active to
/// revert).
fn action_in_state(s: &SqliteStore, id: i64, want: &str) -> Result<ResponseAction, OpError> {
    let a = s.response_action(id)?.ok_or(OpError::NotFound(id))?;
    if a.state != want {
        let can = if want == state::ACTIVE {
            "only active actions can be reverted".to_string()
        } else {
            format!("not {want}")
        };
        return Err(OpError::Conflict(format!(
            "response action {id} is {}; {can}",
            a.state
        )));
    }
    Ok(a)
}

fn planned_of(a: &ResponseAction) -> Result<Planned, OpError> {
    serde_json::from_str(&a.action_json)
        .map_err(|e| OpError::Failed(format!("response action {}: stored action: {e}", a.id)))
}

fn action_net(a: &Action) -> Option<IpNet> {
    match a {
        Action::Block { net, .. } | Action::Decision { net, .. } => Some(*net),
        _ => None,
    }
}

/// A single address as itself, a network as CIDR (what decisions and bouncers expect).
fn net_value(net: IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.trunc().to_string()
    }
}

fn decision_for(
    net: IpNet,
    scenario: String,
    reason: &str,
    ttl: Option<Duration>,
    action_id: i64,
    at: i64,
) -> NewDecision {
    let single = net.prefix_len() == net.max_prefix_len();
    NewDecision {
        origin: "palisade".into(),
        kind: "ban".into(),
        scope: if single { Scope::Ip } else { Scope::Range },
        value: net_value(net),
        scenario,
        reason: reason.chars().take(500).collect(),
        created_at: at,
        until: ttl.map(|t| at + t.as_millis() as i64),
        action_id: Some(action_id),
        simulated: false,
    }
}

fn ttl_text(ttl: Option<Duration>) -> String {
    match ttl {
        Some(t) => palisade_respond::duration::format(t),
        None => "good (no TTL)".into(),
    }
}

/// The responder thread: plans subjects as the committer sends them, and expires actions.
pub struct Responder {
    pub planner: Planner,
    pub engine: Arc<Engine>,
    pub store: SqliteStore,
}

impl Responder {
    pub fn spawn(
        mut self,
        rx: Receiver<Vec<Subject>>,
        stop: Arc<AtomicBool>,
    ) -> Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("palisade-respond".into())
            .spawn(move || {
                let mut last_expiry = Instant::now();
                loop {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    match rx.recv_timeout(Duration::from_millis(250)) {
                        Ok(mut subjects) => {
                            while subjects.len() < ROUND {
                                match rx.try_recv() {
                                    Ok(mut more) => subjects.append(&mut more),
                                    Err(_) => break,
                                }
                            }
                            self.round(&subjects);
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    if last_expiry.elapsed() >= Duration::from_secs(1) {
                        last_expiry = Instant::now();
                        if let Err(e) = self.engine.expire(&mut self.store, Utc::now()) {
                            tracing::warn!("expiring response actions: {e}");
                        }
                    }
                }
            })
            .context("starting the respond thread")
    }

    fn round(&mut self, subjects: &[Subject]) {
        let now = Utc::now();
        let mut planned = Vec::new();
        for s in subjects {
            for p in self.planner.plan(s, now) {
                planned.push((s.incident, p));
            }
        }
        if planned.is_empty() {
            return;
        }
        if let Err(e) = self.engine.handle(&mut self.store, planned, now) {
            tracing::error!("recording response actions failed: {e}");
        }
    }
}

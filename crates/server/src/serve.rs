//! Starting and stopping the whole service: detectors, pipeline (with replay), write-ahead
//! log, ingress, HTTP (API, UI, metrics).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use palisade_anomaly::detector::Learned;
use palisade_sigma::{LoadOptions, load_rules};
use palisade_store::SqliteStore;
use palisade_triage::{Triage, TriageConfig};
use tokio::sync::watch;

use crate::api::{ApiError, Auth};
use crate::auth::Role;
use crate::config::ServeConfig;
use crate::ingress::Ingress;
use crate::metrics::Metrics;
use crate::pipeline::{Detectors, Pipeline, Progress, Settings, applied_in};
use crate::state::{AppState, Inner};
use crate::wal::{Wal, WalOptions};

/// A started service.
pub struct Running {
    /// The address the HTTP server listens on.
    pub addr: SocketAddr,
    /// Whether it serves HTTPS (`server.tls_cert` and `server.tls_key` set).
    pub tls: bool,
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    http: tokio::task::JoinHandle<()>,
    pipeline: std::thread::JoinHandle<()>,
    writer: std::thread::JoinHandle<()>,
    /// Stops the checkpoint and decision expiry threads.
    checkpointer: Arc<std::sync::atomic::AtomicBool>,
    /// The respond thread (ends when the pipeline's store thread hangs up).
    responder: Option<std::thread::JoinHandle<()>>,
    /// The scheduled weakness scans (`[vuln]`): its stop flag and thread. It holds an ingress
    /// handle, so it must end before the log writer can.
    vuln: Option<(
        Arc<std::sync::atomic::AtomicBool>,
        std::thread::JoinHandle<()>,
    )>,
    /// Syslog listeners, tailers and directory watchers.
    pub sources: crate::sources::RunningSources,
    /// The LLM firewall proxy's address (`[guard_proxy]`), when it runs.
    pub guard_proxy: Option<SocketAddr>,
    guard_proxy_task: Option<(tokio::task::JoinHandle<()>, crate::guard_proxy::IngressSink)>,
}

/// What start-up found, for the operator.
#[derive(Debug, Clone, Default)]
pub struct StartReport {
    pub rules: usize,
    pub rule_failures: Vec<String>,
    pub indicators: usize,
    pub replayed_from: u64,
    pub wal_last_seq: u64,
    pub torn_bytes: u64,
    /// Playbooks the responder runs (0 when `respond.enabled` is off).
    pub playbooks: usize,
    /// Users whose authentication profile was restored from the store.
    pub auth_users: usize,
    /// Why saved authentication profiles could not be restored (the engine starts empty).
    pub auth_restore_error: Option<String>,
}

/// Reads triage settings from TOML (top level or a `[triage]` table) or JSON (by extension or
/// a leading `{`), validated; the defaults when `path` is `None`. Shared with `palisade hunt`.
pub fn load_triage_config(path: Option<&std::path::Path>) -> Result<TriageConfig> {
    let Some(path) = path else {
        return Ok(TriageConfig::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let json_like =
        path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
    let cfg: TriageConfig = if json_like {
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))?
    } else {
        let value: toml::Table =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let table = match value.get("triage") {
            Some(toml::Value::Table(t)) => t.clone(),
            _ => value,
        };
        table
            .try_into()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
    };
    cfg.validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(cfg)
}

/// The Sigma rules of `pipeline.rules` when the sigma detector is on; an error when none is
/// usable (failures of single files are in the report). Shared with `serve --check-config`.
pub fn load_sigma(cfg: &ServeConfig) -> Result<Option<Arc<palisade_sigma::LoadedRules>>> {
    if !cfg.has_detector("sigma") {
        return Ok(None);
    }
    let loaded = load_rules(&cfg.pipeline.rules, &LoadOptions::default());
    if loaded.rules.is_empty() && loaded.correlations.is_empty() {
        for f in &loaded.report.failures {
            tracing::error!("rule not loaded: {f}");
        }
        bail!("pipeline.rules: no usable Sigma rules found");
    }
    Ok(Some(Arc::new(loaded)))
}

/// The risk-based authentication engine `[auth]` describes (policy file, GeoIP databases,
/// profile bound); `None` when `auth.enabled` is off. Errors name the file. Shared with
/// `serve --check-config` and `palisade auth check`.
pub fn load_auth(cfg: &ServeConfig) -> Result<Option<palisade_auth::Engine>> {
    if !cfg.auth.enabled {
        return Ok(None);
    }
    let policy = match &cfg.auth.policy {
        Some(path) => {
            let mut p = palisade_auth::Policy::load(path).context("auth.policy")?;
            // Threat-list files are relative to the policy file.
            let base = path.parent().unwrap_or(std::path::Path::new("."));
            for t in &mut p.threat_lists {
                if let Some(f) = &mut t.file
                    && f.is_relative()
                {
                    *f = base.join(&*f);
                }
            }
            p
        }
        None => palisade_auth::Policy::default(),
    };
    let mut geo: Option<palisade_auth::Geo> = None;
    for (k, path) in cfg.auth.geoip.iter().enumerate() {
        match &mut geo {
            None => {
                geo = Some(
                    palisade_auth::Geo::open(path).with_context(|| format!("auth.geoip[{k}]"))?,
                )
            }
            Some(g) => g.add(path).with_context(|| format!("auth.geoip[{k}]"))?,
        }
    }
    let what = cfg.auth.policy.as_ref().map_or_else(
        || "the default policy".to_string(),
        |p| p.display().to_string(),
    );
    let mut engine =
        palisade_auth::Engine::new(policy, geo).with_context(|| format!("auth: {what}"))?;
    engine.set_max_users(cfg.auth.max_users);
    Ok(Some(engine))
}

/// Starts everything; returns once the HTTP server listens.
pub async fn start(cfg: ServeConfig) -> Result<(Running, StartReport)> {
    let mut report = StartReport::default();
    // Certificate and key first: a bad file fails start-up before anything else runs.
    let tls = crate::tls::configured(&cfg)?;
    std::fs::create_dir_all(&cfg.server.data_dir)
        .with_context(|| format!("creating {}", cfg.server.data_dir.display()))?;
    let store_path = cfg.store_path();
    let metrics = Arc::new(Metrics::new());
    let progress = Arc::new(Progress::default());

    // Detectors.
    let rules = load_sigma(&cfg)?;
    let auth = load_auth(&cfg)?.map(|e| Arc::new(RwLock::new(e)));
    if let Some(loaded) = &rules {
        report.rule_failures = loaded
            .report
            .failures
            .iter()
            .map(ToString::to_string)
            .collect();
        report.rules = loaded.report.detection_rules + loaded.report.correlation_rules;
    }
    let store = SqliteStore::open(&store_path)
        .with_context(|| format!("opening {}", store_path.display()))?;
    // Saved authentication profiles, before the log replay teaches the engine what came after
    // them. Damaged ones are reported and the engine starts empty: the login path stays up.
    if let Some(auth) = &auth
        && let Some(bytes) =
            palisade_store::Store::load_state(&store, crate::pipeline::AUTH_PROFILES)?
    {
        match auth
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .restore_profiles(&bytes)
        {
            Ok(n) => report.auth_users = n,
            Err(e) => {
                tracing::error!("{e}; starting with no learned authentication profiles");
                report.auth_restore_error = Some(e.to_string());
            }
        }
    }
    let intel = if cfg.has_detector("ioc") {
        crate::intel::load(&store, &cfg.pipeline.intel)?.map(Arc::new)
    } else {
        None
    };
    report.indicators = intel.as_ref().map_or(0, |i| i.len());
    let learned = {
        let (a, u, b) = (
            cfg.has_detector("anomaly"),
            cfg.has_detector("ueba"),
            cfg.has_detector("beacon"),
        );
        (a || u || b).then(|| {
            let mut l = Learned::default();
            l.enable(a, u);
            l.enable_beacon(b);
            Arc::new(Mutex::new(l))
        })
    };
    let triage = Arc::new(Mutex::new(Triage::new(load_triage_config(
        cfg.pipeline.triage_config.as_deref(),
    )?)));
    let disabled = Arc::new(RwLock::new(HashSet::new()));
    let applied = applied_in(&store)?;

    // The pipeline, brought up to date from the log.
    let mut pipeline = Pipeline::open(
        &store_path,
        Detectors {
            rules: rules.clone(),
            intel: intel.clone(),
            learned: learned.clone(),
            triage: Arc::clone(&triage),
            disabled: Arc::clone(&disabled),
            auth: auth.clone(),
        },
        Settings {
            store_events: cfg.pipeline.store_events,
            keep_events: cfg.store.keep_events,
            snapshot_every: Duration::from_secs(cfg.pipeline.snapshot_secs),
            batch_records: cfg.pipeline.batch_records,
            rule_count: report.rules as u64,
        },
        Arc::clone(&metrics),
        Arc::clone(&progress),
    )?;
    // Playbooks: the committer hands stored incidents to the respond thread (also those of
    // records replayed below that were never applied). The thread ends when the committer
    // hangs up, after the last of them.
    let (respond, responder) = if cfg.respond.enabled {
        let books = crate::respond::load_playbooks(&cfg)?;
        report.playbooks = books.iter().filter(|b| b.enabled).count();
        let engine = Arc::new(
            crate::respond::Engine::new(&cfg, Some(Arc::clone(&metrics))).with_playbooks(&books),
        );
        engine.prepare()?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1024);
        pipeline.set_respond(tx);
        let responder = crate::respond::Responder {
            planner: palisade_respond::Planner::new(books, crate::respond::allowlist(&cfg)),
            engine: Arc::clone(&engine),
            store: SqliteStore::open(&store_path)
                .with_context(|| format!("opening {}", store_path.display()))?,
        }
        .spawn(rx, Arc::new(std::sync::atomic::AtomicBool::new(false)))?;
        (Some(engine), Some(responder))
    } else {
        (None, None)
    };
    let wal_dir = cfg.wal_dir();
    let (mut wal, opened) = Wal::open(
        &wal_dir,
        WalOptions {
            fsync: cfg.wal.fsync,
            segment_bytes: cfg.wal.segment_bytes,
        },
    )?;
    // Never hand out a sequence number the store has already seen (a deleted log).
    wal.ensure_next(applied.max(pipeline.snapshot_seq()) + 1);
    report.wal_last_seq = opened.last_seq;
    report.torn_bytes = opened.torn_bytes;
    report.replayed_from = pipeline.snapshot_seq();
    let replay_to = opened.last_seq;
    let pipeline = tokio::task::spawn_blocking(move || -> Result<Pipeline> {
        pipeline.replay(&wal_dir, replay_to)?;
        pipeline.snapshot()?;
        Ok(pipeline)
    })
    .await??;
    let mut pipeline = pipeline;

    // Room for many batches: the queue's bound is `wal.queue_records` (Busy → 429), counted by
    // the ingress; the writer must not wait on a slow pipeline batch to acknowledge.
    let (pipe_tx, pipe_rx) = std::sync::mpsc::sync_channel(4096);
    let checkpointer = {
        let store = SqliteStore::open(&store_path)
            .with_context(|| format!("opening {}", store_path.display()))?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("palisade-checkpoint".into())
            .spawn(move || {
                while !flag.load(std::sync::atomic::Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(500));
                    if let Err(e) = store.checkpoint() {
                        tracing::warn!("store checkpoint: {e}");
                    }
                }
                let _ = store.checkpoint();
            })
            .context("starting the checkpoint thread")?;
        // Decisions past their end are marked deleted every second, so bouncers lift them
        // within a pull; the gauge of active decisions is refreshed with it.
        let mut decisions = SqliteStore::open(&store_path)
            .with_context(|| format!("opening {}", store_path.display()))?;
        let flag = Arc::clone(&stop);
        let gauge = Arc::clone(&metrics);
        std::thread::Builder::new()
            .name("palisade-decisions".into())
            .spawn(move || {
                use palisade_store::ResponseStore;
                while !flag.load(std::sync::atomic::Ordering::Acquire) {
                    let now = Utc::now().timestamp_millis();
                    match decisions.expire_decisions(now) {
                        Ok(0) => {}
                        Ok(n) => tracing::info!("{n} decisions expired"),
                        Err(e) => tracing::warn!("expiring decisions: {e}"),
                    }
                    if let Ok(n) = decisions.active_decision_count(now) {
                        gauge.decisions_active.set(n as i64);
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
            .context("starting the decision expiry thread")?;
        stop
    };
    let (ingress, done, writer) =
        Ingress::start(wal, cfg.wal.queue_records, pipe_tx, Arc::clone(&metrics));
    pipeline.set_done(done);
    let vuln = if cfg.vuln.enabled {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = crate::vuln::start(
            cfg.vuln.clone(),
            &store_path,
            ingress.clone(),
            Arc::clone(&stop),
        )?;
        Some((stop, thread))
    } else {
        None
    };
    let pipeline = std::thread::Builder::new()
        .name("palisade-pipeline".into())
        .spawn(move || pipeline.run(pipe_rx))
        .context("starting the pipeline thread")?;

    let (shutdown, shutdown_rx) = watch::channel(false);
    let state = AppState(Arc::new(Inner {
        tokens: crate::state::TokenCache::default(),
        sessions: crate::session::Sessions::new(Duration::from_secs(
            cfg.server.session_minutes * 60,
        )),
        cfg: cfg.clone(),
        db: Arc::new(Mutex::new(store)),
        ingress: ingress.clone(),
        metrics: Arc::clone(&metrics),
        progress,
        triage,
        learned,
        rules,
        disabled,
        intel,
        respond,
        auth,
        started: Utc::now(),
    }));
    // The LLM firewall binds before the sources, so a busy port fails start-up naming it.
    let guard_proxy = if cfg.guard_proxy.enabled {
        let (handle, sink) =
            crate::guard_proxy::IngressSink::new(ingress.clone(), Arc::clone(&metrics));
        let running = crate::guard_proxy::start(
            cfg.guard_proxy.clone(),
            sink,
            Some(Arc::clone(&metrics)),
            shutdown_rx.clone(),
        )
        .await?;
        Some((running, handle))
    } else {
        None
    };
    let sources =
        crate::sources::start_all(&cfg, ingress, Arc::clone(&metrics), shutdown_rx.clone())?;
    let app = app(state.clone());
    let listener = tokio::net::TcpListener::bind(cfg.listen_addr())
        .await
        .with_context(|| format!("server.listen: cannot listen on {}", cfg.server.listen))?;
    let addr = listener.local_addr()?;
    let is_tls = tls.is_some();
    let mut rx = shutdown_rx;
    let stopped = async move {
        while rx.changed().await.is_ok() {
            if *rx.borrow() {
                break;
            }
        }
    };
    let http = tokio::spawn(async move {
        let r = match tls {
            Some(config) => {
                let listener = crate::tls::TlsListener::new(listener, config);
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<crate::tls::PeerAddr>(),
                )
                .with_graceful_shutdown(stopped)
                .await
            }
            None => {
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<crate::tls::PeerAddr>(),
                )
                .with_graceful_shutdown(stopped)
                .await
            }
        };
        if let Err(e) = r {
            tracing::error!("HTTP server failed: {e}");
        }
    });
    Ok((
        Running {
            addr,
            tls: is_tls,
            state,
            shutdown,
            http,
            pipeline,
            writer,
            checkpointer,
            responder,
            vuln,
            sources,
            guard_proxy: guard_proxy.as_ref().map(|g| g.0.addr),
            guard_proxy_task: guard_proxy.map(|(g, h)| (g.task, h)),
        },
        report,
    ))
}

impl Running {
    /// Stops taking input, lets the pipeline apply what was acknowledged, snapshots, and
    /// returns when everything has stopped.
    pub async fn stop(self) {
        let Running {
            state,
            shutdown,
            http,
            pipeline,
            writer,
            sources,
            checkpointer,
            responder,
            vuln,
            guard_proxy_task,
            ..
        } = self;
        // Sources first (a TCP batch in flight still reaches the log), then the HTTP side.
        let _ = shutdown.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), sources.join()).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), http).await;
        if let Some((task, sink)) = guard_proxy_task {
            if tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .is_err()
            {
                tracing::warn!("guard proxy: connections still open at shutdown");
            }
            // Streams still open record nothing more; the log writer can end.
            sink.detach();
        }
        state.ingress.close();
        // The last ingress handles go with the state and the scan thread (after the scan it
        // may be in); then the writer and the pipeline end.
        drop(state);
        let _ = tokio::task::spawn_blocking(move || {
            if let Some((stop, thread)) = vuln {
                stop.store(true, std::sync::atomic::Ordering::Release);
                let _ = thread.join();
            }
            let _ = writer.join();
            let _ = pipeline.join();
            if let Some(r) = responder {
                let _ = r.join();
            }
        })
        .await;
        checkpointer.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let (api, doc) = crate::api::router();
    let doc = Arc::new(doc);
    let max = state.cfg.server.max_body_bytes;
    Router::new()
        .merge(api)
        .route(
            "/api/openapi.json",
            get(move |auth: Auth| {
                let doc = Arc::clone(&doc);
                async move {
                    auth.require(Role::Viewer)?;
                    Ok::<_, ApiError>(Json(serde_json::to_value(&*doc).unwrap_or_default()))
                }
            }),
        )
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(crate::ui::router())
        .layer(DefaultBodyLimit::max(max))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>, auth: Auth) -> Result<impl IntoResponse, ApiError> {
    auth.require(Role::Viewer)?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    ))
}

/// Whether a store already holds a token (a fresh install prints how to make one).
pub fn has_tokens(store: &SqliteStore) -> Result<bool> {
    use palisade_store::Store;
    Ok(store.tokens()?.iter().any(|t| t.revoked.is_none()))
}

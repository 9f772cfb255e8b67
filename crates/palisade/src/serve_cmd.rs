//! `palisade serve` and `palisade token`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use palisade_server::auth::Role;
use palisade_server::config::ServeConfig;
use palisade_server::serve;
use palisade_store::{SqliteStore, Store};

use crate::cli::{DemoArgs, ServeArgs, TokenCommand, TokenStoreArgs};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/demo_rules.rs"));
}

/// Reads the configuration with environment overrides and command-line overrides.
pub fn load_config(
    path: Option<&Path>,
    listen: Option<&str>,
    data_dir: Option<&Path>,
) -> Result<ServeConfig> {
    load_config_with(path, listen, data_dir, Vec::new())
}

/// [`load_config`] with further overrides (applied last).
fn load_config_with(
    path: Option<&Path>,
    listen: Option<&str>,
    data_dir: Option<&Path>,
    extra: Vec<(String, String)>,
) -> Result<ServeConfig> {
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with(palisade_server::config::ENV_PREFIX))
        .collect();
    if let Some(l) = listen {
        env.push(("PALISADE_SERVER__LISTEN".into(), format!("{l:?}")));
    }
    if let Some(d) = data_dir {
        env.push((
            "PALISADE_SERVER__DATA_DIR".into(),
            format!("{:?}", d.display().to_string()),
        ));
    }
    env.extend(extra);
    Ok(ServeConfig::load(path, env)?)
}

pub fn serve(args: ServeArgs) -> Result<u8> {
    let cfg = load_config(
        args.config.as_deref(),
        args.listen.as_deref(),
        args.data_dir.as_deref(),
    )?;
    if args.check_config {
        return check(&cfg);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("palisade-http")
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run(cfg, None))
}

/// Checks what start-up would: the file, rules, intel, the store.
fn check(cfg: &ServeConfig) -> Result<u8> {
    if let Some(loaded) = serve::load_sigma(cfg)? {
        for f in &loaded.report.failures {
            eprintln!("palisade: rule not loaded: {f}");
        }
        println!(
            "rules: {} detection, {} correlation, {} failed",
            loaded.report.detection_rules,
            loaded.report.correlation_rules,
            loaded.report.failures.len()
        );
    }
    if cfg.has_detector("ioc") {
        // Intel files are read as start-up would; the store only if it exists already (a
        // check creates nothing).
        let stored = match cfg.store_path() {
            p if p.exists() => SqliteStore::open(&p)?,
            _ => SqliteStore::in_memory()?,
        };
        let n = palisade_server::intel::load(&stored, &cfg.pipeline.intel)?.map_or(0, |i| i.len());
        println!("indicators: {n}");
    }
    if cfg.respond.enabled {
        let books = palisade_server::respond::load_playbooks(cfg)?;
        let ids: Vec<String> = books
            .iter()
            .map(|b| format!("{} ({})", b.id, b.mode.as_str()))
            .collect();
        println!(
            "playbooks: {}; blocks {}",
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            },
            if cfg.respond.nftables {
                "go into nftables and the decisions API"
            } else {
                "are published as decisions only (respond.nftables is off)"
            }
        );
    } else {
        println!("playbooks: off (respond.enabled = false)");
    }
    match serve::load_auth(cfg)? {
        Some(_) => println!(
            "auth: {} policy, {} GeoIP database(s), at most {} user profiles",
            cfg.auth
                .policy
                .as_ref()
                .map_or_else(|| "default".to_string(), |p| p.display().to_string()),
            cfg.auth.geoip.len(),
            cfg.auth.max_users
        ),
        None => println!("auth: off (auth.enabled = false)"),
    }
    println!("listen: {}", cfg.server.listen);
    if cfg.guard_proxy.enabled {
        println!(
            "guard proxy: {} → {}",
            cfg.guard_proxy.listen, cfg.guard_proxy.upstream
        );
    }
    println!("data dir: {}", cfg.server.data_dir.display());
    println!("detectors: {}", cfg.pipeline.detectors.join(", "));
    println!(
        "sources: http, {} syslog, {} file, {} dir",
        cfg.sources.syslog.len(),
        cfg.sources.file.len(),
        cfg.sources.dir.len()
    );
    println!("configuration OK");
    Ok(0)
}

/// `palisade demo`: the service on a temporary store, fed by the simulator.
pub fn demo(args: DemoArgs) -> Result<u8> {
    let temp;
    let data_dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("palisade-demo-")
                .tempdir()
                .context("creating a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    let rules = data_dir.join("rules");
    for (rel, text) in embedded::DEMO_RULES {
        let p = rules.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    // The anomaly models are left out of the demo: on the simulated Zeek traffic they still
    // raise many false alarms (see the issue notes); Sigma, UEBA and beacon detection carry
    // the scripted attacks.
    let mut cfg = load_config_with(
        None,
        Some(&args.listen),
        Some(&data_dir),
        vec![
            (
                "PALISADE_PIPELINE__RULES".into(),
                format!("[{:?}]", rules.display().to_string()),
            ),
            (
                "PALISADE_PIPELINE__DETECTORS".into(),
                r#"["sigma", "ueba", "beacon"]"#.into(),
            ),
        ],
    )?;
    palisade_server::demo::demo_respond(&mut cfg);
    let mut store = SqliteStore::open(&cfg.store_path())?;
    let (_, secret) = create_token(&mut store, "demo", Role::Admin)?;
    drop(store);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("palisade-http")
        .build()
        .context("starting the async runtime")?;
    let seed = args.seed;
    rt.block_on(async move {
        let (running, report) = serve::start(cfg.clone()).await?;
        let url = format!(
            "{}://{}/",
            if running.tls { "https" } else { "http" },
            running.addr
        );
        let sim = palisade_server::demo::sim_config(chrono::Utc::now(), seed);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let progress = std::sync::Arc::new(palisade_server::demo::FeedProgress::default());
        let feeder = {
            let (ingress, stop, progress) = (
                running.state.ingress.clone(),
                std::sync::Arc::clone(&stop),
                std::sync::Arc::clone(&progress),
            );
            std::thread::Builder::new()
                .name("palisade-demo-feed".into())
                .spawn(move || palisade_server::demo::feed(sim, ingress, stop, progress))?
        };
        eprintln!(
            "palisade demo: {} rules; data in {}; replaying 8 days of a simulated organisation and its first attack campaign, then live",
            report.rules,
            data_dir.display()
        );
        println!("Palisade demo is running. Open {url} and sign in with the token below.");
        println!("token: {secret}");
        println!("API example: curl -H 'Authorization: Bearer {secret}' {url}api/v1/incidents?status=open");
        println!(
            "Playbooks answer the simulated attacks with ban decisions (never this host's firewall): see {url}respond, or point a CrowdSec bouncer at {url} with a key from `palisade bouncer add NAME --data-dir {}`",
            data_dir.display()
        );
        let watch = {
            let progress = std::sync::Arc::clone(&progress);
            let state = running.state.clone();
            tokio::spawn(async move {
                use std::sync::atomic::Ordering;
                let mut announced = false;
                loop {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    let sim_t = chrono::DateTime::from_timestamp(progress.sim_time.load(Ordering::Relaxed), 0)
                        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_default();
                    let live = progress.live.load(Ordering::Relaxed);
                    if !announced || !live {
                        eprintln!(
                            "palisade demo: {} simulated records (at {sim_t} UTC), {} events applied, {} alerts{}",
                            progress.records.load(Ordering::Relaxed),
                            state.progress.events.load(Ordering::Relaxed),
                            state.progress.alerts.load(Ordering::Relaxed),
                            if live { "; caught up, now live" } else { "" }
                        );
                    }
                    announced |= live;
                }
            })
        };
        wait_for_signal().await;
        eprintln!("palisade: stopping…");
        watch.abort();
        stop.store(true, std::sync::atomic::Ordering::Release);
        let _ = tokio::task::spawn_blocking(move || feeder.join()).await;
        running.stop().await;
        Ok::<_, anyhow::Error>(0)
    })
}

/// Runs the service until Ctrl-C / SIGTERM. `banner` adds lines printed once it listens.
pub async fn run(cfg: ServeConfig, banner: Option<String>) -> Result<u8> {
    let (running, report) = serve::start(cfg.clone()).await?;
    for f in &report.rule_failures {
        eprintln!("palisade: rule not loaded: {f}");
    }
    let scheme = if running.tls { "https" } else { "http" };
    eprintln!(
        "palisade: serving on {scheme}://{} ({} rules, {} indicators; store {}; replayed the log from #{} to #{})",
        running.addr,
        report.rules,
        report.indicators,
        cfg.store_path().display(),
        report.replayed_from,
        report.wal_last_seq,
    );
    if let Some(a) = running.guard_proxy {
        eprintln!(
            "palisade: LLM firewall on http://{a}/v1 → {} (findings go into the pipeline)",
            cfg.guard_proxy.upstream
        );
    }
    if report.auth_users > 0 {
        eprintln!(
            "palisade: restored {} authentication profiles",
            report.auth_users
        );
    }
    if let Some(e) = &report.auth_restore_error {
        eprintln!("palisade: {e}; risk-based authentication starts with no learned profiles");
    }
    if report.torn_bytes > 0 {
        eprintln!(
            "palisade: cut {} bytes of a torn write at the end of the write-ahead log (never acknowledged)",
            report.torn_bytes
        );
    }
    if let Some(b) = banner {
        println!("{b}");
    } else {
        let store = SqliteStore::open(&cfg.store_path())?;
        if !serve::has_tokens(&store)? {
            eprintln!(
                "palisade: no API tokens yet; create one with: palisade token create --role admin --config <your palisade.toml>"
            );
        }
    }
    wait_for_signal().await;
    eprintln!("palisade: stopping (applying what was acknowledged, saving baselines)…");
    running.stop().await;
    eprintln!("palisade: stopped");
    Ok(0)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn store_path(s: &TokenStoreArgs) -> Result<PathBuf> {
    match (&s.store, &s.config, &s.data_dir) {
        (Some(p), None, None) => Ok(p.clone()),
        // A data directory alone: the default store in it, without validating a pipeline
        // this command does not run.
        (None, None, Some(d)) => {
            let mut cfg = palisade_server::config::ServeConfig::default();
            cfg.server.data_dir = d.clone();
            Ok(cfg.store_path())
        }
        (None, c, d) => Ok(load_config(c.as_deref(), None, d.as_deref())?.store_path()),
        (Some(_), _, _) => bail!("give --store, or --config and/or --data-dir, not both"),
    }
}

/// The store `--config`, `--data-dir` or `--store` names, created if missing.
pub fn open(s: &TokenStoreArgs) -> Result<SqliteStore> {
    let path = store_path(s)?;
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    SqliteStore::open(&path).with_context(|| format!("opening {}", path.display()))
}

/// Creates a token in `store`; returns (id, secret).
pub fn create_token(store: &mut SqliteStore, name: &str, role: Role) -> Result<(i64, String)> {
    Ok(palisade_server::auth::issue_token(
        store, name, role, "cli",
    )?)
}

pub fn token(cmd: TokenCommand) -> Result<u8> {
    match cmd {
        TokenCommand::Create(a) => {
            let role: Role = a.role.parse().map_err(anyhow::Error::msg)?;
            let name = a.name.trim();
            if name.is_empty() || name.len() > 64 || name.contains(char::is_control) {
                bail!("--name must be 1–64 printable characters");
            }
            let mut store = open(&a.store)?;
            let (id, secret) = create_token(&mut store, name, role)?;
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"id": id, "name": name, "role": role.as_str(), "token": secret})
                );
            } else {
                eprintln!("palisade: token #{id} ({name}, {role}) created; it is shown only now:");
                println!("token: {secret}");
            }
            Ok(0)
        }
        TokenCommand::List(s) => {
            let store = open(&s)?;
            let mut t = Table::new();
            t.load_style(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(["id", "name", "role", "created", "revoked"]);
            for r in store.tokens()? {
                t.add_row([
                    r.id.to_string(),
                    r.name,
                    r.role,
                    r.created.format("%Y-%m-%d %H:%M").to_string(),
                    r.revoked
                        .map(|x| x.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_default(),
                ]);
            }
            println!("{t}");
            Ok(0)
        }
        TokenCommand::Revoke { id, store } => {
            let mut s = open(&store)?;
            if !s.revoke_token(id)? {
                bail!("no live token #{id}");
            }
            s.audit("cli", "token.revoke", &format!("token:{id}"), "{}")?;
            eprintln!(
                "palisade: token #{id} revoked (a running service stops accepting it at once)"
            );
            Ok(0)
        }
    }
}

//! Scheduled weakness scans (`[vuln]`): every `interval_minutes` the configured paths are
//! scanned against the advisories in the store and in `vuln.db`, the host's configuration is
//! checked, the scan is stored (the UI's Weaknesses page), and findings not seen in the previous
//! scan are handed to the ingress as ECS events (source `vuln`) — Sigma rules make them alerts
//! and triage ranks them with everything else. The previous scan is read back from the store at
//! start, so a restart does not raise every finding again.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use palisade_event::Severity;
use palisade_ingest::Format;
use palisade_store::{NewVulnFinding, NewVulnScan, SqliteStore, VulnStore};
use palisade_vuln::db::Document;
use palisade_vuln::exploit::{Epss, Kev};
use palisade_vuln::host::{HostFinding, HostOptions, check_host};
use palisade_vuln::inventory::Inventory;
use palisade_vuln::{AdvisoryDb, Finding, LoadReport, ecs, run};

use crate::config::VulnSection;
use crate::ingress::Ingress;
use crate::wal::Record;

/// Scans kept in the store.
pub const KEEP_SCANS: usize = 50;

/// Host findings have no CVSS; in the shared ranking they count as 4 × a typical score of
/// their severity (critical 9.5, high 8.0, medium 5.5, low 2.5, informational 0.5).
pub fn host_priority(f: &HostFinding) -> f64 {
    4.0 * match f.severity {
        Severity::Critical => 9.5,
        Severity::High => 8.0,
        Severity::Medium => 5.5,
        Severity::Low => 2.5,
        Severity::Informational => 0.5,
    }
}

/// The store's record of a scan.
pub fn scan_record(
    findings: &[Finding],
    host: Option<&[HostFinding]>,
    targets: &[PathBuf],
    packages: usize,
    started_ms: i64,
) -> NewVulnScan {
    let mut out: Vec<NewVulnFinding> = findings
        .iter()
        .map(|f| NewVulnFinding {
            kind: "package".into(),
            id: f.id.clone(),
            target: format!("{} {}", f.package, f.installed),
            severity: f.severity.as_str().into(),
            priority: f.priority,
            body: serde_json::to_value(f).unwrap_or_default(),
        })
        .collect();
    out.extend(host.unwrap_or_default().iter().map(|f| NewVulnFinding {
        kind: "host".into(),
        id: f.check.into(),
        target: f.target.clone(),
        severity: f.severity.as_str().into(),
        priority: host_priority(f),
        body: serde_json::to_value(f).unwrap_or_default(),
    }));
    NewVulnScan {
        started_at: started_ms,
        finished_at: Utc::now().timestamp_millis(),
        targets: targets.iter().map(|p| p.display().to_string()).collect(),
        packages: packages as u64,
        findings: out,
    }
}

/// Advisories from `dbs` and those in the store naming a package of `inventories`.
pub fn load_advisories(
    dbs: &[PathBuf],
    store: Option<&SqliteStore>,
    inventories: &[Inventory],
    report: &mut LoadReport,
) -> Result<AdvisoryDb> {
    let mut db = AdvisoryDb::new();
    for path in dbs {
        db.load_path(path, report)
            .with_context(|| format!("reading advisories from {}", path.display()))?;
    }
    if let Some(store) = store {
        let keys: BTreeSet<(String, String)> = inventories
            .iter()
            .flat_map(|i| i.packages.iter())
            .map(|p| {
                (
                    p.ecosystem.osv_name().to_owned(),
                    p.ecosystem.normalise_name(&p.name),
                )
            })
            .collect();
        let keys: Vec<_> = keys.into_iter().collect();
        for body in store
            .advisories_for(&keys)
            .context("reading stored advisories")?
        {
            if db.get(&body.id).is_none() {
                let doc = Document {
                    file: format!("store:{}", body.file),
                    text: body.body,
                };
                db.add_document(&doc, report);
            }
        }
    }
    Ok(db)
}

fn key(kind: &str, id: &str, target: &str) -> String {
    format!("{kind}|{id}|{target}")
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// One scheduled scan: store it, and hand new findings to the ingress.
fn scan_once(
    cfg: &VulnSection,
    store: &mut SqliteStore,
    ingress: &Ingress,
    seen: &mut HashSet<String>,
) -> Result<()> {
    let started = Utc::now();
    let (inventories, errors) = run::read_inventories(&cfg.paths);
    for e in &errors {
        tracing::warn!("vuln scan: {e}");
    }
    let mut report = LoadReport::default();
    let db = load_advisories(&cfg.db, Some(store), &inventories, &mut report)?;
    for e in report.errors.iter().take(20) {
        tracing::warn!("vuln scan: advisory skipped: {e}");
    }
    let kev = cfg.kev.as_deref().map(Kev::load).transpose()?;
    let epss = cfg.epss.as_deref().map(Epss::load).transpose()?;
    let outcome = run::scan_inventories(
        inventories,
        &db,
        kev.as_ref(),
        epss.as_ref(),
        run::sequential,
    );
    let host = cfg
        .host
        .then(|| check_host(&HostOptions::new("/")).findings);
    let record = scan_record(
        &outcome.findings,
        host.as_deref(),
        &cfg.paths,
        outcome.packages,
        started.timestamp_millis(),
    );
    store.save_vuln_scan(&record, KEEP_SCANS)?;
    let name = host_name();
    let now = Utc::now();
    let mut events = Vec::new();
    let mut keys = Vec::new();
    for f in outcome
        .findings
        .iter()
        .filter(|f| f.severity >= cfg.min_alert_severity)
    {
        let k = key("package", &f.id, &format!("{} {}", f.package, f.installed));
        if !seen.contains(&k) {
            events.push(ecs::finding_event(f, &name, now));
            keys.push(k);
        }
    }
    for f in host
        .iter()
        .flatten()
        .filter(|f| f.severity >= cfg.min_alert_severity)
    {
        let k = key("host", f.check, &f.target);
        if !seen.contains(&k) {
            events.push(ecs::host_event(f, &name, now));
            keys.push(k);
        }
    }
    let source: Arc<str> = Arc::from("vuln");
    let records: Vec<Record> = events
        .iter()
        .map(|e| Record {
            source: Arc::clone(&source),
            format: Format::Json,
            line: e.to_string().into_bytes(),
        })
        .collect();
    let n = records.len();
    if n > 0 {
        match ingress.try_submit(records) {
            // Only what the pipeline accepted counts as raised; the rest is retried next scan.
            Ok(()) => seen.extend(keys),
            Err(e) => tracing::warn!("vuln scan: {n} findings not handed to the pipeline: {e:?}"),
        }
    }
    // Findings that went away may come back later: they should alert again then.
    let current: HashSet<String> = record
        .findings
        .iter()
        .map(|f| key(&f.kind, &f.id, &f.target))
        .collect();
    seen.retain(|k| current.contains(k));
    tracing::info!(
        "vuln scan: {} packages, {} findings, {} host weaknesses, {n} new to the pipeline",
        outcome.packages,
        outcome.findings.len(),
        host.as_ref().map_or(0, Vec::len)
    );
    Ok(())
}

/// Starts the scan thread; it stops when `stop` is set.
pub fn start(
    cfg: VulnSection,
    store_path: &Path,
    ingress: Ingress,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>> {
    let mut store = SqliteStore::open(store_path)
        .with_context(|| format!("opening {}", store_path.display()))?;
    let mut seen = HashSet::new();
    if let Some(last) = store.latest_vuln_scan()? {
        for f in store.vuln_findings(last.id, usize::MAX >> 1)? {
            seen.insert(key(&f.kind, &f.id, &f.target));
        }
    }
    let interval = Duration::from_secs(cfg.interval_minutes.max(1) * 60);
    std::thread::Builder::new()
        .name("palisade-vuln".into())
        .spawn(move || {
            while !stop.load(Ordering::Acquire) {
                if let Err(e) = scan_once(&cfg, &mut store, &ingress, &mut seen) {
                    tracing::warn!("vuln scan failed: {e:#}");
                }
                let next = Instant::now() + interval;
                while Instant::now() < next && !stop.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        })
        .context("starting the vuln scan thread")
}

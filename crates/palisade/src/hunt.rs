//! `palisade hunt`: inputs → parse → Sigma (and IOC, anomaly, UEBA) → detections → output (and
//! optionally the store).
//!
//! Inputs are processed in parallel, one input per worker; events are matched (Sigma rules and
//! threat-intel indicators side by side) as soon as a batch is parsed and dropped unless a rule
//! or indicator fired, so memory follows the number of
//! detections, not the size of the logs. Correlations then run over the time-sorted hits of
//! the rules they reference.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use palisade_anomaly::detector::Learned;
use palisade_event::{Alert, Event};
use palisade_ingest::{
    EventSink, IngestError, IngestOptions, Input, RecordError, discover_inputs, read_input,
};
use palisade_sigma::{
    EngineOptions, HitSource, LoadOptions, LoadedRules, RuleRef, RuleSet, Scratch, load_rules,
};
use palisade_store::{RunRecord, SqliteStore, Store};
use palisade_triage::intel::{IntelHit, IntelScratch, IntelSet};
use palisade_triage::{Outcome, Triage};
use rayon::prelude::*;

use crate::cli::{DetectorKind, HuntArgs};
use crate::{output, triage_cmd};

/// Record warnings printed before only counting them.
const MAX_PRINTED_WARNINGS: usize = 20;

/// Everything a hunt found, for output.
pub struct HuntReport {
    pub alerts: Vec<Alert>,
    pub stats: HuntStats,
    /// Incidents triage made of the alerts (none with `--no-triage`).
    pub triage: Option<Outcome>,
}

/// Counters for the summary.
#[derive(Debug, Default, Clone)]
pub struct HuntStats {
    pub inputs: usize,
    pub bytes: u64,
    pub events: u64,
    pub skipped_records: u64,
    pub files_with_skips: usize,
    pub unreadable: Vec<String>,
    pub rules_loaded: usize,
    pub rules_failed: usize,
    pub correlations: usize,
    pub untimed_correlation_hits: u64,
    pub load_time: Duration,
    pub elapsed: Duration,
}

/// One single-event detection before conversion to an alert.
struct Hit {
    rule: u32,
    event: Arc<Event>,
}

struct MatchSink<'a> {
    rules: &'a RuleSet,
    /// Stateful learned detectors (anomaly, UEBA), shared by the workers.
    learned: Option<&'a Mutex<Learned>>,
    learned_alerts: Vec<Alert>,
    /// Threat-intel indicators (the ioc detector) and their alerts.
    intel: Option<&'a IntelSet>,
    intel_scratch: IntelScratch,
    intel_hits: Vec<IntelHit>,
    ioc_alerts: Vec<Alert>,
    scratch: Scratch,
    matched: Vec<u32>,
    hits: Vec<Hit>,
    warnings: &'a WarningLog,
    progress: &'a ProgressBar,
    events: &'a AtomicU64,
    /// Match each batch on all workers (when there are fewer inputs than workers, the reading
    /// thread would otherwise match alone).
    parallel: bool,
}

impl MatchSink<'_> {
    fn match_parallel(&mut self, batch: &mut Vec<Event>) {
        let rules = self.rules;
        let intel = self.intel;
        let matched: Vec<(Event, Vec<u32>, Vec<IntelHit>)> = batch
            .par_drain(..)
            .map_init(
                || (Scratch::default(), Vec::new(), IntelScratch::default()),
                |(scratch, hits, intel_scratch), event| {
                    hits.clear();
                    rules.match_event(&event, scratch, hits);
                    let mut intel_hits = Vec::new();
                    if let Some(intel) = intel {
                        intel.match_event(&event, intel_scratch, &mut intel_hits);
                    }
                    (event, hits.clone(), intel_hits)
                },
            )
            .filter(|(_, hits, intel_hits)| !hits.is_empty() || !intel_hits.is_empty())
            .collect();
        for (event, rules, intel_hits) in matched {
            let event = Arc::new(event);
            if let Some(intel) = intel {
                self.ioc_alerts.extend(
                    intel_hits
                        .iter()
                        .map(|h| intel.alert(h, Arc::clone(&event))),
                );
            }
            self.hits.extend(rules.into_iter().map(|rule| Hit {
                rule,
                event: Arc::clone(&event),
            }));
        }
    }
}

impl EventSink for MatchSink<'_> {
    fn events(&mut self, batch: &mut Vec<Event>) {
        self.events.fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.progress
            .set_message(format!("{} events", self.events.load(Ordering::Relaxed)));
        if let Some(learned) = self.learned {
            // Within an input, events reach the learned detectors in file order; the anomaly
            // models and UEBA work on the batch side by side (`Learned::observe_batch`), which
            // shortens the time other workers wait for the lock.
            let mut learned = learned.lock().unwrap_or_else(|e| e.into_inner());
            learned.observe_batch(batch, &mut self.learned_alerts);
        }
        if self.parallel && batch.len() > 64 {
            return self.match_parallel(batch);
        }
        for event in batch.drain(..) {
            self.matched.clear();
            self.rules
                .match_event(&event, &mut self.scratch, &mut self.matched);
            self.intel_hits.clear();
            if let Some(intel) = self.intel {
                intel.match_event(&event, &mut self.intel_scratch, &mut self.intel_hits);
            }
            if self.matched.is_empty() && self.intel_hits.is_empty() {
                continue;
            }
            let event = Arc::new(event);
            if let Some(intel) = self.intel {
                for h in &self.intel_hits {
                    self.ioc_alerts.push(intel.alert(h, Arc::clone(&event)));
                }
            }
            for &rule in &self.matched {
                self.hits.push(Hit {
                    rule,
                    event: Arc::clone(&event),
                });
            }
        }
    }

    fn warning(&mut self, error: RecordError) {
        self.warnings.record(error, self.progress);
    }
}

/// Skipped-record warnings: the first few printed, all counted.
#[derive(Default)]
pub struct WarningLog {
    count: AtomicU64,
    files: Mutex<HashMap<Arc<str>, u64>>,
}

impl WarningLog {
    fn record(&self, e: RecordError, progress: &ProgressBar) {
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        if n < MAX_PRINTED_WARNINGS as u64 {
            progress.suspend(|| eprintln!("palisade: warning: skipped {e}"));
        } else if n == MAX_PRINTED_WARNINGS as u64 {
            progress.suspend(|| {
                eprintln!("palisade: warning: further skipped records are only counted")
            });
        }
        if let Ok(mut f) = self.files.lock() {
            *f.entry(e.source).or_default() += 1;
        }
    }
}

pub fn run(args: HuntArgs) -> Result<u8> {
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .context("setting up worker threads")?;
    }
    let started = Utc::now();
    let clock = Instant::now();
    let sigma = args.detectors.contains(&DetectorKind::Sigma);
    let loaded = if sigma {
        if args.rules.is_empty() {
            bail!("the sigma detector needs --rules PATH (or choose --detectors anomaly,ueba,ioc)");
        }
        let loaded = load(
            &args.rules,
            args.placeholders.as_ref(),
            args.ignore_logsource,
        )?;
        report_rule_load(&loaded, args.quiet);
        loaded
    } else {
        load_rules(&[], &LoadOptions::default())
    };
    let learned = learned_detectors(&args)?;
    let triage_cfg = if args.no_triage {
        None
    } else {
        Some(triage_cmd::load_config(args.triage_config.as_deref())?)
    };
    let intel = if args.detectors.contains(&DetectorKind::Ioc) {
        Some(crate::intel_cmd::load_for_hunt(
            args.store.as_deref(),
            &args.intel,
            args.quiet,
        )?)
    } else {
        if !args.intel.is_empty() {
            bail!("--intel needs the ioc detector (--detectors sigma,ioc)");
        }
        None
    };
    let load_time = clock.elapsed();

    let (inputs, errors) = discover_inputs(&args.paths);
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("palisade: error: {e}");
        }
        bail!("cannot read {} of the given paths", errors.len());
    }
    if inputs.is_empty() {
        bail!("no input files found under the given paths");
    }
    let opts = IngestOptions {
        format: args.input_format,
        evtx_threads: if inputs.len() == 1 {
            rayon::current_num_threads()
        } else {
            1
        },
        // Bigger batches when one input is matched by all workers.
        batch_size: if inputs.len() < rayon::current_num_threads() {
            2048
        } else {
            256
        },
        ..IngestOptions::default()
    };
    let progress = progress_bar(&inputs, args.no_progress || args.quiet);
    let learned = learned.map(Mutex::new);
    let (hits, learned_alerts, mut stats) = scan(
        &inputs,
        &loaded.rules,
        learned.as_ref(),
        intel.as_ref(),
        &opts,
        &progress,
        &args.paths,
    )?;
    progress.finish_and_clear();

    let mut engine = loaded.correlation_engine();
    let mut alerts = to_alerts(&loaded, hits, &mut engine, &mut stats);
    alerts.extend(learned_alerts);
    alerts.sort_by_key(|a| a.timestamp);
    stats.rules_loaded = loaded.report.detection_rules;
    stats.rules_failed = loaded.report.failures.len();
    stats.correlations = loaded.correlations.len();
    stats.load_time = load_time;
    stats.elapsed = clock.elapsed();

    let fail = args
        .fail_on
        .is_some_and(|level| alerts.iter().any(|a| a.severity >= level));
    alerts.retain(|a| a.severity >= args.min_level);
    // Triage resumes what earlier runs learned (fidelity, suppressions, routine, risk).
    let mut triage = match triage_cfg {
        Some(cfg) => {
            let store = match &args.store {
                Some(db) if db.exists() => Some(
                    SqliteStore::open(db).with_context(|| format!("opening {}", db.display()))?,
                ),
                _ => None,
            };
            Some(triage_cmd::load_triage(store.as_ref(), cfg)?)
        }
        None => None,
    };
    let outcome = triage.as_mut().map(|t| t.process(&alerts));
    let report = HuntReport {
        alerts,
        stats,
        triage: outcome,
    };
    output::write_hunt(&report, &args)?;
    if let Some(db) = &args.store {
        save(db, &report, &args, started, triage.as_ref())
            .with_context(|| format!("saving to {}", db.display()))?;
        if let Some(learned) = learned {
            let learned = learned.into_inner().unwrap_or_else(|e| e.into_inner());
            save_learned(db, &learned)
                .with_context(|| format!("saving learned baselines to {}", db.display()))?;
        }
    }
    Ok(if fail { crate::EXIT_FINDINGS } else { 0 })
}

/// Loads rules, failing when none can be used.
pub fn load(
    rules: &[PathBuf],
    placeholders: Option<&PathBuf>,
    ignore_logsource: bool,
) -> Result<LoadedRules> {
    for r in rules {
        if !r.exists() {
            bail!("rules path {} does not exist", r.display());
        }
    }
    let mut opts = LoadOptions {
        engine: EngineOptions { ignore_logsource },
        ..LoadOptions::default()
    };
    if let Some(p) = placeholders {
        opts.modifiers.placeholders = read_placeholders(p)?;
    }
    let loaded = load_rules(rules, &opts);
    if loaded.rules.is_empty() {
        for f in &loaded.report.failures {
            eprintln!("palisade: rule not loaded: {f}");
        }
        bail!("no usable Sigma rules found in the given rule paths");
    }
    Ok(loaded)
}

fn read_placeholders(path: &PathBuf) -> Result<HashMap<String, Vec<String>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let docs =
        palisade_sigma::yaml::load(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut out = HashMap::new();
    if let Some(palisade_sigma::yaml::Node::Map(entries, _)) = docs.first() {
        for (name, values) in entries {
            let list = values.as_str_list().with_context(|| {
                format!(
                    "{}: placeholder {name} must be a list of strings",
                    path.display()
                )
            })?;
            out.insert(name.trim_matches('%').to_owned(), list);
        }
    }
    Ok(out)
}

fn report_rule_load(loaded: &LoadedRules, quiet: bool) {
    let r = &loaded.report;
    for f in &r.failures {
        eprintln!("palisade: rule not loaded: {f}");
    }
    if !quiet {
        eprintln!(
            "palisade: {} rules loaded ({} correlations){}",
            r.detection_rules,
            r.correlation_rules,
            if r.failures.is_empty() {
                String::new()
            } else {
                format!(", {} failed (listed above)", r.failures.len())
            }
        );
    }
}

fn progress_bar(inputs: &[Input], hidden: bool) -> ProgressBar {
    let total: u64 = inputs.iter().filter_map(Input::len).sum();
    let pb = ProgressBar::new(total);
    if hidden || !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// Reads and matches every input in parallel.
/// What one input gave: Sigma hits, learned-detector and IOC alerts, read statistics, the
/// input.
type InputResult<'a> = (
    Vec<Hit>,
    Vec<Alert>,
    Result<palisade_ingest::FileStats, IngestError>,
    &'a Input,
);

fn scan(
    inputs: &[Input],
    rules: &RuleSet,
    learned: Option<&Mutex<Learned>>,
    intel: Option<&IntelSet>,
    opts: &IngestOptions,
    progress: &ProgressBar,
    given: &[PathBuf],
) -> Result<(Vec<Hit>, Vec<Alert>, HuntStats)> {
    let warnings = WarningLog::default();
    let events = AtomicU64::new(0);
    let results: Vec<InputResult<'_>> = inputs
        .par_iter()
        .map(|input| {
            let mut sink = MatchSink {
                rules,
                learned,
                learned_alerts: Vec::new(),
                intel,
                intel_scratch: IntelScratch::default(),
                intel_hits: Vec::new(),
                ioc_alerts: Vec::new(),
                scratch: Scratch::default(),
                matched: Vec::new(),
                hits: Vec::new(),
                warnings: &warnings,
                progress,
                events: &events,
                parallel: inputs.len() < rayon::current_num_threads(),
            };
            let stats = read_input(input, opts, &mut sink);
            progress.inc(input.len().unwrap_or(0));
            let mut alerts = sink.learned_alerts;
            alerts.append(&mut sink.ioc_alerts);
            (sink.hits, alerts, stats, input)
        })
        .collect();
    let mut stats = HuntStats {
        inputs: inputs.len(),
        ..HuntStats::default()
    };
    let mut all = Vec::new();
    let mut learned_alerts = Vec::new();
    for (hits, learned, result, input) in results {
        learned_alerts.extend(learned);
        match result {
            Ok(s) => {
                stats.bytes += s.bytes;
                stats.events += s.events;
                stats.skipped_records += s.skipped;
            }
            Err(e) => {
                // A file named on the command line must be readable; files found in a
                // directory that are not logs are reported and skipped.
                let explicit = matches!(input, Input::Stdin)
                    || matches!(input, Input::Path(p) if given.contains(p));
                if explicit && !matches!(e, IngestError::Invalid { .. }) {
                    return Err(e).context("reading input");
                }
                stats.unreadable.push(e.to_string());
            }
        }
        all.extend(hits);
    }
    stats.files_with_skips = warnings.files.lock().map(|f| f.len()).unwrap_or(0);
    Ok((all, learned_alerts, stats))
}

/// Turns hits into alerts: single-event alerts for alerting rules, then correlations over the
/// time-ordered hits of the rules they reference. Sorted by time, then file position.
fn to_alerts(
    loaded: &LoadedRules,
    hits: Vec<Hit>,
    engine: &mut palisade_sigma::CorrelationEngine,
    stats: &mut HuntStats,
) -> Vec<Alert> {
    let rules = &loaded.rules;
    let mut correlated: Vec<&Hit> = hits
        .iter()
        .filter(|h| engine.listens_to(RuleRef::Detection(rules.rule(h.rule).canonical(h.rule))))
        .collect();
    correlated.sort_by_key(|h| h.event.timestamp);
    let mut fired = Vec::new();
    for h in correlated {
        fired.extend(engine.feed(
            RuleRef::Detection(rules.rule(h.rule).canonical(h.rule)),
            h.event.timestamp,
            HitSource::Event(&h.event),
            &h.event.origin,
        ));
    }
    fired.extend(engine.finish());
    stats.untimed_correlation_hits = engine.untimed;
    let mut alerts: Vec<Alert> = hits
        .into_iter()
        .filter(|h| rules.rule(h.rule).alerting)
        .map(|h| palisade_sigma::alert::sigma_alert(rules.rule(h.rule), h.event))
        .collect();
    let corrs = engine.correlations().to_vec();
    alerts.extend(fired.into_iter().map(|a| {
        palisade_sigma::alert::correlation_alert(&corrs[a.correlation as usize], a, rules, &corrs)
    }));
    alerts.sort_by(|a, b| {
        a.timestamp
            .cmp(&b.timestamp)
            .then_with(|| {
                a.origins
                    .first()
                    .map(|o| (&o.source, o.position))
                    .cmp(&b.origins.first().map(|o| (&o.source, o.position)))
            })
            .then_with(|| a.rule.title.cmp(&b.rule.title))
    });
    alerts
}

fn save(
    db: &std::path::Path,
    report: &HuntReport,
    args: &HuntArgs,
    started: chrono::DateTime<Utc>,
    triage: Option<&Triage>,
) -> Result<()> {
    let mut store = SqliteStore::open(db)?;
    let run = RunRecord {
        command: "hunt".into(),
        started,
        finished: Utc::now(),
        inputs: args.paths.iter().map(|p| p.display().to_string()).collect(),
        rule_count: report.stats.rules_loaded as u64,
        events: report.stats.events,
        skipped_records: report.stats.skipped_records,
    };
    let run_id = store.save_run(&run, &report.alerts)?;
    if let (Some(t), Some(outcome)) = (triage, &report.triage) {
        let ids = store.alert_ids(run_id)?;
        triage_cmd::store_incidents(&mut store, Some(run_id), outcome, &ids)?;
        triage_cmd::save_state(&mut store, t)?;
    }
    Ok(())
}

/// Store key of the learned detectors' state.
const LEARNED_STATE: &str = "hunt.learned";

/// The learned detectors `--detectors` asks for, resumed from the store when it has them.
fn learned_detectors(args: &HuntArgs) -> Result<Option<Learned>> {
    let anomaly = args.detectors.contains(&DetectorKind::Anomaly);
    let ueba = args.detectors.contains(&DetectorKind::Ueba);
    let beacon = args.detectors.contains(&DetectorKind::Beacon);
    if !anomaly && !ueba && !beacon {
        return Ok(None);
    }
    if let Some(db) = &args.store
        && db.exists()
    {
        let store = SqliteStore::open(db).with_context(|| format!("opening {}", db.display()))?;
        if let Some(bytes) = store
            .load_state(LEARNED_STATE)
            .with_context(|| format!("reading learned baselines from {}", db.display()))?
        {
            let mut learned = Learned::restore(&bytes).map_err(|e| {
                anyhow::anyhow!("{}: learned baselines cannot be resumed: {e}", db.display())
            })?;
            learned.enable(anomaly, ueba);
            learned.enable_beacon(beacon);
            if !args.quiet {
                eprintln!(
                    "palisade: resumed learned baselines from {} ({})",
                    db.display(),
                    learned.summary()
                );
            }
            return Ok(Some(learned));
        }
    }
    let mut learned = Learned::default();
    learned.enable(anomaly, ueba);
    learned.enable_beacon(beacon);
    Ok(Some(learned))
}

fn save_learned(db: &std::path::Path, learned: &Learned) -> Result<()> {
    let bytes = learned
        .snapshot()
        .context("serialising learned baselines")?;
    let mut store = SqliteStore::open(db)?;
    store.save_state(LEARNED_STATE, &bytes)?;
    Ok(())
}

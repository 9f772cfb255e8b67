//! `palisade eval triage`: does the ranked incident queue put the attacks on top, cover every
//! malicious entity, and does a round of analyst feedback cut false alarms without losing
//! attacks? Measured on labelled Zeek conn logs (protocol in `--help` and below).

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use palisade_anomaly::detector::{AnomalyConfig, Learned};
use palisade_anomaly::ueba::UebaConfig;
use palisade_event::{Alert, Event};
use palisade_sigma::{RuleSet, Scratch};
use palisade_triage::{Entity, EntityKind, Incident, Outcome, Status, Triage};
use serde::Serialize;
use serde_json::json;

use crate::cli::{EvalTriageArgs, OutputFormat};
use crate::eval::{label_of, read_file};
use crate::triage_cmd;

/// One labelled file cut into its three spans.
struct Spans {
    path: PathBuf,
    baseline: Vec<Event>,
    window1: Vec<Event>,
    window2: Vec<Event>,
}

/// Figures of one window.
#[derive(Debug, Serialize, Default, Clone)]
struct WindowFigures {
    events: usize,
    malicious_events: usize,
    alerts: usize,
    alerts_on_malicious_events: usize,
    incidents: usize,
    suppressed_incidents: usize,
    tp_incidents: usize,
    fp_incidents: usize,
    compression: f64,
    precision_at_10: f64,
    malicious_entities: usize,
    malicious_entities_in_incidents: usize,
    missed_entities: Vec<String>,
    top10: Vec<String>,
    /// The false-positive incidents in the queue (first 20), for inspection.
    fp_examples: Vec<String>,
}

/// Reads and cuts a file: time order, then three equal spans.
fn spans(path: &Path) -> Result<Spans> {
    let (mut events, _) = read_file(path)?;
    events.retain(|e| label_of(e).is_some());
    if events.len() < 30 {
        bail!(
            "{}: only {} labelled records (need at least 30 to cut three spans)",
            path.display(),
            events.len()
        );
    }
    events.sort_by_key(|e| e.timestamp);
    let n = events.len();
    let w2 = events.split_off(2 * n / 3);
    let w1 = events.split_off(n / 3);
    Ok(Spans {
        path: path.to_path_buf(),
        baseline: events,
        window1: w1,
        window2: w2,
    })
}

fn malicious(ev: &Event) -> bool {
    label_of(ev) == Some(true)
}

/// Originators of malicious records (the label is per connection; the host that opened it is
/// the malicious entity).
fn malicious_entities(events: &[Event]) -> BTreeSet<Entity> {
    events
        .iter()
        .filter(|e| malicious(e))
        .filter_map(|e| {
            ["id.orig_h", "source.ip"]
                .iter()
                .find_map(|n| e.get_by_name(n))
                .and_then(|v| palisade_triage::entity::normalise(EntityKind::Ip, &v.to_string()))
                .map(|v| Entity::new(EntityKind::Ip, v))
        })
        .collect()
}

/// The learned detectors fitted on the benign records of the baseline span.
fn fit_baseline(events: &[Event], beacon: bool) -> Result<Learned> {
    let benign: Vec<&Event> = events.iter().filter(|e| !malicious(e)).collect();
    if benign.len() < 20 {
        bail!("only {} benign records in the baseline span", benign.len());
    }
    // Warm-up is exactly the baseline's benign rows (records the feature extractor reads):
    // half fit the scaler, half the model and its threshold (0.999 quantile of their scores),
    // as in `palisade eval anomaly`. Counting records instead would leave warm-up running
    // into window 1 and learn its attacks as normal.
    let mut probe = palisade_anomaly::detector::FlowAnomaly::new(AnomalyConfig {
        warmup: usize::MAX,
        ..AnomalyConfig::default()
    });
    let mut sink = Vec::new();
    for ev in &benign {
        probe.observe(ev, &mut sink);
    }
    let rows = probe.rows().iter().map(|(_, n)| *n).max().unwrap_or(0) as usize;
    if rows < 20 {
        bail!("only {rows} benign flow rows in the baseline span");
    }
    let anomaly = AnomalyConfig {
        warmup: rows,
        ..AnomalyConfig::default()
    };
    let mut learned =
        Learned::with_configs(anomaly, UebaConfig::default()).map_err(|e| anyhow::anyhow!(e))?;
    learned.enable_beacon(beacon);
    for ev in benign {
        learned.observe(ev, &mut sink);
    }
    if let Some(a) = &mut learned.anomaly {
        a.finish_warmup();
    }
    Ok(learned)
}

/// Runs the detectors over a window in time order.
fn detect(learned: &mut Learned, rules: Option<&RuleSet>, events: &[Event]) -> Vec<Alert> {
    let mut out = Vec::new();
    for chunk in events.chunks(1024) {
        learned.observe_batch(chunk, &mut out);
    }
    if let Some(rules) = rules {
        let mut scratch = Scratch::default();
        let mut hits = Vec::new();
        for ev in events {
            hits.clear();
            rules.match_event(ev, &mut scratch, &mut hits);
            for &h in &hits {
                out.push(palisade_sigma::alert::sigma_alert(
                    rules.rule(h),
                    Arc::new(ev.clone()),
                ));
            }
        }
    }
    out.sort_by_key(|a| a.timestamp);
    out
}

fn alert_is_malicious(a: &Alert) -> bool {
    a.event.as_deref().is_some_and(malicious)
}

fn is_tp(i: &Incident, alerts: &[Alert]) -> bool {
    i.alert_indices().any(|k| alert_is_malicious(&alerts[k]))
}

/// A stable identity of an alert across two replays of the same events.
fn alert_key(a: &Alert) -> (String, Arc<str>, u64) {
    let o = a.origins.first().cloned().unwrap_or_default();
    (a.rule.id.clone(), o.source, o.position)
}

fn figures(
    events: &[Event],
    alerts: &[Alert],
    outcome: &Outcome,
    bad: &BTreeSet<Entity>,
) -> WindowFigures {
    let queue: Vec<&Incident> = outcome.queue().collect();
    let tp = queue.iter().filter(|i| is_tp(i, alerts)).count();
    let top: Vec<&&Incident> = queue.iter().take(10).collect();
    let top_tp = top.iter().filter(|i| is_tp(i, alerts)).count();
    let covered: HashSet<&Entity> = queue.iter().flat_map(|i| i.entities.iter()).collect();
    let missed: Vec<String> = bad
        .iter()
        .filter(|e| !covered.contains(e))
        .map(Entity::to_string)
        .collect();
    WindowFigures {
        events: events.len(),
        malicious_events: events.iter().filter(|e| malicious(e)).count(),
        alerts: alerts.len(),
        alerts_on_malicious_events: alerts.iter().filter(|a| alert_is_malicious(a)).count(),
        incidents: queue.len(),
        suppressed_incidents: outcome.incidents.len() - queue.len(),
        tp_incidents: tp,
        fp_incidents: queue.len() - tp,
        compression: alerts.len() as f64 / queue.len().max(1) as f64,
        precision_at_10: if top.is_empty() {
            0.0
        } else {
            top_tp as f64 / top.len() as f64
        },
        malicious_entities: bad.len(),
        malicious_entities_in_incidents: bad.len() - missed.len(),
        missed_entities: missed.into_iter().take(20).collect(),
        fp_examples: queue
            .iter()
            .filter(|i| !is_tp(i, alerts))
            .take(20)
            .map(|i| {
                let first = i
                    .alert_indices()
                    .next()
                    .and_then(|k| alerts[k].event.as_deref());
                let flow = first.map(|e| {
                    [
                        "id.orig_h",
                        "id.resp_h",
                        "id.resp_p",
                        "proto",
                        "service",
                        "conn_state",
                        "label",
                        "detailedlabel",
                    ]
                    .iter()
                    .map(|n| e.get_by_name(n).map(|v| v.to_string()).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(" ")
                });
                format!(
                    "{:.1} {} [{}]",
                    i.priority,
                    i.title,
                    flow.unwrap_or_default()
                )
            })
            .collect(),
        top10: top
            .iter()
            .map(|i| {
                format!(
                    "{:.1} [{}] {}",
                    i.priority,
                    if is_tp(i, alerts) { "TP" } else { "FP" },
                    i.title
                )
            })
            .collect(),
    }
}

pub fn run(args: EvalTriageArgs) -> Result<u8> {
    let clock = std::time::Instant::now();
    let cfg = triage_cmd::load_config(args.triage_config.as_deref())?;
    let rules = if args.rules.is_empty() {
        None
    } else {
        Some(crate::hunt::load(&args.rules, None, false)?)
    };
    let mut files = Vec::new();
    for p in &args.paths {
        files.push(spans(p).with_context(|| format!("preparing {}", p.display()))?);
    }
    // Each file is its own network with its own baseline; their alerts meet in one queue.
    let mut learned = Vec::new();
    for f in &files {
        learned.push(
            fit_baseline(&f.baseline, args.beacon)
                .with_context(|| format!("{}: fitting the baseline", f.path.display()))?,
        );
    }
    let rule_set = rules.as_ref().map(|l| &l.rules);
    let mut w1_events = Vec::new();
    let mut w1_alerts = Vec::new();
    for (f, l) in files.iter().zip(&mut learned) {
        w1_alerts.extend(detect(l, rule_set, &f.window1));
        w1_events.extend(f.window1.iter().cloned());
    }
    w1_alerts.sort_by_key(|a| a.timestamp);
    let mut triage = Triage::new(cfg.clone());
    let out1 = triage.process(&w1_alerts);
    let bad1 = malicious_entities(&w1_events);
    let fig1 = figures(&w1_events, &w1_alerts, &out1, &bad1);

    // Feedback round: an analyst works the queue from the top and marks the first
    // `--feedback` false-positive incidents false positive.
    let now = Utc::now();
    let after_w1 = triage.state();
    let mut marked_fp = 0;
    for i in out1.queue() {
        if marked_fp >= args.feedback {
            break;
        }
        if !is_tp(i, &w1_alerts) {
            triage.verdict_scoped(i, Status::FalsePositive, "eval", now, args.scope);
            marked_fp += 1;
        }
    }
    let with_feedback = triage.state();

    // Window 2, replayed from the same detector state without and with the feedback.
    let snaps: Vec<Vec<u8>> = learned
        .iter()
        .map(|l| l.snapshot().map_err(|e| anyhow::anyhow!("snapshot: {e}")))
        .collect::<Result<_>>()?;
    let replay = |state| -> Result<(Vec<Event>, Vec<Alert>, Outcome)> {
        let mut t = Triage::restore(cfg.clone(), state).map_err(|e| anyhow::anyhow!(e))?;
        let mut events = Vec::new();
        let mut alerts = Vec::new();
        for (f, s) in files.iter().zip(&snaps) {
            let mut l = Learned::restore(s).map_err(|e| anyhow::anyhow!(e))?;
            alerts.extend(detect(&mut l, rule_set, &f.window2));
            events.extend(f.window2.iter().cloned());
        }
        alerts.sort_by_key(|a| a.timestamp);
        let out = t.process(&alerts);
        Ok((events, alerts, out))
    };
    let (w2_events, w2_before_alerts, before) = replay(after_w1)?;
    let (_, w2_after_alerts, after) = replay(with_feedback)?;
    let bad2 = malicious_entities(&w2_events);
    let fig2_before = figures(&w2_events, &w2_before_alerts, &before, &bad2);
    let fig2_after = figures(&w2_events, &w2_after_alerts, &after, &bad2);

    // True-positive incidents lost: a true-positive incident of the replay without feedback
    // none of whose malicious alerts is in a live (unsuppressed) incident with feedback.
    let live_after: HashSet<(String, Arc<str>, u64)> = after
        .queue()
        .flat_map(|i| i.alert_indices().collect::<Vec<_>>())
        .filter(|&k| after.alerts[k].suppressed_by.is_none())
        .map(|k| alert_key(&w2_after_alerts[k]))
        .collect();
    let tp_lost = before
        .queue()
        .filter(|i| is_tp(i, &w2_before_alerts))
        .filter(|i| {
            !i.alert_indices()
                .filter(|&k| alert_is_malicious(&w2_before_alerts[k]))
                .any(|k| live_after.contains(&alert_key(&w2_before_alerts[k])))
        })
        .count();
    let fp_drop = if fig2_before.fp_incidents > 0 {
        1.0 - fig2_after.fp_incidents as f64 / fig2_before.fp_incidents as f64
    } else {
        0.0
    };
    let doc = json!({
        "alerts": fig1.alerts,
        "incidents": fig1.incidents,
        "precision_at_10": fig1.precision_at_10,
        "malicious_entities": fig1.malicious_entities,
        "malicious_entities_in_incidents": fig1.malicious_entities_in_incidents,
        "fp_incidents_before": fig2_before.fp_incidents,
        "fp_incidents_after": fig2_after.fp_incidents,
        "fp_incident_reduction": fp_drop,
        "tp_incidents_lost": tp_lost,
        "feedback_marked_fp": marked_fp,
        "feedback_scope": args.scope,
        "window1": fig1,
        "window2_without_feedback": fig2_before,
        "window2_with_feedback": fig2_after,
        "files": args.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "seconds": clock.elapsed().as_secs_f64(),
        "detectors": if args.beacon { "anomaly, ueba, beacon" } else { "anomaly, ueba" },
        "protocol": "per file: records sorted by time and cut into three equal spans; detectors (anomaly + UEBA, beacon with --beacon, Sigma with --rules) fitted on the benign records of the first span only; window 1 = second span, window 2 = third span; all files' alerts triaged in one queue; truth = record labels (Malicious vs Benign/Background), malicious entities = originators of Malicious records",
    });
    match args.format {
        OutputFormat::Json | OutputFormat::Ndjson => {
            println!("{}", serde_json::to_string(&doc)?)
        }
        _ => {
            let show = |name: &str, f: &WindowFigures| {
                println!(
                    "{name}: {} events ({} malicious) → {} alerts ({} on malicious records) → {} incidents ({} TP, {} FP; {} fully suppressed), {:.1} alerts per incident",
                    f.events,
                    f.malicious_events,
                    f.alerts,
                    f.alerts_on_malicious_events,
                    f.incidents,
                    f.tp_incidents,
                    f.fp_incidents,
                    f.suppressed_incidents,
                    f.compression
                );
                println!(
                    "  precision@10 {:.2}; malicious entities in incidents {}/{}",
                    f.precision_at_10, f.malicious_entities_in_incidents, f.malicious_entities
                );
            };
            show("window 1", &fig1);
            for (k, t) in fig1.top10.iter().enumerate() {
                println!("   {:>2}. {t}", k + 1);
            }
            println!(
                "feedback: the top {marked_fp} false-positive incidents of window 1 marked false positive (scope {:?})",
                args.scope
            );
            show("window 2 without feedback", &fig2_before);
            show("window 2 with feedback", &fig2_after);
            println!(
                "false-positive incidents {} → {} ({:.0} % fewer), true-positive incidents lost: {tp_lost}",
                fig2_before.fp_incidents,
                fig2_after.fp_incidents,
                100.0 * fp_drop
            );
        }
    }
    Ok(0)
}

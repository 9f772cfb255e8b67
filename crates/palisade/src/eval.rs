//! `palisade eval anomaly`: measure the anomaly models on labelled data, honestly.
//!
//! Protocol (issue 4): models are fitted on *benign training rows only*; the alert threshold is
//! the score that 1 % of those training rows exceed; the test rows never touch fitting, scaling
//! or the threshold. A file given both as `--train` and `--test` is split 50/50, stratified by
//! label, with a fixed seed: its first half can train (benign rows only), its second half is
//! test. Features are extracted in file order over *all* rows of a file (context statistics
//! such as a source's failed-connection share are causal and label-free, exactly as they run in
//! production), then split.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use palisade_anomaly::Model;
use palisade_anomaly::ensemble::Ensemble;
use palisade_anomaly::features::{Extractor, FeatureConfig, SourceKind};
use palisade_anomaly::hst::{HalfSpaceTrees, HstConfig};
use palisade_anomaly::iforest::{IForestConfig, IsolationForest};
use palisade_anomaly::metrics;
use palisade_event::{Event, Value};
use palisade_ingest::{EventSink, IngestOptions, Input, RecordError, read_input};
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::SeedableRng;
use serde::Serialize;

use crate::cli::{Dataset, EvalAnomalyArgs, EvalModel, OutputFormat};

/// False-alarm rate on benign training rows that sets the alert threshold.
const TARGET_FPR: f64 = 0.01;

/// One labelled row.
struct Row {
    raw: Vec<f64>,
    attack: bool,
    /// Index into the file list.
    file: usize,
    /// May train (if benign).
    train: bool,
    test: bool,
}

/// Collects a file's events.
struct Collect {
    events: Vec<Event>,
    skipped: u64,
    first_errors: Vec<String>,
}

impl EventSink for Collect {
    fn events(&mut self, batch: &mut Vec<Event>) {
        self.events.append(batch);
    }
    fn warning(&mut self, error: RecordError) {
        self.skipped += 1;
        if self.first_errors.len() < 5 {
            self.first_errors.push(error.to_string());
        }
    }
}

/// What a label cell says: `Some(true)` for an attack.
pub(crate) fn label_of(ev: &Event) -> Option<bool> {
    let v = ev.get_by_name("label")?;
    match v {
        Value::Int(i) => Some(*i != 0),
        Value::Float(f) => Some(*f != 0.0),
        _ => {
            let s = v.as_str()?.trim();
            if s.is_empty() || s == "-" || s == "(empty)" {
                return None;
            }
            let l = s.to_ascii_lowercase();
            Some(!matches!(
                l.as_str(),
                "normal" | "benign" | "background" | "0" | "normal."
            ))
        }
    }
}

/// Metrics for one model on one set of test rows.
#[derive(Debug, Serialize, Clone)]
pub struct Figures {
    pub roc_auc: Option<f64>,
    pub pr_auc: Option<f64>,
    pub recall_at_1pct_fpr: Option<f64>,
    pub test_fpr: Option<f64>,
    pub rows_per_s: f64,
    pub n: usize,
    pub attacks: usize,
    pub threshold: f64,
}

fn figures(scores: &[f64], labels: &[bool], threshold: f64, rows_per_s: f64) -> Figures {
    let attacks = labels.iter().filter(|&&a| a).count();
    let both = attacks > 0 && attacks < labels.len();
    let r = metrics::rates_at(scores, labels, threshold);
    Figures {
        roc_auc: both.then(|| metrics::roc_auc(scores, labels)),
        pr_auc: both.then(|| metrics::average_precision(scores, labels)),
        recall_at_1pct_fpr: (attacks > 0).then_some(r.recall),
        test_fpr: (attacks < labels.len()).then_some(r.fpr),
        rows_per_s,
        n: labels.len(),
        attacks,
        threshold,
    }
}

/// Results of one model.
#[derive(Debug, Serialize)]
pub struct ModelResult {
    pub model: &'static str,
    /// Fitted on the training rows, then only scoring.
    pub frozen: Figures,
    /// Scoring then learning online over the test stream (from the fitted state).
    pub online: Option<Figures>,
    /// Online, learning only rows scored below the threshold.
    pub online_guarded: Option<Figures>,
    /// Per test file (frozen), when there are several.
    pub per_file: Vec<(String, Figures)>,
    pub fit_seconds: f64,
}

/// The JSON document.
#[derive(Debug, Serialize)]
pub struct Report {
    pub dataset: String,
    /// The reported model (`--report`, else `hst`, else the first run), whose frozen figures
    /// are the top-level keys.
    pub model: &'static str,
    #[serde(flatten)]
    pub top: Figures,
    pub train_rows: usize,
    pub features: usize,
    pub models: Vec<ModelResult>,
    pub protocol: String,
}

pub(crate) fn read_file(path: &Path) -> Result<(Vec<Event>, u64)> {
    let mut sink = Collect {
        events: Vec::new(),
        skipped: 0,
        first_errors: Vec::new(),
    };
    let stats = read_input(
        &Input::Path(path.to_owned()),
        &IngestOptions::default(),
        &mut sink,
    )
    .with_context(|| format!("reading {}", path.display()))?;
    for e in &sink.first_errors {
        eprintln!("palisade: warning: skipped {e}");
    }
    if stats.events == 0 {
        bail!("{}: no records could be read", path.display());
    }
    Ok((sink.events, sink.skipped))
}

/// Stratified 50/50 split with a fixed seed: `true` = first half.
fn split_half(labels: &[bool], seed: u64) -> Vec<bool> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut first = vec![false; labels.len()];
    for class in [false, true] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        idx.shuffle(&mut rng);
        for &i in &idx[..idx.len().div_ceil(2)] {
            first[i] = true;
        }
    }
    first
}

fn kind_for(dataset: Dataset, first: &Event) -> Result<SourceKind> {
    Ok(match dataset {
        Dataset::NslKdd => SourceKind::NslKdd,
        Dataset::UnswNb15 => SourceKind::UnswNb15,
        Dataset::Zeek => SourceKind::ZeekConn,
        Dataset::Cicflowmeter => SourceKind::CicFlow,
        Dataset::Auto => SourceKind::detect(first)
            .context("cannot tell the data set from the first record; pass --dataset")?,
    })
}

pub fn anomaly(args: EvalAnomalyArgs) -> Result<u8> {
    if args.train.is_empty() {
        bail!("--train needs at least one file");
    }
    let test: Vec<PathBuf> = if args.test.is_empty() {
        args.train.clone()
    } else {
        args.test.clone()
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for f in args.train.iter().chain(&test) {
        if !files.contains(f) {
            files.push(f.clone());
        }
    }
    let train_set: HashSet<&PathBuf> = args.train.iter().collect();
    let test_set: HashSet<&PathBuf> = test.iter().collect();

    let mut extractor: Option<Extractor> = None;
    let mut rows: Vec<Row> = Vec::new();
    let mut unlabelled = 0u64;
    let mut skipped = 0u64;
    for (fi, path) in files.iter().enumerate() {
        let (mut events, bad) = read_file(path)?;
        skipped += bad;
        // Context features need time order; a stable sort keeps the file order for ties.
        events.sort_by_key(|e| e.timestamp);
        let ex = match &mut extractor {
            Some(ex) => ex,
            slot => {
                let kind = kind_for(args.dataset, &events[0])?;
                let cfg = match &args.features {
                    Some(p) => {
                        let text = std::fs::read_to_string(p)
                            .with_context(|| format!("reading {}", p.display()))?;
                        serde_json::from_str::<FeatureConfig>(&text).with_context(|| {
                            format!("{}: not a feature configuration", p.display())
                        })?
                    }
                    None => FeatureConfig::default_for(kind),
                };
                if args.print_features {
                    println!("{}", serde_json::to_string_pretty(&cfg)?);
                    return Ok(0);
                }
                slot.insert(
                    Extractor::new(cfg).context("the feature configuration cannot be used")?,
                )
            }
        };
        let start = rows.len();
        for ev in &events {
            let Some(attack) = label_of(ev) else {
                unlabelled += 1;
                continue;
            };
            let mut raw = Vec::new();
            if !ex.extract(ev, &mut raw) {
                unlabelled += 1;
                continue;
            }
            rows.push(Row {
                raw,
                attack,
                file: fi,
                train: train_set.contains(path),
                test: test_set.contains(path),
            });
        }
        let mine = &mut rows[start..];
        if mine.is_empty() {
            bail!("{}: no labelled rows of the expected kind", path.display());
        }
        if train_set.contains(path) && test_set.contains(path) {
            let labels: Vec<bool> = mine.iter().map(|r| r.attack).collect();
            for (r, first) in mine.iter_mut().zip(split_half(&labels, args.seed)) {
                r.train = first;
                r.test = !first;
            }
        }
    }
    let extractor = extractor.context("no input")?;
    if args.validation {
        // Only rows that could train take part; they are split again.
        let pool: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].train).collect();
        let labels: Vec<bool> = pool.iter().map(|&i| rows[i].attack).collect();
        let first = split_half(&labels, args.seed + 1);
        for r in rows.iter_mut() {
            r.test = false;
        }
        for (&i, first) in pool.iter().zip(first) {
            rows[i].train = first;
            rows[i].test = !first;
        }
        rows.retain(|r| r.train || r.test);
    }
    let names = extractor.names().to_vec();

    // Training rows: benign rows that may train, shuffled (fixed seed).
    let mut train_idx: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].train && !rows[i].attack)
        .collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(args.seed);
    train_idx.shuffle(&mut rng);
    let test_idx: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].test).collect();
    if train_idx.is_empty() {
        bail!("no benign training rows");
    }
    if test_idx.is_empty() {
        bail!("no test rows");
    }

    let train_raw: Vec<&[f64]> = train_idx.iter().map(|&i| rows[i].raw.as_slice()).collect();
    let mut scaler = extractor.new_scaler();
    scaler.fit(train_raw.iter().copied());
    let scale = |i: usize| -> Vec<f32> {
        let mut out = vec![0f32; names.len()];
        scaler.transform(&rows[i].raw, &mut out);
        out
    };
    let train_x: Vec<Vec<f32>> = train_idx.iter().map(|&i| scale(i)).collect();
    let test_x: Vec<Vec<f32>> = test_idx.iter().map(|&i| scale(i)).collect();
    let test_y: Vec<bool> = test_idx.iter().map(|&i| rows[i].attack).collect();
    let test_file: Vec<usize> = test_idx.iter().map(|&i| rows[i].file).collect();

    if let Some(dir) = &args.dump_features {
        dump(dir, &names, &train_x, &test_x, &test_y, &test_file, &files)?;
    }

    let wanted: Vec<EvalModel> = if args.models.is_empty() {
        vec![EvalModel::Hst, EvalModel::Iforest, EvalModel::Ensemble]
    } else {
        args.models.clone()
    };
    let mut results = Vec::new();
    for m in &wanted {
        let r = evaluate(*m, &args, &train_x, &test_x, &test_y, &test_file, &files);
        results.push(r);
    }

    // The top-level figures are of a model fixed in advance, never picked by test results:
    // `--report`, else HST (best mean ROC-AUC over the four data sets' validation splits).
    let wanted_top = args.report.unwrap_or(EvalModel::Hst).name();
    let top = results
        .iter()
        .find(|r| r.model == wanted_top)
        .or(results.first())
        .context("no model ran")?;
    let report = Report {
        dataset: args.dataset.name().to_string(),
        model: top.model,
        top: top.frozen.clone(),
        train_rows: train_x.len(),
        features: names.len(),
        protocol: protocol_text(&args),
        models: results,
    };
    match args.format {
        OutputFormat::Json | OutputFormat::Ndjson => {
            println!("{}", serde_json::to_string(&report)?);
        }
        _ => print_table(&report, skipped, unlabelled),
    }
    Ok(0)
}

fn protocol_text(args: &EvalAnomalyArgs) -> String {
    let validation = if args.validation {
        "VALIDATION MODE (test files set aside; training rows split 50/50 again, seed + 1): "
    } else {
        ""
    };
    validation.to_string()
        + &format!(
            "fit on benign rows of the training files (shuffled, seed {}); a file given as both \
         train and test is split 50/50 stratified (seed {}), first half train, second half \
         test; scaling and the {:.0}%-false-alarm threshold from training rows only",
            args.seed,
            args.seed,
            TARGET_FPR * 100.0
        )
}

fn new_model(m: EvalModel, seed: u64, train_x: &[Vec<f32>]) -> Box<dyn Model> {
    match m {
        EvalModel::Hst => {
            let mut hst = HalfSpaceTrees::new(
                train_x.first().map_or(0, |r| r.len()),
                HstConfig {
                    seed,
                    ..HstConfig::default()
                },
            )
            .expect("default HST configuration is valid");
            // Fewer training rows than one window: cycle through them until the window is
            // full, so the node masses (and the size limit that stops descents) are on the
            // scale of a whole window.
            let n = train_x.len().max(hst.config().window);
            for x in train_x.iter().cycle().take(n) {
                hst.learn(x);
            }
            Box::new(hst)
        }
        EvalModel::Iforest => Box::new(IsolationForest::fit(
            train_x,
            IForestConfig {
                seed,
                ..IForestConfig::default()
            },
        )),
        EvalModel::Ensemble => Box::new(Ensemble::calibrate(
            vec![
                new_model(EvalModel::Hst, seed, train_x),
                new_model(EvalModel::Iforest, seed, train_x),
            ],
            train_x,
        )),
    }
}

fn evaluate(
    m: EvalModel,
    args: &EvalAnomalyArgs,
    train_x: &[Vec<f32>],
    test_x: &[Vec<f32>],
    test_y: &[bool],
    test_file: &[usize],
    files: &[PathBuf],
) -> ModelResult {
    let clock = Instant::now();
    let model = new_model(m, args.model_seed.unwrap_or(args.seed), train_x);
    let fit_seconds = clock.elapsed().as_secs_f64();
    let train_scores: Vec<f64> = train_x.iter().map(|x| model.score(x)).collect();
    let threshold = metrics::threshold_at_fpr(&train_scores, TARGET_FPR);

    let clock = Instant::now();
    let scores: Vec<f64> = test_x.iter().map(|x| model.score(x)).collect();
    let rps = test_x.len() as f64 / clock.elapsed().as_secs_f64().max(1e-9);
    let frozen = figures(&scores, test_y, threshold, rps);

    let mut per_file = Vec::new();
    let distinct: HashSet<usize> = test_file.iter().copied().collect();
    if distinct.len() > 1 {
        let mut ds: Vec<usize> = distinct.into_iter().collect();
        ds.sort_unstable();
        for f in ds {
            let (s, y): (Vec<f64>, Vec<bool>) = scores
                .iter()
                .zip(test_y)
                .zip(test_file)
                .filter(|(_, tf)| **tf == f)
                .map(|((s, y), _)| (*s, *y))
                .unzip();
            per_file.push((
                files[f].display().to_string(),
                figures(&s, &y, threshold, rps),
            ));
        }
    }

    let guard = palisade_anomaly::guard::quantile(&train_scores, args.guard_quantile);
    let (online, online_guarded) = if !args.no_online {
        let run = |guarded: bool| {
            let mut model = new_model(m, args.model_seed.unwrap_or(args.seed), train_x);
            let clock = Instant::now();
            let scores: Vec<f64> = test_x
                .iter()
                .map(|x| {
                    let s = model.score(x);
                    if !guarded || s <= guard {
                        model.learn(x);
                    }
                    s
                })
                .collect();
            let rps = test_x.len() as f64 / clock.elapsed().as_secs_f64().max(1e-9);
            figures(&scores, test_y, threshold, rps)
        };
        (Some(run(false)), Some(run(true)))
    } else {
        (None, None)
    };
    ModelResult {
        model: m.name(),
        frozen,
        online,
        online_guarded,
        per_file,
        fit_seconds,
    }
}

fn dump(
    dir: &Path,
    names: &[String],
    train_x: &[Vec<f32>],
    test_x: &[Vec<f32>],
    test_y: &[bool],
    test_file: &[usize],
    files: &[PathBuf],
) -> Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, xs: &[Vec<f32>], ys: Option<(&[bool], &[usize])>| -> Result<()> {
        let path = dir.join(name);
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        );
        let header: Vec<String> = names.iter().map(|n| n.replace(',', ";")).collect();
        writeln!(w, "{},label,file", header.join(","))?;
        for (i, x) in xs.iter().enumerate() {
            for v in x {
                write!(w, "{v},")?;
            }
            match ys {
                Some((y, f)) => {
                    let file = files[f[i]].display().to_string().replace(',', ";");
                    writeln!(w, "{},{file}", u8::from(y[i]))?
                }
                None => writeln!(w, "0,train")?,
            }
        }
        w.flush()?;
        Ok(())
    };
    write("train.csv", train_x, None)?;
    write("test.csv", test_x, Some((test_y, test_file)))?;
    Ok(())
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.3}"))
}

fn print_table(r: &Report, skipped: u64, unlabelled: u64) {
    println!(
        "{}: {} test rows, {} benign training rows, {} features ({} records skipped, {} unlabelled)",
        r.dataset, r.top.n, r.train_rows, r.features, skipped, unlabelled
    );
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header([
        "model",
        "mode",
        "ROC-AUC",
        "PR-AUC",
        "recall@1%FPR",
        "test FPR",
        "rows/s",
    ]);
    for m in &r.models {
        let mut add = |mode: &str, f: &Figures| {
            t.add_row([
                m.model.to_string(),
                mode.to_string(),
                opt(f.roc_auc),
                opt(f.pr_auc),
                opt(f.recall_at_1pct_fpr),
                opt(f.test_fpr),
                format!("{:.0}", f.rows_per_s),
            ]);
        };
        add("frozen", &m.frozen);
        if let Some(f) = &m.online {
            add("score+learn", f);
        }
        if let Some(f) = &m.online_guarded {
            add("score+learn, guarded", f);
        }
        for (file, f) in &m.per_file {
            add(&format!("frozen: {}", short_name(file)), f);
        }
    }
    println!("{t}");
    println!("protocol: {}", r.protocol);
}

/// A file's name for a table: the first path component that names a scenario (starts with a
/// digit), else the file name.
fn short_name(file: &str) -> String {
    let p = Path::new(file);
    p.components()
        .filter_map(|c| c.as_os_str().to_str())
        .find(|c| c.starts_with(|ch: char| ch.is_ascii_digit()))
        .map(str::to_owned)
        .or_else(|| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| file.to_owned())
}

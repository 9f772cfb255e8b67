//! Quick quality and speed check of the anomaly models on NSL-KDD.
//!
//! ```text
//! cargo run --release -p palisade-anomaly --example nslkdd_quick -- [DATA_DIR] [--speed]
//! ```
//!
//! `DATA_DIR` (default `/work/shared/data/nsl-kdd`) holds `KDDTrain+_20Percent.txt` and
//! `KDDTest+.txt`: CSV without header, 41 features, the label (`normal` = benign), the
//! difficulty. Columns 2–4 (protocol, service, flag) are one-hot encoded with the vocabulary
//! of the training normal rows; the 38 numeric columns are min-max scaled on the training
//! normal rows, once plain and once after `log1p`.
//!
//! Models are fitted on training normal rows only; the test set is scored frozen, then
//! streamed score-then-learn plain and guarded. Defaults (height, extended) were chosen on a
//! validation split of the *training* rows, printed first; nothing is tuned on the test set.

use std::collections::HashMap;
use std::time::Instant;

use palisade_anomaly::Model;
use palisade_anomaly::guard::{DEFAULT_QUANTILE, Guarded};
use palisade_anomaly::hst::{HalfSpaceTrees, HstConfig};
use palisade_anomaly::iforest::{IForestConfig, IsolationForest};
use palisade_anomaly::metrics::{average_precision, roc_auc};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const CATEGORICAL: [usize; 3] = [1, 2, 3];

struct Raw {
    cats: [String; 3],
    nums: Vec<f64>,
    attack: bool,
}

fn load(path: &str) -> Vec<Raw> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.trim().split(',').collect();
            assert!(f.len() >= 42, "short row in {path}: {line}");
            let nums = (0..41)
                .filter(|c| !CATEGORICAL.contains(c))
                .map(|c| f[c].parse::<f64>().expect("numeric column"))
                .collect();
            Raw {
                cats: CATEGORICAL.map(|c| f[c].to_string()),
                nums,
                attack: f[41] != "normal",
            }
        })
        .collect()
}

/// One-hot + min-max encoder fitted on benign rows.
struct Encoder {
    vocab: Vec<HashMap<String, usize>>,
    min: Vec<f64>,
    max: Vec<f64>,
    log: bool,
    dims: usize,
}

impl Encoder {
    fn fit(rows: &[&Raw], log: bool) -> Self {
        let mut vocab: Vec<HashMap<String, usize>> = vec![HashMap::new(); 3];
        let n = rows[0].nums.len();
        let (mut min, mut max) = (vec![f64::INFINITY; n], vec![f64::NEG_INFINITY; n]);
        for r in rows {
            for (v, c) in vocab.iter_mut().zip(&r.cats) {
                let k = v.len();
                v.entry(c.clone()).or_insert(k);
            }
            for (j, &x) in r.nums.iter().enumerate() {
                let x = if log { x.ln_1p() } else { x };
                min[j] = min[j].min(x);
                max[j] = max[j].max(x);
            }
        }
        let dims = n + vocab.iter().map(HashMap::len).sum::<usize>();
        Self {
            vocab,
            min,
            max,
            log,
            dims,
        }
    }

    fn encode(&self, r: &Raw) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.dims);
        for (j, &x) in r.nums.iter().enumerate() {
            let x = if self.log { x.ln_1p() } else { x };
            // A constant training column keeps scale 1, as scikit-learn's MinMaxScaler.
            let range = self.max[j] - self.min[j];
            let range = if range > 0.0 { range } else { 1.0 };
            out.push(((x - self.min[j]) / range) as f32);
        }
        for (v, c) in self.vocab.iter().zip(&r.cats) {
            let base = out.len();
            out.resize(base + v.len(), 0.0);
            if let Some(&k) = v.get(c) {
                out[base + k] = 1.0; // unseen categories stay all-zero
            }
        }
        out
    }
}

fn shuffled<T: Clone>(v: &[T], seed: u64) -> Vec<T> {
    let mut v = v.to_vec();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
    v
}

fn hst_fit(rows: &[Vec<f32>], cfg: HstConfig) -> HalfSpaceTrees {
    let mut m = HalfSpaceTrees::new(rows[0].len(), cfg).expect("config");
    for r in shuffled(rows, 0) {
        m.learn(&r);
    }
    m
}

/// A clock of this thread's CPU time (from `/proc/thread-self/schedstat`, in ns) where
/// available, wall time otherwise: the machine is shared, and time spent descheduled is not
/// the model's cost.
struct Clock(Instant, Option<u64>);

fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

impl Clock {
    fn start() -> Self {
        Clock(Instant::now(), thread_cpu_ns())
    }
    fn secs(&self) -> f64 {
        match (self.1, thread_cpu_ns()) {
            (Some(a), Some(b)) => (b - a) as f64 * 1e-9,
            _ => self.0.elapsed().as_secs_f64(),
        }
    }
}

/// Frozen scores and rows/s.
fn score_all<M: Model>(m: &M, rows: &[Vec<f32>]) -> (Vec<f64>, f64) {
    let t = Clock::start();
    let s: Vec<f64> = rows.iter().map(|r| m.score(r)).collect();
    (s, rows.len() as f64 / t.secs())
}

/// Score-then-learn over the stream; scores of the first pass and rows/s over `passes`.
fn stream<M: Model + Clone>(m: &M, rows: &[Vec<f32>], passes: usize) -> (Vec<f64>, f64) {
    let mut first = m.clone();
    let scores: Vec<f64> = rows.iter().map(|r| first.score_learn(r)).collect();
    let mut best = 0.0f64;
    for _ in 0..passes {
        let mut c = m.clone();
        let t = Clock::start();
        let mut acc = 0.0;
        for r in rows {
            acc += c.score_learn(r);
        }
        std::hint::black_box(acc);
        best = best.max(rows.len() as f64 / t.secs());
    }
    (scores, best)
}

fn frozen_rate<M: Model>(m: &M, rows: &[Vec<f32>], passes: usize) -> f64 {
    (0..passes)
        .map(|_| score_all(m, rows).1)
        .fold(0.0, f64::max)
}

fn report(name: &str, s: &[f64], y: &[bool]) {
    println!(
        "  {name:<34} ROC-AUC {:.4}  AP {:.4}",
        roc_auc(s, y),
        average_precision(s, y)
    );
}

fn main() {
    // `--speed`: only the HST speed figures (for profiling).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let speed_only = args.iter().any(|a| a == "--speed");
    let dir = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "/work/shared/data/nsl-kdd".to_string());
    let train = load(&format!("{dir}/KDDTrain+_20Percent.txt"));
    let test = load(&format!("{dir}/KDDTest+.txt"));
    let train_normal: Vec<&Raw> = train.iter().filter(|r| !r.attack).collect();
    println!(
        "train {} rows ({} normal), test {} rows ({} attacks)",
        train.len(),
        train_normal.len(),
        test.len(),
        test.iter().filter(|r| r.attack).count()
    );

    for log in [false, true] {
        let enc = Encoder::fit(&train_normal, log);
        let xn: Vec<Vec<f32>> = train_normal.iter().map(|r| enc.encode(r)).collect();
        println!(
            "\n=== preprocessing: {}min-max, {} features ===",
            if log { "log1p + " } else { "" },
            enc.dims
        );

        let tx: Vec<Vec<f32>> = test.iter().map(|r| enc.encode(r)).collect();
        if speed_only {
            for height in [8, 10, 15] {
                let cfg = HstConfig {
                    height,
                    ..HstConfig::default()
                };
                let hst = hst_fit(&xn, cfg);
                let (_, sl) = stream(&hst, &tx, 10);
                let fr = frozen_rate(&hst, &tx, 10);
                println!(
                    "  hst height {height}: score+learn {sl:.0} rows/s, frozen {fr:.0} rows/s"
                );
            }
            continue;
        }

        // Validation on training rows only: fit on half of the normal rows, score the other
        // half plus the training attacks.
        let order = shuffled(&(0..xn.len()).collect::<Vec<_>>(), 1);
        let (fit_idx, hold_idx) = order.split_at(xn.len() / 2);
        let vfit: Vec<Vec<f32>> = fit_idx.iter().map(|&i| xn[i].clone()).collect();
        let mut vx: Vec<Vec<f32>> = hold_idx.iter().map(|&i| xn[i].clone()).collect();
        let mut vy = vec![false; vx.len()];
        for r in train.iter().filter(|r| r.attack) {
            vx.push(enc.encode(r));
            vy.push(true);
        }
        println!("validation (train split: fit on half the normals; other half + train attacks)");
        for height in [8, 10, 12, 15] {
            // Mean over three tree seeds: one seed's spread is larger than the differences.
            let (mut auc, mut ap) = (0.0, 0.0);
            for seed in 0..3 {
                let cfg = HstConfig {
                    height,
                    seed,
                    ..HstConfig::default()
                };
                let (s, _) = score_all(&hst_fit(&vfit, cfg), &vx);
                auc += roc_auc(&s, &vy) / 3.0;
                ap += average_precision(&s, &vy) / 3.0;
            }
            println!("  hst height {height} (mean of 3 seeds)      ROC-AUC {auc:.4}  AP {ap:.4}");
        }
        for extended in [false, true] {
            let m = IsolationForest::fit(
                &vfit,
                IForestConfig {
                    extended,
                    ..IForestConfig::default()
                },
            );
            let (s, _) = score_all(&m, &vx);
            report(&format!("iforest extended={extended}"), &s, &vy);
        }

        // Test set.
        let ty: Vec<bool> = test.iter().map(|r| r.attack).collect();
        println!("test (models fitted on all training normal rows, seed 0)");

        let hst = hst_fit(&xn, HstConfig::default());
        let (s, _) = score_all(&hst, &tx);
        let frozen = frozen_rate(&hst, &tx, 10);
        report("hst frozen", &s, &ty);
        let (s, sl_rate) = stream(&hst, &tx, 10);
        report("hst score-then-learn", &s, &ty);
        let guarded = Guarded::calibrate(hst.clone(), &xn, DEFAULT_QUANTILE);
        let (s, _) = stream(&guarded, &tx, 0);
        report("hst score-then-learn guarded", &s, &ty);
        let mut g = guarded.clone();
        for r in &tx {
            g.score_learn(r);
        }
        println!(
            "  hst speed: score+learn {sl_rate:.0} rows/s, frozen score {frozen:.0} rows/s \
             (1 thread); guard threshold {:.5}, learned {} / rejected {}",
            guarded.threshold(),
            g.learned(),
            g.rejected()
        );

        for extended in [false, true] {
            let cfg = IForestConfig {
                extended,
                ..IForestConfig::default()
            };
            let t = Clock::start();
            let m = IsolationForest::fit(&xn, cfg);
            let fit_ms = t.secs() * 1e3;
            let (s, _) = score_all(&m, &tx);
            let rate = frozen_rate(&m, &tx, 3);
            report(&format!("iforest extended={extended} frozen"), &s, &ty);
            println!("  iforest speed: fit {fit_ms:.1} ms, score {rate:.0} rows/s (1 thread)");
            if !extended {
                let (s, _) = stream(&m, &tx, 0);
                report("iforest score-then-learn", &s, &ty);
                let g = Guarded::calibrate(m.clone(), &xn, DEFAULT_QUANTILE);
                let (s, _) = stream(&g, &tx, 0);
                report("iforest score-then-learn guarded", &s, &ty);
            }
        }
    }
}

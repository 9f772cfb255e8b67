//! `palisade eval guard`: the guard's quality on labelled public data it was not trained on
//! (issue 9, point 5). Which data trains and which tests is fixed here and printed with the
//! figures:
//!
//! - prompts: the embedded model's weights come from deepset/prompt-injections *train* only,
//!   its thresholds from train plus the benign supplement crates/guard/train/benign-prompts.txt
//!   (`palisade train injection --benign`); 5-fold cross-validation over both is reported, and
//!   the test figures are on deepset *test* and on the blind benign set
//!   crates/guard/tests/fixtures/prompts/benign_r3 (never used for training or thresholds);
//! - mail: 5-fold cross-validation (seeded) over SpamAssassin easy-ham-1 + the modern legitimate mail
//!   of crates/guard/train/commercial-ham* + spam-1 and the training half of phishing_pot —
//!   each fold's model and thresholds come from the other four folds only; then a model trained
//!   on all of that (the recipe of the embedded model) is tested on the held-back half of
//!   phishing_pot and on the blind commercial/marketing set
//!   crates/guard/tests/fixtures/mail/commercial_r4.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use palisade_anomaly::metrics::roc_auc;
use palisade_guard::linear::LinearModel;
use palisade_guard::mail::{self, MailFeatures, MailGuard, MailVerdictKind};
use palisade_guard::prompt::{self, PromptGuard, PromptVerdictKind};
use serde_json::json;

use crate::guard_cmd::{
    DEEPSET_TEST, DEEPSET_TRAIN, find_data, held_back, mail_examples, mail_files,
    read_benign_texts, read_labelled_jsonl,
};

pub const HELP: &str = "The guard's detection quality on labelled public data.\n\n\
Prompt injection: the model's weights come from deepset/prompt-injections train only, its \
thresholds from train plus benign instruction-like texts (crates/guard/train/benign-prompts.txt); \
5-fold cross-validation over both is reported, then deepset test (ROC-AUC, F1, recall, false-alarm \
rate) and the false-alarm rate on a blind benign set of instruction-like texts (system prompts, \
how-to steps, code) in crates/guard/tests/fixtures/prompts/benign_r3, never used for training \
or thresholds. The training is repeated here and `model_reproduced` says whether it gives the \
embedded model byte for byte (if not, the figures are of the retrained recipe).\n\n\
Phishing: 5-fold cross-validation over SpamAssassin easy-ham-1 + the commercial ham in \
crates/guard/train/commercial-ham* + spam-1 and the training half of phishing_pot (held-back half \
chosen by a hash of the file name, --split-seed); then a model trained on all of it (the embedded \
model's recipe) on the held-back phishing_pot half and on the blind commercial/marketing set in \
crates/guard/tests/fixtures/mail/commercial_r4.\n\n\
Data: --data (default PALISADE_DATA, else shared/data above the working directory). Run from \
the repository root (fixture paths are relative to it).\n\n\
Example:\n  palisade eval guard --format json";

#[derive(Args)]
pub struct EvalGuardArgs {
    /// The public data folder (holding deepset-prompt-injections, spamassassin, phishing_pot).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Benign instruction-like prompts (the blind test set): one per line, or JSONL with `text`.
    #[arg(
        long,
        default_value = "crates/guard/tests/fixtures/prompts/benign_r3/benign.jsonl"
    )]
    pub benign_prompts: PathBuf,
    /// Benign instruction-like texts added to deepset train as non-injections (as `palisade
    /// train injection --benign`); cross-validated with it.
    #[arg(long, default_value = "crates/guard/train/benign-prompts.txt")]
    pub train_benign: PathBuf,
    /// Prompts hiding instructions (zero-width, tags, HTML, encodings), one JSON string per line.
    #[arg(
        long,
        default_value = "crates/guard/tests/fixtures/prompts/concealed_injections.jsonl"
    )]
    pub concealed_prompts: PathBuf,
    /// Commercial/marketing mail (legitimate), .eml files: the blind test set.
    #[arg(long, default_value = "crates/guard/tests/fixtures/mail/commercial_r4")]
    pub commercial: PathBuf,
    /// Modern legitimate commercial mail added to the training ham (as `palisade train
    /// phishing --ham`); cross-validated with the rest.
    #[arg(
        long,
        num_args = 1..,
        default_values = [
            "crates/guard/train/commercial-ham",
            "crates/guard/train/commercial-ham-r2",
            "crates/guard/train/commercial-ham-r3",
        ]
    )]
    pub train_commercial: Vec<PathBuf>,
    /// Only the prompt part.
    #[arg(long, conflicts_with = "mail_only")]
    pub prompt_only: bool,
    /// Only the mail part.
    #[arg(long)]
    pub mail_only: bool,
    /// Seed of the models (as `palisade train`).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Seed of the phishing_pot train/held-back split (as `palisade train phishing --holdout`).
    #[arg(long, default_value_t = 1)]
    pub split_seed: u64,
    #[arg(long, value_enum, default_value_t = EvalFormat::Text)]
    pub format: EvalFormat,
    /// Write the mail splits (file, class, fold; held-back and commercial files) as JSON here,
    /// so peers (benches/guard_compare.sh) run on exactly the same messages.
    #[arg(long, value_name = "FILE.json")]
    pub dump_splits: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalFormat {
    Text,
    Json,
}

fn data_path(args: &EvalGuardArgs, rel: &str) -> Result<PathBuf> {
    let found = match &args.data {
        Some(d) => Some(d.join(rel)).filter(|p| p.exists()),
        None => find_data(rel),
    };
    found.with_context(|| {
        format!("public data {rel} not found (--data, PALISADE_DATA or shared/data above the working directory)")
    })
}

pub fn run(args: EvalGuardArgs) -> Result<u8> {
    let mut doc = json!({});
    if !args.mail_only {
        doc["prompt"] = eval_prompt(&args)?;
    }
    if !args.prompt_only {
        doc["mail"] = eval_mail(&args)?;
    }
    match args.format {
        EvalFormat::Json => println!("{}", serde_json::to_string_pretty(&doc)?),
        EvalFormat::Text => print_text(&doc),
    }
    Ok(0)
}

fn print_text(doc: &serde_json::Value) {
    fn walk(prefix: &str, v: &serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&p, x);
                }
            }
            serde_json::Value::Array(a) if a.len() > 8 => println!("{prefix}: [{} items]", a.len()),
            other => println!("{prefix}: {other}"),
        }
    }
    walk("", doc);
}

fn r4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

fn rate(n: usize, d: usize) -> f64 {
    if d == 0 {
        f64::NAN
    } else {
        r4(n as f64 / d as f64)
    }
}

fn eval_prompt(args: &EvalGuardArgs) -> Result<serde_json::Value> {
    let train_path = data_path(args, DEEPSET_TRAIN)?;
    let test_path = data_path(args, DEEPSET_TEST)?;
    let train = read_labelled_jsonl(&train_path)?;
    let deepset_train = train.len();
    let supplement = read_benign_texts(&args.train_benign)?;
    let test = read_labelled_jsonl(&test_path)?;
    let retrained = prompt::train(&train, &supplement, args.seed)?;
    // The embedded model is what users run; when it is missing or of other settings (while
    // the recipe changes) the figures are of the retrained one, and `model_reproduced` says so.
    let (guard, reproduced) = match PromptGuard::embedded() {
        Ok(g) if g.model().to_bytes() == retrained.to_bytes() => (g, true),
        _ => (PromptGuard::from_model(retrained)?, false),
    };

    // Cross-validation on the training side only (what design choices may look at): each
    // fold judged by the full recipe (model and thresholds) trained on the other four.
    let folds = 5;
    let all: Vec<(String, bool)> = train
        .iter()
        .cloned()
        .chain(supplement.iter().map(|t| (t.clone(), false)))
        .collect();
    let mut fold_of: Vec<usize> = (0..all.len()).map(|i| i % folds).collect();
    shuffle(&mut fold_of, args.seed ^ 0xc0de);
    let mut cv_score = vec![0.0f64; all.len()];
    let mut cv_flag = vec![false; all.len()];
    for f in 0..folds {
        let (mut part, mut part_benign) = (Vec::new(), Vec::new());
        for (i, p) in all.iter().enumerate() {
            if fold_of[i] != f {
                if i < deepset_train {
                    part.push(p.clone());
                } else {
                    part_benign.push(p.0.clone());
                }
            }
        }
        let g = PromptGuard::from_model(prompt::train(&part, &part_benign, args.seed)?)?;
        for (i, (t, _)) in all.iter().enumerate() {
            if fold_of[i] == f {
                let v = g.check(t);
                cv_score[i] = v.score as f64;
                cv_flag[i] = v.verdict == PromptVerdictKind::Injection;
            }
        }
    }
    let cv_labels: Vec<bool> = all.iter().map(|p| p.1).collect();
    let (ctp, cfp, cfn, ctn) = confusion(&cv_flag[..deepset_train], &cv_labels[..deepset_train]);
    let supplement_flagged = cv_flag[deepset_train..].iter().filter(|f| **f).count();

    let verdicts: Vec<_> = test.iter().map(|(t, _)| guard.check(t)).collect();
    let scores: Vec<f64> = verdicts.iter().map(|v| v.score as f64).collect();
    let model_scores: Vec<f64> = verdicts.iter().map(|v| v.model_score as f64).collect();
    let labels: Vec<bool> = test.iter().map(|p| p.1).collect();
    let flagged: Vec<bool> = verdicts
        .iter()
        .map(|v| v.verdict == PromptVerdictKind::Injection)
        .collect();
    let (tp, fp, fneg, tn) = confusion(&flagged, &labels);
    let precision = rate(tp, tp + fp);
    let recall = rate(tp, tp + fneg);
    let f1 = r4(2.0 * tp as f64 / (2 * tp + fp + fneg) as f64);

    let benign = read_benign_texts(&args.benign_prompts)?;
    let benign_flagged: Vec<usize> = benign
        .iter()
        .enumerate()
        .filter(|(_, t)| guard.check(t).verdict == PromptVerdictKind::Injection)
        .map(|(i, _)| i)
        .collect();
    let concealed = read_json_strings(&args.concealed_prompts)?;
    let concealed_hit = concealed
        .iter()
        .filter(|t| guard.check(t).verdict == PromptVerdictKind::Injection)
        .count();

    Ok(json!({
        "trained_on": format!("deepset train: {deepset_train} prompts ({} injections); {}: {} benign instruction-like texts",
            train.iter().filter(|p| p.1).count(), args.train_benign.display(), supplement.len()),
        "model_reproduced": reproduced,
        "cross_validation": {
            "folds": folds,
            "deepset_train_roc_auc": r4(roc_auc(&cv_score[..deepset_train], &cv_labels[..deepset_train])),
            "deepset_train_recall": rate(ctp, ctp + cfn),
            "deepset_train_f1": r4(2.0 * ctp as f64 / (2 * ctp + cfp + cfn).max(1) as f64),
            "deepset_train_false_alarm_rate": rate(cfp, cfp + ctn),
            "benign_supplement_flagged": rate(supplement_flagged, supplement.len()),
        },
        "threshold": r4(guard.model().threshold as f64),
        "deepset_test": {
            "prompts": test.len(),
            "injections": labels.iter().filter(|l| **l).count(),
            "roc_auc": r4(roc_auc(&scores, &labels)),
            "roc_auc_model_only": r4(roc_auc(&model_scores, &labels)),
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "false_alarm_rate": rate(fp, fp + tn),
        },
        "benign_instructions": {
            "source": args.benign_prompts.display().to_string(),
            "prompts": benign.len(),
            "false_alarm_rate": rate(benign_flagged.len(), benign.len()),
            "flagged_lines": benign_flagged.iter().map(|i| benign[*i].chars().take(60).collect::<String>()).collect::<Vec<_>>(),
        },
        "concealed_injections": {
            "source": args.concealed_prompts.display().to_string(),
            "prompts": concealed.len(),
            "detection_rate": rate(concealed_hit, concealed.len()),
        },
    }))
}

fn read_json_strings(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str::<String>(l)
                .with_context(|| format!("{}:{}: not a JSON string", path.display(), i + 1))
        })
        .collect()
}

fn confusion(flagged: &[bool], labels: &[bool]) -> (usize, usize, usize, usize) {
    let (mut tp, mut fp, mut fneg, mut tn) = (0, 0, 0, 0);
    for (f, l) in flagged.iter().zip(labels) {
        match (f, l) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fneg += 1,
            (false, false) => tn += 1,
        }
    }
    (tp, fp, fneg, tn)
}

/// Recall among positives at the threshold that 1 % of negatives exceed.
fn recall_at_fpr(scores: &[f64], labels: &[bool], positive: &[bool], fpr: f64) -> f64 {
    let mut neg: Vec<f64> = scores
        .iter()
        .zip(labels)
        .filter(|(_, l)| !**l)
        .map(|(s, _)| *s)
        .collect();
    neg.sort_by(f64::total_cmp);
    if neg.is_empty() {
        return f64::NAN;
    }
    let k = ((neg.len() as f64) * (1.0 - fpr)).floor() as usize;
    let t = neg[k.min(neg.len() - 1)];
    let pos: Vec<f64> = scores
        .iter()
        .zip(positive)
        .filter(|(_, p)| **p)
        .map(|(s, _)| *s)
        .collect();
    rate(pos.iter().filter(|s| **s > t).count(), pos.len())
}

#[derive(Clone, Copy, PartialEq)]
enum Class {
    Ham,
    /// Modern legitimate commercial mail (training ham too).
    Commercial,
    Spam,
    Phish,
}

impl Class {
    fn bad(self) -> bool {
        matches!(self, Class::Spam | Class::Phish)
    }
}

fn eval_mail(args: &EvalGuardArgs) -> Result<serde_json::Value> {
    let ham_dir = data_path(args, "spamassassin/easy-ham-1")?;
    let spam_dir = data_path(args, "spamassassin/spam-1")?;
    let phish_dir = data_path(args, "phishing_pot/email")?;
    let phish_all = mail_files(&[phish_dir])?;
    let (phish_test, phish_train): (Vec<PathBuf>, Vec<PathBuf>) = phish_all
        .into_iter()
        .partition(|p| held_back(p, args.split_seed));
    let mut rows: Vec<(MailFeatures, Class)> = Vec::new();
    let mut row_files: Vec<PathBuf> = Vec::new();
    for (files, class) in [
        (mail_files(&[ham_dir])?, Class::Ham),
        (mail_files(&args.train_commercial)?, Class::Commercial),
        (mail_files(&[spam_dir])?, Class::Spam),
        (phish_train.clone(), Class::Phish),
    ] {
        for (p, f, _) in mail_examples(&files, class.bad()) {
            rows.push((f, class));
            row_files.push(p);
        }
    }
    if rows.is_empty() {
        bail!("no training mail found");
    }

    // Cross-validation: each fold scored by a model (and thresholds) trained on the others.
    let folds = 5;
    let mut fold_of: Vec<usize> = (0..rows.len()).map(|i| i % folds).collect();
    shuffle(&mut fold_of, args.seed ^ 0xc0de);
    let mut oof = vec![0.0f64; rows.len()];
    let mut oof_verdict = vec![MailVerdictKind::Clean; rows.len()];
    for f in 0..folds {
        let part: Vec<(MailFeatures, bool)> = rows
            .iter()
            .zip(&fold_of)
            .filter(|(_, k)| **k != f)
            .map(|((x, c), _)| (x.clone(), c.bad()))
            .collect();
        let g = MailGuard::from_model(mail::train(&part, args.seed)?)?;
        for (i, (x, _)) in rows.iter().enumerate() {
            if fold_of[i] == f {
                let v = g.judge(x.clone());
                oof[i] = v.score as f64;
                oof_verdict[i] = v.verdict;
            }
        }
    }
    let is_bad: Vec<bool> = rows.iter().map(|r| r.1.bad()).collect();
    let is_phish: Vec<bool> = rows.iter().map(|r| r.1 == Class::Phish).collect();
    let ham_phish: (Vec<f64>, Vec<bool>) = rows
        .iter()
        .zip(&oof)
        .filter(|(r, _)| r.1 != Class::Spam)
        .map(|(r, s)| (*s, r.1 == Class::Phish))
        .unzip();
    let count = |class: Class, pred: &dyn Fn(MailVerdictKind) -> bool| {
        let n = rows.iter().filter(|r| r.1 == class).count();
        let k = rows
            .iter()
            .zip(&oof_verdict)
            .filter(|(r, v)| r.1 == class && pred(**v))
            .count();
        rate(k, n)
    };
    let malicious = |v: MailVerdictKind| v == MailVerdictKind::Malicious;
    let flagged = |v: MailVerdictKind| v != MailVerdictKind::Clean;

    // The embedded model's recipe on everything above, tested on held-out sets.
    let all: Vec<(MailFeatures, bool)> = rows.iter().map(|(x, c)| (x.clone(), c.bad())).collect();
    let full: LinearModel = mail::train(&all, args.seed)?;
    let reproduced = MailGuard::embedded()
        .map(|g| g.model().to_bytes() == full.to_bytes())
        .unwrap_or(false);
    let g = MailGuard::from_model(full)?;
    let test_phish: Vec<_> = mail_examples(&phish_test, true)
        .into_iter()
        .map(|(_, f, _)| g.judge(f))
        .collect();
    // Only the messages (the folder also holds its README).
    let commercial_files: Vec<PathBuf> = mail_files(std::slice::from_ref(&args.commercial))?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    let commercial: Vec<_> = mail_examples(&commercial_files, false)
        .into_iter()
        .map(|(p, f, _)| (p, g.judge(f)))
        .collect();
    let held_scores: Vec<f64> = test_phish
        .iter()
        .map(|v| v.score as f64)
        .chain(commercial.iter().map(|(_, v)| v.score as f64))
        .collect();
    let held_labels: Vec<bool> = (0..test_phish.len())
        .map(|_| true)
        .chain(commercial.iter().map(|_| false))
        .collect();
    let n_of = |c: Class| rows.iter().filter(|r| r.1 == c).count();
    if let Some(out) = &args.dump_splits {
        let class_name = |c: Class| match c {
            Class::Ham => "ham",
            Class::Commercial => "commercial_ham",
            Class::Spam => "spam",
            Class::Phish => "phish",
        };
        let splits = json!({
            "cross_validation": rows.iter().zip(&row_files).zip(&fold_of).map(|(((_, c), p), f)| json!({
                "file": p.display().to_string(), "class": class_name(*c), "fold": f,
            })).collect::<Vec<_>>(),
            "held_back_phish": phish_test.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "commercial": commercial_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        });
        std::fs::write(out, serde_json::to_string(&splits)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }

    Ok(json!({
        "trained_on": format!(
            "spamassassin easy-ham-1 ({} ham), {} ({} commercial ham), spam-1 ({} spam), phishing_pot training half ({} phishing; split seed {})",
            n_of(Class::Ham), args.train_commercial.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" + "), n_of(Class::Commercial), n_of(Class::Spam), n_of(Class::Phish), args.split_seed),
        "cross_validation": {
            "folds": folds,
            "roc_auc": r4(roc_auc(&oof, &is_bad)),
            "roc_auc_phish_vs_ham": r4(roc_auc(&ham_phish.0, &ham_phish.1)),
            "recall_phish_at_1pct_false_alarms": recall_at_fpr(&oof, &is_bad, &is_phish, 0.01),
            "recall_spam_and_phish_at_1pct_false_alarms": recall_at_fpr(&oof, &is_bad, &is_bad, 0.01),
            "ham_flagged_malicious": count(Class::Ham, &malicious),
            "ham_flagged_suspicious_or_worse": count(Class::Ham, &flagged),
            "commercial_ham_flagged_malicious": count(Class::Commercial, &malicious),
            "commercial_ham_flagged_suspicious_or_worse": count(Class::Commercial, &flagged),
            "spam_caught_malicious": count(Class::Spam, &malicious),
            "phish_caught_malicious": count(Class::Phish, &malicious),
            "phish_caught_suspicious_or_worse": count(Class::Phish, &flagged),
        },
        "model_reproduced": reproduced,
        "held_back_phishing_pot": {
            "messages": test_phish.len(),
            "caught_malicious": rate(test_phish.iter().filter(|v| v.verdict == MailVerdictKind::Malicious).count(), test_phish.len()),
            "caught_suspicious_or_worse": rate(test_phish.iter().filter(|v| v.verdict != MailVerdictKind::Clean).count(), test_phish.len()),
            "roc_auc_vs_commercial": r4(roc_auc(&held_scores, &held_labels)),
        },
        "commercial_mail": {
            "source": args.commercial.display().to_string(),
            "messages": commercial.len(),
            "flagged_malicious": rate(commercial.iter().filter(|(_, v)| v.verdict == MailVerdictKind::Malicious).count(), commercial.len()),
            "flagged_suspicious_or_worse": rate(commercial.iter().filter(|(_, v)| v.verdict != MailVerdictKind::Clean).count(), commercial.len()),
            "flagged_files": commercial.iter().filter(|(_, v)| v.verdict != MailVerdictKind::Clean)
                .map(|(p, v)| format!("{} {:?} {:.3}", p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), v.verdict, v.score)).collect::<Vec<_>>(),
        },
    }))
}

fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut x = seed;
    for i in (1..v.len()).rev() {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        v.swap(i, (z % (i as u64 + 1)) as usize);
    }
}

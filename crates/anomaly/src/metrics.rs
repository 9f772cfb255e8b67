//! Ranking and alerting metrics for anomaly scores (higher score = more anomalous; a label
//! `true` marks an attack, i.e. a positive).
//!
//! Definitions follow scikit-learn: [`roc_auc`] is `roc_auc_score` (ties count one half),
//! [`average_precision`] is `average_precision_score` (tied scores form one threshold).
//! Scores are ordered with [`f64::total_cmp`], so NaN never panics but sorts above `+∞`.

use std::cmp::Ordering;

/// Area under the ROC curve; tied scores get their average rank (Mann–Whitney U), so a tie
/// between a positive and a negative counts one half. `O(n log n)`. NaN if `labels` has no
/// positive or no negative (scikit-learn raises an error there).
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    assert_eq!(
        scores.len(),
        labels.len(),
        "scores and labels differ in length"
    );
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && scores[order[j]].total_cmp(&scores[order[i]]) == Ordering::Equal {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0; // mean of ranks i+1 ..= j
        let pos_in_group = order[i..j].iter().filter(|&&k| labels[k]).count();
        rank_sum += avg_rank * pos_in_group as f64;
        i = j;
    }
    let p = pos as f64;
    (rank_sum - p * (p + 1.0) / 2.0) / (p * neg as f64)
}

/// Average precision, `Σ_n (R_n − R_{n−1}) · P_n` over the distinct score thresholds taken
/// from the highest down (rows with equal scores enter together), as scikit-learn's
/// `average_precision_score`. NaN if there is no positive.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> f64 {
    assert_eq!(
        scores.len(),
        labels.len(),
        "scores and labels differ in length"
    );
    let pos = labels.iter().filter(|&&l| l).count();
    if pos == 0 {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut prev_recall = 0.0f64;
    let mut ap = 0.0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]].total_cmp(&scores[order[i]]) == Ordering::Equal {
            if labels[order[j]] {
                tp += 1;
            } else {
                fp += 1;
            }
            j += 1;
        }
        let recall = tp as f64 / pos as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
        i = j;
    }
    ap
}

/// The smallest threshold `t` such that at most a fraction `fpr` of `benign_scores` are
/// strictly above `t` (alert = `score > t`). That is the `(n − 1 − ⌊fpr·n⌋)`-th smallest
/// score; `−∞` when `⌊fpr·n⌋ ≥ n` (every row may alert), including an empty input.
pub fn threshold_at_fpr(benign_scores: &[f64], fpr: f64) -> f64 {
    assert!((0.0..=1.0).contains(&fpr), "fpr must be in [0, 1]");
    let n = benign_scores.len();
    // The epsilon absorbs representation error, e.g. 0.29 · 100 = 28.999999999999996.
    let allowed = (fpr * n as f64 + 1e-9).floor() as usize;
    if allowed >= n {
        return f64::NEG_INFINITY;
    }
    let mut s = benign_scores.to_vec();
    let k = n - 1 - allowed;
    let (_, t, _) = s.select_nth_unstable_by(k, f64::total_cmp);
    *t
}

/// Confusion counts and rates at one threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Attacks alerted.
    pub tp: usize,
    /// Benign rows alerted.
    pub fp: usize,
    /// Benign rows not alerted.
    pub tn: usize,
    /// Attacks missed.
    pub fn_: usize,
    /// `tp / (tp + fn)`; 0 without positives.
    pub recall: f64,
    /// `tp / (tp + fp)`; 0 without alerts.
    pub precision: f64,
    /// `fp / (fp + tn)`; 0 without negatives.
    pub fpr: f64,
}

/// Confusion counts with alert = `score > threshold`.
pub fn rates_at(scores: &[f64], labels: &[bool], threshold: f64) -> Rates {
    assert_eq!(
        scores.len(),
        labels.len(),
        "scores and labels differ in length"
    );
    let (mut tp, mut fp, mut tn, mut fn_) = (0, 0, 0, 0);
    for (&s, &l) in scores.iter().zip(labels) {
        match (s > threshold, l) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fn_ += 1,
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Rates {
        tp,
        fp,
        tn,
        fn_,
        recall: ratio(tp, tp + fn_),
        precision: ratio(tp, tp + fp),
        fpr: ratio(fp, fp + tn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn auc_and_ap_match_sklearn_doc_example() {
        // sklearn docs: y = [0, 0, 1, 1], s = [0.1, 0.4, 0.35, 0.8]
        // roc_auc_score = 0.75: pairs (pos, neg): (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4) → 3/4.
        // average_precision_score = 0.8333…: thresholds 0.8 (R=½, P=1), 0.4 (R=½, P=½),
        // 0.35 (R=1, P=⅔), 0.1 (R=1, P=½) → ½·1 + 0 + ½·⅔ + 0 = 5/6.
        let s = [0.1, 0.4, 0.35, 0.8];
        let y = [false, false, true, true];
        assert!(close(roc_auc(&s, &y), 0.75));
        assert!(close(average_precision(&s, &y), 5.0 / 6.0));
    }

    #[test]
    fn ties_are_grouped() {
        // y = [1, 0, 1, 0], s = [0.8, 0.8, 0.2, 0.1].
        // AUC: (0.8 vs 0.8) ½, (0.8 vs 0.1) 1, (0.2 vs 0.8) 0, (0.2 vs 0.1) 1 → 2.5/4 = 0.625.
        // AP: threshold 0.8 → R=½, P=½; 0.2 → R=1, P=⅔ → ¼ + ⅓ = 7/12 (sklearn: 0.58333).
        let s = [0.8, 0.8, 0.2, 0.1];
        let y = [true, false, true, false];
        assert!(close(roc_auc(&s, &y), 0.625));
        assert!(close(average_precision(&s, &y), 7.0 / 12.0));
        // All tied: AUC ½, AP = prevalence.
        let s = [0.3; 5];
        let y = [true, false, false, true, false];
        assert!(close(roc_auc(&s, &y), 0.5));
        assert!(close(average_precision(&s, &y), 0.4));
    }

    #[test]
    fn perfect_and_inverted_rankings() {
        let s = [0.9, 0.8, 0.2, 0.1];
        assert!(close(roc_auc(&s, &[true, true, false, false]), 1.0));
        assert!(close(roc_auc(&s, &[false, false, true, true]), 0.0));
        assert!(close(
            average_precision(&s, &[true, true, false, false]),
            1.0
        ));
        // Positives ranked last: R jumps at P = 1/3 and 2/4 → ½·⅓ + ½·½ = 5/12.
        assert!(close(
            average_precision(&s, &[false, false, true, true]),
            5.0 / 12.0
        ));
        assert!(roc_auc(&s, &[true; 4]).is_nan());
        assert!(average_precision(&s, &[false; 4]).is_nan());
    }

    #[test]
    fn threshold_at_fpr_bounds_false_alarms() {
        let benign: Vec<f64> = (1..=100).map(f64::from).collect();
        // 1 % of 100 may exceed: threshold 99 (only 100 is above it).
        assert_eq!(threshold_at_fpr(&benign, 0.01), 99.0);
        assert_eq!(threshold_at_fpr(&benign, 0.0), 100.0);
        // 0.29 · 100 is 28.999… in floating point; still 29 allowed.
        assert_eq!(threshold_at_fpr(&benign, 0.29), 71.0);
        assert_eq!(threshold_at_fpr(&benign, 1.0), f64::NEG_INFINITY);
        assert_eq!(threshold_at_fpr(&[], 0.1), f64::NEG_INFINITY);
        // Ties: [1, 2, 2, 2], fpr ½ allows 2 above; threshold 2 has 0 above, 1 would have 3.
        assert_eq!(threshold_at_fpr(&[2.0, 1.0, 2.0, 2.0], 0.5), 2.0);
        for fpr in [0.0, 0.05, 0.1, 0.37] {
            let t = threshold_at_fpr(&benign, fpr);
            let above = benign.iter().filter(|&&s| s > t).count();
            assert!(above as f64 <= fpr * 100.0 + 1e-9);
        }
    }

    #[test]
    fn rates_count_alerts_strictly_above() {
        let s = [0.9, 0.5, 0.5, 0.1, 0.7];
        let y = [true, true, false, false, false];
        let r = rates_at(&s, &y, 0.5);
        assert_eq!((r.tp, r.fp, r.tn, r.fn_), (1, 1, 2, 1));
        assert!(close(r.recall, 0.5));
        assert!(close(r.precision, 0.5));
        assert!(close(r.fpr, 1.0 / 3.0));
        let r = rates_at(&s, &y, 1.0);
        assert_eq!((r.tp, r.fp, r.precision), (0, 0, 0.0));
    }
}

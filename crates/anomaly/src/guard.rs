//! Robust online learning: [`Guarded`] learns a row only if the wrapped model does not find
//! it anomalous, so a stream dominated by attacks cannot teach the model that attacks are
//! normal.
//!
//! The threshold is set from training rows believed benign: the `q`-quantile of their scores
//! ([`DEFAULT_QUANTILE`] = 0.99), so about 1 % of normal traffic is not learned.
//!
//! **Trade-off.** The guard protects the baseline from poisoning (a flood scoring above the
//! threshold is never learned, so it keeps scoring high) at the cost of adaptability:
//! legitimate drift that first shows up as anomalous (a new service, a new usage pattern) is
//! never learned either and keeps alerting until an operator recalibrates
//! ([`Guarded::set_threshold`]) or teaches the model directly ([`Guarded::inner_mut`]).
//! Attacks that score *below* the threshold are still learned, so slow, low-and-slow
//! poisoning is only slowed, not stopped. The guard also needs one extra score per row
//! (the wrapped model's fused score-and-learn cannot be used, because the decision to learn
//! depends on the score).

use serde::{Deserialize, Serialize};

use crate::Model;

/// Default quantile of training scores used as the learning threshold.
pub const DEFAULT_QUANTILE: f64 = 0.99;

/// A model that learns only rows scoring at or below a threshold; see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guarded<M> {
    inner: M,
    threshold: f64,
    learned: u64,
    rejected: u64,
}

impl<M: Model> Guarded<M> {
    /// Wrap `inner`, learning only rows with `score <= threshold`.
    pub fn new(inner: M, threshold: f64) -> Self {
        Self {
            inner,
            threshold,
            learned: 0,
            rejected: 0,
        }
    }

    /// Wrap an already trained `inner`, with the threshold at the `q`-quantile of its
    /// (frozen) scores of the benign training `rows`. With no rows the guard is open
    /// (threshold `+∞`).
    pub fn calibrate<R: AsRef<[f32]>>(inner: M, rows: &[R], q: f64) -> Self {
        let scores: Vec<f64> = rows.iter().map(|r| inner.score(r.as_ref())).collect();
        let threshold = if scores.is_empty() {
            f64::INFINITY
        } else {
            quantile(&scores, q)
        };
        Self::new(inner, threshold)
    }

    /// The learning threshold.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Change the learning threshold (e.g. after recalibrating on vetted traffic).
    pub fn set_threshold(&mut self, threshold: f64) {
        self.threshold = threshold;
    }

    /// Rows learned through the guard.
    pub fn learned(&self) -> u64 {
        self.learned
    }

    /// Rows refused by the guard.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// The wrapped model.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// The wrapped model, e.g. to learn vetted rows unconditionally.
    pub fn inner_mut(&mut self) -> &mut M {
        &mut self.inner
    }

    /// Unwrap.
    pub fn into_inner(self) -> M {
        self.inner
    }

    fn learn_if_normal(&mut self, x: &[f32], score: f64) {
        if score <= self.threshold {
            self.inner.learn(x);
            self.learned += 1;
        } else {
            self.rejected += 1;
        }
    }
}

impl<M: Model> Model for Guarded<M> {
    fn score(&self, x: &[f32]) -> f64 {
        self.inner.score(x)
    }

    fn learn(&mut self, x: &[f32]) {
        let s = self.inner.score(x);
        self.learn_if_normal(x, s);
    }

    fn score_learn(&mut self, x: &[f32]) -> f64 {
        let s = self.inner.score(x);
        self.learn_if_normal(x, s);
        s
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

/// The `q`-quantile of `values` with linear interpolation between order statistics (NumPy's
/// default): position `q · (n − 1)` in the sorted values. Panics on an empty slice.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    assert!(!values.is_empty(), "quantile of no values");
    assert!((0.0..=1.0).contains(&q), "q must be in [0, 1]");
    let mut v = values.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hst::{HalfSpaceTrees, HstConfig};

    /// Scores the distance of `x[0]` from the mean learned so far.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Mean {
        sum: f64,
        n: f64,
    }

    impl Model for Mean {
        fn score(&self, x: &[f32]) -> f64 {
            (f64::from(x[0]) - self.sum / self.n.max(1.0)).abs()
        }
        fn learn(&mut self, x: &[f32]) {
            self.sum += f64::from(x[0]);
            self.n += 1.0;
        }
        fn name(&self) -> &'static str {
            "mean"
        }
    }

    #[test]
    fn quantile_interpolates_like_numpy() {
        // np.quantile([1, 2, 3, 4], 0.5) = 2.5; 0.99 → 3.97
        assert_eq!(quantile(&[4.0, 1.0, 3.0, 2.0], 0.5), 2.5);
        assert!((quantile(&[1.0, 2.0, 3.0, 4.0], 0.99) - 3.97).abs() < 1e-12);
        assert_eq!(quantile(&[7.0], 0.3), 7.0);
    }

    #[test]
    fn refuses_anomalies_and_learns_normal_rows() {
        let mut m = Mean { sum: 0.0, n: 0.0 };
        let train: Vec<[f32; 1]> = (0..100).map(|i| [0.4 + 0.002 * i as f32]).collect();
        for r in &train {
            m.learn(r);
        }
        let mut g = Guarded::calibrate(m, &train, DEFAULT_QUANTILE);
        assert!(g.threshold() > 0.09 && g.threshold() < 0.1);
        // An attack flood far from the mean is scored but never learned.
        for _ in 0..1000 {
            assert!(g.score_learn(&[5.0]) > 4.0);
        }
        assert_eq!(g.rejected(), 1000);
        assert_eq!(g.learned(), 0);
        g.learn(&[0.5]);
        assert_eq!(g.learned(), 1);
        // An unguarded model is dragged towards the flood.
        let mut plain = g.inner().clone();
        for _ in 0..1000 {
            plain.score_learn(&[5.0]);
        }
        assert!(plain.score(&[5.0]) < 1.0);
    }

    #[test]
    fn guarded_hst_resists_a_flood_and_round_trips() {
        let dims = 4;
        let normal: Vec<Vec<f32>> = (0..1000)
            .map(|i| {
                (0..dims)
                    .map(|d| 0.3 + 0.001 * ((i * 7 + d * 13) % 97) as f32)
                    .collect()
            })
            .collect();
        let mut hst = HalfSpaceTrees::new(dims, HstConfig::default()).unwrap();
        for r in &normal {
            hst.learn(r);
        }
        let attack = vec![0.9f32; dims];
        let before = hst.score(&attack);
        let mut g = Guarded::calibrate(hst.clone(), &normal, DEFAULT_QUANTILE);
        let mut plain = hst;
        for _ in 0..2000 {
            g.score_learn(&attack);
            plain.score_learn(&attack);
        }
        assert_eq!(g.score(&attack), before);
        assert!(plain.score(&attack) < before);
        let bytes = postcard::to_allocvec(&g).unwrap();
        let back: Guarded<HalfSpaceTrees> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, g);
        assert_eq!(back.score(&attack).to_bits(), g.score(&attack).to_bits());
    }
}

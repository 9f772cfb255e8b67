//! An ensemble of anomaly models on a common scale.
//!
//! Raw scores of different models are not comparable (Half-Space Trees' `1 − mass`, Isolation
//! Forest's `2^(−E[h]/c)`), so each member's score is first turned into its position among the
//! scores that member gave the training rows — the fraction of training rows scoring lower
//! (an empirical CDF, calibrated on normal data only) — and the ensemble score is the mean of
//! those positions. Above the highest training score the position keeps growing linearly
//! (1 + excess / training range), so attacks beyond everything seen in training stay ranked
//! among themselves. Averaging calibrated detectors of different kinds (density-like HST,
//! isolation-based IF) is the standard way to reduce the variance of unsupervised detectors
//! (Aggarwal & Sathe, "Theoretical Foundations and Algorithms for Outlier Ensembles",
//! SIGKDD Explorations 2015).

use crate::Model;

/// One member and its calibration.
struct Member {
    model: Box<dyn Model>,
    /// The member's scores of the calibration rows, sorted ascending.
    calib: Vec<f64>,
}

/// Mean of calibrated member scores. See the [module docs](self).
pub struct Ensemble {
    members: Vec<Member>,
}

impl Ensemble {
    /// An ensemble of fitted models, each calibrated on its scores of `rows` (the benign
    /// training rows).
    pub fn calibrate<R: AsRef<[f32]>>(models: Vec<Box<dyn Model>>, rows: &[R]) -> Self {
        let members = models
            .into_iter()
            .map(|model| {
                let mut calib: Vec<f64> = rows.iter().map(|r| model.score(r.as_ref())).collect();
                calib.retain(|s| s.is_finite());
                calib.sort_by(f64::total_cmp);
                Member { model, calib }
            })
            .collect();
        Ensemble { members }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// Position of `s` among the sorted calibration scores `c`.
fn position(c: &[f64], s: f64) -> f64 {
    let (Some(&lo), Some(&hi)) = (c.first(), c.last()) else {
        return 0.0;
    };
    let span = (hi - lo).max(1e-12);
    if s > hi {
        return 1.0 + (s - hi) / span;
    }
    if s < lo {
        return -(lo - s) / span;
    }
    // Mid-rank of s among ties: (#below + #equal / 2) / n.
    let below = c.partition_point(|&x| x < s);
    let upto = c.partition_point(|&x| x <= s);
    (below as f64 + (upto - below) as f64 / 2.0) / c.len() as f64
}

impl Model for Ensemble {
    fn score(&self, x: &[f32]) -> f64 {
        if self.members.is_empty() {
            return 0.0;
        }
        let sum: f64 = self
            .members
            .iter()
            .map(|m| position(&m.calib, m.model.score(x)))
            .sum();
        sum / self.members.len() as f64
    }

    fn learn(&mut self, x: &[f32]) {
        for m in &mut self.members {
            m.model.learn(x);
        }
    }

    fn name(&self) -> &'static str {
        "ensemble"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores the first feature, for testing.
    struct First(f64);
    impl Model for First {
        fn score(&self, x: &[f32]) -> f64 {
            f64::from(x[0]) * self.0
        }
        fn learn(&mut self, _: &[f32]) {}
        fn name(&self) -> &'static str {
            "first"
        }
    }

    #[test]
    fn members_on_different_scales_count_equally() {
        let rows: Vec<[f32; 1]> = (0..100).map(|i| [i as f32 / 100.0]).collect();
        let e = Ensemble::calibrate(vec![Box::new(First(1.0)), Box::new(First(1000.0))], &rows);
        assert_eq!(e.len(), 2);
        // The median training row sits in the middle for both members.
        assert!(
            (e.score(&[0.5]) - 0.505).abs() < 0.01,
            "{}",
            e.score(&[0.5])
        );
        // Beyond the training range the score keeps growing, so outliers stay ranked.
        assert!(e.score(&[2.0]) > e.score(&[1.5]));
        assert!(e.score(&[1.5]) > 1.0);
        assert!(e.score(&[-1.0]) < 0.0);
    }

    #[test]
    fn positions_use_mid_ranks_for_ties() {
        let c = [1.0, 2.0, 2.0, 3.0];
        assert_eq!(position(&c, 2.0), 0.5);
        assert_eq!(position(&c, 1.0), 0.125);
        assert_eq!(position(&c, 5.0), 2.0);
        assert_eq!(position(&[], 5.0), 0.0);
    }
}

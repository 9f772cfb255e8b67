//! Learned baselines: streaming anomaly models over feature vectors, feature extraction from
//! events, and per-entity behaviour profiles (UEBA).
//!
//! * [`hst`] — streaming Half-Space Trees (Tan, Ting & Liu 2011).
//! * [`iforest`] — Isolation Forest (Liu, Ting & Zhou 2008) fitted on a window of normal rows.
//! * [`ensemble`] — mean of calibrated member scores (HST + Isolation Forest).
//! * [`guard`] — robust online learning: learn only rows that do not look anomalous.
//! * [`metrics`] — ROC-AUC, average precision and thresholds at a false-alarm rate.
//! * [`scale`] — online, outlier-robust scaling and categorical encoding.
//! * [`incstat`] — Kitsune-style damped incremental statistics (Mirsky et al. 2018).
//! * [`features`] — events (flows, authentication, process) to feature vectors.
//! * [`beacon`] — command-and-control beaconing (regular intervals and sizes, as in RITA).
//! * [`detector`] — the streaming anomaly detector over events, and [`detector::Learned`]
//!   (anomaly + UEBA as one unit with one snapshot).
//! * [`ueba`] — per-entity baselines with bounded memory, sketches and explanations.
//!
//! Library code never prints; every model is deterministic for a given seed.

pub mod beacon;
pub mod detector;
pub mod ensemble;
pub mod features;
pub mod guard;
pub mod hst;
pub mod iforest;
pub mod incstat;
pub mod metrics;
pub mod scale;
pub mod ueba;

/// A streaming anomaly model over fixed-width feature vectors (values roughly in `[0, 1]`
/// after [`scale`]).
pub trait Model: Send {
    /// Anomaly score of `x`: higher is more anomalous. Comparable within one model.
    fn score(&self, x: &[f32]) -> f64;
    /// Learn from `x` (taken as normal).
    fn learn(&mut self, x: &[f32]);
    /// Score `x`, then learn from it.
    fn score_learn(&mut self, x: &[f32]) -> f64 {
        let s = self.score(x);
        self.learn(x);
        s
    }
    /// Short name (`hst`, `iforest`, …).
    fn name(&self) -> &'static str;
}

/// `1` if `v` goes to the right child of a tree node splitting at `split`: not `v < split`,
/// so NaN goes right (shared by [`hst`] and [`iforest`]).
#[inline(always)]
#[allow(clippy::neg_cmp_op_on_partial_ord)] // deliberate: NaN must compare as "not less"
pub(crate) fn goes_right(v: f32, split: f32) -> usize {
    usize::from(!(v < split))
}

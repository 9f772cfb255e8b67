//! The priority formula. Every alert's priority (0–100) is a sum of named contributions, each
//! with a sentence, so a user sees exactly why it ranks where it does:
//!
//! | step | contribution |
//! |---|---|
//! | severity | S = 5 / 15 / 30 / 50 / 70 points for informational / low / medium / high / critical |
//! | fidelity | S × (f / f₀ − 1): f is the rule's fidelity (Beta posterior from true/false-positive verdicts, prior f₀ from its level: 0.2 … 0.9), so 0 until analysts give feedback |
//! | asset criticality | (S + fidelity) × (c − 1), c = 0.6 / 0.8 / 1 / 1.25 / 1.5 for criticality 1 … 5 of the most critical entity involved |
//! | entity risk | + min(20, R / 5), R = decayed risk (half-life 24 h) its riskiest entity had already accumulated |
//! | ATT&CK breadth | + 6 per distinct tactic beyond the first on one entity in 24 h, at most 24 |
//! | threat intel | + 20 × confidence / 100 for an intel hit |
//! | anomaly | + 15 × how far outside the baseline: anomaly alerts by the share of warm-up rows they exceed, UEBA alerts by their combined score |
//! | routine | × √(m / n) − 1 of the subtotal when the same rule fired n ≥ m (= 5) times on the same entity in 30 days ("routine: seen 41 times in 30 days"), never below × 0.2 |
//! | clamp | to 0 … 100 |
//!
//! The alert's final priority then adds to the risk of each of its entities, once per rule
//! and entity per risk half-life (a rule re-firing on the same entity does not pile up risk). An incident's
//! priority combines its rules, not its repeats: with p₁ ≥ p₂ ≥ … the highest priority of each
//! distinct rule, 100 × (1 − (1 − p₁/100) × Πₖ≥₂(1 − ½·pₖ/100)), so a second independent
//! detection raises it and a thousand repeats of one rule do not; it is raised to at least 60
//! when one of its entities crossed the risk threshold (100 accumulated points).

use serde::{Deserialize, Serialize};

use palisade_event::Severity;

/// One named part of a priority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// `severity`, `fidelity`, `criticality`, `entity_risk`, `breadth`, `intel`, `anomaly`,
    /// `routine`, `risk_threshold`, `suppressed`, `clamp`, `combined`.
    pub factor: String,
    pub points: f64,
    pub reason: String,
}

impl Contribution {
    pub fn new(factor: &str, points: f64, reason: impl Into<String>) -> Contribution {
        Contribution {
            factor: factor.to_string(),
            points,
            reason: reason.into(),
        }
    }
}

/// Points of a severity.
pub fn severity_points(s: Severity) -> f64 {
    match s {
        Severity::Informational => 5.0,
        Severity::Low => 15.0,
        Severity::Medium => 30.0,
        Severity::High => 50.0,
        Severity::Critical => 70.0,
    }
}

/// Most points entity risk adds to one alert.
pub const RISK_CAP: f64 = 20.0;
/// Points per extra tactic, and their cap.
pub const BREADTH_STEP: f64 = 6.0;
pub const BREADTH_CAP: f64 = 24.0;
/// Most points an intel hit adds (at confidence 100).
pub const INTEL_MAX: f64 = 20.0;
/// Most points anomaly strength adds.
pub const ANOMALY_MAX: f64 = 15.0;
/// Lowest routine multiplier.
pub const ROUTINE_FLOOR: f64 = 0.2;

/// Multiplier for a (rule, entity) pair seen `n` times in the look-back.
pub fn routine_factor(n: u32, min: u32) -> f64 {
    if n < min.max(1) {
        1.0
    } else {
        (f64::from(min.max(1)) / f64::from(n))
            .sqrt()
            .max(ROUTINE_FLOOR)
    }
}

/// Sum of contributions, clamped to 0..=100 (the clamp, if any, is appended as its own
/// contribution so the parts always add up to the total).
pub fn total(parts: &mut Vec<Contribution>) -> f64 {
    let sum: f64 = parts.iter().map(|c| c.points).sum();
    let clamped = sum.clamp(0.0, 100.0);
    if (clamped - sum).abs() > 1e-9 {
        parts.push(Contribution::new(
            "clamp",
            clamped - sum,
            "priority is kept within 0–100",
        ));
    }
    clamped
}

/// Weight of every rule after the strongest in [`combine`].
pub const FURTHER_RULE_WEIGHT: f64 = 0.5;

/// Combines the highest priority of each distinct rule (each 0..=100): a noisy-or in which
/// every rule after the strongest counts half.
pub fn combine(priorities: impl IntoIterator<Item = f64>) -> f64 {
    let mut p: Vec<f64> = priorities
        .into_iter()
        .map(|p| (p / 100.0).clamp(0.0, 1.0))
        .collect();
    p.sort_by(|a, b| b.total_cmp(a));
    let miss: f64 = p
        .iter()
        .enumerate()
        .map(|(k, &x)| 1.0 - if k == 0 { x } else { FURTHER_RULE_WEIGHT * x })
        .product();
    100.0 * (1.0 - miss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routine_shrinks_with_repetition_but_never_to_nothing() {
        assert_eq!(routine_factor(4, 5), 1.0);
        assert_eq!(routine_factor(5, 5), 1.0);
        assert!((routine_factor(20, 5) - 0.5).abs() < 1e-12);
        assert_eq!(routine_factor(100_000, 5), ROUTINE_FLOOR);
    }

    #[test]
    fn totals_add_up_including_the_clamp() {
        let mut parts = vec![
            Contribution::new("severity", 70.0, ""),
            Contribution::new("breadth", 24.0, ""),
            Contribution::new("intel", 20.0, ""),
        ];
        let t = total(&mut parts);
        assert_eq!(t, 100.0);
        let sum: f64 = parts.iter().map(|c| c.points).sum();
        assert!((sum - t).abs() < 1e-9);
    }

    #[test]
    fn noisy_or_grows_with_evidence_and_stays_bounded() {
        assert_eq!(combine([]), 0.0);
        assert!((combine([50.0]) - 50.0).abs() < 1e-9);
        assert!((combine([50.0, 50.0]) - 62.5).abs() < 1e-9);
        assert!(
            (combine([20.0, 60.0]) - 64.0).abs() < 1e-9,
            "order does not matter"
        );
        assert!(combine([100.0, 10.0]) <= 100.0);
    }
}

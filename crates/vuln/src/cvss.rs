//! CVSS base scores from vector strings.
//!
//! v3.0/v3.1: the base equations of the CVSS v3.1 specification (§7.1, §7.4 and Appendix A's
//! `Roundup`), computed here. v4.0: the base score is not a closed formula but FIRST's table of
//! expert-scored MacroVectors with interpolation inside each; that table and its algorithm come
//! from RustSec's `cvss` crate.

use palisade_event::Severity;

/// A parsed base score.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CvssScore {
    /// `3.0`, `3.1`, `4.0`.
    pub version: &'static str,
    pub score: f64,
    pub vector: String,
}

/// Why a vector has no score.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CVSS vector {vector:?}: {reason}")]
pub struct CvssError {
    pub vector: String,
    pub reason: String,
}

/// The qualitative rating of a base score (CVSS v3.1 §5, same bands in v4.0).
pub fn severity_of(score: f64) -> Severity {
    if score >= 9.0 {
        Severity::Critical
    } else if score >= 7.0 {
        Severity::High
    } else if score >= 4.0 {
        Severity::Medium
    } else if score > 0.0 {
        Severity::Low
    } else {
        Severity::Informational
    }
}

/// Scores a `CVSS:3.x/…` or `CVSS:4.0/…` vector. Other versions (v2) are errors.
pub fn base_score(vector: &str) -> Result<CvssScore, CvssError> {
    let v = vector.trim();
    let err = |reason: &str| CvssError {
        vector: v.chars().take(200).collect(),
        reason: reason.to_owned(),
    };
    if let Some(rest) = v.strip_prefix("CVSS:3.1/") {
        return v3(rest, Roundup::V31)
            .map(|score| CvssScore {
                version: "3.1",
                score,
                vector: v.to_owned(),
            })
            .map_err(|r| err(&r));
    }
    if let Some(rest) = v.strip_prefix("CVSS:3.0/") {
        return v3(rest, Roundup::V30)
            .map(|score| CvssScore {
                version: "3.0",
                score,
                vector: v.to_owned(),
            })
            .map_err(|r| err(&r));
    }
    if v.starts_with("CVSS:4.0/") {
        let parsed: cvss::v4::Vector = v.parse().map_err(|e: cvss::Error| err(&e.to_string()))?;
        return Ok(CvssScore {
            version: "4.0",
            score: parsed.score().value(),
            vector: v.to_owned(),
        });
    }
    Err(err("not a CVSS v3.0, v3.1 or v4.0 vector"))
}

#[derive(Clone, Copy)]
enum Roundup {
    /// v3.0: the smallest number with one decimal at or above the input.
    V30,
    /// v3.1 Appendix A: the same, computed on integers to avoid floating-point surprises.
    V31,
}

impl Roundup {
    fn apply(self, x: f64) -> f64 {
        match self {
            Roundup::V30 => (x * 10.0).ceil() / 10.0,
            Roundup::V31 => {
                let int_input = (x * 100_000.0).round() as i64;
                if int_input % 10_000 == 0 {
                    int_input as f64 / 100_000.0
                } else {
                    ((int_input / 10_000) + 1) as f64 / 10.0
                }
            }
        }
    }
}

/// The v3 base score of the metrics after `CVSS:3.x/`.
fn v3(metrics: &str, roundup: Roundup) -> Result<f64, String> {
    let mut m: [Option<char>; 8] = [None; 8];
    const NAMES: [&str; 8] = ["AV", "AC", "PR", "UI", "S", "C", "I", "A"];
    for part in metrics.split('/') {
        let (k, val) = part
            .split_once(':')
            .ok_or_else(|| format!("metric {part:?} is not NAME:VALUE"))?;
        let mut chars = val.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return Err(format!("metric {k} has value {val:?}"));
        };
        match NAMES.iter().position(|n| *n == k) {
            Some(i) if m[i].is_some() => return Err(format!("metric {k} given twice")),
            Some(i) => m[i] = Some(c),
            // Temporal and environmental metrics do not change the base score.
            None if matches!(
                k,
                "E" | "RL"
                    | "RC"
                    | "CR"
                    | "IR"
                    | "AR"
                    | "MAV"
                    | "MAC"
                    | "MPR"
                    | "MUI"
                    | "MS"
                    | "MC"
                    | "MI"
                    | "MA"
            ) => {}
            None => return Err(format!("unknown metric {k}")),
        }
    }
    let get = |i: usize| m[i].ok_or_else(|| format!("missing base metric {}", NAMES[i]));
    let bad = |i: usize, c: char| format!("metric {} has value {c:?}", NAMES[i]);
    let scope_changed = match get(4)? {
        'U' => false,
        'C' => true,
        c => return Err(bad(4, c)),
    };
    let av = match get(0)? {
        'N' => 0.85,
        'A' => 0.62,
        'L' => 0.55,
        'P' => 0.2,
        c => return Err(bad(0, c)),
    };
    let ac = match get(1)? {
        'L' => 0.77,
        'H' => 0.44,
        c => return Err(bad(1, c)),
    };
    let pr = match (get(2)?, scope_changed) {
        ('N', _) => 0.85,
        ('L', false) => 0.62,
        ('L', true) => 0.68,
        ('H', false) => 0.27,
        ('H', true) => 0.5,
        (c, _) => return Err(bad(2, c)),
    };
    let ui = match get(3)? {
        'N' => 0.85,
        'R' => 0.62,
        c => return Err(bad(3, c)),
    };
    let cia = |i: usize| -> Result<f64, String> {
        match get(i)? {
            'H' => Ok(0.56),
            'L' => Ok(0.22),
            'N' => Ok(0.0),
            c => Err(bad(i, c)),
        }
    };
    let (c, i, a) = (cia(5)?, cia(6)?, cia(7)?);
    let iss = 1.0 - ((1.0 - c) * (1.0 - i) * (1.0 - a));
    let impact = if scope_changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Ok(0.0);
    }
    Ok(if scope_changed {
        roundup.apply((1.08 * (impact + exploitability)).min(10.0))
    } else {
        roundup.apply((impact + exploitability).min(10.0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> f64 {
        base_score(v).unwrap_or_else(|e| panic!("{e}")).score
    }

    #[test]
    fn v31_reference_scores() {
        // Scores as FIRST's v3.1 calculator and the specification's examples give them.
        let cases = [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.1),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", 5.3),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0.0),
            ("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.1),
            ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H/E:P", 9.9),
        ];
        for (v, want) in cases {
            assert_eq!(s(v), want, "{v}");
        }
    }

    #[test]
    fn v40_reference_scores() {
        let cases = [
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                9.3,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H",
                10.0,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N",
                6.9,
            ),
        ];
        for (v, want) in cases {
            assert_eq!(s(v), want, "{v}");
        }
    }

    #[test]
    fn bad_vectors_are_errors() {
        for bad in [
            "CVSS:3.1/AV:N",
            "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:HH",
            "AV:N/AC:L/Au:N/C:P/I:P/A:P",
            "CVSS:4.0/AV:N",
            "",
        ] {
            assert!(base_score(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bands() {
        assert_eq!(severity_of(9.8), Severity::Critical);
        assert_eq!(severity_of(7.0), Severity::High);
        assert_eq!(severity_of(6.9), Severity::Medium);
        assert_eq!(severity_of(0.1), Severity::Low);
        assert_eq!(severity_of(0.0), Severity::Informational);
    }
}

//! Palisade's guard: judges text that reaches people and language models.
//!
//! - [`prompt`]: prompt-injection and jailbreak detection for LLM inputs, including
//!   instructions hidden in documents (normalisation in [`normalise`] → heuristics → a linear
//!   model over hashed character and word n-grams, [`linear`] and [`features`]);
//! - [`dlp`]: secrets and personal data in prompts and answers, found, checked (checksums
//!   where formats have them) and redacted; canary tokens that reveal a leaked system prompt;
//! - [`mail`]: phishing in e-mail (MIME), from authentication results, headers, URLs,
//!   attachments and language, scored by a linear model; [`seen`] adds newly seen and newly
//!   registered sender and link domains as rule-based signals with fixed weights.
//!
//! Models are trained by `palisade train …` and embedded in the binary; nothing is fetched at
//! run time. Every verdict carries the signals that made it. This crate does no I/O of its own
//! beyond what callers hand it and never prints.

pub mod dlp;
pub mod features;
pub mod linear;
pub mod mail;
pub mod normalise;
pub mod prompt;
pub mod seen;

/// What went wrong in the guard.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// A model file is broken or of another version.
    #[error("guard model: {0}")]
    Model(String),
    /// Training data cannot make a model.
    #[error("training: {0}")]
    Training(String),
    /// An input could not be read as what it claims to be.
    #[error("{0}")]
    Input(String),
}

/// One reason behind a verdict: a named signal, what it saw, and what it added to the score's
/// log-odds (0 for purely informative signals).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Signal {
    pub name: &'static str,
    pub evidence: String,
    pub weight: f32,
}

impl Signal {
    pub fn new(name: &'static str, evidence: impl Into<String>) -> Signal {
        Signal {
            name,
            evidence: evidence.into(),
            weight: 0.0,
        }
    }

    pub fn weighted(mut self, weight: f32) -> Signal {
        self.weight = weight;
        self
    }
}

//! Sigma for Palisade.
//!
//! Loads Sigma rules (detection, correlation and filter rules of specification v2), compiles
//! them into matchers, and evaluates events: [`load_rules`] gives a [`RuleSet`] for single-event
//! matching (shared across threads, one [`Scratch`] per thread) and the compiled correlations
//! for a [`CorrelationEngine`] fed in event time.
//!
//! Not here: reading logs (see `palisade-ingest`) and presenting results (the binary).

pub mod alert;
pub mod compile;
pub mod condition;
pub mod correlation;
pub mod engine;
pub mod lint;
pub mod loader;
pub mod logsource;
pub mod modifier;
pub mod pattern;
pub mod rule;
pub mod yaml;

pub use correlation::{CorrelationAlert, CorrelationEngine, HitSource, RuleRef};
pub use engine::{EngineOptions, RuleSet, Scratch, SigmaRule};
pub use loader::{LoadFailure, LoadOptions, LoadReport, LoadWarning, LoadedRules, load_rules};

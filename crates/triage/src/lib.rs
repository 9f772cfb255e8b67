//! Triage: from many alerts to one ranked, explained incident queue.
//!
//! Alerts of every detector (Sigma, IOC, anomaly, UEBA) come in; each gets a priority that
//! breaks down into documented contributions, alerts that share entities within a time window
//! become incidents, and analyst feedback (false/true positive, suppressions, allowlists) feeds
//! back into the scores. Threat intelligence (STIX 2.1, MISP, plain lists) lives in [`intel`].

pub mod attack;
pub mod config;
pub mod engine;
pub mod entity;
pub mod feedback;
pub mod incident;
pub mod intel;
pub mod score;

pub use config::{Asset, TriageConfig};
pub use engine::{Outcome, Scope, ScoredAlert, Triage, TriageState};
pub use entity::{Entity, EntityKind, entities_of};
pub use feedback::{Fidelity, Suppression};
pub use incident::{AlertGroup, Incident, Note, Status};
pub use score::Contribution;

//! Palisade's persistence.
//!
//! [`Store`] is what the rest of Palisade writes through; [`SqliteStore`] is the default
//! implementation: one SQLite file in WAL mode, created on first use, schema migrated in place
//! (`PRAGMA user_version`). Later issues add PostgreSQL behind the same trait.
//!
//! Not here: deciding what to store (callers do) or presenting it.

mod sqlite;

pub use sqlite::SqliteStore;

use chrono::{DateTime, Utc};
use palisade_event::{Alert, Severity};

/// Errors from a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error(
        "{path}: database schema version {found} is newer than this Palisade supports ({supported})"
    )]
    TooNew {
        path: String,
        found: i64,
        supported: i64,
    },
}

/// A hunt or service run, for provenance of stored alerts.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub command: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub inputs: Vec<String>,
    pub rule_count: u64,
    pub events: u64,
    pub skipped_records: u64,
}

/// A stored alert as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    pub id: i64,
    pub run_id: i64,
    pub detector: String,
    pub rule_id: String,
    pub rule_title: String,
    pub severity: Severity,
    pub timestamp: Option<DateTime<Utc>>,
    pub host: Option<String>,
    pub source: Option<String>,
    pub position: Option<u64>,
    pub event: Option<serde_json::Value>,
}

/// Where Palisade keeps its results.
pub trait Store {
    /// Records a run and its alerts in one transaction; returns the run id.
    fn save_run(&mut self, run: &RunRecord, alerts: &[Alert]) -> Result<i64, StoreError>;
    /// Alerts of a run (all runs when `None`), oldest event first.
    fn alerts(&self, run: Option<i64>) -> Result<Vec<StoredAlert>, StoreError>;
    /// Stores an opaque named state blob (a detector's baseline snapshot), replacing any
    /// previous blob of that name.
    fn save_state(&mut self, name: &str, bytes: &[u8]) -> Result<(), StoreError>;
    /// The state blob saved under `name`, or `None` if there is none.
    fn load_state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

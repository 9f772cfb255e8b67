//! Palisade's persistence.
//!
//! [`Store`] is what the rest of Palisade writes through; [`SqliteStore`] is the default
//! implementation: one SQLite file in WAL mode, created on first use, schema migrated in place
//! (`PRAGMA user_version`). Later issues add PostgreSQL behind the same trait.
//!
//! Not here: deciding what to store (callers do) or presenting it.

mod decisions;
mod sqlite;
mod vuln;

pub use decisions::{
    AddressMatch, BouncerRecord, Decision, DecisionFilter, NewDecision, NewResponseAction,
    ResponseAction, ResponseActionFilter, ResponseLogRecord, ResponseStore, Scope, canonical_value,
};
pub use sqlite::SqliteStore;
pub use vuln::{
    AdvisoryBody, AdvisorySave, AdvisorySource, AdvisoryStatus, NewVulnFinding, NewVulnScan,
    StoredAdvisory, VulnFindingRecord, VulnScanRecord, VulnStore,
};

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
    /// A value the caller passed that the store cannot keep (a malformed IP address or range,
    /// an unknown scope).
    #[error("{0}")]
    Invalid(String),
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

/// An incident to store (triage builds it; the store keeps its searchable columns and the
/// whole incident as a JSON body).
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub run_id: Option<i64>,
    pub status: String,
    pub priority: f64,
    pub title: String,
    pub reason: String,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    pub alert_count: i64,
    pub body: serde_json::Value,
    /// Stored alerts it groups.
    pub alert_ids: Vec<i64>,
}

/// A stored incident.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRecord {
    pub id: i64,
    pub run_id: Option<i64>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub status: String,
    pub owner: Option<String>,
    pub priority: f64,
    pub title: String,
    pub reason: String,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    pub alert_count: i64,
    pub body: serde_json::Value,
}

/// Which incidents to list (every field narrows; the default lists all, best first).
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub statuses: Vec<String>,
    pub run: Option<i64>,
    pub min_priority: Option<f64>,
    pub id: Option<i64>,
    pub limit: Option<usize>,
}

/// An analyst's change to an incident; audited with its actor.
#[derive(Debug, Clone, Default)]
pub struct IncidentChange {
    pub actor: String,
    pub status: Option<String>,
    /// `Some("")` clears the owner.
    pub owner: Option<String>,
    pub note: Option<String>,
}

/// A note on an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteRecord {
    pub author: String,
    pub at: DateTime<Utc>,
    pub text: String,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// A threat-intel indicator as stored (the triage crate's `Indicator`, kept as plain columns so
/// the store does not depend on triage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIndicator {
    /// Stable id (source + kind + value).
    pub id: String,
    pub kind: String,
    pub value: String,
    pub source: String,
    pub confidence: u8,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub description: Option<String>,
    pub labels: Vec<String>,
    /// The record's id in its feed (STIX id, MISP uuid).
    pub reference: Option<String>,
    /// When it was (last) imported.
    pub imported: DateTime<Utc>,
    /// The file (and position) it was imported from.
    pub origin: Option<String>,
}

/// What [`Store::save_indicators`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndicatorSave {
    /// New ids.
    pub added: u64,
    /// Ids already stored, replaced.
    pub updated: u64,
}

/// Which indicators to remove.
#[derive(Debug, Clone, Copy)]
pub enum IndicatorFilter<'a> {
    Source(&'a str),
    Id(&'a str),
}

/// One event as `palisade serve` keeps it for search: its write-ahead-log sequence number (the
/// primary key, so replaying a record never stores it twice), the entity columns searches use,
/// and the whole event as JSON.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub seq: i64,
    pub timestamp: Option<DateTime<Utc>>,
    pub source: String,
    pub host: Option<String>,
    pub user: Option<String>,
    pub source_ip: Option<String>,
    pub destination_ip: Option<String>,
    /// The event's fields as a JSON object.
    pub body: String,
}

/// A stored event as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: i64,
    pub timestamp: Option<DateTime<Utc>>,
    pub source: String,
    pub host: Option<String>,
    pub user: Option<String>,
    pub source_ip: Option<String>,
    pub destination_ip: Option<String>,
    pub body: serde_json::Value,
}

/// Which events to return (newest first); every field narrows.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// A host, user or IP address, matched against the entity columns.
    pub entity: Option<String>,
    /// Exact field values (`field`, `value`), e.g. (`event.outcome`, `failure`).
    pub fields: Vec<(String, String)>,
    /// Case-insensitive substring of the whole event.
    pub text: Option<String>,
    /// Only events older than this sequence number (paging).
    pub before_seq: Option<i64>,
    pub limit: usize,
}

/// What one pipeline batch of `palisade serve` stores, in one transaction: its events, its
/// alerts, and the sequence number up to which the write-ahead log has been applied.
#[derive(Debug, Clone, Copy)]
pub struct ServeCommit<'a> {
    pub run_id: i64,
    pub events: &'a [EventRow],
    /// Events the batch parsed (stored or not).
    pub event_count: u64,
    pub skipped: u64,
    pub alerts: &'a [Alert],
    /// Incidents the batch opened or grew; their `alert_ids` are indices into `alerts`.
    pub incidents: &'a [IncidentWrite],
    /// Entity risk samples (entity as `kind:value`, time, risk).
    pub risk: &'a [(String, DateTime<Utc>, f64)],
    /// State name the checkpoint is kept under, and its value (little-endian `i64`).
    pub checkpoint_name: &'a str,
    pub checkpoint: i64,
}

/// Which alerts to list (newest first).
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub rule: Option<String>,
    pub host: Option<String>,
    pub detector: Option<String>,
    pub from: Option<DateTime<Utc>>,
    /// Only alerts with a smaller id (paging).
    pub before_id: Option<i64>,
    pub limit: usize,
}

/// A time series the store can count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    Events,
    Alerts,
}

/// An incident write inside a [`ServeCommit`]: a new incident, or new scores and body for an
/// existing one (its status, owner and notes stay).
#[derive(Debug, Clone)]
pub struct IncidentWrite {
    pub existing: Option<i64>,
    pub incident: NewIncident,
}

/// What [`Store::commit_serve`] stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServeCommitted {
    pub alert_ids: Vec<i64>,
    /// Per incident write, its id (new or existing; `None` if an existing one was gone).
    pub incident_ids: Vec<Option<i64>>,
}

/// An API token to create; only its hash is stored.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: String,
    /// Hex SHA-256 of the secret.
    pub hash: String,
}

/// A stored API token (never its secret).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub created: DateTime<Utc>,
    pub revoked: Option<DateTime<Utc>>,
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
    /// Ids of a run's alerts in the order they were saved.
    fn alert_ids(&self, run: i64) -> Result<Vec<i64>, StoreError>;
    /// The most recent run's id.
    fn latest_run(&self) -> Result<Option<i64>, StoreError>;
    /// Stores incidents (status as given) in one transaction; returns their ids in order.
    fn save_incidents(&mut self, incidents: &[NewIncident]) -> Result<Vec<i64>, StoreError>;
    /// Incidents matching `filter`, highest priority first.
    fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<IncidentRecord>, StoreError>;
    /// Applies an analyst's change (status, owner, note) and audits it; false if no such
    /// incident.
    fn update_incident(&mut self, id: i64, change: &IncidentChange) -> Result<bool, StoreError>;
    /// Notes of an incident, oldest first.
    fn notes(&self, incident: i64) -> Result<Vec<NoteRecord>, StoreError>;
    /// The stored alerts an incident groups.
    fn incident_alerts(&self, incident: i64) -> Result<Vec<StoredAlert>, StoreError>;
    /// Appends to the audit log.
    fn audit(
        &mut self,
        actor: &str,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<(), StoreError>;
    /// The newest `limit` audit records, newest first.
    fn audit_log(&self, limit: usize) -> Result<Vec<AuditRecord>, StoreError>;
    /// Adds or replaces (by id) threat-intel indicators, in one transaction.
    fn save_indicators(
        &mut self,
        indicators: &[StoredIndicator],
    ) -> Result<IndicatorSave, StoreError>;
    /// Stored indicators (of one source when given), ordered by source, kind and value.
    fn indicators(&self, source: Option<&str>) -> Result<Vec<StoredIndicator>, StoreError>;
    /// Removes indicators; returns how many.
    fn remove_indicators(&mut self, filter: IndicatorFilter<'_>) -> Result<u64, StoreError>;
    /// Records the start of a long-running run (a service session); its counters grow with
    /// each [`Store::commit_serve`].
    fn start_run(&mut self, run: &RunRecord) -> Result<i64, StoreError>;
    /// Stores one pipeline batch (events, alerts, incidents, risk samples and the applied
    /// checkpoint) atomically.
    fn commit_serve(&mut self, commit: &ServeCommit<'_>) -> Result<ServeCommitted, StoreError>;
    /// Stored events matching `filter`, newest first.
    fn events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError>;
    /// Deletes all but the newest `keep` events; returns how many went.
    fn prune_events(&mut self, keep: u64) -> Result<u64, StoreError>;
    /// How many events are stored.
    fn event_count(&self) -> Result<u64, StoreError>;
    /// An entity's risk samples since `since`, oldest first.
    fn risk_history(
        &self,
        entity: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, f64)>, StoreError>;
    /// Alerts matching `filter`, newest first.
    fn recent_alerts(&self, filter: &AlertFilter) -> Result<Vec<StoredAlert>, StoreError>;
    /// Counts per time bucket (event or alert time) since `since`.
    fn histogram(
        &self,
        what: Series,
        since: DateTime<Utc>,
        bucket_secs: i64,
    ) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError>;
    /// Stores a new API token; returns its id.
    fn create_token(&mut self, token: &NewToken) -> Result<i64, StoreError>;
    /// The token with this hash (revoked or not).
    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// Every token, oldest first.
    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    /// Revokes a token; false if there is no such live token.
    fn revoke_token(&mut self, id: i64) -> Result<bool, StoreError>;
}

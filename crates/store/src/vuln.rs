//! Types of the vulnerability tables (migration 7): OSV advisories as published, indexed by
//! the packages they name, and the findings of scans (package and host) for the service's UI.
//! Plain columns and JSON bodies, so the store does not depend on `palisade-vuln`.

use crate::StoreError;

/// One advisory document to keep.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAdvisory {
    pub id: String,
    /// Where it was imported from (`--from`).
    pub source: String,
    /// The file (and zip entry) it was read from.
    pub file: String,
    pub modified: Option<String>,
    /// The document as published (JSON or YAML text).
    pub body: String,
    /// (OSV ecosystem without release, package name as the ecosystem compares it).
    pub packages: Vec<(String, String)>,
}

/// What one advisory import changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdvisorySave {
    pub inserted: u64,
    pub updated: u64,
    /// Stored advisories that the source now marks withdrawn.
    pub removed: u64,
}

/// An advisory document read back: its file name (which tells JSON from YAML) and text.
#[derive(Debug, Clone, PartialEq)]
pub struct AdvisoryBody {
    pub id: String,
    pub file: String,
    pub body: String,
}

/// One import source and when it was last refreshed.
#[derive(Debug, Clone, PartialEq)]
pub struct AdvisorySource {
    pub source: String,
    pub updated_at: i64,
    pub advisories: u64,
}

/// What the advisory tables hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdvisoryStatus {
    /// Advisories per ecosystem.
    pub ecosystems: Vec<(String, u64)>,
    pub sources: Vec<AdvisorySource>,
}

/// A scan to record, with its findings.
#[derive(Debug, Clone, Default)]
pub struct NewVulnScan {
    pub started_at: i64,
    pub finished_at: i64,
    pub targets: Vec<String>,
    pub packages: u64,
    pub findings: Vec<NewVulnFinding>,
}

/// One finding: `kind` is `package` or `host`; `body` the whole finding as JSON.
#[derive(Debug, Clone)]
pub struct NewVulnFinding {
    pub kind: String,
    pub id: String,
    pub target: String,
    pub severity: String,
    pub priority: f64,
    pub body: serde_json::Value,
}

/// A recorded scan.
#[derive(Debug, Clone, PartialEq)]
pub struct VulnScanRecord {
    pub id: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub targets: Vec<String>,
    pub packages: u64,
    pub findings: u64,
}

/// A recorded finding.
#[derive(Debug, Clone, PartialEq)]
pub struct VulnFindingRecord {
    pub scan_id: i64,
    pub kind: String,
    pub id: String,
    pub target: String,
    pub severity: String,
    pub priority: f64,
    pub body: serde_json::Value,
}

/// Advisories and scan results.
pub trait VulnStore {
    /// Inserts or replaces advisories by id and deletes `withdrawn` ones, in one transaction;
    /// records the source's refresh time `now` (ms).
    fn save_advisories(
        &mut self,
        source: &str,
        advisories: &[StoredAdvisory],
        withdrawn: &[String],
        now: i64,
    ) -> Result<AdvisorySave, StoreError>;
    /// The advisories naming any of `packages` (ecosystem, name).
    fn advisories_for(
        &self,
        packages: &[(String, String)],
    ) -> Result<Vec<AdvisoryBody>, StoreError>;
    /// Every stored advisory.
    fn all_advisories(&self) -> Result<Vec<AdvisoryBody>, StoreError>;
    /// Advisory counts per ecosystem, and the sources.
    fn advisory_status(&self) -> Result<AdvisoryStatus, StoreError>;
    /// Records a scan and its findings; keeps only the newest `keep` scans. Returns its id.
    fn save_vuln_scan(&mut self, scan: &NewVulnScan, keep: usize) -> Result<i64, StoreError>;
    /// The newest scan, if any.
    fn latest_vuln_scan(&self) -> Result<Option<VulnScanRecord>, StoreError>;
    /// A scan's findings, highest priority first.
    fn vuln_findings(
        &self,
        scan_id: i64,
        limit: usize,
    ) -> Result<Vec<VulnFindingRecord>, StoreError>;
}

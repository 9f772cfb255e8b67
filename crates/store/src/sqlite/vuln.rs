//! [`VulnStore`] for SQLite (migration 7).

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::StoreError;
use crate::vuln::{
    AdvisoryBody, AdvisorySave, AdvisorySource, AdvisoryStatus, NewVulnScan, StoredAdvisory,
    VulnFindingRecord, VulnScanRecord, VulnStore,
};

impl VulnStore for SqliteStore {
    fn save_advisories(
        &mut self,
        source: &str,
        advisories: &[StoredAdvisory],
        withdrawn: &[String],
        now: i64,
    ) -> Result<AdvisorySave, StoreError> {
        let tx = self.conn.transaction()?;
        let mut save = AdvisorySave::default();
        {
            let mut exists = tx.prepare("SELECT 1 FROM vuln_advisories WHERE id = ?1")?;
            let mut upsert = tx.prepare(
                "INSERT INTO vuln_advisories (id, source, file, modified, body, imported_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(id) DO UPDATE SET source = excluded.source, file = excluded.file,
                     modified = excluded.modified, body = excluded.body,
                     imported_at = excluded.imported_at",
            )?;
            let mut clear = tx.prepare("DELETE FROM vuln_packages WHERE advisory_id = ?1")?;
            let mut add = tx.prepare(
                "INSERT OR IGNORE INTO vuln_packages (ecosystem, name, advisory_id) VALUES (?1, ?2, ?3)",
            )?;
            for a in advisories {
                let known = exists.exists(params![a.id])?;
                upsert.execute(params![a.id, source, a.file, a.modified, a.body, now])?;
                clear.execute(params![a.id])?;
                for (eco, name) in &a.packages {
                    add.execute(params![eco, name, a.id])?;
                }
                if known {
                    save.updated += 1;
                } else {
                    save.inserted += 1;
                }
            }
            let mut remove = tx.prepare("DELETE FROM vuln_advisories WHERE id = ?1")?;
            for id in withdrawn {
                clear.execute(params![id])?;
                save.removed += remove.execute(params![id])? as u64;
            }
        }
        tx.execute(
            "INSERT INTO vuln_sources (source, updated_at) VALUES (?1, ?2)
             ON CONFLICT(source) DO UPDATE SET updated_at = excluded.updated_at",
            params![source, now],
        )?;
        tx.commit()?;
        Ok(save)
    }

    fn advisories_for(
        &self,
        packages: &[(String, String)],
    ) -> Result<Vec<AdvisoryBody>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.id, a.file, a.body FROM vuln_packages p JOIN vuln_advisories a ON a.id = p.advisory_id
             WHERE p.ecosystem = ?1 AND p.name = ?2",
        )?;
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (eco, name) in packages {
            let rows = stmt.query_map(params![eco, name], |r| {
                Ok(AdvisoryBody {
                    id: r.get(0)?,
                    file: r.get(1)?,
                    body: r.get(2)?,
                })
            })?;
            for row in rows {
                let row = row?;
                if seen.insert(row.id.clone()) {
                    out.push(row);
                }
            }
        }
        Ok(out)
    }

    fn all_advisories(&self) -> Result<Vec<AdvisoryBody>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, file, body FROM vuln_advisories ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok(AdvisoryBody {
                id: r.get(0)?,
                file: r.get(1)?,
                body: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn advisory_status(&self) -> Result<AdvisoryStatus, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT ecosystem, count(DISTINCT advisory_id) FROM vuln_packages GROUP BY ecosystem ORDER BY ecosystem",
        )?;
        let counts = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
            .collect::<Result<_, _>>()?;
        let mut stmt = self.conn.prepare(
            "SELECT s.source, s.updated_at, (SELECT count(*) FROM vuln_advisories a WHERE a.source = s.source)
             FROM vuln_sources s ORDER BY s.source",
        )?;
        let sources = stmt
            .query_map([], |r| {
                Ok(AdvisorySource {
                    source: r.get(0)?,
                    updated_at: r.get(1)?,
                    advisories: r.get::<_, i64>(2)? as u64,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(AdvisoryStatus {
            ecosystems: counts,
            sources,
        })
    }

    fn save_vuln_scan(&mut self, scan: &NewVulnScan, keep: usize) -> Result<i64, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO vuln_scans (started_at, finished_at, targets, packages, findings)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                scan.started_at,
                scan.finished_at,
                serde_json::to_string(&scan.targets).unwrap_or_default(),
                scan.packages as i64,
                scan.findings.len() as i64
            ],
        )?;
        let id = tx.last_insert_rowid();
        {
            let mut add = tx.prepare(
                "INSERT INTO vuln_findings (scan_id, kind, id, target, severity, priority, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for f in &scan.findings {
                add.execute(params![
                    id,
                    f.kind,
                    f.id,
                    f.target,
                    f.severity,
                    f.priority,
                    f.body.to_string()
                ])?;
            }
        }
        tx.execute(
            "DELETE FROM vuln_scans WHERE id NOT IN (SELECT id FROM vuln_scans ORDER BY id DESC LIMIT ?1)",
            params![keep.max(1) as i64],
        )?;
        tx.commit()?;
        Ok(id)
    }

    fn latest_vuln_scan(&self) -> Result<Option<VulnScanRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, started_at, finished_at, targets, packages, findings FROM vuln_scans
                 ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    let targets: String = r.get(3)?;
                    Ok(VulnScanRecord {
                        id: r.get(0)?,
                        started_at: r.get(1)?,
                        finished_at: r.get(2)?,
                        targets: serde_json::from_str(&targets).unwrap_or_default(),
                        packages: r.get::<_, i64>(4)? as u64,
                        findings: r.get::<_, i64>(5)? as u64,
                    })
                },
            )
            .optional()?)
    }

    fn vuln_findings(
        &self,
        scan_id: i64,
        limit: usize,
    ) -> Result<Vec<VulnFindingRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT scan_id, kind, id, target, severity, priority, body FROM vuln_findings
             WHERE scan_id = ?1 ORDER BY priority DESC, rowid LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![scan_id, limit as i64], |r| {
            let body: String = r.get(6)?;
            Ok(VulnFindingRecord {
                scan_id: r.get(0)?,
                kind: r.get(1)?,
                id: r.get(2)?,
                target: r.get(3)?,
                severity: r.get(4)?,
                priority: r.get(5)?,
                body: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vuln::NewVulnFinding;

    fn adv(id: &str, pkgs: &[(&str, &str)]) -> StoredAdvisory {
        StoredAdvisory {
            id: id.into(),
            source: "s".into(),
            file: format!("{id}.json"),
            modified: None,
            body: format!("{{\"id\":\"{id}\"}}"),
            packages: pkgs
                .iter()
                .map(|(e, n)| ((*e).into(), (*n).into()))
                .collect(),
        }
    }

    #[test]
    fn advisories_upsert_index_and_withdraw() {
        let mut s = SqliteStore::in_memory().unwrap();
        let a = adv("A-1", &[("crates.io", "foo")]);
        let b = adv("B-1", &[("PyPI", "bar"), ("crates.io", "foo")]);
        let save = s.save_advisories("dir", &[a.clone(), b], &[], 1).unwrap();
        assert_eq!(
            save,
            AdvisorySave {
                inserted: 2,
                updated: 0,
                removed: 0
            }
        );
        let got = s
            .advisories_for(&[("crates.io".into(), "foo".into())])
            .unwrap();
        assert_eq!(got.len(), 2);
        let save = s.save_advisories("dir", &[a], &["B-1".into()], 2).unwrap();
        assert_eq!(
            save,
            AdvisorySave {
                inserted: 0,
                updated: 1,
                removed: 1
            }
        );
        assert_eq!(
            s.advisories_for(&[("PyPI".into(), "bar".into())])
                .unwrap()
                .len(),
            0
        );
        let status = s.advisory_status().unwrap();
        assert_eq!(status.ecosystems, [("crates.io".to_owned(), 1)]);
        assert_eq!(status.sources[0].updated_at, 2);
    }

    #[test]
    fn scans_keep_the_newest() {
        let mut s = SqliteStore::in_memory().unwrap();
        for i in 0..3 {
            let scan = NewVulnScan {
                started_at: i,
                finished_at: i,
                targets: vec!["/".into()],
                packages: 5,
                findings: vec![NewVulnFinding {
                    kind: "package".into(),
                    id: format!("X-{i}"),
                    target: "foo".into(),
                    severity: "high".into(),
                    priority: 50.0,
                    body: serde_json::json!({"i": i}),
                }],
            };
            s.save_vuln_scan(&scan, 2).unwrap();
        }
        let latest = s.latest_vuln_scan().unwrap().unwrap();
        assert_eq!(latest.started_at, 2);
        let f = s.vuln_findings(latest.id, 10).unwrap();
        assert_eq!(f[0].body["i"], 2);
        let n: i64 = s
            .conn
            .query_row("SELECT count(*) FROM vuln_scans", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }
}

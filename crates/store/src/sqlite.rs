//! SQLite implementation of [`Store`].

use std::path::Path;

use chrono::{DateTime, Utc};
use palisade_event::{Alert, Severity};
use rusqlite::{Connection, params};

use crate::{
    AlertFilter, AuditRecord, EventFilter, IncidentChange, IncidentFilter, IncidentRecord,
    IndicatorFilter, IndicatorSave, NewIncident, NewToken, NoteRecord, RunRecord, Series,
    ServeCommit, ServeCommitted, Store, StoreError, StoredAlert, StoredEvent, StoredIndicator,
    TokenRecord,
};

/// Each entry migrates the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: runs and their alerts.
    "CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        started TEXT NOT NULL,
        finished TEXT NOT NULL,
        inputs TEXT NOT NULL,
        rule_count INTEGER NOT NULL,
        events INTEGER NOT NULL,
        skipped_records INTEGER NOT NULL
    );
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        detector TEXT NOT NULL,
        rule_id TEXT NOT NULL,
        rule_title TEXT NOT NULL,
        severity TEXT NOT NULL,
        ts TEXT,
        host TEXT,
        source TEXT,
        position INTEGER,
        event TEXT,
        evidence TEXT NOT NULL
    );
    CREATE INDEX alerts_by_time ON alerts(ts);
    CREATE INDEX alerts_by_rule ON alerts(rule_id);
    CREATE INDEX alerts_by_host ON alerts(host);",
    // 2: named opaque state blobs (detector baselines such as UEBA snapshots), one row per
    // name, replaced on save.
    "CREATE TABLE state (
        name TEXT PRIMARY KEY,
        bytes BLOB NOT NULL,
        updated TEXT NOT NULL
    );",
    // 3: incidents (triage), their alerts and notes, and the audit log of analyst actions.
    "CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs(id),
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        status TEXT NOT NULL,
        owner TEXT,
        priority REAL NOT NULL,
        title TEXT NOT NULL,
        reason TEXT NOT NULL,
        first_seen TEXT,
        last_seen TEXT,
        alert_count INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX incidents_by_status ON incidents(status, priority);
    CREATE TABLE incident_alerts (
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        alert_id INTEGER NOT NULL REFERENCES alerts(id),
        PRIMARY KEY (incident_id, alert_id)
    );
    CREATE TABLE incident_notes (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        author TEXT NOT NULL,
        at TEXT NOT NULL,
        text TEXT NOT NULL
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
    );",
    // 4: threat-intel indicators (`palisade intel import`), one row per stable id (source +
    // kind + value), replaced when re-imported.
    "CREATE TABLE indicators (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        source TEXT NOT NULL,
        confidence INTEGER NOT NULL,
        valid_from TEXT,
        valid_until TEXT,
        description TEXT,
        labels TEXT NOT NULL,
        reference TEXT,
        imported TEXT NOT NULL,
        origin TEXT
    );
    CREATE INDEX indicators_by_source ON indicators(source);",
    // 5: `palisade serve`: events kept for search (by WAL sequence number, so a replayed
    // record can never be stored twice), and API tokens (only their SHA-256 is stored).
    "CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        ts TEXT,
        source TEXT NOT NULL,
        host TEXT,
        user TEXT,
        source_ip TEXT,
        destination_ip TEXT,
        body TEXT NOT NULL
    );
    CREATE INDEX events_by_time ON events(ts);
    CREATE INDEX events_by_host ON events(host);
    CREATE INDEX events_by_user ON events(user);
    CREATE INDEX events_by_source_ip ON events(source_ip);
    CREATE INDEX events_by_destination_ip ON events(destination_ip);
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created TEXT NOT NULL,
        revoked TEXT
    );
    CREATE TABLE entity_risk (
        entity TEXT NOT NULL,
        at TEXT NOT NULL,
        risk REAL NOT NULL
    );
    CREATE INDEX entity_risk_by_entity ON entity_risk(entity, at);",
    // 6: response. Decisions published to bouncers (CrowdSec's LAPI protocol), with a change
    // feed whose sequence numbers a bouncer's cursor follows: SQLite serialises writers, so a
    // change's number is taken inside its committing transaction and a reader can never see
    // a later number before an earlier one (no timestamp races). Times are integer ms. A
    // decision's address range is kept as family + first/last address (16 bytes, IPv4
    // mapped) so containment is a BLOB range comparison. Bouncers keep only their key's
    // SHA-256. The respond engine's actions, and its log, which triggers make append-only.
    "CREATE TABLE bouncers (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        key_hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        last_pull_at INTEGER,
        last_ip TEXT,
        user_agent TEXT,
        cursor INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE response_actions (
        id INTEGER PRIMARY KEY,
        created_at INTEGER NOT NULL,
        playbook TEXT NOT NULL,
        incident_id INTEGER,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('auto', 'approve', 'dry-run')),
        state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'done', 'failed', 'refused',
            'denied', 'reverted', 'expired', 'dry-run')),
        action_json TEXT NOT NULL,
        revert_json TEXT,
        expires_at INTEGER,
        detail TEXT NOT NULL DEFAULT '',
        decided_by TEXT,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX response_actions_by_state ON response_actions(state, expires_at);
    CREATE INDEX response_actions_by_incident ON response_actions(incident_id);
    CREATE TABLE response_log (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action_id INTEGER REFERENCES response_actions(id),
        event TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX response_log_by_action ON response_log(action_id, id);
    CREATE TRIGGER response_log_no_update BEFORE UPDATE ON response_log
        BEGIN SELECT RAISE(ABORT, 'response_log is append-only'); END;
    CREATE TRIGGER response_log_no_delete BEFORE DELETE ON response_log
        BEGIN SELECT RAISE(ABORT, 'response_log is append-only'); END;
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        origin TEXT NOT NULL DEFAULT 'palisade',
        type TEXT NOT NULL DEFAULT 'ban',
        scope TEXT NOT NULL CHECK (scope IN ('Ip', 'Range')),
        value TEXT NOT NULL,
        scenario TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        until INTEGER,
        deleted_at INTEGER,
        action_id INTEGER REFERENCES response_actions(id),
        simulated INTEGER NOT NULL DEFAULT 0,
        family INTEGER NOT NULL,
        start_ip BLOB NOT NULL,
        end_ip BLOB NOT NULL
    );
    CREATE INDEX decisions_live ON decisions(deleted_at, until);
    CREATE INDEX decisions_by_value ON decisions(value, type);
    CREATE INDEX decisions_by_span ON decisions(family, start_ip, end_ip);
    CREATE TABLE decision_changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        decision_id INTEGER NOT NULL REFERENCES decisions(id),
        kind TEXT NOT NULL CHECK (kind IN ('new', 'deleted'))
    );",
    // 7: vulnerability data (palisade-vuln). OSV advisories as published (the body is the
    // document's text; `file` ends in .json or .yaml and says which), indexed by the
    // (ecosystem, name) pairs they affect so a scan loads only what its packages need;
    // the sources refreshed; and scans with their findings (package and host) as JSON.
    "CREATE TABLE vuln_advisories (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        file TEXT NOT NULL,
        modified TEXT,
        body TEXT NOT NULL,
        imported_at INTEGER NOT NULL
    );
    CREATE TABLE vuln_packages (
        ecosystem TEXT NOT NULL,
        name TEXT NOT NULL,
        advisory_id TEXT NOT NULL REFERENCES vuln_advisories(id) ON DELETE CASCADE,
        PRIMARY KEY (ecosystem, name, advisory_id)
    );
    CREATE INDEX vuln_packages_by_advisory ON vuln_packages(advisory_id);
    CREATE TABLE vuln_sources (
        source TEXT PRIMARY KEY,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE vuln_scans (
        id INTEGER PRIMARY KEY,
        started_at INTEGER NOT NULL,
        finished_at INTEGER NOT NULL,
        targets TEXT NOT NULL,
        packages INTEGER NOT NULL,
        findings INTEGER NOT NULL
    );
    CREATE TABLE vuln_findings (
        scan_id INTEGER NOT NULL REFERENCES vuln_scans(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('package', 'host')),
        id TEXT NOT NULL,
        target TEXT NOT NULL,
        severity TEXT NOT NULL,
        priority REAL NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX vuln_findings_by_scan ON vuln_findings(scan_id, priority);",
];

mod decisions;
mod vuln;

/// One SQLite database file.
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let name = path.display().to_string();
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: name.clone(),
            source,
        })?;
        Self::init(conn, &name)
    }

    /// Sets SQLite's automatic checkpoint threshold for this connection (pages; 0 turns it
    /// off). A writer that must stay fast turns it off and lets another connection call
    /// [`SqliteStore::checkpoint`].
    pub fn set_autocheckpoint(&self, pages: i64) -> Result<(), StoreError> {
        self.conn.pragma_update(None, "wal_autocheckpoint", pages)?;
        Ok(())
    }

    /// Copies committed pages from the write-ahead log into the database without waiting for
    /// readers or writers (SQLite's PASSIVE checkpoint).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// An in-memory database, for tests and dry runs.
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::init(Connection::open_in_memory()?, ":memory:")
    }

    fn init(conn: Connection, name: &str) -> Result<SqliteStore, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Keep the -wal file from staying at its high-water mark after a checkpoint.
        conn.pragma_update(None, "journal_size_limit", 64i64 << 20)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let supported = MIGRATIONS.len() as i64;
        if version > supported {
            return Err(StoreError::TooNew {
                path: name.to_owned(),
                found: version,
                supported,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            conn.execute_batch(&format!(
                "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
                i + 1
            ))?;
        }
        Ok(SqliteStore { conn })
    }
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn stored_alert(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredAlert> {
    let severity: String = r.get(5)?;
    let ts: Option<String> = r.get(6)?;
    let event: Option<String> = r.get(10)?;
    Ok(StoredAlert {
        id: r.get(0)?,
        run_id: r.get(1)?,
        detector: r.get(2)?,
        rule_id: r.get(3)?,
        rule_title: r.get(4)?,
        severity: severity.parse().unwrap_or(Severity::Medium),
        timestamp: ts.and_then(|t| parse_ts(&t)),
        host: r.get(7)?,
        source: r.get(8)?,
        position: r.get::<_, Option<i64>>(9)?.map(|p| p as u64),
        event: event.and_then(|e| serde_json::from_str(&e).ok()),
    })
}

/// Inserts alerts of a run; returns their ids in order.
fn insert_alerts(
    tx: &rusqlite::Transaction<'_>,
    run_id: i64,
    alerts: &[Alert],
) -> Result<Vec<i64>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO alerts (run_id, detector, rule_id, rule_title, severity, ts, host, source, position, event, evidence)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    let mut ids = Vec::with_capacity(alerts.len());
    for a in alerts {
        let origin = a.origins.first();
        stmt.execute(params![
            run_id,
            a.detector,
            a.rule.id,
            a.rule.title,
            a.severity.as_str(),
            a.timestamp.as_ref().map(ts),
            a.host,
            origin.map(|o| o.source.to_string()),
            origin.map(|o| o.position as i64),
            a.event.as_ref().map(|e| e.fields_json().to_string()),
            serde_json::to_string(&a.evidence).unwrap_or_default(),
        ])?;
        ids.push(tx.last_insert_rowid());
    }
    Ok(ids)
}

/// Inserts an incident (`existing: None`) or rewrites an existing one's scores, summary and
/// body (status, owner and notes stay), then links `alert_ids`; returns its id, or `None` when
/// the existing one is gone.
fn write_incident(
    tx: &rusqlite::Transaction<'_>,
    existing: Option<i64>,
    i: &NewIncident,
    alert_ids: impl IntoIterator<Item = i64>,
    now: &str,
) -> Result<Option<i64>, StoreError> {
    let body = i.body.to_string();
    let (first, last) = (i.first_seen.as_ref().map(ts), i.last_seen.as_ref().map(ts));
    let id = match existing {
        Some(id) => {
            let n = tx
                .prepare_cached(
                    "UPDATE incidents SET updated = ?2, priority = ?3, title = ?4, reason = ?5,
                         first_seen = ?6, last_seen = ?7, alert_count = ?8, body = ?9
                     WHERE id = ?1",
                )?
                .execute(params![
                    id,
                    now,
                    i.priority,
                    i.title,
                    i.reason,
                    first,
                    last,
                    i.alert_count,
                    body
                ])?;
            if n != 1 {
                return Ok(None);
            }
            id
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO incidents (run_id, created, updated, status, owner, priority, title, reason,
                                        first_seen, last_seen, alert_count, body)
                 VALUES (?1, ?2, ?2, ?3, NULL, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                i.run_id,
                now,
                i.status,
                i.priority,
                i.title,
                i.reason,
                first,
                last,
                i.alert_count,
                body
            ])?;
            tx.last_insert_rowid()
        }
    };
    let mut link = tx.prepare_cached(
        "INSERT OR IGNORE INTO incident_alerts (incident_id, alert_id) VALUES (?1, ?2)",
    )?;
    for a in alert_ids {
        link.execute(params![id, a])?;
    }
    Ok(Some(id))
}

fn stored_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    let body: String = r.get(7)?;
    Ok(StoredEvent {
        seq: r.get(0)?,
        timestamp: parse_ts_opt(r.get(1)?),
        source: r.get(2)?,
        host: r.get(3)?,
        user: r.get(4)?,
        source_ip: r.get(5)?,
        destination_ip: r.get(6)?,
        body: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    })
}

fn token_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        created: parse_ts_opt(r.get(3)?).unwrap_or_default(),
        revoked: parse_ts_opt(r.get(4)?),
    })
}

fn parse_ts_opt(t: Option<String>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|d| d.with_timezone(&Utc))
}

impl Store for SqliteStore {
    fn save_run(&mut self, run: &RunRecord, alerts: &[Alert]) -> Result<i64, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO runs (command, started, finished, inputs, rule_count, events, skipped_records)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                run.command,
                ts(&run.started),
                ts(&run.finished),
                serde_json::to_string(&run.inputs).unwrap_or_default(),
                run.rule_count as i64,
                run.events as i64,
                run.skipped_records as i64
            ],
        )?;
        let run_id = tx.last_insert_rowid();
        insert_alerts(&tx, run_id, alerts)?;
        tx.commit()?;
        Ok(run_id)
    }

    fn alerts(&self, run: Option<i64>) -> Result<Vec<StoredAlert>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, run_id, detector, rule_id, rule_title, severity, ts, host, source, position, event
             FROM alerts WHERE ?1 IS NULL OR run_id = ?1 ORDER BY ts, id",
        )?;
        let rows = stmt.query_map(params![run], stored_alert)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn save_state(&mut self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO state (name, bytes, updated) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET bytes = excluded.bytes, updated = excluded.updated",
            params![name, bytes, ts(&Utc::now())],
        )?;
        Ok(())
    }

    fn alert_ids(&self, run: i64) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM alerts WHERE run_id = ?1 ORDER BY id")?;
        let rows = stmt.query_map(params![run], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn latest_run(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT MAX(id) FROM runs", [], |r| r.get(0))?)
    }

    fn save_incidents(&mut self, incidents: &[NewIncident]) -> Result<Vec<i64>, StoreError> {
        let tx = self.conn.transaction()?;
        let now = ts(&Utc::now());
        let mut ids = Vec::with_capacity(incidents.len());
        for i in incidents {
            if let Some(id) = write_incident(&tx, None, i, i.alert_ids.iter().copied(), &now)? {
                ids.push(id);
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<IncidentRecord>, StoreError> {
        let mut sql = String::from(
            "SELECT id, run_id, created, updated, status, owner, priority, title, reason,
                    first_seen, last_seen, alert_count, body FROM incidents WHERE 1 = 1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if !filter.statuses.is_empty() {
            sql.push_str(" AND status IN (");
            for (k, s) in filter.statuses.iter().enumerate() {
                sql.push_str(if k == 0 { "?" } else { ", ?" });
                args.push(s.clone().into());
            }
            sql.push(')');
        }
        if let Some(run) = filter.run {
            sql.push_str(" AND run_id = ?");
            args.push(run.into());
        }
        if let Some(min) = filter.min_priority {
            sql.push_str(" AND priority >= ?");
            args.push(min.into());
        }
        if let Some(id) = filter.id {
            sql.push_str(" AND id = ?");
            args.push(id.into());
        }
        sql.push_str(" ORDER BY priority DESC, last_seen DESC, id");
        if let Some(limit) = filter.limit {
            sql.push_str(" LIMIT ?");
            args.push((limit as i64).into());
        }
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
            let t = |k: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
                Ok(r.get::<_, Option<String>>(k)?.and_then(|s| parse_ts(&s)))
            };
            let body: String = r.get(12)?;
            Ok(IncidentRecord {
                id: r.get(0)?,
                run_id: r.get(1)?,
                created: t(2)?.unwrap_or_default(),
                updated: t(3)?.unwrap_or_default(),
                status: r.get(4)?,
                owner: r.get(5)?,
                priority: r.get(6)?,
                title: r.get(7)?,
                reason: r.get(8)?,
                first_seen: t(9)?,
                last_seen: t(10)?,
                alert_count: r.get(11)?,
                body: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn update_incident(&mut self, id: i64, change: &IncidentChange) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let now = ts(&Utc::now());
        let n = tx.execute(
            "UPDATE incidents SET updated = ?2,
                 status = COALESCE(?3, status),
                 owner = CASE WHEN ?4 IS NULL THEN owner WHEN ?4 = '' THEN NULL ELSE ?4 END
             WHERE id = ?1",
            params![id, now, change.status, change.owner],
        )?;
        if n == 1 {
            if let Some(note) = &change.note {
                tx.execute(
                    "INSERT INTO incident_notes (incident_id, author, at, text) VALUES (?1, ?2, ?3, ?4)",
                    params![id, change.actor, now, note],
                )?;
            }
            tx.execute(
                "INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    now,
                    change.actor,
                    "incident.update",
                    format!("incident:{id}"),
                    serde_json::json!({
                        "status": change.status,
                        "owner": change.owner,
                        "note": change.note.is_some(),
                    })
                    .to_string()
                ],
            )?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    fn notes(&self, incident: i64) -> Result<Vec<NoteRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT author, at, text FROM incident_notes WHERE incident_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![incident], |r| {
            let at: String = r.get(1)?;
            Ok(NoteRecord {
                author: r.get(0)?,
                at: parse_ts(&at).unwrap_or_default(),
                text: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn incident_alerts(&self, incident: i64) -> Result<Vec<StoredAlert>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT a.id, a.run_id, a.detector, a.rule_id, a.rule_title, a.severity, a.ts, a.host,
                    a.source, a.position, a.event
             FROM alerts a JOIN incident_alerts l ON l.alert_id = a.id
             WHERE l.incident_id = ?1 ORDER BY a.ts, a.id",
        )?;
        let rows = stmt.query_map(params![incident], stored_alert)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn audit(
        &mut self,
        actor: &str,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![ts(&Utc::now()), actor, action, target, detail],
        )?;
        Ok(())
    }

    fn audit_log(&self, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64], |r| {
            let at: String = r.get(0)?;
            Ok(AuditRecord {
                at: parse_ts(&at).unwrap_or_default(),
                actor: r.get(1)?,
                action: r.get(2)?,
                target: r.get(3)?,
                detail: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn save_indicators(
        &mut self,
        indicators: &[StoredIndicator],
    ) -> Result<IndicatorSave, StoreError> {
        let tx = self.conn.transaction()?;
        let count = |tx: &rusqlite::Transaction<'_>| -> Result<i64, StoreError> {
            Ok(tx.query_row("SELECT count(*) FROM indicators", [], |r| r.get(0))?)
        };
        let before = count(&tx)?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO indicators (id, kind, value, source, confidence, valid_from, valid_until,
                     description, labels, reference, imported, origin)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, value = excluded.value,
                     source = excluded.source, confidence = excluded.confidence,
                     valid_from = excluded.valid_from, valid_until = excluded.valid_until,
                     description = excluded.description, labels = excluded.labels,
                     reference = excluded.reference, imported = excluded.imported,
                     origin = excluded.origin",
            )?;
            for i in indicators {
                stmt.execute(params![
                    i.id,
                    i.kind,
                    i.value,
                    i.source,
                    i64::from(i.confidence),
                    i.valid_from.as_ref().map(ts),
                    i.valid_until.as_ref().map(ts),
                    i.description,
                    serde_json::to_string(&i.labels).unwrap_or_else(|_| "[]".into()),
                    i.reference,
                    ts(&i.imported),
                    i.origin,
                ])?;
            }
        }
        let after = count(&tx)?;
        tx.commit()?;
        let added = (after - before).max(0) as u64;
        Ok(IndicatorSave {
            added,
            updated: indicators.len() as u64 - added.min(indicators.len() as u64),
        })
    }

    fn indicators(&self, source: Option<&str>) -> Result<Vec<StoredIndicator>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, kind, value, source, confidence, valid_from, valid_until, description,
                    labels, reference, imported, origin
             FROM indicators WHERE ?1 IS NULL OR source = ?1 ORDER BY source, kind, value",
        )?;
        let rows = stmt.query_map(params![source], |r| {
            let labels: String = r.get(8)?;
            Ok(StoredIndicator {
                id: r.get(0)?,
                kind: r.get(1)?,
                value: r.get(2)?,
                source: r.get(3)?,
                confidence: r.get::<_, i64>(4)?.clamp(0, 100) as u8,
                valid_from: parse_ts_opt(r.get(5)?),
                valid_until: parse_ts_opt(r.get(6)?),
                description: r.get(7)?,
                labels: serde_json::from_str(&labels).unwrap_or_default(),
                reference: r.get(9)?,
                imported: parse_ts_opt(r.get(10)?).unwrap_or_default(),
                origin: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn remove_indicators(&mut self, filter: IndicatorFilter<'_>) -> Result<u64, StoreError> {
        let n = match filter {
            IndicatorFilter::Source(s) => self
                .conn
                .execute("DELETE FROM indicators WHERE source = ?1", params![s])?,
            IndicatorFilter::Id(id) => self
                .conn
                .execute("DELETE FROM indicators WHERE id = ?1", params![id])?,
        };
        Ok(n as u64)
    }

    fn load_state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT bytes FROM state WHERE name = ?1")?;
        let mut rows = stmt.query(params![name])?;
        match rows.next()? {
            Some(r) => Ok(Some(r.get(0)?)),
            None => Ok(None),
        }
    }
    fn start_run(&mut self, run: &RunRecord) -> Result<i64, StoreError> {
        self.save_run(run, &[])
    }

    fn commit_serve(&mut self, c: &ServeCommit<'_>) -> Result<ServeCommitted, StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut ev = tx.prepare_cached(
                "INSERT OR IGNORE INTO events (seq, ts, source, host, user, source_ip, destination_ip, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for e in c.events {
                ev.execute(params![
                    e.seq,
                    e.timestamp.as_ref().map(ts),
                    e.source,
                    e.host,
                    e.user,
                    e.source_ip,
                    e.destination_ip,
                    e.body,
                ])?;
            }
        }
        let ids = insert_alerts(&tx, c.run_id, c.alerts)?;
        let mut incident_ids = Vec::with_capacity(c.incidents.len());
        let now = ts(&Utc::now());
        for w in c.incidents {
            // The write's alert ids are indices into this commit's alerts.
            let links = w
                .incident
                .alert_ids
                .iter()
                .filter_map(|&k| ids.get(k as usize).copied());
            incident_ids.push(write_incident(&tx, w.existing, &w.incident, links, &now)?);
        }
        if !c.risk.is_empty() {
            let mut stmt = tx
                .prepare_cached("INSERT INTO entity_risk (entity, at, risk) VALUES (?1, ?2, ?3)")?;
            for (e, at, r) in c.risk {
                stmt.execute(params![e, ts(at), r])?;
            }
        }
        tx.execute(
            "UPDATE runs SET finished = ?2, events = events + ?3, skipped_records = skipped_records + ?4
             WHERE id = ?1",
            params![
                c.run_id,
                ts(&Utc::now()),
                c.event_count as i64,
                c.skipped as i64
            ],
        )?;
        tx.execute(
            "INSERT INTO state (name, bytes, updated) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET bytes = excluded.bytes, updated = excluded.updated",
            params![
                c.checkpoint_name,
                c.checkpoint.to_le_bytes().to_vec(),
                ts(&Utc::now())
            ],
        )?;
        tx.commit()?;
        Ok(ServeCommitted {
            alert_ids: ids,
            incident_ids,
        })
    }

    fn events(&self, f: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let mut sql = String::from(
            "SELECT seq, ts, source, host, user, source_ip, destination_ip, body FROM events WHERE 1 = 1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(from) = &f.from {
            sql.push_str(" AND ts >= ?");
            args.push(ts(from).into());
        }
        if let Some(to) = &f.to {
            sql.push_str(" AND ts < ?");
            args.push(ts(to).into());
        }
        if let Some(before) = f.before_seq {
            sql.push_str(" AND seq < ?");
            args.push(before.into());
        }
        if let Some(entity) = &f.entity {
            sql.push_str(" AND (host = ? OR user = ? OR source_ip = ? OR destination_ip = ?)");
            for _ in 0..4 {
                args.push(entity.clone().into());
            }
        }
        for (field, value) in &f.fields {
            // The body is the event's flat field map: keys are whole field names, dots and
            // all, so the JSON path quotes them.
            sql.push_str(" AND CAST(json_extract(body, ?) AS TEXT) = ?");
            args.push(format!("$.\"{}\"", field.replace('"', "")).into());
            args.push(value.clone().into());
        }
        if let Some(text) = &f.text {
            sql.push_str(" AND instr(lower(body), lower(?)) > 0");
            args.push(text.clone().into());
        }
        sql.push_str(" ORDER BY seq DESC LIMIT ?");
        args.push((f.limit.max(1) as i64).into());
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), stored_event)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn prune_events(&mut self, keep: u64) -> Result<u64, StoreError> {
        let n = self.conn.execute(
            "DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?1",
            params![keep as i64],
        )?;
        Ok(n as u64)
    }

    fn event_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    fn risk_history(
        &self,
        entity: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, f64)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT at, risk FROM entity_risk WHERE entity = ?1 AND at >= ?2 ORDER BY at LIMIT 10000",
        )?;
        let rows = stmt.query_map(params![entity, ts(&since)], |r| {
            let at: String = r.get(0)?;
            Ok((parse_ts(&at).unwrap_or_default(), r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn recent_alerts(&self, f: &AlertFilter) -> Result<Vec<StoredAlert>, StoreError> {
        let mut sql = String::from(
            "SELECT id, run_id, detector, rule_id, rule_title, severity, ts, host, source, position, event
             FROM alerts WHERE 1 = 1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(rule) = &f.rule {
            sql.push_str(" AND rule_id = ?");
            args.push(rule.clone().into());
        }
        if let Some(host) = &f.host {
            sql.push_str(" AND host = ?");
            args.push(host.clone().into());
        }
        if let Some(d) = &f.detector {
            sql.push_str(" AND detector = ?");
            args.push(d.clone().into());
        }
        if let Some(from) = &f.from {
            sql.push_str(" AND ts >= ?");
            args.push(ts(from).into());
        }
        if let Some(b) = f.before_id {
            sql.push_str(" AND id < ?");
            args.push(b.into());
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        args.push((f.limit.max(1) as i64).into());
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), stored_alert)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn histogram(
        &self,
        what: Series,
        since: DateTime<Utc>,
        bucket_secs: i64,
    ) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError> {
        let table = match what {
            Series::Events => "events",
            Series::Alerts => "alerts",
        };
        let sql = format!(
            "SELECT CAST(strftime('%s', ts) AS INTEGER) / ?2 AS b, count(*) FROM {table}
             WHERE ts >= ?1 GROUP BY b ORDER BY b"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![ts(&since), bucket_secs.max(1)], |r| {
            let b: i64 = r.get(0)?;
            let n: i64 = r.get(1)?;
            Ok((
                DateTime::from_timestamp(b * bucket_secs.max(1), 0).unwrap_or_default(),
                n as u64,
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn create_token(&mut self, t: &NewToken) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO tokens (name, role, hash, created) VALUES (?1, ?2, ?3, ?4)",
            params![t.name, t.role, t.hash, ts(&Utc::now())],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, name, role, created, revoked FROM tokens WHERE hash = ?1",
        )?;
        let mut rows = stmt.query_map(params![hash], token_record)?;
        Ok(rows.next().transpose()?)
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, name, role, created, revoked FROM tokens ORDER BY id")?;
        let rows = stmt.query_map([], token_record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn revoke_token(&mut self, id: i64) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE tokens SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL",
            params![id, ts(&Utc::now())],
        )?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_event::alert::RuleInfo;
    use palisade_event::{Event, Origin};
    use std::sync::Arc;

    fn alert() -> Alert {
        let mut e = Event::new(Origin::new(Arc::from("a.evtx"), 7), "evtx");
        e.insert_named("EventID", 4688i64.into()).unwrap();
        Alert {
            detector: "sigma",
            rule: Arc::new(RuleInfo {
                id: "r1".into(),
                title: "Rule".into(),
                level: Some(Severity::High),
                ..RuleInfo::default()
            }),
            severity: Severity::High,
            timestamp: DateTime::from_timestamp(1_700_000_000, 0),
            host: Some("WS1".into()),
            evidence: vec![("EventID".into(), "4688".into())],
            event: Some(Arc::new(e.clone())),
            origins: vec![e.origin.clone()],
        }
    }

    fn run() -> RunRecord {
        RunRecord {
            command: "hunt".into(),
            started: Utc::now(),
            finished: Utc::now(),
            inputs: vec!["a.evtx".into()],
            rule_count: 1,
            events: 10,
            skipped_records: 0,
        }
    }

    #[test]
    fn round_trip() {
        let mut s = SqliteStore::in_memory().unwrap();
        let id = s.save_run(&run(), &[alert(), alert()]).unwrap();
        let got = s.alerts(Some(id)).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].rule_id, "r1");
        assert_eq!(got[0].severity, Severity::High);
        assert_eq!(got[0].position, Some(7));
        assert_eq!(got[0].event.as_ref().unwrap()["EventID"], 4688);
        assert!(s.alerts(Some(id + 1)).unwrap().is_empty());
    }

    #[test]
    fn file_database_reopens_and_migrates_once() {
        let dir = std::env::temp_dir().join(format!("palisade-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        {
            let mut s = SqliteStore::open(&path).unwrap();
            s.save_run(&run(), &[alert()]).unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.alerts(None).unwrap().len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn state_blobs_replace_and_survive_reopen() {
        let mut s = SqliteStore::in_memory().unwrap();
        assert_eq!(s.load_state("ueba").unwrap(), None);
        s.save_state("ueba", b"one").unwrap();
        s.save_state("ueba", &[0, 1, 2, 255]).unwrap();
        s.save_state("other", b"").unwrap();
        assert_eq!(s.load_state("ueba").unwrap(), Some(vec![0, 1, 2, 255]));
        assert_eq!(s.load_state("other").unwrap(), Some(Vec::new()));

        let dir = std::env::temp_dir().join(format!("palisade-store-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let big: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        {
            let mut s = SqliteStore::open(&path).unwrap();
            s.save_state("ueba", &big).unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.load_state("ueba").unwrap(), Some(big));
        assert_eq!(s.load_state("missing").unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn version_one_database_gains_the_state_table() {
        let dir = std::env::temp_dir().join(format!("palisade-store-v1-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&format!("{}; PRAGMA user_version = 1;", MIGRATIONS[0]))
                .unwrap();
        }
        let mut s = SqliteStore::open(&path).unwrap();
        s.save_state("x", b"y").unwrap();
        let v: i64 = s
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn indicator(id: &str, source: &str, confidence: u8) -> StoredIndicator {
        StoredIndicator {
            id: id.into(),
            kind: "domain".into(),
            value: format!("{id}.example"),
            source: source.into(),
            confidence,
            valid_from: None,
            valid_until: DateTime::from_timestamp(1_900_000_000, 0),
            description: Some("c2".into()),
            labels: vec!["a".into(), "b".into()],
            reference: None,
            imported: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            origin: Some("feed.txt:3".into()),
        }
    }

    #[test]
    fn indicators_upsert_list_and_remove() {
        let mut s = SqliteStore::in_memory().unwrap();
        let saved = s
            .save_indicators(&[
                indicator("a", "f1", 50),
                indicator("b", "f1", 60),
                indicator("c", "f2", 70),
            ])
            .unwrap();
        assert_eq!(
            saved,
            IndicatorSave {
                added: 3,
                updated: 0
            }
        );
        let saved = s
            .save_indicators(&[indicator("a", "f1", 90), indicator("d", "f2", 10)])
            .unwrap();
        assert_eq!(
            saved,
            IndicatorSave {
                added: 1,
                updated: 1
            }
        );
        let all = s.indicators(None).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[0], indicator("a", "f1", 90));
        assert_eq!(s.indicators(Some("f2")).unwrap().len(), 2);
        assert_eq!(s.remove_indicators(IndicatorFilter::Id("b")).unwrap(), 1);
        assert_eq!(s.remove_indicators(IndicatorFilter::Id("b")).unwrap(), 0);
        assert_eq!(
            s.remove_indicators(IndicatorFilter::Source("f2")).unwrap(),
            2
        );
        let left: Vec<_> = s
            .indicators(None)
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(left, ["a"]);
    }

    #[test]
    fn refuses_newer_schema() {
        let dir = std::env::temp_dir().join(format!("palisade-store-new-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        assert!(matches!(
            SqliteStore::open(&path),
            Err(StoreError::TooNew { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
    #[test]
    fn incidents_link_alerts_take_changes_and_are_audited() {
        let mut s = SqliteStore::in_memory().unwrap();
        let run = s.save_run(&run(), &[alert(), alert(), alert()]).unwrap();
        let ids = s.alert_ids(run).unwrap();
        assert_eq!(ids.len(), 3);
        assert_eq!(s.latest_run().unwrap(), Some(run));
        let inc = |p: f64, alerts: Vec<i64>| NewIncident {
            run_id: Some(run),
            status: "new".into(),
            priority: p,
            title: format!("t{p}"),
            reason: "why".into(),
            first_seen: None,
            last_seen: None,
            alert_count: alerts.len() as i64,
            body: serde_json::json!({"p": p}),
            alert_ids: alerts,
        };
        let made = s
            .save_incidents(&[inc(40.0, vec![ids[0]]), inc(90.0, ids[1..].to_vec())])
            .unwrap();
        let all = s.incidents(&IncidentFilter::default()).unwrap();
        assert_eq!(
            all.iter().map(|i| i.priority).collect::<Vec<_>>(),
            [90.0, 40.0]
        );
        assert_eq!(all[0].body["p"], 90.0);
        assert_eq!(s.incident_alerts(made[1]).unwrap().len(), 2);

        let change = IncidentChange {
            actor: "ana".into(),
            status: Some("acknowledged".into()),
            owner: Some("ana".into()),
            note: Some("looking".into()),
        };
        assert!(s.update_incident(made[1], &change).unwrap());
        assert!(!s.update_incident(999, &change).unwrap());
        let open = s
            .incidents(&IncidentFilter {
                statuses: vec!["acknowledged".into()],
                ..IncidentFilter::default()
            })
            .unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].owner.as_deref(), Some("ana"));
        assert_eq!(s.notes(made[1]).unwrap()[0].text, "looking");
        // Clearing the owner, and the audit log names who did what.
        s.update_incident(
            made[1],
            &IncidentChange {
                actor: "bo".into(),
                owner: Some(String::new()),
                ..IncidentChange::default()
            },
        )
        .unwrap();
        let one = s
            .incidents(&IncidentFilter {
                id: Some(made[1]),
                ..IncidentFilter::default()
            })
            .unwrap();
        assert_eq!(one[0].owner, None);
        assert_eq!(one[0].status, "acknowledged");
        let log = s.audit_log(10).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].actor, "bo");
        assert_eq!(log[1].target, format!("incident:{}", made[1]));
    }

    fn row(seq: i64, host: &str, outcome: &str) -> crate::EventRow {
        crate::EventRow {
            seq,
            timestamp: Some(Utc::now()),
            source: "http".into(),
            host: Some(host.into()),
            user: None,
            source_ip: Some("10.0.0.9".into()),
            destination_ip: None,
            body: serde_json::json!({"host.name": host, "event.outcome": outcome}).to_string(),
        }
    }

    #[test]
    fn serve_commits_are_idempotent_per_sequence_number_and_searchable() {
        let mut s = SqliteStore::in_memory().unwrap();
        let run = s
            .start_run(&RunRecord {
                command: "serve".into(),
                started: Utc::now(),
                finished: Utc::now(),
                inputs: vec![],
                rule_count: 0,
                events: 0,
                skipped_records: 0,
            })
            .unwrap();
        let rows = [row(1, "a", "failure"), row(2, "b", "success")];
        let alerts = [alert()];
        let commit = ServeCommit {
            run_id: run,
            events: &rows,
            event_count: 2,
            skipped: 0,
            alerts: &alerts,
            incidents: &[],
            risk: &[],
            checkpoint_name: "serve.applied",
            checkpoint: 2,
        };
        assert_eq!(s.commit_serve(&commit).unwrap().alert_ids.len(), 1);
        // The same records again (a replay) add no event.
        s.commit_serve(&ServeCommit {
            alerts: &[],
            ..commit
        })
        .unwrap();
        assert_eq!(s.event_count().unwrap(), 2);
        assert_eq!(
            s.load_state("serve.applied").unwrap(),
            Some(2i64.to_le_bytes().to_vec())
        );
        let by_field = s
            .events(&EventFilter {
                fields: vec![("event.outcome".into(), "failure".into())],
                limit: 10,
                ..EventFilter::default()
            })
            .unwrap();
        assert_eq!(by_field.len(), 1);
        assert_eq!(by_field[0].host.as_deref(), Some("a"));
        let by_entity = s
            .events(&EventFilter {
                entity: Some("10.0.0.9".into()),
                limit: 10,
                ..EventFilter::default()
            })
            .unwrap();
        assert_eq!(by_entity.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(s.prune_events(1).unwrap(), 1);
        assert_eq!(s.event_count().unwrap(), 1);
    }

    #[test]
    fn tokens_are_found_by_hash_and_revoked_once() {
        let mut s = SqliteStore::in_memory().unwrap();
        let id = s
            .create_token(&NewToken {
                name: "ci".into(),
                role: "analyst".into(),
                hash: "ab".repeat(32),
            })
            .unwrap();
        let t = s.token_by_hash(&"ab".repeat(32)).unwrap().unwrap();
        assert_eq!((t.id, t.role.as_str(), t.revoked), (id, "analyst", None));
        assert!(s.token_by_hash("00").unwrap().is_none());
        assert!(s.revoke_token(id).unwrap());
        assert!(!s.revoke_token(id).unwrap());
        assert!(s.tokens().unwrap()[0].revoked.is_some());
    }
}

//! [`ResponseStore`] for SQLite: decisions and their change feed, bouncers, response actions
//! and the response log (migration 6).

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::SqliteStore;
use crate::decisions::{Span, parse_span};
use crate::{
    BouncerRecord, Decision, DecisionFilter, NewDecision, NewResponseAction, ResponseAction,
    ResponseActionFilter, ResponseLogRecord, ResponseStore, Scope, StoreError,
};

const DECISION_COLUMNS: &str = "id, uuid, origin, type, scope, value, scenario, reason, \
     created_at, until, deleted_at, action_id, simulated";

/// Active at `?now`.
const LIVE: &str = "deleted_at IS NULL AND (until IS NULL OR until > :now)";

fn decision(r: &rusqlite::Row<'_>) -> rusqlite::Result<Decision> {
    let scope: String = r.get(4)?;
    Ok(Decision {
        id: r.get(0)?,
        uuid: r.get(1)?,
        origin: r.get(2)?,
        kind: r.get(3)?,
        scope: Scope::parse(&scope).unwrap_or(Scope::Ip),
        value: r.get(5)?,
        scenario: r.get(6)?,
        reason: r.get(7)?,
        created_at: r.get(8)?,
        until: r.get(9)?,
        deleted_at: r.get(10)?,
        action_id: r.get(11)?,
        simulated: r.get(12)?,
    })
}

fn bouncer(r: &rusqlite::Row<'_>) -> rusqlite::Result<BouncerRecord> {
    Ok(BouncerRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        key_hash: r.get(2)?,
        created_at: r.get(3)?,
        last_pull_at: r.get(4)?,
        last_ip: r.get(5)?,
        user_agent: r.get(6)?,
        cursor: r.get(7)?,
    })
}

const BOUNCER_COLUMNS: &str =
    "id, name, key_hash, created_at, last_pull_at, last_ip, user_agent, cursor";

fn action(r: &rusqlite::Row<'_>) -> rusqlite::Result<ResponseAction> {
    Ok(ResponseAction {
        id: r.get(0)?,
        created_at: r.get(1)?,
        playbook: r.get(2)?,
        incident_id: r.get(3)?,
        kind: r.get(4)?,
        target: r.get(5)?,
        mode: r.get(6)?,
        state: r.get(7)?,
        action_json: r.get(8)?,
        revert_json: r.get(9)?,
        expires_at: r.get(10)?,
        detail: r.get(11)?,
        decided_by: r.get(12)?,
        updated_at: r.get(13)?,
    })
}

const ACTION_COLUMNS: &str = "id, created_at, playbook, incident_id, kind, target, mode, state, \
     action_json, revert_json, expires_at, detail, decided_by, updated_at";

/// A random (version 4) UUID from SQLite's generator.
fn new_uuid(tx: &rusqlite::Connection) -> Result<String, StoreError> {
    let mut b: Vec<u8> = tx.query_row("SELECT randomblob(16)", [], |r| r.get(0))?;
    b.resize(16, 0);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

fn record_change(tx: &rusqlite::Connection, id: i64, kind: &str) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT INTO decision_changes (decision_id, kind) VALUES (?1, ?2)")?
        .execute(params![id, kind])?;
    Ok(())
}

/// Marks those of `ids` that are active at `now` deleted at `at`, feeding each deletion;
/// returns how many.
fn mark_deleted(
    tx: &rusqlite::Connection,
    ids: &[i64],
    at: i64,
    now: i64,
) -> Result<u64, StoreError> {
    let mut n = 0;
    for &id in ids {
        let changed = tx
            .prepare_cached(&format!(
                "UPDATE decisions SET deleted_at = :at WHERE id = :id AND {LIVE}"
            ))?
            .execute(rusqlite::named_params! {":at": at, ":id": id, ":now": now})?;
        if changed == 1 {
            record_change(tx, id, "deleted")?;
            n += 1;
        }
    }
    Ok(n)
}

fn expire(tx: &rusqlite::Connection, now: i64) -> Result<u64, StoreError> {
    let ids: Vec<i64> = tx
        .prepare_cached(
            "SELECT id FROM decisions WHERE deleted_at IS NULL AND until IS NOT NULL AND until <= ?1
             ORDER BY id",
        )?
        .query_map(params![now], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut n = 0;
    for id in ids {
        tx.prepare_cached("UPDATE decisions SET deleted_at = ?2 WHERE id = ?1")?
            .execute(params![id, now])?;
        record_change(tx, id, "deleted")?;
        n += 1;
    }
    Ok(n)
}

fn get_decision(tx: &rusqlite::Connection, id: i64) -> Result<Option<Decision>, StoreError> {
    Ok(tx
        .prepare_cached(&format!(
            "SELECT {DECISION_COLUMNS} FROM decisions WHERE id = ?1"
        ))?
        .query_row(params![id], decision)
        .optional()?)
}

/// SQL and arguments selecting decisions by the filter's column conditions (the scenario and
/// origin parts are applied afterwards in Rust).
fn select_decisions(
    conn: &rusqlite::Connection,
    f: &DecisionFilter,
    now: i64,
) -> Result<Vec<Decision>, StoreError> {
    let mut sql = format!("SELECT {DECISION_COLUMNS} FROM decisions WHERE 1 = 1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if !f.include_inactive {
        sql.push_str(" AND deleted_at IS NULL AND (until IS NULL OR until > ?)");
        args.push(now.into());
    }
    if let Some(k) = &f.kind {
        sql.push_str(" AND type = ?");
        args.push(k.clone().into());
    }
    if let Some(v) = &f.value {
        // Canonical when it parses, so `2001:DB8::1` finds `2001:db8::1`.
        let v = parse_span(v)
            .map(|(t, _, _)| t)
            .unwrap_or_else(|_| v.clone());
        sql.push_str(" AND value = ?");
        args.push(v.into());
    }
    if let Some(m) = &f.address {
        let (_, _, span) = parse_span(&m.query)?;
        let Span { family, start, end } = span;
        sql.push_str(" AND family = ?");
        args.push(i64::from(family).into());
        if m.contains {
            sql.push_str(" AND start_ip <= ? AND end_ip >= ?");
        } else {
            sql.push_str(" AND start_ip >= ? AND end_ip <= ?");
        }
        args.push(start.to_vec().into());
        args.push(end.to_vec().into());
    }
    match f.limit {
        Some(_) => sql.push_str(" ORDER BY id DESC"),
        None => sql.push_str(" ORDER BY id"),
    }
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), decision)?;
    let mut out = Vec::new();
    for d in rows {
        let d = d?;
        if f.stream_matches(&d) {
            out.push(d);
            if f.limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
    }
    Ok(out)
}

/// A write transaction, or a savepoint inside the caller's ([`ResponseStore::in_transaction`]).
enum Tx<'a> {
    Top(rusqlite::Transaction<'a>),
    Nested(rusqlite::Savepoint<'a>),
}

impl std::ops::Deref for Tx<'_> {
    type Target = rusqlite::Connection;
    fn deref(&self) -> &rusqlite::Connection {
        match self {
            Tx::Top(t) => t,
            Tx::Nested(s) => s,
        }
    }
}

impl Tx<'_> {
    fn commit(self) -> rusqlite::Result<()> {
        match self {
            Tx::Top(t) => t.commit(),
            Tx::Nested(s) => s.commit(),
        }
    }
}

/// Writes take the lock at once (IMMEDIATE) so a concurrent writer cannot make the upgrade
/// fail half-way; inside an open transaction a savepoint nests instead.
fn begin(conn: &mut rusqlite::Connection) -> rusqlite::Result<Tx<'_>> {
    if conn.is_autocommit() {
        Ok(Tx::Top(conn.transaction_with_behavior(
            TransactionBehavior::Immediate,
        )?))
    } else {
        Ok(Tx::Nested(conn.savepoint()?))
    }
}

impl ResponseStore for SqliteStore {
    fn add_decision(&mut self, d: &NewDecision) -> Result<Decision, StoreError> {
        let (value, scope, span) = parse_span(&d.value)?;
        if scope != d.scope {
            // Reject an address given as a Range and the reverse, with the reason.
            crate::canonical_value(d.scope, &d.value)?;
        }
        let now = d.created_at;
        let tx = begin(&mut self.conn)?;
        // Deletions of decisions already past their end go into the feed before this one,
        // so a bouncer never applies "new X" and then an older "deleted X".
        expire(&tx, now)?;
        let existing: Option<i64> = tx
            .prepare_cached(&format!(
                "SELECT id FROM decisions WHERE value = :value AND type = :type AND {LIVE}
                 ORDER BY id LIMIT 1"
            ))?
            .query_row(
                rusqlite::named_params! {":value": value, ":type": d.kind, ":now": now},
                |r| r.get(0),
            )
            .optional()?;
        let id = match existing {
            Some(id) => {
                // Extend: the later end wins, and no end (permanent) beats any.
                tx.prepare_cached(
                    "UPDATE decisions SET until = CASE
                         WHEN until IS NULL OR ?2 IS NULL THEN NULL
                         ELSE max(until, ?2) END
                     WHERE id = ?1",
                )?
                .execute(params![id, d.until])?;
                id
            }
            None => {
                let uuid = new_uuid(&tx)?;
                tx.prepare_cached(
                    "INSERT INTO decisions (uuid, origin, type, scope, value, scenario, reason,
                         created_at, until, action_id, simulated, family, start_ip, end_ip)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )?
                .execute(params![
                    uuid,
                    d.origin,
                    d.kind,
                    d.scope.as_str(),
                    value,
                    d.scenario,
                    d.reason,
                    d.created_at,
                    d.until,
                    d.action_id,
                    d.simulated,
                    span.family,
                    span.start.to_vec(),
                    span.end.to_vec(),
                ])?;
                let id = tx.last_insert_rowid();
                record_change(&tx, id, "new")?;
                id
            }
        };
        let out = get_decision(&tx, id)?;
        tx.commit()?;
        out.ok_or_else(|| StoreError::Invalid(format!("decision {id} vanished")))
    }

    fn delete_decision(&mut self, id: i64, at: i64) -> Result<bool, StoreError> {
        let tx = begin(&mut self.conn)?;
        let n = mark_deleted(&tx, &[id], at, at)?;
        tx.commit()?;
        Ok(n == 1)
    }

    fn delete_decisions_for_value(&mut self, value: &str, at: i64) -> Result<u64, StoreError> {
        let (value, _, _) = parse_span(value)?;
        let tx = begin(&mut self.conn)?;
        let ids: Vec<i64> = tx
            .prepare_cached(&format!(
                "SELECT id FROM decisions WHERE value = :value AND {LIVE} ORDER BY id"
            ))?
            .query_map(rusqlite::named_params! {":value": value, ":now": at}, |r| {
                r.get(0)
            })?
            .collect::<Result<_, _>>()?;
        let n = mark_deleted(&tx, &ids, at, at)?;
        tx.commit()?;
        Ok(n)
    }

    fn expire_decisions(&mut self, now: i64) -> Result<u64, StoreError> {
        // A cheap read first: most seconds nothing expires, and then no write lock is taken.
        let due: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM decisions
                 WHERE deleted_at IS NULL AND until IS NOT NULL AND until <= ?1)",
            params![now],
            |r| r.get(0),
        )?;
        if !due {
            return Ok(0);
        }
        let tx = begin(&mut self.conn)?;
        let n = expire(&tx, now)?;
        tx.commit()?;
        Ok(n)
    }

    fn decisions(&self, filter: &DecisionFilter, now: i64) -> Result<Vec<Decision>, StoreError> {
        select_decisions(&self.conn, filter, now)
    }

    fn active_decision_count(&self, now: i64) -> Result<u64, StoreError> {
        let n: i64 = self.conn.query_row(
            &format!("SELECT count(*) FROM decisions WHERE {LIVE}"),
            rusqlite::named_params! {":now": now},
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    fn decision_stream(
        &mut self,
        bouncer_id: i64,
        startup: bool,
        filter: &DecisionFilter,
        now: i64,
    ) -> Result<(Vec<Decision>, Vec<Decision>), StoreError> {
        // Immediate: the feed's head, the rows up to it and the cursor move are one unit; no
        // writer can slip a change in between.
        let tx = begin(&mut self.conn)?;
        let head: i64 = tx.query_row(
            "SELECT coalesce(max(seq), 0) FROM decision_changes",
            [],
            |r| r.get(0),
        )?;
        let cursor: Option<i64> = tx
            .query_row(
                "SELECT cursor FROM bouncers WHERE id = ?1",
                params![bouncer_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(cursor) = cursor else {
            return Err(StoreError::Invalid(format!("no bouncer #{bouncer_id}")));
        };
        let live_filter = DecisionFilter {
            include_inactive: false,
            ..filter.clone()
        };
        let (mut new, mut deleted) = (Vec::new(), Vec::new());
        if startup {
            new = select_decisions(&tx, &live_filter, now)?;
        } else if head > cursor {
            // Each decision once, by its latest change in the window.
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {DECISION_COLUMNS} FROM decisions WHERE id IN
                     (SELECT decision_id FROM decision_changes WHERE seq > ?1 AND seq <= ?2)
                 ORDER BY id"
            ))?;
            let rows = stmt.query_map(params![cursor, head], decision)?;
            for d in rows {
                let d = d?;
                if !filter.stream_matches(&d) || filter.kind.as_ref().is_some_and(|k| *k != d.kind)
                {
                    continue;
                }
                if d.is_active(now) {
                    new.push(d);
                } else {
                    deleted.push(d);
                }
            }
        }
        tx.execute(
            "UPDATE bouncers SET cursor = ?2, last_pull_at = ?3 WHERE id = ?1",
            params![bouncer_id, head, now],
        )?;
        tx.commit()?;
        Ok((new, deleted))
    }

    fn add_bouncer(&mut self, name: &str, key_hash: &str, now: i64) -> Result<i64, StoreError> {
        let tx = begin(&mut self.conn)?;
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM bouncers WHERE name = ?1)",
            params![name],
            |r| r.get(0),
        )?;
        if taken {
            return Err(StoreError::Invalid(format!(
                "a bouncer named {name:?} exists already"
            )));
        }
        // A new bouncer starts at the feed's head: its first pull (startup) sends everything
        // active anyway.
        tx.execute(
            "INSERT INTO bouncers (name, key_hash, created_at, cursor)
             VALUES (?1, ?2, ?3, (SELECT coalesce(max(seq), 0) FROM decision_changes))",
            params![name, key_hash, now],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(id)
    }

    fn bouncers(&self) -> Result<Vec<BouncerRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {BOUNCER_COLUMNS} FROM bouncers ORDER BY name"
        ))?;
        let rows = stmt.query_map([], bouncer)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_bouncer(&mut self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM bouncers WHERE name = ?1", params![name])?
            == 1)
    }

    fn bouncer_by_key_hash(&self, key_hash: &str) -> Result<Option<BouncerRecord>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {BOUNCER_COLUMNS} FROM bouncers WHERE key_hash = ?1"
            ))?
            .query_row(params![key_hash], bouncer)
            .optional()?)
    }

    fn touch_bouncer(
        &mut self,
        id: i64,
        at: i64,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE bouncers SET last_pull_at = ?2, last_ip = coalesce(?3, last_ip),
                     user_agent = coalesce(?4, user_agent)
                 WHERE id = ?1",
            )?
            .execute(params![id, at, ip, user_agent])?;
        Ok(())
    }

    fn insert_response_action(&mut self, a: &NewResponseAction) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO response_actions (created_at, playbook, incident_id, kind, target, mode,
                 state, action_json, revert_json, expires_at, detail, decided_by, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL, ?1)",
            params![
                a.created_at,
                a.playbook,
                a.incident_id,
                a.kind,
                a.target,
                a.mode,
                a.state,
                a.action_json,
                a.revert_json,
                a.expires_at,
                a.detail
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn update_response_action(
        &mut self,
        id: i64,
        state: &str,
        detail: &str,
        decided_by: Option<&str>,
        at: i64,
    ) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE response_actions SET state = ?2, detail = ?3,
                 decided_by = coalesce(?4, decided_by), updated_at = ?5
             WHERE id = ?1",
            params![id, state, detail, decided_by, at],
        )?;
        Ok(n == 1)
    }

    fn finish_response_action(
        &mut self,
        id: i64,
        state: &str,
        detail: &str,
        revert_json: Option<&str>,
        expires_at: Option<i64>,
        decided_by: Option<&str>,
        at: i64,
    ) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE response_actions SET state = ?2, detail = ?3, revert_json = ?4,
                 expires_at = ?5, decided_by = coalesce(?6, decided_by), updated_at = ?7
             WHERE id = ?1",
            params![id, state, detail, revert_json, expires_at, decided_by, at],
        )?;
        Ok(n == 1)
    }

    fn due_response_actions(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<ResponseAction>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ACTION_COLUMNS} FROM response_actions
             WHERE state = 'active' AND expires_at IS NOT NULL AND expires_at <= ?1
             ORDER BY expires_at LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![now, limit.max(1) as i64], action)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn in_transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        match f(self) {
            Ok(v) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    fn response_action(&self, id: i64) -> Result<Option<ResponseAction>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {ACTION_COLUMNS} FROM response_actions WHERE id = ?1"
            ))?
            .query_row(params![id], action)
            .optional()?)
    }

    fn response_actions(
        &self,
        f: &ResponseActionFilter,
    ) -> Result<Vec<ResponseAction>, StoreError> {
        let mut sql = format!("SELECT {ACTION_COLUMNS} FROM response_actions WHERE 1 = 1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if !f.states.is_empty() {
            sql.push_str(" AND state IN (");
            sql.push_str(&vec!["?"; f.states.len()].join(", "));
            sql.push(')');
            args.extend(f.states.iter().map(|s| s.clone().into()));
        }
        if let Some(p) = &f.playbook {
            sql.push_str(" AND playbook = ?");
            args.push(p.clone().into());
        }
        if let Some(i) = f.incident_id {
            sql.push_str(" AND incident_id = ?");
            args.push(i.into());
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        args.push((f.limit.unwrap_or(1000).max(1) as i64).into());
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), action)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn append_response_log(
        &mut self,
        at: i64,
        actor: &str,
        action_id: Option<i64>,
        event: &str,
        detail: &str,
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO response_log (at, actor, action_id, event, detail)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![at, actor, action_id, event, detail],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn response_log(
        &self,
        action_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ResponseLogRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, at, actor, action_id, event, detail FROM response_log
             WHERE ?1 IS NULL OR action_id = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![action_id, limit.max(1) as i64], |r| {
            Ok(ResponseLogRecord {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action_id: r.get(3)?,
                event: r.get(4)?,
                detail: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AddressMatch;

    const T0: i64 = 1_700_000_000_000;

    fn ban(value: &str, scope: Scope, until: Option<i64>) -> NewDecision {
        NewDecision {
            origin: "palisade".into(),
            kind: "ban".into(),
            scope,
            value: value.into(),
            scenario: "ssh-bruteforce".into(),
            reason: "test".into(),
            created_at: T0,
            until,
            action_id: None,
            simulated: false,
        }
    }

    fn values(ds: &[Decision]) -> Vec<&str> {
        ds.iter().map(|d| d.value.as_str()).collect()
    }

    #[test]
    fn an_active_decision_is_extended_not_duplicated() {
        let mut s = SqliteStore::in_memory().unwrap();
        let a = s
            .add_decision(&ban("198.51.100.7", Scope::Ip, Some(T0 + 1000)))
            .unwrap();
        assert_eq!(a.value, "198.51.100.7");
        assert_eq!(a.uuid.len(), 36);
        let b = s
            .add_decision(&ban("198.51.100.7", Scope::Ip, Some(T0 + 5000)))
            .unwrap();
        assert_eq!((b.id, b.until), (a.id, Some(T0 + 5000)));
        // A shorter one keeps the longer end; a permanent one wins.
        let c = s
            .add_decision(&ban("198.51.100.7", Scope::Ip, Some(T0 + 10)))
            .unwrap();
        assert_eq!(c.until, Some(T0 + 5000));
        let d = s
            .add_decision(&ban("198.51.100.7", Scope::Ip, None))
            .unwrap();
        assert_eq!((d.id, d.until), (a.id, None));
        // Another type is another decision.
        let mut captcha = ban("198.51.100.7", Scope::Ip, None);
        captcha.kind = "captcha".into();
        assert_ne!(s.add_decision(&captcha).unwrap().id, a.id);
        let feed: i64 = s
            .conn
            .query_row("SELECT count(*) FROM decision_changes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(feed, 2, "only really new decisions enter the feed");
        assert!(matches!(
            s.add_decision(&ban("10.0.0.0/8", Scope::Ip, None)),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn the_stream_sends_everything_at_startup_then_only_changes_once() {
        let mut s = SqliteStore::in_memory().unwrap();
        s.add_decision(&ban("192.0.2.1", Scope::Ip, Some(T0 + 60_000)))
            .unwrap();
        let b = s.add_bouncer("fw", &"aa".repeat(32), T0).unwrap();
        let all = DecisionFilter::default();
        let (new, del) = s.decision_stream(b, true, &all, T0 + 1).unwrap();
        assert_eq!((values(&new), del.len()), (vec!["192.0.2.1"], 0));
        let (new, del) = s.decision_stream(b, false, &all, T0 + 2).unwrap();
        assert!(new.is_empty() && del.is_empty());

        let x = s
            .add_decision(&ban("2001:db8::7", Scope::Ip, Some(T0 + 60_000)))
            .unwrap();
        s.add_decision(&ban("203.0.113.0/24", Scope::Range, None))
            .unwrap();
        let (new, _) = s.decision_stream(b, false, &all, T0 + 3).unwrap();
        assert_eq!(values(&new), ["2001:db8::7", "203.0.113.0/24"]);
        // Scope filter; the cursor moved past both anyway.
        assert!(s.delete_decision(x.id, T0 + 4).unwrap());
        assert!(!s.delete_decision(x.id, T0 + 5).unwrap());
        let ips = DecisionFilter {
            scopes: vec![Scope::Ip],
            ..DecisionFilter::default()
        };
        let (new, del) = s.decision_stream(b, false, &ips, T0 + 6).unwrap();
        assert!(new.is_empty());
        assert_eq!(values(&del), ["2001:db8::7"]);
        assert_eq!(del[0].ends_at(), Some(T0 + 4));
        let (new, del) = s.decision_stream(b, false, &all, T0 + 7).unwrap();
        assert!(new.is_empty() && del.is_empty());

        let rec = &s.bouncers().unwrap()[0];
        assert_eq!(rec.last_pull_at, Some(T0 + 7));
        assert_eq!(rec.cursor, 4);
        // Two bouncers have their own cursors.
        let b2 = s.add_bouncer("nginx", &"bb".repeat(32), T0).unwrap();
        assert!(s.add_bouncer("nginx", &"cc".repeat(32), T0).is_err());
        assert_eq!(
            s.delete_decisions_for_value("203.0.113.9/24", T0 + 8)
                .unwrap(),
            1
        );
        let (_, del) = s.decision_stream(b2, false, &all, T0 + 9).unwrap();
        assert_eq!(values(&del), ["203.0.113.0/24"]);
        let (_, del) = s.decision_stream(b, false, &all, T0 + 9).unwrap();
        assert_eq!(values(&del), ["203.0.113.0/24"]);
        assert!(s.decision_stream(999, false, &all, T0).is_err());
    }

    #[test]
    fn expiry_feeds_deletions_and_a_new_decision_follows_the_old_ones_deletion() {
        let mut s = SqliteStore::in_memory().unwrap();
        let b = s.add_bouncer("fw", &"aa".repeat(32), T0).unwrap();
        let all = DecisionFilter::default();
        s.add_decision(&ban("192.0.2.1", Scope::Ip, Some(T0 + 3000)))
            .unwrap();
        s.add_decision(&ban("192.0.2.2", Scope::Ip, None)).unwrap();
        s.decision_stream(b, false, &all, T0).unwrap();
        assert_eq!(s.active_decision_count(T0).unwrap(), 2);
        assert_eq!(s.expire_decisions(T0 + 2999).unwrap(), 0);
        // Past its end it is no longer active, even before the expiry pass notices.
        assert_eq!(s.active_decision_count(T0 + 3000).unwrap(), 1);
        assert_eq!(s.expire_decisions(T0 + 3000).unwrap(), 1);
        assert_eq!(s.expire_decisions(T0 + 4000).unwrap(), 0);
        let (new, del) = s.decision_stream(b, false, &all, T0 + 4000).unwrap();
        assert!(new.is_empty());
        assert_eq!(values(&del), ["192.0.2.1"]);

        // An expired, not yet noticed decision: re-adding the value expires the old one
        // first, so the feed says deleted(old) before new.
        s.add_decision(&ban("192.0.2.3", Scope::Ip, Some(T0 + 5000)))
            .unwrap();
        let mut again = ban("192.0.2.3", Scope::Ip, Some(T0 + 90_000));
        again.created_at = T0 + 6000;
        let fresh = s.add_decision(&again).unwrap();
        let kinds: Vec<(i64, String)> = s
            .conn
            .prepare("SELECT decision_id, kind FROM decision_changes ORDER BY seq DESC LIMIT 2")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(kinds[0], (fresh.id, "new".to_string()));
        assert_eq!(kinds[1].1, "deleted");
        let (new, _) = s.decision_stream(b, false, &all, T0 + 6001).unwrap();
        assert_eq!(new.iter().map(|d| d.id).collect::<Vec<_>>(), [fresh.id]);
    }

    #[test]
    fn address_queries_find_ranges_holding_an_ip_and_ips_inside_a_range() {
        let mut s = SqliteStore::in_memory().unwrap();
        s.add_decision(&ban("192.0.2.0/24", Scope::Range, None))
            .unwrap();
        s.add_decision(&ban("192.0.2.9", Scope::Ip, None)).unwrap();
        s.add_decision(&ban("198.51.100.1", Scope::Ip, None))
            .unwrap();
        s.add_decision(&ban("::/0", Scope::Range, None)).unwrap();
        let q = |query: &str, contains: bool| {
            let f = DecisionFilter {
                address: Some(AddressMatch {
                    query: query.into(),
                    contains,
                }),
                ..DecisionFilter::default()
            };
            s.decisions(&f, T0)
                .unwrap()
                .into_iter()
                .map(|d| d.value)
                .collect::<Vec<_>>()
        };
        assert_eq!(q("192.0.2.9", true), ["192.0.2.0/24", "192.0.2.9"]);
        assert_eq!(q("192.0.2.10", true), ["192.0.2.0/24"]);
        assert_eq!(q("192.0.2.0/25", true), ["192.0.2.0/24"]);
        assert_eq!(q("192.0.0.0/16", false), ["192.0.2.0/24", "192.0.2.9"]);
        // IPv4 never matches an IPv6 range.
        assert_eq!(q("198.51.100.1", true), ["198.51.100.1"]);
        assert_eq!(q("2001:db8::1", true), ["::/0"]);
        assert!(q("10.0.0.1", true).is_empty());
    }

    #[test]
    fn response_actions_update_and_the_log_is_append_only() {
        let mut s = SqliteStore::in_memory().unwrap();
        let id = s
            .insert_response_action(&NewResponseAction {
                created_at: T0,
                playbook: "ssh-brute".into(),
                incident_id: Some(3),
                kind: "block_ip".into(),
                target: "192.0.2.1".into(),
                mode: "approve".into(),
                state: "pending".into(),
                action_json: "{}".into(),
                revert_json: None,
                expires_at: Some(T0 + 1000),
                detail: String::new(),
            })
            .unwrap();
        assert!(
            s.update_response_action(id, "active", "approved", Some("ana"), T0 + 5)
                .unwrap()
        );
        assert!(
            !s.update_response_action(99, "active", "", None, T0)
                .unwrap()
        );
        // The schema refuses states it does not know.
        assert!(
            s.update_response_action(id, "nonsense", "", None, T0)
                .is_err()
        );
        let a = s.response_action(id).unwrap().unwrap();
        assert_eq!(
            (a.state.as_str(), a.decided_by.as_deref(), a.updated_at),
            ("active", Some("ana"), T0 + 5)
        );
        let listed = s
            .response_actions(&ResponseActionFilter {
                states: vec!["active".into(), "pending".into()],
                ..ResponseActionFilter::default()
            })
            .unwrap();
        assert_eq!(listed, vec![a]);

        let l1 = s
            .append_response_log(T0, "playbook:ssh-brute", Some(id), "proposed", "{}")
            .unwrap();
        s.append_response_log(T0 + 5, "ana", Some(id), "approved", "{}")
            .unwrap();
        let log = s.response_log(Some(id), 10).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].event, "approved");
        let upd = s
            .conn
            .execute("UPDATE response_log SET actor = 'x' WHERE id = ?1", [l1]);
        assert!(upd.unwrap_err().to_string().contains("append-only"));
        let del = s.conn.execute("DELETE FROM response_log", []);
        assert!(del.unwrap_err().to_string().contains("append-only"));
        assert_eq!(s.response_log(None, 10).unwrap().len(), 2);
    }

    #[test]
    fn finished_actions_come_due_and_a_batch_commits_or_rolls_back_whole() {
        let mut s = SqliteStore::in_memory().unwrap();
        let new = |target: &str| NewResponseAction {
            created_at: T0,
            playbook: "ssh".into(),
            incident_id: None,
            kind: "block".into(),
            target: target.into(),
            mode: "approve".into(),
            state: "pending".into(),
            action_json: "{}".into(),
            revert_json: None,
            expires_at: None,
            detail: String::new(),
        };
        // A batch: two actions and a decision in one transaction (decisions nest a savepoint).
        let ids = s
            .in_transaction(|s| {
                let a = s.insert_response_action(&new("192.0.2.1"))?;
                let b = s.insert_response_action(&new("192.0.2.2"))?;
                s.add_decision(&ban("192.0.2.1", Scope::Ip, Some(T0 + 60_000)))?;
                Ok((a, b))
            })
            .unwrap();
        assert_eq!(
            s.decisions(&DecisionFilter::default(), T0).unwrap().len(),
            1
        );
        // A failing batch leaves nothing behind.
        let failed: Result<(), StoreError> = s.in_transaction(|s| {
            s.insert_response_action(&new("192.0.2.3"))?;
            Err(StoreError::Invalid("stop".into()))
        });
        assert!(failed.is_err());
        let all = s
            .response_actions(&ResponseActionFilter::default())
            .unwrap();
        assert_eq!(all.len(), 2, "the rolled-back insert must be gone");
        // Approval runs it: state, revert and end are recorded; it comes due at its end only.
        assert!(
            s.finish_response_action(
                ids.0,
                "active",
                "blocked",
                Some("{\"unblock\":1}"),
                Some(T0 + 1_000),
                Some("alice"),
                T0
            )
            .unwrap()
        );
        let a = s.response_action(ids.0).unwrap().unwrap();
        assert_eq!(
            (
                a.state.as_str(),
                a.revert_json.as_deref(),
                a.expires_at,
                a.decided_by.as_deref()
            ),
            (
                "active",
                Some("{\"unblock\":1}"),
                Some(T0 + 1_000),
                Some("alice")
            )
        );
        assert!(s.due_response_actions(T0 + 999, 10).unwrap().is_empty());
        let due = s.due_response_actions(T0 + 1_000, 10).unwrap();
        assert_eq!(due.iter().map(|a| a.id).collect::<Vec<_>>(), vec![ids.0]);
        // Pending (b) never comes due.
        assert!(
            !s.finish_response_action(9999, "active", "", None, None, None, T0)
                .unwrap()
        );
    }
}

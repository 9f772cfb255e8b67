//! Triage in the binary: settings and state, the ranked queue after a hunt, and the
//! `palisade incidents` / `palisade suppressions` commands over the store.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Duration, Utc};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, ContentArrangement, Table};
use palisade_store::{IncidentChange, IncidentFilter, NewIncident, SqliteStore, Store};
use palisade_triage::engine::priority_band;
use palisade_triage::{Entity, Incident, Outcome, Status, Suppression, Triage, TriageConfig};
use serde_json::{Value as Json, json};

use crate::cli::{
    IncidentActionArgs, IncidentListArgs, IncidentShowArgs, IncidentsCommand, OutputFormat,
    SuppressionAddArgs, SuppressionsCommand,
};

/// Store key of triage's learned state (fidelity, suppressions, entity risk, routine).
pub const TRIAGE_STATE: &str = "triage.state";

/// Reads triage settings from TOML (top level or a `[triage]` table) or JSON.
pub fn load_config(path: Option<&Path>) -> Result<TriageConfig> {
    palisade_server::serve::load_triage_config(path)
}

/// Triage with what earlier runs learned (when the store has it).
pub fn load_triage(store: Option<&SqliteStore>, cfg: TriageConfig) -> Result<Triage> {
    let Some(store) = store else {
        return Ok(Triage::new(cfg));
    };
    match store.load_state(TRIAGE_STATE)? {
        Some(bytes) => {
            let state =
                serde_json::from_slice(&bytes).context("the stored triage state is unreadable")?;
            Triage::restore(cfg, state).map_err(|e| anyhow!(e))
        }
        None => Ok(Triage::new(cfg)),
    }
}

pub fn save_state(store: &mut SqliteStore, t: &Triage) -> Result<()> {
    let bytes = serde_json::to_vec(&t.state())?;
    store.save_state(TRIAGE_STATE, &bytes)?;
    Ok(())
}

/// Stores the incidents of a run, linked to its stored alerts (`alert_ids` in the order the
/// alerts were given to triage).
pub fn store_incidents(
    store: &mut SqliteStore,
    run: Option<i64>,
    outcome: &Outcome,
    alert_ids: &[i64],
) -> Result<Vec<i64>> {
    let rows: Vec<NewIncident> = outcome
        .incidents
        .iter()
        .map(|i| {
            let ids = i
                .alert_indices()
                .filter_map(|k| alert_ids.get(k).copied())
                .collect();
            palisade_server::pipeline::new_incident(run, i, ids)
        })
        .collect();
    Ok(store.save_incidents(&rows)?)
}

pub fn incident_json(i: &Incident) -> Json {
    let mut v = serde_json::to_value(i).unwrap_or(Json::Null);
    if let Json::Object(m) = &mut v {
        m.insert("tactic_names".into(), json!(i.tactic_names()));
        m.insert("band".into(), json!(priority_band(i.priority).as_str()));
    }
    v
}

fn short_entities(i: &Incident, max: usize) -> String {
    let mut v: Vec<String> = i.entities.iter().take(max).map(Entity::to_string).collect();
    if i.entities.len() > max {
        v.push(format!("+{}", i.entities.len() - max));
    }
    v.join(" ")
}

/// The ranked queue after a hunt: top `top` incidents with their one-line reason.
pub fn queue_text(outcome: &Outcome, top: usize) -> String {
    let queue: Vec<&Incident> = outcome.queue().collect();
    let suppressed = outcome.incidents.len() - queue.len();
    let mut out = String::new();
    if queue.is_empty() {
        out.push_str(&format!(
            "Incident queue: empty ({} incidents, all suppressed)\n",
            outcome.incidents.len()
        ));
        return out;
    }
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["#", "Priority", "Alerts", "Incident", "Why"]);
    for (k, i) in queue.iter().take(top).enumerate() {
        table.add_row(vec![
            Cell::new(k + 1),
            Cell::new(format!("{:.1} {}", i.priority, priority_band(i.priority))),
            Cell::new(i.alert_count),
            Cell::new(&i.title),
            Cell::new(&i.reason),
        ]);
    }
    out.push_str(&format!(
        "\nIncident queue: top {} of {} incidents from {} alerts{}\n{table}\n",
        top.min(queue.len()),
        queue.len(),
        outcome.alerts.len(),
        if suppressed > 0 {
            format!(" ({suppressed} more fully suppressed; `palisade suppressions list`)")
        } else {
            String::new()
        }
    ));
    out
}

pub(crate) fn actor(given: &Option<String>) -> String {
    given
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn open_existing(path: &Path) -> Result<SqliteStore> {
    if !path.exists() {
        bail!(
            "{}: no such store (run `palisade hunt … --store {}` first)",
            path.display(),
            path.display()
        );
    }
    SqliteStore::open(path).with_context(|| format!("opening {}", path.display()))
}

pub fn incidents(cmd: IncidentsCommand) -> Result<u8> {
    match cmd {
        IncidentsCommand::List(a) => list(a),
        IncidentsCommand::Show(a) => show(a),
        IncidentsCommand::Ack(a) => act(a, Some(Status::Acknowledged)),
        IncidentsCommand::Resolve(a) => act(a, Some(Status::Resolved)),
        IncidentsCommand::Fp(a) => act(a, Some(Status::FalsePositive)),
        IncidentsCommand::Tp(a) => act(a, Some(Status::TruePositive)),
        IncidentsCommand::Note(a) => {
            if a.note.is_none() && a.owner.is_none() {
                bail!("nothing to record: give --note TEXT and/or --owner NAME");
            }
            act(a, None)
        }
    }
}

fn list(a: IncidentListArgs) -> Result<u8> {
    let store = open_existing(&a.store.store)?;
    let mut statuses = Vec::new();
    for s in &a.status {
        statuses.push(
            s.parse::<Status>()
                .map_err(|e| anyhow!(e))?
                .as_str()
                .to_string(),
        );
    }
    if statuses.is_empty() && !a.all {
        statuses = vec!["new".into(), "acknowledged".into()];
    }
    let run = match a.run.as_deref() {
        None => None,
        Some("latest") => Some(
            store
                .latest_run()?
                .ok_or_else(|| anyhow!("the store has no runs yet"))?,
        ),
        Some(n) => Some(
            n.parse::<i64>()
                .map_err(|_| anyhow!("--run {n:?}: expected a run id or `latest`"))?,
        ),
    };
    let rows = store.incidents(&IncidentFilter {
        statuses,
        run,
        limit: Some(a.limit),
        ..IncidentFilter::default()
    })?;
    match a.format {
        OutputFormat::Json | OutputFormat::Ndjson => {
            let v: Vec<Json> = rows
                .iter()
                .map(|r| {
                    json!({
                        "id": r.id, "status": r.status, "owner": r.owner, "priority": r.priority,
                        "title": r.title, "reason": r.reason, "alerts": r.alert_count,
                        "first_seen": r.first_seen, "last_seen": r.last_seen, "run_id": r.run_id,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        _ => {
            if rows.is_empty() {
                println!("no incidents (try --all)");
                return Ok(0);
            }
            let mut t = Table::new();
            t.load_style(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(vec![
                    "Id",
                    "Priority",
                    "Status",
                    "Owner",
                    "Alerts",
                    "Last seen",
                    "Incident",
                    "Why",
                ]);
            for r in &rows {
                t.add_row(vec![
                    Cell::new(r.id),
                    Cell::new(format!("{:.1}", r.priority)),
                    Cell::new(&r.status),
                    Cell::new(r.owner.as_deref().unwrap_or("-")),
                    Cell::new(r.alert_count),
                    Cell::new(
                        r.last_seen
                            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                            .unwrap_or_default(),
                    ),
                    Cell::new(&r.title),
                    Cell::new(&r.reason),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(0)
}

fn load_incident(
    store: &SqliteStore,
    id: i64,
) -> Result<(palisade_store::IncidentRecord, Incident)> {
    let rec = store
        .incidents(&IncidentFilter {
            id: Some(id),
            ..IncidentFilter::default()
        })?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("no incident {id} in the store"))?;
    let mut inc: Incident = serde_json::from_value(rec.body.clone())
        .with_context(|| format!("incident {id}: stored body is unreadable"))?;
    inc.id = rec.id;
    inc.status = rec.status.parse().unwrap_or(Status::New);
    inc.owner = rec.owner.clone();
    Ok((rec, inc))
}

fn show(a: IncidentShowArgs) -> Result<u8> {
    let store = open_existing(&a.store.store)?;
    let (_, inc) = load_incident(&store, a.id)?;
    let notes = store.notes(a.id)?;
    if matches!(a.format, OutputFormat::Json | OutputFormat::Ndjson) {
        let mut v = incident_json(&inc);
        if let Json::Object(m) = &mut v {
            m.insert(
                "notes".into(),
                json!(
                    notes
                        .iter()
                        .map(|n| json!({"author": n.author, "at": n.at, "text": n.text}))
                        .collect::<Vec<_>>()
                ),
            );
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!("Incident {}: {}", inc.id, inc.title);
    println!(
        "Priority {:.1} ({}), status {}, owner {}, {} alerts, {} → {}",
        inc.priority,
        priority_band(inc.priority),
        inc.status,
        inc.owner.as_deref().unwrap_or("-"),
        inc.alert_count,
        inc.first
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| "?".into()),
        inc.last
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| "?".into()),
    );
    println!("Why: {}", inc.reason);
    println!("\nScore breakdown:");
    for c in &inc.contributions {
        println!("  {:>+7.1}  {:<15} {}", c.points, c.factor, c.reason);
    }
    if let Some(top) = inc
        .timeline
        .iter()
        .max_by(|a, b| a.priority.total_cmp(&b.priority))
    {
        println!(
            "\nStrongest alert ({}), priority {:.1}:",
            top.rule_title, top.priority
        );
        for c in &top.contributions {
            println!("  {:>+7.1}  {:<15} {}", c.points, c.factor, c.reason);
        }
    }
    println!(
        "\nEntities ({}): {}",
        inc.entities.len(),
        short_entities(&inc, 30)
    );
    if !inc.tactics.is_empty() {
        println!("ATT&CK: {}", inc.tactic_names().join(" → "));
    }
    println!("\nTimeline (kill-chain order):");
    for g in &inc.timeline {
        let when = g
            .first
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "?".into());
        let tactic = g
            .tactics
            .first()
            .map(|&t| palisade_triage::attack::tactic_name(t))
            .unwrap_or("-");
        let sup = g
            .suppressed_by
            .map(|s| format!(" [suppressed by #{s}]"))
            .unwrap_or_default();
        println!(
            "  {when}  {tactic:<20} {:>4}×  {:5.1}  {} — {}{sup}",
            g.count, g.priority, g.rule_title, g.explanation
        );
    }
    if !notes.is_empty() {
        println!("\nNotes:");
        for n in &notes {
            println!(
                "  {} {}: {}",
                n.at.format("%Y-%m-%d %H:%M"),
                n.author,
                n.text
            );
        }
    }
    Ok(0)
}

fn act(a: IncidentActionArgs, status: Option<Status>) -> Result<u8> {
    let mut store = open_existing(&a.store.store)?;
    let (_, inc) = load_incident(&store, a.id)?;
    let who = actor(&a.actor);
    let now = Utc::now();
    if let Some(s @ (Status::FalsePositive | Status::TruePositive)) = status {
        let cfg = TriageConfig::default();
        let mut t = load_triage(Some(&store), cfg)?;
        let made = t.verdict_scoped(&inc, s, &who, now, a.scope);
        save_state(&mut store, &t)?;
        for m in &made {
            store.audit(
                &who,
                "suppression.add",
                &format!("suppression:{}", m.id),
                &serde_json::to_string(m)?,
            )?;
            println!(
                "suppression #{} added: {} (expires {})",
                m.id,
                m.describe(),
                m.expires
                    .map(|e| e.to_rfc3339())
                    .unwrap_or_else(|| "never".into())
            );
        }
    }
    let change = IncidentChange {
        actor: who,
        status: status.map(|s| s.as_str().to_string()),
        owner: a.owner.clone(),
        note: a.note.clone(),
    };
    if !store.update_incident(a.id, &change)? {
        bail!("no incident {} in the store", a.id);
    }
    match status {
        Some(s) => println!("incident {} is now {s}", a.id),
        None => println!("incident {} updated", a.id),
    }
    Ok(0)
}

fn parse_expiry(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(days) = s.trim().parse::<f64>() {
        if !(days > 0.0 && days < 36_500.0) {
            bail!("--expires {s}: days must be between 0 and 36500");
        }
        return Ok(now + Duration::seconds((days * 86_400.0) as i64));
    }
    DateTime::parse_from_rfc3339(s.trim())
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| anyhow!("--expires {s}: neither a number of days nor an RFC 3339 time ({e})"))
}

pub fn suppressions(cmd: SuppressionsCommand) -> Result<u8> {
    match cmd {
        SuppressionsCommand::List(a) => {
            let store = open_existing(&a.store.store)?;
            let t = load_triage(Some(&store), TriageConfig::default())?;
            let now = Utc::now();
            if matches!(a.format, OutputFormat::Json | OutputFormat::Ndjson) {
                let v: Vec<Json> = t
                    .suppressions()
                    .iter()
                    .map(|s| {
                        let mut v = serde_json::to_value(s).unwrap_or(Json::Null);
                        if let Json::Object(m) = &mut v {
                            m.insert("active".into(), json!(s.active(now)));
                        }
                        v
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(0);
            }
            if t.suppressions().is_empty() {
                println!("no suppressions");
                return Ok(0);
            }
            let mut tb = Table::new();
            tb.load_style(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(vec![
                    "Id", "State", "Scope", "Author", "Created", "Expires", "Reason",
                ]);
            for s in t.suppressions() {
                let state = match (&s.revoked, s.active(now)) {
                    (Some(r), _) => format!("revoked by {}", r.by),
                    (None, true) => "active".into(),
                    (None, false) => "expired".into(),
                };
                tb.add_row(vec![
                    Cell::new(s.id),
                    Cell::new(state),
                    Cell::new(s.describe()),
                    Cell::new(&s.author),
                    Cell::new(s.created.format("%Y-%m-%d").to_string()),
                    Cell::new(
                        s.expires
                            .map(|e| e.format("%Y-%m-%d").to_string())
                            .unwrap_or_else(|| "never".into()),
                    ),
                    Cell::new(&s.reason),
                ]);
            }
            println!("{tb}");
            Ok(0)
        }
        SuppressionsCommand::Add(a) => add(a),
        SuppressionsCommand::Revoke(a) => {
            let mut store = open_existing(&a.store.store)?;
            let mut t = load_triage(Some(&store), TriageConfig::default())?;
            let who = actor(&a.actor);
            if !t.revoke(a.id, &who, Utc::now()) {
                bail!("no active suppression #{}", a.id);
            }
            save_state(&mut store, &t)?;
            store.audit(
                &who,
                "suppression.revoke",
                &format!("suppression:{}", a.id),
                "{}",
            )?;
            println!("suppression #{} revoked", a.id);
            Ok(0)
        }
    }
}

fn add(a: SuppressionAddArgs) -> Result<u8> {
    let path = &a.store.store;
    let mut store =
        SqliteStore::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut t = load_triage(Some(&store), TriageConfig::default())?;
    let entity = a
        .entity
        .as_deref()
        .map(Entity::parse)
        .transpose()
        .map_err(|e| anyhow!("--entity {e}"))?;
    if a.rule.is_none() && entity.is_none() && a.fields.is_empty() {
        bail!("an allowlist entry needs --entity or --field (it would silence everything)");
    }
    let mut fields = Vec::new();
    for f in &a.fields {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("--field {f:?}: expected NAME=VALUE"))?;
        fields.push((k.trim().to_string(), v.trim().to_string()));
    }
    let now = Utc::now();
    let who = actor(&a.actor);
    let s = Suppression {
        id: 0,
        rule: a.rule.clone(),
        entity,
        fields,
        expires: a
            .expires
            .as_deref()
            .map(|e| parse_expiry(e, now))
            .transpose()?,
        author: who.clone(),
        reason: a.reason.clone(),
        created: now,
        revoked: None,
        incident: None,
    };
    let id = t.add_suppression(s);
    save_state(&mut store, &t)?;
    let added = t
        .suppressions()
        .iter()
        .find(|s| s.id == id)
        .cloned()
        .ok_or_else(|| anyhow!("suppression vanished"))?;
    store.audit(
        &who,
        "suppression.add",
        &format!("suppression:{id}"),
        &serde_json::to_string(&added)?,
    )?;
    println!("suppression #{id} added: {}", added.describe());
    Ok(0)
}

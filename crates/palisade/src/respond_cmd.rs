//! `palisade respond`: the response actions of playbooks (list, approve, deny, revert), the
//! response log and the playbooks a configuration runs — on the store directly, like
//! `palisade decisions`.

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use palisade_respond::{Playbook, Trigger};
use palisade_server::api::respond::{ActionOut, PlaybookOut, action_out, log_out};
use palisade_server::config::ServeConfig;
use palisade_server::respond::{Engine, OpError, load_playbooks};
use palisade_store::{ResponseActionFilter, ResponseStore, Store};

use crate::cli::{
    OutputFormat, RespondCommand, RespondListArgs, RespondLogArgs, RespondPlaybooksArgs,
    RespondStepArgs, TokenStoreArgs,
};
use crate::serve_cmd::{load_config, open};
use crate::triage_cmd::actor;

pub fn respond(cmd: RespondCommand) -> Result<u8> {
    match cmd {
        RespondCommand::List(a) => list(a),
        RespondCommand::Approve(a) => step(a, Step::Approve, ""),
        RespondCommand::Deny { step: a, reason } => step(a, Step::Deny, &reason),
        RespondCommand::Revert(a) => step(a, Step::Revert, ""),
        RespondCommand::Log(a) => log(a),
        RespondCommand::Playbooks(a) => playbooks(a),
    }
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    t
}

fn json(format: OutputFormat) -> bool {
    matches!(format, OutputFormat::Json | OutputFormat::Ndjson)
}

/// The configuration the arguments name: `--config` (with `--data-dir` over it), or the
/// defaults with the data directory given (or the folder of `--store`).
fn config(s: &TokenStoreArgs) -> Result<ServeConfig> {
    match (&s.config, &s.data_dir, &s.store) {
        (Some(c), d, None) => load_config(Some(c), None, d.as_deref()),
        (None, d, store) => {
            let mut cfg = ServeConfig::default();
            if let Some(d) = d {
                cfg.server.data_dir = d.clone();
            } else if let Some(dir) = store.as_deref().and_then(|p| p.parent())
                && !dir.as_os_str().is_empty()
            {
                cfg.server.data_dir = dir.to_path_buf();
            }
            Ok(cfg)
        }
        (Some(_), _, Some(_)) => bail!("give --store, or --config and/or --data-dir, not both"),
    }
}

fn list(a: RespondListArgs) -> Result<u8> {
    let s = open(&a.store)?;
    let filter = ResponseActionFilter {
        states: a
            .state
            .as_deref()
            .map(|x| {
                x.split(',')
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        playbook: a.playbook.clone(),
        incident_id: a.incident,
        limit: Some(a.limit.max(1)),
    };
    let rows: Vec<ActionOut> = s
        .response_actions(&filter)?
        .iter()
        .map(|r| action_out(r, None))
        .collect();
    if json(a.format) {
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(0);
    }
    let mut t = table(&[
        "id", "created", "playbook", "kind", "target", "mode", "state", "expires", "incident",
        "detail",
    ]);
    for r in &rows {
        t.add_row([
            r.id.to_string(),
            when(Some(r.created)),
            r.playbook.clone(),
            r.kind.clone(),
            r.target.clone(),
            r.mode.clone(),
            r.state.clone(),
            when(r.expires),
            r.incident.map(|i| i.to_string()).unwrap_or_default(),
            r.detail.clone(),
        ]);
    }
    println!("{t}");
    if rows.is_empty() {
        eprintln!("palisade: no response actions match");
    }
    Ok(0)
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Approve,
    Deny,
    Revert,
}

fn step(a: RespondStepArgs, step: Step, reason: &str) -> Result<u8> {
    let cfg = config(&a.store)?;
    let who = a
        .actor
        .clone()
        .unwrap_or_else(|| format!("cli:{}", actor(&None)));
    let engine = Engine::new(&cfg, None);
    let mut s = open(&a.store)?;
    let now = Utc::now();
    let (name, result) = match step {
        Step::Approve => ("approve", engine.approve(&mut s, a.id, &who, now)),
        Step::Deny => ("deny", engine.deny(&mut s, a.id, &who, reason, now)),
        Step::Revert => ("revert", engine.revert(&mut s, a.id, &who, now)),
    };
    let done = match result {
        Ok(done) => done,
        Err(e @ (OpError::NotFound(_) | OpError::Conflict(_))) => {
            bail!("cannot {name}: {e}")
        }
        Err(OpError::Failed(m)) => bail!("{name} of response action {} failed: {m}", a.id),
        Err(OpError::Store(e)) => return Err(e.into()),
    };
    let out = action_out(&done, Some(engine.executors()));
    s.audit(
        &who,
        &format!("respond.{name}"),
        &format!("response-action:{}", a.id),
        &serde_json::json!({
            "kind": out.kind, "target": out.target, "state": out.state, "reason": reason,
        })
        .to_string(),
    )?;
    println!(
        "response action #{} {} {} ({}): {}{}",
        out.id,
        out.kind,
        out.target,
        out.state,
        out.detail,
        out.expires
            .map(|t| format!("; until {} UTC", when(Some(t))))
            .unwrap_or_default()
    );
    // An approval whose action failed is recorded, but the operator must learn it did not run.
    Ok(if out.state == palisade_server::respond::state::FAILED {
        1
    } else {
        0
    })
}

fn log(a: RespondLogArgs) -> Result<u8> {
    let s = open(&a.store)?;
    let rows: Vec<_> = s
        .response_log(a.action, a.limit.max(1))?
        .iter()
        .map(log_out)
        .collect();
    if json(a.format) {
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(0);
    }
    let mut t = table(&[
        "at", "actor", "event", "action", "target", "result", "revert",
    ]);
    let field = |d: &serde_json::Value, k: &str| match d.get(k) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    };
    for r in &rows {
        t.add_row([
            when(Some(r.at)),
            r.actor.clone(),
            r.event.clone(),
            r.action.map(|i| i.to_string()).unwrap_or_default(),
            field(&r.detail, "target"),
            field(&r.detail, "result"),
            field(&r.detail, "revert"),
        ]);
    }
    println!("{t}");
    if rows.is_empty() {
        eprintln!("palisade: the response log is empty");
    }
    Ok(0)
}

/// "tags attack.t1110.001; priority ≥ 60" — the trigger in a few words.
fn trigger_summary(t: &Trigger) -> String {
    let mut parts = Vec::new();
    let mut list = |name: &str, v: &[String]| {
        if !v.is_empty() {
            parts.push(format!("{name} {}", v.join(",")));
        }
    };
    list("rules", &t.rules);
    list("tags", &t.tags);
    list("techniques", &t.techniques);
    list("detectors", &t.detectors);
    if !t.entity.is_empty() {
        let kinds: Vec<String> = t.entity.iter().map(|k| k.as_str().to_string()).collect();
        parts.push(format!("entity {}", kinds.join(",")));
    }
    if let Some(p) = t.min_priority {
        parts.push(format!("priority ≥ {p}"));
    }
    if parts.is_empty() {
        "any incident".into()
    } else {
        parts.join("; ")
    }
}

fn playbooks(a: RespondPlaybooksArgs) -> Result<u8> {
    let cfg = config(&a.store)?;
    let mut books: Vec<Playbook> = match load_playbooks(&cfg) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("palisade: the configured playbooks are invalid");
            return Ok(crate::EXIT_USAGE);
        }
    };
    let mut invalid = 0usize;
    for p in &a.paths {
        match palisade_respond::load_path(p) {
            Ok(more) => {
                eprintln!(
                    "palisade: {}: {} valid playbook(s)",
                    p.display(),
                    more.len()
                );
                books.extend(more);
            }
            Err(errs) => {
                for e in &errs.0 {
                    eprintln!("{e}");
                }
                invalid += errs.0.len();
            }
        }
    }
    if json(a.format) {
        let rows: Vec<serde_json::Value> = books
            .iter()
            .map(|b| {
                let mut v = serde_json::to_value(PlaybookOut::from(b)).unwrap_or_default();
                v["trigger"] = trigger_summary(&b.trigger).into();
                v
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        let mut t = table(&["id", "title", "mode", "enabled", "trigger", "source"]);
        for b in &books {
            t.add_row([
                b.id.clone(),
                b.title.clone(),
                b.mode.as_str().to_string(),
                if b.enabled { "yes" } else { "no" }.to_string(),
                trigger_summary(&b.trigger),
                b.source.clone(),
            ]);
        }
        println!("{t}");
    }
    if invalid > 0 {
        eprintln!("palisade: {invalid} playbook error(s)");
        return Ok(crate::EXIT_USAGE);
    }
    Ok(0)
}

//! `palisade bouncer` (keys for the CrowdSec-compatible decisions API) and
//! `palisade decisions` (operator-made decisions, like `cscli decisions`).

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use palisade_store::{
    Decision, DecisionFilter, NewDecision, ResponseStore, Scope, Store, canonical_value,
};

use crate::cli::{
    BouncerCommand, DecisionAddArgs, DecisionDeleteArgs, DecisionListArgs, DecisionsCommand,
    OutputFormat,
};
use crate::serve_cmd::open;
use crate::triage_cmd::actor;

/// Origin of decisions made on the command line.
pub const CLI_ORIGIN: &str = "palisade-cli";

fn when(ms: Option<i64>) -> String {
    ms.and_then(DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn rfc3339(ms: Option<i64>) -> Option<String> {
    ms.and_then(DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    t
}

pub fn bouncer(cmd: BouncerCommand) -> Result<u8> {
    match cmd {
        BouncerCommand::Add { name, store } => {
            let name = name.trim();
            if name.is_empty() || name.len() > 64 || name.contains(char::is_control) {
                bail!("the bouncer name must be 1–64 printable characters");
            }
            let mut s = open(&store)?;
            let (_, key) = palisade_server::auth::issue_bouncer_key(&mut s, name, "cli")?;
            println!("Bouncer {name:?} registered. Give it this key as api_key (header X-Api-Key)");
            println!(
                "and point its api_url at `palisade serve`'s listener. The key is shown only now:"
            );
            println!("{key}");
            Ok(0)
        }
        BouncerCommand::List { store, format } => {
            let s = open(&store)?;
            let list = s.bouncers()?;
            if matches!(format, OutputFormat::Json | OutputFormat::Ndjson) {
                let rows: Vec<_> = list
                    .iter()
                    .map(|b| {
                        serde_json::json!({
                            "name": b.name,
                            "created": rfc3339(Some(b.created_at)),
                            "last_pull": rfc3339(b.last_pull_at),
                            "ip": b.last_ip,
                            "user_agent": b.user_agent,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
                return Ok(0);
            }
            let mut t = table(&["name", "created", "last pull", "ip", "user agent"]);
            for b in list {
                t.add_row([
                    b.name,
                    when(Some(b.created_at)),
                    when(b.last_pull_at),
                    b.last_ip.unwrap_or_default(),
                    b.user_agent.unwrap_or_default(),
                ]);
            }
            println!("{t}");
            Ok(0)
        }
        BouncerCommand::Delete { name, store } => {
            let mut s = open(&store)?;
            if !s.delete_bouncer(&name)? {
                bail!("no bouncer named {name:?}");
            }
            s.audit(
                "cli",
                "bouncer.delete",
                &format!("bouncer:{name}"),
                &serde_json::json!({ "name": name }).to_string(),
            )?;
            eprintln!("palisade: bouncer {name:?} deleted; its key no longer works");
            Ok(0)
        }
    }
}

pub fn decisions(cmd: DecisionsCommand) -> Result<u8> {
    match cmd {
        DecisionsCommand::List(a) => list(a),
        DecisionsCommand::Add(a) => add(a),
        DecisionsCommand::Delete(a) => delete(a),
    }
}

/// `90s`, `4h`, `1h30m`, `7d` → milliseconds.
pub fn parse_duration(s: &str) -> Result<i64> {
    let t = s.trim();
    let bad =
        || anyhow::anyhow!("--duration {s:?}: give a number with a unit, e.g. 90s, 4h, 1h30m, 7d");
    if t.is_empty() {
        return Err(bad());
    }
    let (mut total, mut num) = (0i64, String::new());
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            _ => return Err(bad()),
        };
        let n: i64 = num.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(bad)?;
        num.clear();
    }
    if !num.is_empty() || total <= 0 {
        return Err(bad());
    }
    // Beyond ten years Go's bouncers could not represent the time left.
    if total > 3650 * 86_400_000 {
        bail!("--duration {s:?}: at most 3650d");
    }
    Ok(total)
}

fn list(a: DecisionListArgs) -> Result<u8> {
    let s = open(&a.store)?;
    let now = Utc::now().timestamp_millis();
    let found = s.decisions(
        &DecisionFilter {
            include_inactive: a.all,
            limit: Some(a.limit.max(1)),
            ..DecisionFilter::default()
        },
        now,
    )?;
    if matches!(a.format, OutputFormat::Json | OutputFormat::Ndjson) {
        let rows: Vec<_> = found.iter().map(|d| decision_json(d, now)).collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(0);
    }
    let mut t = table(&[
        "id",
        "scope:value",
        "type",
        "origin",
        "reason",
        "created",
        "until",
        "state",
    ]);
    for d in &found {
        t.add_row([
            d.id.to_string(),
            format!("{}:{}", d.scope.as_str(), d.value),
            d.kind.clone(),
            d.origin.clone(),
            d.reason.clone(),
            when(Some(d.created_at)),
            d.until.map_or("permanent".into(), |u| when(Some(u))),
            state(d, now).into(),
        ]);
    }
    println!("{t}");
    if found.is_empty() {
        eprintln!(
            "palisade: no {}decisions",
            if a.all { "" } else { "active " }
        );
    }
    Ok(0)
}

fn state(d: &Decision, now: i64) -> &'static str {
    match (d.is_active(now), d.deleted_at, d.until) {
        (true, _, _) => "active",
        (false, Some(del), Some(u)) if u <= del => "expired",
        (false, Some(_), _) => "deleted",
        _ => "expired",
    }
}

fn decision_json(d: &Decision, now: i64) -> serde_json::Value {
    serde_json::json!({
        "id": d.id,
        "uuid": d.uuid,
        "origin": d.origin,
        "type": d.kind,
        "scope": d.scope.as_str(),
        "value": d.value,
        "scenario": d.scenario,
        "reason": d.reason,
        "created": rfc3339(Some(d.created_at)),
        "until": rfc3339(d.until),
        "deleted": rfc3339(d.deleted_at),
        "state": state(d, now),
        "action_id": d.action_id,
    })
}

fn add(a: DecisionAddArgs) -> Result<u8> {
    let (scope, raw) = match (&a.ip, &a.range) {
        (Some(ip), _) => (Scope::Ip, ip),
        (None, Some(r)) => (Scope::Range, r),
        (None, None) => bail!("give --ip or --range"),
    };
    let value = canonical_value(scope, raw)?;
    let ms = parse_duration(&a.duration)?;
    let kind = a.kind.trim().to_ascii_lowercase();
    if kind.is_empty()
        || kind.len() > 32
        || !kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("--type {:?}: a short word such as ban or captcha", a.kind);
    }
    let who = actor(&a.actor);
    let mut s = open(&a.store)?;
    let now = Utc::now().timestamp_millis();
    let d = s.add_decision(&NewDecision {
        origin: CLI_ORIGIN.into(),
        kind: kind.clone(),
        scope,
        value: value.clone(),
        scenario: format!("manual '{kind}' from '{who}'"),
        reason: a.reason.clone(),
        created_at: now,
        until: Some(now + ms),
        action_id: None,
        simulated: false,
    })?;
    let extended = d.created_at != now;
    s.audit(
        &who,
        "decision.add",
        &format!("decision:{}", d.id),
        &serde_json::json!({
            "scope": scope.as_str(), "value": value, "type": kind,
            "duration": a.duration, "reason": a.reason, "extended": extended,
        })
        .to_string(),
    )?;
    let until = d.until.map_or("permanent".into(), |u| when(Some(u)));
    if extended {
        println!(
            "decision #{} on {value} already active; it now lasts until {until} UTC",
            d.id
        );
    } else {
        println!("decision #{} added: {kind} {value} until {until} UTC", d.id);
    }
    Ok(0)
}

fn delete(a: DecisionDeleteArgs) -> Result<u8> {
    let who = actor(&a.actor);
    let mut s = open(&a.store)?;
    let now = Utc::now().timestamp_millis();
    let (n, target) = match (a.id, &a.ip, &a.range) {
        (Some(id), _, _) => (
            u64::from(s.delete_decision(id, now)?),
            format!("decision:{id}"),
        ),
        (None, Some(ip), _) => {
            let v = canonical_value(Scope::Ip, ip)?;
            (s.delete_decisions_for_value(&v, now)?, format!("ip:{v}"))
        }
        (None, None, Some(r)) => {
            let v = canonical_value(Scope::Range, r)?;
            (s.delete_decisions_for_value(&v, now)?, format!("range:{v}"))
        }
        _ => bail!("give a decision id, --ip or --range"),
    };
    if n == 0 {
        bail!("no active decision matches {target}");
    }
    s.audit(
        &who,
        "decision.delete",
        &target,
        &serde_json::json!({ "deleted": n }).to_string(),
    )?;
    println!("{n} decision(s) deleted ({target}); bouncers lift them on their next pull");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_cscli() {
        assert_eq!(parse_duration("90s").unwrap(), 90_000);
        assert_eq!(parse_duration("4h").unwrap(), 14_400_000);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration(" 7d ").unwrap(), 7 * 86_400_000);
        for bad in ["", "4", "h", "4x", "0s", "-1h", "99999999999999d", "3651d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}

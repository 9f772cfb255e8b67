//! From an incident to planned actions: which playbooks fire, on which targets, and which of
//! those are refused (allowlist, cooldown, blast-radius cap) — every decision is returned, the
//! refused ones with their reason, so the audit log shows what was *not* done and why.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use palisade_event::Alert;
use palisade_triage::{Entity, EntityKind, Incident};
use serde::{Deserialize, Serialize};

use crate::action::{Action, net_text};
use crate::playbook::{ActionSpec, Mode, Playbook, WebhookFormat, parse_net};

/// ECS fields gathered from alerts' events and evidence.
pub const SUBJECT_FIELDS: &[&str] = &[
    "source.ip",
    "destination.ip",
    "user.name",
    "host.name",
    "process.pid",
    "process.executable",
    "file.path",
];

/// Source-format names of the same values (Windows Security, Sysmon, Zeek, …), so a playbook
/// written against ECS (`source.ip`) also acts on, e.g., a Windows logon brute force whose
/// correlation groups by `IpAddress`.
pub const ALIASES: &[(&str, &str)] = &[
    ("IpAddress", "source.ip"),
    ("SourceAddress", "source.ip"),
    ("SourceIp", "source.ip"),
    ("src_ip", "source.ip"),
    ("id.orig_h", "source.ip"),
    ("client.ip", "source.ip"),
    ("DestAddress", "destination.ip"),
    ("DestinationIp", "destination.ip"),
    ("dst_ip", "destination.ip"),
    ("id.resp_h", "destination.ip"),
    ("TargetUserName", "user.name"),
];

/// Most values kept per field (a huge incident must not make a huge subject).
const MAX_VALUES: usize = 256;

/// What a playbook looks at.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Subject {
    pub incident: i64,
    pub title: String,
    pub priority: f64,
    pub primary: Option<Entity>,
    pub entities: Vec<Entity>,
    pub rule_ids: Vec<String>,
    pub rule_names: Vec<String>,
    pub tags: Vec<String>,
    pub techniques: Vec<String>,
    pub detectors: Vec<String>,
    /// ECS values from the alerts ([`SUBJECT_FIELDS`]); evidence pairs as `evidence.<key>`
    /// and as `key=value` under `alert.evidence`.
    pub fields: BTreeMap<String, Vec<String>>,
}

impl Subject {
    /// The subject of an incident; `alerts` are the incident's alerts (its alert indices index
    /// the batch it was built from; the caller resolves them).
    pub fn from_incident(incident: &Incident, alerts: &[&Alert]) -> Subject {
        let mut s = Subject {
            incident: incident.id,
            title: incident.title.clone(),
            priority: incident.priority,
            primary: incident.primary.clone(),
            entities: incident.entities.clone(),
            ..Subject::default()
        };
        for g in &incident.timeline {
            push(&mut s.rule_ids, &g.rule_id);
            push(&mut s.rule_names, &g.rule_title);
            push(&mut s.detectors, &g.detector);
            for t in &g.techniques {
                push(&mut s.techniques, &t.to_ascii_uppercase());
            }
        }
        for a in alerts {
            push(&mut s.rule_ids, &a.rule.id);
            push(&mut s.rule_names, &a.rule.title);
            push(&mut s.detectors, a.detector);
            for t in &a.rule.tags {
                let t = t.to_ascii_lowercase();
                if let Some(tech) = t.strip_prefix("attack.")
                    && tech.starts_with('t')
                    && tech[1..].starts_with(|c: char| c.is_ascii_digit())
                {
                    push(&mut s.techniques, &tech.to_ascii_uppercase());
                }
                push(&mut s.tags, &t);
            }
            if let Some(h) = &a.host {
                s.add("host.name", h);
            }
            if let Some(ev) = &a.event {
                for f in SUBJECT_FIELDS {
                    if let Some(v) = ev.get_by_name(f).filter(|v| !v.is_null()) {
                        s.add(f, &v.to_string());
                    }
                }
                for (raw, ecs) in ALIASES {
                    if let Some(v) = ev.get_by_name(raw).filter(|v| !v.is_null()) {
                        s.add(ecs, &v.to_string());
                    }
                }
            }
            for (k, v) in &a.evidence {
                if SUBJECT_FIELDS.contains(&k.as_str()) {
                    s.add(k, v);
                }
                if let Some((_, ecs)) = ALIASES.iter().find(|(raw, _)| *raw == k.as_str()) {
                    s.add(ecs, v);
                }
                s.add(&format!("evidence.{k}"), v);
                s.add("alert.evidence", &format!("{k}={v}"));
            }
        }
        s
    }

    /// Adds a value to a field (trimmed, deduplicated, bounded).
    pub fn add(&mut self, field: &str, value: &str) {
        let v = value.trim();
        if v.is_empty() || v == "-" {
            return;
        }
        let vals = self.fields.entry(field.to_owned()).or_default();
        if vals.len() < MAX_VALUES && !vals.iter().any(|x| x == v) {
            vals.push(v.to_owned());
        }
    }

    /// A field's values, including the virtual `incident.id`, `incident.title`,
    /// `incident.priority`.
    pub fn values(&self, field: &str) -> Vec<String> {
        match field {
            "incident.id" => vec![self.incident.to_string()],
            "incident.title" => vec![self.title.clone()],
            "incident.priority" => vec![format!("{}", self.priority)],
            f => self.fields.get(f).cloned().unwrap_or_default(),
        }
    }
}

fn push(v: &mut Vec<String>, s: &str) {
    if !s.is_empty() && !v.iter().any(|x| x == s) {
        v.push(s.to_owned());
    }
}

/// Addresses, users and hosts no action may ever be aimed at.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Allowlist {
    pub cidrs: Vec<IpNet>,
    pub users: Vec<String>,
    pub hosts: Vec<String>,
}

impl Allowlist {
    /// Loopback, link-local, unspecified, this host's own addresses (getifaddrs) and host name,
    /// and the `root` account.
    pub fn for_this_host() -> Allowlist {
        let mut a = Allowlist {
            cidrs: [
                "127.0.0.0/8",
                "::1/128",
                "169.254.0.0/16",
                "fe80::/10",
                "0.0.0.0/32",
                "::/128",
            ]
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect(),
            users: vec!["root".into()],
            hosts: Vec::new(),
        };
        if let Ok(ifs) = if_addrs::get_if_addrs() {
            for i in ifs {
                a.add_cidr(IpNet::from(i.ip()));
            }
        }
        if let Some(h) = host_name() {
            a.hosts.push(h);
        }
        a
    }

    pub fn add_cidr(&mut self, net: IpNet) {
        let net = net.trunc();
        if !self.cidrs.contains(&net) {
            self.cidrs.push(net);
        }
    }

    /// Why blocking `net` is refused: it overlaps an allowlisted range (inside one, or holding
    /// one, like `0.0.0.0/0` or a /16 around our own address).
    pub fn refuses_net(&self, net: &IpNet) -> Option<String> {
        if net.prefix_len() == 0 {
            return Some(format!("{net} is every address"));
        }
        self.cidrs
            .iter()
            .find(|a| a.contains(net) || net.contains(*a))
            .map(|a| format!("allowlisted: {} overlaps {}", net_text(net), net_text(a)))
    }

    fn refuses_value(&self, v: &str) -> Option<String> {
        let t = v.trim();
        if let Some(net) = parse_net(t) {
            return self.refuses_net(&net);
        }
        if let Some(h) = self.hosts.iter().find(|h| h.eq_ignore_ascii_case(t)) {
            return Some(format!("allowlisted host {h}"));
        }
        None
    }

    fn refuses_user(&self, u: &str) -> Option<String> {
        let bare = u.trim().rsplit_once('\\').map_or(u.trim(), |(_, u)| u);
        self.users
            .iter()
            .find(|a| a.eq_ignore_ascii_case(bare) || a.eq_ignore_ascii_case(u.trim()))
            .map(|a| format!("allowlisted user {a}"))
    }
}

/// This machine's host name (lower-case), from the kernel.
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
}

/// One decision of the planner (serialisable: the server stores pending approvals).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Planned {
    /// Playbook id.
    pub playbook: String,
    pub mode: Mode,
    pub action: Action,
    /// Lifetime of blocks, decisions and locks (`None`: permanent, or not applicable).
    #[serde(with = "crate::duration::opt_secs")]
    pub ttl: Option<Duration>,
    /// Why it fired, in words.
    pub reason: String,
    /// Set when the action must not run, with the reason.
    pub refused: Option<String>,
}

/// Applies playbooks to subjects, remembering what it planned for cooldowns and caps.
#[derive(Debug)]
pub struct Planner {
    playbooks: Vec<Playbook>,
    allowlist: Allowlist,
    /// (playbook, action kind, target) → last planned.
    acted: HashMap<(String, &'static str, String), DateTime<Utc>>,
    /// playbook → times of planned actions within its cap window.
    recent: HashMap<String, VecDeque<DateTime<Utc>>>,
}

impl Planner {
    pub fn new(playbooks: Vec<Playbook>, allowlist: Allowlist) -> Planner {
        Planner {
            playbooks,
            allowlist,
            acted: HashMap::new(),
            recent: HashMap::new(),
        }
    }

    pub fn playbooks(&self) -> &[Playbook] {
        &self.playbooks
    }

    pub fn allowlist(&self) -> &Allowlist {
        &self.allowlist
    }

    /// Every decision for `subject` at `now`: fired playbooks' actions per target, refused ones
    /// included. Non-refused decisions count towards cooldowns and caps (whatever the mode, so
    /// a waiting approval is not proposed twice).
    pub fn plan(&mut self, subject: &Subject, now: DateTime<Utc>) -> Vec<Planned> {
        self.forget(now);
        let mut out = Vec::new();
        for pb in &self.playbooks {
            if !pb.enabled {
                continue;
            }
            let Some(why) = fires(pb, subject) else {
                continue;
            };
            let reason = format!(
                "playbook {} on incident {} ({}, priority {:.0}): {why}",
                pb.id, subject.incident, subject.title, subject.priority
            );
            for spec in &pb.actions {
                for (action, ttl, mut refused) in resolve(pb, spec, subject) {
                    let target = action.target();
                    if refused.is_none() {
                        refused = self.allowed(&action);
                    }
                    let key = (pb.id.clone(), action.kind(), target);
                    if refused.is_none()
                        && let Some(&last) = self.acted.get(&key)
                        && elapsed(last, now) < pb.cooldown
                    {
                        refused = Some(format!(
                            "cooldown: already planned at {} (cooldown {})",
                            last.to_rfc3339(),
                            crate::duration::format(pb.cooldown)
                        ));
                    }
                    if refused.is_none() {
                        let q = self.recent.entry(pb.id.clone()).or_default();
                        while q
                            .front()
                            .is_some_and(|&t| elapsed(t, now) >= pb.max_actions.per)
                        {
                            q.pop_front();
                        }
                        if q.len() >= pb.max_actions.count as usize {
                            refused = Some(format!(
                                "blast-radius cap: {} actions within {} already",
                                pb.max_actions.count,
                                crate::duration::format(pb.max_actions.per)
                            ));
                        } else {
                            q.push_back(now);
                            self.acted.insert(key, now);
                        }
                    }
                    out.push(Planned {
                        playbook: pb.id.clone(),
                        mode: pb.mode,
                        action,
                        ttl,
                        reason: reason.clone(),
                        refused,
                    });
                }
            }
        }
        out
    }

    fn allowed(&self, action: &Action) -> Option<String> {
        let a = &self.allowlist;
        match action {
            Action::Block { net, .. } | Action::Decision { net, .. } => a.refuses_net(net),
            Action::LockUser { user } => a.refuses_user(user),
            Action::Exec { argv, .. } => argv.iter().skip(1).find_map(|v| a.refuses_value(v)),
            Action::KillProcess { .. } | Action::Quarantine { .. } | Action::Webhook { .. } => None,
        }
    }

    /// Drops cooldown entries older than the longest cooldown (memory stays bounded by what
    /// happened recently).
    fn forget(&mut self, now: DateTime<Utc>) {
        let longest = self
            .playbooks
            .iter()
            .map(|p| p.cooldown)
            .max()
            .unwrap_or_default();
        self.acted.retain(|_, t| elapsed(*t, now) < longest);
        self.recent.retain(|_, q| !q.is_empty());
    }
}

fn elapsed(then: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - then).to_std().unwrap_or_default()
}

/// Why `pb` fires on `s` (in words), or `None`.
pub fn fires(pb: &Playbook, s: &Subject) -> Option<String> {
    let t = &pb.trigger;
    let mut why = Vec::new();
    if let Some(min) = t.min_priority {
        if s.priority < min {
            return None;
        }
        why.push(format!("priority {:.0} ≥ {min}", s.priority));
    }
    if !t.rules.is_empty() {
        let hit = s
            .rule_ids
            .iter()
            .chain(&s.rule_names)
            .find(|r| t.rules.iter().any(|p| glob(p, r)))?;
        why.push(format!("rule {hit}"));
    }
    if !t.tags.is_empty() {
        let hit = s
            .tags
            .iter()
            .find(|tag| t.tags.iter().any(|p| dotted_prefix(p, tag)))?;
        why.push(format!("tag {hit}"));
    }
    if !t.techniques.is_empty() {
        let hit = s
            .techniques
            .iter()
            .find(|x| t.techniques.iter().any(|p| dotted_prefix(p, x)))?;
        why.push(format!("technique {hit}"));
    }
    if !t.detectors.is_empty() {
        let hit = s
            .detectors
            .iter()
            .find(|d| t.detectors.iter().any(|p| glob(p, d)))?;
        why.push(format!("detector {hit}"));
    }
    if !t.entity.is_empty() {
        let hit = s.entities.iter().find(|e| t.entity.contains(&e.kind))?;
        why.push(format!("entity {hit}"));
    }
    for c in &pb.conditions {
        let vals = s.values(&c.field);
        let v = vals.iter().find(|v| c.passes(v))?;
        why.push(format!("{} {} ({v})", c.field, op_text(c)));
    }
    Some(why.join(", "))
}

fn op_text(c: &crate::playbook::Condition) -> String {
    let op = serde_json::to_value(c.op)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    format!("{op} {}", c.values.join(","))
}

/// `pattern` with `*` wildcards against `text`, case-insensitive.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p = pattern.to_lowercase();
    let t = text.to_lowercase();
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == t;
    }
    let mut rest = t.as_str();
    let Some(first) = rest.strip_prefix(parts[0]) else {
        return false;
    };
    rest = first;
    let last = parts[parts.len() - 1];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// `attack.t1110` matches `attack.t1110` and `attack.t1110.001`, not `attack.t11100`; `*` globs.
fn dotted_prefix(pattern: &str, text: &str) -> bool {
    if pattern.contains('*') {
        return glob(pattern, text);
    }
    let (p, t) = (pattern.to_lowercase(), text.to_lowercase());
    t == p || t.strip_prefix(&p).is_some_and(|r| r.starts_with('.'))
}

/// The values a target names, filtered by the conditions on that field.
fn target_values(pb: &Playbook, s: &Subject, target: &str) -> Vec<String> {
    let vals: Vec<String> = if target == "primary" {
        s.primary.iter().map(|e| e.value.clone()).collect()
    } else if let Some(kind) = target.strip_prefix("entity.") {
        let kind: Option<EntityKind> = kind.parse().ok();
        s.entities
            .iter()
            .filter(|e| Some(e.kind) == kind)
            .map(|e| e.value.clone())
            .collect()
    } else {
        s.values(target)
    };
    vals.into_iter()
        .filter(|v| {
            pb.conditions
                .iter()
                .filter(|c| c.field == target)
                .all(|c| c.passes(v))
        })
        .collect()
}

/// Block targets: the given field, else `source.ip`, else the primary entity if it is an IP.
fn block_targets(pb: &Playbook, s: &Subject, target: &Option<String>) -> Vec<String> {
    match target {
        Some(t) => target_values(pb, s, t),
        None => {
            let v = target_values(pb, s, "source.ip");
            if !v.is_empty() {
                return v;
            }
            s.primary
                .iter()
                .filter(|e| e.kind == EntityKind::Ip)
                .map(|e| e.value.clone())
                .collect()
        }
    }
}

type Resolved = (Action, Option<Duration>, Option<String>);

fn resolve(pb: &Playbook, spec: &ActionSpec, s: &Subject) -> Vec<Resolved> {
    let ttl_of = |t: &Option<Option<Duration>>| t.unwrap_or(pb.ttl);
    // Values that are not addresses or networks (a domain indicator, garbage) are skipped.
    let nets = |vals: Vec<String>, mk: &dyn Fn(IpNet) -> Action| -> Vec<Action> {
        vals.iter().filter_map(|v| parse_net(v)).map(mk).collect()
    };
    match spec {
        ActionSpec::Block { target, ttl } => {
            let ttl = ttl_of(ttl);
            nets(block_targets(pb, s, target), &|net| Action::Block {
                net,
                ttl,
            })
            .into_iter()
            .map(|a| (a, ttl, None))
            .collect()
        }
        ActionSpec::Decision {
            target,
            ttl,
            scenario,
        } => {
            let ttl = ttl_of(ttl);
            let scenario = scenario
                .clone()
                .unwrap_or_else(|| format!("palisade/{}", pb.id));
            nets(block_targets(pb, s, target), &|net| Action::Decision {
                net,
                ttl,
                scenario: scenario.clone(),
            })
            .into_iter()
            .map(|a| (a, ttl, None))
            .collect()
        }
        ActionSpec::LockUser { target, ttl } => {
            let ttl = ttl_of(ttl);
            target_values(pb, s, target)
                .into_iter()
                .map(|user| (Action::LockUser { user }, ttl, None))
                .collect()
        }
        ActionSpec::KillProcess { target } => {
            let host = s.values("host.name").into_iter().next().unwrap_or_default();
            target_values(pb, s, target)
                .into_iter()
                .filter_map(|v| v.trim().parse::<u32>().ok().filter(|&p| p > 1))
                .map(|pid| {
                    (
                        Action::KillProcess {
                            pid,
                            host: host.clone(),
                        },
                        None,
                        None,
                    )
                })
                .collect()
        }
        ActionSpec::Quarantine { target } => target_values(pb, s, target)
            .into_iter()
            .filter(|p| p.starts_with('/'))
            .map(|path| {
                (
                    Action::Quarantine {
                        path,
                        incident: s.incident,
                    },
                    None,
                    None,
                )
            })
            .collect(),
        ActionSpec::Webhook {
            url,
            format,
            headers,
        } => {
            let summary = serde_json::json!({
                "playbook": pb.id,
                "incident": {
                    "id": s.incident,
                    "title": s.title,
                    "priority": s.priority,
                    "primary": s.primary.as_ref().map(ToString::to_string),
                    "entities": s.entities.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "rules": s.rule_names,
                    "techniques": s.techniques,
                },
                "fields": s.fields.iter().filter(|(k, _)| SUBJECT_FIELDS.contains(&k.as_str())).collect::<BTreeMap<_, _>>(),
            });
            let body = match format {
                WebhookFormat::Json => summary,
                WebhookFormat::Slack => serde_json::json!({
                    "text": format!(
                        "Palisade incident {} (priority {:.0}): {}{} — playbook {}",
                        s.incident,
                        s.priority,
                        s.title,
                        s.primary.as_ref().map(|p| format!(" [{p}]")).unwrap_or_default(),
                        pb.id
                    )
                }),
            };
            vec![(
                Action::Webhook {
                    url: url.clone(),
                    format: *format,
                    headers: headers.clone(),
                    body,
                },
                None,
                None,
            )]
        }
        ActionSpec::Exec { argv, revert_argv } => expand_exec(s, argv, revert_argv.as_deref()),
    }
}

/// The `{field}` names of a template (`{{` and `}}` are literal braces).
pub fn template_fields(t: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = t.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().is_some_and(|(_, n)| *n == '{') => {
                chars.next();
            }
            '}' if chars.peek().is_some_and(|(_, n)| *n == '}') => {
                chars.next();
            }
            '{' => {
                let rest = &t[i + 1..];
                let end = rest.find('}').ok_or_else(|| {
                    format!("{t:?}: unclosed {{ (write {{{{ for a literal brace)")
                })?;
                let name = &rest[..end];
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
                {
                    return Err(format!("{t:?}: {{{name}}} is not a field name"));
                }
                out.push(name.to_owned());
                for _ in 0..=end {
                    chars.next();
                }
            }
            '}' => return Err(format!("{t:?}: stray }} (write }}}} for a literal brace)")),
            _ => {}
        }
    }
    Ok(out)
}

/// Substitutes one template; each value lands inside its own argument, never re-split.
fn substitute(t: &str, value_of: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(t.len());
    let mut chars = t.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().is_some_and(|(_, n)| *n == '{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek().is_some_and(|(_, n)| *n == '}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let rest = &t[i + 1..];
                let end = rest.find('}').ok_or("unclosed {")?;
                let name = &rest[..end];
                let v = value_of(name).ok_or_else(|| format!("{name} has no value"))?;
                if v.contains('\0') {
                    return Err(format!("the value of {name} contains NUL"));
                }
                out.push_str(&v);
                for _ in 0..=end {
                    chars.next();
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// One exec action per value of the first templated field (other fields take their first value).
fn expand_exec(s: &Subject, argv: &[String], revert: Option<&[String]>) -> Vec<Resolved> {
    let fields: Vec<String> = argv
        .iter()
        .chain(revert.unwrap_or_default())
        .flat_map(|a| template_fields(a).unwrap_or_default())
        .collect();
    let first = fields.first().cloned();
    let choices: Vec<Option<String>> = match &first {
        Some(f) => {
            let v = s.values(f);
            if v.is_empty() {
                vec![None]
            } else {
                v.into_iter().map(Some).collect()
            }
        }
        None => vec![None],
    };
    choices
        .into_iter()
        .map(|choice| {
            let value_of = |name: &str| -> Option<String> {
                if Some(name) == first.as_deref() {
                    return choice.clone();
                }
                s.values(name).into_iter().next()
            };
            let sub = |a: &[String]| -> Result<Vec<String>, String> {
                a.iter().map(|x| substitute(x, &value_of)).collect()
            };
            match (sub(argv), revert.map(sub).transpose()) {
                (Ok(argv), Ok(revert_argv)) => (Action::Exec { argv, revert_argv }, None, None),
                (Err(e), _) | (_, Err(e)) => (
                    Action::Exec {
                        argv: argv.to_vec(),
                        revert_argv: revert.map(<[String]>::to_vec),
                    },
                    None,
                    Some(format!("cannot fill the command: {e}")),
                ),
            }
        })
        .collect()
}

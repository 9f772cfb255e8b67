//! Playbooks: when an incident matches a trigger and conditions, which actions to take, how
//! (auto, after approval, or dry-run), and within which limits (cooldown, blast-radius cap, ttl).
//!
//! YAML, one or more documents per file, loaded from a file or a directory tree. Everything is
//! validated at load time and every error names file, line:column and key, e.g.
//! `playbooks/ssh.yml:7:5: actions[0].block.ttl: "4x" is not a duration (use 30s, 10m, 4h, 7d)`.
//! Unknown keys are errors (a typo must never silently disable a criterion).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use palisade_triage::EntityKind;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::duration;
use crate::yaml::{self, Node, Pos};

/// How a playbook's actions are carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Executed at once.
    Auto,
    /// Queued until an analyst approves (the safe default).
    #[default]
    Approve,
    /// Only described, never executed.
    DryRun,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Approve => "approve",
            Mode::DryRun => "dry-run",
        }
    }
}

/// Which incidents a playbook looks at. Every given criterion must hold; within a list, any item.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Trigger {
    pub min_priority: Option<f64>,
    /// Rule ids or titles; `*` matches any run of characters; case-insensitive.
    pub rules: Vec<String>,
    /// Tags; `attack.t1110` matches `attack.t1110.001` (prefix at a `.` boundary).
    pub tags: Vec<String>,
    /// ATT&CK techniques; `T1110` matches `T1110.001`.
    pub techniques: Vec<String>,
    /// Detector families (`sigma`, `sigma-correlation`, `ioc`, `beacon`, `anomaly`, `ueba`).
    pub detectors: Vec<String>,
    /// Entity kinds of which one must be present.
    pub entity: Vec<EntityKind>,
}

/// A condition's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Equals,
    NotEquals,
    In,
    NotIn,
    Cidr,
    NotCidr,
    Gte,
    Lte,
    Matches,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "equals" => Op::Equals,
            "not_equals" => Op::NotEquals,
            "in" => Op::In,
            "not_in" => Op::NotIn,
            "cidr" => Op::Cidr,
            "not_cidr" => Op::NotCidr,
            "gte" => Op::Gte,
            "lte" => Op::Lte,
            "matches" => Op::Matches,
            _ => return None,
        })
    }
}

/// `{field, op, value}` over a subject's field values. It holds when at least one value of the
/// field passes (negated operators test each value: `source.ip not_cidr 10.0.0.0/8` holds when
/// some source address is outside 10/8); a missing field never passes. An action whose target
/// is a field with conditions acts only on the values that pass them.
#[derive(Debug, Clone, Serialize)]
pub struct Condition {
    pub field: String,
    pub op: Op,
    pub values: Vec<String>,
    #[serde(skip)]
    pub(crate) nets: Vec<IpNet>,
    #[serde(skip)]
    pub(crate) number: f64,
    #[serde(skip)]
    pub(crate) regex: Option<Regex>,
}

impl Condition {
    /// Whether one value passes.
    pub fn passes(&self, value: &str) -> bool {
        let v = value.trim();
        let ip = || {
            v.parse::<IpNet>()
                .ok()
                .or_else(|| v.parse::<std::net::IpAddr>().ok().map(IpNet::from))
        };
        match self.op {
            Op::Equals | Op::In => self.values.iter().any(|x| x.eq_ignore_ascii_case(v)),
            Op::NotEquals | Op::NotIn => !self.values.iter().any(|x| x.eq_ignore_ascii_case(v)),
            Op::Cidr => ip().is_some_and(|ip| self.nets.iter().any(|n| n.contains(&ip))),
            Op::NotCidr => ip().is_some_and(|ip| !self.nets.iter().any(|n| n.contains(&ip))),
            Op::Gte => v.parse::<f64>().is_ok_and(|x| x >= self.number),
            Op::Lte => v.parse::<f64>().is_ok_and(|x| x <= self.number),
            Op::Matches => self.regex.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }
}

/// Webhook body style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The action's JSON body as is.
    Json,
    /// Slack-compatible `{"text": …}`.
    Slack,
}

/// One action as written in a playbook (targets still unresolved). `ttl`: `None` = the
/// playbook's; `Some(None)` = permanent (written as `0` or `permanent`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionSpec {
    Block {
        target: Option<String>,
        ttl: Option<Option<Duration>>,
    },
    Decision {
        target: Option<String>,
        ttl: Option<Option<Duration>>,
        scenario: Option<String>,
    },
    LockUser {
        target: String,
        ttl: Option<Option<Duration>>,
    },
    KillProcess {
        target: String,
    },
    Quarantine {
        target: String,
    },
    Webhook {
        url: String,
        format: WebhookFormat,
        headers: Vec<(String, String)>,
    },
    Exec {
        argv: Vec<String>,
        revert_argv: Option<Vec<String>>,
    },
}

impl ActionSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ActionSpec::Block { .. } => "block",
            ActionSpec::Decision { .. } => "decision",
            ActionSpec::LockUser { .. } => "lock_user",
            ActionSpec::KillProcess { .. } => "kill_process",
            ActionSpec::Quarantine { .. } => "quarantine",
            ActionSpec::Webhook { .. } => "webhook",
            ActionSpec::Exec { .. } => "exec",
        }
    }
}

/// At most `count` actions per `per` for one playbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RateCap {
    pub count: u32,
    #[serde(with = "duration::secs")]
    pub per: Duration,
}

/// One validated playbook.
#[derive(Debug, Clone, Serialize)]
pub struct Playbook {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub trigger: Trigger,
    pub conditions: Vec<Condition>,
    pub actions: Vec<ActionSpec>,
    pub mode: Mode,
    /// Per (playbook, action kind, target).
    #[serde(with = "duration::secs")]
    pub cooldown: Duration,
    pub max_actions: RateCap,
    /// Default lifetime of blocks, decisions and locks; `None` = permanent.
    #[serde(with = "duration::opt_secs")]
    pub ttl: Option<Duration>,
    /// Where it was loaded from.
    pub source: String,
}

pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(600);
pub const DEFAULT_TTL: Duration = Duration::from_secs(4 * 3600);
pub const DEFAULT_CAP: RateCap = RateCap {
    count: 50,
    per: Duration::from_secs(600),
};

/// A playbook error: file, position, key and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybookError {
    pub file: String,
    pub pos: Option<Pos>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for PlaybookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(p) = self.pos {
            write!(f, ":{p}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every error found while loading (loading goes on after an error so all are reported).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadErrors(pub Vec<PlaybookError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// The playbooks shipped with Palisade, embedded at build time.
pub const DEFAULT_FILES: &[(&str, &str)] = &[
    (
        "playbooks/ssh-rdp-brute-force.yml",
        include_str!("../playbooks/ssh-rdp-brute-force.yml"),
    ),
    (
        "playbooks/password-spraying.yml",
        include_str!("../playbooks/password-spraying.yml"),
    ),
    (
        "playbooks/known-bad-intel-ip.yml",
        include_str!("../playbooks/known-bad-intel-ip.yml"),
    ),
    (
        "playbooks/c2-beaconing-host.yml",
        include_str!("../playbooks/c2-beaconing-host.yml"),
    ),
];

/// The default playbooks (valid by construction: a unit test loads them).
pub fn default_playbooks() -> Vec<Playbook> {
    parse_files(
        DEFAULT_FILES
            .iter()
            .map(|(f, t)| (f.to_string(), t.to_string())),
    )
    .expect("the embedded playbooks are valid")
}

/// Parses the playbooks of one YAML text; `file` names it in errors.
pub fn parse_str(file: &str, text: &str) -> Result<Vec<Playbook>, LoadErrors> {
    parse_files([(file.to_owned(), text.to_owned())])
}

/// Loads a file, or every `*.yml`/`*.yaml` under a directory (recursively, in name order).
/// Ids must be unique across all of them.
pub fn load_path(path: &Path) -> Result<Vec<Playbook>, LoadErrors> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    if path.is_dir() {
        collect(path, &mut files, &mut errors);
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut texts = Vec::new();
    for f in files {
        match std::fs::read_to_string(&f) {
            Ok(t) => texts.push((f.display().to_string(), t)),
            Err(e) => errors.push(PlaybookError {
                file: f.display().to_string(),
                pos: None,
                key: String::new(),
                message: format!("cannot read: {e}"),
            }),
        }
    }
    match parse_files(texts) {
        Ok(p) if errors.is_empty() => Ok(p),
        Ok(_) => Err(LoadErrors(errors)),
        Err(LoadErrors(more)) => {
            errors.extend(more);
            Err(LoadErrors(errors))
        }
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<PlaybookError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            return errors.push(PlaybookError {
                file: dir.display().to_string(),
                pos: None,
                key: String::new(),
                message: format!("cannot read directory: {e}"),
            });
        }
    };
    for entry in entries.flatten() {
        let p = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            collect(&p, out, errors);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")) {
            out.push(p);
        }
    }
}

/// Parses several (file name, text) pairs as one set: ids are unique across them.
pub fn parse_files(
    files: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<Playbook>, LoadErrors> {
    let mut out: Vec<Playbook> = Vec::new();
    let mut errors = Vec::new();
    let mut ids: BTreeMap<String, (String, Pos)> = BTreeMap::new();
    for (file, text) in files {
        let docs = match yaml::load(&text) {
            Ok(d) => d,
            Err(e) => {
                errors.push(PlaybookError {
                    file,
                    pos: Some(e.pos),
                    key: String::new(),
                    message: format!("YAML: {}", e.message),
                });
                continue;
            }
        };
        for doc in docs.iter().filter(|d| !d.is_null()) {
            let mut cx = Cx {
                file: &file,
                errors: Vec::new(),
            };
            let pb = cx.playbook(doc);
            errors.append(&mut cx.errors);
            let Some(pb) = pb else { continue };
            if let Some((other, _)) = ids.get(&pb.id) {
                let pos = id_pos(doc);
                errors.push(PlaybookError {
                    file: file.clone(),
                    pos,
                    key: "id".into(),
                    message: format!("{:?} is already the id of a playbook in {other}", pb.id),
                });
                continue;
            }
            ids.insert(pb.id.clone(), (file.clone(), doc.pos()));
            out.push(pb);
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(LoadErrors(errors))
    }
}

fn id_pos(doc: &Node) -> Option<Pos> {
    match doc {
        Node::Map(e, _) => e.iter().find(|(k, ..)| k == "id").map(|(_, _, v)| v.pos()),
        _ => None,
    }
}

/// Validation context for one document.
struct Cx<'a> {
    file: &'a str,
    errors: Vec<PlaybookError>,
}

type Entries<'n> = &'n [(String, Pos, Node)];

impl Cx<'_> {
    fn err(&mut self, pos: Pos, key: &str, message: impl Into<String>) {
        self.errors.push(PlaybookError {
            file: self.file.to_owned(),
            pos: Some(pos),
            key: key.to_owned(),
            message: message.into(),
        });
    }

    /// The entries of a mapping, after reporting keys not in `allowed`.
    fn map<'n>(&mut self, node: &'n Node, key: &str, allowed: &[&str]) -> Option<Entries<'n>> {
        let Node::Map(entries, _) = node else {
            self.err(
                node.pos(),
                key,
                format!("expected a mapping, found a {}", node.kind()),
            );
            return None;
        };
        for (k, kp, _) in entries {
            if !allowed.contains(&k.as_str()) {
                let full = join(key, k);
                self.err(
                    *kp,
                    &full,
                    format!("unknown key (expected one of: {})", allowed.join(", ")),
                );
            }
        }
        Some(entries)
    }

    fn str(&mut self, node: &Node, key: &str) -> Option<String> {
        match node {
            Node::Scalar { text, .. } if !node.is_null() => Some(text.clone()),
            _ => {
                self.err(
                    node.pos(),
                    key,
                    format!("expected a value, found a {}", node.kind()),
                );
                None
            }
        }
    }

    fn nonempty(&mut self, node: &Node, key: &str) -> Option<String> {
        let s = self.str(node, key)?;
        if s.trim().is_empty() {
            self.err(node.pos(), key, "must not be empty");
            return None;
        }
        Some(s)
    }

    /// A value or a list of values.
    fn list(&mut self, node: &Node, key: &str) -> Option<Vec<String>> {
        match node {
            Node::Seq(items, _) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    out.push(self.nonempty(item, &format!("{key}[{i}]"))?);
                }
                Some(out)
            }
            other => self.nonempty(other, key).map(|s| vec![s]),
        }
    }

    fn bool(&mut self, node: &Node, key: &str) -> Option<bool> {
        match self.str(node, key)?.as_str() {
            "true" | "yes" | "on" => Some(true),
            "false" | "no" | "off" => Some(false),
            other => {
                self.err(node.pos(), key, format!("{other:?} is not true or false"));
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, key: &str) -> Option<Duration> {
        let s = self.str(node, key)?;
        let d = duration::parse(&s);
        if d.is_none() {
            self.err(
                node.pos(),
                key,
                format!("{s:?} is not a duration (use 30s, 10m, 4h, 7d)"),
            );
        }
        d
    }

    /// A ttl: a duration, or `0`/`permanent` for no expiry (`None`).
    fn ttl(&mut self, node: &Node, key: &str) -> Option<Option<Duration>> {
        let s = self.str(node, key)?;
        if s.trim() == "permanent" {
            return Some(None);
        }
        match duration::parse(&s) {
            Some(Duration::ZERO) => Some(None),
            Some(d) => Some(Some(d)),
            None => {
                self.err(
                    node.pos(),
                    key,
                    format!("{s:?} is not a duration (use 30s, 10m, 4h, 7d, or permanent)"),
                );
                None
            }
        }
    }

    fn playbook(&mut self, doc: &Node) -> Option<Playbook> {
        const KEYS: &[&str] = &[
            "id",
            "title",
            "description",
            "enabled",
            "trigger",
            "conditions",
            "actions",
            "mode",
            "cooldown",
            "max_actions",
            "ttl",
        ];
        let entries = self.map(doc, "", KEYS)?;
        let before = self.errors.len();
        let get = |k: &str| entries.iter().find(|(n, ..)| n == k).map(|(_, _, v)| v);
        let id = match get("id") {
            Some(n) => {
                let id = self.nonempty(n, "id");
                if let Some(id) = &id
                    && !id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                {
                    self.err(n.pos(), "id", format!("{id:?}: use letters, digits, - _ ."));
                }
                id
            }
            None => {
                self.err(
                    doc.pos(),
                    "id",
                    "missing (every playbook needs a unique id)",
                );
                None
            }
        };
        let title = get("title").and_then(|n| self.str(n, "title"));
        let description = get("description").and_then(|n| self.str(n, "description"));
        let enabled = get("enabled").map_or(Some(true), |n| self.bool(n, "enabled"));
        let trigger = match get("trigger") {
            Some(n) => self.trigger(n),
            None => {
                self.err(
                    doc.pos(),
                    "trigger",
                    "missing (which incidents should this act on?)",
                );
                None
            }
        };
        let conditions = match get("conditions") {
            None => Some(Vec::new()),
            Some(Node::Seq(items, _)) => {
                let c: Vec<_> = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, n)| self.condition(n, &format!("conditions[{i}]")))
                    .collect();
                Some(c)
            }
            Some(n) => {
                self.err(
                    n.pos(),
                    "conditions",
                    "expected a list of {field, op, value}",
                );
                None
            }
        };
        let actions = match get("actions") {
            Some(Node::Seq(items, p)) => {
                if items.is_empty() {
                    self.err(*p, "actions", "must list at least one action");
                }
                let a: Vec<_> = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, n)| self.action(n, &format!("actions[{i}]")))
                    .collect();
                Some(a)
            }
            Some(n) => {
                self.err(n.pos(), "actions", "expected a list of actions");
                None
            }
            None => {
                self.err(
                    doc.pos(),
                    "actions",
                    "missing (what should this playbook do?)",
                );
                None
            }
        };
        let mode = match get("mode") {
            None => Some(Mode::default()),
            Some(n) => match self.str(n, "mode").as_deref() {
                Some("auto") => Some(Mode::Auto),
                Some("approve") => Some(Mode::Approve),
                Some("dry-run") => Some(Mode::DryRun),
                Some(other) => {
                    self.err(
                        n.pos(),
                        "mode",
                        format!("{other:?}: expected auto, approve or dry-run"),
                    );
                    None
                }
                None => None,
            },
        };
        let cooldown =
            get("cooldown").map_or(Some(DEFAULT_COOLDOWN), |n| self.duration(n, "cooldown"));
        let max_actions = match get("max_actions") {
            None => Some(DEFAULT_CAP),
            Some(n) => self.cap(n),
        };
        let ttl = get("ttl").map_or(Some(Some(DEFAULT_TTL)), |n| self.ttl(n, "ttl"));
        if self.errors.len() > before {
            return None;
        }
        let id = id?;
        Some(Playbook {
            title: title.unwrap_or_else(|| id.clone()),
            id,
            description,
            enabled: enabled?,
            trigger: trigger?,
            conditions: conditions?,
            actions: actions?,
            mode: mode?,
            cooldown: cooldown?,
            max_actions: max_actions?,
            ttl: ttl?,
            source: self.file.to_owned(),
        })
    }

    fn cap(&mut self, node: &Node) -> Option<RateCap> {
        let e = self.map(node, "max_actions", &["count", "per"])?;
        let mut cap = DEFAULT_CAP;
        for (k, _, v) in e {
            match k.as_str() {
                "count" => {
                    let s = self.str(v, "max_actions.count")?;
                    match s.parse::<u32>() {
                        Ok(c) if c > 0 => cap.count = c,
                        _ => {
                            self.err(
                                v.pos(),
                                "max_actions.count",
                                format!("{s:?} is not a whole number above 0"),
                            );
                            return None;
                        }
                    }
                }
                "per" => {
                    cap.per = self.duration(v, "max_actions.per")?;
                    if cap.per.is_zero() {
                        self.err(v.pos(), "max_actions.per", "must be longer than 0");
                        return None;
                    }
                }
                _ => {}
            }
        }
        Some(cap)
    }

    fn trigger(&mut self, node: &Node) -> Option<Trigger> {
        const KEYS: &[&str] = &[
            "min_priority",
            "rules",
            "tags",
            "techniques",
            "detectors",
            "entity",
        ];
        let e = self.map(node, "trigger", KEYS)?;
        let mut t = Trigger::default();
        let before = self.errors.len();
        for (k, _, v) in e {
            let key = format!("trigger.{k}");
            match k.as_str() {
                "min_priority" => {
                    if let Some(s) = self.str(v, &key) {
                        match s.parse::<f64>() {
                            Ok(p) if (0.0..=100.0).contains(&p) => t.min_priority = Some(p),
                            _ => self.err(
                                v.pos(),
                                &key,
                                format!("{s:?} is not a number from 0 to 100"),
                            ),
                        }
                    }
                }
                "rules" => t.rules = self.list(v, &key).unwrap_or_default(),
                "tags" => t.tags = self.list(v, &key).unwrap_or_default(),
                "techniques" => {
                    for (i, s) in self
                        .list(v, &key)
                        .unwrap_or_default()
                        .into_iter()
                        .enumerate()
                    {
                        let ok = s.len() >= 5
                            && s[..1].eq_ignore_ascii_case("t")
                            && s[1..].chars().all(|c| c.is_ascii_digit() || c == '.');
                        if ok {
                            t.techniques.push(s.to_ascii_uppercase());
                        } else {
                            let pos = match v {
                                Node::Seq(items, _) => items[i].pos(),
                                n => n.pos(),
                            };
                            self.err(
                                pos,
                                &key,
                                format!(
                                    "{s:?} is not an ATT&CK technique (e.g. T1110 or T1110.001)"
                                ),
                            );
                        }
                    }
                }
                "detectors" => t.detectors = self.list(v, &key).unwrap_or_default(),
                "entity" => {
                    for s in self.list(v, &key).unwrap_or_default() {
                        match s.parse::<EntityKind>() {
                            Ok(k) => t.entity.push(k),
                            Err(m) => self.err(v.pos(), &key, m),
                        }
                    }
                }
                _ => {}
            }
        }
        if self.errors.len() > before {
            return None;
        }
        let empty = t.min_priority.is_none()
            && t.rules.is_empty()
            && t.tags.is_empty()
            && t.techniques.is_empty()
            && t.detectors.is_empty()
            && t.entity.is_empty();
        if empty {
            self.err(
                node.pos(),
                "trigger",
                format!("needs at least one criterion ({})", KEYS.join(", ")),
            );
            return None;
        }
        Some(t)
    }

    fn condition(&mut self, node: &Node, key: &str) -> Option<Condition> {
        let e = self.map(node, key, &["field", "op", "value"])?;
        let get = |k: &str| e.iter().find(|(n, ..)| n == k).map(|(_, _, v)| v);
        let (Some(f), Some(o), Some(v)) = (get("field"), get("op"), get("value")) else {
            self.err(node.pos(), key, "needs field, op and value");
            return None;
        };
        let field = self.nonempty(f, &format!("{key}.field"))?;
        let op_s = self.str(o, &format!("{key}.op"))?;
        let Some(op) = Op::parse(&op_s) else {
            self.err(
                o.pos(),
                &format!("{key}.op"),
                format!("{op_s:?}: expected equals, not_equals, in, not_in, cidr, not_cidr, gte, lte or matches"),
            );
            return None;
        };
        let vkey = format!("{key}.value");
        let values = self.list(v, &vkey)?;
        let mut c = Condition {
            field,
            op,
            values,
            nets: Vec::new(),
            number: 0.0,
            regex: None,
        };
        match op {
            Op::Equals | Op::NotEquals | Op::Gte | Op::Lte | Op::Matches if c.values.len() != 1 => {
                self.err(
                    v.pos(),
                    &vkey,
                    format!("{op_s} takes one value, not a list"),
                );
                return None;
            }
            Op::Cidr | Op::NotCidr => {
                for s in &c.values {
                    match parse_net(s) {
                        Some(n) => c.nets.push(n),
                        None => {
                            self.err(
                                v.pos(),
                                &vkey,
                                format!("{s:?} is not an address or network (e.g. 10.0.0.0/8)"),
                            );
                            return None;
                        }
                    }
                }
            }
            Op::Gte | Op::Lte => match c.values[0].parse::<f64>() {
                Ok(n) if n.is_finite() => c.number = n,
                _ => {
                    self.err(v.pos(), &vkey, format!("{:?} is not a number", c.values[0]));
                    return None;
                }
            },
            Op::Matches => match Regex::new(&c.values[0]) {
                Ok(r) => c.regex = Some(r),
                Err(e) => {
                    self.err(
                        v.pos(),
                        &vkey,
                        format!("not a valid regular expression: {e}"),
                    );
                    return None;
                }
            },
            _ => {}
        }
        Some(c)
    }

    fn action(&mut self, node: &Node, key: &str) -> Option<ActionSpec> {
        const KINDS: &[&str] = &[
            "block",
            "decision",
            "lock_user",
            "kill_process",
            "quarantine",
            "webhook",
            "exec",
        ];
        let e = self.map(node, key, KINDS)?;
        if e.len() != 1 {
            self.err(
                node.pos(),
                key,
                format!("one action per list item ({})", KINDS.join(", ")),
            );
            return None;
        }
        let (kind, _, body) = &e[0];
        let key = format!("{key}.{kind}");
        let key = key.as_str();
        // `block:` alone (null body) takes every default.
        let empty = Node::Map(Vec::new(), body.pos());
        let body = if body.is_null() { &empty } else { body };
        let target = |cx: &mut Self,
                      e: Entries<'_>,
                      default: Option<&str>|
         -> Option<Option<String>> {
            match e.iter().find(|(n, ..)| n == "target") {
                Some((_, _, v)) => {
                    let t = cx.nonempty(v, &format!("{key}.target"))?;
                    if !valid_target(&t) {
                        cx.err(v.pos(), &format!("{key}.target"), format!("{t:?} is not a field name (e.g. source.ip), entity.<kind> or primary"));
                        return None;
                    }
                    Some(Some(t))
                }
                None => Some(default.map(str::to_owned)),
            }
        };
        let ttl = |cx: &mut Self, e: Entries<'_>| -> Option<Option<Option<Duration>>> {
            match e.iter().find(|(n, ..)| n == "ttl") {
                Some((_, _, v)) => cx.ttl(v, &format!("{key}.ttl")).map(Some),
                None => Some(None),
            }
        };
        match kind.as_str() {
            "block" => {
                let e = self.map(body, key, &["target", "ttl"])?;
                Some(ActionSpec::Block {
                    target: target(self, e, None)?,
                    ttl: ttl(self, e)?,
                })
            }
            "decision" => {
                let e = self.map(body, key, &["target", "ttl", "scenario"])?;
                let scenario = match e.iter().find(|(n, ..)| n == "scenario") {
                    Some((_, _, v)) => Some(self.nonempty(v, &format!("{key}.scenario"))?),
                    None => None,
                };
                Some(ActionSpec::Decision {
                    target: target(self, e, None)?,
                    ttl: ttl(self, e)?,
                    scenario,
                })
            }
            "lock_user" => {
                let e = self.map(body, key, &["target", "ttl"])?;
                Some(ActionSpec::LockUser {
                    target: target(self, e, Some("user.name"))??,
                    ttl: ttl(self, e)?,
                })
            }
            "kill_process" => {
                let e = self.map(body, key, &["target"])?;
                Some(ActionSpec::KillProcess {
                    target: target(self, e, Some("process.pid"))??,
                })
            }
            "quarantine" => {
                let e = self.map(body, key, &["target"])?;
                Some(ActionSpec::Quarantine {
                    target: target(self, e, Some("file.path"))??,
                })
            }
            "webhook" => {
                let e = self.map(body, key, &["url", "format", "headers"])?;
                let get = |k: &str| e.iter().find(|(n, ..)| n == k).map(|(_, _, v)| v);
                let Some(u) = get("url") else {
                    self.err(body.pos(), key, "needs url");
                    return None;
                };
                let url = self.nonempty(u, &format!("{key}.url"))?;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    self.err(
                        u.pos(),
                        &format!("{key}.url"),
                        format!("{url:?} is not an http:// or https:// URL"),
                    );
                    return None;
                }
                let format = match get("format") {
                    None => WebhookFormat::Json,
                    Some(f) => match self.str(f, &format!("{key}.format"))?.as_str() {
                        "json" => WebhookFormat::Json,
                        "slack" => WebhookFormat::Slack,
                        other => {
                            self.err(
                                f.pos(),
                                &format!("{key}.format"),
                                format!("{other:?}: expected json or slack"),
                            );
                            return None;
                        }
                    },
                };
                let mut headers = Vec::new();
                if let Some(h) = get("headers") {
                    let hkey = format!("{key}.headers");
                    let Node::Map(entries, _) = h else {
                        self.err(h.pos(), &hkey, "expected a mapping of header name to value");
                        return None;
                    };
                    for (name, np, v) in entries {
                        let valid = !name.is_empty()
                            && name
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
                        if !valid {
                            self.err(*np, &format!("{hkey}.{name}"), "not a valid header name");
                            return None;
                        }
                        let value = self.str(v, &format!("{hkey}.{name}"))?;
                        if value.contains(['\r', '\n', '\0']) {
                            self.err(
                                v.pos(),
                                &format!("{hkey}.{name}"),
                                "header values cannot hold line breaks or NUL",
                            );
                            return None;
                        }
                        headers.push((name.clone(), value));
                    }
                }
                Some(ActionSpec::Webhook {
                    url,
                    format,
                    headers,
                })
            }
            "exec" => {
                let e = self.map(body, key, &["argv", "revert_argv"])?;
                let get = |k: &str| e.iter().find(|(n, ..)| n == k).map(|(_, _, v)| v);
                let Some(a) = get("argv") else {
                    self.err(
                        body.pos(),
                        key,
                        "needs argv (a list: program path, then arguments)",
                    );
                    return None;
                };
                let argv = self.argv(a, &format!("{key}.argv"))?;
                let revert_argv = match get("revert_argv") {
                    Some(r) => Some(self.argv(r, &format!("{key}.revert_argv"))?),
                    None => None,
                };
                Some(ActionSpec::Exec { argv, revert_argv })
            }
            _ => None,
        }
    }

    fn argv(&mut self, node: &Node, key: &str) -> Option<Vec<String>> {
        let Node::Seq(items, p) = node else {
            self.err(
                node.pos(),
                key,
                "expected a list (program path, then arguments); no shell is used",
            );
            return None;
        };
        if items.is_empty() {
            self.err(*p, key, "must not be empty");
            return None;
        }
        let mut argv = Vec::new();
        for (i, n) in items.iter().enumerate() {
            let k = format!("{key}[{i}]");
            let s = self.str(n, &k)?;
            if let Err(m) = crate::plan::template_fields(&s) {
                self.err(n.pos(), &k, m);
                return None;
            }
            if s.contains('\0') {
                self.err(n.pos(), &k, "NUL is not allowed in an argument");
                return None;
            }
            argv.push(s);
        }
        if !argv[0].starts_with('/') || argv[0].contains('{') {
            self.err(
                items[0].pos(),
                &format!("{key}[0]"),
                format!(
                    "{:?}: the program must be an absolute path without templates",
                    argv[0]
                ),
            );
            return None;
        }
        Some(argv)
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// A field name (`source.ip`), `entity.<kind>`, or `primary`.
fn valid_target(t: &str) -> bool {
    if let Some(kind) = t.strip_prefix("entity.") {
        return kind.parse::<EntityKind>().is_ok();
    }
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// An address (as a host network) or a network; the host bits of a network are cleared.
pub fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n.trunc());
    }
    s.parse::<std::net::IpAddr>().ok().map(IpNet::from)
}

//! Concrete actions: every target resolved, serialisable (the server stores them while they wait
//! for approval) and describable (dry-run shows exactly what would run).

use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::duration;
use crate::playbook::WebhookFormat;

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Drop traffic from and to `net` in the local firewall; `ttl: None` = until unblocked.
    Block {
        net: IpNet,
        #[serde(with = "duration::opt_secs")]
        ttl: Option<Duration>,
    },
    /// Publish a ban decision (CrowdSec-style) for bouncers elsewhere; no local change.
    Decision {
        net: IpNet,
        #[serde(with = "duration::opt_secs")]
        ttl: Option<Duration>,
        scenario: String,
    },
    LockUser {
        user: String,
    },
    /// Only on this host (`host` empty or this host's name).
    KillProcess {
        pid: u32,
        host: String,
    },
    Quarantine {
        path: String,
        incident: i64,
    },
    /// Header values may be secrets: they are stored for execution but never described or logged.
    Webhook {
        url: String,
        format: WebhookFormat,
        #[serde(default)]
        headers: Vec<(String, String)>,
        body: serde_json::Value,
    },
    /// A program run directly (no shell), arguments already substituted.
    Exec {
        argv: Vec<String>,
        revert_argv: Option<Vec<String>>,
    },
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Block { .. } => "block",
            Action::Decision { .. } => "decision",
            Action::LockUser { .. } => "lock_user",
            Action::KillProcess { .. } => "kill_process",
            Action::Quarantine { .. } => "quarantine",
            Action::Webhook { .. } => "webhook",
            Action::Exec { .. } => "exec",
        }
    }

    /// What the action is aimed at, as one string (cooldown key, audit log).
    pub fn target(&self) -> String {
        match self {
            Action::Block { net, .. } | Action::Decision { net, .. } => net_text(net),
            Action::LockUser { user } => user.clone(),
            Action::KillProcess { pid, host } if host.is_empty() => pid.to_string(),
            Action::KillProcess { pid, host } => format!("{host}:{pid}"),
            Action::Quarantine { path, .. } => path.clone(),
            Action::Webhook { url, .. } => url.clone(),
            Action::Exec { argv, .. } => shell_join(argv),
        }
    }

    /// The exact thing that would run, with the default executor settings (table `inet
    /// palisade`, `usermod`); [`crate::Executors::describe`] uses the configured ones.
    pub fn describe(&self) -> String {
        crate::exec::describe(self, &crate::exec::ExecConfig::default())
    }
}

/// An address without `/32` or `/128`; a network with its prefix.
pub fn net_text(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// The nft set holding `net`.
pub fn set_of(net: &IpNet) -> &'static str {
    match net {
        IpNet::V4(_) => "block4",
        IpNet::V6(_) => "block6",
    }
}

/// One argument quoted for a POSIX shell, for display only (nothing here runs a shell).
pub fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%".contains(&b));
    if safe {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// An argv as a shell would need it typed, for display only.
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `ttl` for people: `4h`, or `permanent`.
pub fn ttl_text(ttl: Option<Duration>) -> String {
    ttl.map_or_else(|| "permanent".to_owned(), duration::format)
}

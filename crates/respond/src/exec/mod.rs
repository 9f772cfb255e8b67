//! Executors: carry out an [`Action`] and return how to undo it. Blocking (the server calls
//! them from its own thread), idempotent (blocking twice or unblocking what is not blocked is
//! fine), and honest about what cannot be undone.

mod command;
pub mod nft;
mod quarantine;
mod webhook;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use nft::{Nft, NftConfig};

use crate::action::{Action, net_text, set_of, shell_join, ttl_text};

/// Executor settings. Every field has a default; `#[serde(default)]` so a config file names
/// only what it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecConfig {
    pub nft: NftConfig,
    /// Locks an account; `{user}` is replaced. Default `usermod -L {user}`.
    pub lock_argv: Vec<String>,
    /// Default `usermod -U {user}`.
    pub unlock_argv: Vec<String>,
    /// When set, locking is `POST {"user": …}` here instead of `lock_argv`.
    pub lock_url: Option<String>,
    pub unlock_url: Option<String>,
    /// SIGTERM, then SIGKILL after this long.
    #[serde(with = "crate::duration::secs")]
    pub kill_grace: Duration,
    /// Where quarantined files go (created 0700).
    pub quarantine_dir: PathBuf,
    /// Webhook and lock/unlock URL deadline.
    #[serde(with = "crate::duration::secs")]
    pub http_timeout: Duration,
    /// Deadline of exec actions and lock/unlock commands.
    #[serde(with = "crate::duration::secs")]
    pub exec_timeout: Duration,
    /// This host's name for kill_process; `None`: the kernel's.
    pub host_name: Option<String>,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            nft: NftConfig::default(),
            lock_argv: ["usermod", "-L", "{user}"].map(String::from).to_vec(),
            unlock_argv: ["usermod", "-U", "{user}"].map(String::from).to_vec(),
            lock_url: None,
            unlock_url: None,
            kill_grace: Duration::from_secs(5),
            quarantine_dir: PathBuf::from("/var/lib/palisade/quarantine"),
            http_timeout: Duration::from_secs(5),
            exec_timeout: Duration::from_secs(30),
            host_name: None,
        }
    }
}

/// Why an action failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cannot run {command}: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("{command} failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{command} did not finish within {after:?} and was killed")]
    Timeout { command: String, after: Duration },
    #[error("refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Io(String),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("unexpected output: {0}")]
    Parse(String),
}

/// What an executed action did, and how to undo it (`None`: it cannot be, and `detail` says so).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub detail: String,
    pub revert: Option<Revert>,
}

/// How to undo an action; stored by the server, self-describing for the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Revert {
    Unblock {
        net: IpNet,
    },
    /// The ban decision is withdrawn by whoever publishes decisions (the server).
    WithdrawDecision {
        net: IpNet,
        scenario: String,
    },
    UnlockUser {
        user: String,
    },
    /// Move the file back from its quarantine entry.
    Restore {
        entry: PathBuf,
        original: String,
    },
    Exec {
        argv: Vec<String>,
    },
}

impl Revert {
    /// How to revert, in words (for the audit log).
    pub fn describe(&self) -> String {
        match self {
            Revert::Unblock { net } => format!(
                "unblock {}: nft delete element inet palisade {} {{ {} }}",
                net_text(net),
                set_of(net),
                net_text(net)
            ),
            Revert::WithdrawDecision { net, scenario } => {
                format!(
                    "withdraw the ban decision on {} ({scenario})",
                    net_text(net)
                )
            }
            Revert::UnlockUser { user } => format!("unlock user {user}"),
            Revert::Restore { entry, original } => format!(
                "restore {original} from quarantine {} (mode and owner restored; refused if a file is there)",
                entry.display()
            ),
            Revert::Exec { argv } => format!("run {}", shell_join(argv)),
        }
    }
}

/// The exact thing an action would run under `cfg`.
pub fn describe(action: &Action, cfg: &ExecConfig) -> String {
    let table = format!("{} {}", cfg.nft.family, cfg.nft.table);
    match action {
        Action::Block { net, ttl } => format!(
            "nft add element {table} {} {{ {} }}",
            set_of(net),
            Nft::element(net, *ttl)
        ),
        Action::Decision { net, ttl, scenario } => format!(
            "publish decision: ban {} for {} (scenario {scenario}); no local firewall change",
            net_text(net),
            ttl_text(*ttl)
        ),
        Action::LockUser { user } => match &cfg.lock_url {
            Some(u) => format!("POST {u} {}", serde_json::json!({ "user": user })),
            None => shell_join(&fill_user(&cfg.lock_argv, user)),
        },
        Action::KillProcess { pid, host } => format!(
            "kill -TERM {pid}{}, then kill -KILL {pid} after {} if still running (not reversible)",
            if host.is_empty() {
                String::new()
            } else {
                format!(" on {host}")
            },
            crate::duration::format(cfg.kill_grace)
        ),
        Action::Quarantine { path, .. } => format!(
            "move {} into {}/<sha256 prefix>/ with meta.json (file made 0400)",
            crate::action::shell_quote(path),
            cfg.quarantine_dir.display()
        ),
        Action::Webhook {
            url, headers, body, ..
        } => {
            let h: String = headers
                .iter()
                .map(|(k, _)| format!(" -H '{k}: <redacted>'"))
                .collect();
            format!("POST {url}{h} {body}")
        }
        Action::Exec { argv, .. } => shell_join(argv),
    }
}

fn fill_user(argv: &[String], user: &str) -> Vec<String> {
    argv.iter().map(|a| a.replace("{user}", user)).collect()
}

/// Carries out actions.
#[derive(Debug, Clone)]
pub struct Executors {
    cfg: ExecConfig,
    nft: Nft,
}

impl Executors {
    pub fn new(cfg: ExecConfig) -> Executors {
        Executors {
            nft: Nft::new(cfg.nft.clone()),
            cfg,
        }
    }

    pub fn nft(&self) -> &Nft {
        &self.nft
    }

    pub fn config(&self) -> &ExecConfig {
        &self.cfg
    }

    /// The exact thing `action` would run with this configuration.
    pub fn describe(&self, action: &Action) -> String {
        describe(action, &self.cfg)
    }

    /// Runs an action. Blocks create the nft table the first time ([`Nft::ensure_and_block`]).
    pub fn execute(&self, action: &Action) -> Result<Outcome, ExecError> {
        tracing::debug!(kind = action.kind(), target = %action.target(), "executing");
        match action {
            Action::Block { net, ttl } => {
                self.nft.ensure_and_block(&[(*net, *ttl)])?;
                Ok(Outcome {
                    detail: format!("blocked {} for {}", net_text(net), ttl_text(*ttl)),
                    revert: Some(Revert::Unblock { net: *net }),
                })
            }
            Action::Decision { net, ttl, scenario } => Ok(Outcome {
                detail: format!(
                    "ban decision on {} for {} ({scenario}) ready to publish",
                    net_text(net),
                    ttl_text(*ttl)
                ),
                revert: Some(Revert::WithdrawDecision {
                    net: *net,
                    scenario: scenario.clone(),
                }),
            }),
            Action::LockUser { user } => {
                self.user(user, true)?;
                Ok(Outcome {
                    detail: format!("locked user {user}"),
                    revert: Some(Revert::UnlockUser { user: user.clone() }),
                })
            }
            Action::KillProcess { pid, host } => self.kill(*pid, host),
            Action::Quarantine { path, incident } => {
                quarantine::quarantine(&self.cfg.quarantine_dir, path, *incident)
            }
            Action::Webhook {
                url,
                format,
                headers,
                body,
            } => {
                let status = webhook::post(url, *format, headers, body, self.cfg.http_timeout)?;
                Ok(Outcome {
                    detail: format!(
                        "POST {url}: HTTP {status} (a sent notification cannot be unsent)"
                    ),
                    revert: None,
                })
            }
            Action::Exec { argv, revert_argv } => {
                check_argv(argv)?;
                command::run(argv, None, self.cfg.exec_timeout)?;
                Ok(Outcome {
                    detail: match revert_argv {
                        Some(_) => format!("ran {}", shell_join(argv)),
                        None => {
                            format!("ran {} (no revert_argv: not reversible)", shell_join(argv))
                        }
                    },
                    revert: revert_argv.clone().map(|argv| Revert::Exec { argv }),
                })
            }
        }
    }

    /// Undoes an action.
    pub fn revert(&self, revert: &Revert) -> Result<String, ExecError> {
        tracing::debug!(revert = %revert.describe(), "reverting");
        match revert {
            Revert::Unblock { net } => {
                self.nft.unblock(*net)?;
                Ok(format!("unblocked {}", net_text(net)))
            }
            Revert::WithdrawDecision { net, scenario } => Ok(format!(
                "ban decision on {} ({scenario}) ready to withdraw",
                net_text(net)
            )),
            Revert::UnlockUser { user } => {
                self.user(user, false)?;
                Ok(format!("unlocked user {user}"))
            }
            Revert::Restore { entry, original } => quarantine::restore(entry, original),
            Revert::Exec { argv } => {
                check_argv(argv)?;
                command::run(argv, None, self.cfg.exec_timeout)?;
                Ok(format!("ran {}", shell_join(argv)))
            }
        }
    }

    fn user(&self, user: &str, lock: bool) -> Result<(), ExecError> {
        if user.is_empty() || user.starts_with('-') || user.contains(['\0', '\n', '/']) {
            return Err(ExecError::Refused(format!("{user:?} is not a user name")));
        }
        let url = if lock {
            &self.cfg.lock_url
        } else {
            &self.cfg.unlock_url
        };
        if let Some(url) = url {
            let body = serde_json::json!({ "user": user });
            webhook::post(
                url,
                crate::WebhookFormat::Json,
                &[],
                &body,
                self.cfg.http_timeout,
            )?;
            return Ok(());
        }
        let argv = if lock {
            &self.cfg.lock_argv
        } else {
            &self.cfg.unlock_argv
        };
        command::run(&fill_user(argv, user), None, self.cfg.exec_timeout).map(drop)
    }

    fn kill(&self, pid: u32, host: &str) -> Result<Outcome, ExecError> {
        let me = self
            .cfg
            .host_name
            .clone()
            .or_else(crate::plan::host_name)
            .unwrap_or_default();
        if !host.is_empty() && !host.eq_ignore_ascii_case(&me) {
            return Err(ExecError::Refused(format!(
                "process {pid} runs on {host}, not on this host ({me})"
            )));
        }
        let Ok(p) = libc::pid_t::try_from(pid) else {
            return Err(ExecError::Refused(format!("{pid} is not a process id")));
        };
        if p <= 1 || pid == std::process::id() {
            return Err(ExecError::Refused(format!("will not kill process {pid}")));
        }
        // SAFETY: kill(2) with a plain pid and signal number has no memory effects.
        let sent = unsafe { libc::kill(p, libc::SIGTERM) };
        if sent != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ESRCH) {
                return Ok(Outcome {
                    detail: format!("process {pid} was not running (not reversible)"),
                    revert: None,
                });
            }
            return Err(ExecError::Io(format!("kill -TERM {pid}: {e}")));
        }
        let deadline = Instant::now() + self.cfg.kill_grace;
        let gone = || {
            // SAFETY: signal 0 only checks that the process exists.
            let r = unsafe { libc::kill(p, 0) };
            r != 0 || is_zombie(pid)
        };
        while Instant::now() < deadline {
            if gone() {
                return Ok(Outcome {
                    detail: format!(
                        "process {pid} ended after SIGTERM (not reversible: a killed process cannot be restarted by Palisade)"
                    ),
                    revert: None,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above.
        unsafe { libc::kill(p, libc::SIGKILL) };
        Ok(Outcome {
            detail: format!(
                "process {pid} killed with SIGKILL after {} (not reversible: a killed process cannot be restarted by Palisade)",
                crate::duration::format(self.cfg.kill_grace)
            ),
            revert: None,
        })
    }
}

/// A zombie has ended; only its parent's wait is missing.
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| r.starts_with('Z')))
        .unwrap_or(false)
}

fn check_argv(argv: &[String]) -> Result<(), ExecError> {
    match argv.first() {
        Some(p) if p.starts_with('/') => Ok(()),
        _ => Err(ExecError::Refused(
            "the program must be given as an absolute path".into(),
        )),
    }
}

//! Response: closes the loop from detection to action.
//!
//! [`playbook`]s (YAML) decide which incidents to act on and how; the [`Planner`] turns an
//! incident's [`Subject`] into concrete [`Action`]s — refusing what the [`Allowlist`], cooldowns
//! or the blast-radius cap forbid, and saying why; [`Executors`] carry actions out (nftables,
//! user lock, kill, quarantine, webhook, exec) and hand back a [`Revert`] that undoes them.
//! Everything is serialisable (the server stores actions waiting for approval and reverts for
//! later) and describable (dry-run prints exactly what would run). No store or server here;
//! executors are blocking.

pub mod action;
pub mod duration;
pub mod exec;
pub mod plan;
pub mod playbook;
mod yaml;

pub use action::Action;
pub use exec::{ExecConfig, ExecError, Executors, Nft, Outcome, Revert};
pub use plan::{Allowlist, Planned, Planner, Subject};
pub use playbook::{
    ActionSpec, LoadErrors, Mode, Playbook, PlaybookError, Trigger, WebhookFormat,
    default_playbooks, load_path, parse_str,
};
pub use yaml::Pos;

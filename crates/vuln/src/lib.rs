//! Palisade's weakness finder.
//!
//! What is installed ([`inventory`]: dpkg status, Cargo.lock, npm and Yarn lockfiles, Python
//! requirements/Poetry/Pipenv, go.sum, CycloneDX and SPDX SBOMs), which of it is vulnerable
//! ([`db`] of [`osv`] advisories, matched with each ecosystem's [`version`] ordering), how
//! urgent each finding is ([`scan`]: CVSS base scores from [`cvss`], CISA KEV and EPSS from
//! [`exploit`], exposure on the host), and risky host configuration ([`host`]).
//!
//! Not here: fetching data from the network, printing, or storing (the binary does those).

pub mod cvss;
pub mod db;
pub mod ecosystem;
pub mod ecs;
pub mod exploit;
pub mod host;
pub mod inventory;
pub mod osv;
pub mod report;
pub mod run;
pub mod scan;
pub mod version;

pub use db::{AdvisoryDb, LoadReport};
pub use ecosystem::Ecosystem;
pub use inventory::{Inventory, InventoryKind, Package};
pub use scan::{Finding, Scanner};

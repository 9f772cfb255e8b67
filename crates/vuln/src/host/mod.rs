//! Host weaknesses: the read-only checks hardening audits (Lynis, CIS benchmarks) make.
//!
//! Every check reads files under a root directory (`/` on a live host, a fixture tree in
//! tests) and never changes anything: `sshd_config` settings, world-writable directories on
//! `PATH`, unexpected SUID/SGID files, permissions of `/etc/shadow` and SSH keys, accounts with
//! empty passwords or UID 0, services listening on all addresses (`/proc/net/{tcp,tcp6,udp,udp6}`)
//! and whether a host firewall is configured. Each finding has a severity and the fix.

mod files;
mod net;
mod ssh;

use std::path::{Path, PathBuf};

use palisade_event::Severity;

pub use net::{HostProcesses, Listener, parse_proc_net};

/// One weakness of the host.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HostFinding {
    /// Stable check id (`ssh-permit-root-login`, `path-world-writable`, …).
    pub check: &'static str,
    pub title: String,
    pub severity: Severity,
    /// The file, directory, account or socket concerned.
    pub target: String,
    /// What was seen.
    pub evidence: String,
    /// What to do.
    pub fix: String,
}

/// What to check and where.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// `/` on a live host.
    pub root: PathBuf,
    /// The `PATH` to check (the default login PATH when `None`).
    pub path_var: Option<String>,
    /// Look for SUID/SGID files (walks the system directories; the slowest check).
    pub suid: bool,
    /// Upper bound on files visited by the SUID walk.
    pub max_files: usize,
}

impl HostOptions {
    pub fn new(root: impl Into<PathBuf>) -> HostOptions {
        HostOptions {
            root: root.into(),
            path_var: None,
            suid: true,
            max_files: 2_000_000,
        }
    }
}

/// A check that could not run (an unreadable file) — reported, never fatal.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CheckError {
    pub check: &'static str,
    pub file: String,
    pub message: String,
}

/// The outcome of all checks.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct HostReport {
    pub findings: Vec<HostFinding>,
    pub errors: Vec<CheckError>,
    /// Sockets listening on this host (all of them, risky or not).
    pub listeners: Vec<Listener>,
}

impl HostReport {
    pub(crate) fn add(
        &mut self,
        check: &'static str,
        severity: Severity,
        title: impl Into<String>,
        target: impl Into<String>,
        evidence: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.findings.push(HostFinding {
            check,
            title: title.into(),
            severity,
            target: target.into(),
            evidence: evidence.into(),
            fix: fix.into(),
        });
    }

    pub(crate) fn error(&mut self, check: &'static str, file: &Path, e: &std::io::Error) {
        self.errors.push(CheckError {
            check,
            file: file.display().to_string(),
            message: e.to_string(),
        });
    }
}

/// `root` joined with an absolute path.
pub(crate) fn under(root: &Path, abs: &str) -> PathBuf {
    root.join(abs.trim_start_matches('/'))
}

/// Runs every check. Findings are sorted by severity, highest first.
pub fn check_host(opts: &HostOptions) -> HostReport {
    let mut r = HostReport::default();
    ssh::check_sshd(&opts.root, &mut r);
    files::check_path(&opts.root, opts.path_var.as_deref(), &mut r);
    files::check_sensitive_files(&opts.root, &mut r);
    files::check_accounts(&opts.root, &mut r);
    files::check_ssh_keys(&opts.root, &mut r);
    if opts.suid {
        files::check_suid(&opts.root, opts.max_files, &mut r);
    }
    net::check_listeners(&opts.root, &mut r);
    net::check_firewall(&opts.root, &mut r);
    r.findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.check.cmp(b.check))
            .then_with(|| a.target.cmp(&b.target))
    });
    r
}

/// Whether a Debian package's programs run or listen on this host: the package's files
/// (`var/lib/dpkg/info/<binary>[:arch].list`) against the executables of running processes
/// and the owners of listening sockets.
pub struct PackageExposure {
    root: PathBuf,
    processes: HostProcesses,
}

impl PackageExposure {
    pub fn read(root: &Path) -> PackageExposure {
        PackageExposure {
            root: root.to_path_buf(),
            processes: HostProcesses::read(root),
        }
    }

    fn package_files(&self, binary: &str) -> Vec<String> {
        let info = under(&self.root, "/var/lib/dpkg/info");
        let mut lists = vec![info.join(format!("{binary}.list"))];
        if let Ok(dir) = std::fs::read_dir(&info) {
            let prefix = format!("{binary}:");
            lists.extend(dir.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".list"))
            }));
        }
        lists
            .iter()
            .filter_map(|l| std::fs::read_to_string(l).ok())
            .flat_map(|t| t.lines().map(str::to_owned).collect::<Vec<_>>())
            .collect()
    }
}

impl crate::scan::ExposureProbe for PackageExposure {
    fn exposure(
        &self,
        package: &crate::Package,
        binaries: &[String],
    ) -> Option<crate::scan::Exposure> {
        if !matches!(
            package.ecosystem,
            crate::Ecosystem::Debian | crate::Ecosystem::Ubuntu
        ) {
            return None;
        }
        let names: Vec<&str> = if binaries.is_empty() {
            vec![package.name.as_str()]
        } else {
            binaries.iter().map(String::as_str).collect()
        };
        let files: std::collections::HashSet<String> =
            names.iter().flat_map(|b| self.package_files(b)).collect();
        if files.is_empty() {
            return None;
        }
        let pids: Vec<u32> = self
            .processes
            .exes
            .iter()
            .filter(|(_, exe)| files.contains(*exe))
            .map(|(pid, _)| *pid)
            .collect();
        if pids.is_empty() {
            return None;
        }
        let mut sockets: Vec<String> = self
            .processes
            .listeners
            .iter()
            .filter(|l| l.pid.is_some_and(|p| pids.contains(&p)))
            .map(Listener::socket)
            .collect();
        sockets.sort();
        sockets.dedup();
        if !sockets.is_empty() {
            return Some(crate::scan::Exposure::Listening(sockets));
        }
        let mut exes: Vec<String> = pids
            .iter()
            .filter_map(|p| self.processes.exes.get(p).cloned())
            .collect();
        exes.sort();
        exes.dedup();
        Some(crate::scan::Exposure::Running(exes))
    }
}

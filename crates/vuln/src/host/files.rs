//! File-system checks: `PATH`, `/etc/shadow` and friends, accounts, SSH keys, SUID/SGID.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use palisade_event::Severity;

use super::{HostReport, under};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// SUID/SGID programs Debian, Ubuntu and common packages install on purpose.
const EXPECTED_SETID: &[&str] = &[
    "at",
    "bsd-write",
    "chage",
    "chfn",
    "chsh",
    "crontab",
    "dbus-daemon-launch-helper",
    "dotlockfile",
    "expiry",
    "fusermount",
    "fusermount3",
    "gpasswd",
    "mount",
    "mount.cifs",
    "mount.nfs",
    "newgidmap",
    "newgrp",
    "newuidmap",
    "ntfs-3g",
    "pam_extrausers_chkpwd",
    "passwd",
    "ping",
    "ping6",
    "pkexec",
    "polkit-agent-helper-1",
    "pppd",
    "snap-confine",
    "ssh-agent",
    "ssh-keysign",
    "su",
    "sudo",
    "sudoedit",
    "traceroute6.iputils",
    "umount",
    "unix_chkpwd",
    "wall",
    "write",
    "Xorg.wrap",
    "chrome-sandbox",
    "exim4",
    "mlocate",
    "plocate",
    "utempter",
    "lockdev",
    "staprun",
    "kismet_cap_linux_wifi",
    "vmware-user-suid-wrapper",
    "VBoxHeadless",
    "doas",
    "screen",
    "procmail",
    "sendmail",
    "postdrop",
    "postqueue",
];

/// Directories where a SUID/SGID file is never legitimate.
const WRITABLE_PLACES: &[&str] = &["/tmp", "/var/tmp", "/dev/shm", "/home"];

/// Directories walked for SUID/SGID files (system software lives there).
const SETID_ROOTS: &[&str] = &[
    "/bin", "/sbin", "/usr", "/opt", "/lib", "/lib64", "/srv", "/tmp", "/var/tmp", "/dev/shm",
    "/home", "/root",
];

pub(super) fn check_path(root: &Path, path_var: Option<&str>, r: &mut HostReport) {
    let path = path_var.unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        if dir.is_empty() || dir == "." || !dir.starts_with('/') {
            r.add(
                "path-relative-entry",
                Severity::High,
                "PATH contains the current directory",
                format!("PATH entry {dir:?}"),
                path,
                "Remove empty, `.` and relative entries from PATH (profile files, /etc/environment).",
            );
            continue;
        }
        let p = under(root, dir);
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if meta.is_dir() && meta.permissions().mode() & 0o002 != 0 {
            r.add(
                "path-world-writable",
                Severity::High,
                "World-writable directory on PATH (anyone can plant commands)",
                dir,
                format!("mode {:04o}", meta.permissions().mode() & 0o7777),
                format!("chmod o-w {dir}"),
            );
        }
    }
}

pub(super) fn check_sensitive_files(root: &Path, r: &mut HostReport) {
    for (file, max_other, max_group_write) in [
        ("/etc/shadow", 0, false),
        ("/etc/gshadow", 0, false),
        ("/etc/passwd", 0o4, false),
        ("/etc/group", 0o4, false),
        ("/etc/sudoers", 0, false),
    ] {
        let p = under(root, file);
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o7777;
        let other = mode & 0o7;
        let group_write = mode & 0o020 != 0;
        if other & !max_other != 0 || (group_write && !max_group_write) {
            let severity = if other & 0o2 != 0 || (file.contains("shadow") && other & 0o4 != 0) {
                Severity::Critical
            } else {
                Severity::High
            };
            let want = if max_other == 0 { "0640" } else { "0644" };
            r.add(
                "file-permissions",
                severity,
                format!("{file} has weak permissions"),
                file,
                format!("mode {mode:04o}"),
                format!("chmod {want} {file} (owner root)"),
            );
        }
    }
}

pub(super) fn check_accounts(root: &Path, r: &mut HostReport) {
    let shadow = under(root, "/etc/shadow");
    match std::fs::read_to_string(&shadow) {
        Ok(text) => {
            for (i, line) in text.lines().enumerate() {
                let mut f = line.split(':');
                let (Some(user), Some(hash)) = (f.next(), f.next()) else {
                    continue;
                };
                if !user.is_empty() && hash.is_empty() {
                    r.add(
                        "account-empty-password",
                        Severity::Critical,
                        format!("Account {user} has an empty password"),
                        format!("/etc/shadow:{}", i + 1),
                        format!("{user}: password field empty"),
                        format!("passwd -l {user} (lock it) or set a password: passwd {user}"),
                    );
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => r.error("account-empty-password", &shadow, &e),
    }
    let passwd = under(root, "/etc/passwd");
    if let Ok(text) = std::fs::read_to_string(&passwd) {
        for (i, line) in text.lines().enumerate() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                continue;
            }
            if f[2] == "0" && f[0] != "root" {
                r.add(
                    "account-uid-zero",
                    Severity::High,
                    format!("Account {} has UID 0 (a second root)", f[0]),
                    format!("/etc/passwd:{}", i + 1),
                    line.to_owned(),
                    format!(
                        "Give {} its own UID or remove it (usermod -u / userdel).",
                        f[0]
                    ),
                );
            }
            if f[1].is_empty() {
                r.add(
                    "account-empty-password",
                    Severity::Critical,
                    format!("Account {} has an empty password in /etc/passwd", f[0]),
                    format!("/etc/passwd:{}", i + 1),
                    format!("{}: password field empty", f[0]),
                    format!("passwd -l {}", f[0]),
                );
            }
        }
    }
}

pub(super) fn check_ssh_keys(root: &Path, r: &mut HostReport) {
    // Host private keys.
    if let Ok(dir) = std::fs::read_dir(under(root, "/etc/ssh")) {
        let mut keys: Vec<_> = dir.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        keys.sort();
        for p in keys {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("ssh_host_") && name.ends_with("_key") {
                private_key(&p, &format!("/etc/ssh/{name}"), r);
            }
        }
    }
    // Users' keys.
    let mut homes = vec![under(root, "/root")];
    if let Ok(dir) = std::fs::read_dir(under(root, "/home")) {
        homes.extend(dir.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    homes.sort();
    for home in homes {
        let ssh = home.join(".ssh");
        let Ok(dir) = std::fs::read_dir(&ssh) else {
            continue;
        };
        let shown = |p: &Path| format!("/{}", p.strip_prefix(root).unwrap_or(p).display());
        let mut files: Vec<_> = dir.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for p in files {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("id_") && !name.ends_with(".pub") {
                private_key(&p, &shown(&p), r);
            } else if (name == "authorized_keys" || name == "authorized_keys2")
                && let Ok(m) = std::fs::symlink_metadata(&p)
                && m.permissions().mode() & 0o022 != 0
            {
                r.add(
                    "ssh-key-permissions",
                    Severity::High,
                    "authorized_keys writable by others (anyone can add a key)",
                    shown(&p),
                    format!("mode {:04o}", m.permissions().mode() & 0o7777),
                    format!("chmod 600 {}", shown(&p)),
                );
            }
        }
    }
}

fn private_key(p: &Path, shown: &str, r: &mut HostReport) {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return;
    };
    let mode = m.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 && !(mode & 0o037 == 0 && shown.starts_with("/etc/ssh/")) {
        // Host keys may be group-readable by ssh_keys (0640); nothing else.
        r.add(
            "ssh-key-permissions",
            if mode & 0o004 != 0 {
                Severity::Critical
            } else {
                Severity::High
            },
            "SSH private key readable by others",
            shown,
            format!("mode {mode:04o}"),
            format!("chmod 600 {shown}"),
        );
    }
}

pub(super) fn check_suid(root: &Path, max_files: usize, r: &mut HostReport) {
    let mut visited = 0usize;
    for top in SETID_ROOTS {
        let start = under(root, top);
        let Ok(meta) = std::fs::symlink_metadata(&start) else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        let walker = walkdir::WalkDir::new(&start)
            .follow_links(false)
            .same_file_system(true);
        for entry in walker.into_iter().filter_map(|e| e.ok()) {
            visited += 1;
            if visited > max_files {
                r.errors.push(super::CheckError {
                    check: "setid-unexpected",
                    file: start.display().to_string(),
                    message: format!("stopped after {max_files} files"),
                });
                return;
            }
            if !entry.file_type().is_file() {
                continue;
            }
            let Ok(m) = entry.metadata() else { continue };
            let mode = m.mode();
            if mode & 0o6000 == 0 {
                continue;
            }
            let path = entry.path();
            let abs = format!("/{}", path.strip_prefix(root).unwrap_or(path).display());
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let kind = match (mode & 0o4000 != 0, mode & 0o2000 != 0) {
                (true, true) => "SUID+SGID",
                (true, false) => "SUID",
                _ => "SGID",
            };
            let in_writable = WRITABLE_PLACES
                .iter()
                .any(|w| abs.starts_with(&format!("{w}/")));
            if in_writable {
                r.add(
                    "setid-unexpected",
                    Severity::Critical,
                    format!("{kind} file in a user-writable place"),
                    abs.clone(),
                    format!("mode {:04o}, owner uid {}", mode & 0o7777, m.uid()),
                    format!("Investigate, then chmod ug-s {abs} or remove it."),
                );
            } else if !EXPECTED_SETID.contains(&name) {
                r.add(
                    "setid-unexpected",
                    if mode & 0o4000 != 0 && m.uid() == 0 { Severity::High } else { Severity::Medium },
                    format!("Unexpected {kind} program"),
                    abs.clone(),
                    format!("mode {:04o}, owner uid {}", mode & 0o7777, m.uid()),
                    format!("If nothing needs it: chmod ug-s {abs} (dpkg-statoverride to keep it across upgrades)."),
                );
            }
        }
    }
}

//! `sshd_config`: risky settings of the global section (sshd takes the first value it reads
//! for a keyword, `Include` files in place, and stops applying global settings at `Match`).

use std::path::Path;

use palisade_event::Severity;

use super::{HostReport, under};

const WEAK_CIPHERS: &[&str] = &[
    "3des-cbc",
    "aes128-cbc",
    "aes192-cbc",
    "aes256-cbc",
    "blowfish-cbc",
    "cast128-cbc",
    "arcfour",
    "arcfour128",
    "arcfour256",
    "rijndael-cbc@lysator.liu.se",
];
const WEAK_MACS: &[&str] = &[
    "hmac-md5",
    "hmac-md5-96",
    "hmac-md5-etm@openssh.com",
    "hmac-md5-96-etm@openssh.com",
    "hmac-sha1-96",
    "hmac-sha1-96-etm@openssh.com",
    "umac-64@openssh.com",
    "umac-64-etm@openssh.com",
    "hmac-ripemd160",
    "hmac-ripemd160@openssh.com",
];
const WEAK_KEX: &[&str] = &[
    "diffie-hellman-group1-sha1",
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group-exchange-sha1",
];

/// (keyword lower-cased, value, file:line) in the order sshd reads them.
fn read_config(
    root: &Path,
    file: &Path,
    depth: usize,
    out: &mut Vec<(String, String, String)>,
    report: &mut HostReport,
) -> bool {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            if depth > 0 || e.kind() != std::io::ErrorKind::NotFound {
                report.error("sshd-config", file, &e);
            }
            return false;
        }
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once(|c: char| c.is_whitespace() || c == '=') {
            Some((k, v)) => (
                k.to_ascii_lowercase(),
                v.trim().trim_start_matches('=').trim().to_owned(),
            ),
            None => (line.to_ascii_lowercase(), String::new()),
        };
        if key == "match" {
            return true; // the rest applies only to matching connections
        }
        if key == "include" && depth < 8 {
            for pattern in value.split_whitespace() {
                let abs = if pattern.starts_with('/') {
                    pattern.to_owned()
                } else {
                    format!("/etc/ssh/{pattern}")
                };
                for f in glob_files(root, &abs) {
                    if read_config(root, &f, depth + 1, out, report) {
                        return true;
                    }
                }
            }
            continue;
        }
        out.push((key, value, format!("{}:{}", file.display(), i + 1)));
    }
    false
}

/// Files matching `dir/*.ext`-style patterns (the only globs sshd configs use in practice).
fn glob_files(root: &Path, abs: &str) -> Vec<std::path::PathBuf> {
    let p = under(root, abs);
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !name.contains('*') {
        return vec![p];
    }
    let (prefix, suffix) = name.split_once('*').unwrap_or((name, ""));
    let mut files: Vec<_> = p
        .parent()
        .and_then(|d| std::fs::read_dir(d).ok())
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|f| {
            f.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
        })
        .collect();
    files.sort();
    files
}

pub(super) fn check_sshd(root: &Path, r: &mut HostReport) {
    let file = under(root, "/etc/ssh/sshd_config");
    if !file.exists() {
        return; // no SSH server configured
    }
    let mut settings = Vec::new();
    read_config(root, &file, 0, &mut settings, r);
    let first = |k: &str| {
        settings
            .iter()
            .find(|s| s.0 == k)
            .map(|s| (s.1.as_str(), s.2.clone()))
    };
    let shown = file.display().to_string();

    match first("permitrootlogin") {
        Some((v, at)) if v.eq_ignore_ascii_case("yes") => r.add(
            "ssh-permit-root-login",
            Severity::High,
            "SSH allows root to log in with a password",
            at,
            format!("PermitRootLogin {v}"),
            "Set `PermitRootLogin no` (or `prohibit-password` if root needs key logins) and reload sshd.",
        ),
        _ => {}
    }
    match first("permitemptypasswords") {
        Some((v, at)) if v.eq_ignore_ascii_case("yes") => r.add(
            "ssh-permit-empty-passwords",
            Severity::Critical,
            "SSH accepts accounts with empty passwords",
            at,
            format!("PermitEmptyPasswords {v}"),
            "Set `PermitEmptyPasswords no` and reload sshd.",
        ),
        _ => {}
    }
    match first("passwordauthentication") {
        Some((v, at)) if v.eq_ignore_ascii_case("yes") => r.add(
            "ssh-password-authentication",
            Severity::Medium,
            "SSH accepts passwords (brute-force and credential-stuffing target)",
            at,
            format!("PasswordAuthentication {v}"),
            "Use keys: set `PasswordAuthentication no` (and `KbdInteractiveAuthentication no`) and reload sshd.",
        ),
        None => r.add(
            "ssh-password-authentication",
            Severity::Medium,
            "SSH accepts passwords (the default, not turned off)",
            shown.clone(),
            "PasswordAuthentication not set (OpenSSH default: yes)",
            "Use keys: set `PasswordAuthentication no` (and `KbdInteractiveAuthentication no`) and reload sshd.",
        ),
        _ => {}
    }
    if let Some((v, at)) = first("protocol")
        && v.split(',').any(|p| p.trim() == "1")
    {
        r.add(
            "ssh-protocol-1",
            Severity::High,
            "SSH protocol 1 enabled",
            at,
            format!("Protocol {v}"),
            "Remove the `Protocol` line (only protocol 2 is safe) and reload sshd.",
        );
    }
    for (key, weak, check, what) in [
        ("ciphers", WEAK_CIPHERS, "ssh-weak-ciphers", "ciphers"),
        ("macs", WEAK_MACS, "ssh-weak-macs", "MACs"),
        (
            "kexalgorithms",
            WEAK_KEX,
            "ssh-weak-kex",
            "key exchange algorithms",
        ),
    ] {
        let Some((v, at)) = first(key) else { continue };
        let bad: Vec<&str> = v
            .trim_start_matches(['+', '^'])
            .split(',')
            .map(str::trim)
            .filter(|c| weak.contains(&c.to_ascii_lowercase().as_str()))
            .collect();
        if !bad.is_empty() {
            r.add(
                check,
                Severity::Medium,
                format!("SSH offers weak {what}"),
                at,
                bad.join(","),
                format!(
                    "Remove {} from the `{}` line and reload sshd.",
                    bad.join(", "),
                    key_name(key)
                ),
            );
        }
    }
    if let Some((v, at)) = first("x11forwarding")
        && v.eq_ignore_ascii_case("yes")
    {
        r.add(
            "ssh-x11-forwarding",
            Severity::Low,
            "SSH X11 forwarding enabled",
            at,
            "X11Forwarding yes",
            "Set `X11Forwarding no` unless users need remote X applications.",
        );
    }
}

fn key_name(k: &str) -> &'static str {
    match k {
        "ciphers" => "Ciphers",
        "macs" => "MACs",
        _ => "KexAlgorithms",
    }
}

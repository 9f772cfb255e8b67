//! What the binary's end-to-end tests share: locating the repository and the public data,
//! and running the binary.

#![allow(dead_code)]

pub mod netns;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// PATH with the system directories added: Postfix's commands live in /usr/sbin, which a
/// non-login PATH may lack.
pub fn path_env() -> String {
    format!(
        "{}:/usr/sbin:/usr/bin:/sbin:/bin",
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Whether a command is installed (on [`path_env`]).
pub fn have(bin: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .env("PATH", path_env())
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file of the public data sets (`shared/data` beside the repository; `PALISADE_DATA`
/// overrides). Missing data fails the test under `CI=true` and skips it with a note otherwise.
pub fn data_file(rel: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Ok(d) = std::env::var("PALISADE_DATA") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(root().join("../shared/data"));
    dirs.push(root().join("../../shared/data"));
    for d in &dirs {
        if d.join(rel).is_file() {
            return Some(d.join(rel));
        }
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "data file {rel} is missing under CI (looked in {dirs:?})"
    );
    eprintln!("SKIPPED: {rel} not found in {dirs:?}");
    None
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary from the repository root.
pub fn palisade(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("palisade runs");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8"),
        stderr: String::from_utf8(out.stderr).expect("utf-8"),
    }
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

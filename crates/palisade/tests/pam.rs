//! The PAM integration end to end: a PAM service using `pam_exec` with
//! examples/pam/palisade-pam-check, `palisade serve` answering it, and Debian's `pamtester`
//! logging in. An allowed user passes; a user logging in from an address on the policy's
//! threat list (weight ≥ deny) is refused; an always-challenged user is refused by default and
//! passes with PALISADE_ON_CHALLENGE=pass.
//!
//! Needs root (to write /etc/pam.d) and pamtester: under CI=true their absence fails the test,
//! otherwise it is skipped loudly.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, have, is_root, root};

/// Removes the PAM service file and stops the server, whatever happens.
struct Guard {
    pam_file: PathBuf,
    child: Option<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.pam_file);
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn up(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200")
}

fn pamtester(service: &str, user: &str, rhost: &str) -> (i32, String) {
    let out = Command::new("pamtester")
        .args([
            "-I",
            &format!("rhost={rhost}"),
            service,
            user,
            "authenticate",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("pamtester runs");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn write_service(path: &Path, script: &Path, args: &str) {
    std::fs::write(
        path,
        format!(
            "# palisade test service (removed by the test)\n\
             auth requisite pam_exec.so quiet {} {args}\n\
             auth required pam_permit.so\n\
             account required pam_permit.so\n",
            script.display()
        ),
    )
    .unwrap();
}

#[test]
fn pam_exec_lets_allowed_users_in_and_keeps_denied_ones_out() {
    let mut missing = Vec::new();
    if !have("pamtester") {
        missing.push("pamtester (apt-get install pamtester)");
    }
    if !is_root() {
        missing.push("root (to write /etc/pam.d)");
    }
    if !Path::new("/etc/pam.d").is_dir() {
        missing.push("/etc/pam.d");
    }
    if !missing.is_empty() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the PAM test needs {} under CI",
            missing.join(", ")
        );
        eprintln!(
            "\n*** SKIPPED pam_exec_lets_allowed_users_in_and_keeps_denied_ones_out: needs {} ***\n",
            missing.join(", ")
        );
        return;
    }
    let bin = env!("CARGO_BIN_EXE_palisade");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    std::fs::write(
        dir.path().join("auth-policy.toml"),
        "[always_challenge]\nusers = [\"carol\"]\n\n[[threat_lists]]\nname = \"test_bad\"\nweight = 90\ncidrs = [\"203.0.113.0/24\"]\n",
    )
    .unwrap();
    let config = dir.path().join("palisade.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"data\"\n\
             [pipeline]\ndetectors = []\n[wal]\nfsync = false\n\
             [auth]\npolicy = \"auth-policy.toml\"\n"
        ),
    )
    .unwrap();
    let out = Command::new(bin)
        .args(["token", "create", "--role", "analyst", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let token_file = dir.path().join("pam.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();

    let service = format!("palisade-test-{}", std::process::id());
    let mut guard = Guard {
        pam_file: Path::new("/etc/pam.d").join(&service),
        child: None,
    };
    guard.child = Some(
        Command::new(bin)
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("palisade serve starts"),
    );
    let t = Instant::now();
    while !up(addr) {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "serve did not come up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let script = root().join("examples/pam/palisade-pam-check");
    let base = format!(
        "PALISADE_BIN={bin} PALISADE_SERVER=http://{addr} PALISADE_TOKEN_FILE={} PALISADE_FAIL_CLOSED=1",
        token_file.display()
    );
    write_service(&guard.pam_file, &script, &base);

    let (code, text) = pamtester(&service, "alice", "198.51.100.20");
    assert_eq!(code, 0, "an ordinary login must pass: {text}");
    let (code, text) = pamtester(&service, "alice", "203.0.113.9");
    assert_ne!(
        code, 0,
        "a login from the threat list must be refused: {text}"
    );
    let (code, text) = pamtester(&service, "carol", "198.51.100.20");
    assert_ne!(code, 0, "a challenge fails by default: {text}");

    write_service(
        &guard.pam_file,
        &script,
        &format!("{base} PALISADE_ON_CHALLENGE=pass"),
    );
    let (code, text) = pamtester(&service, "carol", "198.51.100.20");
    assert_eq!(
        code, 0,
        "PALISADE_ON_CHALLENGE=pass lets a challenge through: {text}"
    );
    let (code, text) = pamtester(&service, "carol", "203.0.113.9");
    assert_ne!(
        code, 0,
        "a deny is refused whatever the challenge policy: {text}"
    );
    drop(guard);
}

//! Network namespaces and child processes for the tests that need real networking (`ip`,
//! `nft`, root): created per test, removed on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn have(bin: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the environment can run the test; a reason when not.
pub fn missing(extra: &[&str]) -> Option<String> {
    for bin in ["ip", "nft"].iter().chain(extra) {
        if !have(bin) {
            return Some(format!("{bin} is not installed"));
        }
    }
    let probe = format!("palisade-bt-probe-{}", std::process::id());
    let ok = Command::new("ip")
        .args(["netns", "add", &probe])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Some("cannot create a network namespace (needs root)".into());
    }
    let _ = Command::new("ip").args(["netns", "del", &probe]).status();
    None
}

/// A network namespace, removed on drop (with it the bouncer's nftables tables).
pub struct Netns(pub String);

impl Netns {
    /// A fresh namespace named `palisade-<tag>-<pid>` with loopback up.
    pub fn new(tag: &str) -> Netns {
        let name = format!("palisade-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run("ip", &["netns", "add", &name]);
        let ns = Netns(name);
        run("ip", &["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }

    /// The elements line of an nftables set, or the error.
    pub fn set(&self, family: &str, table: &str, set: &str) -> String {
        let out = self
            .command("nft")
            .args(["list", "set", family, table, set])
            .output()
            .expect("nft runs");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// A child process killed on drop; its output lines are collected.
pub struct Proc {
    child: Mutex<Child>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for r in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for l in BufReader::new(r).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(l);
                }
            });
        }
        Proc {
            child: Mutex::new(child),
            lines,
        }
    }

    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    pub fn exited(&self) -> Option<std::process::ExitStatus> {
        self.child.lock().unwrap().try_wait().ok().flatten()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

pub fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().expect(program);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `f` until it holds (10 s at most).
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool, context: impl Fn() -> String) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "timed out waiting until {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

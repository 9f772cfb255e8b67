//! `palisade guard milter` behind a real Postfix: a private Postfix instance (its own
//! config, queue and data directories in a temporary directory, listening on 127.0.0.1) with
//! two SMTP listeners, each with its own milter:
//!
//! - port A → a milter with `--on-malicious reject`: the phishing message is refused at SMTP
//!   time with `550 5.7.1` naming the reasons; a ham message is relayed to Postfix's own
//!   `smtp-sink` carrying `X-Palisade-Verdict: clean` (the forged `X-Palisade-Verdict` the
//!   sender put in is gone);
//! - port B → a milter with the default policy: the phishing message is accepted and put in
//!   Postfix's hold queue (the milter quarantine action).
//!
//! The events file of the rejecting milter holds the rejection as an ECS event, without the
//! message. Needs root (Postfix's master runs as root) and the `postfix` package: under CI=true
//! their absence fails the test, otherwise it is skipped loudly.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{data_file, free_port, have, is_root, path_env, root};

const FIX: &str = "crates/guard/tests/fixtures/mail";
const HAM: &str = "spamassassin/easy-ham-1/00001.7c53336b37003a9286aba55d2945844c.eml";
const HAM_ID: &str = "13258.1030015585@munnari.OZ.AU";

fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd)
        .args(args)
        .env("PATH", path_env())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd} runs: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Stops Postfix and the children whatever happens.
struct Stack {
    conf: PathBuf,
    postfix_started: bool,
    children: Vec<Child>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.postfix_started {
            let conf = self.conf.to_string_lossy().to_string();
            let _ = run("postfix", &["-c", &conf, "stop"]);
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits (bounded) until something accepts connections on `port`.
fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} is not listening on 127.0.0.1:{port}");
}

/// A minimal SMTP client: the reply (code and text) to the end of DATA.
struct Smtp {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Smtp {
    fn connect(port: u16) -> Smtp {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut c = Smtp {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        };
        let (code, text) = c.reply();
        assert_eq!(code, 220, "greeting: {text}");
        c
    }

    fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = self.r.read_line(&mut line).unwrap();
            assert!(n > 0, "connection closed; so far: {text}");
            text.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
                return (code, text);
            }
        }
    }

    fn cmd(&mut self, line: &str, want: u16) {
        self.w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        let (code, text) = self.reply();
        assert_eq!(code, want, "{line} → {text}");
    }

    /// Sends one message; returns the reply to its end of data.
    fn send(&mut self, from: &str, to: &str, message: &[u8]) -> (u16, String) {
        self.cmd("EHLO client.palisade.test", 250);
        self.cmd(&format!("MAIL FROM:<{from}>"), 250);
        self.cmd(&format!("RCPT TO:<{to}>"), 250);
        self.cmd("DATA", 354);
        let text = String::from_utf8_lossy(message).replace("\r\n", "\n");
        let mut data = String::new();
        for line in text.lines() {
            if line.starts_with('.') {
                data.push('.');
            }
            data.push_str(line);
            data.push_str("\r\n");
        }
        data.push_str(".\r\n");
        self.w.write_all(data.as_bytes()).unwrap();
        self.reply()
    }
}

fn main_cf(dir: &Path, sink_port: u16) -> String {
    let d = dir.display();
    format!(
        "compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
myhostname = mx.palisade.test
mydomain = palisade.test
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:{sink_port}
smtp_dns_support_level = disabled
alias_maps =
alias_database =
maillog_file_prefixes = {d}
maillog_file = {d}/maillog
milter_default_action = accept
"
    )
}

fn master_cf(port_a: u16, milter_a: u16, port_b: u16, milter_b: u16) -> String {
    format!(
        "127.0.0.1:{port_a} inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:{milter_a}
127.0.0.1:{port_b} inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:{milter_b}
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"
    )
}

fn spawn_milter(port: u16, extra: &[&str], events: &Path) -> Child {
    let mut args = vec![
        "guard".to_string(),
        "milter".into(),
        "--listen".into(),
        format!("inet:127.0.0.1:{port}"),
        "--events".into(),
        events.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(&args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("palisade guard milter starts")
}

/// Files under `dir` whose text contains `needle`.
fn files_with(dir: &Path, needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_with(&p, needle));
            } else if let Ok(b) = std::fs::read(&p) {
                let t = String::from_utf8_lossy(&b).to_string();
                if t.contains(needle) {
                    out.push(t);
                }
            }
        }
    }
    out
}

#[test]
fn postfix_rejects_quarantines_and_tags_through_the_milter() {
    let mut missing = Vec::new();
    for bin in ["postfix", "smtp-sink", "postqueue"] {
        if !have(bin) {
            missing.push(format!("{bin} (apt-get install postfix)"));
        }
    }
    if !is_root() {
        missing.push("root (Postfix's master runs as root)".into());
    }
    if !missing.is_empty() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the Postfix milter test needs {} under CI",
            missing.join(", ")
        );
        eprintln!(
            "\n*** SKIPPED postfix_rejects_quarantines_and_tags_through_the_milter: needs {} ***\n",
            missing.join(", ")
        );
        return;
    }

    let phish = std::fs::read(root().join(FIX).join("hostile/paypal_lookalike.eml")).unwrap();
    // A mailing-list reply from SpamAssassin's easy ham (the mbox `From ` line dropped); the
    // sender's own verdict header must not survive.
    let Some(ham_path) = data_file(HAM) else {
        return;
    };
    let ham_file = std::fs::read_to_string(ham_path).unwrap();
    let mut ham = b"X-Palisade-Verdict: clean-trust-me\r\n".to_vec();
    ham.extend(
        ham_file
            .lines()
            .skip_while(|l| l.starts_with("From "))
            .flat_map(|l| [l.as_bytes(), b"\r\n"].concat()),
    );

    // Postfix's unprivileged daemons must reach the directories: 0755, data and sink owned by
    // the postfix user.
    let tmp = tempfile::Builder::new()
        .prefix("palisade-postfix")
        .tempdir_in("/tmp")
        .unwrap();
    let dir = tmp.path().to_path_buf();
    for sub in ["conf", "queue", "data", "sink"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let (ok, out) = run("chmod", &["0755", &dir.display().to_string()]);
    assert!(ok, "{out}");
    for sub in ["data", "sink"] {
        let (ok, out) = run("chown", &["postfix", &dir.join(sub).display().to_string()]);
        assert!(ok, "{out}");
    }

    let (smtp_a, milter_a, smtp_b, milter_b, sink) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let conf = dir.join("conf");
    std::fs::write(conf.join("main.cf"), main_cf(&dir, sink)).unwrap();
    std::fs::write(
        conf.join("master.cf"),
        master_cf(smtp_a, milter_a, smtp_b, milter_b),
    )
    .unwrap();
    let events_a = dir.join("events-a.ndjson");
    let events_b = dir.join("events-b.ndjson");

    let mut stack = Stack {
        conf: conf.clone(),
        postfix_started: false,
        children: Vec::new(),
    };
    stack.children.push(spawn_milter(
        milter_a,
        &["--on-malicious", "reject"],
        &events_a,
    ));
    stack.children.push(spawn_milter(milter_b, &[], &events_b));
    stack.children.push(
        Command::new("smtp-sink")
            .env("PATH", path_env())
            .args([
                "-u",
                "postfix",
                "-d",
                &format!("{}/sink/%M.", dir.display()),
                &format!("127.0.0.1:{sink}"),
                "10",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink starts"),
    );
    wait_listening(milter_a, "milter A");
    wait_listening(milter_b, "milter B");
    wait_listening(sink, "smtp-sink");

    let conf_s = conf.display().to_string();
    let (ok, out) = run("postfix", &["-c", &conf_s, "start"]);
    stack.postfix_started = true;
    let maillog = || std::fs::read_to_string(dir.join("maillog")).unwrap_or_default();
    assert!(ok, "postfix start: {out}\nmaillog:\n{}", maillog());
    wait_listening(smtp_a, "postfix smtpd A");
    wait_listening(smtp_b, "postfix smtpd B");

    // A: reject malicious at SMTP time, with the reasons in the reply.
    let mut c = Smtp::connect(smtp_a);
    let (code, text) = c.send("service@secure-paypa1.com", "victim@example.org", &phish);
    assert_eq!(code, 550, "phishing on A: {text}\nmaillog:\n{}", maillog());
    assert!(text.contains("5.7.1"), "{text}");
    assert!(
        text.contains("rejected by Palisade as malicious phishing"),
        "{text}"
    );
    assert!(text.contains("(+"), "the reply names the reasons: {text}");
    c.cmd("RSET", 250);
    // Ham on the same connection is tagged and relayed.
    let (code, text) = c.send("kre@munnari.OZ.AU", "reader@example.org", &ham);
    assert_eq!(code, 250, "ham on A: {text}\nmaillog:\n{}", maillog());
    c.cmd("QUIT", 221);

    // B: the default policy quarantines malicious mail (Postfix: the hold queue).
    let mut c = Smtp::connect(smtp_b);
    let (code, text) = c.send("service@secure-paypa1.com", "victim@example.org", &phish);
    assert_eq!(code, 250, "phishing on B: {text}\nmaillog:\n{}", maillog());
    let queue_id = text
        .split_whitespace()
        .last()
        .unwrap()
        .trim_end()
        .to_string();
    c.cmd("QUIT", 221);

    // The ham reaches the sink with our headers (bounded wait; delivery is asynchronous).
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered = loop {
        let found = files_with(&dir.join("sink"), HAM_ID);
        if !found.is_empty() || Instant::now() > deadline {
            break found;
        }
        let _ = run("postqueue", &["-c", &conf_s, "-f"]);
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        delivered.len(),
        1,
        "ham not relayed to the sink\nmaillog:\n{}",
        maillog()
    );
    let msg = &delivered[0];
    assert!(
        msg.contains("X-Palisade-Verdict: clean\n")
            || msg.contains("X-Palisade-Verdict: clean\r\n"),
        "{msg}"
    );
    assert_eq!(
        msg.matches("X-Palisade-Verdict").count(),
        1,
        "the forged header is gone: {msg}"
    );
    assert!(msg.contains("X-Palisade-Score: 0."), "{msg}");
    assert!(msg.contains("X-Palisade-Reasons: "), "{msg}");
    // The phishing was never relayed.
    assert!(files_with(&dir.join("sink"), "secure-paypa1").is_empty());

    // The quarantined message waits in the hold queue.
    let (ok, q) = run("postqueue", &["-c", &conf_s, "-j"]);
    assert!(ok, "{q}");
    let held: Vec<serde_json::Value> = q
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        held.iter()
            .any(|m| m["queue_id"] == queue_id.as_str() && m["queue_name"] == "hold"),
        "{queue_id} not on hold: {q}\nmaillog:\n{}",
        maillog()
    );
    assert!(
        maillog().contains(&format!("{queue_id}: milter-hold")),
        "{}",
        maillog()
    );

    // Events: the rejection on A, the quarantine on B; never the message text.
    let ev_a = std::fs::read_to_string(&events_a).unwrap();
    let rows: Vec<serde_json::Value> = ev_a
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{ev_a}");
    assert_eq!(rows[0]["event"]["module"], "palisade-guard");
    assert_eq!(rows[0]["palisade"]["guard"]["verdict"], "malicious");
    assert_eq!(rows[0]["palisade"]["guard"]["milter_action"], "reject");
    assert!(!ev_a.contains("Dear customer") && !ev_a.contains("suspended"));
    let ev_b = std::fs::read_to_string(&events_b).unwrap();
    assert!(ev_b.contains("\"milter_action\":\"quarantine\""), "{ev_b}");
    drop(stack);
}

//! Executors other than nft, against real programs, files and a local HTTP listener.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use palisade_respond::{Action, ExecConfig, ExecError, Executors, Revert, WebhookFormat};

fn executors(dir: &Path) -> Executors {
    Executors::new(ExecConfig {
        quarantine_dir: dir.join("q"),
        kill_grace: Duration::from_millis(300),
        exec_timeout: Duration::from_secs(5),
        ..ExecConfig::default()
    })
}

/// A script that appends its arguments, one per line, to `out`.
fn recorder(dir: &Path, out: &Path) -> String {
    let p = dir.join("record.sh");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> '{}'; done\n",
            out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.display().to_string()
}

#[test]
fn quarantine_and_restore_round_trip() {
    let d = tempfile::tempdir().unwrap();
    let ex = executors(d.path());
    let f = d.path().join("evil.bin");
    std::fs::write(&f, b"MZ not really").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o751)).unwrap();
    let before = std::fs::metadata(&f).unwrap();
    let path = f.display().to_string();
    let out = ex
        .execute(&Action::Quarantine {
            path: path.clone(),
            incident: 42,
        })
        .unwrap();
    assert!(!f.exists());
    let Some(Revert::Restore { entry, original }) = &out.revert else {
        panic!("{out:?}")
    };
    assert_eq!(original, &path);
    assert_eq!(
        std::fs::metadata(entry).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(entry.join("file"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o400
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(entry.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["original_path"], path.as_str());
    assert_eq!(meta["size"], 13);
    assert_eq!(meta["mode"], 0o751);
    assert_eq!(meta["incident"], 42);
    assert_eq!(meta["sha256"].as_str().unwrap().len(), 64);
    assert!(out.revert.as_ref().unwrap().describe().contains("restore"));
    // A file that appeared at the original path is never overwritten.
    std::fs::write(&f, b"new").unwrap();
    let e = ex.revert(out.revert.as_ref().unwrap()).unwrap_err();
    assert!(matches!(e, ExecError::Refused(_)), "{e}");
    assert_eq!(std::fs::read(&f).unwrap(), b"new");
    std::fs::remove_file(&f).unwrap();
    let msg = ex.revert(out.revert.as_ref().unwrap()).unwrap();
    assert!(msg.starts_with("restored"), "{msg}");
    assert_eq!(std::fs::read(&f).unwrap(), b"MZ not really");
    let after = std::fs::metadata(&f).unwrap();
    assert_eq!(after.mode() & 0o7777, 0o751);
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
    assert_eq!(after.mtime(), before.mtime());
    assert!(!entry.exists());
    // Not a regular file: refused.
    let e = ex.execute(&Action::Quarantine {
        path: d.path().display().to_string(),
        incident: 1,
    });
    assert!(matches!(e, Err(ExecError::Refused(_))));
}

#[test]
fn quarantine_across_filesystems_copies() {
    // /dev/shm is a tmpfs; the temp dir usually is not. When both are the same filesystem this
    // still exercises the normal path.
    let Ok(shm) = tempfile::tempdir_in("/dev/shm") else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let ex = executors(d.path());
    let f = shm.path().join("x");
    std::fs::write(&f, b"payload").unwrap();
    let out = ex
        .execute(&Action::Quarantine {
            path: f.display().to_string(),
            incident: 1,
        })
        .unwrap();
    assert!(!f.exists());
    ex.revert(out.revert.as_ref().unwrap()).unwrap();
    assert_eq!(std::fs::read(&f).unwrap(), b"payload");
}

#[test]
fn exec_passes_each_argument_untouched_and_reverts() {
    let d = tempfile::tempdir().unwrap();
    let ex = executors(d.path());
    let out = d.path().join("out.txt");
    let prog = recorder(d.path(), &out);
    let a = Action::Exec {
        argv: vec![
            prog.clone(),
            "1.2.3.4; rm -rf /".into(),
            "$(id)".into(),
            "a b".into(),
        ],
        revert_argv: Some(vec![prog.clone(), "undo".into()]),
    };
    let o = ex.execute(&a).unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "1.2.3.4; rm -rf /\n$(id)\na b\n"
    );
    let r = o.revert.unwrap();
    ex.revert(&r).unwrap();
    assert!(std::fs::read_to_string(&out).unwrap().ends_with("undo\n"));
    // Failure quotes stderr; relative programs and timeouts are errors.
    let e = ex
        .execute(&Action::Exec {
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo oops >&2; exit 3".into(),
            ],
            revert_argv: None,
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("oops") && e.contains('3'), "{e}");
    let e = ex.execute(&Action::Exec {
        argv: vec!["sh".into()],
        revert_argv: None,
    });
    assert!(matches!(e, Err(ExecError::Refused(_))));
    let slow = Executors::new(ExecConfig {
        exec_timeout: Duration::from_millis(200),
        ..ExecConfig::default()
    });
    let e = slow.execute(&Action::Exec {
        argv: vec!["/bin/sleep".into(), "5".into()],
        revert_argv: None,
    });
    assert!(matches!(e, Err(ExecError::Timeout { .. })), "{e:?}");
    let o = ex
        .execute(&Action::Exec {
            argv: vec!["/bin/true".into()],
            revert_argv: None,
        })
        .unwrap();
    assert!(o.revert.is_none() && o.detail.contains("not reversible"));
}

#[test]
fn lock_and_unlock_user_run_the_configured_argv() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("users.txt");
    let prog = recorder(d.path(), &out);
    let ex = Executors::new(ExecConfig {
        lock_argv: vec![prog.clone(), "lock".into(), "{user}".into()],
        unlock_argv: vec![prog, "unlock".into(), "{user}".into()],
        ..ExecConfig::default()
    });
    let o = ex
        .execute(&Action::LockUser {
            user: "mallory".into(),
        })
        .unwrap();
    ex.revert(o.revert.as_ref().unwrap()).unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "lock\nmallory\nunlock\nmallory\n"
    );
    assert!(matches!(
        ex.execute(&Action::LockUser { user: "-r".into() }),
        Err(ExecError::Refused(_))
    ));
}

#[test]
fn kill_process_terminates_and_says_it_cannot_be_undone() {
    let d = tempfile::tempdir().unwrap();
    let ex = executors(d.path());
    // Ignores SIGTERM, so SIGKILL after the grace period is needed.
    let mut child = std::process::Command::new("/bin/sh")
        .args(["-c", "trap '' TERM; exec sleep 30"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let o = ex
        .execute(&Action::KillProcess {
            pid: child.id(),
            host: String::new(),
        })
        .unwrap();
    assert!(o.revert.is_none());
    assert!(
        o.detail.contains("SIGKILL") && o.detail.contains("not reversible"),
        "{}",
        o.detail
    );
    let st = child.wait().unwrap();
    assert!(!st.success());
    let e = ex.execute(&Action::KillProcess {
        pid: child.id(),
        host: "some-other-host.example".into(),
    });
    assert!(matches!(e, Err(ExecError::Refused(_))));
    assert!(matches!(
        ex.execute(&Action::KillProcess {
            pid: 1,
            host: String::new()
        }),
        Err(ExecError::Refused(_))
    ));
}

/// Serves one request; returns (request head, body) through the join handle.
fn listener(status: u16) -> (String, std::thread::JoinHandle<(String, String)>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut head = String::new();
        let mut len = 0;
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head += &line;
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        let mut s = s;
        write!(
            s,
            "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        (head, String::from_utf8(body).unwrap())
    });
    (url, h)
}

#[test]
fn webhook_posts_json_and_slack_bodies() {
    let ex = executors(Path::new("/nonexistent"));
    let (url, h) = listener(200);
    let body = serde_json::json!({"incident": {"id": 7}, "playbook": "p"});
    let o = ex
        .execute(&Action::Webhook {
            url: url.clone(),
            format: WebhookFormat::Json,
            headers: vec![("X-Token".into(), "s3cret".into())],
            body: body.clone(),
        })
        .unwrap();
    assert!(o.revert.is_none() && !o.detail.contains("s3cret"));
    let (head, got) = h.join().unwrap();
    assert!(head.starts_with("POST /hook HTTP/1.1"), "{head}");
    assert!(head.to_ascii_lowercase().contains("x-token: s3cret"));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json")
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&got).unwrap(),
        body
    );

    let (url, h) = listener(200);
    ex.execute(&Action::Webhook {
        url,
        format: WebhookFormat::Slack,
        headers: vec![],
        body: serde_json::json!({"text": "Palisade incident 7"}),
    })
    .unwrap();
    let (_, got) = h.join().unwrap();
    let v: serde_json::Value = serde_json::from_str(&got).unwrap();
    assert_eq!(v, serde_json::json!({"text": "Palisade incident 7"}));

    // Non-2xx is an error; a dead endpoint fails within the timeout.
    let (url, h) = listener(500);
    let e = ex
        .execute(&Action::Webhook {
            url,
            format: WebhookFormat::Json,
            headers: vec![],
            body: serde_json::json!({}),
        })
        .unwrap_err();
    assert!(e.to_string().contains("500"), "{e}");
    h.join().unwrap();
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", dead.local_addr().unwrap());
    drop(dead);
    assert!(
        ex.execute(&Action::Webhook {
            url,
            format: WebhookFormat::Json,
            headers: vec![],
            body: serde_json::json!({})
        })
        .is_err()
    );
}

#[test]
fn lock_and_unlock_user_through_the_configured_urls() {
    let (lock, lh) = listener(200);
    let (unlock, uh) = listener(204);
    let ex = Executors::new(ExecConfig {
        lock_url: Some(lock),
        unlock_url: Some(unlock),
        ..ExecConfig::default()
    });
    let o = ex
        .execute(&Action::LockUser {
            user: "mallory".into(),
        })
        .unwrap();
    let (head, body) = lh.join().unwrap();
    assert!(head.starts_with("POST /hook"), "{head}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"user": "mallory"})
    );
    ex.revert(o.revert.as_ref().unwrap()).unwrap();
    let (_, body) = uh.join().unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"user": "mallory"})
    );
    // The identity provider refusing is an error, not a silent success.
    let (lock, lh) = listener(403);
    let ex = Executors::new(ExecConfig {
        lock_url: Some(lock),
        ..ExecConfig::default()
    });
    let e = ex
        .execute(&Action::LockUser {
            user: "mallory".into(),
        })
        .unwrap_err();
    assert!(e.to_string().contains("403"), "{e}");
    lh.join().unwrap();
}

#[test]
fn decisions_change_nothing_locally_and_revert_is_described() {
    let ex = executors(Path::new("/nonexistent"));
    let a = Action::Decision {
        net: "192.0.2.1/32".parse().unwrap(),
        ttl: None,
        scenario: "palisade/demo".into(),
    };
    let o = ex.execute(&a).unwrap();
    let r = o.revert.unwrap();
    assert!(r.describe().contains("withdraw"));
    let j = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<Revert>(&j).unwrap(), r);
}

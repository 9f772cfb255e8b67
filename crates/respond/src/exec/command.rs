//! Running a program: argv straight to execve (no shell), optional stdin, a deadline, and the
//! output captured so a failure can quote stderr.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::ExecError;
use crate::action::shell_join;

/// Stdout of a finished program.
pub(crate) struct Ran {
    pub stdout: String,
}

/// Runs `argv` with `stdin`, failing on a non-zero exit, a signal or the deadline.
pub(crate) fn run(
    argv: &[String],
    stdin: Option<&str>,
    timeout: Duration,
) -> Result<Ran, ExecError> {
    let Some((prog, args)) = argv.split_first() else {
        return Err(ExecError::Refused("empty command".into()));
    };
    if argv.iter().any(|a| a.contains('\0')) {
        return Err(ExecError::Refused("an argument contains NUL".into()));
    }
    let shown = shell_join(argv);
    let mut child = Command::new(prog)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ExecError::Spawn {
            command: shown.clone(),
            source: e,
        })?;
    let writer = match (stdin, child.stdin.take()) {
        (Some(text), Some(mut pipe)) => {
            let text = text.to_owned();
            Some(std::thread::spawn(move || {
                // A program that exits early closes the pipe; its exit status tells why.
                let _ = pipe.write_all(text.as_bytes());
            }))
        }
        _ => None,
    };
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                // Bounded: a chatty program cannot fill memory.
                let _ = r.by_ref().take(16 << 20).read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ExecError::Timeout {
                    command: shown,
                    after: timeout,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                return Err(ExecError::Spawn {
                    command: shown,
                    source: e,
                });
            }
        }
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        return Err(ExecError::Failed {
            command: shown,
            status: status.to_string(),
            stderr: stderr.trim().chars().take(4000).collect(),
        });
    }
    Ok(Ran { stdout })
}

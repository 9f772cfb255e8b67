//! `palisade auth check`: one login attempt scored by a running server (`--server`) or by a
//! fresh in-process engine with the configured policy and GeoIP databases.
//!
//! Exit codes: 0 allow, [`EXIT_CHALLENGE`] challenge, [`EXIT_DENY`] deny, 2 errors (2 is this
//! program's usage-error code, so verdicts use codes of their own).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::cli::{AuthCheckArgs, CheckFormat};

/// Exit code of a challenge.
pub const EXIT_CHALLENGE: u8 = 10;
/// Exit code of a deny.
pub const EXIT_DENY: u8 = 11;

pub fn check(a: AuthCheckArgs) -> Result<u8> {
    let answer = match &a.server {
        Some(url) => remote(&a, url)?,
        None => local(&a)?,
    };
    let decision = answer["decision"].as_str().unwrap_or("").to_string();
    let code = match decision.as_str() {
        "allow" => 0,
        "challenge" => EXIT_CHALLENGE,
        "deny" => EXIT_DENY,
        other => bail!("unexpected decision {other:?} in {answer}"),
    };
    match a.format {
        CheckFormat::Json => println!("{answer}"),
        CheckFormat::Text => {
            println!(
                "{decision} (risk {})",
                answer["risk"].as_u64().unwrap_or_default()
            );
            for r in answer["reasons"].as_array().into_iter().flatten() {
                println!(
                    "  {} +{}: {}",
                    r["signal"].as_str().unwrap_or(""),
                    r["score"].as_u64().unwrap_or_default(),
                    r["evidence"].as_str().unwrap_or("")
                );
            }
        }
    }
    Ok(code)
}

fn local(a: &AuthCheckArgs) -> Result<Value> {
    let cfg = crate::serve_cmd::load_config(a.config.as_deref(), None, None)?;
    let Some(engine) = palisade_server::serve::load_auth(&cfg)? else {
        bail!("auth.enabled is false in the configuration");
    };
    let req = palisade_auth::Request {
        user: a.user.clone(),
        ip: a
            .ip
            .trim()
            .parse::<std::net::IpAddr>()
            .with_context(|| format!("--ip {:?} is not an address", a.ip))?
            .to_canonical(),
        user_agent: a.user_agent.clone(),
        device_id: a.device.clone(),
        timestamp: chrono::Utc::now(),
        app: a.app.clone(),
        outcome: None,
    };
    Ok(serde_json::to_value(engine.assess(&req))?)
}

fn token(a: &AuthCheckArgs) -> Result<String> {
    if let Some(t) = &a.token {
        return Ok(t.trim().to_string());
    }
    if let Some(p) = &a.token_file {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        return Ok(text.lines().next().unwrap_or("").trim().to_string());
    }
    match std::env::var("PALISADE_TOKEN") {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        _ => bail!("--server needs a token: --token, --token-file or PALISADE_TOKEN"),
    }
}

/// POST /api/v1/auth/assess on a plain-HTTP server (one request, `Connection: close`).
fn remote(a: &AuthCheckArgs, url: &str) -> Result<Value> {
    let token = token(a)?;
    let rest = url.strip_prefix("http://").with_context(|| {
        format!("--server {url:?}: give http://host:port (HTTPS is not supported here)")
    })?;
    let (hostport, base) = match rest.split_once('/') {
        Some((h, p)) => (h, format!("/{}", p.trim_end_matches('/'))),
        None => (rest, String::new()),
    };
    let base = base.trim_end_matches('/');
    let hostport = if hostport.contains(':') && !hostport.ends_with(']') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let timeout = Duration::from_secs(a.timeout.max(1));
    let addr = hostport
        .to_socket_addrs()
        .with_context(|| format!("--server: cannot resolve {hostport}"))?
        .next()
        .with_context(|| format!("--server: no address for {hostport}"))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {hostport}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut body = json!({"user": a.user, "ip": a.ip, "user_agent": a.user_agent});
    if let Some(d) = &a.device {
        body["device_id"] = json!(d);
    }
    if let Some(app) = &a.app {
        body["app"] = json!(app);
    }
    let body = body.to_string();
    let head = format!(
        "POST {base}/api/v1/auth/assess HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\
Authorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .with_context(|| format!("reading the answer of {hostport}"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the server's answer has no HTTP head")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("the server's answer has no HTTP status")?;
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    let mut body = raw[split + 4..].to_vec();
    if chunked {
        body = dechunk(&body);
    }
    let text = String::from_utf8_lossy(&body);
    if status != 200 {
        bail!("the server answered {status}: {}", text.trim());
    }
    serde_json::from_str(&text).with_context(|| format!("the server's answer is not JSON: {text}"))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..end]).trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < end + 2 + size {
            break;
        }
        out.extend_from_slice(&b[end + 2..end + 2 + size]);
        b = b.get(end + 4 + size..).unwrap_or(&[]);
    }
    out
}

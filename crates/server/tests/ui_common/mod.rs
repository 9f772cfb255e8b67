//! What the web UI tests share: a real `palisade serve` on a free loopback port with the
//! example Windows rules, tokens made in its store, events ingested through the API until two
//! incidents exist, and a small HTTP client that keeps no cookies of its own.

#![allow(dead_code)] // each test file uses a different part

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use palisade_server::auth::{hash_secret, new_secret};
use palisade_server::config::ServeConfig;
use palisade_server::serve::{Running, start};
use palisade_store::{IncidentFilter, IncidentRecord, NewToken, Store};
use serde_json::{Value, json};

/// A command line with markup in it: must show as text, never run.
pub const XSS: &str = "<script>alert('xss')</script>";

pub struct Server {
    pub running: Running,
    pub base: String,
    pub analyst: String,
    pub viewer: String,
    _dir: tempfile::TempDir,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn token(running: &Running, name: &str, role: &str) -> String {
    let secret = new_secret();
    let row = NewToken {
        name: name.into(),
        role: role.into(),
        hash: hash_secret(&secret),
    };
    running
        .state
        .db(move |s| s.create_token(&row))
        .await
        .expect("create token");
    secret
}

impl Server {
    /// Starts a server with the example Windows rules and an analyst and a viewer token.
    pub async fn start() -> Server {
        Server::start_with(|_, _| {}).await
    }

    /// [`Server::start`] with the configuration changed by `mutate` first.
    pub async fn start_with(mutate: impl FnOnce(&mut ServeConfig, &std::path::Path)) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = ServeConfig::default();
        cfg.server.listen = "127.0.0.1:0".into();
        cfg.server.data_dir = dir.path().to_path_buf();
        cfg.wal.fsync = false;
        cfg.pipeline.rules = vec![repo_root().join("examples/rules/windows")];
        mutate(&mut cfg, dir.path());
        let (running, report) = start(cfg).await.expect("serve starts");
        assert!(report.rules > 0, "example rules loaded");
        let base = format!("http://{}", running.addr);
        let analyst = token(&running, "alice-analyst", "analyst").await;
        let viewer = token(&running, "vic-viewer", "viewer").await;
        Server {
            running,
            base,
            analyst,
            viewer,
            _dir: dir,
        }
    }

    pub async fn stop(self) {
        self.running.stop().await;
    }

    /// Posts NDJSON events with the analyst token and waits until the pipeline applied them.
    pub async fn ingest(&self, events: &[Value]) {
        let body: String = events.iter().map(|e| format!("{e}\n")).collect();
        let r = http(
            Method::POST,
            &format!("{}/api/v1/events", self.base),
            &[
                ("authorization", format!("Bearer {}", self.analyst)),
                ("content-type", "application/x-ndjson".into()),
            ],
            body,
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "ingest: {}", r.body);
        let v: Value = serde_json::from_str(&r.body).expect("ingest response");
        let accepted = v["accepted"].as_u64().unwrap_or(0);
        assert_eq!(accepted, events.len() as u64, "every event accepted: {v}");
        let last = v["first_seq"].as_u64().unwrap_or(0) + accepted - 1;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self
            .running
            .state
            .progress
            .applied
            .load(std::sync::atomic::Ordering::Acquire)
            < last
        {
            assert!(Instant::now() < deadline, "pipeline applied the events");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Posts syslog lines with the analyst token and waits until the pipeline applied them.
    pub async fn ingest_syslog(&self, body: String) {
        let r = http(
            Method::POST,
            &format!("{}/api/v1/events?format=syslog", self.base),
            &[
                ("authorization", format!("Bearer {}", self.analyst)),
                ("content-type", "text/plain".into()),
            ],
            body,
        )
        .await;
        assert!(r.status.is_success(), "ingest: {} {}", r.status, r.body);
        let v: Value = serde_json::from_str(&r.body).expect("ingest response");
        let last = v["first_seq"].as_u64().unwrap_or(0) + v["accepted"].as_u64().unwrap_or(1) - 1;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self
            .running
            .state
            .progress
            .applied
            .load(std::sync::atomic::Ordering::Acquire)
            < last
        {
            assert!(Instant::now() < deadline, "pipeline applied the events");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Incidents in the store, highest priority first.
    pub async fn incidents(&self) -> Vec<IncidentRecord> {
        self.running
            .state
            .db(|s| s.incidents(&IncidentFilter::default()))
            .await
            .expect("incidents")
    }

    /// Waits until at least `n` incidents are stored (triage runs after the batch commit).
    pub async fn wait_incidents(&self, n: usize) -> Vec<IncidentRecord> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let all = self.incidents().await;
            if all.len() >= n {
                return all;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} incidents, have {}",
                all.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The standard scenario: a week of ordinary activity on WS01, then an attack there
    /// (Office spawning encoded PowerShell, whoami, an LSASS dump with comsvcs) and encoded
    /// PowerShell carrying markup on WS07 — two incidents.
    pub async fn with_two_incidents(&self) -> Vec<IncidentRecord> {
        self.ingest(&scenario(Utc::now())).await;
        self.wait_incidents(2).await
    }

    /// Signs in over plain HTTP; returns (session cookie `name=value`, CSRF token of a page).
    pub async fn sign_in(&self, secret: &str) -> (String, String) {
        let form = self.get("/login", None).await;
        assert_eq!(form.status, StatusCode::OK);
        let login_cookie = form.cookie("palisade_login").expect("login cookie");
        let csrf = hidden(&form.body, "csrf").expect("login csrf");
        let r = self
            .post_form(
                "/login",
                Some(&login_cookie),
                &[("csrf", &csrf), ("token", secret), ("next", "/")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "sign-in: {}", r.body);
        let session = r.cookie("palisade_session").expect("session cookie");
        let page = self.get("/incidents", Some(&session)).await;
        assert_eq!(page.status, StatusCode::OK);
        let csrf = hidden(&page.body, "csrf").expect("page csrf");
        (session, csrf)
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Resp {
        let mut h = Vec::new();
        if let Some(c) = cookie {
            h.push(("cookie", c.to_string()));
        }
        http(
            Method::GET,
            &format!("{}{path}", self.base),
            &h,
            String::new(),
        )
        .await
    }

    pub async fn post_form(
        &self,
        path: &str,
        cookie: Option<&str>,
        fields: &[(&str, &str)],
    ) -> Resp {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", form_enc(k), form_enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut h = vec![(
            "content-type",
            "application/x-www-form-urlencoded".to_string(),
        )];
        if let Some(c) = cookie {
            h.push(("cookie", c.to_string()));
        }
        http(Method::POST, &format!("{}{path}", self.base), &h, body).await
    }
}

fn form_enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The value of the first hidden input named `name` in a page.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let at = html.find(&needle)? + needle.len();
    let end = html[at..].find('"')?;
    Some(html[at..at + end].to_string())
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    /// `name=value` of a Set-Cookie header.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookie(name)
            .and_then(|c| c.split(';').next().map(str::to_string))
    }

    /// The whole Set-Cookie header for `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn http(method: Method, url: &str, headers: &[(&str, String)], body: String) -> Resp {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, HeaderValue::from_str(v).expect("header value"));
    }
    let req = req.body(Full::new(Bytes::from(body))).expect("request");
    let resp = client.request(req).await.expect("HTTP request");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// A Sysmon process-creation event as `evtx_dump` writes it.
pub fn process(
    at: DateTime<Utc>,
    host: &str,
    user: &str,
    image: &str,
    command_line: &str,
    parent: &str,
) -> Value {
    let t = at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    json!({"Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
            "EventID": 1,
            "TimeCreated": {"#attributes": {"SystemTime": t}},
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": host
        },
        "EventData": {
            "UtcTime": at.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            "Image": image,
            "OriginalFileName": image.rsplit('\\').next().unwrap_or(image),
            "CommandLine": command_line,
            "User": user,
            "ParentImage": parent,
            "IntegrityLevel": "Medium"
        }
    }})
}

/// An ECS authentication event (a web sign-in).
pub fn sign_in(at: DateTime<Utc>, user: &str, ip: &str, country: &str, device: &str) -> Value {
    json!({
        "@timestamp": at.to_rfc3339(),
        "event": {"category": "authentication", "outcome": "success", "action": "sign-in"},
        "service": {"name": "portal"},
        "user": {"name": user},
        "source": {"ip": ip, "geo": {"country_iso_code": country}},
        "device": {"id": device},
        "host": {"name": "sso01"}
    })
}

const PS: &str = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";
const WORD: &str = r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE";
const CHROME: &str = r"C:\Program Files\Google\Chrome\Application\chrome.exe";
const OUTLOOK: &str = r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE";
const EXPLORER: &str = r"C:\Windows\explorer.exe";

/// The events of [`Server::with_two_incidents`] in time order (as a log shipper sends them),
/// ending a few minutes before `now`.
pub fn scenario(now: DateTime<Utc>) -> Vec<Value> {
    let mut ev = unordered(now);
    ev.sort_by_key(|e| {
        e.pointer("/Event/System/TimeCreated/#attributes/SystemTime")
            .or_else(|| e.get("@timestamp"))
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
    });
    ev
}

fn unordered(now: DateTime<Utc>) -> Vec<Value> {
    let mut ev = Vec::new();
    let ws01 = "WS01.corp.example.com";
    // A working week of ordinary starts on WS01 (a baseline for the entity pages).
    for day in 1..=6i64 {
        for (k, (img, cmd)) in [
            (CHROME, format!("\"{CHROME}\"")),
            (OUTLOOK, format!("\"{OUTLOOK}\"")),
            (WORD, format!("\"{WORD}\" /n report-{day}.docx")),
        ]
        .into_iter()
        .enumerate()
        {
            let at = now - chrono::Duration::days(day) - chrono::Duration::hours(3 - k as i64);
            ev.push(process(at, ws01, r"CORP\alice", img, &cmd, EXPLORER));
        }
    }
    // Her sign-ins to the company portal (a user baseline with countries and devices).
    for day in 1..=6i64 {
        for (k, (ip, country)) in [
            ("198.51.100.23", "DE"),
            ("198.51.100.23", "DE"),
            ("203.0.113.40", "NL"),
        ]
        .into_iter()
        .enumerate()
        {
            let at = now - chrono::Duration::days(day) - chrono::Duration::hours(4 - k as i64);
            ev.push(sign_in(at, "alice", ip, country, "LAPTOP-ALICE"));
        }
    }
    let t = |mins: i64| now - chrono::Duration::minutes(mins);
    ev.push(process(
        t(30),
        ws01,
        r"CORP\alice",
        CHROME,
        &format!("\"{CHROME}\""),
        EXPLORER,
    ));
    // The attack on WS01.
    ev.push(process(
        t(12),
        ws01,
        r"CORP\alice",
        PS,
        "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=",
        WORD,
    ));
    ev.push(process(
        t(11),
        ws01,
        r"CORP\alice",
        r"C:\Windows\System32\whoami.exe",
        r#""C:\Windows\system32\whoami.exe" /all"#,
        PS,
    ));
    ev.push(process(
        t(10),
        ws01,
        r"CORP\alice",
        r"C:\Windows\System32\rundll32.exe",
        r#""C:\Windows\system32\rundll32.exe" C:\Windows\System32\comsvcs.dll, MiniDump 692 C:\Users\Public\lsass.dmp full"#,
        PS,
    ));
    // Elsewhere, a lesser one whose command line carries markup.
    ev.push(process(
        t(5),
        "WS07.corp.example.com",
        r"CORP\carol",
        PS,
        &format!("powershell.exe -enc SQBFAFgA {XSS}"),
        EXPLORER,
    ));
    ev
}

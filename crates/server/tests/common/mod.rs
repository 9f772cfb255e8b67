//! Test helpers: a plain HTTP/1.1 client over `std::net` (one request per connection) and a
//! service started on a temporary directory.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use palisade_server::auth::{hash_secret, new_secret};
use palisade_server::config::ServeConfig;
use palisade_store::{NewToken, SqliteStore, Store};

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request; `extra` are additional headers.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[end + 2..end + 2 + size]);
        b = &b[end + 2 + size + 2..];
    }
    out
}

pub fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Response {
    request(addr, "GET", path, token, &[], b"")
}

pub fn send_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> Response {
    request(
        addr,
        method,
        path,
        token,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

/// Repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A configuration on `dir` with the example rules.
pub fn config(dir: &Path, detectors: &[&str]) -> ServeConfig {
    let mut cfg = ServeConfig::default();
    cfg.server.listen = "127.0.0.1:0".into();
    cfg.server.data_dir = dir.to_path_buf();
    cfg.pipeline.rules = vec![repo().join("examples/rules")];
    cfg.pipeline.detectors = detectors.iter().map(|d| d.to_string()).collect();
    cfg.wal.fsync = false;
    cfg
}

/// Creates a token of `role` in the store of `cfg`; returns the secret.
pub fn token(cfg: &ServeConfig, role: &str) -> String {
    std::fs::create_dir_all(&cfg.server.data_dir).unwrap();
    let mut s = SqliteStore::open(&cfg.store_path()).unwrap();
    let secret = new_secret();
    s.create_token(&NewToken {
        name: format!("test-{role}"),
        role: role.into(),
        hash: hash_secret(&secret),
    })
    .unwrap();
    secret
}

/// Waits until the pipeline has applied sequence number `seq`.
pub fn wait_applied(state: &palisade_server::state::AppState, seq: u64) {
    let start = Instant::now();
    while state
        .progress
        .applied
        .load(std::sync::atomic::Ordering::Acquire)
        < seq
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "pipeline did not reach #{seq}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `palisade serve` in this process (own runtime), stopped by [`Service::stop`].
pub struct Service {
    pub rt: tokio::runtime::Runtime,
    running: Option<palisade_server::serve::Running>,
    _dir: tempfile::TempDir,
    pub cfg: palisade_server::config::ServeConfig,
}

impl Service {
    pub fn start(detectors: &[&str]) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), detectors);
        Service::start_with(dir, cfg)
    }

    pub fn start_with(
        dir: tempfile::TempDir,
        cfg: palisade_server::config::ServeConfig,
    ) -> Service {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (running, _) = rt
            .block_on(palisade_server::serve::start(cfg.clone()))
            .unwrap();
        Service {
            rt,
            running: Some(running),
            _dir: dir,
            cfg,
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.running.as_ref().unwrap().addr
    }

    /// The LLM firewall proxy's address (`[guard_proxy]` enabled).
    pub fn guard_proxy_addr(&self) -> std::net::SocketAddr {
        self.running
            .as_ref()
            .unwrap()
            .guard_proxy
            .expect("guard_proxy is enabled")
    }

    /// A connection of its own to the service's store.
    pub fn store(&self) -> SqliteStore {
        SqliteStore::open(&self.cfg.store_path()).unwrap()
    }

    pub fn state(&self) -> &palisade_server::state::AppState {
        &self.running.as_ref().unwrap().state
    }

    pub fn stop(mut self) {
        if let Some(r) = self.running.take() {
            self.rt.block_on(r.stop());
        }
    }

    /// Stops the service gracefully and starts it again on the same data directory; also
    /// returns what the new start-up reported.
    #[allow(dead_code)]
    pub fn restart(mut self) -> (Service, palisade_server::serve::StartReport) {
        if let Some(r) = self.running.take() {
            self.rt.block_on(r.stop());
        }
        let (running, report) = self
            .rt
            .block_on(palisade_server::serve::start(self.cfg.clone()))
            .unwrap();
        self.running = Some(running);
        (self, report)
    }
}

/// The first event `GET /api/v1/events?{query}` returns, polled until one is stored (30 s at
/// most; `what` names it in the failure).
#[allow(dead_code)]
pub fn wait_event(addr: SocketAddr, token: &str, query: &str, what: &str) -> serde_json::Value {
    let start = std::time::Instant::now();
    loop {
        let r = get(addr, &format!("/api/v1/events?{query}"), Some(token));
        assert_eq!(r.status, 200, "{}", r.text());
        if let Some(e) = r.json().as_array().and_then(|a| a.first()) {
            return e.clone();
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no {what} stored"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

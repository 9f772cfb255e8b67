//! HTTPS: a real `palisade serve` (in process, on 127.0.0.1) with a self-signed certificate
//! made at test time, reached by a rustls client that trusts only that certificate.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_server::config::ServeConfig;
use palisade_server::serve::Running;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// A self-signed certificate for `localhost` and its key, written as PEM into `dir`.
struct Cert {
    der: CertificateDer<'static>,
    cert_path: std::path::PathBuf,
    key_path: std::path::PathBuf,
}

fn make_cert(dir: &Path) -> Cert {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, ck.cert.pem()).unwrap();
    std::fs::write(&key_path, ck.signing_key.serialize_pem()).unwrap();
    Cert {
        der: ck.cert.der().clone(),
        cert_path,
        key_path,
    }
}

fn tls_config(dir: &Path, cert: &Cert) -> ServeConfig {
    let mut cfg = common::config(&dir.join("data"), &["ueba"]);
    cfg.server.tls_cert = Some(cert.cert_path.clone());
    cfg.server.tls_key = Some(cert.key_path.clone());
    cfg
}

struct Service {
    rt: tokio::runtime::Runtime,
    running: Option<Running>,
    cfg: ServeConfig,
    cert: Cert,
    _dir: tempfile::TempDir,
}

impl Service {
    fn start() -> Service {
        let dir = tempfile::tempdir().unwrap();
        let cert = make_cert(dir.path());
        let cfg = tls_config(dir.path(), &cert);
        let rt = runtime();
        let (running, _) = rt
            .block_on(palisade_server::serve::start(cfg.clone()))
            .unwrap();
        Service {
            rt,
            running: Some(running),
            cfg,
            cert,
            _dir: dir,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.running.as_ref().unwrap().addr
    }

    /// A client that trusts the service's certificate and offers HTTP/1.1.
    fn client(&self) -> Arc<ClientConfig> {
        client_trusting(Some(&self.cert.der))
    }

    fn stop(mut self) -> Duration {
        let t = Instant::now();
        if let Some(r) = self.running.take() {
            self.rt.block_on(r.stop());
        }
        t.elapsed()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn client_trusting(cert: Option<&CertificateDer<'static>>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    if let Some(c) = cert {
        roots.add(c.clone()).unwrap();
    }
    let mut c =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(c)
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A TLS connection to `addr` as `localhost`, handshake completed.
fn connect(addr: SocketAddr, client: Arc<ClientConfig>) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let conn = ClientConnection::new(client, ServerName::try_from("localhost").unwrap())
        .map_err(std::io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

struct Response {
    status: u16,
    body: String,
}

/// Reads one response whose length the server gives (`Content-Length`), leaving the
/// connection open.
fn read_response(s: &mut impl Read) -> Response {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_string();
            let len: usize = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.trim().parse().unwrap())
                .expect("content-length");
            if raw.len() >= end + 4 + len {
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                let body = String::from_utf8_lossy(&raw[end + 4..end + 4 + len]).to_string();
                return Response { status, body };
            }
        }
        let n = s.read(&mut buf).expect("read response");
        assert!(n > 0, "connection closed mid-response: {raw:?}");
        raw.extend_from_slice(&buf[..n]);
    }
}

fn get(s: &mut Tls, path: &str, token: Option<&str>) -> Response {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.flush().unwrap();
    read_response(s)
}

/// Sends `req` over plain TCP; returns what came back before the server closed.
fn plain_request(addr: SocketAddr, req: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(req).unwrap();
    let mut got = Vec::new();
    // The server may reset the connection after its alert: keep what was read.
    let mut buf = [0u8; 1024];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// Reads until the peer closes; true if it did within `within`.
fn closed_within(s: &mut impl Read, within: Duration) -> bool {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    while start.elapsed() < within {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn https_serves_health_and_the_api_with_the_configured_certificate() {
    let svc = Service::start();
    assert!(svc.running.as_ref().unwrap().tls, "Running::tls");
    let token = common::token(&svc.cfg, "viewer");

    let mut s = connect(svc.addr(), svc.client()).expect("TLS handshake");
    assert_eq!(s.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert!(matches!(
        s.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3 | rustls::ProtocolVersion::TLSv1_2)
    ));
    // Several requests on one kept-alive connection.
    let r = get(&mut s, "/healthz", None);
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
    let r = get(&mut s, "/api/v1/status", None);
    assert_eq!(r.status, 401, "{}", r.body);
    let r = get(&mut s, "/api/v1/status", Some(&token));
    assert_eq!(r.status, 200, "{}", r.body);
    let status: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(status.is_object(), "{status}");

    // A client that does not trust the certificate fails its handshake...
    let err = connect(svc.addr(), client_trusting(None)).err();
    assert!(
        err.is_some(),
        "handshake with an untrusted certificate succeeded"
    );
    // ...plain HTTP on the TLS port gets no HTTP response...
    let r = plain_request(svc.addr(), b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        !r.starts_with(b"HTTP/"),
        "plain HTTP got an answer: {:?}",
        String::from_utf8_lossy(&r)
    );
    // ...and neither affects others.
    let mut s2 = connect(svc.addr(), svc.client()).expect("TLS handshake after failures");
    let r = get(&mut s2, "/healthz", None);
    assert_eq!(r.status, 200);
    let r = get(&mut s, "/healthz", None);
    assert_eq!(r.status, 200);
    svc.stop();
}

#[test]
fn a_stalled_handshake_blocks_no_one_and_is_dropped_after_the_timeout() {
    let svc = Service::start();
    let t = Instant::now();
    // Connects and never says anything.
    let mut stalled: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(svc.addr()).unwrap())
        .collect();
    let mut s = connect(svc.addr(), svc.client()).expect("TLS handshake beside stalled ones");
    assert_eq!(get(&mut s, "/healthz", None).status, 200);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "a stalled client delayed another"
    );
    for c in &mut stalled {
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        assert!(
            closed_within(c, Duration::from_secs(20)),
            "a stalled handshake was kept open"
        );
    }
    let waited = t.elapsed();
    assert!(
        waited >= palisade_server::tls::HANDSHAKE_TIMEOUT - Duration::from_secs(1),
        "stalled connection closed after only {waited:?}"
    );
    // Still serving.
    let mut s = connect(svc.addr(), svc.client()).unwrap();
    assert_eq!(get(&mut s, "/healthz", None).status, 200);
    svc.stop();
}

#[test]
fn graceful_shutdown_over_https_closes_idle_connections_and_the_port() {
    let svc = Service::start();
    let addr = svc.addr();
    let mut idle = connect(addr, svc.client()).unwrap();
    assert_eq!(get(&mut idle, "/healthz", None).status, 200);
    // Mid-handshake when the service stops.
    let mut half = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));

    let took = svc.stop();
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    idle.sock
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(
        closed_within(&mut idle, Duration::from_secs(5)),
        "idle TLS connection left open"
    );
    half.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(
        closed_within(&mut half, Duration::from_secs(5)),
        "unfinished handshake left open"
    );
    assert!(TcpStream::connect(addr).is_err(), "port still open");
}

#[test]
fn start_fails_naming_the_file_when_the_certificate_or_key_is_unusable() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path());
    let other = tempfile::tempdir().unwrap();
    let other_cert = make_cert(other.path());
    let rt = runtime();
    let start_err = |cfg: ServeConfig| -> String {
        match rt.block_on(palisade_server::serve::start(cfg)) {
            Ok((running, _)) => {
                rt.block_on(running.stop());
                panic!("started with an unusable certificate or key");
            }
            Err(e) => format!("{e:#}"),
        }
    };

    // The key file holds only a certificate.
    let mut cfg = tls_config(dir.path(), &cert);
    cfg.server.tls_key = Some(cert.cert_path.clone());
    let e = start_err(cfg);
    let want = format!(
        "server.tls_key: {}: no private key found",
        cert.cert_path.display()
    );
    assert!(e.contains(&want), "{e}");

    // The certificate file holds only a key.
    let mut cfg = tls_config(dir.path(), &cert);
    cfg.server.tls_cert = Some(cert.key_path.clone());
    let e = start_err(cfg);
    let want = format!(
        "server.tls_cert: {}: no certificate found",
        cert.key_path.display()
    );
    assert!(e.contains(&want), "{e}");

    // Broken PEM.
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    let mut cfg = tls_config(dir.path(), &cert);
    cfg.server.tls_cert = Some(bad.clone());
    let e = start_err(cfg);
    assert!(
        e.contains(&format!("server.tls_cert: {}: ", bad.display())),
        "{e}"
    );

    // A key that is not the certificate's.
    let mut cfg = tls_config(dir.path(), &cert);
    cfg.server.tls_key = Some(other_cert.key_path.clone());
    let e = start_err(cfg);
    assert!(
        e.contains(&format!(
            "server.tls_key: {}: unusable with the certificate in {}",
            other_cert.key_path.display(),
            cert.cert_path.display()
        )),
        "{e}"
    );

    // Nothing was started in the data directory's place.
    assert!(!dir.path().join("data").exists());
}

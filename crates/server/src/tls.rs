//! HTTPS for the API, web UI and metrics when `server.tls_cert` and `server.tls_key` are set.
//!
//! [`TlsListener`] is an [`axum::serve::Listener`]: it accepts TCP connections, runs each
//! TLS handshake in its own task with a deadline, and hands finished handshakes to
//! `axum::serve`, so HTTP handling and graceful shutdown are exactly those of plain HTTP. A
//! client that stalls or fails its handshake only loses its own connection. rustls with the
//! `ring` provider and its safe defaults: TLS 1.2 and 1.3, no renegotiation; ALPN offers
//! `http/1.1` only (the server speaks HTTP/1.1).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::ServeConfig;

/// How long a client has to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at once; past this the listener stops accepting (the kernel's
/// backlog queues further connections) until one finishes.
pub const MAX_HANDSHAKES: usize = 256;

/// The TLS configuration of `cfg`, if it asks for TLS: certificate chain and key loaded and
/// checked against each other. Errors name the key and the file.
pub fn configured(cfg: &ServeConfig) -> Result<Option<Arc<ServerConfig>>> {
    match (&cfg.server.tls_cert, &cfg.server.tls_key) {
        (Some(cert), Some(key)) => server_config(cert, key).map(Some),
        (None, None) => Ok(None),
        _ => Err(anyhow!(
            "server.tls_cert and server.tls_key must be given together"
        )),
    }
}

/// A rustls server configuration from a PEM certificate chain (leaf first) and a PEM private
/// key (PKCS#8, PKCS#1 or SEC1; not encrypted).
pub fn server_config(cert_path: &Path, key_path: &Path) -> Result<Arc<ServerConfig>> {
    let certs = load_certs(cert_path)?;
    let key = load_key(key_path)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS: no usable protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            anyhow!(
                "server.tls_key: {}: unusable with the certificate in {}: {e}",
                key_path.display(),
                cert_path.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow!("{key}: {}: {e}", path.display()))
}

fn pem_error(key: &str, path: &Path, e: pem::Error) -> anyhow::Error {
    anyhow!("{key}: {}: not valid PEM: {e}", path.display())
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let key = "server.tls_cert";
    let pem = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(key, path, e))?;
    if certs.is_empty() {
        return Err(anyhow!(
            "{key}: {}: no certificate found (expected PEM \"BEGIN CERTIFICATE\" sections)",
            path.display()
        ));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let key = "server.tls_key";
    let pem = read(key, path)?;
    match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(k) => Ok(k),
        Err(pem::Error::NoItemsFound) => Err(anyhow!(
            "{key}: {}: no private key found (expected an unencrypted PKCS#8, PKCS#1 or SEC1 PEM key)",
            path.display()
        )),
        Err(e) => Err(pem_error(key, path, e)),
    }
}

type Ready = (TlsStream<TcpStream>, SocketAddr);

/// A TCP listener that yields connections whose TLS handshake has completed.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    /// Handshakes in progress; dropping the listener (server shutdown) aborts them.
    handshakes: JoinSet<()>,
    ready_tx: mpsc::Sender<Ready>,
    ready_rx: mpsc::Receiver<Ready>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> Self {
        let (ready_tx, ready_rx) = mpsc::channel(64);
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(config),
            handshakes: JoinSet::new(),
            ready_tx,
            ready_rx,
        }
    }

    fn handshake(&mut self, tcp: TcpStream, peer: SocketAddr) {
        let acceptor = self.acceptor.clone();
        let ready = self.ready_tx.clone();
        self.handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    // Fails only when the server is shutting down.
                    let _ = ready.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
                Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // Every branch is cancel-safe: axum drops this future when shutting down.
            tokio::select! {
                biased;
                Some(ready) = self.ready_rx.recv() => return ready,
                Some(_) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {}
                // axum's own accept: retries, and backs off on errors such as EMFILE.
                (tcp, peer) = axum::serve::Listener::accept(&mut self.tcp),
                    if self.handshakes.len() < MAX_HANDSHAKES =>
                {
                    self.handshake(tcp, peer);
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The peer address of a connection, plain or TLS, for handlers that record who called
/// (`ConnectInfo<PeerAddr>`; bouncer pulls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

//! The proxy's HTTP/1.1 client: one connection per request to the upstream (plain TCP, or TLS
//! checked against the Mozilla roots of `webpki-roots`, plus a private CA when configured), with
//! a connect timeout and a timeout
//! for the answer's head. A model call takes seconds, so a handshake per request costs little
//! and keeps the client small: no pool to size, no idle connections to expire.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderValue, Request, Response, Uri, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Why the upstream gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    #[error("{0} did not answer within {1} s")]
    Timeout(String, u64),
    #[error("{0}: {1}")]
    Http(String, String),
}

/// Where requests go: `http(s)://host[:port][/prefix]`; a request's path is appended.
#[derive(Clone)]
pub struct Upstream {
    host: String,
    port: u16,
    authority: String,
    prefix: String,
    shown: String,
    tls: Option<tokio_rustls::TlsConnector>,
    connect_timeout: Duration,
    timeout: Duration,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Checks an upstream URL: scheme, host, no query, no credentials.
pub fn parse_url(url: &str) -> Result<(bool, String, u16, String), String> {
    let uri: Uri = url
        .parse()
        .map_err(|_| format!("{url:?} is not a URL such as https://api.openai.com"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(format!("{url:?}: the scheme must be http or https")),
    };
    let auth = uri
        .authority()
        .ok_or_else(|| format!("{url:?} names no host"))?;
    if auth.as_str().contains('@') {
        return Err(format!("{url:?}: credentials do not belong in the URL"));
    }
    if uri.query().is_some() {
        return Err(format!("{url:?}: no query string, please"));
    }
    let host = auth.host().trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{url:?} names no host"));
    }
    let port = auth.port_u16().unwrap_or(if https { 443 } else { 80 });
    let prefix = uri.path().trim_end_matches('/').to_string();
    Ok((https, host.to_string(), port, prefix))
}

/// TLS settings: the Mozilla roots, plus the certificates of `ca` (PEM) when given.
fn tls_connector(ca: Option<&Path>) -> Result<tokio_rustls::TlsConnector, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut n = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            n += 1;
        }
        if n == 0 {
            return Err(format!("{}: no PEM certificate in it", path.display()));
        }
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

impl Upstream {
    /// `ca`: a PEM file of certificates trusted besides the Mozilla roots (HTTPS only).
    pub fn new(
        url: &str,
        ca: Option<&Path>,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Upstream, String> {
        let (https, host, port, prefix) = parse_url(url)?;
        let default_port = if https { 443 } else { 80 };
        let host_part = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let authority = if port == default_port {
            host_part.clone()
        } else {
            format!("{host_part}:{port}")
        };
        let shown = format!(
            "{}://{authority}{prefix}",
            if https { "https" } else { "http" }
        );
        Ok(Upstream {
            tls: if https {
                Some(tls_connector(ca)?)
            } else {
                None
            },
            host,
            port,
            authority,
            prefix,
            shown,
            connect_timeout,
            timeout,
        })
    }

    /// The URL, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Sends `req` (its URI is a path and query, appended to the prefix; `Host` is set to the
    /// upstream's) and returns the answer's head with a streaming body.
    pub async fn send(
        &self,
        mut req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let pq = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        *req.uri_mut() = format!("{}{pq}", self.prefix)
            .parse()
            .map_err(|e| UpstreamError::Http(self.shown.clone(), format!("bad path: {e}")))?;
        if let Ok(v) = HeaderValue::from_str(&self.authority) {
            req.headers_mut().insert(header::HOST, v);
        }
        let connect = tokio::net::TcpStream::connect((self.host.as_str(), self.port));
        let tcp = match tokio::time::timeout(self.connect_timeout, connect).await {
            Err(_) => {
                return Err(UpstreamError::Timeout(
                    self.shown.clone(),
                    self.connect_timeout.as_secs(),
                ));
            }
            Ok(Err(e)) => return Err(UpstreamError::Connect(self.shown.clone(), e.to_string())),
            Ok(Ok(s)) => s,
        };
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => self.exchange(tcp, req).await,
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| UpstreamError::Connect(self.shown.clone(), e.to_string()))?;
                let hs = tls.connect(name, tcp);
                let stream = match tokio::time::timeout(self.connect_timeout, hs).await {
                    Err(_) => {
                        return Err(UpstreamError::Timeout(
                            self.shown.clone(),
                            self.connect_timeout.as_secs(),
                        ));
                    }
                    Ok(Err(e)) => {
                        return Err(UpstreamError::Connect(
                            self.shown.clone(),
                            format!("TLS: {e}"),
                        ));
                    }
                    Ok(Ok(s)) => s,
                };
                self.exchange(stream, req).await
            }
        }
    }

    async fn exchange<IO>(
        &self,
        io: IO,
        req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, UpstreamError>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let err = |e: hyper::Error| UpstreamError::Http(self.shown.clone(), e.to_string());
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(err)?;
        // The connection runs until the answer's body has been read (or dropped).
        tokio::spawn(async move {
            let _ = conn.await;
        });
        match tokio::time::timeout(self.timeout, sender.send_request(req)).await {
            Err(_) => Err(UpstreamError::Timeout(
                self.shown.clone(),
                self.timeout.as_secs(),
            )),
            Ok(r) => r.map_err(err),
        }
    }
}

//! A minimal HTTP/1.1 client over tokio TCP for the load generator, and a reader of the
//! Prometheus text the service exports.
//!
//! No HTTP client crate: the benchmark sends requests it built before the clock started and
//! needs only the status and the end of each answer, so a keep-alive connection that writes
//! bytes and reads a status line, headers and a sized (or chunked) body is all it takes, and
//! the generator spends as little of the shared two cores as possible.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One keep-alive connection; requests on it go one after the other.
pub struct Connection {
    stream: BufReader<TcpStream>,
    line: String,
    body: Vec<u8>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> Result<Connection> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream: BufReader::with_capacity(16 << 10, stream),
            line: String::new(),
            body: Vec::new(),
        })
    }

    /// Writes a complete request and reads its answer: the status and the body.
    pub async fn round_trip(&mut self, request: &[u8]) -> Result<(u16, &[u8])> {
        self.stream.get_mut().write_all(request).await?;
        self.read_response().await
    }

    async fn read_line(&mut self) -> Result<&str> {
        self.line.clear();
        if self.stream.read_line(&mut self.line).await? == 0 {
            bail!("the server closed the connection");
        }
        Ok(self.line.trim_end())
    }

    async fn read_response(&mut self) -> Result<(u16, &[u8])> {
        let status_line = self.read_line().await?;
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad HTTP status line {status_line:?}"))?;
        let mut length = None;
        let mut chunked = false;
        loop {
            let header = self.read_line().await?;
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                }
            }
        }
        self.body.clear();
        if chunked {
            self.read_chunked().await?;
        } else if let Some(n) = length {
            self.body.resize(n, 0);
            self.stream.read_exact(&mut self.body).await?;
        } else {
            // Neither: the body runs to the end of the connection.
            self.stream.read_to_end(&mut self.body).await?;
        }
        Ok((status, &self.body))
    }

    async fn read_chunked(&mut self) -> Result<()> {
        loop {
            let size_line = self.read_line().await?;
            let hex = size_line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(hex, 16)
                .with_context(|| format!("bad chunk size {size_line:?}"))?;
            if size == 0 {
                // Trailers, then the empty line.
                while !self.read_line().await?.is_empty() {}
                return Ok(());
            }
            let start = self.body.len();
            self.body.resize(start + size, 0);
            self.stream.read_exact(&mut self.body[start..]).await?;
            self.read_line().await?;
        }
    }
}

/// The bytes of a whole request.
pub fn request(
    method: &str,
    path: &str,
    addr: SocketAddr,
    token: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = content_type {
        head.push_str("Content-Type: ");
        head.push_str(t);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// `GET path` on a fresh connection; the status and the body as text.
pub async fn get(addr: SocketAddr, path: &str, token: &str) -> Result<(u16, String)> {
    let mut c = Connection::open(addr).await?;
    let (status, body) = c
        .round_trip(&request("GET", path, addr, token, None, b""))
        .await
        .with_context(|| format!("GET {path}"))?;
    Ok((status, String::from_utf8_lossy(body).into_owned()))
}

/// One scrape of `/metrics`.
pub struct Scrape(String);

impl Scrape {
    pub async fn take(addr: SocketAddr, token: &str) -> Result<Scrape> {
        let (status, text) = get(addr, "/metrics", token).await?;
        if status != 200 {
            bail!("GET /metrics answered {status}");
        }
        Ok(Scrape(text))
    }

    /// The sum of the samples named `name` whose labels include `label` (`source="bench"`),
    /// or of all samples of that name when `label` is `None`; 0 when there are none.
    pub fn value(&self, name: &str, label: Option<&str>) -> f64 {
        let mut sum = 0.0;
        for line in self.0.lines() {
            if line.starts_with('#') {
                continue;
            }
            let Some(rest) = line.strip_prefix(name) else {
                continue;
            };
            let (labels, rest) = match rest.strip_prefix('{') {
                Some(r) => match r.split_once('}') {
                    Some((l, v)) => (l, v),
                    None => continue,
                },
                None if rest.starts_with(' ') => ("", rest),
                None => continue,
            };
            if label.is_some_and(|want| !labels.split(',').any(|l| l == want)) {
                continue;
            }
            if let Some(v) = rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
            {
                sum += v;
            }
        }
        sum
    }

    /// Label values of `label_name` among the samples named `name`.
    pub fn labels(&self, name: &str, label_name: &str) -> Vec<String> {
        let prefix = format!("{name}{{");
        let key = format!("{label_name}=\"");
        let mut out: Vec<String> = self
            .0
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .filter_map(|l| {
                let start = l.find(&key)? + key.len();
                let end = l[start..].find('"')?;
                Some(l[start..start + end].to_string())
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_values_by_name_and_label() {
        let s = Scrape(
            "# TYPE palisade_events_received counter\n\
             palisade_events_received_total{source=\"http\"} 10\n\
             palisade_events_received_total{source=\"bench\"} 5\n\
             palisade_events_applied_total 7\n\
             palisade_events_applied_total_other 99\n\
             palisade_detector_seconds_sum{detector=\"sigma\"} 1.5\n"
                .into(),
        );
        assert_eq!(s.value("palisade_events_received_total", None), 15.0);
        assert_eq!(
            s.value("palisade_events_received_total", Some("source=\"bench\"")),
            5.0
        );
        assert_eq!(s.value("palisade_events_applied_total", None), 7.0);
        assert_eq!(s.value("palisade_missing", None), 0.0);
        assert_eq!(
            s.labels("palisade_detector_seconds_sum", "detector"),
            vec!["sigma".to_string()]
        );
    }
}

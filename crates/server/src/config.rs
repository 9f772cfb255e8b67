//! `palisade.toml`: what `palisade serve` listens on, where it keeps its data, which detectors
//! run and which sources feed it.
//!
//! Every key may be overridden from the environment as `PALISADE_<SECTION>__<KEY>` (for
//! example `PALISADE_SERVER__LISTEN=0.0.0.0:8080`, `PALISADE_WAL__FSYNC=false`); the value is
//! read as TOML when it parses (numbers, booleans, arrays) and as a string otherwise. The file
//! is validated at start: unknown keys, bad addresses, missing rule paths and impossible limits
//! are errors naming the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use palisade_ingest::Format;
use serde::{Deserialize, Serialize};

/// Environment variable prefix for overrides.
pub const ENV_PREFIX: &str = "PALISADE_";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    pub server: ServerSection,
    pub store: StoreSection,
    pub wal: WalSection,
    pub pipeline: PipelineSection,
    pub sources: SourcesSection,
    pub respond: RespondSection,
    pub auth: AuthSection,
    pub vuln: VulnSection,
    pub guard_proxy: GuardProxySection,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Address of the API, web UI and metrics. Loopback unless told otherwise.
    pub listen: String,
    /// Directory for the store, the write-ahead log and tailing offsets.
    pub data_dir: PathBuf,
    /// TLS certificate and key (PEM); both or neither.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Largest request body accepted (after gzip decompression), bytes.
    pub max_body_bytes: usize,
    /// Longest single record accepted, bytes.
    pub max_record_bytes: usize,
    /// Web UI session lifetime, minutes.
    pub session_minutes: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("palisade-data"),
            tls_cert: None,
            tls_key: None,
            max_body_bytes: 32 << 20,
            max_record_bytes: 1 << 20,
            session_minutes: 8 * 60,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// SQLite file, relative to `data_dir` unless absolute.
    pub path: PathBuf,
    /// Events kept for search (older ones are pruned); alerts and incidents are kept.
    pub keep_events: u64,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            path: PathBuf::from("palisade.db"),
            keep_events: 2_000_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WalSection {
    /// Sync each group commit to disk before acknowledging (survives power loss).
    pub fsync: bool,
    pub segment_bytes: u64,
    /// Records acknowledged but not yet applied before sources are pushed back (HTTP 429).
    pub queue_records: u64,
}

impl Default for WalSection {
    fn default() -> Self {
        WalSection {
            fsync: true,
            segment_bytes: 64 << 20,
            queue_records: 200_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSection {
    /// sigma, ioc, anomaly, ueba, beacon.
    pub detectors: Vec<String>,
    /// Sigma rule files or directories.
    pub rules: Vec<PathBuf>,
    /// Threat-intel files (STIX, MISP, CSV/lists) besides what `palisade intel import` stored.
    pub intel: Vec<PathBuf>,
    /// Triage configuration (TOML/JSON); the defaults otherwise.
    pub triage_config: Option<PathBuf>,
    /// Baselines (anomaly, UEBA, beacon, triage) are snapshotted this often, seconds.
    pub snapshot_secs: u64,
    /// Most records per pipeline batch.
    pub batch_records: usize,
    /// Store events for search (`false` keeps only alerts and incidents).
    pub store_events: bool,
}

impl Default for PipelineSection {
    fn default() -> Self {
        PipelineSection {
            detectors: ["sigma", "ioc", "anomaly", "ueba", "beacon"]
                .map(String::from)
                .to_vec(),
            rules: Vec::new(),
            intel: Vec::new(),
            triage_config: None,
            snapshot_secs: 30,
            batch_records: 4096,
            store_events: true,
        }
    }
}

/// `[respond]`: playbooks and what they may do on this host (see `palisade-respond`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RespondSection {
    /// Run playbooks on incidents as they are stored.
    pub enabled: bool,
    /// Playbook files or folders (YAML), besides the built-in ones.
    pub playbooks: Vec<PathBuf>,
    /// Load the built-in playbooks (SSH/RDP brute force, password spraying, known-bad intel
    /// address, C2 beaconing). A file's playbook with the same id replaces the built-in one.
    pub builtin_playbooks: bool,
    /// Blocks change this host's nftables (Palisade's own table). Off: a block only publishes
    /// a ban decision on the decisions API, for bouncers to enforce.
    pub nftables: bool,
    /// Lock users, kill processes, quarantine files, call webhooks and run commands. Off: such
    /// actions are recorded as dry-run (what `palisade demo` does).
    pub local_actions: bool,
    /// Every playbook only describes what it would do.
    pub dry_run: bool,
    /// Never acted on, besides loopback, link-local and this host's own addresses and name.
    pub allow_cidrs: Vec<String>,
    pub allow_users: Vec<String>,
    pub allow_hosts: Vec<String>,
    /// Executors: the nft table and program, lock/unlock commands or URLs, quarantine folder
    /// (default `data_dir/quarantine`), timeouts.
    pub exec: palisade_respond::ExecConfig,
}

impl Default for RespondSection {
    fn default() -> Self {
        RespondSection {
            enabled: true,
            playbooks: Vec::new(),
            builtin_playbooks: true,
            nftables: false,
            local_actions: true,
            dry_run: false,
            allow_cidrs: Vec::new(),
            allow_users: Vec::new(),
            allow_hosts: Vec::new(),
            exec: palisade_respond::ExecConfig::default(),
        }
    }
}

/// `[auth]`: risk-based authentication (`/api/v1/auth/…`, see `palisade-auth`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// Serve the risk-based authentication endpoints (503 when off).
    pub enabled: bool,
    /// Policy file (TOML, or JSON by its `.json` extension); the built-in defaults otherwise.
    /// Relative `threat_lists[].file` paths in it are relative to its folder.
    pub policy: Option<PathBuf>,
    /// MaxMind-format databases: the first gives country (and city coordinates when it has
    /// them), the following are layered over it for what it lacks (typically an ASN database).
    pub geoip: Vec<PathBuf>,
    /// Most users with a learned profile. When reached, users not yet known are not learned
    /// (they keep being assessed as new users; known users keep learning), so memory stays
    /// bounded: at most about 640 bytes per user.
    pub max_users: usize,
    /// Header the nginx `auth_request` endpoint reads the user name from.
    pub nginx_user_header: String,
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection {
            enabled: true,
            policy: None,
            geoip: Vec::new(),
            max_users: 200_000,
            nginx_user_header: "X-Auth-User".into(),
        }
    }
}

/// `[vuln]`: scheduled weakness scans (see `palisade-vuln`): vulnerable packages of the paths
/// against the advisories in the store (`palisade vuln db update`) and in `db`, and, with
/// `host`, the host's configuration. Each scan is stored for the UI's Weaknesses page; findings
/// new since the previous scan enter the pipeline as events (`event.module: palisade-vuln`),
/// which the rules of examples/rules/vuln turn into alerts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VulnSection {
    pub enabled: bool,
    /// Minutes between scans (the first runs at start).
    pub interval_minutes: u64,
    /// Files and directories to scan (dpkg status, lockfiles, SBOMs).
    pub paths: Vec<PathBuf>,
    /// OSV advisory directories or zips, besides those in the store.
    pub db: Vec<PathBuf>,
    /// CISA KEV catalogue (CSV or JSON).
    pub kev: Option<PathBuf>,
    /// EPSS scores (CSV).
    pub epss: Option<PathBuf>,
    /// Also check the host's configuration.
    pub host: bool,
    /// Findings below this severity are stored but not sent into the pipeline.
    pub min_alert_severity: palisade_event::Severity,
}

impl Default for VulnSection {
    fn default() -> Self {
        VulnSection {
            enabled: false,
            interval_minutes: 360,
            paths: vec![PathBuf::from("/var/lib/dpkg/status")],
            db: Vec::new(),
            kev: None,
            epss: None,
            host: true,
            min_alert_severity: palisade_event::Severity::Medium,
        }
    }
}

/// `[guard_proxy]`: the LLM firewall (see `guard_proxy`), an OpenAI-compatible proxy on its
/// own address in front of `upstream`. Its findings enter the pipeline as events
/// (`event.module: palisade-guard`, `event.action: llm-firewall`, source `guard-proxy`), which
/// the rules of examples/rules/guard turn into alerts. The same settings are the flags of the
/// standalone `palisade guard proxy`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GuardProxySection {
    pub enabled: bool,
    /// Where clients connect (loopback unless told otherwise).
    pub listen: String,
    /// The provider's origin, e.g. `https://api.openai.com` (request paths such as
    /// `/v1/chat/completions` are appended) or `http://127.0.0.1:11434` for Ollama.
    pub upstream: String,
    /// PEM certificates to trust for an HTTPS upstream besides the Mozilla roots built in (a
    /// private CA, or a self-signed vLLM/Ollama gateway).
    pub upstream_ca: Option<PathBuf>,
    /// Canary tokens placed in system prompts (`palisade guard scan --canary`); one in an
    /// answer means the system prompt is leaking.
    pub canaries: Vec<String>,
    /// What to do about each kind of finding.
    pub policy: crate::guard_proxy::policy::Policy,
    /// Largest request body, bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Largest non-streamed answer the guard reads, bytes (502 beyond).
    pub max_response_bytes: usize,
    /// Seconds to connect to the upstream (and finish TLS).
    pub connect_timeout_secs: u64,
    /// Seconds for the upstream's answer to begin, and at most between two pieces of a stream.
    pub timeout_secs: u64,
    /// Bytes of streamed text held back while they could still be the start of a secret or
    /// canary (longer secrets split across chunks may be missed; larger means later text).
    pub hold_bytes: usize,
}

impl Default for GuardProxySection {
    fn default() -> Self {
        GuardProxySection {
            enabled: false,
            listen: "127.0.0.1:8089".into(),
            upstream: String::new(),
            upstream_ca: None,
            canaries: Vec::new(),
            policy: crate::guard_proxy::policy::Policy::default(),
            max_body_bytes: 4 << 20,
            max_response_bytes: 16 << 20,
            connect_timeout_secs: 10,
            timeout_secs: 600,
            hold_bytes: 256,
        }
    }
}

impl GuardProxySection {
    /// Checks the settings; `key` names a setting in messages (`guard_proxy.upstream` in the
    /// file, `--upstream` on the command line).
    pub fn validate(&self, key: &dyn Fn(&str) -> String) -> Result<(), String> {
        if self.upstream.is_empty() {
            return Err(format!(
                "{}: give the provider's origin, e.g. https://api.openai.com",
                key("upstream")
            ));
        }
        let (_, _, _, prefix) = crate::guard_proxy::upstream::parse_url(&self.upstream)
            .map_err(|e| format!("{}: {e}", key("upstream")))?;
        if prefix.ends_with("/v1") {
            return Err(format!(
                "{}: {:?} ends in /v1, but request paths already start with /v1; give the origin (e.g. https://api.openai.com)",
                key("upstream"),
                self.upstream
            ));
        }
        if let Some(p) = &self.upstream_ca
            && !p.is_file()
        {
            return Err(format!(
                "{}: {} does not exist",
                key("upstream_ca"),
                p.display()
            ));
        }
        self.listen.parse::<SocketAddr>().map_err(|_| {
            format!(
                "{} = {:?} is not an address such as 127.0.0.1:8089",
                key("listen"),
                self.listen
            )
        })?;
        for (k, c) in self.canaries.iter().enumerate() {
            if c.len() < 8 {
                return Err(format!(
                    "{}[{k}]: a canary must be at least 8 characters (make one with palisade guard canary)",
                    key("canaries")
                ));
            }
        }
        self.policy
            .validate()
            .map_err(|e| e.replace("policy.", &format!("{}.", key("policy"))))?;
        if self.max_body_bytes < 1024 {
            return Err(format!("{} must be at least 1024", key("max_body_bytes")));
        }
        if self.max_response_bytes < 1024 {
            return Err(format!(
                "{} must be at least 1024",
                key("max_response_bytes")
            ));
        }
        if self.connect_timeout_secs == 0 || self.timeout_secs == 0 {
            return Err(format!(
                "{} and {} must be at least 1",
                key("connect_timeout_secs"),
                key("timeout_secs")
            ));
        }
        if !(16..=65536).contains(&self.hold_bytes) {
            return Err(format!(
                "{} must be between 16 and 65536",
                key("hold_bytes")
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SourcesSection {
    pub syslog: Vec<SyslogSource>,
    pub file: Vec<FileSource>,
    pub dir: Vec<DirSource>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyslogSource {
    pub name: String,
    /// UDP address to receive datagrams on.
    pub udp: Option<String>,
    /// TCP address; octet-counted (RFC 6587) and newline framing are both accepted.
    pub tcp: Option<String>,
    /// Most TCP connections open at once; more wait in the kernel's backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A TCP connection silent this long is closed, seconds.
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
}

fn default_max_connections() -> usize {
    256
}

fn default_idle_timeout_secs() -> u64 {
    600
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    pub name: Option<String>,
    pub path: PathBuf,
    /// Format of its lines (detected from the first line when absent).
    pub format: Option<String>,
    /// Start at the beginning of a file seen for the first time (default: its end).
    #[serde(default)]
    pub from_start: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DirSource {
    pub name: Option<String>,
    pub path: PathBuf,
    /// File-name glob (`*.log`); every file when absent.
    pub pattern: Option<String>,
    pub format: Option<String>,
}

/// A configuration problem, naming the file and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    pub origin: String,
    pub message: String,
}

/// Detectors `pipeline.detectors` may name.
pub const DETECTORS: [&str; 5] = ["sigma", "ioc", "anomaly", "ueba", "beacon"];

impl ServeConfig {
    /// Reads `path` (the defaults when `None`), applies environment overrides from `env`
    /// (pairs of name and value), and validates.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ServeConfig, ConfigError> {
        let origin = path.map_or_else(|| "defaults".to_string(), |p| p.display().to_string());
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|e| ConfigError {
                origin: origin.clone(),
                message: format!("cannot read: {e}"),
            })?,
            None => String::new(),
        };
        let mut doc: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
            origin: origin.clone(),
            message: e.to_string().trim().to_string(),
        })?;
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let Some((section, key)) = rest.split_once("__") else {
                continue;
            };
            let section = section.to_ascii_lowercase();
            let key = key.to_ascii_lowercase();
            let parsed = format!("v = {value}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or(toml::Value::String(value.clone()));
            let table = doc
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match table {
                toml::Value::Table(t) => {
                    t.insert(key, parsed);
                }
                _ => {
                    return Err(ConfigError {
                        origin: format!("environment {name}"),
                        message: format!("[{section}] is not a table"),
                    });
                }
            }
        }
        let cfg: ServeConfig =
            toml::Value::Table(doc)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError {
                    origin: origin.clone(),
                    message: e.to_string().trim().to_string(),
                })?;
        let base = path.and_then(Path::parent).unwrap_or(Path::new("."));
        let cfg = cfg.resolve(base);
        cfg.validate()
            .map_err(|message| ConfigError { origin, message })?;
        Ok(cfg)
    }

    /// Relative paths in the file are relative to the file's folder.
    fn resolve(mut self, base: &Path) -> ServeConfig {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && !base.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.server.data_dir);
        for p in &mut self.pipeline.rules {
            fix(p);
        }
        for p in &mut self.pipeline.intel {
            fix(p);
        }
        if let Some(p) = &mut self.pipeline.triage_config {
            fix(p);
        }
        if let Some(p) = &mut self.server.tls_cert {
            fix(p);
        }
        if let Some(p) = &mut self.server.tls_key {
            fix(p);
        }
        for f in &mut self.sources.file {
            fix(&mut f.path);
        }
        for p in &mut self.respond.playbooks {
            fix(p);
        }
        if self.respond.exec.quarantine_dir
            != palisade_respond::ExecConfig::default().quarantine_dir
        {
            fix(&mut self.respond.exec.quarantine_dir);
        }
        for d in &mut self.sources.dir {
            fix(&mut d.path);
        }
        if let Some(p) = &mut self.auth.policy {
            fix(p);
        }
        for p in self.vuln.paths.iter_mut().chain(self.vuln.db.iter_mut()) {
            fix(p);
        }
        for p in [&mut self.vuln.kev, &mut self.vuln.epss]
            .into_iter()
            .flatten()
        {
            fix(p);
        }
        for p in &mut self.auth.geoip {
            fix(p);
        }
        if let Some(p) = &mut self.guard_proxy.upstream_ca {
            fix(p);
        }
        self
    }

    /// Checks what types cannot: addresses, paths, limits, names.
    pub fn validate(&self) -> Result<(), String> {
        let addr = |key: &str, v: &str| -> Result<SocketAddr, String> {
            v.parse::<SocketAddr>()
                .map_err(|_| format!("{key} = {v:?} is not an address such as 127.0.0.1:8080"))
        };
        addr("server.listen", &self.server.listen)?;
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            return Err("server.tls_cert and server.tls_key must be given together".into());
        }
        for (key, p) in [
            ("server.tls_cert", &self.server.tls_cert),
            ("server.tls_key", &self.server.tls_key),
            ("pipeline.triage_config", &self.pipeline.triage_config),
        ] {
            if let Some(p) = p
                && !p.exists()
            {
                return Err(format!("{key}: {} does not exist", p.display()));
            }
        }
        for (k, c) in self.respond.allow_cidrs.iter().enumerate() {
            if palisade_respond::playbook::parse_net(c).is_none() {
                return Err(format!(
                    "respond.allow_cidrs[{k}] = {c:?} is not an address or network such as 192.0.2.0/24"
                ));
            }
        }
        for p in &self.respond.playbooks {
            if !p.exists() {
                return Err(format!("respond.playbooks: {} does not exist", p.display()));
            }
        }
        if self.server.max_body_bytes < 1024 {
            return Err("server.max_body_bytes must be at least 1024".into());
        }
        if self.server.max_record_bytes < 256
            || self.server.max_record_bytes > crate::wal::MAX_PAYLOAD / 2
        {
            return Err(format!(
                "server.max_record_bytes must be between 256 and {}",
                crate::wal::MAX_PAYLOAD / 2
            ));
        }
        if self.wal.queue_records == 0 {
            return Err("wal.queue_records must be at least 1".into());
        }
        if self.wal.segment_bytes < 4096 {
            return Err("wal.segment_bytes must be at least 4096".into());
        }
        if self.pipeline.batch_records == 0 {
            return Err("pipeline.batch_records must be at least 1".into());
        }
        if self.pipeline.snapshot_secs == 0 {
            return Err("pipeline.snapshot_secs must be at least 1".into());
        }
        for d in &self.pipeline.detectors {
            if !DETECTORS.contains(&d.as_str()) {
                return Err(format!(
                    "pipeline.detectors: unknown detector {d:?} (known: {})",
                    DETECTORS.join(", ")
                ));
            }
        }
        if self.has_detector("sigma") && self.pipeline.rules.is_empty() {
            return Err(
                "pipeline.rules: the sigma detector needs at least one rule path (or drop \"sigma\" from pipeline.detectors)"
                    .into(),
            );
        }
        for (k, p) in self.pipeline.rules.iter().enumerate() {
            if !p.exists() {
                return Err(format!(
                    "pipeline.rules[{k}]: {} does not exist",
                    p.display()
                ));
            }
        }
        for (k, p) in self.pipeline.intel.iter().enumerate() {
            if !p.exists() {
                return Err(format!(
                    "pipeline.intel[{k}]: {} does not exist",
                    p.display()
                ));
            }
        }
        if let Some(p) = &self.auth.policy
            && !p.is_file()
        {
            return Err(format!("auth.policy: {} does not exist", p.display()));
        }
        for (k, p) in self.auth.geoip.iter().enumerate() {
            if !p.is_file() {
                return Err(format!("auth.geoip[{k}]: {} does not exist", p.display()));
            }
        }
        if self.vuln.enabled {
            if self.vuln.interval_minutes == 0 {
                return Err("vuln.interval_minutes must be at least 1".into());
            }
            for (k, p) in self.vuln.db.iter().enumerate() {
                if !p.exists() {
                    return Err(format!("vuln.db[{k}]: {} does not exist", p.display()));
                }
            }
            for (key, p) in [("vuln.kev", &self.vuln.kev), ("vuln.epss", &self.vuln.epss)] {
                if let Some(p) = p
                    && !p.is_file()
                {
                    return Err(format!("{key}: {} does not exist", p.display()));
                }
            }
        }
        if self.auth.max_users == 0 {
            return Err("auth.max_users must be at least 1".into());
        }
        if self
            .auth
            .nginx_user_header
            .parse::<axum::http::HeaderName>()
            .is_err()
        {
            return Err(format!(
                "auth.nginx_user_header = {:?} is not a header name",
                self.auth.nginx_user_header
            ));
        }
        if self.guard_proxy.enabled {
            self.guard_proxy.validate(&|k| format!("guard_proxy.{k}"))?;
            if self.guard_proxy.listen == self.server.listen
                && !self.guard_proxy.listen.ends_with(":0")
            {
                return Err("guard_proxy.listen must differ from server.listen".into());
            }
        }
        let mut names = std::collections::HashSet::new();
        for (k, s) in self.sources.syslog.iter().enumerate() {
            if s.udp.is_none() && s.tcp.is_none() {
                return Err(format!(
                    "sources.syslog[{k}] ({}): give udp, tcp or both",
                    s.name
                ));
            }
            if let Some(a) = &s.udp {
                addr(&format!("sources.syslog[{k}].udp"), a)?;
            }
            if let Some(a) = &s.tcp {
                addr(&format!("sources.syslog[{k}].tcp"), a)?;
            }
            if !names.insert(s.name.clone()) {
                return Err(format!(
                    "sources.syslog[{k}]: name {:?} is used twice",
                    s.name
                ));
            }
        }
        for (k, f) in self.sources.file.iter().enumerate() {
            if let Some(fmt) = &f.format {
                parse_format(fmt).map_err(|e| format!("sources.file[{k}].format: {e}"))?;
            }
        }
        for (k, d) in self.sources.dir.iter().enumerate() {
            if !d.path.is_dir() {
                return Err(format!(
                    "sources.dir[{k}]: {} is not a directory",
                    d.path.display()
                ));
            }
            if let Some(fmt) = &d.format {
                parse_format(fmt).map_err(|e| format!("sources.dir[{k}].format: {e}"))?;
            }
        }
        Ok(())
    }

    pub fn has_detector(&self, name: &str) -> bool {
        self.pipeline.detectors.iter().any(|d| d == name)
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.server
            .listen
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    pub fn store_path(&self) -> PathBuf {
        if self.store.path.is_absolute() {
            self.store.path.clone()
        } else {
            self.server.data_dir.join(&self.store.path)
        }
    }

    pub fn wal_dir(&self) -> PathBuf {
        self.server.data_dir.join("wal")
    }
}

/// A line format by name (`json`, `syslog`, `zeek`, `cef`, …); EVTX is not a line format.
pub fn parse_format(name: &str) -> Result<Format, String> {
    let f: Format = name.parse()?;
    if f == Format::Evtx {
        return Err("evtx files are binary; use palisade hunt for them".into());
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<ServeConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("palisade.toml");
        std::fs::write(&p, text).unwrap();
        ServeConfig::load(
            Some(&p),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn defaults_listen_on_loopback() {
        let c = load("[pipeline]\ndetectors = [\"anomaly\"]\n", &[]).unwrap();
        assert!(c.listen_addr().ip().is_loopback());
        assert!(c.wal.fsync);
    }

    #[test]
    fn environment_overrides_keys_with_typed_values() {
        let c = load(
            "[pipeline]\ndetectors = [\"ueba\"]\n",
            &[
                ("PALISADE_SERVER__LISTEN", "127.0.0.1:9999"),
                ("PALISADE_WAL__FSYNC", "false"),
                ("PALISADE_WAL__QUEUE_RECORDS", "77"),
                ("OTHER", "x"),
            ],
        )
        .unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:9999");
        assert!(!c.wal.fsync);
        assert_eq!(c.wal.queue_records, 77);
    }

    #[test]
    fn errors_name_the_file_and_key() {
        let e = load("[server]\nlisten = \"nowhere\"\n", &[]).unwrap_err();
        assert!(e.origin.ends_with("palisade.toml"));
        assert!(e.message.contains("server.listen"), "{e}");
        let e = load("[server]\nlisen = \"127.0.0.1:1\"\n", &[]).unwrap_err();
        assert!(e.message.contains("lisen"), "{e}");
        let e = load("[pipeline]\ndetectors = [\"sigma\"]\n", &[]).unwrap_err();
        assert!(e.message.contains("pipeline.rules"), "{e}");
        let e = load("[pipeline]\ndetectors = [\"magic\"]\n", &[]).unwrap_err();
        assert!(e.message.contains("magic"), "{e}");
        let e = load(
            "[pipeline]\ndetectors = []\n[[sources.syslog]]\nname = \"s\"\n",
            &[],
        )
        .unwrap_err();
        assert!(e.message.contains("sources.syslog[0]"), "{e}");
        let e = load("[wal]\nqueue_records = 0\n[pipeline]\ndetectors=[]\n", &[]).unwrap_err();
        assert!(e.message.contains("wal.queue_records"), "{e}");
        let e = load(
            "[pipeline]\ndetectors=[]\n[auth]\npolicy = \"nope.toml\"\n",
            &[],
        )
        .unwrap_err();
        assert!(e.message.contains("auth.policy"), "{e}");
        assert!(e.message.contains("nope.toml"), "{e}");
        let e = load("[pipeline]\ndetectors=[]\n[auth]\nmax_users = 0\n", &[]).unwrap_err();
        assert!(e.message.contains("auth.max_users"), "{e}");
        let e = load("[pipeline]\ndetectors=[]\n[auth]\nmax_user = 1\n", &[]).unwrap_err();
        assert!(e.message.contains("max_user"), "{e}");
    }

    #[test]
    fn guard_proxy_settings_are_checked_with_the_key_named() {
        let base = "[pipeline]\ndetectors=[]\n[guard_proxy]\nenabled = true\n";
        let e = load(base, &[]).unwrap_err();
        assert!(e.message.contains("guard_proxy.upstream"), "{e}");
        let e = load(&format!("{base}upstream = \"ftp://x\"\n"), &[]).unwrap_err();
        assert!(e.message.contains("http or https"), "{e}");
        let e = load(
            &format!("{base}upstream = \"https://api.openai.com/v1\"\n"),
            &[],
        )
        .unwrap_err();
        assert!(e.message.contains("/v1"), "{e}");
        let e = load(
            &format!("{base}upstream = \"http://127.0.0.1:1\"\n[guard_proxy.policy]\ninjection = \"redact\"\n"),
            &[],
        )
        .unwrap_err();
        assert!(e.message.contains("guard_proxy.policy.injection"), "{e}");
        let e = load(
            &format!("{base}upstream = \"http://127.0.0.1:1\"\n[guard_proxy.policy]\ncanary = \"shout\"\n"),
            &[],
        )
        .unwrap_err();
        assert!(e.message.contains("shout"), "{e}");
        let e = load(
            &format!("{base}upstream = \"http://127.0.0.1:1\"\ncanaries = [\"short\"]\n"),
            &[],
        )
        .unwrap_err();
        assert!(e.message.contains("guard_proxy.canaries[0]"), "{e}");
        let e = load(
            &format!("{base}upstream = \"https://x\"\nupstream_ca = \"nope.pem\"\n"),
            &[],
        )
        .unwrap_err();
        assert!(e.message.contains("guard_proxy.upstream_ca"), "{e}");
        assert!(e.message.contains("nope.pem"), "{e}");
        let c = load(
            &format!("{base}upstream = \"https://api.openai.com\"\n[guard_proxy.policy]\nrequest_pii = \"redact\"\n"),
            &[],
        )
        .unwrap();
        assert_eq!(
            c.guard_proxy.policy.request_pii,
            crate::guard_proxy::policy::Action::Redact
        );
        assert_eq!(
            c.guard_proxy.policy.injection,
            crate::guard_proxy::policy::Action::Block
        );
    }
}

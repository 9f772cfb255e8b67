//! The service under test: `palisade serve` started as a child process of this same binary on
//! a data directory of its own, and what Linux tells about it (`/proc`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use palisade_server::config::{ServeConfig, SyslogSource};

use super::http;

/// What the child is started with.
pub struct ChildSettings {
    pub exe: PathBuf,
    /// The data directory (created; removed afterwards unless `keep`).
    pub dir: PathBuf,
    pub keep: bool,
    pub rules: Vec<PathBuf>,
    pub detectors: Vec<String>,
    pub fsync: bool,
    /// Risk-based authentication set-up; `None` keeps `[auth]` at its defaults.
    pub auth: Option<AuthChild>,
}

/// `[auth]` of the child, and profiles it finds in its store when it starts.
pub struct AuthChild {
    pub geoip: Vec<PathBuf>,
    pub max_users: usize,
    /// Saved profiles (`palisade_auth::persist`), written to the store before the child starts.
    pub profiles: Option<Vec<u8>>,
}

/// A running `palisade serve`; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct ServeChild {
    child: Child,
    pub addr: SocketAddr,
    /// The syslog UDP listener (source `bench`).
    pub udp: SocketAddr,
    pub token: String,
    pub log: PathBuf,
    dir: PathBuf,
    keep: bool,
}

/// A port nobody listens on now. The child binds it a moment later; another process taking it
/// in between makes start-up fail with a clear message, not a wrong measurement.
fn free_port(udp: bool) -> Result<u16> {
    let port = if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
    };
    Ok(port)
}

fn write_config(
    s: &ChildSettings,
    addr: SocketAddr,
    udp: SocketAddr,
) -> Result<(PathBuf, ServeConfig)> {
    let mut cfg = ServeConfig::default();
    cfg.server.listen = addr.to_string();
    cfg.server.data_dir = s.dir.join("data");
    cfg.wal.fsync = s.fsync;
    cfg.pipeline.detectors = s.detectors.clone();
    cfg.pipeline.rules = s
        .rules
        .iter()
        .map(|p| std::fs::canonicalize(p).with_context(|| format!("--rules {}", p.display())))
        .collect::<Result<_>>()?;
    cfg.sources.syslog.push(SyslogSource {
        name: "bench".into(),
        udp: Some(udp.to_string()),
        tcp: None,
        max_connections: 256,
        idle_timeout_secs: 600,
    });
    if let Some(a) = &s.auth {
        cfg.auth.geoip = a
            .geoip
            .iter()
            .map(|p| std::fs::canonicalize(p).with_context(|| format!("--geoip {}", p.display())))
            .collect::<Result<_>>()?;
        cfg.auth.max_users = a.max_users;
    }
    cfg.validate().map_err(anyhow::Error::msg)?;
    let path = s.dir.join("palisade.toml");
    std::fs::write(&path, toml::to_string(&cfg)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok((path, cfg))
}

/// The child sees only the generated configuration, not `PALISADE_*` overrides of this shell.
fn command(exe: &Path) -> Command {
    let mut c = Command::new(exe);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy()
            .starts_with(palisade_server::config::ENV_PREFIX)
        {
            c.env_remove(k);
        }
    }
    c
}

fn create_token(exe: &Path, config: &Path) -> Result<String> {
    let out = command(exe)
        .args(["token", "create", "--role", "analyst", "--name", "bench"])
        .arg("--config")
        .arg(config)
        .arg("--json")
        .stderr(Stdio::inherit())
        .output()
        .context("running palisade token create")?;
    if !out.status.success() {
        bail!("palisade token create failed ({})", out.status);
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("reading palisade token create --json")?;
    v["token"]
        .as_str()
        .map(str::to_string)
        .context("palisade token create --json printed no token")
}

impl ServeChild {
    /// Writes the configuration, creates an analyst token, starts `palisade serve` and waits
    /// until it answers `/healthz`.
    pub async fn start(s: &ChildSettings) -> Result<ServeChild> {
        std::fs::create_dir_all(&s.dir).with_context(|| format!("creating {}", s.dir.display()))?;
        let addr: SocketAddr = ([127, 0, 0, 1], free_port(false)?).into();
        let udp: SocketAddr = ([127, 0, 0, 1], free_port(true)?).into();
        let (config, cfg) = write_config(s, addr, udp)?;
        let token = create_token(&s.exe, &config)?;
        if let Some(bytes) = s.auth.as_ref().and_then(|a| a.profiles.as_ref()) {
            let path = cfg.store_path();
            let mut store = palisade_store::SqliteStore::open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            palisade_store::Store::save_state(
                &mut store,
                palisade_server::pipeline::AUTH_PROFILES,
                bytes,
            )?;
        }
        let log = s.dir.join("serve.log");
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = command(&s.exe)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .context("starting palisade serve")?;
        let mut me = ServeChild {
            child,
            addr,
            udp,
            token,
            log,
            dir: s.dir.clone(),
            keep: s.keep,
        };
        me.wait_ready(Duration::from_secs(120)).await?;
        Ok(me)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "palisade serve exited during start-up ({status}):\n{}",
                    self.log_tail()
                );
            }
            if let Ok((200, _)) = http::get(self.addr, "/healthz", &self.token).await {
                return Ok(());
            }
            if started.elapsed() > limit {
                bail!(
                    "palisade serve did not answer on {} within {limit:?}:\n{}",
                    self.addr,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines the child wrote to stderr.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Asks the child to stop (SIGTERM: it applies what it acknowledged and snapshots) and
    /// waits for it, killing it after `grace`.
    pub fn stop(&mut self, grace: Duration) -> Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < grace {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Resident and peak resident memory (`VmRSS`, `VmHWM`) of a process, bytes.
pub fn memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok()
    };
    Some((kb("VmRSS:")? * 1024, kb("VmHWM:")? * 1024))
}

/// User + system CPU seconds from a `/proc/…/stat` line (clock ticks of 1/100 s).
fn stat_cpu(stat: &str) -> Option<(String, f64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat[open + 1..close].to_string();
    let mut fields = stat[close + 1..].split_whitespace();
    // After the name: field 3 (state) onwards; utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((name, (utime + stime) as f64 / 100.0))
}

/// CPU seconds of a whole process so far (threads that ended included).
pub fn process_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_cpu(&stat).map(|(_, s)| s)
}

/// CPU seconds so far per thread name (threads of one name added up).
pub fn thread_cpu(pid: u32) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        if let Ok(stat) = std::fs::read_to_string(t.path().join("stat"))
            && let Some((name, secs)) = stat_cpu(&stat)
        {
            *out.entry(name).or_insert(0.0) += secs;
        }
    }
    out
}

/// Datagrams the kernel dropped on the UDP socket bound to `addr` (its receive buffer was
/// full), from `/proc/net/udp`.
pub fn udp_socket_drops(addr: SocketAddr) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    let want = format!("0100007F:{:04X}", addr.port());
    table.lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.get(1) == Some(&want.as_str()))
            .then(|| cols.last()?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_spaces_in_the_name() {
        let line = "42 (palisade pipe) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        let (name, secs) = stat_cpu(line).unwrap();
        assert_eq!(name, "palisade pipe");
        assert!((secs - 3.0).abs() < 1e-9);
    }
}

//! `palisade bench block`: how fast a brute-forcing address reaches the firewall, measured
//! from outside the service, fail2ban-style.
//!
//! The benchmark makes a network namespace of its own (so the host's firewall is never
//! touched) and starts `palisade serve` (this same binary) inside it, tailing an auth log, with
//! the Sigma rules for failed SSH passwords (five from one address within five minutes) and a
//! playbook that blocks the source through nftables. `nft monitor` in the namespace reports
//! every element added to Palisade's sets as it happens.
//!
//! - **Paced phase:** `--attackers` addresses, one every `1/--rate` s, each writing its
//!   `--lines` failed passwords to the log in one `write(2)`. Latency of an address = when
//!   `nft monitor` reported it − when its lines were written: tailing (inotify), the
//!   write-ahead log (fsync unless `--no-fsync`), parse, Sigma and correlation, triage, the
//!   store commit, the playbook and the `nft` transaction.
//! - **Burst phase:** `--burst` more addresses written at once; the peak block rate is the
//!   most addresses blocked within any one second, and the mean over the burst.
//!
//! Needs root, `ip`, `nft` and `stdbuf` (coreutils; `nft monitor` must not buffer its output).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;

const SSHD_FAILED: &str = include_str!("../../../examples/rules/linux/sshd_failed_password.yml");
const SSH_BRUTE_FORCE: &str =
    include_str!("../../../examples/rules/linux/correlation_ssh_brute_force.yml");

#[derive(Args)]
pub struct BenchBlockArgs {
    /// Attacking addresses in the paced phase (latency percentiles are over these).
    #[arg(long, default_value_t = 1000)]
    pub attackers: usize,
    /// Attackers per second in the paced phase.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Attackers written at once in the burst phase (peak block rate); 0 skips it.
    #[arg(long, default_value_t = 5000)]
    pub burst: usize,
    /// Failed passwords per attacker (the rule fires at 5).
    #[arg(long, default_value_t = 5)]
    pub lines: usize,
    /// Detectors serve runs (`sigma` alone is what fail2ban does; add `ioc,anomaly,ueba,beacon`
    /// for the whole pipeline).
    #[arg(long, value_delimiter = ',', default_value = "sigma")]
    pub detectors: Vec<String>,
    /// Do not sync the write-ahead log (serve syncs by default).
    #[arg(long)]
    pub no_fsync: bool,
    /// Give up on addresses not blocked this long after the last write.
    #[arg(long, default_value_t = 60.0)]
    pub wait: f64,
    /// Also write the results as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Keep the working directory (config, log, store, serve's log).
    #[arg(long)]
    pub keep: bool,
    /// Also measure fail2ban (the Debian package, `nftables-allports` ban action, pyinotify
    /// backend, same thresholds) on the same lines, in a namespace of its own, after Palisade.
    #[arg(long)]
    pub fail2ban: bool,
}

#[derive(Debug, Serialize)]
struct Phase {
    attackers: usize,
    blocked: usize,
    missing: usize,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Burst only: most addresses blocked within one second, and the mean rate.
    peak_per_s: Option<usize>,
    mean_per_s: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Measured {
    /// `palisade` or `fail2ban`.
    tool: String,
    /// What ran: detectors and WAL sync, or fail2ban's version.
    setup: String,
    paced: Phase,
    burst: Option<Phase>,
}

#[derive(Debug, Serialize)]
struct Report {
    version: &'static str,
    lines_per_attacker: usize,
    rate: f64,
    results: Vec<Measured>,
}

/// A network namespace, removed on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Result<Netns> {
        let name = format!("palisade-bench-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run(Command::new("ip").args(["netns", "add", &name]))
            .context("creating a network namespace (needs root and iproute2)")?;
        let ns = Netns(name);
        run(Command::new("ip").args(["-n", &ns.0, "link", "set", "lo", "up"]))?;
        Ok(ns)
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// A child killed on drop.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..50 {
            if self.0.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(c: &mut Command) -> Result<()> {
    let out = c.output().with_context(|| format!("running {c:?}"))?;
    if !out.status.success() {
        bail!("{c:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

fn attacker(phase: u8, i: usize) -> Ipv4Addr {
    // 198.18.0.0/15 is set aside for benchmarks (RFC 2544).
    Ipv4Addr::new(198, 18 + phase, (i / 250) as u8, (i % 250 + 1) as u8)
}

fn lines(ip: Ipv4Addr, n: usize, buf: &mut String) {
    let now = chrono::Utc::now().format("%b %e %H:%M:%S");
    for k in 0..n {
        buf.push_str(&format!(
            "{now} bench sshd[{}]: Failed password for invalid user u{k} from {ip} port {} ssh2\n",
            1000 + k,
            40000 + k
        ));
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn phase(
    written: &HashMap<Ipv4Addr, Instant>,
    seen: &HashMap<Ipv4Addr, Instant>,
    burst: bool,
) -> Phase {
    let mut lat: Vec<f64> = Vec::new();
    let mut times: Vec<Instant> = Vec::new();
    for (ip, w) in written {
        if let Some(s) = seen.get(ip) {
            lat.push(s.saturating_duration_since(*w).as_secs_f64() * 1000.0);
            times.push(*s);
        }
    }
    lat.sort_by(f64::total_cmp);
    times.sort();
    let (peak, mean) = if burst && !times.is_empty() {
        let mut peak = 0;
        let mut j = 0;
        for i in 0..times.len() {
            while times[i].duration_since(times[j]) >= Duration::from_secs(1) {
                j += 1;
            }
            peak = usize::max(peak, i - j + 1);
        }
        let start = written.values().min().copied().unwrap_or(times[0]);
        let span = times[times.len() - 1]
            .saturating_duration_since(start)
            .as_secs_f64();
        (Some(peak), Some(times.len() as f64 / span.max(1e-3)))
    } else {
        (None, None)
    };
    Phase {
        attackers: written.len(),
        blocked: lat.len(),
        missing: written.len() - lat.len(),
        p50_ms: quantile(&lat, 0.5),
        p90_ms: quantile(&lat, 0.9),
        p99_ms: quantile(&lat, 0.99),
        max_ms: lat.last().copied().unwrap_or(f64::NAN),
        peak_per_s: peak,
        mean_per_s: mean,
    }
}

fn wait_all(
    seen: &Mutex<HashMap<Ipv4Addr, Instant>>,
    want: &HashMap<Ipv4Addr, Instant>,
    limit: Duration,
    serve: &mut Kill,
    log: &Path,
) -> Result<()> {
    let start = Instant::now();
    loop {
        let n = {
            let s = seen.lock().unwrap_or_else(|e| e.into_inner());
            want.keys().filter(|ip| s.contains_key(ip)).count()
        };
        if n == want.len() || start.elapsed() > limit {
            return Ok(());
        }
        if let Some(status) = serve.0.try_wait()? {
            bail!(
                "palisade serve exited ({status}):\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn block(args: BenchBlockArgs) -> Result<u8> {
    if args.attackers == 0 || args.attackers > 50_000 || args.burst > 50_000 {
        bail!("--attackers must be 1..=50000 and --burst at most 50000");
    }
    if !(args.rate > 0.0 && args.rate.is_finite()) || args.lines == 0 {
        bail!("--rate must be above 0 and --lines at least 1");
    }
    for tool in ["ip", "nft", "stdbuf"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map_or(true, |o| !o.status.success())
        {
            bail!("{tool} is not installed (apt-get install iproute2 nftables coreutils)");
        }
    }
    let mut results = vec![measure_palisade(&args)?];
    if args.fail2ban {
        results.push(measure_fail2ban(&args)?);
    }
    let report = Report {
        version: env!("CARGO_PKG_VERSION"),
        lines_per_attacker: args.lines,
        rate: args.rate,
        results,
    };

    println!(
        "log line written → address in the nftables set; {} failed passwords per attacker, paced at {}/s",
        args.lines, args.rate
    );
    for m in &report.results {
        let p = &m.paced;
        println!("{} ({}):", m.tool, m.setup);
        println!(
            "  paced: blocked {}/{}  p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            p.blocked, p.attackers, p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms
        );
        if let Some(b) = &m.burst {
            println!(
                "  burst of {} written at once: blocked {}/{}, peak {} blocks within one second, mean {:.0}/s, last after {:.0} ms",
                b.attackers,
                b.blocked,
                b.attackers,
                b.peak_per_s.unwrap_or(0),
                b.mean_per_s.unwrap_or(0.0),
                b.max_ms
            );
        }
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let missing = report
        .results
        .iter()
        .filter(|m| m.tool == "palisade")
        .map(|m| m.paced.missing + m.burst.as_ref().map_or(0, |b| b.missing))
        .sum::<usize>();
    Ok(u8::from(missing > 0))
}

/// Starts `palisade serve` in a namespace of its own and measures it.
fn measure_palisade(args: &BenchBlockArgs) -> Result<Measured> {
    let exe = std::env::current_exe()?;
    let work = tempfile::Builder::new()
        .prefix("palisade-bench-block")
        .tempdir()?;
    let dir = work.path().to_path_buf();
    std::fs::create_dir_all(dir.join("rules"))?;
    std::fs::write(dir.join("rules/sshd_failed_password.yml"), SSHD_FAILED)?;
    std::fs::write(
        dir.join("rules/correlation_ssh_brute_force.yml"),
        SSH_BRUTE_FORCE,
    )?;
    let total = args.attackers + args.burst;
    std::fs::write(
        dir.join("block.yml"),
        format!(
            "id: bench-ssh-brute-force\ntitle: Block SSH brute force\ntrigger:\n  tags: [attack.t1110.001]\n\
             actions:\n  - block:\n      target: source.ip\nmode: auto\nttl: 1h\ncooldown: 10m\n\
             max_actions:\n  count: {}\n  per: 10m\n",
            total + 10
        ),
    )?;
    let log = dir.join("auth.log");
    std::fs::write(&log, "")?;
    let mut cfg = palisade_server::config::ServeConfig::default();
    cfg.server.listen = "127.0.0.1:0".into();
    cfg.server.data_dir = dir.join("data");
    cfg.wal.fsync = !args.no_fsync;
    cfg.pipeline.detectors = args.detectors.clone();
    cfg.pipeline.rules = vec![dir.join("rules")];
    cfg.sources.file.push(palisade_server::config::FileSource {
        name: Some("auth".into()),
        path: log.clone(),
        format: Some("syslog".into()),
        from_start: true,
    });
    cfg.respond.nftables = true;
    cfg.respond.builtin_playbooks = false;
    cfg.respond.playbooks = vec![dir.join("block.yml")];
    cfg.validate().map_err(anyhow::Error::msg)?;
    let config = dir.join("palisade.toml");
    std::fs::write(&config, toml::to_string(&cfg)?)?;

    let ns = Netns::new("pal")?;
    let serve_log = dir.join("serve.log");
    let mut serve = Kill(
        ns.command(exe.to_str().context("binary path is not UTF-8")?)
            .args(["serve", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&serve_log)?)
            .spawn()
            .context("starting palisade serve")?,
    );
    let started = Instant::now();
    while !std::fs::read_to_string(&serve_log)
        .unwrap_or_default()
        .contains("serving on")
    {
        if let Some(status) = serve.0.try_wait()? {
            bail!(
                "palisade serve exited ({status}):\n{}",
                std::fs::read_to_string(&serve_log).unwrap_or_default()
            );
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("palisade serve did not start within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let setup = format!(
        "detectors {}, WAL fsync {}",
        args.detectors.join(","),
        if args.no_fsync { "off" } else { "on" }
    );
    let (paced, burst) = measure(args, &ns, &log, &mut serve, &serve_log)?;
    drop(serve);
    if args.keep {
        eprintln!("kept {}", work.keep().display());
    }
    Ok(Measured {
        tool: "palisade".into(),
        setup,
        paced,
        burst,
    })
}

/// Writes the attack lines to `log` and times their addresses' arrival in any nftables set
/// of `ns`.
fn measure(
    args: &BenchBlockArgs,
    ns: &Netns,
    log: &Path,
    serve: &mut Kill,
    serve_log: &Path,
) -> Result<(Phase, Option<Phase>)> {
    // Every element added to any set in the namespace, timestamped as it is reported.
    let seen: Arc<Mutex<HashMap<Ipv4Addr, Instant>>> = Arc::default();
    let mut monitor = ns.command("stdbuf");
    monitor
        .args(["-oL", "nft", "monitor", "new", "elements"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut monitor = Kill(monitor.spawn().context("starting nft monitor")?);
    let out = monitor.0.stdout.take().context("nft monitor output")?;
    {
        let seen = Arc::clone(&seen);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let at = Instant::now();
                let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                for tok in line.split([' ', ',', '{', '}']) {
                    if let Ok(ip) = tok.parse::<Ipv4Addr>() {
                        s.entry(ip).or_insert(at);
                    }
                }
            }
        });
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut file = std::fs::OpenOptions::new().append(true).open(log)?;

    // Paced phase.
    eprintln!(
        "paced: {} attackers at {}/s, {} lines each…",
        args.attackers, args.rate, args.lines
    );
    let mut written: HashMap<Ipv4Addr, Instant> = HashMap::new();
    let t0 = Instant::now();
    let mut buf = String::new();
    for i in 0..args.attackers {
        let due = t0 + Duration::from_secs_f64(i as f64 / args.rate);
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let ip = attacker(0, i);
        buf.clear();
        lines(ip, args.lines, &mut buf);
        file.write_all(buf.as_bytes())?;
        written.insert(ip, Instant::now());
    }
    let limit = Duration::from_secs_f64(args.wait);
    wait_all(&seen, &written, limit, serve, serve_log)?;
    let paced = phase(
        &written,
        &seen.lock().unwrap_or_else(|e| e.into_inner()),
        false,
    );

    // Burst phase.
    let burst = if args.burst > 0 {
        eprintln!("burst: {} attackers at once…", args.burst);
        let mut all = String::new();
        for i in 0..args.burst {
            lines(attacker(1, i), args.lines, &mut all);
        }
        let at = Instant::now();
        file.write_all(all.as_bytes())?;
        let done = Instant::now();
        let burst_written: HashMap<Ipv4Addr, Instant> = (0..args.burst)
            .map(|i| (attacker(1, i), done.max(at)))
            .collect();
        wait_all(&seen, &burst_written, limit, serve, serve_log)?;
        Some(phase(
            &burst_written,
            &seen.lock().unwrap_or_else(|e| e.into_inner()),
            true,
        ))
    } else {
        None
    };
    drop(monitor);
    Ok((paced, burst))
}

/// Starts the Debian fail2ban (`fail2ban-server -f`) in a namespace of its own, configured
/// like the Palisade run — the `sshd` jail on the same kind of log, five failures within five
/// minutes, a one-hour ban through `nftables-allports`, pyinotify — and measures it the same way.
fn measure_fail2ban(args: &BenchBlockArgs) -> Result<Measured> {
    for tool in ["fail2ban-server", "fail2ban-client"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map_or(true, |o| !o.status.success())
        {
            bail!(
                "--fail2ban: {tool} is not installed (apt-get install --no-install-recommends fail2ban python3-pyinotify)"
            );
        }
    }
    let work = tempfile::Builder::new()
        .prefix("palisade-bench-f2b")
        .tempdir()?;
    let dir = work.path().to_path_buf();
    let conf = dir.join("conf");
    run(Command::new("cp").args(["-r", "/etc/fail2ban"]).arg(&conf))
        .context("copying /etc/fail2ban")?;
    // Only our jail: the distribution's jail.d enables sshd on the systemd journal.
    let _ = std::fs::remove_dir_all(conf.join("jail.d"));
    std::fs::create_dir_all(conf.join("jail.d"))?;
    let log = dir.join("auth.log");
    std::fs::write(&log, "")?;
    let sock = dir.join("f2b.sock");
    let f2b_log = dir.join("fail2ban.log");
    std::fs::write(
        conf.join("fail2ban.local"),
        format!(
            "[Definition]\nloglevel = INFO\nlogtarget = {}\nsocket = {}\npidfile = {}\ndbfile = :memory:\n",
            f2b_log.display(),
            sock.display(),
            dir.join("f2b.pid").display()
        ),
    )?;
    std::fs::write(
        conf.join("jail.local"),
        format!(
            "[DEFAULT]\nbackend = pyinotify\nbanaction = nftables-allports\nbanaction_allports = nftables-allports\n\
             maxretry = {}\nfindtime = 300\nbantime = 3600\nignoreip = 127.0.0.1/8 ::1\n\n\
             [sshd]\nenabled = true\nport = ssh\nlogpath = {}\n",
            args.lines.min(5),
            log.display()
        ),
    )?;
    let ns = Netns::new("f2b")?;
    let out_log = dir.join("server.out");
    let mut server = Kill(
        ns.command("fail2ban-server")
            .args(["-f", "-x", "-c"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_log)?)
            .stderr(std::fs::File::create(dir.join("server.err"))?)
            .spawn()
            .context("starting fail2ban-server")?,
    );
    let started = Instant::now();
    loop {
        let status = Command::new("fail2ban-client")
            .arg("-s")
            .arg(&sock)
            .args(["status", "sshd"])
            .output()?;
        if status.status.success() {
            break;
        }
        if let Some(st) = server.0.try_wait()? {
            bail!(
                "fail2ban-server exited ({st}):\n{}",
                std::fs::read_to_string(dir.join("server.err")).unwrap_or_default()
            );
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("fail2ban did not start its sshd jail within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let version = Command::new("fail2ban-server")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let (paced, burst) = measure(args, &ns, &log, &mut server, &f2b_log)?;
    drop(server);
    if args.keep {
        eprintln!("kept {}", work.keep().display());
    }
    Ok(Measured {
        tool: "fail2ban".into(),
        setup: format!(
            "{}, pyinotify, nftables-allports",
            version.lines().next().unwrap_or("fail2ban")
        ),
        paced,
        burst,
    })
}

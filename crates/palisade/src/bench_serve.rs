//! `palisade bench serve`: sustained HTTP NDJSON ingest through the whole `palisade serve`
//! pipeline, and syslog UDP loss, measured from outside the service.
//!
//! The benchmark starts `palisade serve` (this same binary) as a child process on a fresh data
//! directory with a generated configuration (the write-ahead log syncs unless `--no-fsync`),
//! creates an analyst token, and builds a pool of simulated log lines (`palisade-sim`: Sysmon
//! and Security JSON, cloud sign-ins, sshd syslog, Zeek JSON) into requests of `--batch` lines.
//! Then, for each `--rates` step, an open-loop generator ([`load`]) posts at that rate for
//! `--seconds`, measuring each request's acknowledgement latency from when it was due. While
//! it runs the child's memory and queue depth are sampled; afterwards the benchmark waits for
//! the pipeline to apply everything acknowledged (the drain) and reads the service's own
//! metrics (events applied, time per pipeline stage, write-ahead log appends) and the CPU
//! time of its threads from `/proc`.
//!
//! A rate **holds** when no request failed or was refused (429), the p99 acknowledgement
//! latency is within `--p99-ms`, and the queue drained within `--drain-limit` seconds of the
//! end of the step (the pipeline kept up). With `--udp`, syslog datagrams are then sent at the
//! highest rate that held, and what the service counted is compared with what was sent.
//!
//! Everything runs on this machine against 127.0.0.1, bounded by `--seconds` per step and
//! `--max-seconds` overall; the generator shares the CPU with the service, and its own CPU
//! time is reported.

pub(crate) mod child;
pub(crate) mod http;
pub(crate) mod load;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;
use tokio::sync::watch;

use child::{ChildSettings, ServeChild};
use http::Scrape;
use load::{Pool, quantile};

#[derive(Args)]
pub struct BenchServeArgs {
    /// Offered loads, events per second, one step each, in this order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10000,25000,50000,75000,100000",
        value_name = "LIST"
    )]
    pub rates: Vec<u64>,
    /// Length of each step, seconds.
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    /// Events per HTTP request.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Keep-alive connections the requests are spread over.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Sigma rule files or directories for the service.
    #[arg(long, value_name = "PATH", default_value = "examples/rules")]
    pub rules: Vec<PathBuf>,
    /// Detectors the service runs.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sigma,ioc,anomaly,ueba,beacon",
        value_name = "LIST"
    )]
    pub detectors: Vec<String>,
    /// Afterwards, send syslog over UDP at the highest rate that held and report the loss.
    #[arg(long)]
    pub udp: bool,
    /// Acknowledge without syncing the write-ahead log (`wal.fsync = false`).
    #[arg(long)]
    pub no_fsync: bool,
    /// The p99 acknowledgement latency a rate must stay within, milliseconds.
    #[arg(long, default_value_t = 50.0)]
    pub p99_ms: f64,
    /// Seconds the queue may take to drain after a step for the rate to count as kept up.
    #[arg(long, default_value_t = 5.0)]
    pub drain_limit: f64,
    /// Unmeasured load at the first rate before the steps (lazily built matchers, caches).
    #[arg(long, default_value_t = 5.0)]
    pub warmup: f64,
    /// Simulated lines in the pool the requests cycle through.
    #[arg(long, default_value_t = 100_000)]
    pub pool: usize,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Upper bound on the whole run, seconds; steps that would pass it are skipped.
    #[arg(long, default_value_t = 900)]
    pub max_seconds: u64,
    #[command(flatten)]
    pub child: ChildOptions,
}

/// Options of every benchmark that runs a `palisade serve` child: where its data goes and
/// how the report comes out.
#[derive(Args)]
pub struct ChildOptions {
    /// Where the service's data directory is created (a fresh subdirectory, removed
    /// afterwards unless --keep). Default: the system temporary directory.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep the service's data directory (configuration, store, log, serve.log).
    #[arg(long)]
    pub keep: bool,
    /// Output: a table, or one JSON document.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
    /// Write the JSON document to this file as well.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

impl ChildOptions {
    /// A fresh data directory for the child of benchmark `name`.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("palisade-bench-{name}-{}", std::process::id()))
    }

    /// Prints the report (a table through `table`, or JSON) and writes the JSON to `--json`.
    pub fn emit<R: Serialize>(&self, report: &R, table: impl Fn(&R)) -> Result<()> {
        let json = serde_json::to_string_pretty(report)?;
        if let Some(p) = &self.json {
            std::fs::write(p, &json)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", p.display()))?;
        }
        match self.format {
            ReportFormat::Json => println!("{json}"),
            ReportFormat::Table => table(report),
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
}

/// How long after its schedule ends a step may still start requests (the rest stay unsent).
const STEP_GRACE: Duration = Duration::from_secs(10);
/// Longest wait for the queue to drain before the remaining steps are abandoned.
const DRAIN_CAP: Duration = Duration::from_secs(60);
const MIB: f64 = 1024.0 * 1024.0;

/// One rate's measurements.
#[derive(Debug, Serialize)]
struct Step {
    offered_events_per_s: u64,
    requests: u64,
    offered_events: u64,
    acked_events: u64,
    acked_events_per_s: f64,
    /// Acknowledgement latency from when each request was due, over the answered requests.
    latency_ms_p50: f64,
    latency_ms_p99: f64,
    latency_ms_max: f64,
    /// From writing the request to its answer (the service's own time), p99.
    service_ms_p99: f64,
    rejected_429: u64,
    other_status: u64,
    failed_requests: u64,
    /// Requests still waiting for a free connection when the step's time was up.
    unsent_requests: u64,
    /// Records the service could not parse, and alerts it raised, over the step and drain.
    parse_errors: u64,
    alerts: u64,
    alerts_per_detector: BTreeMap<String, u64>,
    /// Events applied (parsed, detected, stored) per second while the load ran.
    applied_events_per_s_during: f64,
    /// Seconds after the step until the queue was empty; `None`: not within the cap.
    drain_seconds: Option<f64>,
    max_queue_depth: u64,
    max_rss_mib: f64,
    peak_rss_mib: f64,
    /// CPU cores the service used over the step and drain, all threads.
    server_cores: f64,
    /// Per thread name, cores.
    server_threads: BTreeMap<String, f64>,
    /// CPU cores the load generator used.
    generator_cores: f64,
    /// Seconds from the start of the step to the end of the drain.
    wall_seconds: f64,
    /// Seconds the pipeline spent in each stage over the step and drain.
    pipeline_stage_seconds: BTreeMap<String, f64>,
    /// Share of the step and drain the pipeline thread spent applying batches.
    pipeline_busy: f64,
    /// Microseconds of pipeline time per applied event (wall clock, waits included).
    pipeline_us_per_event: f64,
    /// CPU microseconds of the pipeline (its thread and the helpers it starts) per applied
    /// event: what the pipeline costs, whatever else runs on the machine.
    pipeline_cpu_us_per_event: f64,
    wal_appends: u64,
    wal_append_ms_mean: f64,
    held: bool,
    why_not: Vec<String>,
    errors: Vec<String>,
}

#[derive(Debug, Serialize)]
struct UdpStep {
    rate: u64,
    sent: u64,
    send_seconds: f64,
    received: u64,
    dropped_by_palisade: u64,
    dropped_by_kernel: Option<u64>,
    loss_percent: f64,
    max_rss_mib: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    cores: usize,
    load_before: String,
    load_after: String,
    fsync: bool,
    detectors: Vec<String>,
    rules: u64,
    batch: usize,
    connections: usize,
    seconds: f64,
    p99_target_ms: f64,
    pool: serde_json::Value,
    steps: Vec<Step>,
    highest_rate_held: Option<u64>,
    udp: Option<UdpStep>,
    notes: Vec<String>,
    final_peak_rss_mib: f64,
}

pub fn serve(args: BenchServeArgs) -> Result<u8> {
    if args.rates.is_empty() || args.rates.contains(&0) {
        bail!("--rates: give one or more rates above 0");
    }
    if args.batch == 0 || args.connections == 0 || args.pool < args.batch {
        bail!("--batch and --connections must be at least 1, and --pool at least --batch");
    }
    if !args.seconds.is_finite() || args.seconds <= 0.0 || !(0.0..1e6).contains(&args.warmup) {
        bail!("--seconds must be above 0 and --warmup 0 or more");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(run(&args))?;
    args.child.emit(&report, print_table)?;
    Ok(0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

async fn run(args: &BenchServeArgs) -> Result<Report> {
    let began = Instant::now();
    let settings = ChildSettings {
        exe: std::env::current_exe()?,
        dir: args.child.dir("serve"),
        keep: args.child.keep,
        rules: args.rules.clone(),
        detectors: args.detectors.clone(),
        fsync: !args.no_fsync,
        auth: None,
    };
    let load_before = loadavg();
    eprintln!(
        "bench serve: starting palisade serve in {} (fsync {})",
        settings.dir.display(),
        if settings.fsync { "on" } else { "off" }
    );
    let mut child = ServeChild::start(&settings).await?;
    let status = status(child.addr, &child.token).await?;
    let rules = status["rules"].as_u64().unwrap_or(0);
    eprintln!(
        "bench serve: serving on {} (pid {}, {rules} rules); building {} simulated lines into requests of {}",
        child.addr,
        child.pid(),
        args.pool,
        args.batch
    );
    let mut pool = Pool::generate(args.pool, args.batch, args.seed, child.addr, &child.token);
    let pool_info = serde_json::json!({
        "lines": pool.bodies.iter().map(|b| b.events).sum::<u64>(),
        "requests": pool.bodies.len(),
        "bytes": pool.bytes,
        "mean_line_bytes": pool.bytes as f64 / args.pool as f64,
        "per_source": pool.mix,
        "attack_lines": pool.attack_lines,
        "simulated_from": pool.first,
        "simulated_to": pool.last,
        "syslog_datagrams": pool.datagrams.len(),
    });
    eprintln!("bench serve: pool {pool_info}");
    let bodies = Arc::new(std::mem::take(&mut pool.bodies));
    let mut notes = Vec::new();

    if args.warmup > 0.0 {
        eprintln!(
            "bench serve: warm-up, {} s at {} events/s",
            args.warmup, args.rates[0]
        );
        load::http_load(
            child.addr,
            Arc::clone(&bodies),
            args.rates[0],
            args.warmup,
            args.batch,
            args.connections,
            STEP_GRACE,
        )
        .await?;
        if drain(&child, DRAIN_CAP).await?.is_none() {
            bail!("the queue did not drain after the warm-up");
        }
    }

    let mut steps = Vec::new();
    for &rate in &args.rates {
        let spent = began.elapsed().as_secs_f64();
        if spent + args.seconds + args.drain_limit > args.max_seconds as f64 {
            notes.push(format!(
                "{rate} events/s skipped: --max-seconds {} reached",
                args.max_seconds
            ));
            continue;
        }
        eprintln!(
            "bench serve: {rate} events/s for {} s (load {})",
            args.seconds,
            loadavg()
        );
        let step = http_step(args, &child, Arc::clone(&bodies), rate).await?;
        eprintln!(
            "bench serve:   acked {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, 429 ×{}, applied {:.0}/s, drain {}, RSS {:.0} MiB → {}",
            step.acked_events_per_s,
            step.latency_ms_p50,
            step.latency_ms_p99,
            step.latency_ms_max,
            step.rejected_429,
            step.applied_events_per_s_during,
            step.drain_seconds
                .map_or("not within the cap".to_string(), |d| format!("{d:.1} s")),
            step.max_rss_mib,
            if step.held { "holds" } else { "does not hold" }
        );
        let drained = step.drain_seconds.is_some();
        steps.push(step);
        if !drained {
            notes.push(format!(
                "stopped after {rate} events/s: the queue did not drain within {} s",
                DRAIN_CAP.as_secs()
            ));
            break;
        }
    }
    let highest_rate_held = steps
        .iter()
        .filter(|s| s.held)
        .map(|s| s.offered_events_per_s)
        .max();

    let udp = if args.udp {
        let rate = highest_rate_held.unwrap_or(args.rates[0]);
        if highest_rate_held.is_none() {
            notes.push(format!(
                "no rate held; the UDP run uses the first rate, {rate}/s"
            ));
        }
        Some(udp_step(args, &child, &pool.datagrams, rate).await?)
    } else {
        None
    };
    let final_peak = child::memory(child.pid()).map_or(0, |(_, hwm)| hwm);
    eprintln!("bench serve: stopping the service");
    child.stop(Duration::from_secs(60))?;
    Ok(Report {
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_before,
        load_after: loadavg(),
        fsync: settings.fsync,
        detectors: args.detectors.clone(),
        rules,
        batch: args.batch,
        connections: args.connections,
        seconds: args.seconds,
        p99_target_ms: args.p99_ms,
        pool: pool_info,
        steps,
        highest_rate_held,
        udp,
        notes,
        final_peak_rss_mib: final_peak as f64 / MIB,
    })
}

async fn status(addr: SocketAddr, token: &str) -> Result<serde_json::Value> {
    let (code, body) = http::get(addr, "/api/v1/status", token).await?;
    if code != 200 {
        bail!("GET /api/v1/status answered {code}: {body}");
    }
    Ok(serde_json::from_str(&body)?)
}

/// Waits until everything acknowledged is applied; the seconds it took, `None` past `cap`.
async fn drain(child: &ServeChild, cap: Duration) -> Result<Option<f64>> {
    let started = Instant::now();
    loop {
        let s = status(child.addr, &child.token).await?;
        if s["queue_depth"].as_u64() == Some(0) {
            return Ok(Some(started.elapsed().as_secs_f64()));
        }
        if started.elapsed() > cap {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Largest resident memory and queue depth seen until `stop` turns true.
async fn sample(
    pid: u32,
    addr: SocketAddr,
    token: String,
    mut stop: watch::Receiver<bool>,
) -> (u64, u64) {
    let (mut rss, mut queue) = (0u64, 0u64);
    let mut tick = 0u64;
    loop {
        if let Some((r, _)) = child::memory(pid) {
            rss = rss.max(r);
        }
        if tick.is_multiple_of(4)
            && let Ok(s) = status(addr, &token).await
        {
            queue = queue.max(s["queue_depth"].as_u64().unwrap_or(0));
        }
        tick += 1;
        tokio::select! {
            _ = stop.changed() => break,
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
    (rss, queue)
}

fn delta(after: &Scrape, before: &Scrape, name: &str, label: Option<&str>) -> f64 {
    after.value(name, label) - before.value(name, label)
}

fn own_cpu() -> f64 {
    crate::sysinfo::process_cpu_seconds().unwrap_or(0.0)
}

async fn http_step(
    args: &BenchServeArgs,
    child: &ServeChild,
    bodies: Arc<Vec<load::Body>>,
    rate: u64,
) -> Result<Step> {
    let pid = child.pid();
    let before = Scrape::take(child.addr, &child.token).await?;
    let threads_before = child::thread_cpu(pid);
    let cpu_before = child::process_cpu(pid).unwrap_or(0.0);
    let own_before = own_cpu();
    let t0 = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(sample(pid, child.addr, child.token.clone(), stop_rx));
    let outcome = load::http_load(
        child.addr,
        bodies,
        rate,
        args.seconds,
        args.batch,
        args.connections,
        STEP_GRACE,
    )
    .await?;
    let during = Scrape::take(child.addr, &child.token).await?;
    let _ = stop_tx.send(true);
    let (max_rss, max_queue) = sampler.await.unwrap_or((0, 0));
    let drain_seconds = drain(child, DRAIN_CAP).await?;
    let wall = t0.elapsed().as_secs_f64();
    let after = Scrape::take(child.addr, &child.token).await?;
    let own = own_cpu() - own_before;
    let cpu = child::process_cpu(pid).unwrap_or(0.0) - cpu_before;
    let threads_after = child::thread_cpu(pid);
    let peak = child::memory(pid).map_or(0, |(_, hwm)| hwm);

    let mut latencies: Vec<Duration> = outcome.samples.iter().map(|s| s.latency).collect();
    latencies.sort_unstable();
    let mut service: Vec<Duration> = outcome.samples.iter().map(|s| s.service).collect();
    service.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let acked_events: u64 = outcome
        .samples
        .iter()
        .filter(|s| s.status == 202)
        .map(|s| s.events)
        .sum();
    let rejected = outcome.samples.iter().filter(|s| s.status == 429).count() as u64;
    let failed = outcome.samples.iter().filter(|s| s.status == 0).count() as u64;
    let unsent = outcome.due - outcome.samples.len() as u64;
    let other = outcome
        .samples
        .iter()
        .filter(|s| !matches!(s.status, 0 | 202 | 429))
        .count() as u64;
    let elapsed = outcome.elapsed.as_secs_f64().max(1e-9);
    let applied_during = delta(&during, &before, "palisade_events_applied_total", None);
    let applied_all = delta(&after, &before, "palisade_events_applied_total", None);
    let mut stages = BTreeMap::new();
    for d in after.labels("palisade_detector_seconds_sum", "detector") {
        let label = format!("detector=\"{d}\"");
        stages.insert(
            d,
            delta(
                &after,
                &before,
                "palisade_detector_seconds_sum",
                Some(&label),
            ),
        );
    }
    let batch_secs = delta(&after, &before, "palisade_batch_seconds_sum", None);
    let wal_appends = delta(&after, &before, "palisade_wal_append_seconds_count", None) as u64;
    let wal_secs = delta(&after, &before, "palisade_wal_append_seconds_sum", None);
    // The pipeline thread (`palisade-pipeli`: Linux keeps 15 bytes of a name) starts short-lived
    // helper threads per batch (the learned detectors) that are gone from `/proc` when read, so
    // its share is the whole process's CPU less that of the other, long-lived threads.
    let others: f64 = threads_after
        .iter()
        .filter(|(n, _)| !n.starts_with("palisade-pipel"))
        .map(|(n, secs)| secs - threads_before.get(n).copied().unwrap_or(0.0))
        .sum();
    let pipeline_cpu = (cpu - others).max(0.0);
    let server_threads = threads_after
        .iter()
        .map(|(name, secs)| {
            let prev = threads_before.get(name).copied().unwrap_or(0.0);
            (name.clone(), (secs - prev) / wall)
        })
        .filter(|(_, cores)| *cores >= 0.005)
        .collect();

    let p99 = ms(quantile(&latencies, 0.99));
    let mut why_not = Vec::new();
    if failed + other > 0 {
        why_not.push(format!("{} requests failed", failed + other));
    }
    if unsent > 0 {
        why_not.push(format!(
            "{unsent} requests unsent {} s after the schedule ended",
            STEP_GRACE.as_secs()
        ));
    }
    if rejected > 0 {
        why_not.push(format!("{rejected} requests refused with 429"));
    }
    if p99 > args.p99_ms {
        why_not.push(format!("p99 {p99:.1} ms > {} ms", args.p99_ms));
    }
    match drain_seconds {
        Some(d) if d <= args.drain_limit => {}
        Some(d) => why_not.push(format!(
            "queue drained {d:.1} s after the step (> {} s)",
            args.drain_limit
        )),
        None => why_not.push(format!(
            "queue not drained {} s after the step",
            DRAIN_CAP.as_secs()
        )),
    }
    let mut errors = outcome.errors;
    errors.truncate(10);
    Ok(Step {
        offered_events_per_s: rate,
        requests: outcome.due,
        offered_events: outcome.offered_events,
        acked_events,
        acked_events_per_s: acked_events as f64 / elapsed,
        latency_ms_p50: ms(quantile(&latencies, 0.5)),
        latency_ms_p99: p99,
        latency_ms_max: ms(latencies.last().copied().unwrap_or_default()),
        service_ms_p99: ms(quantile(&service, 0.99)),
        rejected_429: rejected,
        other_status: other,
        failed_requests: failed,
        unsent_requests: unsent,
        parse_errors: delta(&after, &before, "palisade_parse_errors_total", None) as u64,
        alerts: delta(&after, &before, "palisade_alerts_total", None) as u64,
        alerts_per_detector: after
            .labels("palisade_alerts_total", "detector")
            .into_iter()
            .map(|d| {
                let label = format!("detector=\"{d}\"");
                let n = delta(&after, &before, "palisade_alerts_total", Some(&label)) as u64;
                (d, n)
            })
            .collect(),
        applied_events_per_s_during: applied_during / elapsed,
        drain_seconds,
        max_queue_depth: max_queue,
        max_rss_mib: max_rss as f64 / MIB,
        peak_rss_mib: peak as f64 / MIB,
        wall_seconds: wall,
        server_cores: cpu / wall,
        server_threads,
        generator_cores: own / wall,
        pipeline_stage_seconds: stages,
        pipeline_busy: batch_secs / wall,
        pipeline_us_per_event: if applied_all > 0.0 {
            batch_secs * 1e6 / applied_all
        } else {
            0.0
        },
        pipeline_cpu_us_per_event: if applied_all > 0.0 {
            pipeline_cpu * 1e6 / applied_all
        } else {
            0.0
        },
        wal_appends,
        wal_append_ms_mean: if wal_appends > 0 {
            wal_secs * 1e3 / wal_appends as f64
        } else {
            0.0
        },
        held: why_not.is_empty(),
        why_not,
        errors,
    })
}

async fn udp_step(
    args: &BenchServeArgs,
    child: &ServeChild,
    datagrams: &[Vec<u8>],
    rate: u64,
) -> Result<UdpStep> {
    if datagrams.is_empty() {
        bail!("the pool has no syslog lines to send over UDP");
    }
    eprintln!(
        "bench serve: syslog UDP, {rate} datagrams/s for {} s",
        args.seconds
    );
    let label = Some("source=\"bench\"");
    let before = Scrape::take(child.addr, &child.token).await?;
    let kernel_before = child::udp_socket_drops(child.udp);
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(sample(
        child.pid(),
        child.addr,
        child.token.clone(),
        stop_rx,
    ));
    let target = child.udp;
    let datagrams = datagrams.to_vec();
    let seconds = args.seconds;
    let sent =
        tokio::task::spawn_blocking(move || load::udp_load(target, &datagrams, rate, seconds))
            .await??;
    // Let the listener take what is still in the socket, then the pipeline drain.
    let counted = |s: &Scrape| {
        s.value("palisade_events_received_total", label)
            + s.value("palisade_syslog_udp_dropped_total", label)
    };
    let mut last = -1.0;
    let settle = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = counted(&Scrape::take(child.addr, &child.token).await?);
        if now == last || settle.elapsed() > DRAIN_CAP {
            break;
        }
        last = now;
    }
    drain(child, DRAIN_CAP).await?;
    let _ = stop_tx.send(true);
    let (max_rss, _) = sampler.await.unwrap_or((0, 0));
    let after = Scrape::take(child.addr, &child.token).await?;
    let received = delta(&after, &before, "palisade_events_received_total", label) as u64;
    let dropped = delta(&after, &before, "palisade_syslog_udp_dropped_total", label) as u64;
    let kernel = match (kernel_before, child::udp_socket_drops(child.udp)) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let step = UdpStep {
        rate,
        sent: sent.sent,
        send_seconds: sent.elapsed.as_secs_f64(),
        received,
        dropped_by_palisade: dropped,
        dropped_by_kernel: kernel,
        loss_percent: 100.0 * sent.sent.saturating_sub(received) as f64 / sent.sent.max(1) as f64,
        max_rss_mib: max_rss as f64 / MIB,
    };
    eprintln!(
        "bench serve:   sent {}, received {}, loss {:.3} %",
        step.sent, step.received, step.loss_percent
    );
    Ok(step)
}

fn print_table(r: &Report) {
    println!(
        "palisade serve, sustained HTTP NDJSON ingest — {} cores, fsync {}, detectors {}, {} rules, {} events/request over {} connections, {} s per rate (load {} → {})",
        r.cores,
        if r.fsync { "on" } else { "off" },
        r.detectors.join(","),
        r.rules,
        r.batch,
        r.connections,
        r.seconds,
        r.load_before,
        r.load_after
    );
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header([
            "offered ev/s",
            "acked ev/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "429",
            "failed",
            "unsent",
            "applied ev/s",
            "drain s",
            "max queue",
            "RSS MiB",
            "server cores",
            "gen cores",
            "holds",
        ]);
    for s in &r.steps {
        t.add_row([
            s.offered_events_per_s.to_string(),
            format!("{:.0}", s.acked_events_per_s),
            format!("{:.1}", s.latency_ms_p50),
            format!("{:.1}", s.latency_ms_p99),
            format!("{:.1}", s.latency_ms_max),
            s.rejected_429.to_string(),
            (s.failed_requests + s.other_status).to_string(),
            s.unsent_requests.to_string(),
            format!("{:.0}", s.applied_events_per_s_during),
            s.drain_seconds
                .map_or("—".to_string(), |d| format!("{d:.1}")),
            s.max_queue_depth.to_string(),
            format!("{:.0}", s.max_rss_mib),
            format!("{:.2}", s.server_cores),
            format!("{:.2}", s.generator_cores),
            if s.held {
                "yes".to_string()
            } else {
                format!("no: {}", s.why_not.join("; "))
            },
        ]);
    }
    println!("{t}");
    let mut t = Table::new();
    let stages: Vec<String> = r
        .steps
        .first()
        .map(|s| s.pipeline_stage_seconds.keys().cloned().collect())
        .unwrap_or_default();
    let mut header = vec![
        "offered ev/s".to_string(),
        "pipeline busy".to_string(),
        "µs/event".to_string(),
        "CPU µs/event".to_string(),
    ];
    header.extend(stages.iter().map(|s| format!("{s} %")));
    header.extend([
        "alerts".to_string(),
        "parse errors".to_string(),
        "WAL appends/s".to_string(),
        "WAL ms".to_string(),
        "threads (cores)".to_string(),
    ]);
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header);
    for s in &r.steps {
        let total: f64 = s.pipeline_stage_seconds.values().sum();
        let wall = s.wall_seconds;
        let mut row = vec![
            s.offered_events_per_s.to_string(),
            format!("{:.0} %", 100.0 * s.pipeline_busy),
            format!("{:.1}", s.pipeline_us_per_event),
            format!("{:.1}", s.pipeline_cpu_us_per_event),
        ];
        row.extend(stages.iter().map(|k| {
            let v = s.pipeline_stage_seconds.get(k).copied().unwrap_or(0.0);
            format!("{:.0}", 100.0 * v / total.max(1e-9))
        }));
        row.push(s.alerts.to_string());
        row.push(s.parse_errors.to_string());
        row.push(format!("{:.0}", s.wal_appends as f64 / wall.max(1e-9)));
        row.push(format!("{:.2}", s.wal_append_ms_mean));
        row.push(
            s.server_threads
                .iter()
                .map(|(n, c)| format!("{n} {c:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        t.add_row(row);
    }
    println!("{t}");
    match r.highest_rate_held {
        Some(rate) => println!(
            "highest rate held (p99 ≤ {} ms, no 429, pipeline kept up): {rate} events/s",
            r.p99_target_ms
        ),
        None => println!(
            "no rate held (p99 ≤ {} ms, no 429, pipeline kept up)",
            r.p99_target_ms
        ),
    }
    if let Some(u) = &r.udp {
        println!(
            "syslog UDP at {}/s: sent {} in {:.1} s, received {}, dropped by palisade {}, by the kernel {}, loss {:.3} %",
            u.rate,
            u.sent,
            u.send_seconds,
            u.received,
            u.dropped_by_palisade,
            u.dropped_by_kernel
                .map_or("?".to_string(), |k| k.to_string()),
            u.loss_percent
        );
    }
    println!(
        "peak RSS of the service (VmHWM): {:.0} MiB",
        r.final_peak_rss_mib
    );
    for n in &r.notes {
        println!("note: {n}");
    }
}

//! `palisade bench auth`: how fast risk-based authentication answers, with a large population
//! of learned users — in process (`Engine::assess`, one thread) and over HTTP through a real
//! `palisade serve` (`POST /api/v1/auth/assess`) under a steady open-loop load.
//!
//! **Population.** `--users` users each learn `--logins` confirmed logins (own home address,
//! one of 1,000 device ids, weekdays 09:00 UTC, eight weeks earlier) in an in-process engine
//! with the geolocation database.
//! The HTTP part hands exactly these profiles to the service the way a restart does: they are
//! saved (`Engine::save_profiles`) into the child's store before it starts, and it restores
//! them. That replaces a million HTTP outcome calls before the measurement, and exercises the
//! restore path at full size.
//!
//! **Attempts.** A fixed, seeded list of `--attempts` login attempts by known users on Tuesday
//! 6 January 2026 between 09:00 and 10:00: most from the user's home address and device (usual
//! logins), a `--risky` share (default one in five) from a random address with a new device
//! (risky: challenged or denied
//! when the address is in another country). The same list is assessed in process and sent
//! over HTTP, so both parts score the same work; the decision mix is reported.
//!
//! **HTTP.** `palisade serve` runs as a child process of this binary on its own data directory
//! (write-ahead log without fsync: assessments are not logged events, only the challenge and
//! deny events they raise are). An open-loop generator on one thread sends `--rate` requests/s
//! for `--seconds` over `--connections` keep-alive connections; each latency counts from when
//! its request was due (no coordinated omission). Everything is on 127.0.0.1, bounded by
//! `--seconds` plus a 10 s grace; the generator shares the two cores with the service. The
//! same load is then sent to `GET /healthz` (no token, no work): the floor that the machine's
//! loopback, scheduler and HTTP stack put under any endpoint, measured in the same run.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, TimeZone, Utc};
use clap::Args;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use palisade_auth::{Decision, Engine, Geo, Outcome, Policy, Request};
use serde::Serialize;

use crate::bench_serve::ChildOptions;
use crate::bench_serve::child::{self, AuthChild, ChildSettings, ServeChild};
use crate::bench_serve::http::{self, Scrape};
use crate::bench_serve::load::{self, Body, quantile};

#[derive(Args)]
pub struct BenchAuthArgs {
    /// Users with a learned profile.
    #[arg(long, default_value_t = 1_000_000)]
    pub users: u32,
    /// Confirmed logins each user learns (weekdays at 09:00 from home; past the engine's
    /// warm-up of 5, novelty signals count in full).
    #[arg(long, default_value_t = 5)]
    pub logins: u32,
    /// Distinct login attempts in the list (in process: each assessed once; HTTP: sent in
    /// turn, from the start again when the list runs out).
    #[arg(long, default_value_t = 100_000)]
    pub attempts: u32,
    /// Share of attempts from a random address with a new device (the rest are usual logins).
    #[arg(long, default_value_t = 0.2)]
    pub risky: f64,
    /// HTTP requests per second.
    #[arg(long, default_value_t = 5_000)]
    pub rate: u64,
    /// Length of the HTTP measurement, seconds.
    #[arg(long, default_value_t = 30.0)]
    pub seconds: f64,
    /// Seconds of HTTP load before the measurement, not counted.
    #[arg(long, default_value_t = 5.0)]
    pub warmup: f64,
    /// Keep-alive connections the requests are spread over.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Target p99 of an HTTP assessment, milliseconds (the report says whether it held).
    #[arg(long, default_value_t = 2.0)]
    pub p99_ms: f64,
    /// Target p99 of an in-process assessment, microseconds.
    #[arg(long, default_value_t = 100.0)]
    pub p99_us: f64,
    /// IP-to-country (or City) .mmdb database (default: shared/data/geoip/ip-location-db/
    /// geo-whois-asn-country-ipv4.mmdb from PALISADE_DATA or above the working directory).
    #[arg(long, value_name = "FILE.mmdb")]
    pub geoip: Option<PathBuf>,
    /// Only the in-process measurement.
    #[arg(long)]
    pub in_process_only: bool,
    /// Seed of the attempt list.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub child: ChildOptions,
}

#[derive(Serialize, Default)]
struct Mix {
    allow: u64,
    challenge: u64,
    deny: u64,
}

#[derive(Serialize)]
struct InProcess {
    users: usize,
    attempts: usize,
    geoip: Option<String>,
    learn_seconds: f64,
    latency_us_p50: f64,
    latency_us_p90: f64,
    latency_us_p99: f64,
    latency_us_p999: f64,
    latency_us_max: f64,
    p99_target_us: f64,
    held: bool,
    decisions: Mix,
    profile_table_bytes: usize,
    bytes_per_user: f64,
    saved_profile_bytes: usize,
}

#[derive(Serialize)]
struct HttpPart {
    rate: u64,
    seconds: f64,
    connections: usize,
    restored_users: u64,
    start_seconds: f64,
    requests_due: u64,
    answered_200: u64,
    other_status: u64,
    failed: u64,
    unsent: u64,
    achieved_per_s: f64,
    latency_ms_p50: f64,
    latency_ms_p90: f64,
    latency_ms_p99: f64,
    latency_ms_p999: f64,
    latency_ms_max: f64,
    service_ms_p99: f64,
    p99_target_ms: f64,
    held: bool,
    decisions: Mix,
    auth_events_dropped: f64,
    /// The same load against `GET /healthz` (no token check, no body, no work) right after:
    /// the floor this machine's loopback, scheduler and HTTP stack put under any endpoint.
    floor_healthz: Floor,
    serve_rss_mib: f64,
    serve_peak_rss_mib: f64,
    serve_cpu_seconds: f64,
    errors: Vec<String>,
}

#[derive(Serialize)]
struct Floor {
    answered_200: u64,
    latency_ms_p50: f64,
    latency_ms_p99: f64,
    latency_ms_p999: f64,
    latency_ms_max: f64,
}

#[derive(Serialize)]
struct Report {
    cores: usize,
    /// `/proc/loadavg` before the run (other work on the machine shows here).
    load_before: String,
    in_process: InProcess,
    http: Option<HttpPart>,
}

const MIB: f64 = 1024.0 * 1024.0;

/// Monday 2026-01-05 09:00 UTC: the population's one confirmed login.
fn taught_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .expect("a valid time")
}

/// User `i`'s home address: spread over the IPv4 space above 8.0.0.0 (public, many countries).
fn home(i: u32) -> IpAddr {
    Ipv4Addr::from(0x0800_0000u32.wrapping_add(i.wrapping_mul(2_654_435_761) >> 4)).into()
}

fn device(i: u32) -> String {
    format!("dev{}", i % 1000)
}

/// SplitMix64: the attempt list is the same for a seed on every machine.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

fn attempts(users: u32, n: u32, seed: u64, risky_share: f64) -> Vec<Request> {
    let mut s = seed;
    let when = taught_at() + chrono::Duration::days(1);
    (0..n)
        .map(|k| {
            let r = splitmix(&mut s);
            let u = (r % u64::from(users)) as u32;
            let risky = ((r >> 32) as f64 / f64::from(u32::MAX)) < risky_share;
            let (ip, dev) = if risky {
                let a = (splitmix(&mut s) as u32) | 0x0100_0000;
                (Ipv4Addr::from(a).into(), format!("new-{k}"))
            } else {
                (home(u), device(u))
            };
            Request {
                user: format!("user{u}"),
                ip,
                user_agent: UA.into(),
                device_id: Some(dev),
                timestamp: when + chrono::Duration::seconds(i64::from(k % 3600)),
                app: None,
                outcome: None,
            }
        })
        .collect()
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

pub fn auth(args: BenchAuthArgs) -> Result<u8> {
    if args.users == 0 || args.attempts == 0 || args.logins == 0 {
        bail!("--users, --logins and --attempts must be at least 1");
    }
    if !(0.0..=1.0).contains(&args.risky) {
        bail!("--risky must be between 0 and 1");
    }
    if args.rate == 0 || args.connections == 0 {
        bail!("--rate and --connections must be at least 1");
    }
    if !args.seconds.is_finite() || args.seconds <= 0.0 || !(0.0..1e6).contains(&args.warmup) {
        bail!("--seconds must be above 0 and --warmup 0 or more");
    }
    let load_before = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let geo_path = match &args.geoip {
        Some(p) => Some(p.clone()),
        None => crate::eval_auth::find_geoip(),
    };
    if geo_path.is_none() {
        eprintln!(
            "WARNING: no geolocation database; place lookups are skipped and the figures understate the work. Pass --geoip."
        );
    }
    let geo = geo_path
        .as_ref()
        .map(|p| Geo::open(p).with_context(|| format!("opening {}", p.display())))
        .transpose()?;

    eprintln!(
        "bench auth: teaching {} users {} confirmed logins each",
        args.users, args.logins
    );
    let started = Instant::now();
    let mut engine = Engine::new(Policy::default(), geo)?;
    engine.reserve_users(args.users as usize);
    let mut r = Request {
        user: String::new(),
        ip: home(0),
        user_agent: UA.into(),
        device_id: None,
        timestamp: taught_at(),
        app: None,
        outcome: None,
    };
    for day in 0..args.logins {
        // Weekdays only: Monday 5 January 2026 onwards, skipping weekends.
        let d = i64::from(day / 5 * 7 + day % 5);
        r.timestamp = taught_at() - chrono::Duration::days(7 * 8) + chrono::Duration::days(d);
        for i in 0..args.users {
            r.user.clear();
            r.user.push_str("user");
            r.user.push_str(&i.to_string());
            r.ip = home(i);
            r.device_id = Some(device(i));
            engine.outcome(&r, Outcome::Success);
        }
    }
    let learn_seconds = started.elapsed().as_secs_f64();
    let list = attempts(args.users, args.attempts, args.seed, args.risky);

    eprintln!(
        "bench auth: in process, {} assessments on one thread",
        list.len()
    );
    let mut lat = Vec::with_capacity(list.len());
    let mut mix = Mix::default();
    for req in &list {
        let t = Instant::now();
        let a = engine.assess(req);
        lat.push(t.elapsed().as_nanos() as u64);
        match std::hint::black_box(a).decision {
            Decision::Allow => mix.allow += 1,
            Decision::Challenge => mix.challenge += 1,
            Decision::Deny => mix.deny += 1,
        }
    }
    lat.sort_unstable();
    let us = |q: f64| percentile(&lat, q) / 1000.0;
    let profiles = engine.save_profiles();
    let in_process = InProcess {
        users: engine.users(),
        attempts: list.len(),
        geoip: geo_path.as_ref().map(|p| p.display().to_string()),
        learn_seconds,
        latency_us_p50: us(0.5),
        latency_us_p90: us(0.9),
        latency_us_p99: us(0.99),
        latency_us_p999: us(0.999),
        latency_us_max: us(1.0),
        p99_target_us: args.p99_us,
        held: us(0.99) <= args.p99_us,
        decisions: mix,
        profile_table_bytes: engine.profile_bytes(),
        bytes_per_user: engine.profile_bytes() as f64 / engine.users().max(1) as f64,
        saved_profile_bytes: profiles.len(),
    };
    eprintln!(
        "bench auth:   p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs; {:.0} bytes per user",
        in_process.latency_us_p50,
        in_process.latency_us_p99,
        in_process.latency_us_p999,
        in_process.bytes_per_user
    );
    drop(engine);

    let http = if args.in_process_only {
        None
    } else {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Some(rt.block_on(http_part(&args, geo_path.clone(), profiles, &list))?)
    };
    let report = Report {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_before,
        in_process,
        http,
    };
    args.child.emit(&report, print_table)?;
    Ok(0)
}

fn body(req: &Request, addr: SocketAddr, token: &str) -> Body {
    let json = serde_json::json!({
        "user": req.user,
        "ip": req.ip.to_string(),
        "user_agent": req.user_agent,
        "device_id": req.device_id,
        "timestamp": req.timestamp.to_rfc3339(),
    });
    let bytes = serde_json::to_vec(&json).expect("JSON of plain values");
    Body {
        events: 1,
        request: http::request(
            "POST",
            "/api/v1/auth/assess",
            addr,
            token,
            Some("application/json"),
            &bytes,
        ),
    }
}

fn decisions(s: &Scrape) -> Mix {
    let n = |d: &str| {
        s.value(
            "palisade_auth_assessments_total",
            Some(&format!("decision=\"{d}\"")),
        ) as u64
    };
    Mix {
        allow: n("allow"),
        challenge: n("challenge"),
        deny: n("deny"),
    }
}

async fn http_part(
    args: &BenchAuthArgs,
    geoip: Option<PathBuf>,
    profiles: Vec<u8>,
    list: &[Request],
) -> Result<HttpPart> {
    let settings = ChildSettings {
        exe: std::env::current_exe()?,
        dir: args.child.dir("auth"),
        keep: args.child.keep,
        rules: Vec::new(),
        detectors: Vec::new(),
        fsync: false,
        auth: Some(AuthChild {
            geoip: geoip.into_iter().collect(),
            max_users: args.users as usize,
            profiles: Some(profiles),
        }),
    };
    eprintln!(
        "bench auth: starting palisade serve in {} with the saved profiles",
        settings.dir.display()
    );
    let started = Instant::now();
    let mut child = ServeChild::start(&settings).await?;
    let start_seconds = started.elapsed().as_secs_f64();
    let log = std::fs::read_to_string(&child.log).unwrap_or_default();
    let restored_users = log
        .lines()
        .find_map(|l| {
            l.strip_prefix("palisade: restored ")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or(0);
    if restored_users != u64::from(args.users) {
        bail!(
            "the service restored {restored_users} of {} profiles:\n{}",
            args.users,
            child.log_tail()
        );
    }
    let bodies: Arc<Vec<Body>> = Arc::new(
        list.iter()
            .map(|r| body(r, child.addr, &child.token))
            .collect(),
    );
    eprintln!(
        "bench auth: serving on {} (pid {}, {restored_users} profiles restored in {start_seconds:.1} s)",
        child.addr,
        child.pid()
    );
    if args.warmup > 0.0 {
        eprintln!(
            "bench auth: warm-up, {} s at {} requests/s",
            args.warmup, args.rate
        );
        load::http_load(
            child.addr,
            Arc::clone(&bodies),
            args.rate,
            args.warmup,
            1,
            args.connections,
            Duration::from_secs(10),
        )
        .await?;
    }
    let before = Scrape::take(child.addr, &child.token).await?;
    let cpu_before = child::process_cpu(child.pid()).unwrap_or(0.0);
    eprintln!(
        "bench auth: {} requests/s for {} s over {} connections",
        args.rate, args.seconds, args.connections
    );
    let out = load::http_load(
        child.addr,
        Arc::clone(&bodies),
        args.rate,
        args.seconds,
        1,
        args.connections,
        Duration::from_secs(10),
    )
    .await?;
    let cpu_after = child::process_cpu(child.pid()).unwrap_or(0.0);
    let after = Scrape::take(child.addr, &child.token).await?;
    let (rss, peak) = child::memory(child.pid()).unwrap_or((0, 0));
    eprintln!(
        "bench auth: the floor: GET /healthz at {} requests/s for {} s",
        args.rate, args.seconds
    );
    let health = Arc::new(vec![Body {
        events: 1,
        request: http::request("GET", "/healthz", child.addr, &child.token, None, b""),
    }]);
    let floor_out = load::http_load(
        child.addr,
        health,
        args.rate,
        args.seconds,
        1,
        args.connections,
        Duration::from_secs(10),
    )
    .await?;
    let mut floor_lat: Vec<Duration> = floor_out.samples.iter().map(|s| s.latency).collect();
    floor_lat.sort_unstable();
    let (b, a) = (decisions(&before), decisions(&after));
    let mut lat: Vec<Duration> = out.samples.iter().map(|s| s.latency).collect();
    lat.sort_unstable();
    let mut service: Vec<Duration> = out.samples.iter().map(|s| s.service).collect();
    service.sort_unstable();
    let ms = |v: &[Duration], q: f64| quantile(v, q).as_secs_f64() * 1000.0;
    let answered = out.samples.iter().filter(|s| s.status == 200).count() as u64;
    let failed = out.samples.iter().filter(|s| s.status == 0).count() as u64;
    let other = out.samples.len() as u64 - answered - failed;
    let unsent = out.due.saturating_sub(out.samples.len() as u64);
    let p99 = ms(&lat, 0.99);
    let part = HttpPart {
        rate: args.rate,
        seconds: args.seconds,
        connections: args.connections,
        restored_users,
        start_seconds,
        requests_due: out.due,
        answered_200: answered,
        other_status: other,
        failed,
        unsent,
        achieved_per_s: answered as f64 / out.elapsed.as_secs_f64().max(1e-9),
        latency_ms_p50: ms(&lat, 0.5),
        latency_ms_p90: ms(&lat, 0.9),
        latency_ms_p99: p99,
        latency_ms_p999: ms(&lat, 0.999),
        latency_ms_max: ms(&lat, 1.0),
        service_ms_p99: ms(&service, 0.99),
        p99_target_ms: args.p99_ms,
        held: p99 <= args.p99_ms && answered == out.due,
        decisions: Mix {
            allow: a.allow.saturating_sub(b.allow),
            challenge: a.challenge.saturating_sub(b.challenge),
            deny: a.deny.saturating_sub(b.deny),
        },
        auth_events_dropped: after.value("palisade_auth_events_dropped_total", None),
        floor_healthz: Floor {
            answered_200: floor_out.samples.iter().filter(|s| s.status == 200).count() as u64,
            latency_ms_p50: ms(&floor_lat, 0.5),
            latency_ms_p99: ms(&floor_lat, 0.99),
            latency_ms_p999: ms(&floor_lat, 0.999),
            latency_ms_max: ms(&floor_lat, 1.0),
        },
        serve_rss_mib: rss as f64 / MIB,
        serve_peak_rss_mib: peak as f64 / MIB,
        serve_cpu_seconds: cpu_after - cpu_before,
        errors: out.errors.into_iter().take(10).collect(),
    };
    eprintln!(
        "bench auth:   answered {}/{} at {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms; /healthz p50 {:.2} ms, p99 {:.2} ms",
        part.answered_200,
        part.requests_due,
        part.achieved_per_s,
        part.latency_ms_p50,
        part.latency_ms_p99,
        part.latency_ms_max,
        part.floor_healthz.latency_ms_p50,
        part.floor_healthz.latency_ms_p99,
    );
    child.stop(Duration::from_secs(60))?;
    Ok(part)
}

fn print_table(r: &Report) {
    println!("{} cores; load before the run {}", r.cores, r.load_before);
    let p = &r.in_process;
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["", "in process (1 thread)", "HTTP (palisade serve)"]);
    let h = r.http.as_ref();
    let or = |f: &dyn Fn(&HttpPart) -> String| h.map_or("-".to_string(), f);
    t.add_row(vec![
        "users with a profile".to_string(),
        p.users.to_string(),
        or(&|h| h.restored_users.to_string()),
    ]);
    t.add_row(vec![
        "load".to_string(),
        format!("{} assessments back to back", p.attempts),
        or(&|h| {
            format!(
                "{}/s for {} s, {} connections",
                h.rate, h.seconds, h.connections
            )
        }),
    ]);
    t.add_row(vec![
        "p50".to_string(),
        format!("{:.1} µs", p.latency_us_p50),
        or(&|h| format!("{:.2} ms", h.latency_ms_p50)),
    ]);
    t.add_row(vec![
        "p99 (target)".to_string(),
        format!(
            "{:.1} µs (≤ {} µs: {})",
            p.latency_us_p99,
            p.p99_target_us,
            if p.held { "met" } else { "NOT met" }
        ),
        or(&|h| {
            format!(
                "{:.2} ms (≤ {} ms: {})",
                h.latency_ms_p99,
                h.p99_target_ms,
                if h.held { "met" } else { "NOT met" }
            )
        }),
    ]);
    t.add_row(vec![
        "p99.9 / max".to_string(),
        format!("{:.1} / {:.1} µs", p.latency_us_p999, p.latency_us_max),
        or(&|h| format!("{:.2} / {:.1} ms", h.latency_ms_p999, h.latency_ms_max)),
    ]);
    t.add_row(vec![
        "allow / challenge / deny".to_string(),
        format!(
            "{} / {} / {}",
            p.decisions.allow, p.decisions.challenge, p.decisions.deny
        ),
        or(&|h| {
            format!(
                "{} / {} / {}",
                h.decisions.allow, h.decisions.challenge, h.decisions.deny
            )
        }),
    ]);
    t.add_row(vec![
        "memory".to_string(),
        format!(
            "{:.0} bytes per user ({:.0} MiB table)",
            p.bytes_per_user,
            p.profile_table_bytes as f64 / MIB
        ),
        or(&|h| {
            format!(
                "RSS {:.0} MiB (peak {:.0}), {:.1} s CPU",
                h.serve_rss_mib, h.serve_peak_rss_mib, h.serve_cpu_seconds
            )
        }),
    ]);
    if let Some(h) = h {
        let f = &h.floor_healthz;
        t.add_row(vec![
            "floor: GET /healthz, same load".to_string(),
            "-".to_string(),
            format!(
                "p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.1} ms",
                f.latency_ms_p50, f.latency_ms_p99, f.latency_ms_p999, f.latency_ms_max
            ),
        ]);
        t.add_row(vec![
            "errors".to_string(),
            "-".to_string(),
            format!(
                "{} failed, {} other status, {} unsent",
                h.failed, h.other_status, h.unsent
            ),
        ]);
    }
    println!("{t}");
}

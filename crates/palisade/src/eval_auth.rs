//! `palisade eval auth`: the risk engine's quality on a seeded login simulation (issue 8,
//! point 5), and the brute-forcing sources it finds in a real sshd log (`--openssh`).
//!
//! Protocol: attempts are replayed in time order; each is assessed (the decision), then its
//! outcome is reported as a login system would: a wrong password → `failure`; a right one →
//! `success` when allowed, `mfa_passed` when a legitimate user is challenged, `mfa_failed` when
//! an attacker is; a denied attempt reports nothing (it never reached the password check).
//! Week 1 is warm-up (baselines); every figure counts weeks 2.. only.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use clap::Args;
use palisade_auth::sim::{IpPools, Kind, Scenario, SimConfig};
use palisade_auth::{Assessment, Decision, Engine, Geo, Outcome, Policy, Request};
use serde::Serialize;

use crate::cli::OutputFormat;

const GEOIP_REL: &str = "geoip/ip-location-db/geo-whois-asn-country-ipv4.mmdb";

#[derive(Args)]
pub struct EvalAuthArgs {
    /// Simulation seed.
    #[arg(long, default_value_t = 8)]
    pub seed: u64,
    /// Simulated users.
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    /// Simulated weeks (the first is warm-up; figures come from the others). At least 2.
    #[arg(long, default_value_t = 4)]
    pub weeks: u32,
    /// Account-takeover attempts per week.
    #[arg(long, default_value_t = 20)]
    pub takeovers: u32,
    /// Impossible-travel attempts per week.
    #[arg(long, default_value_t = 10)]
    pub impossible_travel: u32,
    /// IP-to-country (or City) .mmdb database (default: shared/data/geoip/ip-location-db/
    /// geo-whois-asn-country-ipv4.mmdb found from PALISADE_DATA or above the working directory).
    #[arg(long, value_name = "FILE.mmdb")]
    pub geoip: Option<PathBuf>,
    /// Policy file (TOML or JSON); default: the engine's default policy. The simulator's VPN
    /// egress range is added to its `vpn_egress`.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Instead of simulating: replay an sshd log's Failed/Accepted lines and list the
    /// brute-forcing source IPs the engine flags.
    #[arg(long, value_name = "FILE")]
    pub openssh: Option<PathBuf>,
    /// Year of the sshd log's year-less syslog timestamps.
    #[arg(long, default_value_t = 2017)]
    pub year: i32,
    /// Output: table or json.
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// The default geolocation database: PALISADE_DATA, then `shared/data` in any ancestor.
pub(crate) fn find_geoip() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("PALISADE_DATA") {
        let p = Path::new(&d).join(GEOIP_REL);
        if p.is_file() {
            return Some(p);
        }
    }
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(|a| a.join("shared/data").join(GEOIP_REL))
        .find(|p| p.is_file())
}

fn open_geo(args: &EvalAuthArgs) -> Result<Option<(Geo, PathBuf)>> {
    let path = match &args.geoip {
        Some(p) => Some(p.clone()),
        None => find_geoip(),
    };
    match path {
        Some(p) => {
            let g = Geo::open(&p).with_context(|| format!("opening {}", p.display()))?;
            Ok(Some((g, p)))
        }
        None if ci() => bail!(
            "CI=true and the geolocation database {GEOIP_REL} was not found (PALISADE_DATA or shared/data above the working directory; or pass --geoip)"
        ),
        None => {
            eprintln!(
                "WARNING: no geolocation database ({GEOIP_REL}); running with synthetic addresses: \
                 country, travel and peer signals are silent and the figures are NOT representative. Pass --geoip."
            );
            Ok(None)
        }
    }
}

fn load_policy(args: &EvalAuthArgs) -> Result<Policy> {
    Ok(match &args.policy {
        Some(p) => Policy::load(p)?,
        None => Policy::default(),
    })
}

pub fn run(args: EvalAuthArgs) -> Result<u8> {
    if let Some(log) = &args.openssh {
        return openssh(&args, log).map(|()| 0);
    }
    simulate(&args).map(|()| 0)
}

/// Detection latency of a kind of campaign.
#[derive(Debug, Serialize, Default)]
struct Within {
    /// The largest "detected at attempt N" over detected campaigns (null when none was).
    max: Option<u32>,
    /// Per campaign (time order): the 1-based attempt of the campaign whose decision was the
    /// first challenge/deny carrying the campaign's signal; null when never.
    per_campaign: Vec<Option<u32>>,
    /// Per campaign: the 1-based attempt first challenged or denied for any reason (a campaign
    /// denied from its first attempt on other signals, e.g. a headless user agent from a new
    /// country, never reports failures, so its velocity signal never fires).
    first_challenged_any_signal: Vec<Option<u32>>,
    campaigns: usize,
    undetected: usize,
    attempts: usize,
}

#[derive(Debug, Serialize)]
struct Target {
    target: String,
    value: Option<f64>,
    met: bool,
}

#[derive(Debug, Serialize)]
struct Counts {
    attempts_total: usize,
    attempts_scored: usize,
    legit_logins: usize,
    legit_failed_passwords: usize,
    legit_denied: usize,
    takeover_attempts: usize,
    takeovers_allowed: usize,
    impossible_travel_attempts: usize,
    spraying_attempts: usize,
    stuffing_attempts: usize,
    brute_force_attempts: usize,
    trips: u32,
    new_phones: u32,
}

#[derive(Debug, Serialize)]
struct SimReport {
    seed: u64,
    settings: BTreeMap<String, serde_json::Value>,
    split: String,
    protocol: String,
    geoip: Option<String>,
    vpn_egress: String,
    ato_detection_rate: f64,
    ato_deny_rate: f64,
    legit_challenge_rate: f64,
    legit_deny_rate: f64,
    impossible_travel_detection_rate: f64,
    spraying_detected_within: Within,
    stuffing_detected_within: Within,
    brute_force_detected_within: Within,
    counts: Counts,
    /// Signals present on challenged/denied legitimate logins (count of logins).
    legit_challenge_signals: BTreeMap<String, usize>,
    /// Signals present on missed (allowed) takeover attempts.
    missed_takeover_signals: BTreeMap<String, usize>,
    targets: BTreeMap<String, Target>,
}

fn flagged(a: &Assessment) -> bool {
    a.decision != Decision::Allow
}

fn report_outcome(kind: Kind, password_ok: bool, d: Decision) -> Option<Outcome> {
    match (d, password_ok) {
        (Decision::Deny, _) => None,
        (_, false) => Some(Outcome::Failure),
        (Decision::Allow, true) => Some(Outcome::Success),
        (Decision::Challenge, true) if kind == Kind::Legit => Some(Outcome::MfaPassed),
        (Decision::Challenge, true) => Some(Outcome::MfaFailed),
    }
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

fn simulate(args: &EvalAuthArgs) -> Result<()> {
    if args.weeks < 2 {
        bail!("--weeks must be at least 2 (week 1 is warm-up)");
    }
    if args.users < 10 {
        bail!("--users must be at least 10");
    }
    let geo = open_geo(args)?;
    let pools = match &geo {
        Some((g, p)) => IpPools::from_geo(g, args.seed, 256)
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        None => IpPools::synthetic(args.seed, 256),
    };
    let config = SimConfig {
        seed: args.seed,
        users: args.users,
        weeks: args.weeks,
        takeovers_per_week: args.takeovers,
        impossible_travel_per_week: args.impossible_travel,
        ..SimConfig::default()
    };
    let scenario = Scenario::generate(&config, &pools);
    let mut policy = load_policy(args)?;
    policy.vpn_egress.push(scenario.vpn_egress.clone());
    let geo_path = geo.as_ref().map(|(_, p)| p.display().to_string());
    let mut engine = Engine::new(policy, geo.map(|(g, _)| g))?;
    let test_from = config.start + Duration::days(7);

    let mut legit = 0usize;
    let mut legit_flagged = 0usize;
    let mut legit_denied = 0usize;
    let mut legit_failed = 0usize;
    let mut legit_signals: BTreeMap<String, usize> = BTreeMap::new();
    let (mut ato, mut ato_flagged, mut ato_denied, mut ato_allowed) = (0, 0, 0, 0);
    let mut missed_signals: BTreeMap<String, usize> = BTreeMap::new();
    let (mut travel, mut travel_flagged) = (0usize, 0usize);
    // (kind, campaign) → (start, attempts so far, detected at).
    #[allow(clippy::type_complexity)]
    let mut campaigns: BTreeMap<(Kind, u32), (DateTime<Utc>, u32, Option<u32>, Option<u32>)> =
        BTreeMap::new();
    let mut scored = 0usize;

    for at in &scenario.attempts {
        let req = Request {
            user: at.user.clone(),
            ip: at.ip,
            user_agent: at.user_agent.clone(),
            device_id: at.device_id.clone(),
            timestamp: at.ts,
            app: None,
            outcome: None,
        };
        let a = engine.assess(&req);
        if let Some(o) = report_outcome(at.kind, at.password_ok, a.decision) {
            engine.outcome(&req, o);
        }
        let campaign_signal: &[&str] = match at.kind {
            Kind::Spraying => &["password_spraying"],
            Kind::Stuffing => &["credential_stuffing"],
            Kind::BruteForce => &["user_failures", "ip_failures"],
            _ => &[],
        };
        if !campaign_signal.is_empty() {
            let c = campaigns
                .entry((at.kind, at.campaign))
                .or_insert((at.ts, 0, None, None));
            c.1 += 1;
            if c.2.is_none() && flagged(&a) && campaign_signal.iter().any(|s| a.has(s)) {
                c.2 = Some(c.1);
            }
            if c.3.is_none() && flagged(&a) {
                c.3 = Some(c.1);
            }
            if c.0 >= test_from {
                scored += 1;
            }
            continue;
        }
        if at.ts < test_from {
            continue;
        }
        scored += 1;
        match at.kind {
            Kind::Legit => {
                legit += 1;
                legit_failed += usize::from(!at.password_ok);
                if flagged(&a) {
                    legit_flagged += 1;
                    legit_denied += usize::from(a.decision == Decision::Deny);
                    for r in &a.reasons {
                        *legit_signals.entry(r.signal.clone()).or_default() += 1;
                    }
                }
            }
            Kind::Takeover => {
                ato += 1;
                if flagged(&a) {
                    ato_flagged += 1;
                    ato_denied += usize::from(a.decision == Decision::Deny);
                } else {
                    ato_allowed += 1;
                    for r in &a.reasons {
                        *missed_signals.entry(r.signal.clone()).or_default() += 1;
                    }
                    if a.reasons.is_empty() {
                        *missed_signals.entry("(none)".into()).or_default() += 1;
                    }
                }
            }
            Kind::ImpossibleTravel => {
                travel += 1;
                travel_flagged += usize::from(flagged(&a));
            }
            _ => {}
        }
    }

    let within = |kind: Kind| {
        let mut w = Within::default();
        for ((k, _), (start, n, det, any)) in &campaigns {
            if *k != kind || *start < test_from {
                continue;
            }
            w.campaigns += 1;
            w.attempts += *n as usize;
            w.per_campaign.push(*det);
            w.first_challenged_any_signal.push(*any);
            match det {
                Some(d) => w.max = Some(w.max.unwrap_or(0).max(*d)),
                None => w.undetected += 1,
            }
        }
        w
    };
    let spraying = within(Kind::Spraying);
    let stuffing = within(Kind::Stuffing);
    let brute = within(Kind::BruteForce);
    let ato_rate = ratio(ato_flagged, ato);
    let legit_rate = ratio(legit_flagged, legit);
    let mut targets = BTreeMap::new();
    targets.insert(
        "ato_detection_rate".into(),
        Target {
            target: ">= 0.95".into(),
            value: Some(ato_rate),
            met: ato_rate >= 0.95,
        },
    );
    targets.insert(
        "legit_challenge_rate".into(),
        Target {
            target: "<= 0.02".into(),
            value: Some(legit_rate),
            met: legit_rate <= 0.02,
        },
    );
    for (name, w) in [("spraying", &spraying), ("stuffing", &stuffing)] {
        targets.insert(
            format!("{name}_detected_within"),
            Target {
                target: "every campaign within its first 50 attempts".into(),
                value: w.max.map(f64::from),
                met: w.campaigns > 0 && w.undetected == 0 && w.max.is_some_and(|m| m <= 50),
            },
        );
    }
    let count_kind = |k: Kind| {
        campaigns
            .iter()
            .filter(|((kk, _), (s, _, _, _))| *kk == k && *s >= test_from)
            .map(|(_, (_, n, _, _))| *n as usize)
            .sum::<usize>()
    };
    let mut settings = BTreeMap::new();
    for (k, v) in [
        ("users", serde_json::json!(config.users)),
        ("weeks", serde_json::json!(config.weeks)),
        ("start", serde_json::json!(config.start.to_rfc3339())),
        (
            "takeovers_per_week",
            serde_json::json!(config.takeovers_per_week),
        ),
        ("sprays_per_week", serde_json::json!(config.sprays_per_week)),
        (
            "stuffings_per_week",
            serde_json::json!(config.stuffings_per_week),
        ),
        (
            "impossible_travel_per_week",
            serde_json::json!(config.impossible_travel_per_week),
        ),
        (
            "brute_force_per_week",
            serde_json::json!(config.brute_force_per_week),
        ),
        ("vpn_share", serde_json::json!(config.vpn_share)),
        (
            "trip_chance_per_week",
            serde_json::json!(config.trip_chance),
        ),
        (
            "new_phone_chance_per_week",
            serde_json::json!(config.new_phone_chance),
        ),
        ("mistype_chance", serde_json::json!(config.mistype_chance)),
        (
            "policy",
            serde_json::json!(
                args.policy
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "default".into())
            ),
        ),
        ("geo_addresses_sampled", serde_json::json!(pools.sampled)),
    ] {
        settings.insert(k.to_string(), v);
    }
    let report = SimReport {
        seed: config.seed,
        settings,
        split: format!(
            "week 1 ({} .. {}) is warm-up (baselines, not scored); figures come from weeks 2..{} only; campaigns are scored by the week they start in",
            config.start.date_naive(),
            test_from.date_naive(),
            config.weeks
        ),
        protocol: "time-ordered replay: assess, then outcome as a login system reports it (wrong password → failure; right → success when allowed, mfa_passed for a challenged legitimate user, mfa_failed for a challenged attacker; deny → nothing)".into(),
        geoip: geo_path,
        vpn_egress: scenario.vpn_egress.clone(),
        ato_detection_rate: ato_rate,
        ato_deny_rate: ratio(ato_denied, ato),
        legit_challenge_rate: legit_rate,
        legit_deny_rate: ratio(legit_denied, legit),
        impossible_travel_detection_rate: ratio(travel_flagged, travel),
        counts: Counts {
            attempts_total: scenario.attempts.len(),
            attempts_scored: scored,
            legit_logins: legit,
            legit_failed_passwords: legit_failed,
            legit_denied,
            takeover_attempts: ato,
            takeovers_allowed: ato_allowed,
            impossible_travel_attempts: travel,
            spraying_attempts: count_kind(Kind::Spraying),
            stuffing_attempts: count_kind(Kind::Stuffing),
            brute_force_attempts: count_kind(Kind::BruteForce),
            trips: scenario.trips,
            new_phones: scenario.new_phones,
        },
        spraying_detected_within: spraying,
        stuffing_detected_within: stuffing,
        brute_force_detected_within: brute,
        legit_challenge_signals: legit_signals,
        missed_takeover_signals: missed_signals,
        targets,
    };
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        _ => print_sim(&report),
    }
    Ok(())
}

fn pct(v: f64) -> String {
    format!("{:.2} %", v * 100.0)
}

fn within_str(w: &Within) -> String {
    let list = |l: &[Option<u32>]| {
        l.iter()
            .map(|d| d.map_or("never".into(), |d| d.to_string()))
            .collect::<Vec<String>>()
            .join(", ")
    };
    format!(
        "max {} over {} campaigns [{}]; any signal [{}]",
        w.max.map_or("-".into(), |m| m.to_string()),
        w.campaigns,
        list(&w.per_campaign),
        list(&w.first_challenged_any_signal)
    )
}

fn print_sim(r: &SimReport) {
    let met = |k: &str| match r.targets.get(k) {
        Some(t) if t.met => format!("  (target {}: met)", t.target),
        Some(t) => format!("  (target {}: NOT met)", t.target),
        None => String::new(),
    };
    println!(
        "palisade eval auth — seed {}, {} users, {} weeks",
        r.seed, r.settings["users"], r.settings["weeks"]
    );
    println!("split: {}", r.split);
    println!(
        "geoip: {}",
        r.geoip.as_deref().unwrap_or("NONE (synthetic addresses)")
    );
    println!("vpn egress: {}", r.vpn_egress);
    println!();
    let c = &r.counts;
    let rows = [
        (
            "takeovers challenged/denied",
            format!(
                "{} of {}{}",
                pct(r.ato_detection_rate),
                c.takeover_attempts,
                met("ato_detection_rate")
            ),
        ),
        ("takeovers denied", pct(r.ato_deny_rate)),
        (
            "legit logins challenged/denied",
            format!(
                "{} of {}{}",
                pct(r.legit_challenge_rate),
                c.legit_logins,
                met("legit_challenge_rate")
            ),
        ),
        ("legit logins denied", pct(r.legit_deny_rate)),
        (
            "impossible travel challenged/denied",
            format!(
                "{} of {}",
                pct(r.impossible_travel_detection_rate),
                c.impossible_travel_attempts
            ),
        ),
        (
            "spraying detected at attempt",
            format!(
                "{}{}",
                within_str(&r.spraying_detected_within),
                met("spraying_detected_within")
            ),
        ),
        (
            "stuffing detected at attempt",
            format!(
                "{}{}",
                within_str(&r.stuffing_detected_within),
                met("stuffing_detected_within")
            ),
        ),
        (
            "brute force detected at attempt",
            within_str(&r.brute_force_detected_within),
        ),
    ];
    for (k, v) in rows {
        println!("{k:<38} {v}");
    }
    println!();
    println!(
        "attempts: {} generated, {} scored; spraying {}, stuffing {}, brute force {}; {} trips, {} new phones",
        c.attempts_total,
        c.attempts_scored,
        c.spraying_attempts,
        c.stuffing_attempts,
        c.brute_force_attempts,
        c.trips,
        c.new_phones
    );
    let sig = |m: &BTreeMap<String, usize>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "signals on challenged legit logins: {}",
        sig(&r.legit_challenge_signals)
    );
    println!(
        "signals on missed takeovers: {}",
        sig(&r.missed_takeover_signals)
    );
}

// ---------------------------------------------------------------- OpenSSH

/// One sshd authentication line: (time, user, ip, success, repeat count).
fn parse_sshd(line: &str, year: i32) -> Option<(DateTime<Utc>, String, IpAddr, bool, u32)> {
    let mut it = line.splitn(4, ' ');
    let (mon, day, time) = (it.next()?, it.next()?, it.next()?);
    let rest = it.next()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == mon)? as u32
        + 1;
    let date = NaiveDate::from_ymd_opt(year, month, day.trim().parse().ok()?)?;
    let t = chrono::NaiveTime::parse_from_str(time, "%H:%M:%S").ok()?;
    let ts = Utc.from_utc_datetime(&date.and_time(t));
    let (repeat, body) = match rest.find("message repeated ") {
        Some(i) => {
            let r = &rest[i + "message repeated ".len()..];
            let n: u32 = r.split(' ').next()?.parse().ok()?;
            (n, &r[r.find('[')? + 1..])
        }
        None => (1, rest),
    };
    let (ok, after) = if let Some(i) = body.find("Failed ") {
        (false, &body[i + 7..])
    } else if let Some(i) = body.find("Accepted ") {
        (true, &body[i + 9..])
    } else {
        return None;
    };
    // "<method> for [invalid user ]<user> from <ip> port ..."
    let after = &after[after.find(" for ")? + 5..];
    let after = after.strip_prefix("invalid user ").unwrap_or(after);
    let from = after.rfind(" from ")?;
    let user = after[..from].to_string();
    let ip: IpAddr = after[from + 6..].split(' ').next()?.parse().ok()?;
    Some((ts, user, ip, ok, repeat))
}

#[derive(Debug, Serialize)]
struct SshIp {
    ip: String,
    country: Option<String>,
    attempts: u32,
    failures: u32,
    successes: u32,
    users: usize,
    /// 1-based attempt from this IP whose decision first was a challenge/deny with a
    /// brute-force signal; null when never.
    first_flagged_at_attempt: Option<u32>,
    signals: Vec<String>,
}

#[derive(Debug, Serialize)]
struct SshReport {
    file: String,
    year: i32,
    lines: usize,
    auth_events: u32,
    source_ips: usize,
    brute_forcing_ips: Vec<SshIp>,
    geoip: Option<String>,
}

fn openssh(args: &EvalAuthArgs, path: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let geo = open_geo(args)?;
    let geo_path = geo.as_ref().map(|(_, p)| p.display().to_string());
    let mut engine = Engine::new(load_policy(args)?, geo.map(|(g, _)| g))?;
    let brute = [
        "user_failures",
        "ip_failures",
        "password_spraying",
        "credential_stuffing",
    ];
    struct Acc {
        attempts: u32,
        failures: u32,
        successes: u32,
        users: std::collections::BTreeSet<String>,
        first: Option<u32>,
        signals: std::collections::BTreeSet<String>,
    }
    let mut per: BTreeMap<IpAddr, Acc> = BTreeMap::new();
    let (mut year, mut last_month, mut events, mut lines) = (args.year, 0u32, 0u32, 0usize);
    for line in text.lines() {
        lines += 1;
        let Some((mut ts, user, ip, ok, repeat)) = parse_sshd(line, year) else {
            continue;
        };
        if ts.month() < last_month {
            year += 1;
            ts = parse_sshd(line, year).map(|p| p.0).unwrap_or(ts);
        }
        last_month = ts.month();
        for _ in 0..repeat {
            events += 1;
            let req = Request {
                user: user.clone(),
                ip,
                user_agent: "OpenSSH".into(),
                device_id: None,
                timestamp: ts,
                app: Some("sshd".into()),
                outcome: None,
            };
            let a = engine.assess(&req);
            engine.outcome(
                &req,
                if ok {
                    Outcome::Success
                } else {
                    Outcome::Failure
                },
            );
            let e = per.entry(ip).or_insert(Acc {
                attempts: 0,
                failures: 0,
                successes: 0,
                users: Default::default(),
                first: None,
                signals: Default::default(),
            });
            e.attempts += 1;
            e.failures += u32::from(!ok);
            e.successes += u32::from(ok);
            e.users.insert(user.clone());
            let hits: Vec<&str> = brute.iter().copied().filter(|s| a.has(s)).collect();
            if flagged(&a) && !hits.is_empty() {
                if e.first.is_none() {
                    e.first = Some(e.attempts);
                }
                e.signals.extend(hits.iter().map(|s| s.to_string()));
            }
        }
    }
    if events == 0 {
        bail!("{}: no sshd Failed/Accepted lines", path.display());
    }
    let geo_ref = engine_geo(&geo_path)?;
    let mut flagged_ips: Vec<SshIp> = per
        .iter()
        .filter(|(_, a)| a.first.is_some())
        .map(|(ip, a)| SshIp {
            ip: ip.to_string(),
            country: geo_ref
                .as_ref()
                .and_then(|g| g.lookup(*ip).ok())
                .and_then(|i| i.country)
                .map(|c| String::from_utf8_lossy(&c).into_owned()),
            attempts: a.attempts,
            failures: a.failures,
            successes: a.successes,
            users: a.users.len(),
            first_flagged_at_attempt: a.first,
            signals: a.signals.iter().cloned().collect(),
        })
        .collect();
    flagged_ips.sort_by(|a, b| b.attempts.cmp(&a.attempts).then(a.ip.cmp(&b.ip)));
    let report = SshReport {
        file: path.display().to_string(),
        year: args.year,
        lines,
        auth_events: events,
        source_ips: per.len(),
        brute_forcing_ips: flagged_ips,
        geoip: geo_path,
    };
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        _ => {
            println!(
                "{}: {} lines, {} authentication attempts from {} source IPs (year {} assumed; policy {})",
                report.file,
                report.lines,
                report.auth_events,
                report.source_ips,
                report.year,
                args.policy
                    .as_ref()
                    .map_or("default".into(), |p| p.display().to_string())
            );
            println!(
                "brute-forcing source IPs flagged (challenge/deny with a velocity signal): {}",
                report.brute_forcing_ips.len()
            );
            println!(
                "{:<18} {:<7} {:>8} {:>8} {:>9} {:>6} {:>13}  signals",
                "ip", "country", "attempts", "failures", "successes", "users", "flagged at #"
            );
            for i in &report.brute_forcing_ips {
                println!(
                    "{:<18} {:<7} {:>8} {:>8} {:>9} {:>6} {:>13}  {}",
                    i.ip,
                    i.country.as_deref().unwrap_or("-"),
                    i.attempts,
                    i.failures,
                    i.successes,
                    i.users,
                    i.first_flagged_at_attempt.unwrap_or(0),
                    i.signals.join(", ")
                );
            }
        }
    }
    Ok(())
}

/// A second handle on the database for the report's country column.
fn engine_geo(path: &Option<String>) -> Result<Option<Geo>> {
    Ok(match path {
        Some(p) => Some(Geo::open(p)?),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sshd_lines() {
        let l = "Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2";
        let (ts, u, ip, ok, n) = parse_sshd(l, 2017).unwrap();
        assert_eq!(ts.to_rfc3339(), "2017-12-10T06:55:48+00:00");
        assert_eq!(
            (u.as_str(), ip.to_string().as_str(), ok, n),
            ("webmaster", "173.234.31.186", false, 1)
        );
        let l = "Dec 10 07:13:56 LabSZ sshd[24227]: message repeated 5 times: [ Failed password for root from 5.36.59.76 port 42393 ssh2]";
        let (_, u, _, ok, n) = parse_sshd(l, 2017).unwrap();
        assert_eq!((u.as_str(), ok, n), ("root", false, 5));
        let l = "Dec 10 09:32:20 LabSZ sshd[24680]: Accepted password for fztu from 119.137.62.142 port 49116 ssh2";
        assert!(parse_sshd(l, 2017).unwrap().3);
        assert!(
            parse_sshd(
                "Dec 10 07:02:47 LabSZ sshd[24203]: Connection closed by 212.47.254.145 [preauth]",
                2017
            )
            .is_none()
        );
    }
}

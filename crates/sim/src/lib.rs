//! A built-in simulator of a small organisation's logs, for `palisade demo`.
//!
//! [`Simulator`] is an endless, deterministic stream of [`SimRecord`]s: raw log lines in the
//! formats Palisade's ingest parses (evtx_dump JSON for Sysmon and the Security log, syslog for
//! sshd, ECS NDJSON for cloud sign-ins, Zeek JSON for `conn`/`dns`/`http`/`ssl`), in
//! non-decreasing time order, each labelled with the scripted attack it belongs to, if any.
//! The demo feeds these lines through the normal ingest path; the labels are ground truth for
//! tests and never reach the detectors.
//!
//! **Benign background** ([`background`]): twenty people ([`org::USERS`]) — ten at Windows
//! workstations, two of whom administer five Linux servers over SSH, ten remote — working
//! Monday to Friday from about 08:00 local time with daily variance, occasional days off and
//! business trips; their logons, process starts, sign-ins, DNS lookups and web/TLS sessions;
//! the machines' own activity (Windows services, cron, NTP, package updates) around the clock;
//! and the internet's SSH scanners knocking on the bastion host now and then.
//!
//! **Attacks** ([`attacks`]): a scripted campaign of seven attacks ([`Attack`]) that begins
//! after [`SimConfig::history`] of benign activity (so learned baselines are warm) and repeats
//! every [`SimConfig::repeat_every`] of simulated time (or runs once), each repetition with
//! other victims and attacker addresses drawn from the seed.
//!
//! **Memory** is bounded: the stream is produced one simulated hour at a time, plus the records
//! of the current campaign that lie in the future (a few thousand).
//!
//! The crate does no I/O except [`dump`], which writes a stretch of the stream to files.

pub mod attacks;
pub mod background;
mod dump;
pub mod org;
pub mod render;

use std::collections::VecDeque;

use chrono::{DateTime, Duration, TimeZone, Utc};
use palisade_ingest::Format;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

pub use attacks::Attack;
pub use dump::{DumpSummary, dump, dump_chunked};

/// Which log a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Sysmon process creation (event 1) on the Windows workstations, evtx_dump JSON.
    Sysmon,
    /// The domain controller's Security log (logons, 4624), evtx_dump JSON.
    WinSecurity,
    /// Sign-ins to the cloud identity provider, ECS NDJSON with source geo.
    Sso,
    /// sshd and cron on the Linux servers, syslog.
    Sshd,
    ZeekConn,
    ZeekDns,
    ZeekHttp,
    ZeekSsl,
}

impl Source {
    pub const ALL: [Source; 8] = [
        Source::Sysmon,
        Source::WinSecurity,
        Source::Sso,
        Source::Sshd,
        Source::ZeekConn,
        Source::ZeekDns,
        Source::ZeekHttp,
        Source::ZeekSsl,
    ];

    /// `sim/sysmon`, `sim/zeek-conn`, …
    pub fn name(self) -> &'static str {
        match self {
            Source::Sysmon => "sim/sysmon",
            Source::WinSecurity => "sim/winsec",
            Source::Sso => "sim/sso",
            Source::Sshd => "sim/sshd",
            Source::ZeekConn => "sim/zeek-conn",
            Source::ZeekDns => "sim/zeek-dns",
            Source::ZeekHttp => "sim/zeek-http",
            Source::ZeekSsl => "sim/zeek-ssl",
        }
    }

    /// The format Palisade's ingest reads the lines with.
    pub fn format(self) -> Format {
        match self {
            Source::Sysmon | Source::WinSecurity | Source::Sso => Format::Json,
            Source::Sshd => Format::Syslog,
            Source::ZeekConn | Source::ZeekDns | Source::ZeekHttp | Source::ZeekSsl => Format::Zeek,
        }
    }

    /// The file [`dump`] writes the source's lines to: one file per format, so that the
    /// lines of one format stay in time order when a reader takes files one at a time
    /// (`palisade hunt` feeds its learned baselines file by file).
    pub fn file_name(self) -> &'static str {
        match self.format() {
            Format::Syslog => "auth.log",
            Format::Zeek => "zeek.json",
            _ => "events.ndjson",
        }
    }
}

/// One raw log line of the simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRecord {
    /// When it happened (the time written in the line).
    pub time: DateTime<Utc>,
    pub source: Source,
    /// `source.format()`, for the ingest path.
    pub format: Format,
    /// The line, without a newline.
    pub line: String,
    /// Ground truth: the scripted attack this line is part of; `None` for benign background.
    pub attack: Option<Attack>,
}

/// Settings of a simulation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Everything random (timing, volumes, victims, attacker addresses) follows from it.
    pub seed: u64,
    /// The first instant simulated.
    pub start: DateTime<Utc>,
    /// Benign activity before the first attack campaign. Palisade's learned detectors need it
    /// to warm up: UEBA alerts on an entity only after 7 days of its history, the anomaly
    /// models after 2,000 rows of a kind. Default 8 days.
    pub history: Duration,
    /// The campaign repeats this long after the previous one began (with new victims and
    /// addresses); `None` runs it once. Must be at least [`attacks::CAMPAIGN_SPAN`] so that
    /// campaigns do not overlap. Default one day.
    pub repeat_every: Option<Duration>,
    /// The organisation's local time zone as a fixed offset from UTC, in hours (working
    /// hours are local). Default +1.
    pub utc_offset_hours: i32,
}

impl Default for SimConfig {
    /// Starts on Monday 2025-03-03 at local midnight (UTC+1); the first campaign runs on
    /// Tuesday of the following week.
    fn default() -> Self {
        SimConfig {
            seed: 1,
            start: Utc
                .with_ymd_and_hms(2025, 3, 2, 23, 0, 0)
                .single()
                .unwrap_or_default(),
            history: Duration::days(8),
            repeat_every: Some(Duration::days(1)),
            utc_offset_hours: 1,
        }
    }
}

impl SimConfig {
    /// When campaign `n` (0-based) begins, if it exists.
    pub fn campaign_start(&self, n: u64) -> Option<DateTime<Utc>> {
        let first = self.start + self.history;
        match self.repeat_every {
            None if n > 0 => None,
            None => Some(first),
            Some(every) => {
                let every = every.max(attacks::CAMPAIGN_SPAN);
                Some(first + every * i32::try_from(n).ok()?)
            }
        }
    }

    fn offset(&self) -> Duration {
        Duration::hours(i64::from(self.utc_offset_hours))
    }
}

/// A random generator for one part of the simulation, seeded from the configuration's seed
/// and the part's coordinates (stream, hour, entity…), so any part can be produced on its own
/// and the whole is deterministic.
pub(crate) fn rng_for(seed: u64, parts: &[u64]) -> Xoshiro256PlusPlus {
    // SplitMix64 over the parts.
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    for p in parts {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15) ^ p.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
    }
    Xoshiro256PlusPlus::seed_from_u64(x)
}

/// Collects the records of one stretch of simulated time.
pub(crate) struct Out {
    pub records: Vec<SimRecord>,
    /// The attack label given to what is pushed.
    pub attack: Option<Attack>,
}

impl Out {
    pub fn push(&mut self, time: DateTime<Utc>, source: Source, line: String) {
        self.records.push(SimRecord {
            time,
            source,
            format: source.format(),
            line,
            attack: self.attack,
        });
    }
}

/// The endless stream of simulated records; see the [crate docs](crate).
pub struct Simulator {
    cfg: SimConfig,
    /// Next simulated hour to produce (0 = the hour starting at `cfg.start`).
    hour: i64,
    ready: VecDeque<SimRecord>,
    /// Records produced ahead of their hour (campaign scripts, sequences running past the end
    /// of the hour that started them), sorted by time, latest first.
    future: Vec<SimRecord>,
    next_campaign: u64,
}

impl Simulator {
    pub fn new(cfg: SimConfig) -> Self {
        Simulator {
            cfg,
            hour: 0,
            ready: VecDeque::new(),
            future: Vec::new(),
            next_campaign: 0,
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Produces the next simulated hour into `ready`.
    fn produce_hour(&mut self) {
        let t0 = self.cfg.start + Duration::hours(self.hour);
        let t1 = t0 + Duration::hours(1);
        let mut out = Out {
            records: Vec::new(),
            attack: None,
        };
        while let Some(cs) = self.cfg.campaign_start(self.next_campaign)
            && cs < t1
        {
            attacks::campaign(&self.cfg, self.next_campaign, cs, &mut out);
            self.next_campaign += 1;
        }
        out.attack = None;
        background::hour(&self.cfg, self.hour, t0, &mut out);
        // Everything at or after the end of the hour waits in `future`.
        let (now, later): (Vec<_>, Vec<_>) = out.records.into_iter().partition(|r| r.time < t1);
        if !later.is_empty() {
            self.future.extend(later);
            self.future.sort_by_key(|r| std::cmp::Reverse(r.time));
        }
        let mut now = now;
        while self.future.last().is_some_and(|r| r.time < t1) {
            now.extend(self.future.pop());
        }
        now.sort_by_key(|r| r.time);
        self.ready.extend(now);
        self.hour += 1;
    }
}

impl Iterator for Simulator {
    type Item = SimRecord;

    fn next(&mut self) -> Option<SimRecord> {
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Some(r);
            }
            self.produce_hour();
        }
    }
}

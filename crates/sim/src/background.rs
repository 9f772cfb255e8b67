//! Benign background: what the organisation in [`crate::org`] does in one simulated hour.
//!
//! Every hour is produced on its own from generators seeded by (seed, stream, hour) and a
//! person's day from (seed, day, person), so the stream is deterministic and needs no state
//! between hours. Sequences that start in an hour may run past its end (an SSH session's
//! close); [`crate::Simulator`] holds those lines back until their time.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use rand::Rng;

use crate::org::{
    self, DC, DNS_SERVER, HOME_CITY, HOME_COUNTRY, MIRROR, OFFICE_PUBLIC_IP, SERVERS, SITES, Site,
    User, WORKSTATIONS,
};
use crate::render::{self, Conn, Endpoints, Place, ProcessStart};
use crate::{Out, SimConfig, Source, rng_for};

/// Stream numbers for [`rng_for`].
const STREAM_DAY: u64 = 1;
const STREAM_USER_HOUR: u64 = 2;
const STREAM_MACHINE_HOUR: u64 = 3;
const STREAM_NOISE_HOUR: u64 = 4;

/// A person's working day.
#[derive(Debug, Clone, Copy)]
pub struct Workday {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Where they sign in from when not at the office or home (a business trip).
    pub away: Option<(&'static str, &'static str, &'static str)>,
}

/// The local midnight starting the local date `date`, in UTC.
fn local_midnight(cfg: &SimConfig, date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default()) - cfg.offset()
}

/// Local date of an instant.
pub(crate) fn local_date(cfg: &SimConfig, t: DateTime<Utc>) -> NaiveDate {
    (t + cfg.offset()).date_naive()
}

/// Person `idx`'s working day on local date `date`: Monday to Friday, starting around their
/// usual time (±30 min), lasting their usual hours (±30 min); one day in twenty off; people
/// who travel are away one working day in five.
pub fn workday(cfg: &SimConfig, idx: usize, date: NaiveDate) -> Option<Workday> {
    if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        return None;
    }
    let user = &org::USERS[idx];
    let day = u64::try_from(date.num_days_from_ce()).unwrap_or_default();
    let mut rng = rng_for(cfg.seed, &[STREAM_DAY, day, idx as u64]);
    let off = rng.random_bool(0.05);
    let jitter = rng.random_range(-30..=30i64);
    let length = user.hours * 60.0 + rng.random_range(-30.0..30.0);
    let away = user.travels_to.filter(|_| rng.random_bool(0.2));
    if off {
        return None;
    }
    let start =
        local_midnight(cfg, date) + Duration::minutes(8 * 60 + user.start_offset_min + jitter);
    Some(Workday {
        start,
        end: start + Duration::minutes(length as i64),
        away,
    })
}

/// An instant drawn uniformly from `[a, b)`.
pub(crate) fn between(rng: &mut impl Rng, a: DateTime<Utc>, b: DateTime<Utc>) -> DateTime<Utc> {
    let span = (b - a).num_microseconds().unwrap_or(0).max(1);
    a + Duration::microseconds(rng.random_range(0..span))
}

/// A Poisson draw (Knuth; the rates here are small).
pub(crate) fn poisson(rng: &mut impl Rng, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    let l = (-lambda).exp();
    let (mut k, mut p) = (0u32, 1.0f64);
    loop {
        p *= rng.random::<f64>();
        if p <= l || k > 1000 {
            return k;
        }
        k += 1;
    }
}

/// A log-normal draw with the given median and spread (σ of the log).
pub(crate) fn lognormal(rng: &mut impl Rng, median: f64, sigma: f64) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    median * (sigma * z).exp()
}

pub(crate) fn ephemeral_port(rng: &mut impl Rng) -> u16 {
    rng.random_range(49152..=65535)
}

fn ms(n: i64) -> Duration {
    Duration::milliseconds(n)
}

fn pick_site(rng: &mut impl Rng) -> &'static Site {
    let total: u32 = SITES.iter().map(|s| s.weight).sum();
    let mut x = rng.random_range(0..total);
    for s in &SITES {
        if x < s.weight {
            return s;
        }
        x -= s.weight;
    }
    &SITES[0]
}

/// A DNS lookup of `name` by `client` through the internal resolver: the `conn` and `dns`
/// records.
pub(crate) fn dns_lookup(
    rng: &mut impl Rng,
    out: &mut Out,
    t: DateTime<Utc>,
    client: &str,
    name: &str,
    answer: &str,
) {
    let ends = Endpoints {
        orig: client,
        orig_p: ephemeral_port(rng),
        resp: DNS_SERVER,
        resp_p: 53,
    };
    let uid = render::zeek_uid(rng);
    let rtt = rng.random_range(0.0008..0.03);
    let q = name.len() as u64 + 18;
    let conn = Conn::udp(ends, Some("dns"), rtt, q, q + 16);
    out.push(t, Source::ZeekConn, conn.line(&uid, t));
    let ttl = [60.0, 300.0, 3600.0][rng.random_range(0..3)];
    let line = render::zeek_dns(&uid, t, ends, rng.random(), name, answer, ttl);
    out.push(t, Source::ZeekDns, line);
}

/// A visit to a web site: often a DNS lookup first, then one HTTPS (or HTTP) session.
pub(crate) fn web_visit(
    rng: &mut impl Rng,
    out: &mut Out,
    t: DateTime<Utc>,
    client: &str,
    site: &Site,
    user_agent: &str,
) {
    let mut t = t;
    if rng.random_bool(0.5) {
        dns_lookup(rng, out, t, client, site.domain, site.ip);
        t += ms(rng.random_range(5..60));
    }
    let port = if site.tls { 443 } else { 80 };
    let ends = Endpoints {
        orig: client,
        orig_p: ephemeral_port(rng),
        resp: site.ip,
        resp_p: port,
    };
    let uid = render::zeek_uid(rng);
    let up = lognormal(rng, 1_800.0, 0.8) as u64 + 300;
    let down = lognormal(rng, 40_000.0, 1.4) as u64 + 500;
    let duration = lognormal(rng, 2.0, 1.2);
    let service = if site.tls { "ssl" } else { "http" };
    let conn = Conn::tcp(ends, Some(service), duration, up, down);
    out.push(t, Source::ZeekConn, conn.line(&uid, t));
    if site.tls {
        let line = render::zeek_ssl(&uid, t + ms(40), ends, site.domain, rng.random_bool(0.3));
        out.push(t + ms(40), Source::ZeekSsl, line);
    } else {
        let uri =
            ["/", "/index.html", "/news", "/static/app.js", "/api/status"][rng.random_range(0..5)];
        let line = render::zeek_http(
            &uid,
            t + ms(20),
            ends,
            "GET",
            site.domain,
            uri,
            user_agent,
            200,
            down,
        );
        out.push(t + ms(20), Source::ZeekHttp, line);
    }
}

/// Applications people start from the desktop: image, command line, relative frequency.
const DESKTOP_APPS: [(&str, &str, u32); 9] = [
    (
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        r#""C:\Program Files\Google\Chrome\Application\chrome.exe""#,
        8,
    ),
    (
        r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE",
        r#""C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE""#,
        5,
    ),
    (
        r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
        r#""C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE""#,
        5,
    ),
    (
        r"C:\Windows\System32\notepad.exe",
        r#""C:\Windows\System32\notepad.exe""#,
        3,
    ),
    (
        r"C:\Program Files\Adobe\Acrobat DC\Acrobat\Acrobat.exe",
        r#""C:\Program Files\Adobe\Acrobat DC\Acrobat\Acrobat.exe""#,
        3,
    ),
    (
        r"C:\Windows\System32\SnippingTool.exe",
        r#""C:\Windows\System32\SnippingTool.exe""#,
        1,
    ),
    (
        r"C:\Windows\System32\calc.exe",
        r#""C:\Windows\System32\calc.exe""#,
        1,
    ),
    (
        r"C:\Program Files\Microsoft Office\root\Office16\POWERPNT.EXE",
        r#""C:\Program Files\Microsoft Office\root\Office16\POWERPNT.EXE""#,
        2,
    ),
    (
        r"C:\Windows\System32\mstsc.exe",
        r#""C:\Windows\System32\mstsc.exe""#,
        1,
    ),
];

/// What administrators also start: shells for their daily work.
const ADMIN_APPS: [(&str, &str); 3] = [
    (
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        r#""C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe""#,
    ),
    (
        r"C:\Windows\System32\cmd.exe",
        r#""C:\Windows\system32\cmd.exe""#,
    ),
    (
        r"C:\Program Files\PuTTY\putty.exe",
        r#""C:\Program Files\PuTTY\putty.exe""#,
    ),
];

/// Windows' own process starts: image, command line, parent image.
const SYSTEM_PROCS: [(&str, &str, &str); 6] = [
    (
        r"C:\Windows\System32\svchost.exe",
        r"C:\Windows\system32\svchost.exe -k netsvcs -p -s BITS",
        r"C:\Windows\System32\services.exe",
    ),
    (
        r"C:\Windows\System32\taskhostw.exe",
        "taskhostw.exe -RegisterDevice -ProtectionStateChanged -FreeNetworkOnly",
        r"C:\Windows\System32\svchost.exe",
    ),
    (
        r"C:\Windows\System32\backgroundTaskHost.exe",
        r#""C:\Windows\system32\backgroundTaskHost.exe" -ServerName:BackgroundTaskHost.WebAccountBackgroundTask"#,
        r"C:\Windows\System32\svchost.exe",
    ),
    (
        r"C:\Windows\System32\SearchProtocolHost.exe",
        r#""C:\Windows\system32\SearchProtocolHost.exe" Global\UsGthrFltPipeMssGthrPipe1_ Global\UsGthrCtrlFltPipeMssGthrPipe1 1 -2147483646 "Software\Microsoft\Windows Search" "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT; MS Search 4.0 Robot)" "C:\ProgramData\Microsoft\Search\Data\Temp\usgthrsvc" "DownLevelDaemon""#,
        r"C:\Windows\System32\SearchIndexer.exe",
    ),
    (
        r"C:\Windows\System32\wbem\WmiPrvSE.exe",
        r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding",
        r"C:\Windows\System32\svchost.exe",
    ),
    (
        r"C:\Program Files\Windows Defender\MpCmdRun.exe",
        r#""C:\Program Files\Windows Defender\MpCmdRun.exe" SignatureUpdate -ScheduleJob -RestrictPrivileges"#,
        r"C:\Windows\System32\svchost.exe",
    ),
];

const EXPLORER: &str = r"C:\Windows\explorer.exe";

fn pid(rng: &mut impl Rng) -> u32 {
    rng.random_range(1_000..20_000u32) & !3
}

/// A process start on a workstation.
#[allow(clippy::too_many_arguments)]
pub(crate) fn process(
    rng: &mut impl Rng,
    out: &mut Out,
    t: DateTime<Utc>,
    host: &str,
    user: &str,
    image: &str,
    command_line: &str,
    parent_image: &str,
    parent_command_line: &str,
) {
    let system = user.starts_with("NT AUTHORITY");
    let cwd = if system {
        r"C:\Windows\system32\".to_string()
    } else {
        format!(r"C:\Users\{}\", user.rsplit('\\').next().unwrap_or(user))
    };
    let p = ProcessStart {
        host,
        pid: pid(rng),
        image,
        command_line,
        current_directory: &cwd,
        user,
        integrity: if system { "System" } else { "Medium" },
        parent_pid: pid(rng),
        parent_image,
        parent_command_line,
    };
    out.push(t, Source::Sysmon, render::sysmon_process(t, &p));
}

/// A sign-in to the identity provider; now and then a mistyped password first.
fn sso(rng: &mut impl Rng, out: &mut Out, t: DateTime<Utc>, user: &User, from: Place<'_>) {
    let mut t = t;
    if rng.random_bool(0.04) {
        out.push(
            t,
            Source::Sso,
            render::sso_signin(t, user.name, false, from, user.user_agent),
        );
        t += Duration::seconds(rng.random_range(8..40));
    }
    out.push(
        t,
        Source::Sso,
        render::sso_signin(t, user.name, true, from, user.user_agent),
    );
}

/// One simulated hour of benign activity starting at `t0` (hour number `hour`).
pub(crate) fn hour(cfg: &SimConfig, hour: i64, t0: DateTime<Utc>, out: &mut Out) {
    let t1 = t0 + Duration::hours(1);
    let date = local_date(cfg, t0);
    for (idx, user) in org::USERS.iter().enumerate() {
        let Some(day) = workday(cfg, idx, date) else {
            continue;
        };
        let mut rng = rng_for(cfg.seed, &[STREAM_USER_HOUR, hour as u64, idx as u64]);
        let (a, b) = (day.start.max(t0), day.end.min(t1));
        if a >= b {
            continue;
        }
        let hours = (b - a).num_seconds() as f64 / 3600.0;
        match user.workstation {
            Some(ws) => office_hour(&mut rng, out, user, ws, &day, (a, b), hours, (t0, t1)),
            None => remote_hour(&mut rng, out, user, &day, (a, b), hours, (t0, t1)),
        }
    }
    let mut rng = rng_for(cfg.seed, &[STREAM_MACHINE_HOUR, hour as u64]);
    machines_hour(cfg, &mut rng, out, t0);
    let mut rng = rng_for(cfg.seed, &[STREAM_NOISE_HOUR, hour as u64]);
    internet_noise(&mut rng, out, t0);
}

fn home_place(user: &User) -> Place<'static> {
    Place {
        ip: user.home_ip,
        country: HOME_COUNTRY,
        city: HOME_CITY,
    }
}

#[allow(clippy::too_many_arguments)]
fn office_hour(
    rng: &mut impl Rng,
    out: &mut Out,
    user: &User,
    ws_idx: usize,
    day: &Workday,
    (a, b): (DateTime<Utc>, DateTime<Utc>),
    hours: f64,
    (t0, t1): (DateTime<Utc>, DateTime<Utc>),
) {
    let ws = &WORKSTATIONS[ws_idx];
    let who = format!(r"{}\{}", org::DOMAIN, user.name);
    if day.start >= t0 && day.start < t1 {
        // Morning: logon, desktop, mail and chat, the day's first sign-in.
        let t = day.start;
        let line =
            render::security_logon(t, DC.name, user.name, 3, ws.ip, ephemeral_port(rng), "-");
        out.push(t, Source::WinSecurity, line);
        let userinit = r"C:\Windows\System32\userinit.exe";
        process(
            rng,
            out,
            t + ms(1800),
            ws.name,
            &who,
            userinit,
            userinit,
            r"C:\Windows\System32\winlogon.exe",
            "winlogon.exe",
        );
        process(
            rng,
            out,
            t + ms(4200),
            ws.name,
            &who,
            EXPLORER,
            r"C:\Windows\Explorer.EXE",
            userinit,
            userinit,
        );
        let outlook = r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE";
        let t_mail = t + Duration::seconds(rng.random_range(40..180));
        process(
            rng,
            out,
            t_mail,
            ws.name,
            &who,
            outlook,
            &format!("\"{outlook}\""),
            EXPLORER,
            r"C:\Windows\Explorer.EXE",
        );
        let teams = r"C:\Program Files\WindowsApps\MSTeams_25044.2208.3471.2155_x64__8wekyb3d8bbwe\ms-teams.exe";
        let t_chat = t + Duration::seconds(rng.random_range(10..40));
        process(
            rng,
            out,
            t_chat,
            ws.name,
            &who,
            teams,
            &format!("\"{teams}\" msteams:system-initiated"),
            EXPLORER,
            r"C:\Windows\Explorer.EXE",
        );
        let t_sso = t + Duration::seconds(rng.random_range(120..480));
        let office = Place {
            ip: OFFICE_PUBLIC_IP,
            country: HOME_COUNTRY,
            city: HOME_CITY,
        };
        sso(rng, out, t_sso, user, office);
    }
    for _ in 0..poisson(rng, 12.0 * hours) {
        let t = between(rng, a, b);
        let site = pick_site(rng);
        web_visit(rng, out, t, ws.ip, site, user.user_agent);
    }
    let weights: u32 = DESKTOP_APPS.iter().map(|x| x.2).sum();
    for _ in 0..poisson(rng, 2.5 * hours) {
        let t = between(rng, a, b);
        let (image, cmd) = if user.admin && rng.random_bool(0.3) {
            let (i, c) = ADMIN_APPS[rng.random_range(0..ADMIN_APPS.len())];
            (i, c)
        } else {
            let mut x = rng.random_range(0..weights);
            let mut pick = (DESKTOP_APPS[0].0, DESKTOP_APPS[0].1);
            for (i, c, w) in DESKTOP_APPS {
                if x < w {
                    pick = (i, c);
                    break;
                }
                x -= w;
            }
            pick
        };
        process(
            rng,
            out,
            t,
            ws.name,
            &who,
            image,
            cmd,
            EXPLORER,
            r"C:\Windows\Explorer.EXE",
        );
    }
    for _ in 0..poisson(rng, 0.8 * hours) {
        let t = between(rng, a, b);
        let line =
            render::security_logon(t, DC.name, user.name, 3, ws.ip, ephemeral_port(rng), "-");
        out.push(t, Source::WinSecurity, line);
    }
    // File shares on fs01 (SMB).
    for _ in 0..poisson(rng, 1.0 * hours) {
        let t = between(rng, a, b);
        let ends = Endpoints {
            orig: ws.ip,
            orig_p: ephemeral_port(rng),
            resp: SERVERS[3].ip,
            resp_p: 445,
        };
        let up = lognormal(rng, 20_000.0, 1.5) as u64;
        let down = lognormal(rng, 200_000.0, 1.5) as u64;
        let conn = Conn::tcp(ends, Some("smb"), lognormal(rng, 30.0, 1.0), up, down);
        out.push(t, Source::ZeekConn, conn.line(&render::zeek_uid(rng), t));
    }
    for _ in 0..poisson(rng, 0.1 * hours) {
        let office = Place {
            ip: OFFICE_PUBLIC_IP,
            country: HOME_COUNTRY,
            city: HOME_CITY,
        };
        let t = between(rng, a, b);
        sso(rng, out, t, user, office);
    }
    if user.admin {
        for _ in 0..poisson(rng, 0.5 * hours) {
            let t = between(rng, a, b);
            admin_ssh(rng, out, t, user, ws.ip);
        }
    }
}

/// An administrator's SSH session to a server: the login, the session, and its end.
fn admin_ssh(rng: &mut impl Rng, out: &mut Out, t: DateTime<Utc>, user: &User, from: &str) {
    let server = &SERVERS[rng.random_range(0..SERVERS.len())];
    let port = ephemeral_port(rng);
    let sshd_pid = rng.random_range(2_000..60_000u32);
    let fp = if user.name == "trent" {
        "ED25519 SHA256:x3VfPnO3yqv1uZyK1o0ZB9GZr0t6v1QmC9nUo1J2mPQ"
    } else {
        "RSA SHA256:Qm0d2a1kS8tW5rKqf3pB1hV7yX9cL4nE6uJ2oI8zT0A"
    };
    let accepted = format!(
        "Accepted publickey for {} from {from} port {port} ssh2: {fp}",
        user.name
    );
    out.push(
        t,
        Source::Sshd,
        render::syslog(t, server.name, "sshd", sshd_pid, &accepted),
    );
    let uid = 1000 + u32::from(user.admin) + user.name.len() as u32;
    let opened = format!(
        "pam_unix(sshd:session): session opened for user {}(uid={uid}) by (uid=0)",
        user.name
    );
    out.push(
        t + ms(30),
        Source::Sshd,
        render::syslog(t + ms(30), server.name, "sshd", sshd_pid, &opened),
    );
    let length = lognormal(rng, 600.0, 1.0).clamp(20.0, 7_200.0);
    let end = t + Duration::milliseconds((length * 1000.0) as i64);
    let closed = format!(
        "pam_unix(sshd:session): session closed for user {}",
        user.name
    );
    out.push(
        end,
        Source::Sshd,
        render::syslog(end, server.name, "sshd", sshd_pid, &closed),
    );
    let ends = Endpoints {
        orig: from,
        orig_p: port,
        resp: server.ip,
        resp_p: 22,
    };
    let conn = Conn::tcp(
        ends,
        Some("ssh"),
        length,
        lognormal(rng, 8_000.0, 1.0) as u64,
        lognormal(rng, 40_000.0, 1.2) as u64,
    );
    out.push(
        t - ms(300),
        Source::ZeekConn,
        conn.line(&render::zeek_uid(rng), t - ms(300)),
    );
}

fn remote_hour(
    rng: &mut impl Rng,
    out: &mut Out,
    user: &User,
    day: &Workday,
    (a, b): (DateTime<Utc>, DateTime<Utc>),
    hours: f64,
    (t0, t1): (DateTime<Utc>, DateTime<Utc>),
) {
    let place = match day.away {
        Some((country, city, ip)) => Place { ip, country, city },
        None => home_place(user),
    };
    if day.start >= t0 && day.start < t1 {
        sso(rng, out, day.start, user, place);
    }
    for _ in 0..poisson(rng, 0.3 * hours) {
        let t = between(rng, a, b);
        sso(rng, out, t, user, place);
    }
}

/// The machines' own activity, around the clock.
fn machines_hour(cfg: &SimConfig, rng: &mut impl Rng, out: &mut Out, t0: DateTime<Utc>) {
    let t1 = t0 + Duration::hours(1);
    let system = r"NT AUTHORITY\SYSTEM";
    for ws in &WORKSTATIONS {
        for _ in 0..poisson(rng, 1.2) {
            let t = between(rng, t0, t1);
            let (image, cmd, parent) = SYSTEM_PROCS[rng.random_range(0..SYSTEM_PROCS.len())];
            process(rng, out, t, ws.name, system, image, cmd, parent, parent);
        }
        for _ in 0..poisson(rng, 1.5) {
            let t = between(rng, t0, t1);
            let site = [&SITES[19], &SITES[20], &SITES[21]][rng.random_range(0..3)];
            web_visit(rng, out, t, ws.ip, site, "Microsoft-CryptoAPI/10.0");
        }
    }
    let local_hour = (t0 + cfg.offset()).hour();
    for (i, server) in SERVERS.iter().enumerate() {
        // Hourly cron job.
        let t = t0 + Duration::minutes(17) + ms(rng.random_range(0..900));
        let cron_pid = rng.random_range(2_000..60_000u32);
        let opened = "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)";
        out.push(
            t,
            Source::Sshd,
            render::syslog(t, server.name, "CRON", cron_pid, opened),
        );
        let t = t + ms(rng.random_range(200..3_000));
        let closed = "pam_unix(cron:session): session closed for user root";
        out.push(
            t,
            Source::Sshd,
            render::syslog(t, server.name, "CRON", cron_pid, closed),
        );
        // NTP polls of the resolver every 1024 s, from a per-server phase.
        if server.ip != DNS_SERVER {
            let phase = 97 * i as i64 + 13;
            let from = t0.timestamp() - phase;
            let mut k = from.div_euclid(1024);
            if from.rem_euclid(1024) != 0 {
                k += 1;
            }
            loop {
                let t = Utc
                    .timestamp_opt(k * 1024 + phase, 0)
                    .single()
                    .unwrap_or(t0)
                    + ms(rng.random_range(0..40));
                if t >= t1 {
                    break;
                }
                let ends = Endpoints {
                    orig: server.ip,
                    orig_p: 123,
                    resp: DNS_SERVER,
                    resp_p: 123,
                };
                let conn = Conn::udp(ends, Some("ntp"), rng.random_range(0.0004..0.002), 48, 48);
                out.push(t, Source::ZeekConn, conn.line(&render::zeek_uid(rng), t));
                k += 1;
            }
        }
        // Daily package index refresh at about 06:25 local.
        if local_hour == 6 {
            let t = t0 + Duration::minutes(25 + 3 * i as i64) + ms(rng.random_range(0..60_000));
            dns_lookup(rng, out, t, server.ip, MIRROR.domain, MIRROR.ip);
            for (n, uri) in [
                "/debian/dists/bookworm/InRelease",
                "/debian-security/dists/bookworm-security/InRelease",
            ]
            .iter()
            .enumerate()
            {
                let t = t + ms(80 + 400 * n as i64);
                let ends = Endpoints {
                    orig: server.ip,
                    orig_p: ephemeral_port(rng),
                    resp: MIRROR.ip,
                    resp_p: 80,
                };
                let down = rng.random_range(40_000..160_000);
                let uid = render::zeek_uid(rng);
                let conn = Conn::tcp(ends, Some("http"), 0.3, 240, down);
                out.push(t, Source::ZeekConn, conn.line(&uid, t));
                let line = render::zeek_http(
                    &uid,
                    t + ms(10),
                    ends,
                    "GET",
                    MIRROR.domain,
                    uri,
                    "Debian APT-HTTP/1.3 (2.6.1)",
                    200,
                    down,
                );
                out.push(t + ms(10), Source::ZeekHttp, line);
            }
        }
    }
    // The intranet's application server queries its database.
    let busy = (8..19).contains(&local_hour);
    for _ in 0..poisson(rng, if busy { 6.0 } else { 1.5 }) {
        let t = between(rng, t0, t1);
        let ends = Endpoints {
            orig: SERVERS[1].ip,
            orig_p: ephemeral_port(rng),
            resp: SERVERS[2].ip,
            resp_p: 5432,
        };
        let conn = Conn::tcp(
            ends,
            Some("postgresql"),
            lognormal(rng, 1.5, 1.0),
            lognormal(rng, 3_000.0, 1.0) as u64,
            lognormal(rng, 30_000.0, 1.3) as u64,
        );
        out.push(t, Source::ZeekConn, conn.line(&render::zeek_uid(rng), t));
    }
}

/// User names internet SSH scanners try.
const SCANNER_USERS: [&str; 10] = [
    "admin", "test", "oracle", "ubuntu", "user", "pi", "git", "postgres", "guest", "support",
];

/// An internet SSH scanner knocking on the bastion now and then: one to three guesses from
/// an address never seen again.
fn internet_noise(rng: &mut impl Rng, out: &mut Out, t0: DateTime<Utc>) {
    if !rng.random_bool(0.35) {
        return;
    }
    let bastion = &SERVERS[0];
    let ip = format!(
        "{}.{}",
        ["192.0.2", "203.0.113"][rng.random_range(0..2)],
        rng.random_range(30..250)
    );
    let mut t = between(rng, t0, t0 + Duration::minutes(55));
    let sshd_pid = rng.random_range(2_000..60_000u32);
    let port = ephemeral_port(rng);
    let tries = rng.random_range(1..=3);
    let ends = Endpoints {
        orig: &ip,
        orig_p: port,
        resp: bastion.ip,
        resp_p: 22,
    };
    let conn = Conn::tcp(ends, Some("ssh"), 3.0 * tries as f64, 1_500, 2_100);
    out.push(
        t - ms(200),
        Source::ZeekConn,
        conn.line(&render::zeek_uid(rng), t - ms(200)),
    );
    for _ in 0..tries {
        let user = SCANNER_USERS[rng.random_range(0..SCANNER_USERS.len())];
        let msg = format!("Invalid user {user} from {ip} port {port}");
        out.push(
            t,
            Source::Sshd,
            render::syslog(t, bastion.name, "sshd", sshd_pid, &msg),
        );
        t += ms(rng.random_range(1_500..3_500));
        let msg = format!("Failed password for invalid user {user} from {ip} port {port} ssh2");
        out.push(
            t,
            Source::Sshd,
            render::syslog(t, bastion.name, "sshd", sshd_pid, &msg),
        );
        t += ms(rng.random_range(200..900));
    }
    let msg = format!(
        "Connection closed by invalid user {} {ip} port {port} [preauth]",
        SCANNER_USERS[0]
    );
    out.push(
        t,
        Source::Sshd,
        render::syslog(t, bastion.name, "sshd", sshd_pid, &msg),
    );
}

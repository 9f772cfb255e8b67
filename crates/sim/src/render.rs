//! Raw log lines in the shapes Palisade's parsers read: evtx_dump JSON for Sysmon and the
//! Security log, rsyslog's file format for sshd, ECS NDJSON for the cloud sign-in service, and
//! Zeek's JSON writer for `conn`, `dns`, `http` and `ssl`.
//!
//! Each function returns one line without its newline.

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use serde_json::{Value, json};

use crate::org::{DNS_SUFFIX, DOMAIN};

/// `2025-03-11T08:02:11.1234560Z`, as evtx_dump writes `SystemTime`.
fn system_time(t: DateTime<Utc>) -> String {
    format!("{}0Z", t.format("%Y-%m-%dT%H:%M:%S%.6f"))
}

/// Windows record numbers grow with time; deriving them from it keeps them increasing without
/// per-host state.
fn record_id(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis() / 250 - 6_900_000_000
}

fn fqdn(host: &str) -> String {
    format!("{host}.{DNS_SUFFIX}")
}

/// One process start on a Windows host, Sysmon event 1.
#[derive(Debug, Clone)]
pub struct ProcessStart<'a> {
    pub host: &'a str,
    pub pid: u32,
    pub image: &'a str,
    pub command_line: &'a str,
    pub current_directory: &'a str,
    /// `CORP\alice`, `NT AUTHORITY\SYSTEM`.
    pub user: &'a str,
    pub integrity: &'a str,
    pub parent_pid: u32,
    pub parent_image: &'a str,
    pub parent_command_line: &'a str,
}

fn base_name(path: &str) -> &str {
    path.rsplit('\\').next().unwrap_or(path)
}

pub fn sysmon_process(t: DateTime<Utc>, p: &ProcessStart<'_>) -> String {
    let v = json!({"Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon",
                "Guid": "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"}},
            "EventID": 1, "Version": 5, "Level": 4, "Task": 1,
            "TimeCreated": {"#attributes": {"SystemTime": system_time(t)}},
            "EventRecordID": record_id(t),
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": fqdn(p.host),
            "Security": {"#attributes": {"UserID": "S-1-5-18"}},
        },
        "EventData": {
            "RuleName": "-",
            "UtcTime": t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            "ProcessId": p.pid,
            "Image": p.image,
            "OriginalFileName": base_name(p.image),
            "CommandLine": p.command_line,
            "CurrentDirectory": p.current_directory,
            "User": p.user,
            "IntegrityLevel": p.integrity,
            "ParentProcessId": p.parent_pid,
            "ParentImage": p.parent_image,
            "ParentCommandLine": p.parent_command_line,
        },
    }});
    v.to_string()
}

/// A successful logon recorded by the domain controller (Security 4624).
pub fn security_logon(
    t: DateTime<Utc>,
    dc: &str,
    user: &str,
    logon_type: u8,
    ip: &str,
    port: u16,
    workstation: &str,
) -> String {
    let v = json!({"Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing",
                "Guid": "{54849625-5478-4994-A5BA-3E3B0328C30D}"}},
            "EventID": 4624, "Version": 2, "Level": 0, "Task": 12544,
            "Keywords": "0x8020000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": system_time(t)}},
            "EventRecordID": record_id(t),
            "Channel": "Security",
            "Computer": fqdn(dc),
        },
        "EventData": {
            "SubjectUserSid": "S-1-0-0", "SubjectUserName": "-", "SubjectDomainName": "-",
            "TargetUserName": user, "TargetDomainName": DOMAIN,
            "LogonType": logon_type,
            "LogonProcessName": "Kerberos", "AuthenticationPackageName": "Kerberos",
            "WorkstationName": workstation,
            "IpAddress": ip, "IpPort": port,
        },
    }});
    v.to_string()
}

/// A syslog line as rsyslog writes files: RFC 3339 time, host, `app[pid]:`, message.
pub fn syslog(t: DateTime<Utc>, host: &str, app: &str, pid: u32, msg: &str) -> String {
    format!(
        "{} {host} {app}[{pid}]: {msg}",
        t.to_rfc3339_opts(SecondsFormat::Micros, false)
    )
}

/// Where a sign-in came from, as the identity provider's geo lookup placed it.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub ip: &'a str,
    pub country: &'a str,
    pub city: &'a str,
}

/// A sign-in to the cloud identity provider, ECS NDJSON.
pub fn sso_signin(
    t: DateTime<Utc>,
    user: &str,
    success: bool,
    from: Place<'_>,
    user_agent: &str,
) -> String {
    let mut v = json!({
        "@timestamp": t.to_rfc3339_opts(SecondsFormat::Millis, true),
        "event": {
            "kind": "event", "category": ["authentication"], "type": ["start"],
            "action": "user-sign-in", "outcome": if success { "success" } else { "failure" },
            "dataset": "sso.signin", "provider": "example-idp",
        },
        "service": {"name": "sso"},
        "user": {"name": user, "domain": DNS_SUFFIX},
        "source": {"ip": from.ip, "geo": {"country_iso_code": from.country, "city_name": from.city}},
        "user_agent": {"original": user_agent},
    });
    if !success {
        v["event"]["reason"] = Value::from("invalid username or password");
    }
    v.to_string()
}

/// A Zeek uid: `C` and 17 base-62 characters.
pub fn zeek_uid(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut s = String::with_capacity(18);
    s.push('C');
    for _ in 0..17 {
        s.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    s
}

fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp() as f64 + f64::from(t.timestamp_subsec_micros()) / 1e6
}

fn is_local(ip: &str) -> bool {
    ip.starts_with("10.")
}

/// The endpoints of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Endpoints<'a> {
    pub orig: &'a str,
    pub orig_p: u16,
    pub resp: &'a str,
    pub resp_p: u16,
}

fn with_ids(
    uid: &str,
    t: DateTime<Utc>,
    path: &str,
    e: Endpoints<'_>,
) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("_path".into(), path.into());
    m.insert("ts".into(), epoch(t).into());
    m.insert("uid".into(), uid.into());
    m.insert("id.orig_h".into(), e.orig.into());
    m.insert("id.orig_p".into(), e.orig_p.into());
    m.insert("id.resp_h".into(), e.resp.into());
    m.insert("id.resp_p".into(), e.resp_p.into());
    m
}

/// A Zeek `conn` record.
#[derive(Debug, Clone)]
pub struct Conn<'a> {
    pub ends: Endpoints<'a>,
    pub proto: &'static str,
    pub service: Option<&'static str>,
    pub duration: f64,
    pub orig_bytes: u64,
    pub resp_bytes: u64,
    pub conn_state: &'static str,
    pub history: &'static str,
    pub orig_pkts: u64,
    pub resp_pkts: u64,
}

impl<'a> Conn<'a> {
    /// A completed TCP connection carrying `orig_bytes` up and `resp_bytes` down.
    pub fn tcp(
        ends: Endpoints<'a>,
        service: Option<&'static str>,
        duration: f64,
        orig_bytes: u64,
        resp_bytes: u64,
    ) -> Self {
        Conn {
            ends,
            proto: "tcp",
            service,
            duration,
            orig_bytes,
            resp_bytes,
            conn_state: "SF",
            history: "ShADadFf",
            orig_pkts: 4 + orig_bytes / 1400,
            resp_pkts: 4 + resp_bytes / 1400,
        }
    }

    /// A TCP attempt that got no answer (`S0`) or a reset (`REJ`).
    pub fn failed(ends: Endpoints<'a>, refused: bool) -> Self {
        Conn {
            ends,
            proto: "tcp",
            service: None,
            duration: if refused { 0.000_4 } else { 0.0 },
            orig_bytes: 0,
            resp_bytes: 0,
            conn_state: if refused { "REJ" } else { "S0" },
            history: if refused { "Sr" } else { "S" },
            orig_pkts: if refused { 1 } else { 2 },
            resp_pkts: u64::from(refused),
        }
    }

    /// A UDP exchange (one request, one answer).
    pub fn udp(
        ends: Endpoints<'a>,
        service: Option<&'static str>,
        duration: f64,
        orig_bytes: u64,
        resp_bytes: u64,
    ) -> Self {
        Conn {
            ends,
            proto: "udp",
            service,
            duration,
            orig_bytes,
            resp_bytes,
            conn_state: "SF",
            history: "Dd",
            orig_pkts: 1,
            resp_pkts: 1,
        }
    }

    pub fn line(&self, uid: &str, t: DateTime<Utc>) -> String {
        let mut m = with_ids(uid, t, "conn", self.ends);
        let hdr = if self.proto == "udp" { 28 } else { 40 };
        m.insert("proto".into(), self.proto.into());
        if let Some(s) = self.service {
            m.insert("service".into(), s.into());
        }
        if self.conn_state != "S0" {
            m.insert(
                "duration".into(),
                ((self.duration * 1e6).round() / 1e6).into(),
            );
            m.insert("orig_bytes".into(), self.orig_bytes.into());
            m.insert("resp_bytes".into(), self.resp_bytes.into());
        }
        m.insert("conn_state".into(), self.conn_state.into());
        m.insert("local_orig".into(), is_local(self.ends.orig).into());
        m.insert("local_resp".into(), is_local(self.ends.resp).into());
        m.insert("missed_bytes".into(), 0.into());
        m.insert("history".into(), self.history.into());
        m.insert("orig_pkts".into(), self.orig_pkts.into());
        m.insert(
            "orig_ip_bytes".into(),
            (self.orig_bytes + hdr * self.orig_pkts).into(),
        );
        m.insert("resp_pkts".into(), self.resp_pkts.into());
        m.insert(
            "resp_ip_bytes".into(),
            (self.resp_bytes + hdr * self.resp_pkts).into(),
        );
        Value::Object(m).to_string()
    }
}

/// A Zeek `dns` record of an A lookup and its answer.
pub fn zeek_dns(
    uid: &str,
    t: DateTime<Utc>,
    ends: Endpoints<'_>,
    trans_id: u16,
    query: &str,
    answer: &str,
    ttl: f64,
) -> String {
    let mut m = with_ids(uid, t, "dns", ends);
    for (k, v) in [
        ("proto", json!("udp")),
        ("trans_id", json!(trans_id)),
        ("rtt", json!(0.0021)),
        ("query", json!(query)),
        ("qclass", json!(1)),
        ("qclass_name", json!("C_INTERNET")),
        ("qtype", json!(1)),
        ("qtype_name", json!("A")),
        ("rcode", json!(0)),
        ("rcode_name", json!("NOERROR")),
        ("AA", json!(false)),
        ("TC", json!(false)),
        ("RD", json!(true)),
        ("RA", json!(true)),
        ("Z", json!(0)),
        ("answers", json!([answer])),
        ("TTLs", json!([ttl])),
        ("rejected", json!(false)),
    ] {
        m.insert(k.into(), v);
    }
    Value::Object(m).to_string()
}

/// A Zeek `ssl` record of an established TLS 1.3 session.
pub fn zeek_ssl(
    uid: &str,
    t: DateTime<Utc>,
    ends: Endpoints<'_>,
    server_name: &str,
    resumed: bool,
) -> String {
    let mut m = with_ids(uid, t, "ssl", ends);
    for (k, v) in [
        ("version", json!("TLSv13")),
        ("cipher", json!("TLS_AES_128_GCM_SHA256")),
        ("curve", json!("x25519")),
        ("server_name", json!(server_name)),
        ("resumed", json!(resumed)),
        ("established", json!(true)),
        ("ssl_history", json!("CsiI")),
    ] {
        m.insert(k.into(), v);
    }
    Value::Object(m).to_string()
}

/// A Zeek `http` record of one request.
#[allow(clippy::too_many_arguments)]
pub fn zeek_http(
    uid: &str,
    t: DateTime<Utc>,
    ends: Endpoints<'_>,
    method: &str,
    host: &str,
    uri: &str,
    user_agent: &str,
    status: u16,
    response_len: u64,
) -> String {
    let mut m = with_ids(uid, t, "http", ends);
    for (k, v) in [
        ("trans_depth", json!(1)),
        ("method", json!(method)),
        ("host", json!(host)),
        ("uri", json!(uri)),
        ("version", json!("1.1")),
        ("user_agent", json!(user_agent)),
        ("request_body_len", json!(0)),
        ("response_body_len", json!(response_len)),
        ("status_code", json!(status)),
        (
            "status_msg",
            json!(if status == 200 { "OK" } else { "Not Found" }),
        ),
    ] {
        m.insert(k.into(), v);
    }
    Value::Object(m).to_string()
}

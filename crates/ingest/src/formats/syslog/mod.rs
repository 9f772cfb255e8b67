//! Syslog: RFC 3164 (`<PRI>Mmm dd hh:mm:ss host app[pid]: msg`, PRI optional, also with an
//! RFC 3339 timestamp as rsyslog writes files) and RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID
//! MSGID [SD…] MSG`, structured data kept as `log.syslog.structured_data.<id>.<name>`).
//!
//! Every line becomes an event with `host.name`, `log.syslog.appname` (also reachable as
//! `process.name`), `process.pid`, `log.syslog.facility.code`/`severity.code` and `message`;
//! `meta.product` is `linux` and `meta.service` the program name in lower case (`sshd` for
//! `sshd(pam_unix)`). Messages of sshd, sudo, su, PAM, shadow-utils, FTP daemons, login and
//! systemd-logind are typed into ECS authentication / session / iam / process events by the
//! `auth` submodule.
//!
//! RFC 3164 timestamps carry no year and no zone: the year comes from
//! [`SyslogFormat::year`] (the current year unless configured), advanced when the months of a
//! file roll over from December to January; the zone is taken as UTC.
//!
//! Not handled: multi-line messages (each line is a record), octet-counted framing (RFC 6587
//! over TCP; files are newline-delimited), and vendor formats that only resemble syslog.

mod auth;
mod header;
mod sd;

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use compact_str::CompactString;
use palisade_event::event::FieldError;
use palisade_event::{AliasTable, Event, FieldId, Origin, Value};

use crate::line::{LineFormat, ParseError};
pub(crate) use header::{BsdTime, Stamp, parse_prefix, parse_time};

/// Declares a struct of interned field ids built once per process, so hot paths compare
/// integers instead of hashing names.
macro_rules! field_ids {
    ($(#[$m:meta])* $vis:vis struct $name:ident { $($field:ident => $text:expr),* $(,)? }) => {
        $(#[$m])*
        $vis struct $name { $(pub(crate) $field: palisade_event::FieldId,)* }
        impl $name {
            /// The ids, interned on first use.
            $vis fn get() -> &'static $name {
                static IDS: std::sync::LazyLock<$name> = std::sync::LazyLock::new(|| $name {
                    $($field: palisade_event::FieldId::known($text),)*
                });
                &IDS
            }
        }
    };
}
pub(crate) use field_ids;

/// Whether `line` looks like RFC 3164 or RFC 5424 syslog.
pub fn sniff(line: &str) -> bool {
    header::looks_like_syslog(line.trim_start_matches('\u{feff}'))
}

/// Syslog parser for one input.
#[derive(Debug, Clone)]
pub struct SyslogFormat {
    years: YearContext,
}

impl Default for SyslogFormat {
    fn default() -> Self {
        SyslogFormat::with_year(Utc::now().year())
    }
}

impl SyslogFormat {
    /// A parser that dates year-less RFC 3164 timestamps in `year` (rolling forward past
    /// December within the input).
    pub fn with_year(year: i32) -> Self {
        SyslogFormat {
            years: YearContext::new(year),
        }
    }

    /// The year the next year-less timestamp will be given, before rollover.
    pub fn year(&self) -> i32 {
        self.years.year
    }
}

/// Supplies the year RFC 3164 timestamps leave out, keeping time monotonic within one input:
/// a jump back of more than six months (December → January) moves to the next year; a jump
/// forward of more than six months (a late December line after January) belongs to the year
/// before.
#[derive(Debug, Clone, Copy)]
pub(crate) struct YearContext {
    year: i32,
    last_month: Option<u32>,
}

impl YearContext {
    pub(crate) fn new(year: i32) -> Self {
        YearContext {
            year,
            last_month: None,
        }
    }

    /// The UTC time of `t`; `None` for a date that does not exist (Feb 30).
    pub(crate) fn resolve(&mut self, t: BsdTime) -> Option<DateTime<Utc>> {
        let year = match (t.year, self.last_month) {
            (Some(y), _) => y,
            (None, Some(prev)) if t.month + 6 < prev => {
                self.year = self.year.saturating_add(1);
                self.last_month = Some(t.month);
                self.year
            }
            (None, Some(prev)) if t.month > prev + 6 => self.year.saturating_sub(1),
            (None, _) => {
                self.last_month = Some(t.month);
                self.year
            }
        };
        let date = NaiveDate::from_ymd_opt(year, t.month, t.day)?;
        let time = date.and_hms_nano_opt(t.hour, t.minute, t.second.min(59), t.nanos)?;
        Some(Utc.from_utc_datetime(&time))
    }

    pub(crate) fn stamp(&mut self, stamp: Stamp) -> Option<DateTime<Utc>> {
        match stamp {
            Stamp::Bsd(t) => self.resolve(t),
            Stamp::Full(dt) => Some(dt),
        }
    }
}

field_ids! {
    struct Ids {
        host => "host.name",
        appname => "log.syslog.appname",
        app_version => "service.version",
        pid => "process.pid",
        procid => "log.syslog.procid",
        msgid => "log.syslog.msgid",
        version => "log.syslog.version",
        priority => "log.syslog.priority",
        facility => "log.syslog.facility.code",
        severity => "log.syslog.severity.code",
        message => "message",
    }
}

/// `process.name` is the syslog app name.
fn aliases() -> &'static AliasTable {
    static T: LazyLock<AliasTable> =
        LazyLock::new(|| AliasTable::new(&[("process.name", "log.syslog.appname")]));
    &T
}

impl LineFormat for SyslogFormat {
    fn name(&self) -> &'static str {
        "syslog"
    }

    fn parse_line(&mut self, line: &str, origin: Origin) -> Result<Option<Event>, ParseError> {
        let line = line.trim_start_matches(['\u{feff}', ' ', '\t']);
        if line
            .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
            .is_empty()
        {
            return Ok(None);
        }
        let header = header::parse(line)?;
        let mut event = Event::new(origin, "syslog");
        event.set_aliases(aliases());
        event.timestamp = header.time.and_then(|t| self.years.stamp(t));
        event.meta.product = Some(CompactString::const_new("linux"));
        write_header(&header, &mut event)?;
        let tag = header.app.map(Tag::parse);
        if let Some(tag) = &tag {
            event.meta.service = Some(tag.service.clone());
        }
        let service = tag.as_ref().map_or("", |t| t.service.as_str());
        let pam = tag.as_ref().is_some_and(|t| t.pam);
        if let Some(typed) = auth::classify(service, pam, header.msg) {
            typed.write(&mut event)?;
        }
        Ok(Some(event))
    }
}

fn write_header(h: &header::Header<'_>, event: &mut Event) -> Result<(), FieldError> {
    let ids = Ids::get();
    if let Some(pri) = h.pri {
        event.insert(ids.priority, Value::Int(i64::from(pri)))?;
        event.insert(ids.facility, Value::Int(i64::from(pri / 8)))?;
        event.insert(ids.severity, Value::Int(i64::from(pri % 8)))?;
    }
    if let Some(v) = h.version {
        event.insert(ids.version, Value::Int(i64::from(v)))?;
    }
    for (id, value) in [
        (ids.host, h.host),
        (ids.appname, h.app),
        (ids.app_version, h.app_version),
        (ids.msgid, h.msgid),
    ] {
        if let Some(v) = value {
            event.insert(id, v.into())?;
        }
    }
    if let Some(p) = h.procid {
        match p.parse::<i64>() {
            Ok(pid) => event.insert(ids.pid, Value::Int(pid))?,
            Err(_) => event.insert(ids.procid, p.into())?,
        }
    }
    let mut name = String::new();
    for param in &h.structured {
        name.clear();
        name.push_str("log.syslog.structured_data.");
        name.push_str(param.id);
        name.push('.');
        name.push_str(param.name);
        event.insert(FieldId::intern(&name)?, param.value.as_ref().into())?;
    }
    event.insert(ids.message, h.msg.into())
}

/// What the tag says about the program.
struct Tag {
    /// Lower-case program name without path or `(pam_…)` suffix.
    service: CompactString,
    /// The tag names a PAM module (`sshd(pam_unix)`).
    pam: bool,
}

impl Tag {
    fn parse(app: &str) -> Tag {
        let (name, pam) = match app.split_once('(') {
            Some((name, module)) if module.starts_with("pam_") => (name, true),
            _ => (app, false),
        };
        let name = name.rsplit('/').next().unwrap_or(name);
        let mut service = CompactString::new(name);
        service.make_ascii_lowercase();
        Tag { service, pam }
    }
}

#[cfg(test)]
mod tests;

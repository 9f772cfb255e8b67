//! NDJSON / ECS JSON: one JSON object per line, nested objects flattened to dotted names.
//!
//! Two Windows shapes are recognised per line and given the field names Sigma rules use:
//! evtx_dump's JSON lines (`{"Event":{"System":…,"EventData":…}}`, mapped exactly like binary
//! EVTX) and Winlogbeat/Elastic Agent documents (`winlog.event_data.*` stored under the original
//! names, `winlog.event_id` as `EventID`, `winlog.channel` as `Channel`, …).

use chrono::{DateTime, TimeZone, Utc};
use palisade_event::{Event, FieldId, Origin, Value};

use super::evtx;
use super::flatten::{FlatSink, flatten_str};
use crate::line::{LineFormat, ParseError};

/// Line-by-line NDJSON parser.
#[derive(Debug, Default)]
pub struct JsonFormat;

impl LineFormat for JsonFormat {
    fn name(&self) -> &'static str {
        "json"
    }

    fn parse_line(&mut self, line: &str, origin: Origin) -> Result<Option<Event>, ParseError> {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if !trimmed.starts_with('{') {
            return Err(ParseError::new("expected a JSON object"));
        }
        if is_evtx_json(trimmed) {
            return evtx::event_from_json_str(trimmed, origin)
                .map(Some)
                .map_err(ParseError);
        }
        let mut sink = JsonEventBuilder::new(origin);
        flatten_str(trimmed, &mut sink).map_err(|e| ParseError(e.to_string()))?;
        Ok(Some(sink.finish()))
    }
}

/// evtx_dump output starts with the `Event` element.
fn is_evtx_json(line: &str) -> bool {
    line.strip_prefix('{')
        .map(str::trim_start)
        .is_some_and(|rest| rest.starts_with("\"Event\""))
}

struct JsonEventBuilder {
    event: Event,
    winlog: bool,
    timestamp_rank: u8,
}

impl JsonEventBuilder {
    fn new(origin: Origin) -> Self {
        JsonEventBuilder {
            event: Event::new(origin, "json"),
            winlog: false,
            timestamp_rank: u8::MAX,
        }
    }

    fn finish(mut self) -> Event {
        // Winlogbeat documents, and flat exports that carry the EVTX field names at the top
        // level (`Channel`, `EventID`), are Windows events for routing and ECS aliases.
        let flat_windows = self.event.get_by_name("Channel").is_some()
            && self.event.get_by_name("EventID").is_some();
        if self.winlog || flat_windows {
            self.event.meta.product = Some("windows".into());
            self.event.set_aliases(evtx::aliases());
        }
        self.event
    }

    /// Picks the event time from the best-known timestamp field present.
    fn note_timestamp(&mut self, path: &str, value: &Value) {
        const FIELDS: [&str; 6] = [
            "@timestamp",
            "timestamp",
            "event.created",
            "ts",
            "time",
            "TimeCreated",
        ];
        let Some(rank) = FIELDS.iter().position(|f| *f == path) else {
            return;
        };
        let rank = rank as u8;
        if rank < self.timestamp_rank
            && let Some(ts) = parse_timestamp(value)
        {
            self.event.timestamp = Some(ts);
            self.timestamp_rank = rank;
        }
    }
}

/// Winlogbeat names for what Sigma calls by the EVTX names.
fn winlog_name(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("winlog.")?;
    if let Some(name) = rest.strip_prefix("event_data.") {
        return Some(name);
    }
    if let Some(name) = rest.strip_prefix("user_data.") {
        return Some(name.rsplit('.').next().unwrap_or(name));
    }
    Some(match rest {
        "event_id" => "EventID",
        "channel" => "Channel",
        "provider_name" => "Provider_Name",
        "computer_name" => "Computer",
        "record_id" => "EventRecordID",
        _ => return None,
    })
}

impl FlatSink for JsonEventBuilder {
    fn leaf(&mut self, path: &str, value: Value) -> Result<(), String> {
        self.note_timestamp(path, &value);
        if let Some(name) = winlog_name(path) {
            self.winlog = true;
            // Winlogbeat renders EventID as a string in some versions.
            let value = match (&value, name) {
                (Value::Str(s), "EventID") => s.parse::<i64>().map(Value::Int).unwrap_or(value),
                _ => value,
            };
            let id = FieldId::intern(name).map_err(|e| e.to_string())?;
            return self.event.insert(id, value).map_err(|e| e.to_string());
        }
        let id = FieldId::intern(path).map_err(|e| e.to_string())?;
        self.event.insert(id, value).map_err(|e| e.to_string())
    }
}

/// Parses RFC 3339 text, or epoch seconds/milliseconds as numbers.
pub fn parse_timestamp(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Str(s) => parse_timestamp_str(s),
        Value::Int(i) => epoch(*i as f64),
        Value::Float(f) => epoch(*f),
        _ => None,
    }
}

fn parse_timestamp_str(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    // "2024-01-02 03:04:05.678" (UTC implied), as Sysmon's UtcTime and many exports write it.
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(n) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Utc.from_utc_datetime(&n));
        }
    }
    s.parse::<f64>().ok().and_then(epoch)
}

fn epoch(x: f64) -> Option<DateTime<Utc>> {
    if !x.is_finite() || x < 0.0 {
        return None;
    }
    // Values past year 33658 in seconds are milliseconds.
    let secs = if x > 1.0e12 { x / 1000.0 } else { x };
    // An f64 of today's epoch seconds steps in about 0.2 µs, so digits below the microsecond are
    // rounding noise, not data: Zeek's `1740911411.364219` would read back as `.364219904`.
    let mut whole = secs.trunc() as i64;
    let mut micros = ((secs - secs.trunc()) * 1e6).round() as u32;
    if micros >= 1_000_000 {
        whole += 1;
        micros -= 1_000_000;
    }
    Utc.timestamp_opt(whole, micros * 1000).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Event {
        JsonFormat
            .parse_line(line, Origin::default())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn ecs_nested_fields_are_dotted() {
        let e = parse(
            r#"{"@timestamp":"2024-05-01T10:00:00Z","source":{"ip":"10.0.0.1"},"user":{"name":"alice"}}"#,
        );
        assert_eq!(e.get_by_name("source.ip").unwrap().to_string(), "10.0.0.1");
        assert_eq!(e.get_by_name("user.name").unwrap().to_string(), "alice");
        assert_eq!(
            e.timestamp.unwrap().to_rfc3339(),
            "2024-05-01T10:00:00+00:00"
        );
    }

    #[test]
    fn winlogbeat_fields_get_sigma_names() {
        let e = parse(
            r#"{"@timestamp":"2024-05-01T10:00:00Z","winlog":{"event_id":"4688","channel":"Security","computer_name":"DC1","event_data":{"NewProcessName":"C:\\x.exe"}}}"#,
        );
        assert_eq!(e.get_by_name("EventID"), Some(&Value::Int(4688)));
        assert_eq!(e.get_by_name("Channel").unwrap().to_string(), "Security");
        assert_eq!(e.get_by_name("Computer").unwrap().to_string(), "DC1");
        assert_eq!(
            e.get_by_name("NewProcessName").unwrap().to_string(),
            "C:\\x.exe"
        );
        assert_eq!(e.meta.product.as_deref(), Some("windows"));
    }

    #[test]
    fn flat_windows_exports_are_windows_events() {
        let e = parse(
            r#"{"Channel":"Security","EventID":4625,"Computer":"DC1","TargetUserName":"bob"}"#,
        );
        assert_eq!(e.meta.product.as_deref(), Some("windows"));
        assert_eq!(e.get_by_name("host.name").unwrap().to_string(), "DC1");
        let plain = parse(r#"{"EventID":4625}"#);
        assert_eq!(plain.meta.product, None);
    }

    #[test]
    fn evtx_dump_lines_use_the_evtx_mapping() {
        let e = parse(
            r#"{"Event":{"System":{"EventID":4624,"Channel":"Security"},"EventData":{"LogonType":3}}}"#,
        );
        assert_eq!(e.get_by_name("LogonType"), Some(&Value::Int(3)));
        assert_eq!(e.meta.format, "evtx");
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(JsonFormat.parse_line("{\"a\":", Origin::default()).is_err());
        assert!(JsonFormat.parse_line("[1,2]", Origin::default()).is_err());
        assert!(
            JsonFormat
                .parse_line("  ", Origin::default())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn epoch_timestamps() {
        assert_eq!(
            parse_timestamp(&Value::Float(1_700_000_000.5))
                .unwrap()
                .to_rfc3339(),
            "2023-11-14T22:13:20.500+00:00"
        );
        assert_eq!(
            parse_timestamp(&Value::Float(1_740_911_411.364_219))
                .unwrap()
                .timestamp_subsec_nanos(),
            364_219_000
        );
        assert_eq!(
            parse_timestamp(&Value::Float(1_740_911_411.999_999_9))
                .unwrap()
                .timestamp(),
            1_740_911_412
        );
        assert_eq!(
            parse_timestamp(&Value::Int(1_700_000_000_000))
                .unwrap()
                .timestamp(),
            1_700_000_000
        );
    }
}

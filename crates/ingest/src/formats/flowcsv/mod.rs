//! Network flow records as CSV, in the layouts of three public data sets:
//!
//! * **NSL-KDD** (also KDD Cup 99): no header; 41 features, the class `label` and (NSL-KDD only)
//!   `difficulty`, named with the standard feature names (`duration`, `protocol_type`, …).
//! * **UNSW-NB15**: the training/testing sets with their header row (`id,dur,proto,…,
//!   attack_cat,label`), and the original 49-column files without one (`srcip,sport,…`).
//! * **CICFlowMeter**: a header row (`Flow ID, Src IP, Src Port, …, Label`) in any of its
//!   spellings — CICIDS2017's leading spaces and long names, CICFlowMeter-V3/V4's short ones,
//!   the Python port's snake_case.
//!
//! The variant is detected from the first line. Names come from the header (trimmed; a
//! repeated name gets `.1`, `.2`, … as pandas does) or the data set's list; numeric cells
//! become integers or floats, other cells text, empty cells are omitted. Label columns
//! (`label`, `attack_cat`, `Label`, `difficulty`) are ordinary fields, and a `Label` column is
//! also stored as `label`. Where the columns exist, ECS fields are added: `source.ip`/`.port`,
//! `destination.ip`/`.port`, `network.transport` (from a name, or from an IANA number with
//! `network.iana_number`), `source.bytes`, `destination.bytes`, `event.duration` (in seconds,
//! as Zeek writes it; CICFlowMeter's microseconds are converted) and the event time
//! (CICFlowMeter `Timestamp`, taken as UTC; UNSW-NB15 `stime`).
//! `meta.product` is `network` and `meta.service` the data set (`nsl-kdd`, `unsw-nb15`,
//! `cicflowmeter`).
//!
//! Not handled: other CSV layouts (the first line must identify one of these), and quoted
//! cells spanning lines.

mod schema;
mod split;

use std::borrow::Cow;
use std::net::IpAddr;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use compact_str::CompactString;
use palisade_event::{Event, FieldId, Origin, Value};

use super::syslog::field_ids;
use crate::line::{LineFormat, ParseError};
use schema::{Role, Variant};

/// Whether `line` is a known flow CSV header or an NSL-KDD / raw UNSW-NB15 row.
pub fn sniff(line: &str) -> bool {
    let line = line.trim_start_matches('\u{feff}');
    line.contains(',') && split::split(line).is_ok_and(|cells| Layout::detect(&cells).is_ok())
}

/// Flow CSV parser for one input.
#[derive(Debug, Default)]
pub struct FlowCsvFormat {
    layout: Option<Layout>,
}

impl LineFormat for FlowCsvFormat {
    fn name(&self) -> &'static str {
        "flow-csv"
    }

    fn parse_line(&mut self, line: &str, origin: Origin) -> Result<Option<Event>, ParseError> {
        let line = line.trim_start_matches('\u{feff}');
        if line.trim().is_empty() {
            return Ok(None);
        }
        let cells = split::split(line)?;
        let layout = match &mut self.layout {
            Some(layout) => layout,
            slot => {
                let (layout, is_header) = Layout::detect(&cells)?;
                let layout = slot.insert(layout);
                if is_header {
                    return Ok(None);
                }
                layout
            }
        };
        if layout.is_repeated_header(&cells) {
            return Ok(None);
        }
        layout.record(&cells, origin).map(Some)
    }
}

/// One column of the detected layout.
#[derive(Debug, Clone, Copy)]
struct Column {
    id: FieldId,
    role: Option<Role>,
}

/// The columns of one input, fixed by its first line.
#[derive(Debug)]
struct Layout {
    variant: Variant,
    columns: Vec<Column>,
    /// The first header name, to skip header rows repeated inside concatenated files.
    header_first: Option<CompactString>,
    /// Index into [`TIME_FORMATS`] that parsed the last timestamp.
    time_hint: usize,
}

field_ids! {
    struct Ids {
        source_ip => "source.ip",
        source_port => "source.port",
        destination_ip => "destination.ip",
        destination_port => "destination.port",
        transport => "network.transport",
        iana_number => "network.iana_number",
        source_bytes => "source.bytes",
        destination_bytes => "destination.bytes",
        duration => "event.duration",
        label => "label",
    }
}

impl Layout {
    /// The layout a first line announces, and whether that line is a header (no record).
    fn detect(cells: &[Cow<'_, str>]) -> Result<(Layout, bool), ParseError> {
        let n = cells.len();
        let second = cells.get(1).map_or("", |c| c.trim());
        if (n == 42 || n == 43) && matches!(second, "tcp" | "udp" | "icmp") {
            return Ok((Layout::fixed(Variant::NslKdd, &schema::NSL_KDD[..n]), false));
        }
        let first = cells.first().map_or("", |c| c.trim());
        if n == schema::UNSW_NB15_RAW.len() && first.parse::<IpAddr>().is_ok() {
            return Ok((
                Layout::fixed(Variant::UnswNb15, &schema::UNSW_NB15_RAW),
                false,
            ));
        }
        let normalized: Vec<String> = cells.iter().map(|c| schema::normalize(c)).collect();
        let Some(variant) = schema::header_variant(&normalized) else {
            let preview: String = cells
                .iter()
                .take(4)
                .map(|c| c.trim())
                .collect::<Vec<_>>()
                .join(",");
            return Err(ParseError::new(format!(
                "not a known flow CSV layout (NSL-KDD rows, or a UNSW-NB15 or CICFlowMeter header); \
                 {n} columns starting {preview:?}"
            )));
        };
        Ok((Layout::from_header(variant, cells, &normalized)?, true))
    }

    fn fixed(variant: Variant, names: &[&'static str]) -> Layout {
        let columns = names
            .iter()
            .map(|n| Column {
                id: FieldId::known(n),
                role: schema::role(&schema::normalize(n)),
            })
            .collect();
        Layout {
            variant,
            columns,
            header_first: None,
            time_hint: 0,
        }
    }

    fn from_header(
        variant: Variant,
        cells: &[Cow<'_, str>],
        normalized: &[String],
    ) -> Result<Layout, ParseError> {
        let mut columns = Vec::with_capacity(cells.len());
        let mut seen: Vec<String> = Vec::with_capacity(cells.len());
        for (i, (cell, norm)) in cells.iter().zip(normalized).enumerate() {
            let base = match cell.trim() {
                "" => format!("column_{}", i + 1),
                name => name.to_owned(),
            };
            let mut name = base.clone();
            let mut k = 0;
            while seen.contains(&name) {
                k += 1;
                name = format!("{base}.{k}");
            }
            let id = FieldId::intern(&name).map_err(|e| ParseError::new(format!("header: {e}")))?;
            // Only the first column of a repeated name carries its ECS meaning.
            let role = if k == 0 { schema::role(norm) } else { None };
            columns.push(Column { id, role });
            seen.push(name);
        }
        Ok(Layout {
            variant,
            columns,
            header_first: cells.first().map(|c| CompactString::new(c.trim())),
            time_hint: 0,
        })
    }

    fn is_repeated_header(&self, cells: &[Cow<'_, str>]) -> bool {
        match (&self.header_first, cells.first()) {
            (Some(h), Some(c)) => cells.len() == self.columns.len() && c.trim() == h.as_str(),
            _ => false,
        }
    }

    fn record(&mut self, cells: &[Cow<'_, str>], origin: Origin) -> Result<Event, ParseError> {
        if cells.len() != self.columns.len() {
            return Err(ParseError::new(format!(
                "expected {} columns ({}), found {}",
                self.columns.len(),
                self.variant.service(),
                cells.len()
            )));
        }
        let mut event = Event::new(origin, "flowcsv");
        event.meta.product = Some(CompactString::const_new("network"));
        event.meta.service = Some(CompactString::const_new(self.variant.service()));
        let ids = Ids::get();
        for (i, cell) in cells.iter().enumerate() {
            let cell = cell.trim();
            let Some(col) = self.columns.get(i).copied() else {
                break;
            };
            if cell.is_empty() {
                continue;
            }
            let value = typed(cell);
            if let Some(role) = col.role {
                self.apply_role(role, col.id, &value, &mut event, ids)?;
            }
            event.insert(col.id, value)?;
        }
        Ok(event)
    }

    /// Adds the ECS field a column implies.
    fn apply_role(
        &mut self,
        role: Role,
        column: FieldId,
        value: &Value,
        event: &mut Event,
        ids: &Ids,
    ) -> Result<(), ParseError> {
        let number = value.as_f64();
        let (id, ecs) = match role {
            Role::SourceIp => (ids.source_ip, value.as_str().map(Value::from)),
            Role::DestinationIp => (ids.destination_ip, value.as_str().map(Value::from)),
            Role::SourcePort => (ids.source_port, value.as_i64().map(Value::Int)),
            Role::DestinationPort => (ids.destination_port, value.as_i64().map(Value::Int)),
            Role::SourceBytes => (ids.source_bytes, number.map(|_| value.clone())),
            Role::DestinationBytes => (ids.destination_bytes, number.map(|_| value.clone())),
            Role::Transport => (ids.transport, value.as_str().map(Value::from)),
            Role::ProtocolNumber => {
                let Some(n) = value.as_i64() else {
                    return Ok(());
                };
                event.insert(ids.iana_number, Value::from(n.to_string()))?;
                (ids.transport, schema::transport_name(n).map(Value::from))
            }
            Role::DurationSeconds => (ids.duration, number.map(Value::Float)),
            Role::DurationMicros => (ids.duration, number.map(|us| Value::Float(us / 1e6))),
            Role::TimeText => {
                event.timestamp = value.as_str().and_then(|s| self.parse_time(s));
                return Ok(());
            }
            Role::EpochSeconds => {
                event.timestamp = number.and_then(epoch);
                return Ok(());
            }
            Role::Label if column == ids.label => return Ok(()),
            Role::Label => (ids.label, Some(value.clone())),
        };
        if let Some(v) = ecs {
            event.insert(id, v)?;
        }
        Ok(())
    }

    /// CICFlowMeter's timestamp spellings; the one that worked last is tried first.
    fn parse_time(&mut self, s: &str) -> Option<DateTime<Utc>> {
        let order = std::iter::once(self.time_hint).chain(0..TIME_FORMATS.len());
        for i in order {
            let Some(fmt) = TIME_FORMATS.get(i) else {
                continue;
            };
            if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
                self.time_hint = i;
                return Some(Utc.from_utc_datetime(&t));
            }
        }
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }
}

/// Day-first, as CICFlowMeter writes (`3/7/2017 8:55` is 3 July; V3/V4 `02/03/2018 08:47:38`,
/// `07/03/2017 08:55:58 AM`), and the Python port's ISO form.
const TIME_FORMATS: [&str; 5] = [
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %I:%M:%S %p",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
];

fn epoch(secs: f64) -> Option<DateTime<Utc>> {
    if !secs.is_finite() || !(0.0..1e11).contains(&secs) {
        return None;
    }
    Utc.timestamp_opt(secs.trunc() as i64, (secs.fract() * 1e9) as u32)
        .single()
}

/// A cell as an integer, a float (including CICFlowMeter's `Infinity`/`NaN`) or text.
fn typed(cell: &str) -> Value {
    let b = cell.as_bytes();
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    if !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && let Ok(i) = cell.parse::<i64>()
    {
        return Value::Int(i);
    }
    let numeric_start =
        matches!(b.first(), Some(c) if c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.'));
    let special = ["infinity", "-infinity", "nan"]
        .iter()
        .any(|w| cell.eq_ignore_ascii_case(w));
    if (numeric_start || special)
        && let Ok(f) = cell.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::from(cell)
}

#[cfg(test)]
mod tests;

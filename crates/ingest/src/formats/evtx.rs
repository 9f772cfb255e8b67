//! Windows EVTX, through the `evtx` crate.
//!
//! Each record is rendered by `evtx` to compact JSON and flattened in one pass into an
//! [`Event`] whose field names are the ones Sigma rules use: `System` children by their own
//! names (`EventID`, `Channel`, `Computer`, `Provider_Name`, `TimeCreated`, …), `EventData` and
//! `UserData` leaves by their original names (`CommandLine`, `TargetUserName`, …). A name with
//! spaces (Defender's `Threat Name`) is also stored without them (`ThreatName`), as rules name it.
//!
//! The same mapping serves evtx_dump's JSON lines export (see [`super::json`]).
//! A corrupt chunk loses only that chunk: `evtx` reports it and carries on with the next one.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use palisade_event::{AliasTable, Event, FieldId, Origin, Value};

use super::flatten::{FlatSink, flatten_slice, flatten_str};
use crate::error::{IngestError, PositionUnit, RecordError};
use crate::{EventSink, FileStats};

/// EVTX files start with this magic.
pub const MAGIC: &[u8] = b"ElfFile\0";

/// ECS names resolved to the EVTX fields that hold them.
pub fn aliases() -> &'static AliasTable {
    static T: OnceLock<AliasTable> = OnceLock::new();
    T.get_or_init(|| {
        AliasTable::new(&[
            ("host.name", "Computer"),
            ("event.code", "EventID"),
            ("event.provider", "Provider_Name"),
            ("winlog.channel", "Channel"),
            ("winlog.provider_name", "Provider_Name"),
            ("winlog.event_id", "EventID"),
            ("winlog.record_id", "EventRecordID"),
            ("process.command_line", "CommandLine"),
            ("process.executable", "Image"),
            ("process.pid", "ProcessId"),
            ("process.parent.executable", "ParentImage"),
            ("process.parent.command_line", "ParentCommandLine"),
            ("user.name", "TargetUserName"),
            ("source.ip", "IpAddress"),
            ("source.port", "IpPort"),
            ("destination.ip", "DestinationIp"),
            ("destination.port", "DestinationPort"),
            ("file.path", "TargetFilename"),
            ("registry.path", "TargetObject"),
            ("dns.question.name", "QueryName"),
        ])
    })
}

/// Maps a flattened evtx JSON path to the field name Sigma uses; `None` drops the leaf.
pub(crate) fn sigma_name(path: &str) -> Option<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    let path = path.strip_prefix("Event.").unwrap_or(path);
    // The `<Event>` element's own attributes (its `xmlns`) say nothing about the event.
    if path.starts_with("#attributes") {
        return None;
    }
    if let Some(rest) = path.strip_prefix("System.") {
        let name = match rest {
            "Provider.#attributes.Name" => "Provider_Name",
            "Provider.#attributes.Guid" => "Provider_Guid",
            "Provider.#attributes.EventSourceName" => "Provider_EventSourceName",
            "EventID.#text" => "EventID",
            "EventID.#attributes.Qualifiers" => "Qualifiers",
            "TimeCreated.#attributes.SystemTime" => "TimeCreated",
            "Execution.#attributes.ProcessID" => "ExecutionProcessID",
            "Execution.#attributes.ThreadID" => "ExecutionThreadID",
            "Security.#attributes.UserID" => "UserID",
            "Correlation.#attributes.ActivityID" => "ActivityID",
            "Correlation.#attributes.RelatedActivityID" => "RelatedActivityID",
            "Correlation" | "Security" | "Execution" => return None,
            other => other,
        };
        return Some(Cow::Borrowed(name));
    }
    if let Some(rest) = path.strip_prefix("EventData.") {
        if rest.starts_with("#attributes") {
            return None;
        }
        // `<Data>` elements without a Name attribute render as `Data` or `Data.#text`.
        let rest = rest.strip_suffix(".#text").unwrap_or(rest);
        return Some(Cow::Borrowed(rest));
    }
    if let Some(rest) = path.strip_prefix("UserData.") {
        // UserData wraps its fields in one provider-specific element; rules name the leaves.
        let leaf = rest
            .rsplit('.')
            .find(|seg| !seg.starts_with('#'))
            .unwrap_or(rest);
        if rest.contains("#attributes") || leaf.is_empty() {
            return None;
        }
        return Some(Cow::Borrowed(leaf));
    }
    if let Some(rest) = path.strip_prefix("RenderingInfo.") {
        if rest.contains("#attributes") {
            return None;
        }
        return Some(Cow::Owned(format!("RenderingInfo.{rest}")));
    }
    Some(Cow::Borrowed(path))
}

/// Builds an [`Event`] from evtx-shaped flattened leaves.
pub(crate) struct EvtxEventBuilder {
    pub event: Event,
}

impl EvtxEventBuilder {
    pub fn new(origin: Origin) -> Self {
        let mut event = Event::with_capacity(origin, "evtx", 40);
        event.set_aliases(aliases());
        event.meta.product = Some("windows".into());
        EvtxEventBuilder { event }
    }

    pub fn finish(self) -> Event {
        self.event
    }
}

/// What a flattened evtx JSON path becomes: the field, its space-free alias, and whether it is
/// the record time.
#[derive(Clone, Copy)]
struct Mapped {
    id: FieldId,
    squeezed: Option<FieldId>,
    is_time: bool,
}

/// Paths resolved per thread before the cache is cleared.
const PATH_CACHE_ENTRIES: usize = 16_384;

thread_local! {
    /// Every record of a template yields the same paths, so the mapping from path to field is
    /// computed once per thread rather than per leaf.
    static PATHS: std::cell::RefCell<rustc_hash::FxHashMap<Box<str>, Option<Mapped>>> =
        std::cell::RefCell::new(rustc_hash::FxHashMap::default());
}

fn map_path(path: &str) -> Result<Option<Mapped>, String> {
    if let Some(m) = PATHS.with(|c| c.borrow().get(path).copied()) {
        return Ok(m);
    }
    let mapped = match sigma_name(path) {
        None => None,
        Some(name) => Some(Mapped {
            id: FieldId::intern(&name).map_err(|e| e.to_string())?,
            squeezed: if name.contains(' ') {
                let squeezed: String = name.chars().filter(|c| *c != ' ').collect();
                Some(FieldId::intern(&squeezed).map_err(|e| e.to_string())?)
            } else {
                None
            },
            is_time: name == "TimeCreated",
        }),
    };
    PATHS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= PATH_CACHE_ENTRIES {
            c.clear();
        }
        c.insert(path.into(), mapped);
    });
    Ok(mapped)
}

impl FlatSink for EvtxEventBuilder {
    fn leaf(&mut self, path: &str, value: Value) -> Result<(), String> {
        let Some(m) = map_path(path)? else {
            return Ok(());
        };
        if m.is_time
            && let Some(ts) = value.as_str().and_then(parse_system_time)
        {
            self.event.timestamp = Some(ts);
        }
        if let Some(alias) = m.squeezed {
            self.event
                .insert(alias, value.clone())
                .map_err(|e| e.to_string())?;
        }
        self.event.insert(m.id, value).map_err(|e| e.to_string())
    }
}

fn parse_system_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Flattens one evtx-JSON record (as rendered by `evtx` or exported by evtx_dump) into an event.
pub fn event_from_json(bytes: &[u8], origin: Origin) -> Result<Event, String> {
    let mut builder = EvtxEventBuilder::new(origin);
    flatten_slice(bytes, &mut builder).map_err(|e| e.to_string())?;
    Ok(builder.finish())
}

/// As [`event_from_json`], for text already known to be UTF-8.
pub fn event_from_json_str(text: &str, origin: Origin) -> Result<Event, String> {
    let mut builder = EvtxEventBuilder::new(origin);
    flatten_str(text, &mut builder).map_err(|e| e.to_string())?;
    Ok(builder.finish())
}

/// Settings for reading EVTX.
#[derive(Debug, Clone, Copy)]
pub struct EvtxOptions {
    /// Threads `evtx` may use to parse chunks of one file in parallel.
    pub threads: usize,
    /// Events per batch handed to the sink.
    pub batch_size: usize,
}

/// Streams the records of the EVTX file at `path` into `sink`.
pub fn read_file(
    path: &Path,
    source: Arc<str>,
    opts: EvtxOptions,
    sink: &mut dyn EventSink,
) -> Result<FileStats, IngestError> {
    let parser = evtx::EvtxParser::from_path(path).map_err(|e| IngestError::Invalid {
        path: path.to_owned(),
        format: "EVTX",
        message: with_causes(&e),
    })?;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    read_parser(parser, size, source, opts, sink)
}

/// Streams the records of an in-memory EVTX file (from stdin or a `.gz`).
pub fn read_buffer(
    buffer: Vec<u8>,
    path: &Path,
    source: Arc<str>,
    opts: EvtxOptions,
    sink: &mut dyn EventSink,
) -> Result<FileStats, IngestError> {
    let size = buffer.len() as u64;
    let parser = evtx::EvtxParser::from_buffer(buffer).map_err(|e| IngestError::Invalid {
        path: path.to_owned(),
        format: "EVTX",
        message: with_causes(&e),
    })?;
    read_parser(parser, size, source, opts, sink)
}

fn read_parser<T: std::io::Read + std::io::Seek>(
    parser: evtx::EvtxParser<T>,
    size: u64,
    source: Arc<str>,
    opts: EvtxOptions,
    sink: &mut dyn EventSink,
) -> Result<FileStats, IngestError> {
    let settings = evtx::ParserSettings::new()
        .num_threads(opts.threads.max(1))
        .separate_json_attributes(false);
    let mut parser = parser.with_configuration(settings);
    let mut stats = FileStats {
        bytes: size,
        ..FileStats::default()
    };
    let mut batch = Vec::with_capacity(opts.batch_size);
    let src = source.clone();
    let records = parser.serialized_records(move |record| {
        let record = record?;
        let id = record.event_record_id;
        // `into_json` validates the rendered UTF-8 once (SIMD); the flattener then slices
        // strings out of it without checking each again.
        let rendered = record.into_json()?;
        Ok(event_from_json_str(&rendered.data, Origin::new(src.clone(), id)).map_err(|e| (id, e)))
    });
    for item in records {
        match item {
            Ok(Ok(event)) => {
                stats.events += 1;
                batch.push(event);
                if batch.len() >= opts.batch_size {
                    sink.events(&mut batch);
                    batch.clear();
                }
            }
            Ok(Err((id, message))) => {
                stats.skipped += 1;
                sink.warning(RecordError {
                    source: source.clone(),
                    unit: PositionUnit::Record,
                    position: id,
                    message,
                });
            }
            Err(e) => {
                stats.skipped += 1;
                sink.warning(evtx_error(&source, &e));
            }
        }
    }
    if let Some(w) = incomplete_tail(size, &source) {
        stats.skipped += 1;
        sink.warning(w);
    }
    if !batch.is_empty() {
        sink.events(&mut batch);
    }
    Ok(stats)
}

/// Size of the EVTX file header, which the chunks follow.
const FILE_HEADER_BYTES: u64 = 4096;
/// Size of one EVTX chunk.
const CHUNK_BYTES: u64 = 65536;

/// Byte offset of chunk number `n` in its file. `evtx` reports chunks by number, but
/// [`PositionUnit::Chunk`] promises (and prints) a byte offset a user can seek to.
fn chunk_offset(n: u64) -> u64 {
    n.saturating_mul(CHUNK_BYTES)
        .saturating_add(FILE_HEADER_BYTES)
}

/// `evtx` reads whole chunks only and passes over a partial one at the end of the file without
/// a word (it takes it for slack), so a truncated file would lose that chunk's records silently.
fn incomplete_tail(size: u64, source: &Arc<str>) -> Option<RecordError> {
    let tail = size.checked_sub(FILE_HEADER_BYTES)? % CHUNK_BYTES;
    (tail != 0).then(|| RecordError {
        source: source.clone(),
        unit: PositionUnit::Chunk,
        position: size - tail,
        message: format!(
            "incomplete chunk: the file ends {tail} bytes into it (truncated?); its records are lost"
        ),
    })
}

fn evtx_error(source: &Arc<str>, e: &evtx::err::EvtxError) -> RecordError {
    use evtx::err::EvtxError as E;
    let (unit, position) = match e {
        E::FailedToParseChunk { chunk_id, .. } => (PositionUnit::Chunk, chunk_offset(*chunk_id)),
        E::FailedToParseRecord { record_id, .. } => (PositionUnit::Record, *record_id),
        E::FailedToReadRecordAt { chunk: Some(c), .. } => (PositionUnit::Chunk, chunk_offset(*c)),
        _ => (PositionUnit::Record, 0),
    };
    RecordError {
        source: source.clone(),
        unit,
        position,
        message: with_causes(e),
    }
}

/// An error and its causes: the chain carries the useful detail ("bad magic", "incomplete
/// chunk") under `evtx`'s generic top-level messages.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_and_eventdata_names() {
        let json = br##"{"Event":{"#attributes":{"xmlns":"x"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon","Guid":"{5770}"}},"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"WS1","TimeCreated":{"#attributes":{"SystemTime":"2025-12-06T21:11:02.649150Z"}},"Security":{"#attributes":{"UserID":"S-1-5-18"}}},"EventData":{"Image":"C:\\Windows\\cmd.exe","Threat Name":"EICAR"}}}"##;
        let e = event_from_json(json, Origin::default()).unwrap();
        let get = |n: &str| e.get_by_name(n).map(|v| v.to_string());
        assert_eq!(get("EventID").as_deref(), Some("1"));
        assert_eq!(
            get("Provider_Name").as_deref(),
            Some("Microsoft-Windows-Sysmon")
        );
        assert_eq!(
            get("Channel").as_deref(),
            Some("Microsoft-Windows-Sysmon/Operational")
        );
        assert_eq!(get("Image").as_deref(), Some("C:\\Windows\\cmd.exe"));
        assert_eq!(get("ThreatName").as_deref(), Some("EICAR"));
        assert_eq!(get("Threat Name").as_deref(), Some("EICAR"));
        assert_eq!(get("UserID").as_deref(), Some("S-1-5-18"));
        assert_eq!(get("host.name").as_deref(), Some("WS1"));
        assert!(e.get_by_name("xmlns").is_none());
        assert!(e.get_by_name("#attributes.xmlns").is_none());
        assert_eq!(
            e.timestamp.unwrap().to_rfc3339(),
            "2025-12-06T21:11:02.649150+00:00"
        );
    }

    /// `evtx` numbers chunks; the warning used to print that number as "chunk at byte 2".
    #[test]
    fn chunk_errors_give_the_chunk_byte_offset() {
        use evtx::err::{ChunkError, EvtxError};
        let e = EvtxError::FailedToParseChunk {
            chunk_id: 2,
            source: Box::new(ChunkError::IncompleteChunk),
        };
        let w = evtx_error(&Arc::from("x.evtx"), &e);
        assert_eq!(
            (w.unit, w.position),
            (PositionUnit::Chunk, 4096 + 2 * 65536)
        );
        assert!(
            w.to_string().starts_with("x.evtx chunk at byte 135168: "),
            "{w}"
        );
        assert!(w.message.contains("Reached EOF"), "{w}");
        assert_eq!(chunk_offset(u64::MAX), u64::MAX);
    }

    /// A file cut inside a chunk: `evtx` dropped that chunk without an error.
    #[test]
    fn a_partial_last_chunk_is_reported() {
        let src: Arc<str> = Arc::from("cut.evtx");
        assert!(incomplete_tail(4096 + 2 * 65536, &src).is_none());
        assert!(incomplete_tail(1000, &src).is_none());
        let w = incomplete_tail(4096 + 2 * 65536 + 100, &src).unwrap();
        assert_eq!(
            (w.unit, w.position),
            (PositionUnit::Chunk, 4096 + 2 * 65536)
        );
        assert!(w.message.contains("ends 100 bytes into it"), "{w}");
    }

    #[test]
    fn eventid_with_qualifiers_and_userdata() {
        let json = br##"{"Event":{"System":{"EventID":{"#attributes":{"Qualifiers":16384},"#text":7045}},"UserData":{"LogFileCleared":{"#attributes":{"xmlns":"y"},"SubjectUserName":"bob"}}}}"##;
        let e = event_from_json(json, Origin::default()).unwrap();
        assert_eq!(e.get_by_name("EventID").unwrap().to_string(), "7045");
        assert_eq!(e.get_by_name("Qualifiers").unwrap().to_string(), "16384");
        assert_eq!(e.get_by_name("SubjectUserName").unwrap().to_string(), "bob");
    }
}

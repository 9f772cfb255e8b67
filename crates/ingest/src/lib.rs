//! Palisade log ingestion.
//!
//! Turns files, directories, `.gz` files and stdin into a stream of [`Event`]s, in constant
//! memory. The format of each input is detected from its content ([`detect`]) or forced by the
//! caller; each format is one module under [`formats`]. Text formats implement
//! [`LineFormat`]; EVTX is binary and has its own reader.
//!
//! Bad records never stop a run: each is skipped, reported through the caller's
//! [`EventSink::warning`] with the file and line/record position, and counted in [`FileStats`].
//!
//! This crate does not print or exit; the caller decides what to do with warnings.

pub mod detect;
pub mod error;
pub mod formats;
pub mod line;
pub mod source;

pub use detect::Format;
pub use error::{IngestError, RecordError};
pub use line::{LineFormat, ParseError};
pub use source::{IngestOptions, Input, discover_inputs, read_input};

use palisade_event::Event;

/// Receives what an input produces.
pub trait EventSink {
    /// A batch of parsed events. The sink may drain the vector; it is reused.
    fn events(&mut self, batch: &mut Vec<Event>);
    /// A skipped record (malformed, over-long, …). The run continues.
    fn warning(&mut self, error: RecordError);
}

/// Counters for one input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Records turned into events.
    pub events: u64,
    /// Records skipped with a warning.
    pub skipped: u64,
    /// Bytes read from the input (after decompression).
    pub bytes: u64,
}

impl FileStats {
    pub fn add(&mut self, other: &FileStats) {
        self.events += other.events;
        self.skipped += other.skipped;
        self.bytes += other.bytes;
    }
}

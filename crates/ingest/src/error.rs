//! Ingest errors: per record (skipped, counted) and per input (the input is unusable).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// How a position inside an input is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionUnit {
    Line,
    Record,
    /// Byte offset of an EVTX chunk.
    Chunk,
}

impl fmt::Display for PositionUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PositionUnit::Line => "line",
            PositionUnit::Record => "record",
            PositionUnit::Chunk => "chunk at byte",
        })
    }
}

/// One record that was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub source: Arc<str>,
    pub unit: PositionUnit,
    pub position: u64,
    pub message: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}: {}",
            self.source, self.unit, self.position, self.message
        )
    }
}

impl std::error::Error for RecordError {}

/// An input that could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot tell the log format from its content ({hint}); pass --input-format")]
    UnknownFormat { path: PathBuf, hint: String },
    #[error("{path}: not a valid {format} file: {message}")]
    Invalid {
        path: PathBuf,
        format: &'static str,
        message: String,
    },
}

impl IngestError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IngestError::Io {
            path: path.into(),
            source,
        }
    }
}

//! The interface every line-oriented text format implements.

use palisade_event::{Event, Origin};

/// Why one line could not be parsed. The driver adds file and line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl ParseError {
    pub fn new(message: impl Into<String>) -> Self {
        ParseError(message.into())
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

impl From<palisade_event::event::FieldError> for ParseError {
    fn from(e: palisade_event::event::FieldError) -> Self {
        ParseError(e.to_string())
    }
}

/// A text format read one line at a time. One instance parses one input from its first line,
/// so it may keep per-file state (a Zeek `#fields` header, a CSV header row).
pub trait LineFormat: Send {
    /// Short name used in messages and in `Event::meta.format`.
    fn name(&self) -> &'static str;

    /// Parses one line, given without its line terminator.
    ///
    /// `Ok(None)` means the line holds no record (blank, comment, header); `Err` means it should
    /// have held one and is malformed. Must never panic, whatever the input.
    fn parse_line(&mut self, line: &str, origin: Origin) -> Result<Option<Event>, ParseError>;
}

//! CEF and LEEF. Being written.
use crate::line::{LineFormat, ParseError};
use palisade_event::{Event, Origin};
#[derive(Debug, Default)]
pub struct CefFormat;
impl CefFormat {
    pub fn cef() -> Self {
        CefFormat
    }
    pub fn leef() -> Self {
        CefFormat
    }
}
pub fn sniff_cef(_line: &str) -> bool {
    false
}
pub fn sniff_leef(_line: &str) -> bool {
    false
}
impl LineFormat for CefFormat {
    fn name(&self) -> &'static str {
        "cef"
    }
    fn parse_line(&mut self, _line: &str, _origin: Origin) -> Result<Option<Event>, ParseError> {
        Err(ParseError::new("cef parser not built yet"))
    }
}

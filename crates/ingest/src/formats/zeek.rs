//! Zeek logs. Being written.
use crate::line::{LineFormat, ParseError};
use palisade_event::{Event, Origin};
#[derive(Debug, Default)]
pub struct ZeekFormat;
pub fn sniff_json(_line: &str) -> bool {
    false
}
impl LineFormat for ZeekFormat {
    fn name(&self) -> &'static str {
        "zeek"
    }
    fn parse_line(&mut self, _line: &str, _origin: Origin) -> Result<Option<Event>, ParseError> {
        Err(ParseError::new("zeek parser not built yet"))
    }
}

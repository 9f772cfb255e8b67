//! Flow CSV. Being written.
use crate::line::{LineFormat, ParseError};
use palisade_event::{Event, Origin};
#[derive(Debug, Default)]
pub struct FlowCsvFormat;
pub fn sniff(_line: &str) -> bool {
    false
}
impl LineFormat for FlowCsvFormat {
    fn name(&self) -> &'static str {
        "flow-csv"
    }
    fn parse_line(&mut self, _line: &str, _origin: Origin) -> Result<Option<Event>, ParseError> {
        Err(ParseError::new("flow csv parser not built yet"))
    }
}

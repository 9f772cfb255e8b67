//! Syslog (RFC 3164, RFC 5424). Being written.
use crate::line::{LineFormat, ParseError};
use palisade_event::{Event, Origin};
#[derive(Debug, Default)]
pub struct SyslogFormat;
pub fn sniff(_line: &str) -> bool {
    false
}
impl LineFormat for SyslogFormat {
    fn name(&self) -> &'static str {
        "syslog"
    }
    fn parse_line(&mut self, _line: &str, _origin: Origin) -> Result<Option<Event>, ParseError> {
        Err(ParseError::new("syslog parser not built yet"))
    }
}

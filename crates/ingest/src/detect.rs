//! Which format an input is in, from its first bytes.

use std::fmt;
use std::str::FromStr;

use crate::formats;
use crate::line::LineFormat;

/// Every input format Palisade reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Windows EVTX (binary).
    Evtx,
    /// NDJSON / ECS JSON, including evtx_dump JSON lines and Winlogbeat documents.
    Json,
    /// Syslog RFC 3164 / RFC 5424, with sshd, sudo, su, PAM and account messages typed.
    Syslog,
    /// Zeek logs, TSV with a `#fields` header or JSON lines.
    Zeek,
    /// Flow CSV: NSL-KDD, UNSW-NB15 or CICFlowMeter columns.
    FlowCsv,
    /// ArcSight Common Event Format.
    Cef,
    /// IBM QRadar Log Event Extended Format.
    Leef,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Evtx,
        Format::Json,
        Format::Syslog,
        Format::Zeek,
        Format::FlowCsv,
        Format::Cef,
        Format::Leef,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Evtx => "evtx",
            Format::Json => "json",
            Format::Syslog => "syslog",
            Format::Zeek => "zeek",
            Format::FlowCsv => "flow-csv",
            Format::Cef => "cef",
            Format::Leef => "leef",
        }
    }

    /// A fresh parser for one input, for the line-oriented formats (all but EVTX).
    pub fn line_parser(self) -> Option<Box<dyn LineFormat>> {
        Some(match self {
            Format::Evtx => return None,
            Format::Json => Box::new(formats::json::JsonFormat),
            Format::Syslog => Box::new(formats::syslog::SyslogFormat::default()),
            Format::Zeek => Box::new(formats::zeek::ZeekFormat::default()),
            Format::FlowCsv => Box::new(formats::flowcsv::FlowCsvFormat::default()),
            Format::Cef => Box::new(formats::cef::CefFormat::cef()),
            Format::Leef => Box::new(formats::cef::CefFormat::leef()),
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "evtx" => Format::Evtx,
            "json" | "ndjson" | "jsonl" | "ecs" | "evtx-json" | "winlogbeat" => Format::Json,
            "syslog" => Format::Syslog,
            "zeek" | "bro" => Format::Zeek,
            "flow-csv" | "csv" | "nsl-kdd" | "unsw-nb15" | "cicflowmeter" => Format::FlowCsv,
            "cef" => Format::Cef,
            "leef" => Format::Leef,
            other => {
                return Err(format!(
                    "unknown input format {other:?}; expected one of: {}",
                    Format::ALL.map(Format::name).join(", ")
                ));
            }
        })
    }
}

/// Guesses the format from the first bytes of an (already decompressed) input.
/// On failure returns a short description of what was seen, for the error message.
pub fn sniff(head: &[u8]) -> Result<Format, String> {
    if head.starts_with(formats::evtx::MAGIC) {
        return Ok(Format::Evtx);
    }
    let text = String::from_utf8_lossy(&head[..head.len().min(8192)]);
    let text = text.trim_start_matches('\u{feff}');
    let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Err("the input is empty".into());
    };
    if first.starts_with("#separator") || first.starts_with("#fields") {
        return Ok(Format::Zeek);
    }
    if first.starts_with('{') {
        if formats::zeek::sniff_json(first) {
            return Ok(Format::Zeek);
        }
        return Ok(Format::Json);
    }
    if formats::cef::sniff_cef(first) {
        return Ok(Format::Cef);
    }
    if formats::cef::sniff_leef(first) {
        return Ok(Format::Leef);
    }
    if formats::flowcsv::sniff(first) {
        return Ok(Format::FlowCsv);
    }
    if formats::syslog::sniff(first) {
        return Ok(Format::Syslog);
    }
    if looks_binary(head) {
        return Err("binary data that is not EVTX".into());
    }
    let preview: String = first.chars().take(60).collect();
    Err(format!("first line starts {preview:?}"))
}

/// Whether the start of an input is binary rather than text: a few NULs (UTF-16, compressed or
/// executable data), or more than one character in ten that is not text (invalid UTF-8 or a
/// control character other than tab, line feed, carriage return and form feed).
fn looks_binary(head: &[u8]) -> bool {
    let sample = &head[..head.len().min(512)];
    if sample.iter().filter(|b| **b == 0).count() > 4 {
        return true;
    }
    let text = String::from_utf8_lossy(sample);
    let (mut odd, mut total) = (0usize, 0usize);
    for c in text.chars() {
        total += 1;
        if c == char::REPLACEMENT_CHARACTER
            || (c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c'))
        {
            odd += 1;
        }
    }
    odd * 10 > total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
        }
        assert!("xml".parse::<Format>().is_err());
    }

    #[test]
    fn sniffs_common_shapes() {
        assert_eq!(sniff(b"ElfFile\0rest"), Ok(Format::Evtx));
        assert_eq!(sniff(b"{\"a\":1}\n"), Ok(Format::Json));
        assert_eq!(sniff(b"#separator \\x09\n#fields\tts\n"), Ok(Format::Zeek));
        assert!(sniff(b"").is_err());
        assert!(sniff(&[0u8; 600]).is_err());
    }

    /// Random bytes used to be reported as text ("first line starts \"G\u{fffd}\u{fffd}M…\"")
    /// because they hold too few NULs for the old check.
    #[test]
    fn random_bytes_are_called_binary() {
        let garbage: Vec<u8> = (0u32..4096)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(sniff(&garbage), Err("binary data that is not EVTX".into()));
        let mut latin1 =
            b"caf\xe9 au lait, na\xefve text that is not UTF-8 but mostly ASCII".to_vec();
        latin1.push(b'\n');
        assert!(sniff(&latin1).unwrap_err().starts_with("first line starts"));
        assert!(!looks_binary("Grüße aus Köln\tmit Umlauten\r\n".as_bytes()));
    }
}

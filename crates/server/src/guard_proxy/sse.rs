//! Server-sent events (the WHATWG `text/event-stream` format) read incrementally from the
//! bytes of a response as they arrive, in whatever pieces the network delivers them.
//!
//! Each event keeps its raw bytes (its lines and the blank line that ends it), so an event the
//! guard does not change is forwarded exactly as the upstream wrote it. Lines may end in CRLF,
//! LF or CR; a CR at the end of a piece waits for the next byte (it may be half of a CRLF).
//! An event longer than the parser's limit is an error, never unbounded memory.

/// One event: its raw bytes and its `data` (the `data:` lines joined with `\n`, as the
/// specification says), if it has any and they are UTF-8.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    pub raw: Vec<u8>,
    pub data: Option<String>,
}

/// An event grew beyond the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a server-sent event is longer than {0} bytes")]
pub struct TooLong(pub usize);

/// The incremental parser.
#[derive(Debug)]
pub struct SseParser {
    buf: Vec<u8>,
    /// Where the current line starts in `buf`.
    line_start: usize,
    /// `data:` values of the current event so far.
    data: Vec<u8>,
    has_data: bool,
    max_event: usize,
}

impl SseParser {
    pub fn new(max_event: usize) -> SseParser {
        SseParser {
            buf: Vec::new(),
            line_start: 0,
            data: Vec::new(),
            has_data: false,
            max_event,
        }
    }

    /// Takes the next piece of the stream; complete events are appended to `out`.
    pub fn push(&mut self, piece: &[u8], out: &mut Vec<SseEvent>) -> Result<(), TooLong> {
        self.buf.extend_from_slice(piece);
        loop {
            let rest = &self.buf[self.line_start..];
            let Some(i) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
                break;
            };
            let end_len = if rest[i] == b'\r' {
                match rest.get(i + 1) {
                    None => break, // CR at the end: maybe half of a CRLF.
                    Some(b'\n') => 2,
                    Some(_) => 1,
                }
            } else {
                1
            };
            let line_end = self.line_start + i;
            let next = line_end + end_len;
            if line_end == self.line_start {
                // A blank line: the event ends here.
                let raw: Vec<u8> = self.buf.drain(..next).collect();
                self.line_start = 0;
                let data = self
                    .has_data
                    .then(|| String::from_utf8(std::mem::take(&mut self.data)).ok());
                self.data.clear();
                self.has_data = false;
                out.push(SseEvent {
                    raw,
                    data: data.flatten(),
                });
            } else {
                let line = &self.buf[self.line_start..line_end];
                field(line, &mut self.data, &mut self.has_data);
                self.line_start = next;
            }
        }
        if self.buf.len() > self.max_event {
            return Err(TooLong(self.max_event));
        }
        Ok(())
    }

    /// The stream ended: what is left of an unfinished event (raw bytes), which the
    /// specification says to discard and a proxy forwards as it is.
    pub fn finish(&mut self) -> Vec<u8> {
        self.line_start = 0;
        self.data.clear();
        self.has_data = false;
        std::mem::take(&mut self.buf)
    }
}

/// Applies one line to the event being read (only `data` matters here).
fn field(line: &[u8], data: &mut Vec<u8>, has_data: &mut bool) {
    if line.first() == Some(&b':') {
        return; // a comment
    }
    let (name, value) = match line.iter().position(|&b| b == b':') {
        Some(c) => {
            let v = &line[c + 1..];
            (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
        }
        None => (line, &b""[..]),
    };
    if name == b"data" {
        if *has_data {
            data.push(b'\n');
        }
        data.extend_from_slice(value);
        *has_data = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(pieces: &[&[u8]]) -> (Vec<SseEvent>, Vec<u8>) {
        let mut p = SseParser::new(1 << 20);
        let mut out = Vec::new();
        for piece in pieces {
            p.push(piece, &mut out).unwrap();
        }
        let rest = p.finish();
        (out, rest)
    }

    #[test]
    fn events_keep_their_raw_bytes_and_join_data_lines() {
        let s = b": keep-alive\n\nevent: x\ndata: {\"a\":1}\r\n\r\ndata:one\ndata: two\n\ndata: [DONE]\n\n";
        let (ev, rest) = parse_all(&[s]);
        assert!(rest.is_empty());
        assert_eq!(ev.len(), 4);
        assert_eq!(ev[0].data, None);
        assert_eq!(ev[0].raw, b": keep-alive\n\n");
        assert_eq!(ev[1].data.as_deref(), Some("{\"a\":1}"));
        assert_eq!(ev[1].raw, b"event: x\ndata: {\"a\":1}\r\n\r\n");
        assert_eq!(ev[2].data.as_deref(), Some("one\ntwo"));
        assert_eq!(ev[3].data.as_deref(), Some("[DONE]"));
        let joined: Vec<u8> = ev.iter().flat_map(|e| e.raw.clone()).collect();
        assert_eq!(joined, s);
    }

    #[test]
    fn a_cr_at_the_end_of_a_piece_waits_for_the_next() {
        let (ev, rest) = parse_all(&[b"data: a\r", b"\n\r", b"\ndata: b\r\r"]);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].raw, b"data: a\r\n\r\n");
        assert_eq!(rest, b"data: b\r\r");
        let (ev, _) = parse_all(&[b"data: b\r\r", b"data: c\n\n"]);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].data.as_deref(), Some("b"));
        assert_eq!(ev[1].raw, b"data: c\n\n");
    }

    #[test]
    fn an_unfinished_event_is_handed_back_at_the_end() {
        let (ev, rest) = parse_all(&[b"data: a\n\ndata: partial"]);
        assert_eq!(ev.len(), 1);
        assert_eq!(rest, b"data: partial");
    }

    #[test]
    fn an_endless_event_is_an_error() {
        let mut p = SseParser::new(64);
        let mut out = Vec::new();
        assert!(p.push(&[b'x'; 40], &mut out).is_ok());
        assert_eq!(p.push(&[b'x'; 40], &mut out), Err(TooLong(64)));
    }

    proptest! {
        /// However the stream is cut into pieces, the events are the same as from one piece,
        /// and their raw bytes plus the rest are the stream.
        #[test]
        fn any_split_gives_the_events_of_one_piece(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("data: "), Just("data:"), Just("event: message"), Just(": c"),
                    Just("{\"x\":\"é\"}"), Just("[DONE]"), Just("\n"), Just("\r\n"),
                    Just("\r"), Just("id: 7"), Just("text"),
                ],
                0..40,
            ),
            cuts in proptest::collection::vec(0usize..400, 0..12),
        ) {
            let stream: Vec<u8> = parts.concat().into_bytes();
            let whole = parse_all(&[&stream]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut pieces: Vec<&[u8]> = Vec::new();
            let mut at = 0;
            for c in cuts {
                pieces.push(&stream[at..c]);
                at = c;
            }
            pieces.push(&stream[at..]);
            let split = parse_all(&pieces);
            prop_assert_eq!(&split, &whole);
            let mut joined: Vec<u8> = whole.0.iter().flat_map(|e| e.raw.clone()).collect();
            joined.extend_from_slice(&whole.1);
            prop_assert_eq!(joined, stream);
        }
    }
}

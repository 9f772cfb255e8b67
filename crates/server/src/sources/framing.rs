//! Splitting a syslog TCP stream into messages (RFC 6587).
//!
//! Senders use one of two framings, and some switch between them, so the choice is made again
//! at the start of every frame:
//!
//! - **octet counting**: `MSG-LEN SP MSG`, where `MSG-LEN` is a decimal without leading zero;
//! - **non-transparent**: the message ends at LF (or NUL, which a few senders use); a CR
//!   before the LF is dropped.
//!
//! A frame starting with a digit 1–9 followed by digits and a space is octet-counted; anything
//! else is a line. (Syslog messages start with `<PRI>`, so the rule only misreads a line that
//! starts with a number and a space and has no PRI.)
//!
//! Memory is bounded: the decoder never holds more than one frame of at most `max_frame` bytes
//! plus the bytes of one `feed` call. Longer frames are skipped (reported as
//! [`Frame::Oversize`]) and decoding carries on with the next frame, so one bad message never
//! costs the connection or the messages around it. The decoder never panics, whatever the bytes.

/// Longest `MSG-LEN` accepted (ten digits); a longer run of digits is read as a line.
const MAX_LEN_DIGITS: usize = 10;

/// What the decoder found in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One message, without its length prefix or terminator.
    Message(Vec<u8>),
    /// A message longer than `max_frame` bytes, skipped.
    Oversize,
    /// The stream ended inside an octet-counted message (the partial message is dropped).
    Truncated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    /// Reading frames normally.
    No,
    /// Inside an oversize octet-counted frame: this many bytes still to drop.
    Octets(usize),
    /// Inside an oversize line: drop up to the next LF or NUL.
    ToDelimiter,
}

/// Incremental RFC 6587 decoder: feed it whatever the socket returned, in any pieces.
#[derive(Debug)]
pub struct FrameDecoder {
    max_frame: usize,
    buf: Vec<u8>,
    skip: Skip,
}

fn is_delimiter(b: u8) -> bool {
    b == b'\n' || b == 0
}

/// The message without trailing CR/LF/NUL (some octet-counting senders include a newline).
fn trim_end(mut m: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n' | 0] = m {
        m = rest;
    }
    m
}

/// How the frame at the start of `buf` is framed, if that can be told yet.
enum Start {
    /// Octet-counted: message length and where the message starts.
    Counted { len: usize, body: usize },
    /// A line.
    Line,
    /// Only digits so far: need more bytes to tell.
    Undecided,
}

fn frame_start(buf: &[u8]) -> Start {
    match buf.first() {
        Some(b'1'..=b'9') => {}
        Some(_) => return Start::Line,
        None => return Start::Undecided,
    }
    let digits = buf.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > MAX_LEN_DIGITS {
        return Start::Line;
    }
    match buf.get(digits) {
        None => Start::Undecided,
        Some(b' ') => {
            // At most ten ASCII digits: fits in u64, and usize on 64-bit targets.
            let len = buf[..digits]
                .iter()
                .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            match usize::try_from(len) {
                Ok(len) => Start::Counted {
                    len,
                    body: digits + 1,
                },
                Err(_) => Start::Line,
            }
        }
        Some(_) => Start::Line,
    }
}

impl FrameDecoder {
    /// A decoder that skips frames longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> FrameDecoder {
        FrameDecoder {
            max_frame: max_frame.max(1),
            buf: Vec::new(),
            skip: Skip::No,
        }
    }

    /// Bytes held waiting for the rest of a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Decodes `bytes`, appending every complete frame to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<Frame>) {
        // Drop what an oversize frame still owes before buffering anything.
        loop {
            match self.skip {
                Skip::No => break,
                Skip::Octets(left) => {
                    let n = left.min(bytes.len());
                    bytes = &bytes[n..];
                    if n == left {
                        self.skip = Skip::No;
                    } else {
                        self.skip = Skip::Octets(left - n);
                        return;
                    }
                }
                Skip::ToDelimiter => match bytes.iter().position(|b| is_delimiter(*b)) {
                    Some(i) => {
                        bytes = &bytes[i + 1..];
                        self.skip = Skip::No;
                    }
                    None => return,
                },
            }
        }
        self.buf.extend_from_slice(bytes);
        let mut pos = 0;
        while pos < self.buf.len() {
            let rest = &self.buf[pos..];
            // Delimiters between frames (blank lines, a newline after a counted frame).
            if matches!(rest[0], b'\n' | b'\r' | 0) {
                pos += 1;
                continue;
            }
            match frame_start(rest) {
                Start::Counted { len, body } => {
                    if len > self.max_frame {
                        out.push(Frame::Oversize);
                        let available = rest.len() - body;
                        if available >= len {
                            pos += body + len;
                            continue;
                        }
                        self.skip = Skip::Octets(len - available);
                        pos = self.buf.len();
                        break;
                    }
                    if rest.len() - body < len {
                        break;
                    }
                    let msg = trim_end(&rest[body..body + len]);
                    if !msg.is_empty() {
                        out.push(Frame::Message(msg.to_vec()));
                    }
                    pos += body + len;
                }
                Start::Undecided => break,
                Start::Line => match rest.iter().position(|b| is_delimiter(*b)) {
                    Some(end) => {
                        if end > self.max_frame {
                            out.push(Frame::Oversize);
                        } else {
                            let msg = trim_end(&rest[..end]);
                            if !msg.is_empty() {
                                out.push(Frame::Message(msg.to_vec()));
                            }
                        }
                        pos += end + 1;
                    }
                    None => {
                        if rest.len() > self.max_frame {
                            out.push(Frame::Oversize);
                            self.skip = Skip::ToDelimiter;
                            pos = self.buf.len();
                        }
                        break;
                    }
                },
            }
        }
        self.buf.drain(..pos);
    }

    /// The stream ended: an unterminated line is a message (RFC 6587 lets the last one go
    /// without a trailer); an incomplete octet-counted frame is [`Frame::Truncated`].
    pub fn finish(&mut self, out: &mut Vec<Frame>) {
        match self.skip {
            Skip::Octets(_) | Skip::ToDelimiter => {}
            Skip::No => {
                let rest = std::mem::take(&mut self.buf);
                match frame_start(&rest) {
                    Start::Counted { .. } => out.push(Frame::Truncated),
                    Start::Line | Start::Undecided => {
                        let msg = trim_end(&rest);
                        if !msg.is_empty() {
                            out.push(Frame::Message(msg.to_vec()));
                        }
                    }
                }
            }
        }
        self.buf.clear();
        self.skip = Skip::No;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_in(pieces: &[&[u8]], max: usize) -> Vec<Frame> {
        let mut d = FrameDecoder::new(max);
        let mut out = Vec::new();
        for p in pieces {
            d.feed(p, &mut out);
        }
        d.finish(&mut out);
        out
    }

    fn msg(s: &str) -> Frame {
        Frame::Message(s.as_bytes().to_vec())
    }

    #[test]
    fn both_framings_mixed_on_one_stream() {
        let stream = b"<13>a line\n11 <13>counted<14>crlf line\r\n\0<15>nul framed\x005 <1>x\n\n";
        assert_eq!(
            decode_in(&[stream], 100),
            [
                msg("<13>a line"),
                msg("<13>counted"),
                msg("<14>crlf line"),
                msg("<15>nul framed"),
                msg("<1>x"),
            ]
        );
    }

    #[test]
    fn numbers_without_a_space_are_lines() {
        assert_eq!(
            decode_in(&[b"2024-05-01 host msg\n0 zero\n"], 100),
            [msg("2024-05-01 host msg"), msg("0 zero")]
        );
    }

    #[test]
    fn oversize_frames_are_skipped_and_the_next_ones_kept() {
        let long = "x".repeat(50);
        let stream = format!("<1>{long}\n<2>ok\n60 <3>{long}1234567<4>after\n");
        for split in 0..stream.len() {
            let (a, b) = stream.as_bytes().split_at(split);
            assert_eq!(
                decode_in(&[a, b], 20),
                [
                    Frame::Oversize,
                    msg("<2>ok"),
                    Frame::Oversize,
                    msg("<4>after")
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn stream_end_inside_a_counted_frame_is_truncated() {
        assert_eq!(
            decode_in(&[b"<1>a\n20 <2>short"], 100),
            [msg("<1>a"), Frame::Truncated]
        );
        assert_eq!(decode_in(&[b"<1>no trailer"], 100), [msg("<1>no trailer")]);
    }

    #[test]
    fn endless_digits_stay_bounded() {
        let mut d = FrameDecoder::new(64);
        let mut out = Vec::new();
        for _ in 0..1000 {
            d.feed(b"1234567890", &mut out);
            assert!(d.buffered() <= 64 + MAX_LEN_DIGITS + 1);
        }
        d.feed(b"\n<1>next\n", &mut out);
        assert_eq!(out, [Frame::Oversize, msg("<1>next")]);
    }

    /// A message as it should come out (trimmed), its bytes on the wire, and the length the
    /// decoder compares with `max_frame` (the count, or the line up to its LF).
    fn framed() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, usize)> {
        let counted = proptest::collection::vec(any::<u8>(), 1..60).prop_map(|m| {
            let mut wire = format!("{} ", m.len()).into_bytes();
            wire.extend_from_slice(&m);
            (trim_end(&m).to_vec(), wire, m.len())
        });
        let line = proptest::collection::vec(any::<u8>(), 0..60).prop_map(|body| {
            let mut m = b"<13>".to_vec();
            m.extend(body.into_iter().filter(|b| !is_delimiter(*b)));
            let mut wire = m.clone();
            wire.push(b'\n');
            (trim_end(&m).to_vec(), wire, m.len())
        });
        prop_oneof![counted, line]
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_frames(
            msgs in proptest::collection::vec(framed(), 0..20),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
            max in 8usize..80,
        ) {
            let stream: Vec<u8> = msgs.iter().flat_map(|(_, w, _)| w.iter().copied()).collect();
            let whole = decode_in(&[&stream], max);
            // Every message comes out, or is reported as oversize.
            let expected: Vec<Frame> = msgs
                .iter()
                .filter_map(|(m, _, len)| {
                    if *len > max {
                        Some(Frame::Oversize)
                    } else if m.is_empty() {
                        None
                    } else {
                        Some(Frame::Message(m.clone()))
                    }
                })
                .collect();
            prop_assert_eq!(&whole, &expected);
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            points.sort_unstable();
            let mut pieces = Vec::new();
            let mut last = 0;
            for p in points {
                pieces.push(&stream[last..p]);
                last = p;
            }
            pieces.push(&stream[last..]);
            prop_assert_eq!(decode_in(&pieces, max), whole);
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_stay_bounded(
            pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..20),
            max in 1usize..100,
        ) {
            let mut d = FrameDecoder::new(max);
            let mut out = Vec::new();
            for p in &pieces {
                d.feed(p, &mut out);
                prop_assert!(d.buffered() <= max + MAX_LEN_DIGITS + 1);
            }
            d.finish(&mut out);
            for f in &out {
                if let Frame::Message(m) = f {
                    prop_assert!(!m.is_empty() && m.len() <= max);
                }
            }
        }
    }
}

//! Where events come from: files, directories (recursive), `.gz` files and stdin.
//!
//! Reading is streaming: text inputs are read line by line with a cap on line length, so
//! memory stays bounded whatever the input size; EVTX files are read chunk by chunk.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use palisade_event::Origin;

use crate::detect::{Format, sniff};
use crate::error::{IngestError, PositionUnit, RecordError};
use crate::formats::evtx::{self, EvtxOptions};
use crate::{EventSink, FileStats};

/// Bytes read from the start of an input to detect its format.
const SNIFF_BYTES: usize = 64 * 1024;
/// Largest EVTX taken from a stream (stdin, `.gz`), which must be buffered to be parsed.
const MAX_BUFFERED_EVTX: u64 = 2 << 30;

/// One input to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Path(PathBuf),
    Stdin,
}

impl Input {
    /// The name used in events' origins and in messages.
    pub fn name(&self) -> Arc<str> {
        match self {
            Input::Path(p) => Arc::from(p.to_string_lossy().as_ref()),
            Input::Stdin => Arc::from("<stdin>"),
        }
    }

    fn path(&self) -> &Path {
        match self {
            Input::Path(p) => p,
            Input::Stdin => Path::new("<stdin>"),
        }
    }

    /// Size on disk, when known (for progress reporting).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> Option<u64> {
        match self {
            Input::Path(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Input::Stdin => None,
        }
    }
}

/// How to read inputs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Force a format instead of detecting it per input.
    pub format: Option<Format>,
    /// Longest line accepted; longer lines are skipped with a warning.
    pub max_line_bytes: usize,
    /// Events per batch handed to the sink.
    pub batch_size: usize,
    /// Threads the EVTX parser may use within one file.
    pub evtx_threads: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            format: None,
            max_line_bytes: 16 << 20,
            batch_size: 256,
            evtx_threads: 1,
        }
    }
}

/// Expands paths into inputs: directories recursively (sorted, symlinks not followed), `-` as
/// stdin. Paths that cannot be read are returned as errors alongside the inputs that can.
pub fn discover_inputs(paths: &[PathBuf]) -> (Vec<Input>, Vec<IngestError>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        match std::fs::metadata(path) {
            Err(e) => errors.push(IngestError::io(path, e)),
            Ok(m) if m.is_dir() => {
                let walk = walkdir::WalkDir::new(path)
                    .follow_links(false)
                    .sort_by_file_name();
                for entry in walk {
                    match entry {
                        Ok(e) if e.file_type().is_file() => {
                            inputs.push(Input::Path(e.into_path()));
                        }
                        Ok(_) => {}
                        Err(e) => {
                            let p = e.path().unwrap_or(path).to_owned();
                            errors.push(IngestError::io(p, io::Error::other(e.to_string())));
                        }
                    }
                }
            }
            Ok(_) => inputs.push(Input::Path(path.clone())),
        }
    }
    (inputs, errors)
}

/// Reads one input to the end, handing events and skipped-record warnings to `sink`.
///
/// Returns an error only when the input as a whole is unusable (cannot be opened, unknown
/// format, not EVTX despite being forced to); malformed records are warnings.
pub fn read_input(
    input: &Input,
    opts: &IngestOptions,
    sink: &mut dyn EventSink,
) -> Result<FileStats, IngestError> {
    let path = input.path();
    let io_err = |e| IngestError::io(path, e);
    let raw: Box<dyn Read> = match input {
        Input::Path(p) => {
            // EVTX files are read by the evtx crate itself: check the magic with a few bytes
            // instead of reading a whole sniffing buffer that would then be read again.
            let mut f = File::open(p).map_err(io_err)?;
            let mut magic = [0u8; 8];
            let n = read_full(&mut f, &mut magic).map_err(io_err)?;
            let forced_evtx =
                opts.format == Some(Format::Evtx) && !magic.starts_with(&[0x1f, 0x8b]);
            if (n == 8 && magic == *evtx::MAGIC) || forced_evtx {
                let evtx_opts = EvtxOptions {
                    threads: opts.evtx_threads,
                    batch_size: opts.batch_size,
                };
                return evtx::read_file(p, input.name(), evtx_opts, sink);
            }
            Box::new(Cursor::new(magic[..n].to_vec()).chain(f))
        }
        Input::Stdin => Box::new(io::stdin()),
    };
    let (head, raw) = read_head(raw).map_err(io_err)?;
    let (head, reader, gzipped): (Vec<u8>, Box<dyn Read>, bool) = if head.starts_with(&[0x1f, 0x8b])
    {
        let gz = MultiGzDecoder::new(Cursor::new(head).chain(raw));
        let (head, rest) = read_head(Box::new(gz)).map_err(io_err)?;
        (head, rest, true)
    } else {
        (head, raw, false)
    };
    let format = match opts.format {
        Some(f) => f,
        None => sniff(&head).map_err(|hint| IngestError::UnknownFormat {
            path: path.to_owned(),
            hint,
        })?,
    };
    let source = input.name();
    if format == Format::Evtx {
        let evtx_opts = EvtxOptions {
            threads: opts.evtx_threads,
            batch_size: opts.batch_size,
        };
        return match input {
            Input::Path(p) if !gzipped => evtx::read_file(p, source, evtx_opts, sink),
            _ => {
                let mut buf = head;
                reader
                    .take(MAX_BUFFERED_EVTX)
                    .read_to_end(&mut buf)
                    .map_err(io_err)?;
                evtx::read_buffer(buf, path, source, evtx_opts, sink)
            }
        };
    }
    let Some(parser) = format.line_parser() else {
        unreachable!("every format but EVTX is line-oriented");
    };
    let reader = BufReader::with_capacity(256 * 1024, Cursor::new(head).chain(reader));
    read_lines(reader, parser, source, opts, sink).map_err(io_err)
}

/// Fills `buf` as far as the reader allows; returns how many bytes were read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads up to [`SNIFF_BYTES`] from the start of `r`, returning them and the rest of `r`.
fn read_head(mut r: Box<dyn Read>) -> io::Result<(Vec<u8>, Box<dyn Read>)> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut r).take(SNIFF_BYTES as u64).read_to_end(&mut head)?;
    Ok((head, r))
}

/// Drives a line parser over a reader.
pub fn read_lines(
    mut reader: impl BufRead,
    mut parser: Box<dyn crate::LineFormat>,
    source: Arc<str>,
    opts: &IngestOptions,
    sink: &mut dyn EventSink,
) -> io::Result<FileStats> {
    let mut stats = FileStats::default();
    let mut batch = Vec::with_capacity(opts.batch_size);
    let mut buf = Vec::with_capacity(4096);
    let mut line_no = 0u64;
    let warn = |sink: &mut dyn EventSink, line_no: u64, message: String| {
        sink.warning(RecordError {
            source: source.clone(),
            unit: PositionUnit::Line,
            position: line_no,
            message,
        })
    };
    loop {
        buf.clear();
        let read = read_line_bounded(&mut reader, &mut buf, opts.max_line_bytes)?;
        let (consumed, complete) = match read {
            LineRead::Eof => break,
            LineRead::Line(n) => (n, true),
            LineRead::TooLong(n) => (n, false),
        };
        line_no += 1;
        stats.bytes += consumed as u64;
        if !complete {
            stats.skipped += 1;
            warn(
                sink,
                line_no,
                format!(
                    "line of {consumed} bytes exceeds the {} byte limit; skipped",
                    opts.max_line_bytes
                ),
            );
            continue;
        }
        let mut end = buf.len();
        while end > 0 && (buf[end - 1] == b'\n' || buf[end - 1] == b'\r') {
            end -= 1;
        }
        // Valid UTF-8 (nearly every line) takes `from_utf8`'s word-at-a-time ASCII path;
        // only invalid lines pay for the lossy conversion.
        let text = match std::str::from_utf8(&buf[..end]) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(&buf[..end]),
        };
        match parser.parse_line(&text, Origin::new(source.clone(), line_no)) {
            Ok(Some(event)) => {
                stats.events += 1;
                batch.push(event);
                if batch.len() >= opts.batch_size {
                    sink.events(&mut batch);
                    batch.clear();
                }
            }
            Ok(None) => {}
            Err(e) => {
                stats.skipped += 1;
                warn(sink, line_no, format!("{}: {e}", parser.name()));
            }
        }
    }
    if !batch.is_empty() {
        sink.events(&mut batch);
    }
    Ok(stats)
}

enum LineRead {
    Eof,
    /// A line of this many bytes (terminator included) is in the buffer.
    Line(usize),
    /// A line of this many bytes was longer than the limit and was discarded.
    TooLong(usize),
}

/// Reads one line into `buf` unless it is longer than `max`, in which case the rest of the line
/// is consumed without being stored: memory stays bounded by `max` whatever the input.
fn read_line_bounded(r: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<LineRead> {
    let mut total = 0usize;
    let mut too_long = false;
    loop {
        let available = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(match (total, too_long) {
                (0, _) => LineRead::Eof,
                (n, true) => LineRead::TooLong(n),
                (n, false) => LineRead::Line(n),
            });
        }
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let n = chunk.len();
        total += n;
        if !too_long {
            if buf.len() + n > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        r.consume(n);
        if done {
            return Ok(if too_long {
                LineRead::TooLong(total)
            } else {
                LineRead::Line(total)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_lines() {
        let data = b"short\nthis line is far too long\nok\nlast";
        let mut r = BufReader::with_capacity(4, &data[..]);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            buf.clear();
            match read_line_bounded(&mut r, &mut buf, 10).unwrap() {
                LineRead::Eof => break,
                LineRead::Line(_) => out.push(String::from_utf8(buf.clone()).unwrap()),
                LineRead::TooLong(n) => out.push(format!("<{n}>")),
            }
        }
        assert_eq!(out, ["short\n", "<26>", "ok\n", "last"]);
    }
}

//! The write-ahead log: every record is appended here (and, with `fsync`, synced) before the
//! source that sent it is acknowledged; the pipeline applies records in sequence order and the
//! store remembers how far it got, so a crash loses no acknowledged record and a restart
//! applies none twice.
//!
//! On disk: a directory of segment files named by the first sequence number they hold
//! (`00000000000000000001.wal`), each a magic header and then frames
//! `[payload length u32][CRC-32 of payload u32][payload]`, the payload being
//! `[seq u64][format u8][source length u16][source][line]` (little-endian). A crash can leave a
//! torn frame at the end of the newest segment; opening the log cuts it off (it was never
//! acknowledged). A bad frame anywhere else is corruption: reading reports it and skips the
//! rest of that segment.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use palisade_ingest::Format;

const MAGIC: &[u8; 8] = b"PLWAL\x00\x01\n";
/// Frame header: length and checksum.
const FRAME_HEADER: usize = 8;
/// Fixed part of a payload: seq, format, source length.
const PAYLOAD_FIXED: usize = 8 + 1 + 2;
/// Largest payload accepted when reading (a larger length is corruption).
pub const MAX_PAYLOAD: usize = 16 << 20;

/// One record as submitted by a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Source name (listener, file path); becomes the event's origin.
    pub source: Arc<str>,
    pub format: Format,
    /// The raw record (one log line, one JSON document), without its terminator.
    pub line: Vec<u8>,
}

/// A record read back from the log, with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalRecord {
    pub seq: u64,
    pub record: Record,
}

/// Errors of the log.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("write-ahead log {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("write-ahead log {path}: {message}")]
    Corrupt { path: String, message: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// How the log behaves.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// Sync each group of appends to disk before acknowledging (survives power loss, not only
    /// a killed process).
    pub fsync: bool,
    /// A new segment starts once the current one is this big.
    pub segment_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            fsync: true,
            segment_bytes: 64 << 20,
        }
    }
}

/// What opening the log found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    pub segments: usize,
    /// Bytes of a torn final frame that were cut off.
    pub torn_bytes: u64,
    /// The last sequence number in the log (0 when empty).
    pub last_seq: u64,
}

/// The appending side of the log (one writer).
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    /// (first sequence number, path), oldest first; the last one is being appended to.
    segments: Vec<(u64, PathBuf)>,
    current: Option<File>,
    current_len: u64,
    next_seq: u64,
    total_bytes: u64,
    buf: Vec<u8>,
}

fn segment_name(first: u64) -> String {
    format!("{first:020}.wal")
}

fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(".wal")
            && let Ok(first) = stem.parse::<u64>()
        {
            out.push((first, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn format_code(f: Format) -> u8 {
    Format::ALL.iter().position(|&x| x == f).unwrap_or(0) as u8
}

fn format_of(code: u8) -> Option<Format> {
    Format::ALL.get(code as usize).copied()
}

/// Appends one frame for `record` to `buf`.
fn encode(buf: &mut Vec<u8>, seq: u64, record: &Record) {
    let source = record.source.as_bytes();
    let source = &source[..source.len().min(u16::MAX as usize)];
    let len = PAYLOAD_FIXED + source.len() + record.line.len();
    let start = buf.len();
    buf.extend_from_slice(&(len as u32).to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.push(format_code(record.format));
    buf.extend_from_slice(&(source.len() as u16).to_le_bytes());
    buf.extend_from_slice(source);
    buf.extend_from_slice(&record.line);
    let crc = crc32fast::hash(&buf[start + FRAME_HEADER..]);
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn decode(payload: &[u8]) -> Option<WalRecord> {
    if payload.len() < PAYLOAD_FIXED {
        return None;
    }
    let seq = u64::from_le_bytes(payload[..8].try_into().ok()?);
    let format = format_of(payload[8])?;
    let slen = u16::from_le_bytes(payload[9..11].try_into().ok()?) as usize;
    let rest = &payload[PAYLOAD_FIXED..];
    if rest.len() < slen {
        return None;
    }
    let source = std::str::from_utf8(&rest[..slen]).ok()?;
    Some(WalRecord {
        seq,
        record: Record {
            source: Arc::from(source),
            format,
            line: rest[slen..].to_vec(),
        },
    })
}

/// Reads frames from one segment; `Ok(None)` at a clean end; `Err(offset)` at the first bad or
/// torn frame (the offset where valid data ends).
struct SegmentReader {
    reader: BufReader<File>,
    offset: u64,
    payload: Vec<u8>,
}

enum Frame {
    Record(WalRecord),
    End,
    Bad { offset: u64, why: &'static str },
}

impl SegmentReader {
    fn open(path: &Path) -> Result<Option<SegmentReader>, WalError> {
        let file = File::open(path).map_err(io_err(path))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut magic = [0u8; 8];
        match reader.read_exact(&mut magic) {
            Ok(()) if &magic == MAGIC => {}
            Ok(()) => {
                return Err(WalError::Corrupt {
                    path: path.display().to_string(),
                    message: "not a Palisade write-ahead log segment".into(),
                });
            }
            // Shorter than the header: created but never written.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(io_err(path)(e)),
        }
        Ok(Some(SegmentReader {
            reader,
            offset: MAGIC.len() as u64,
            payload: Vec::new(),
        }))
    }

    fn next(&mut self) -> io::Result<Frame> {
        let mut header = [0u8; FRAME_HEADER];
        match read_full(&mut self.reader, &mut header)? {
            0 => return Ok(Frame::End),
            n if n < FRAME_HEADER => {
                return Ok(Frame::Bad {
                    offset: self.offset,
                    why: "torn frame header",
                });
            }
            _ => {}
        }
        let len = u32::from_le_bytes(header[..4].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(header[4..].try_into().unwrap_or_default());
        if !(PAYLOAD_FIXED..=MAX_PAYLOAD).contains(&len) {
            return Ok(Frame::Bad {
                offset: self.offset,
                why: "impossible frame length",
            });
        }
        self.payload.resize(len, 0);
        if read_full(&mut self.reader, &mut self.payload)? < len {
            return Ok(Frame::Bad {
                offset: self.offset,
                why: "torn frame",
            });
        }
        if crc32fast::hash(&self.payload) != crc {
            return Ok(Frame::Bad {
                offset: self.offset,
                why: "checksum mismatch",
            });
        }
        let Some(rec) = decode(&self.payload) else {
            return Ok(Frame::Bad {
                offset: self.offset,
                why: "undecodable frame",
            });
        };
        self.offset += (FRAME_HEADER + len) as u64;
        Ok(Frame::Record(rec))
    }
}

/// Reads until `buf` is full or the end; returns how many bytes were read.
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

impl Wal {
    /// Opens (creating) the log in `dir`, cutting off a torn final frame.
    pub fn open(dir: &Path, opts: WalOptions) -> Result<(Wal, OpenReport), WalError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let segments = list_segments(dir)?;
        let mut report = OpenReport {
            segments: segments.len(),
            ..OpenReport::default()
        };
        let mut total_bytes = 0;
        for (_, p) in &segments {
            total_bytes += fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        }
        // The newest segment: find its last good frame, cut anything after it.
        let mut next_seq = segments.first().map_or(1, |s| s.0);
        let mut current_len = 0;
        if let Some((first, path)) = segments.last() {
            next_seq = *first;
            let mut good = MAGIC.len() as u64;
            if let Some(mut r) = SegmentReader::open(path)? {
                loop {
                    match r.next().map_err(io_err(path))? {
                        Frame::Record(rec) => {
                            next_seq = rec.seq + 1;
                            good = r.offset;
                        }
                        Frame::End => break,
                        Frame::Bad { offset, .. } => {
                            good = offset;
                            break;
                        }
                    }
                }
            }
            let len = fs::metadata(path).map_err(io_err(path))?.len();
            if len > good || len < MAGIC.len() as u64 {
                let mut f = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(io_err(path))?;
                if len < MAGIC.len() as u64 {
                    f.set_len(0).map_err(io_err(path))?;
                    f.write_all(MAGIC).map_err(io_err(path))?;
                    good = MAGIC.len() as u64;
                } else {
                    report.torn_bytes = len - good;
                    f.set_len(good).map_err(io_err(path))?;
                }
                f.sync_all().map_err(io_err(path))?;
                total_bytes = total_bytes + good - len;
            }
            current_len = good;
        }
        report.last_seq = next_seq - 1;
        let current = match segments.last() {
            Some((_, path)) => Some(
                OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(io_err(path))?,
            ),
            None => None,
        };
        let wal = Wal {
            dir: dir.to_path_buf(),
            opts,
            segments,
            current,
            current_len,
            next_seq,
            total_bytes,
            buf: Vec::new(),
        };
        Ok((wal, report))
    }

    /// The sequence number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Makes the next sequence number at least `seq` (the store has seen numbers up to
    /// `seq - 1`; a deleted or replaced log must not reuse them). Starts a new segment so
    /// segment names stay in order.
    pub fn ensure_next(&mut self, seq: u64) {
        if self.next_seq < seq {
            self.next_seq = seq;
            self.current = None;
        }
    }

    /// Bytes on disk over all segments.
    pub fn size_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Number of segment files.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    fn roll(&mut self) -> Result<(), WalError> {
        let path = self.dir.join(segment_name(self.next_seq));
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        f.write_all(MAGIC).map_err(io_err(&path))?;
        if self.opts.fsync {
            // The new file's directory entry must survive too.
            f.sync_all().map_err(io_err(&path))?;
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
        }
        self.segments.push((self.next_seq, path));
        self.current = Some(f);
        self.current_len = MAGIC.len() as u64;
        self.total_bytes += MAGIC.len() as u64;
        Ok(())
    }

    /// Appends records (one write, one sync when `fsync`); returns the first one's sequence
    /// number (they are numbered consecutively).
    pub fn append(&mut self, records: &[Record]) -> Result<u64, WalError> {
        if self.current.is_none() || self.current_len >= self.opts.segment_bytes {
            self.roll()?;
        }
        let first = self.next_seq;
        self.buf.clear();
        for (k, r) in records.iter().enumerate() {
            encode(&mut self.buf, first + k as u64, r);
        }
        let path = &self
            .segments
            .last()
            .map(|s| s.1.clone())
            .unwrap_or_default();
        let f = self.current.as_mut().ok_or_else(|| WalError::Corrupt {
            path: self.dir.display().to_string(),
            message: "no open segment".into(),
        })?;
        f.write_all(&self.buf).map_err(io_err(path))?;
        if self.opts.fsync {
            f.sync_data().map_err(io_err(path))?;
        }
        self.current_len += self.buf.len() as u64;
        self.total_bytes += self.buf.len() as u64;
        self.next_seq += records.len() as u64;
        Ok(first)
    }

    /// Deletes segments whose every record is at or below `seq` (applied and snapshotted);
    /// never the segment being appended to. Returns how many went.
    pub fn truncate_through(&mut self, seq: u64) -> usize {
        let mut removed = 0;
        while self.segments.len() > 1 && self.segments[1].0 <= seq + 1 {
            let (_, path) = self.segments.remove(0);
            let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if fs::remove_file(&path).is_ok() {
                self.total_bytes = self.total_bytes.saturating_sub(len);
                removed += 1;
            }
        }
        removed
    }
}

/// Problems met while reading the log back (records after them in the same segment are lost).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadProblem {
    pub path: String,
    pub offset: u64,
    pub why: &'static str,
}

/// Reads every record with a sequence number above `after`, in order, segment by segment.
/// Bad frames are reported through `problem` and end that segment.
pub fn read_after(
    dir: &Path,
    after: u64,
    mut each: impl FnMut(WalRecord) -> bool,
    mut problem: impl FnMut(ReadProblem),
) -> Result<(), WalError> {
    if !dir.exists() {
        return Ok(());
    }
    let segments = list_segments(dir)?;
    for (k, (_, path)) in segments.iter().enumerate() {
        // Skip segments wholly at or below `after`.
        if let Some((next_first, _)) = segments.get(k + 1)
            && *next_first <= after + 1
        {
            continue;
        }
        let Some(mut r) = SegmentReader::open(path)? else {
            continue;
        };
        loop {
            match r.next().map_err(io_err(path))? {
                Frame::Record(rec) => {
                    if rec.seq > after && !each(rec) {
                        return Ok(());
                    }
                }
                Frame::End => break,
                Frame::Bad { offset, why } => {
                    problem(ReadProblem {
                        path: path.display().to_string(),
                        offset,
                        why,
                    });
                    break;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u64) -> Record {
        Record {
            source: Arc::from("test"),
            format: Format::Json,
            line: format!("{{\"n\":{i}}}").into_bytes(),
        }
    }

    fn all(dir: &Path, after: u64) -> (Vec<u64>, Vec<ReadProblem>) {
        let mut seqs = Vec::new();
        let mut problems = Vec::new();
        read_after(
            dir,
            after,
            |r| {
                assert_eq!(r.record, rec(r.seq));
                seqs.push(r.seq);
                true
            },
            |p| problems.push(p),
        )
        .unwrap();
        (seqs, problems)
    }

    #[test]
    fn appends_survive_reopen_and_continue_numbering() {
        let dir = tempfile::tempdir().unwrap();
        let opts = WalOptions {
            fsync: false,
            segment_bytes: 200,
        };
        let (mut wal, report) = Wal::open(dir.path(), opts.clone()).unwrap();
        assert_eq!(report.last_seq, 0);
        for i in 0..10 {
            let first = wal.append(&[rec(2 * i + 1), rec(2 * i + 2)]).unwrap();
            assert_eq!(first, 2 * i + 1);
        }
        assert!(wal.segment_count() > 2, "small segments roll");
        drop(wal);
        let (mut wal, report) = Wal::open(dir.path(), opts).unwrap();
        assert_eq!(report.last_seq, 20);
        assert_eq!(wal.append(&[rec(21)]).unwrap(), 21);
        assert_eq!(all(dir.path(), 0).0, (1..=21).collect::<Vec<_>>());
        assert_eq!(all(dir.path(), 15).0, (16..=21).collect::<Vec<_>>());
        // Truncation keeps every record above the mark.
        let before = wal.segment_count();
        assert!(wal.truncate_through(15) > 0);
        assert!(wal.segment_count() < before);
        assert_eq!(all(dir.path(), 15).0, (16..=21).collect::<Vec<_>>());
    }

    #[test]
    fn a_torn_tail_is_cut_and_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let opts = WalOptions {
            fsync: false,
            segment_bytes: 1 << 20,
        };
        let (mut wal, _) = Wal::open(dir.path(), opts.clone()).unwrap();
        wal.append(&[rec(1), rec(2), rec(3)]).unwrap();
        drop(wal);
        // A crash in the middle of writing the fourth frame.
        let seg = list_segments(dir.path()).unwrap()[0].1.clone();
        let mut buf = Vec::new();
        encode(&mut buf, 4, &rec(4));
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&buf[..buf.len() - 3]).unwrap();
        drop(f);
        let (mut wal, report) = Wal::open(dir.path(), opts).unwrap();
        assert_eq!(report.last_seq, 3);
        assert_eq!(report.torn_bytes, buf.len() as u64 - 3);
        assert_eq!(wal.append(&[rec(4)]).unwrap(), 4);
        let (seqs, problems) = all(dir.path(), 0);
        assert_eq!(seqs, [1, 2, 3, 4]);
        assert!(problems.is_empty());
    }

    #[test]
    fn corruption_is_reported_not_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), WalOptions::default()).unwrap();
        wal.append(&[rec(1), rec(2), rec(3)]).unwrap();
        drop(wal);
        let seg = list_segments(dir.path()).unwrap()[0].1.clone();
        let mut bytes = fs::read(&seg).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0xff;
        fs::write(&seg, &bytes).unwrap();
        let (seqs, problems) = all(dir.path(), 0);
        assert_eq!(seqs, [1, 2]);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].why, "checksum mismatch");
    }
}

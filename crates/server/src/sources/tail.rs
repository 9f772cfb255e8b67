//! Following a file as `tail -F` does, with the offset kept in the [`OffsetBook`].
//!
//! A [`Tailer`] reads what was appended since its offset, hands complete lines to the
//! write-ahead log in batches and moves the offset only after a batch was accepted. A line
//! without its newline yet is held back until it is complete. Each poll it also checks:
//!
//! - **copytruncate**: the file got shorter than what was read, or its first bytes changed
//!   (truncated and rewritten past the old offset between two polls) → read it again from 0;
//! - **rotation by rename** (when following a name): another file is now at the path → finish
//!   the old file (it keeps its open handle) once it has been quiet for a poll, then read the
//!   new one from its start;
//! - a file that does not exist yet (or is between rename and re-creation) is waited for.
//!
//! Files are polled (every [`POLL`]), which finds rotation and works on every file system; a
//! [`super::wake::Wake`] on the file's directory cuts the wait short as soon as it changes, so
//! an appended line is read within milliseconds where change notification exists.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade_ingest::Format;

use super::offsets::{FINGERPRINT_BYTES, FileId, FileOffset, Fingerprint, OffsetBook};
use crate::config::parse_format;
use crate::ingress::SubmitError;
use crate::metrics::Metrics;
use crate::wal::Record;

/// How often files are checked for new data.
pub const POLL: Duration = Duration::from_millis(250);
/// Most lines per submission.
const BATCH_LINES: usize = 512;
/// Most bytes read from one file per poll, so one busy file does not starve the others (and
/// offsets are saved regularly while a large backlog is read).
const POLL_BYTES: u64 = 8 << 20;
const CHUNK: usize = 64 << 10;

/// What a tailer shares with the others of its source.
pub struct TailContext {
    /// The source's configured name (metrics label, offsets key).
    pub label: String,
    /// How logs name the source: `sources.file[0] (app)`.
    pub describe: String,
    /// Configured format; detected from each file's first line when `None`.
    pub format: Option<Format>,
    pub max_record_bytes: usize,
    pub metrics: Arc<Metrics>,
    pub book: Arc<Mutex<OffsetBook>>,
}

impl TailContext {
    fn book(&self) -> std::sync::MutexGuard<'_, OffsetBook> {
        // A poisoned lock only means another tailer panicked mid-update; the map is still
        // usable (at worst one entry is stale, which re-reads lines rather than losing them).
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Hands a batch to the write-ahead log; `Ok` once the records are in it.
pub type Submit<'a> = dyn FnMut(Vec<Record>) -> Result<(), SubmitError> + 'a;

/// Where reading a file seen for the first time starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstRead {
    FromStart,
    FromEnd,
}

/// What one poll did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes read.
    pub bytes: u64,
    /// Stopped at the per-poll limit with more to read: poll again without waiting.
    pub more: bool,
}

struct OpenFile {
    file: File,
    id: FileId,
    /// Every line before this byte is in the write-ahead log (or was skipped as oversize).
    offset: u64,
    /// Where the next read starts (after `partial`, or inside an oversize line).
    read_pos: u64,
    /// The start of a line whose newline has not been read yet.
    partial: Vec<u8>,
    /// Inside a line longer than `max_record_bytes`: drop bytes up to its newline.
    skipping: bool,
    fingerprint: Fingerprint,
}

impl OpenFile {
    fn at(file: File, id: FileId, offset: u64, fingerprint: Fingerprint) -> io::Result<OpenFile> {
        let mut f = OpenFile {
            file,
            id,
            offset,
            read_pos: offset,
            partial: Vec::new(),
            skipping: false,
            fingerprint,
        };
        f.file.seek(SeekFrom::Start(offset))?;
        Ok(f)
    }

    /// Back to the acknowledged offset (a submission failed, or the file changed).
    fn rewind_to(&mut self, offset: u64) -> io::Result<()> {
        self.offset = offset;
        self.read_pos = offset;
        self.partial.clear();
        self.skipping = false;
        self.file.seek(SeekFrom::Start(offset))?;
        Ok(())
    }
}

/// One followed file.
pub struct Tailer {
    /// The path followed (file sources) or where the file was last seen (directory sources).
    path: PathBuf,
    record_source: Arc<str>,
    /// Follow the name: switch to a new file appearing at `path` (file sources). Directory
    /// sources follow the file instead and find new files by scanning.
    follow_name: bool,
    first_read: FirstRead,
    open: Option<OpenFile>,
    format: Option<Format>,
    warned_missing: bool,
    /// The file a directory source found (another file at the path now is not this one).
    expect: Option<FileId>,
}

/// Why a source stops.
#[derive(Debug)]
pub struct Stopped;

impl Tailer {
    /// A tailer following the name `path` (`tail -F`).
    pub fn follow_name(path: PathBuf, first_read: FirstRead, ctx: &TailContext) -> Tailer {
        Tailer::new(path, None, first_read, ctx)
    }

    /// A tailer following the file `id` found at `path` in a watched directory.
    pub fn follow_file(path: PathBuf, id: FileId, ctx: &TailContext) -> Tailer {
        Tailer::new(path, Some(id), FirstRead::FromStart, ctx)
    }

    fn new(
        path: PathBuf,
        expect: Option<FileId>,
        first_read: FirstRead,
        ctx: &TailContext,
    ) -> Tailer {
        Tailer {
            expect,
            follow_name: expect.is_none(),
            record_source: Arc::from(path.display().to_string()),
            path,
            first_read,
            open: None,
            format: ctx.format,
            warned_missing: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The identity of the open file, if one is open.
    pub fn file_id(&self) -> Option<FileId> {
        self.open.as_ref().map(|f| f.id)
    }

    /// A directory source saw the file under another name.
    pub fn renamed(&mut self, path: PathBuf, ctx: &TailContext) {
        if path == self.path {
            return;
        }
        self.forget(ctx);
        self.record_source = Arc::from(path.display().to_string());
        self.path = path;
        self.record(ctx);
    }

    /// Reads what is new; `Err(Stopped)` when the write-ahead log refuses records for good
    /// (shutdown). I/O problems are logged and retried at the next poll.
    pub fn poll(&mut self, ctx: &TailContext, submit: &mut Submit) -> Result<Progress, Stopped> {
        if self.open.is_none() {
            match self.open_first(ctx) {
                Ok(Some(f)) => {
                    self.warned_missing = false;
                    self.open = Some(f);
                    self.record(ctx);
                }
                Ok(None) => return Ok(Progress::default()),
                Err(e) => {
                    tracing::warn!("{}: cannot open {}: {e}", ctx.describe, self.path.display());
                    return Ok(Progress::default());
                }
            }
        }
        match self.poll_open(ctx, submit) {
            Ok(p) => Ok(p),
            Err(PollError::Stopped) => Err(Stopped),
            Err(PollError::Wal(e)) => {
                tracing::warn!("{}: {e}; retrying", ctx.describe);
                // The unacknowledged lines are read again next time.
                if let Some(f) = &mut self.open {
                    let offset = f.offset;
                    if f.rewind_to(offset).is_err() {
                        self.open = None;
                    }
                }
                Ok(Progress::default())
            }
            Err(PollError::Io(e)) => {
                tracing::warn!(
                    "{}: reading {}: {e}; reopening at the saved offset",
                    ctx.describe,
                    self.path.display()
                );
                self.open = None;
                Ok(Progress::default())
            }
        }
    }

    /// The file was deleted or renamed out of a watched directory and read to its end: hand
    /// in an unterminated last line and forget it.
    pub fn finish(mut self, ctx: &TailContext, submit: &mut Submit) -> Result<(), Stopped> {
        self.forget(ctx);
        if let Some(mut f) = self.open.take() {
            match self.submit_partial(&mut f, ctx, submit) {
                Err(PollError::Stopped) => return Err(Stopped),
                Err(e) => tracing::warn!("{}: {}: {e:?}", ctx.describe, self.path.display()),
                Ok(()) => {}
            }
        }
        Ok(())
    }

    /// Drops this file's offset entry (unless the entry is now another file's).
    fn forget(&self, ctx: &TailContext) {
        let Some(id) = self.file_id() else { return };
        let mut book = ctx.book();
        if book.get(&ctx.label, &self.path).is_some_and(|e| e.id == id) {
            book.remove(&ctx.label, &self.path);
        }
    }

    /// Opens the file at `path`, resuming at its saved offset when the saved entry is this
    /// file (or, after a rotation while stopped, the old file found beside it).
    fn open_first(&mut self, ctx: &TailContext) -> io::Result<Option<OpenFile>> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !self.warned_missing {
                    tracing::info!(
                        "{}: {} does not exist yet; waiting for it",
                        ctx.describe,
                        self.path.display()
                    );
                    self.warned_missing = true;
                }
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let id = FileId::of(&meta);
        if self.expect.is_some_and(|e| e != id) {
            // Replaced between the directory listing and now; the next listing finds the
            // new file.
            return Ok(None);
        }
        let saved = {
            let book = ctx.book();
            let by_path = || book.get(&ctx.label, &self.path).cloned();
            let by_id = || book.find_by_id(&ctx.label, id).cloned();
            if self.follow_name {
                by_path().or_else(by_id)
            } else {
                by_id().or_else(by_path)
            }
        };
        if let Some(saved) = saved {
            if self.format.is_none() {
                self.format = saved.format.as_deref().and_then(|f| parse_format(f).ok());
            }
            if saved.id == id {
                if let Some(f) = resume(file, id, &saved, meta.len())? {
                    return Ok(Some(f));
                }
                tracing::info!(
                    "{}: {} was truncated or replaced since it was last read; reading it from the start",
                    ctx.describe,
                    self.path.display()
                );
                return Ok(Some(OpenFile::at(
                    File::open(&self.path)?,
                    id,
                    0,
                    Fingerprint::default(),
                )?));
            }
            if self.follow_name {
                if let Some(old) = find_rotated(&self.path, &saved)? {
                    tracing::info!(
                        "{}: {} was rotated while palisade was stopped; finishing the old file first",
                        ctx.describe,
                        self.path.display()
                    );
                    return Ok(Some(old));
                }
                tracing::warn!(
                    "{}: {} is a new file and the one read before was not found beside it; lines \
                     written to the old file after offset {} are not read",
                    ctx.describe,
                    self.path.display(),
                    saved.offset
                );
            }
            return Ok(Some(OpenFile::at(file, id, 0, Fingerprint::default())?));
        }
        let start = match self.first_read {
            FirstRead::FromStart => 0,
            FirstRead::FromEnd => {
                let (start, skipping) =
                    end_of_last_line(&mut file, meta.len(), ctx.max_record_bytes)?;
                let fp = Fingerprint::read(&mut file, start)?;
                let mut f = OpenFile::at(file, id, start, fp)?;
                if skipping {
                    f.skipping = true;
                    f.read_pos = meta.len();
                    f.file.seek(SeekFrom::Start(meta.len()))?;
                }
                return Ok(Some(f));
            }
        };
        Ok(Some(OpenFile::at(file, id, start, Fingerprint::default())?))
    }

    fn poll_open(&mut self, ctx: &TailContext, submit: &mut Submit) -> Result<Progress, PollError> {
        let Some(mut f) = self.open.take() else {
            return Ok(Progress::default());
        };
        let step = self.poll_file(&mut f, ctx, submit);
        match step {
            Ok(Step::Read(progress)) => {
                self.open = Some(f);
                self.record(ctx);
                Ok(progress)
            }
            Ok(Step::Switch(next)) => {
                self.open = Some(next);
                self.record(ctx);
                // Read the new file without waiting for the next poll.
                Ok(Progress {
                    bytes: 0,
                    more: true,
                })
            }
            Err(e) => {
                self.open = Some(f);
                Err(e)
            }
        }
    }

    fn poll_file(
        &mut self,
        f: &mut OpenFile,
        ctx: &TailContext,
        submit: &mut Submit,
    ) -> Result<Step, PollError> {
        self.check_replaced(f, ctx)?;
        let progress = self.drain(f, ctx, submit)?;
        if !self.follow_name || progress.bytes > 0 || progress.more {
            return Ok(Step::Read(progress));
        }
        // Quiet for a whole poll: if another file is at the path now, this one was rotated
        // away and is finished.
        let Ok(meta) = fs::metadata(&self.path) else {
            return Ok(Step::Read(progress));
        };
        if FileId::of(&meta) == f.id {
            return Ok(Step::Read(progress));
        }
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Step::Read(progress)),
            Err(e) => return Err(e.into()),
        };
        self.submit_partial(f, ctx, submit)?;
        let id = FileId::of(&file.metadata()?);
        tracing::info!(
            "{}: {} was rotated; reading the new file from its start",
            ctx.describe,
            self.path.display()
        );
        Ok(Step::Switch(OpenFile::at(
            file,
            id,
            0,
            Fingerprint::default(),
        )?))
    }

    /// copytruncate (or a file rewritten in place): shorter than what was read, or different
    /// first bytes. Read it again from the start.
    fn check_replaced(&self, f: &mut OpenFile, ctx: &TailContext) -> io::Result<()> {
        let len = f.file.metadata()?.len();
        let replaced = if len < f.read_pos {
            true
        } else if len != f.read_pos && f.fingerprint.len > 0 {
            Fingerprint::read(&mut f.file, f.fingerprint.len)? != f.fingerprint
        } else {
            false
        };
        if replaced {
            tracing::info!(
                "{}: {} was truncated or rewritten; reading it from the start",
                ctx.describe,
                self.path.display()
            );
            f.rewind_to(0)?;
            f.fingerprint = Fingerprint::default();
        }
        Ok(())
    }

    /// Reads from the current position to the end (or the per-poll limit), submitting complete
    /// lines in batches.
    fn drain(
        &mut self,
        f: &mut OpenFile,
        ctx: &TailContext,
        submit: &mut Submit,
    ) -> Result<Progress, PollError> {
        let max = ctx.max_record_bytes;
        let mut lines: Vec<Vec<u8>> = Vec::new();
        // The end of the last complete line handled (submitted, blank or skipped).
        let mut consumed = f.offset;
        let mut chunk = vec![0u8; CHUNK];
        let mut progress = Progress::default();
        loop {
            if progress.bytes >= POLL_BYTES {
                progress.more = true;
                break;
            }
            let n = match f.file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            let mut at = f.read_pos;
            f.read_pos += n as u64;
            progress.bytes += n as u64;
            let mut data = &chunk[..n];
            while let Some(i) = memchr::memchr(b'\n', data) {
                let piece = &data[..i];
                if f.skipping {
                    f.skipping = false;
                } else if f.partial.len() + piece.len() > max {
                    self.oversize(ctx, f.partial.len() + piece.len());
                } else {
                    f.partial.extend_from_slice(piece);
                    if f.partial.last() == Some(&b'\r') {
                        f.partial.pop();
                    }
                    if !f.partial.is_empty() {
                        lines.push(std::mem::take(&mut f.partial));
                    }
                }
                f.partial.clear();
                at += i as u64 + 1;
                consumed = at;
                data = &data[i + 1..];
                if lines.len() >= BATCH_LINES {
                    self.flush(f, &mut lines, consumed, ctx, submit)?;
                }
            }
            if !f.skipping {
                if f.partial.len() + data.len() > max {
                    self.oversize(ctx, f.partial.len() + data.len());
                    f.partial.clear();
                    f.skipping = true;
                } else {
                    f.partial.extend_from_slice(data);
                }
            }
        }
        self.flush(f, &mut lines, consumed, ctx, submit)?;
        Ok(progress)
    }

    fn oversize(&self, ctx: &TailContext, len: usize) {
        tracing::warn!(
            "{}: {}: skipping a line longer than server.max_record_bytes ({} bytes, {len} or more read)",
            ctx.describe,
            self.path.display(),
            ctx.max_record_bytes
        );
        ctx.metrics
            .parse_errors
            .get_or_create(&ctx.metrics.source(&ctx.label))
            .inc();
    }

    /// Submits `lines`; once the log has them, the offset moves to `consumed`.
    fn flush(
        &mut self,
        f: &mut OpenFile,
        lines: &mut Vec<Vec<u8>>,
        consumed: u64,
        ctx: &TailContext,
        submit: &mut Submit,
    ) -> Result<(), PollError> {
        if let Some(first) = lines.first() {
            let format = self.format_of(first, ctx);
            let records = lines
                .drain(..)
                .map(|line| Record {
                    source: Arc::clone(&self.record_source),
                    format,
                    line,
                })
                .collect();
            match submit(records) {
                Ok(()) => {}
                Err(SubmitError::Closed) => return Err(PollError::Stopped),
                Err(e) => return Err(PollError::Wal(e)),
            }
        }
        if consumed > f.offset {
            f.offset = consumed;
            if f.fingerprint.len < FINGERPRINT_BYTES && f.offset > f.fingerprint.len {
                f.fingerprint = Fingerprint::read(&mut f.file, f.offset)?;
            }
        }
        Ok(())
    }

    /// Submits the unterminated last line of a file that will not grow any more.
    fn submit_partial(
        &mut self,
        f: &mut OpenFile,
        ctx: &TailContext,
        submit: &mut Submit,
    ) -> Result<(), PollError> {
        let mut lines = Vec::new();
        if !f.skipping {
            let mut line = std::mem::take(&mut f.partial);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if !line.is_empty() {
                lines.push(line);
            }
        }
        let end = f.read_pos;
        self.flush(f, &mut lines, end, ctx, submit)?;
        f.partial.clear();
        f.skipping = false;
        Ok(())
    }

    /// The configured format, else the one detected from the file's first line.
    fn format_of(&mut self, first_line: &[u8], ctx: &TailContext) -> Format {
        if let Some(f) = self.format {
            return f;
        }
        let format = match palisade_ingest::detect::sniff(first_line) {
            Ok(Format::Evtx) | Err(_) => {
                tracing::warn!(
                    "{}: cannot tell the format of {} from its first line; reading it as syslog \
                     (set `format` on the source)",
                    ctx.describe,
                    self.path.display()
                );
                Format::Syslog
            }
            Ok(f) => f,
        };
        self.format = Some(format);
        format
    }

    /// Writes this file's offset into the book (the source's runner saves the book).
    fn record(&self, ctx: &TailContext) {
        if let Some(f) = &self.open {
            ctx.book().set(FileOffset {
                source: ctx.label.clone(),
                path: self.path.clone(),
                id: f.id,
                offset: f.offset,
                fingerprint: f.fingerprint,
                format: self.format.map(|f| f.name().to_string()),
            });
        }
    }
}

enum Step {
    /// Read the open file (possibly nothing).
    Read(Progress),
    /// The file was rotated away and finished; continue with this one.
    Switch(OpenFile),
}

enum PollError {
    Stopped,
    Wal(SubmitError),
    Io(io::Error),
}

impl std::fmt::Debug for PollError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PollError::Stopped => write!(f, "stopped"),
            PollError::Wal(e) => write!(f, "{e}"),
            PollError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for PollError {
    fn from(e: io::Error) -> Self {
        PollError::Io(e)
    }
}

/// The saved offset still applies to `file` (same first bytes, not shorter).
fn resume(
    mut file: File,
    id: FileId,
    saved: &FileOffset,
    len: u64,
) -> io::Result<Option<OpenFile>> {
    if len < saved.offset {
        return Ok(None);
    }
    let fp = Fingerprint::read(&mut file, saved.fingerprint.len)?;
    if fp != saved.fingerprint {
        return Ok(None);
    }
    Ok(Some(OpenFile::at(file, id, saved.offset, fp)?))
}

/// The file read before, renamed beside `path` (`app.log.1`, `app.log-20240501`).
fn find_rotated(path: &Path, saved: &FileOffset) -> io::Result<Option<OpenFile>> {
    let Some(dir) = path.parent() else {
        return Ok(None);
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(None);
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || FileId::of(&meta) != saved.id {
            continue;
        }
        let file = File::open(entry.path())?;
        return resume(file, saved.id, saved, meta.len());
    }
    Ok(None)
}

/// Where to start in a file first seen with `from_start = false`: after its last newline, so a
/// line being written is read whole. `true` when the last line is already too long to keep.
fn end_of_last_line(file: &mut File, len: u64, max: usize) -> io::Result<(u64, bool)> {
    let window = len.min(max as u64 + 1);
    file.seek(SeekFrom::Start(len - window))?;
    let mut buf = Vec::with_capacity(window as usize);
    Read::by_ref(file).take(window).read_to_end(&mut buf)?;
    match memchr::memrchr(b'\n', &buf) {
        Some(i) => Ok((len - window + i as u64 + 1, false)),
        None if len == window => Ok((0, false)),
        None => Ok((len, true)),
    }
}

/// Runs a file source on a thread of its own (file reads block) until shutdown.
pub fn spawn_file(
    mut tailer: Tailer,
    ctx: TailContext,
    mut submitter: super::BlockingSubmitter,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        let mut submit = |records| submitter.submit(records);
        let wake =
            super::wake::Wake::watch(&ctx.describe, &[super::wake::parent_dir(tailer.path())]);
        loop {
            if super::is_stopped(&shutdown) {
                break;
            }
            let progress = match tailer.poll(&ctx, &mut submit) {
                Ok(p) => p,
                Err(Stopped) => break,
            };
            save(&ctx);
            if !progress.more && !wake.wait(&shutdown, POLL) {
                break;
            }
        }
        save(&ctx);
        tracing::debug!("{}: stopped", ctx.describe);
    })
}

/// Saves the offsets, logging (not failing) when that is impossible: the lines since the last
/// save would be read again after a restart, none lost.
pub fn save(ctx: &TailContext) {
    if let Err(e) = ctx.book().save() {
        tracing::warn!("{}: cannot save tailing offsets: {e}", ctx.describe);
    }
}

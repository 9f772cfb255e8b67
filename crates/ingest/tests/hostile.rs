//! Hostile inputs through the public API: a huge single line, deep nesting, binary garbage,
//! truncated and corrupted EVTX, empty and unreadable files. Each must give a clear error or
//! warning naming the file and position, keep memory bounded, never panic, and never lose the
//! good records around the bad ones.

mod common;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use common::Collect;
use palisade_event::Value;
use palisade_ingest::error::PositionUnit;
use palisade_ingest::{FileStats, Format, IngestError, IngestOptions, Input, read_input};

/// A directory of its own under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("palisade-hostile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(path: &Path, format: Option<Format>) -> (Result<FileStats, IngestError>, Collect) {
    let mut sink = Collect::default();
    let opts = IngestOptions {
        format,
        ..IngestOptions::default()
    };
    let result = read_input(&Input::Path(path.to_owned()), &opts, &mut sink);
    (result, sink)
}

/// Deterministic pseudo-random bytes (xorshift64*), so failures reproduce.
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// This process's peak resident set size, from `/proc/self/status`.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Bytes of the huge line: 1 GiB (written and read in a few seconds on a 2-core machine),
/// or `PALISADE_HOSTILE_LINE_MIB` MiB where disk or time is short.
fn huge_line_bytes() -> u64 {
    std::env::var("PALISADE_HOSTILE_LINE_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(1 << 30, |mib| mib << 20)
}

#[test]
fn a_huge_single_line_is_skipped_with_bounded_memory() {
    let dir = TempDir::new("huge-line");
    let path = dir.0.join("huge.ndjson");
    let size = huge_line_bytes();
    {
        // Streamed to disk: the test itself must not hold the line in memory either.
        let mut w = BufWriter::with_capacity(1 << 20, File::create(&path).unwrap());
        w.write_all(br#"{"message":""#).unwrap();
        let chunk = vec![b'x'; 1 << 20];
        let mut written = 0u64;
        while written < size {
            w.write_all(&chunk).unwrap();
            written += chunk.len() as u64;
        }
        w.write_all(b"\"}\n{\"user\":{\"name\":\"alice\"}}\n")
            .unwrap();
        w.flush().unwrap();
    }
    let before = peak_rss_bytes();
    let clock = std::time::Instant::now();
    let (result, sink) = read(&path, None);
    let elapsed = clock.elapsed();
    let after = peak_rss_bytes();
    let stats = result.unwrap();
    assert_eq!(sink.warnings.len(), 1, "{:?}", sink.warnings);
    let w = &sink.warnings[0];
    assert_eq!((w.unit, w.position), (PositionUnit::Line, 1));
    assert_eq!(&*w.source, path.to_string_lossy());
    assert!(w.message.contains("exceeds"), "{w}");
    assert!(w.to_string().contains("huge.ndjson line 1:"), "{w}");
    assert_eq!(
        sink.events.len(),
        1,
        "the good line after the huge one is lost"
    );
    let e = &sink.events[0];
    assert_eq!(e.origin.position, 2);
    assert_eq!(
        e.get_by_name("user.name").and_then(Value::as_str),
        Some("alice")
    );
    assert_eq!((stats.events, stats.skipped), (1, 1));
    assert!(stats.bytes > size);
    if let (Some(before), Some(after)) = (before, after) {
        let growth = after.saturating_sub(before);
        eprintln!(
            "read a {} MiB line in {:.1} s; peak RSS {} -> {} MiB",
            size >> 20,
            elapsed.as_secs_f64(),
            before >> 20,
            after >> 20
        );
        assert!(
            growth < 200 << 20,
            "peak memory grew by {} MiB reading a {} MiB line",
            growth >> 20,
            size >> 20
        );
    }
}

#[test]
fn deep_json_nesting_is_a_warning_not_a_stack_overflow() {
    let dir = TempDir::new("deep-json");
    let depth = 10_000;
    let arrays = "[".repeat(depth) + &"]".repeat(depth);
    let objects = r#"{"a":"#.repeat(depth) + "1" + &"}".repeat(depth);
    let in_object = format!(r#"{{"a":{arrays}}}"#);
    let evtx_shaped = format!(r#"{{"Event":{objects}}}"#);
    let zeek_shaped = format!(r#"{{"ts":1.0,"id.orig_h":"10.0.0.1","x":{objects}}}"#);
    for (name, line, format) in [
        ("arrays.ndjson", arrays.as_str(), Some(Format::Json)),
        ("objects.ndjson", objects.as_str(), None),
        ("in-object.ndjson", in_object.as_str(), None),
        (
            "evtx-shaped.ndjson",
            evtx_shaped.as_str(),
            Some(Format::Json),
        ),
        ("zeek.log", zeek_shaped.as_str(), Some(Format::Zeek)),
    ] {
        let content = format!("{line}\n{{\"ok\":1}}\n");
        let path = dir.file(name, content.as_bytes());
        let (result, sink) = read(&path, format);
        result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(sink.warnings.len(), 1, "{name}: {:?}", sink.warnings);
        let w = &sink.warnings[0];
        assert_eq!((w.unit, w.position), (PositionUnit::Line, 1), "{name}");
        assert!(w.to_string().contains(&format!("{name} line 1:")), "{w}");
        assert_eq!(sink.events.len(), 1, "{name}: the good line is lost");
    }
}

#[test]
fn random_bytes_give_a_clear_error() {
    let dir = TempDir::new("garbage");
    for seed in 1..=8u64 {
        let path = dir.file(&format!("garbage-{seed}.bin"), &garbage(256 << 10, seed));
        let (result, sink) = read(&path, None);
        match result {
            Err(e @ IngestError::UnknownFormat { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
                assert!(msg.contains("binary data that is not EVTX"), "{msg}");
            }
            other => panic!("garbage-{seed}: expected an unknown-format error, got {other:?}"),
        }
        assert!(sink.events.is_empty());
        // Forced through every text format: skipped lines, each warned about, no panic.
        for format in Format::ALL.into_iter().filter(|f| *f != Format::Evtx) {
            let (result, sink) = read(&path, Some(format));
            let stats = result.unwrap_or_else(|e| panic!("{format}: {e}"));
            assert_eq!(stats.skipped as usize, sink.warnings.len(), "{format}");
            assert!(stats.skipped > 0, "{format}: garbage taken as records");
        }
    }
}

#[test]
fn random_bytes_after_the_evtx_magic_are_an_invalid_evtx_error() {
    let dir = TempDir::new("evtx-garbage");
    for (seed, len) in [(1u64, 100usize), (2, 4096), (3, 4096 + 65536), (4, 300_000)] {
        let mut bytes = b"ElfFile\0".to_vec();
        bytes.extend(garbage(len, seed));
        let path = dir.file(&format!("garbage-{seed}.evtx"), &bytes);
        let (result, sink) = read(&path, None);
        assert!(sink.events.is_empty(), "events from garbage");
        match result {
            // The header is refused outright…
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
                assert!(msg.contains("EVTX"), "{msg}");
            }
            // …or accepted (the evtx crate reads files with a damaged header) and every chunk
            // reported as a warning naming the file.
            Ok(stats) => {
                assert_eq!(stats.events, 0);
                for w in &sink.warnings {
                    assert_eq!(&*w.source, path.to_string_lossy());
                }
            }
        }
    }
}

/// A real EVTX file with several chunks, from the shared data set.
fn multi_chunk_evtx() -> Option<Vec<u8>> {
    let dir = common::data_dir("multi-chunk EVTX")?;
    let path =
        dir.join("evtx-attack-samples/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx");
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

const HEADER: usize = 4096;
const CHUNK: usize = 65536;

/// `(first, last)` record ids a chunk's header says it holds.
fn chunk_record_ids(file: &[u8], chunk: usize) -> (u64, u64) {
    let h = &file[HEADER + chunk * CHUNK..];
    assert_eq!(&h[..8], b"ElfChnk\0");
    let id = |at: usize| u64::from_le_bytes(h[at..at + 8].try_into().unwrap());
    (id(24), id(32))
}

fn record_ids(sink: &Collect) -> Vec<u64> {
    let mut ids: Vec<u64> = sink.events.iter().map(|e| e.origin.position).collect();
    ids.sort_unstable();
    ids
}

#[test]
fn a_truncated_evtx_keeps_its_whole_chunks_and_reports_the_cut() {
    let Some(full) = multi_chunk_evtx() else {
        return;
    };
    let dir = TempDir::new("evtx-truncated");
    let (all, _) = read(&dir.file("full.evtx", &full), None);
    let all = all.unwrap();
    // Two whole chunks, then half of the third.
    let cut = HEADER + 2 * CHUNK + CHUNK / 2;
    let path = dir.file("truncated.evtx", &full[..cut]);
    let (result, sink) = read(&path, None);
    let stats = result.unwrap();
    let (_, last_of_second) = chunk_record_ids(&full, 1);
    let ids = record_ids(&sink);
    assert!(!ids.is_empty() && stats.events < all.events);
    assert!(
        ids.contains(&last_of_second),
        "records of whole chunks lost"
    );
    let w = sink
        .warnings
        .iter()
        .find(|w| w.unit == PositionUnit::Chunk)
        .unwrap_or_else(|| panic!("no chunk warning: {:?}", sink.warnings));
    assert_eq!(w.position, (HEADER + 2 * CHUNK) as u64, "{w}");
    assert!(
        w.to_string()
            .contains("truncated.evtx chunk at byte 135168"),
        "{w}"
    );
    // Cut inside the file header: no chunk at all, and nothing to report but the cut.
    let path = dir.file("header-only.evtx", &full[..1000]);
    let (result, sink) = read(&path, None);
    assert!(sink.events.is_empty());
    if let Err(e) = result {
        assert!(e.to_string().contains("header-only.evtx"), "{e}");
    }
}

#[test]
fn a_corrupt_chunk_loses_only_its_own_records() {
    let Some(mut file) = multi_chunk_evtx() else {
        return;
    };
    let chunks = (file.len() - HEADER) / CHUNK;
    assert!(chunks >= 3, "the sample should have several chunks");
    let dir = TempDir::new("evtx-corrupt");
    let (full, full_sink) = read(&dir.file("clean.evtx", &file), None);
    full.unwrap();
    assert!(full_sink.warnings.is_empty(), "{:?}", full_sink.warnings);
    let bad = chunks / 2;
    let (first, last) = chunk_record_ids(&file, bad);
    // Garbage over the middle chunk, its magic included.
    let start = HEADER + bad * CHUNK;
    file[start..start + CHUNK].copy_from_slice(&garbage(CHUNK, 99));
    let path = dir.file("corrupt.evtx", &file);
    let (result, sink) = read(&path, None);
    result.unwrap();
    let expected: Vec<u64> = record_ids(&full_sink)
        .into_iter()
        .filter(|id| !(first..=last).contains(id))
        .collect();
    let got = record_ids(&sink);
    assert!(
        expected.iter().all(|id| got.contains(id)),
        "records of intact chunks lost: {} expected, {} read",
        expected.len(),
        got.len()
    );
    assert!(got.len() < full_sink.events.len());
    let w = sink
        .warnings
        .iter()
        .find(|w| w.unit == PositionUnit::Chunk)
        .unwrap_or_else(|| panic!("no chunk warning: {:?}", sink.warnings));
    assert_eq!(w.position, start as u64, "{w}");
    assert!(
        w.to_string()
            .contains(&format!("corrupt.evtx chunk at byte {start}")),
        "{w}"
    );
}

#[test]
fn empty_files_are_a_clear_error_or_nothing() {
    let dir = TempDir::new("empty");
    let path = dir.file("empty.log", b"");
    let (result, sink) = read(&path, None);
    let msg = result.unwrap_err().to_string();
    assert!(msg.contains("empty.log") && msg.contains("empty"), "{msg}");
    assert!(sink.events.is_empty() && sink.warnings.is_empty());
    // With the format given, an empty text input is simply no records.
    for format in Format::ALL.into_iter().filter(|f| *f != Format::Evtx) {
        let (result, sink) = read(&path, Some(format));
        assert_eq!(result.unwrap(), FileStats::default(), "{format}");
        assert!(sink.events.is_empty() && sink.warnings.is_empty());
    }
    // An empty file forced to EVTX is not a valid EVTX file.
    let (result, _) = read(&path, Some(Format::Evtx));
    let msg = result.unwrap_err().to_string();
    assert!(msg.contains("empty.log") && msg.contains("EVTX"), "{msg}");
    // Blank lines only: sniffing sees no content.
    let path = dir.file("blank.log", b"\n\n  \r\n\t\n");
    let msg = read(&path, None).0.unwrap_err().to_string();
    assert!(msg.contains("blank.log"), "{msg}");
}

#[test]
fn unreadable_inputs_are_io_errors_naming_the_path() {
    let dir = TempDir::new("unreadable");
    // A directory given where a file is expected.
    let sub = dir.0.join("a-directory");
    std::fs::create_dir(&sub).unwrap();
    // A symlink to nothing.
    let dangling = dir.0.join("dangling.log");
    std::os::unix::fs::symlink(dir.0.join("missing-target"), &dangling).unwrap();
    let missing = dir.0.join("never-created.log");
    for path in [&sub, &dangling, &missing] {
        for format in [None, Some(Format::Json), Some(Format::Evtx)] {
            let (result, sink) = read(path, format);
            let err = result.unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
            assert!(sink.events.is_empty());
        }
    }
    // Without read permission. Root reads regardless of mode bits, so this part only means
    // something for other users (CI runs as root: the cases above cover it there).
    let locked = dir.file("locked.log", b"{\"a\":1}\n");
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    if File::open(&locked).is_err() {
        let msg = read(&locked, None).0.unwrap_err().to_string();
        assert!(msg.contains("locked.log"), "{msg}");
    } else {
        eprintln!("running as root: mode 000 does not stop reads; permission case skipped");
    }
}

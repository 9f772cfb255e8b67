//! Sources end to end over real sockets and files: records arrive through a real `Ingress` and
//! write-ahead log, and a collector thread plays the pipeline (taking batches and freeing
//! queue room).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use palisade_ingest::Format;
use palisade_server::config::{DirSource, FileSource, ServeConfig, SyslogSource};
use palisade_server::ingress::Ingress;
use palisade_server::metrics::Metrics;
use palisade_server::sources::{self, Protocol, RunningSources};
use palisade_server::wal::{Record, Wal, WalOptions};
use tokio::sync::watch;

/// A real ingress over a write-ahead log in a temporary directory.
struct Harness {
    dir: tempfile::TempDir,
    ingress: Ingress,
    metrics: Arc<Metrics>,
    received: Arc<Mutex<Vec<Record>>>,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Arc::new(Metrics::new());
        let (ingress, received) = start_ingress(&dir.path().join("wal"), &metrics);
        Harness {
            dir,
            ingress,
            metrics,
            received,
        }
    }

    fn config(&self) -> ServeConfig {
        let mut cfg = ServeConfig::default();
        cfg.server.data_dir = self.dir.path().join("data");
        cfg.server.max_record_bytes = 256;
        cfg
    }

    fn start(&self, cfg: &ServeConfig) -> (RunningSources, watch::Sender<bool>) {
        let (stop, shutdown) = watch::channel(false);
        let running = sources::start_all(
            cfg,
            self.ingress.clone(),
            Arc::clone(&self.metrics),
            shutdown,
        )
        .unwrap();
        (running, stop)
    }

    fn lines(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.line).into_owned())
            .collect()
    }

    /// Waits until `n` records arrived (fails after 10 s), then a little longer to catch
    /// duplicates, and returns them.
    async fn expect(&self, n: usize) -> Vec<String> {
        let start = Instant::now();
        while self.received.lock().unwrap().len() < n {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "waited for {n} records, have {:?}",
                self.lines()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Several tail polls: nothing more may come.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let lines = self.lines();
        assert_eq!(lines.len(), n, "{lines:?}");
        lines
    }

    fn counter(&self, family: &str, source: &str) -> u64 {
        let text = self.metrics.encode();
        let key = format!("palisade_{family}_total{{source=\"{source}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&key))
            .map_or(0, |v| v.trim().parse().unwrap())
    }
}

fn start_ingress(wal_dir: &Path, metrics: &Arc<Metrics>) -> (Ingress, Arc<Mutex<Vec<Record>>>) {
    let (wal, _) = Wal::open(
        wal_dir,
        WalOptions {
            fsync: false,
            segment_bytes: 1 << 20,
        },
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::sync_channel(64);
    let (ingress, done, _writer) = Ingress::start(wal, 10_000, tx, Arc::clone(metrics));
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&received);
    std::thread::spawn(move || {
        while let Ok(batch) = rx.recv() {
            let n = batch.len() as u64;
            sink.lock().unwrap().extend(
                batch
                    .into_iter()
                    .map(|r: palisade_server::wal::WalRecord| r.record),
            );
            done.applied(n);
        }
    });
    (ingress, received)
}

async fn stop(running: RunningSources, stop: watch::Sender<bool>) {
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running.join())
        .await
        .expect("sources stop within 10 s of shutdown");
}

fn syslog(udp: bool, tcp: bool) -> SyslogSource {
    SyslogSource {
        name: "fw".into(),
        udp: udp.then(|| "127.0.0.1:0".into()),
        tcp: tcp.then(|| "127.0.0.1:0".into()),
        max_connections: 4,
        idle_timeout_secs: 30,
    }
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn numbered(range: std::ops::RangeInclusive<u32>) -> String {
    range.map(|i| format!("<13>line {i:02}\n")).collect()
}

fn expected(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("<13>line {i:02}")).collect()
}

fn file_source(path: &Path, from_start: bool) -> FileSource {
    FileSource {
        name: Some("app".into()),
        path: path.to_path_buf(),
        format: None,
        from_start,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_datagrams_arrive_as_records() {
    let h = Harness::new();
    let mut cfg = h.config();
    cfg.sources.syslog.push(syslog(true, false));
    let (running, stop_tx) = h.start(&cfg);
    let addr = running.addr("fw", Protocol::Udp).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(b"<13>May  1 10:00:00 host app: one", addr)
        .unwrap();
    sock.send_to(b"<14>1 2024-05-01T10:00:00Z host app - - - two\n", addr)
        .unwrap();
    sock.send_to(b"<15>three\r\n<16>four\n", addr).unwrap();
    let mut lines = h.expect(4).await;
    lines.sort();
    assert_eq!(
        lines,
        [
            "<13>May  1 10:00:00 host app: one",
            "<14>1 2024-05-01T10:00:00Z host app - - - two",
            "<15>three",
            "<16>four"
        ]
    );
    let r = h.received.lock().unwrap()[0].clone();
    assert_eq!((&*r.source, r.format), ("fw", Format::Syslog));
    assert_eq!(h.counter("events_received", "fw"), 4);
    stop(running, stop_tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_mixed_framing_split_writes_and_oversize_frames() {
    let h = Harness::new();
    let mut cfg = h.config();
    cfg.sources.syslog.push(syslog(false, true));
    let (running, stop_tx) = h.start(&cfg);
    let addr = running.addr("fw", Protocol::Tcp).unwrap();
    let mut conn = TcpStream::connect(addr).unwrap();
    let long = "x".repeat(1000);
    let pause = || std::thread::sleep(Duration::from_millis(30));
    conn.write_all(b"<13>first\n18 <14>sec").unwrap();
    pause();
    conn.write_all(b"ond counted").unwrap();
    pause();
    // An oversize line and an oversize counted frame: each skipped, the connection kept.
    conn.write_all(format!("<15>{long}\n<15>third\n1004 <15>{long}").as_bytes())
        .unwrap();
    pause();
    conn.write_all(b"<16>fourth\0<17>fifth\r\n").unwrap();
    assert_eq!(
        h.expect(5).await,
        [
            "<13>first",
            "<14>second counted",
            "<15>third",
            "<16>fourth",
            "<17>fifth"
        ]
    );
    assert_eq!(h.counter("parse_errors", "fw"), 2);
    // The same connection still works.
    conn.write_all(b"7 <18>si").unwrap();
    pause();
    conn.write_all(b"x").unwrap();
    assert_eq!(h.expect(6).await[5], "<18>six");
    assert_eq!(h.counter("events_received", "fw"), 6);
    stop(running, stop_tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_last_message_without_trailer_arrives_at_close() {
    let h = Harness::new();
    let mut cfg = h.config();
    cfg.sources.syslog.push(syslog(false, true));
    let (running, stop_tx) = h.start(&cfg);
    let addr = running.addr("fw", Protocol::Tcp).unwrap();
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.write_all(b"<13>a\n<13>b").unwrap();
    drop(conn);
    assert_eq!(h.expect(2).await, ["<13>a", "<13>b"]);
    stop(running, stop_tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_port_is_an_error_naming_the_source_and_address() {
    let h = Harness::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut cfg = h.config();
    let mut s = syslog(false, false);
    s.tcp = Some(format!("127.0.0.1:{port}"));
    cfg.sources.syslog.push(s);
    let (_stop, shutdown) = watch::channel(false);
    let err = sources::start_all(&cfg, h.ingress.clone(), Arc::clone(&h.metrics), shutdown)
        .err()
        .expect("binding a taken port fails")
        .to_string();
    assert_eq!(
        err,
        format!(
            "sources.syslog[0] (fw): cannot listen on tcp 127.0.0.1:{port}: address already in use"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_resumes_after_restart_without_duplicates_or_loss() {
    let h = Harness::new();
    let log = h.dir.path().join("app.log");
    append(&log, &numbered(1..=3));
    append(&log, "<13>line 04 not yet ended");
    let mut cfg = h.config();
    cfg.sources.file.push(file_source(&log, true));
    let (running, stop_tx) = h.start(&cfg);
    assert_eq!(h.expect(3).await, expected(1..=3));
    stop(running, stop_tx).await;
    assert!(cfg.server.data_dir.join("offsets.json").exists());
    // Written while palisade is down: the end of line 4 and two more lines.
    append(&log, "\n");
    append(&log, &numbered(5..=6));
    let (running, stop_tx) = h.start(&cfg);
    let lines = h.expect(6).await;
    let mut want = expected(1..=3);
    want.push("<13>line 04 not yet ended".into());
    want.extend(expected(5..=6));
    assert_eq!(lines, want);
    assert!(
        h.received
            .lock()
            .unwrap()
            .iter()
            .all(|r| { r.format == Format::Syslog && *r.source == *log.display().to_string() })
    );
    stop(running, stop_tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follows_rotation_by_rename() {
    let h = Harness::new();
    let log = h.dir.path().join("app.log");
    append(&log, &numbered(1..=3));
    let mut cfg = h.config();
    cfg.sources.file.push(file_source(&log, true));
    let (running, stop_tx) = h.start(&cfg);
    assert_eq!(h.expect(3).await, expected(1..=3));
    // logrotate: rename; the writer still appends to the old file until it reopens.
    append(&log, &numbered(4..=4));
    let rotated = h.dir.path().join("app.log.1");
    fs::rename(&log, &rotated).unwrap();
    append(&rotated, &numbered(5..=5));
    append(&rotated, "<13>line 06 unterminated");
    append(&log, &numbered(7..=8));
    let mut want = expected(1..=5);
    want.push("<13>line 06 unterminated".into());
    want.extend(expected(7..=8));
    assert_eq!(h.expect(8).await, want);
    stop(running, stop_tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_rotation_while_stopped_finishes_the_old_file_first() {
    let h = Harness::new();
    let log = h.dir.path().join("app.log");
    append(&log, &numbered(1..=2));
    let mut cfg = h.config();
    cfg.sources.file.push(file_source(&log, true));
    let (running, stop_tx) = h.start(&cfg);
    assert_eq!(h.expect(2).await, expected(1..=2));
    stop(running, stop_tx).await;
    append(&log, &numbered(3..=3));
    fs::rename(&log, h.dir.path().join("app.log.1")).unwrap();
    append(&log, &numbered(4..=5));
    let (running, stop_tx) = h.start(&cfg);
    assert_eq!(h.expect(5).await, expected(1..=5));
    stop(running, stop_tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follows_copytruncate() {
    let h = Harness::new();
    let log = h.dir.path().join("app.log");
    append(&log, &numbered(1..=5));
    let mut cfg = h.config();
    cfg.sources.file.push(file_source(&log, true));
    let (running, stop_tx) = h.start(&cfg);
    assert_eq!(h.expect(5).await, expected(1..=5));
    // Truncated, then a little written: shorter than what was read.
    let f = OpenOptions::new().write(true).open(&log).unwrap();
    f.set_len(0).unwrap();
    drop(f);
    append(&log, &numbered(6..=6));
    assert_eq!(h.expect(6).await[5], "<13>line 06");
    // Truncated and, before the next poll, rewritten past the old size: told by its first bytes.
    fs::write(&log, numbered(7..=20)).unwrap();
    let lines = h.expect(20).await;
    assert_eq!(lines[6..], expected(7..=20));
    stop(running, stop_tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_holds_a_partial_line_until_its_newline() {
    let h = Harness::new();
    let log = h.dir.path().join("app.log");
    append(&log, "<13>a\n<13>b");
    let mut cfg = h.config();
    cfg.sources.file.push(file_source(&log, true));
    let (running, stop_tx) = h.start(&cfg);
    assert_eq!(h.expect(1).await, ["<13>a"]);
    append(&log, "c\r\n");
    assert_eq!(h.expect(2).await, ["<13>a", "<13>bc"]);
    stop(running, stop_tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_skips_an_oversize_line_and_keeps_its_neighbours() {
    let h = Harness::new();
    let log = h.dir.path().join("app.log");
    let long = "y".repeat(100_000);
    append(&log, &format!("<13>before\n<13>{long}\n<13>after\n"));
    let mut cfg = h.config();
    cfg.sources.file.push(file_source(&log, true));
    let (running, stop_tx) = h.start(&cfg);
    assert_eq!(h.expect(2).await, ["<13>before", "<13>after"]);
    assert_eq!(h.counter("parse_errors", "app"), 1);
    stop(running, stop_tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_from_the_end_reads_only_new_lines_and_detects_the_format() {
    let h = Harness::new();
    let log = h.dir.path().join("events.json");
    append(&log, "{\"old\":1}\n{\"old\":2}\n{\"partial\":");
    let mut cfg = h.config();
    cfg.sources.file.push(file_source(&log, false));
    let (running, stop_tx) = h.start(&cfg);
    tokio::time::sleep(Duration::from_millis(600)).await;
    append(&log, "3}\n{\"new\":4}\n");
    assert_eq!(h.expect(2).await, ["{\"partial\":3}", "{\"new\":4}"]);
    assert!(
        h.received
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.format == Format::Json)
    );
    assert_eq!(h.counter("events_received", "app"), 2);
    stop(running, stop_tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_offsets_do_not_move_when_the_log_refuses_records() {
    let h = Harness::new();
    let log = h.dir.path().join("app.log");
    append(&log, &numbered(1..=3));
    let mut cfg = h.config();
    cfg.sources.file.push(file_source(&log, true));
    // The write-ahead log is closed: nothing can be acknowledged.
    h.ingress.close();
    let (running, stop_tx) = h.start(&cfg);
    tokio::time::timeout(Duration::from_secs(10), running.join())
        .await
        .expect("a closed log stops the tailer");
    drop(stop_tx);
    assert!(h.lines().is_empty());
    // Started again over a working log, every line is read.
    let metrics = Arc::new(Metrics::new());
    let (ingress, received) = start_ingress(&h.dir.path().join("wal2"), &metrics);
    let (stop_tx, shutdown) = watch::channel(false);
    let running = sources::start_all(&cfg, ingress, metrics, shutdown).unwrap();
    let start = Instant::now();
    while received.lock().unwrap().len() < 3 {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop(running, stop_tx).await;
    assert_eq!(received.lock().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dir_reads_matching_files_including_new_ones_once() {
    let h = Harness::new();
    let watched = h.dir.path().join("logs");
    fs::create_dir(&watched).unwrap();
    append(&watched.join("a.log"), &numbered(1..=2));
    append(&watched.join("notes.txt"), "<13>not a log\n");
    let mut cfg = h.config();
    cfg.sources.dir.push(DirSource {
        name: Some("logs".into()),
        path: watched.clone(),
        pattern: Some("*.log".into()),
        format: Some("syslog".into()),
    });
    let (running, stop_tx) = h.start(&cfg);
    assert_eq!(h.expect(2).await, expected(1..=2));
    append(&watched.join("b.log"), &numbered(3..=4));
    assert_eq!(h.expect(4).await[2..], expected(3..=4));
    let b = watched.join("b.log").display().to_string();
    assert_eq!(*h.received.lock().unwrap()[3].source, *b);
    stop(running, stop_tx).await;
    // Restarted: nothing is read twice; what was appended meanwhile is read.
    append(&watched.join("a.log"), &numbered(5..=5));
    let (running, stop_tx) = h.start(&cfg);
    assert_eq!(h.expect(5).await[4], "<13>line 05");
    stop(running, stop_tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_offsets_file_is_an_error_naming_it() {
    let h = Harness::new();
    let mut cfg = h.config();
    cfg.sources
        .file
        .push(file_source(&h.dir.path().join("x.log"), true));
    fs::create_dir_all(&cfg.server.data_dir).unwrap();
    let offsets: PathBuf = cfg.server.data_dir.join("offsets.json");
    fs::write(&offsets, "garbage").unwrap();
    let (_stop, shutdown) = watch::channel(false);
    let err = sources::start_all(&cfg, h.ingress.clone(), Arc::clone(&h.metrics), shutdown)
        .err()
        .expect("a corrupt offsets file is refused")
        .to_string();
    assert!(err.contains(&offsets.display().to_string()), "{err}");
}

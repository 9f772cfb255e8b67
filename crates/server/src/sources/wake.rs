//! Waking a file source as soon as its directory changes, instead of at its next poll.
//!
//! Tailers still poll (every [`super::tail::POLL`]): that is what finds rotation, truncation
//! and files on file systems without change notification (NFS, some FUSE mounts). A [`Wake`]
//! only cuts the wait short when the OS reports a write, creation, rename or removal in a
//! watched directory, so a line appended to an auth log reaches the write-ahead log within
//! milliseconds — what response actions such as blocking a brute-forcing address need
//! (fail2ban does the same with inotify). When the watch cannot be set up (no inotify
//! instances left, unsupported file system) the source falls back to polling and says so once.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::watch;

use super::is_stopped;

/// How often a waiting source checks for shutdown.
const SHUTDOWN_CHECK: Duration = Duration::from_millis(50);

/// Change notification for the directories of a file source.
pub struct Wake {
    rx: Option<Receiver<()>>,
    // Dropping the watcher ends the notification; kept for the life of the source.
    _watcher: Option<RecommendedWatcher>,
}

impl Wake {
    /// Watches `dirs` (not recursively). Never fails: without a watch, [`Wake::wait`] sleeps.
    pub fn watch(describe: &str, dirs: &[PathBuf]) -> Wake {
        let (tx, rx) = channel();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res
                && wakes(&ev.kind)
            {
                let _ = tx.send(());
            }
        });
        let mut watcher = match watcher {
            Ok(w) => w,
            Err(e) => {
                tracing::info!("{describe}: no change notification ({e}); polling only");
                return Wake::polling();
            }
        };
        for dir in dirs {
            if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
                tracing::info!(
                    "{describe}: cannot watch {} for changes ({e}); polling only",
                    dir.display()
                );
                return Wake::polling();
            }
        }
        Wake {
            rx: Some(rx),
            _watcher: Some(watcher),
        }
    }

    /// No notification: every wait lasts its full time.
    pub fn polling() -> Wake {
        Wake {
            rx: None,
            _watcher: None,
        }
    }

    /// Whether changes are being watched.
    pub fn is_watching(&self) -> bool {
        self.rx.is_some()
    }

    /// Waits up to `max`, less when a watched directory changes; `false` on shutdown.
    pub fn wait(&self, shutdown: &watch::Receiver<bool>, max: Duration) -> bool {
        let Some(rx) = &self.rx else {
            return super::sleep_unless_stopped(shutdown, max);
        };
        let end = Instant::now() + max;
        loop {
            if is_stopped(shutdown) {
                return false;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            match rx.recv_timeout(left.min(SHUTDOWN_CHECK)) {
                Ok(()) => {
                    // One wake-up for a burst of notifications.
                    while rx.try_recv().is_ok() {}
                    return !is_stopped(shutdown);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return super::sleep_unless_stopped(shutdown, left);
                }
            }
        }
    }
}

/// Changes worth reading for: data written, files created, renamed or removed. Reads and
/// opens (our own, too) are not, or every poll would wake the next one at once.
fn wakes(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

/// The directory holding `path` (what to watch for a file that may be rotated or recreated).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_write_wakes_the_wait_early_and_reads_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auth.log");
        std::fs::write(&file, b"first\n").unwrap();
        let (_tx, shutdown) = watch::channel(false);
        let wake = Wake::watch("test", &[dir.path().to_path_buf()]);
        assert!(wake.is_watching(), "inotify should be available on Linux");
        // Reading the file is not a change: the wait lasts its whole time.
        let _ = std::fs::read(&file).unwrap();
        let t = Instant::now();
        assert!(wake.wait(&shutdown, Duration::from_millis(300)));
        // Drain whatever the read may have produced, then measure a quiet wait.
        let t2 = Instant::now();
        assert!(wake.wait(&shutdown, Duration::from_millis(300)));
        assert!(
            t2.elapsed() >= Duration::from_millis(250),
            "a quiet directory must not wake the wait ({:?}, first {:?})",
            t2.elapsed(),
            t.elapsed()
        );
        // An append wakes it long before the 10 s limit.
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&file)
                .unwrap();
            f.write_all(b"second\n").unwrap();
        });
        let t = Instant::now();
        assert!(wake.wait(&shutdown, Duration::from_secs(10)));
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "not woken by a write: {:?}",
            t.elapsed()
        );
        writer.join().unwrap();
    }

    #[test]
    fn shutdown_ends_a_wait() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, shutdown) = watch::channel(false);
        let wake = Wake::watch("test", &[dir.path().to_path_buf()]);
        tx.send(true).unwrap();
        assert!(!wake.wait(&shutdown, Duration::from_secs(10)));
        assert!(!Wake::polling().wait(&shutdown, Duration::from_secs(10)));
    }
}

//! Directory sources: every regular file in a directory whose name matches a pattern is
//! tailed (from its start, with offsets), including files created later. The directory is
//! listed again every [`SCAN`].
//!
//! Files are followed by identity (device and inode), not name: a file renamed within the
//! directory keeps its offset; a file deleted or renamed to a name the pattern does not match
//! is read to its end (it has been quiet for a poll) and then dropped, with its offset.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::offsets::FileId;
use super::tail::{POLL, TailContext, Tailer, save};
use super::{BlockingSubmitter, WarnLimiter, is_stopped};

/// How often the directory is listed for new files.
pub const SCAN: Duration = Duration::from_secs(1);
/// Most files of one directory followed at once (each holds a file descriptor).
pub const MAX_FILES: usize = 1024;

/// A file-name glob: `*` (any run of characters), `?` (one character), anything else literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePattern(Vec<char>);

impl FilePattern {
    pub fn new(pattern: &str) -> Result<FilePattern, String> {
        if pattern.is_empty() {
            return Err("the pattern is empty".into());
        }
        if pattern.contains(['/', '\\']) {
            return Err(format!(
                "{pattern:?}: the pattern matches file names, so it cannot contain a path separator"
            ));
        }
        if let Some(c) = pattern.chars().find(|c| matches!(c, '[' | ']' | '{' | '}')) {
            return Err(format!(
                "{pattern:?}: {c:?} is not supported; use * and ? (for example *.log)"
            ));
        }
        Ok(FilePattern(pattern.chars().collect()))
    }

    /// Whether `name` matches (iterative wildcard matching: linear in practice, no recursion).
    pub fn matches(&self, name: &str) -> bool {
        let p = &self.0;
        let n: Vec<char> = name.chars().collect();
        let (mut i, mut j) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while j < n.len() {
            if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
                i += 1;
                j += 1;
            } else if i < p.len() && p[i] == '*' {
                star = Some((i, j));
                i += 1;
            } else if let Some((si, sj)) = star {
                i = si + 1;
                j = sj + 1;
                star = Some((si, sj + 1));
            } else {
                return false;
            }
        }
        p[i..].iter().all(|c| *c == '*')
    }
}

struct Watched {
    tailer: Tailer,
    /// Seen in the last listing under a matching name.
    present: bool,
}

/// Runs a directory source on a thread of its own until shutdown.
pub fn spawn_dir(
    dir: PathBuf,
    pattern: FilePattern,
    ctx: TailContext,
    mut submitter: BlockingSubmitter,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        let mut submit = |records| submitter.submit(records);
        let mut files: HashMap<FileId, Watched> = HashMap::new();
        let mut last_scan: Option<Instant> = None;
        let mut first_round = true;
        let mut full_warn = WarnLimiter::new(Duration::from_secs(60));
        let mut scan_warn = WarnLimiter::new(Duration::from_secs(60));
        let wake = super::wake::Wake::watch(&ctx.describe, std::slice::from_ref(&dir));
        'run: loop {
            if is_stopped(&shutdown) {
                break;
            }
            if last_scan.is_none_or(|t| t.elapsed() >= SCAN) {
                last_scan = Some(Instant::now());
                match scan(&dir, &pattern) {
                    Ok(found) => update(&mut files, found, &ctx, &mut full_warn),
                    Err(e) => {
                        if scan_warn.check().is_some() {
                            tracing::warn!("{}: cannot list {}: {e}", ctx.describe, dir.display());
                        }
                    }
                }
            }
            let mut more = false;
            let mut finished = Vec::new();
            for (id, w) in &mut files {
                match w.tailer.poll(&ctx, &mut submit) {
                    Ok(p) => {
                        more |= p.more;
                        if !w.present && p.bytes == 0 && !p.more {
                            finished.push(*id);
                        }
                    }
                    Err(_) => break 'run,
                }
            }
            for id in finished {
                if let Some(w) = files.remove(&id) {
                    tracing::debug!(
                        "{}: {} is gone and read to its end",
                        ctx.describe,
                        w.tailer.path().display()
                    );
                    if w.tailer.finish(&ctx, &mut submit).is_err() {
                        break 'run;
                    }
                }
            }
            if first_round {
                // After every file found had the chance to claim its saved entry.
                forget_missing(&files, &ctx);
                first_round = false;
            }
            save(&ctx);
            if !more && !wake.wait(&shutdown, POLL) {
                break;
            }
        }
        save(&ctx);
        tracing::debug!("{}: stopped", ctx.describe);
    })
}

/// Matching regular files in `dir`, by identity.
fn scan(dir: &std::path::Path, pattern: &FilePattern) -> std::io::Result<Vec<(FileId, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !pattern.matches(name) {
            continue;
        }
        // Follows symlinks: a link to a log file is tailed as that file.
        let Ok(meta) = fs::metadata(entry.path()) else {
            continue;
        };
        if meta.is_file() {
            found.push((FileId::of(&meta), entry.path()));
        }
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(found)
}

fn update(
    files: &mut HashMap<FileId, Watched>,
    found: Vec<(FileId, PathBuf)>,
    ctx: &TailContext,
    full_warn: &mut WarnLimiter,
) {
    let ids: HashSet<FileId> = found.iter().map(|(id, _)| *id).collect();
    for (id, w) in files.iter_mut() {
        w.present = ids.contains(id);
    }
    for (id, path) in found {
        if let Some(w) = files.get_mut(&id) {
            w.tailer.renamed(path, ctx);
            continue;
        }
        if files.len() >= MAX_FILES {
            if let Some(held) = full_warn.check() {
                tracing::warn!(
                    "{}: already following {MAX_FILES} files; {} waits ({held} more)",
                    ctx.describe,
                    path.display()
                );
            }
            continue;
        }
        tracing::debug!("{}: following {}", ctx.describe, path.display());
        files.insert(
            id,
            Watched {
                tailer: Tailer::follow_file(path, id, ctx),
                present: true,
            },
        );
    }
}

/// At start: offsets of files no longer in the directory are dropped, so the offsets file does
/// not grow with every file ever seen.
fn forget_missing(files: &HashMap<FileId, Watched>, ctx: &TailContext) {
    let paths: HashSet<&std::path::Path> = files.values().map(|w| w.tailer.path()).collect();
    let mut book = ctx.book.lock().unwrap_or_else(|e| e.into_inner());
    let stale: Vec<PathBuf> = book
        .of_source(&ctx.label)
        .filter(|e| !paths.contains(e.path.as_path()))
        .map(|e| e.path.clone())
        .collect();
    for p in stale {
        book.remove(&ctx.label, &p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_file_names() {
        let p = FilePattern::new("*.log").unwrap();
        assert!(p.matches("app.log") && p.matches(".log") && !p.matches("app.log.1"));
        let p = FilePattern::new("app-??.*").unwrap();
        assert!(p.matches("app-01.txt") && !p.matches("app-1.txt"));
        let p = FilePattern::new("*a*b*").unwrap();
        assert!(p.matches("xaybz") && !p.matches("xbya"));
        assert!(FilePattern::new("*").unwrap().matches("anything"));
        assert!(FilePattern::new("logs/*.log").is_err());
        assert!(
            FilePattern::new("*.[ch]")
                .unwrap_err()
                .contains("not supported")
        );
    }
}

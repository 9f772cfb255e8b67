//! Quarantine: a suspicious file moves into `<quarantine_dir>/<sha256 prefix>/file` (dir 0700,
//! file 0400) next to a `meta.json` recording where it came from and how it looked, so restore
//! can put it back exactly — and never over a file that has since appeared at that path.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ExecError, Outcome, Revert};

/// What `meta.json` records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineMeta {
    pub original_path: String,
    pub sha256: String,
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds since the epoch.
    pub mtime: i64,
    pub quarantined_at: DateTime<Utc>,
    pub incident: i64,
}

const FILE: &str = "file";
const META: &str = "meta.json";

fn io(what: &str, path: &Path, e: io::Error) -> ExecError {
    ExecError::Io(format!("{what} {}: {e}", path.display()))
}

fn private_dir(p: &Path) -> Result<(), ExecError> {
    fs::create_dir_all(p).map_err(|e| io("cannot create", p, e))?;
    fs::set_permissions(p, fs::Permissions::from_mode(0o700)).map_err(|e| io("cannot chmod", p, e))
}

pub(super) fn quarantine(dir: &Path, path: &str, incident: i64) -> Result<Outcome, ExecError> {
    let src = Path::new(path);
    if !src.is_absolute() {
        return Err(ExecError::Refused(format!(
            "{path:?} is not an absolute path"
        )));
    }
    let md = fs::symlink_metadata(src).map_err(|e| io("cannot read", src, e))?;
    if !md.file_type().is_file() {
        return Err(ExecError::Refused(format!("{path} is not a regular file")));
    }
    let sha = sha256_of(src)?;
    private_dir(dir)?;
    let mut entry = dir.join(&sha[..16]);
    let mut n = 1;
    while entry.exists() {
        n += 1;
        entry = dir.join(format!("{}-{n}", &sha[..16]));
    }
    private_dir(&entry)?;
    let meta = QuarantineMeta {
        original_path: path.to_owned(),
        sha256: sha.clone(),
        size: md.len(),
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        mtime: md.mtime(),
        quarantined_at: Utc::now(),
        incident,
    };
    // meta.json first: a crash after the move never leaves a file nobody can trace back.
    write_synced(
        &entry.join(META),
        &serde_json::to_vec_pretty(&meta).unwrap_or_default(),
    )?;
    let dst = entry.join(FILE);
    move_file(src, &dst)?;
    fs::set_permissions(&dst, fs::Permissions::from_mode(0o400))
        .map_err(|e| io("cannot chmod", &dst, e))?;
    Ok(Outcome {
        detail: format!(
            "quarantined {path} (sha256 {sha}, {} bytes) in {}",
            meta.size,
            entry.display()
        ),
        revert: Some(Revert::Restore {
            entry,
            original: path.to_owned(),
        }),
    })
}

pub(super) fn restore(entry: &Path, original: &str) -> Result<String, ExecError> {
    let meta_path = entry.join(META);
    let text = fs::read(&meta_path).map_err(|e| io("cannot read", &meta_path, e))?;
    let meta: QuarantineMeta = serde_json::from_slice(&text)
        .map_err(|e| ExecError::Parse(format!("{}: {e}", meta_path.display())))?;
    if meta.original_path != original {
        return Err(ExecError::Refused(format!(
            "{} holds {}, not {original}",
            entry.display(),
            meta.original_path
        )));
    }
    let dst = Path::new(original);
    if fs::symlink_metadata(dst).is_ok() {
        return Err(ExecError::Refused(format!(
            "{original} exists again; not overwriting it (the quarantined copy stays in {})",
            entry.display()
        )));
    }
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent).map_err(|e| io("cannot create", parent, e))?;
    }
    let src = entry.join(FILE);
    move_file(&src, dst)?;
    fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode))
        .map_err(|e| io("cannot chmod", dst, e))?;
    let mut note = String::new();
    if let Err(e) = std::os::unix::fs::chown(dst, Some(meta.uid), Some(meta.gid)) {
        // Only root may give a file away; say so instead of failing the restore.
        note = format!(" (owner {}:{} not restored: {e})", meta.uid, meta.gid);
    }
    if let Ok(f) = File::options().write(true).open(dst) {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(meta.mtime.max(0) as u64);
        let _ = f.set_modified(t);
    }
    fs::remove_file(entry.join(META)).map_err(|e| io("cannot remove", entry, e))?;
    fs::remove_dir(entry).map_err(|e| io("cannot remove", entry, e))?;
    Ok(format!(
        "restored {original} (sha256 {}){note}",
        meta.sha256
    ))
}

fn sha256_of(p: &Path) -> Result<String, ExecError> {
    let mut f = File::open(p).map_err(|e| io("cannot open", p, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = f.read(&mut buf).map_err(|e| io("cannot read", p, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn write_synced(p: &Path, data: &[u8]) -> Result<(), ExecError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(p)
        .map_err(|e| io("cannot create", p, e))?;
    f.write_all(data).map_err(|e| io("cannot write", p, e))?;
    f.sync_all().map_err(|e| io("cannot sync", p, e))
}

/// rename(2), or across filesystems copy + fsync + remove.
pub(crate) fn move_file(src: &Path, dst: &Path) -> Result<(), ExecError> {
    match fs::rename(src, dst) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => copy_then_remove(src, dst),
        Err(e) => Err(io("cannot move", src, e)),
    }
}

pub(crate) fn copy_then_remove(src: &Path, dst: &Path) -> Result<(), ExecError> {
    let mut from = File::open(src).map_err(|e| io("cannot open", src, e))?;
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)
        .map_err(|e| io("cannot create", dst, e))?;
    io::copy(&mut from, &mut to).map_err(|e| io("cannot copy to", dst, e))?;
    to.sync_all().map_err(|e| io("cannot sync", dst, e))?;
    fs::remove_file(src).map_err(|e| io("cannot remove", src, e))
}

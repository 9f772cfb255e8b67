//! How far each tailed file has been read, kept in `data_dir/offsets.json` so a restart
//! resumes where the write-ahead log left off.
//!
//! An entry is only moved forward after the records up to its offset were accepted into the
//! write-ahead log, so a crash can repeat the lines read since the last save but never skip
//! one. Entries name the file by path and by device and inode (a rotated file keeps its inode
//! under a new name), plus a checksum of its first bytes, which tells a file truncated and
//! rewritten in place (or a new file on a reused inode) from the one that was read.
//!
//! The file is replaced atomically (write a temporary file, sync it, rename it over the old
//! one), so it is always either the old or the new version.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SourceError;

/// Bytes at the start of a file covered by its fingerprint.
pub const FINGERPRINT_BYTES: u64 = 256;

/// A file's identity on its filesystem (device and inode on Unix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    #[cfg(unix)]
    pub fn of(meta: &fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    /// Without inodes a rename cannot be told from a new file; rotation is then noticed only
    /// by a shrinking size or a changed fingerprint.
    #[cfg(not(unix))]
    pub fn of(_meta: &fs::Metadata) -> FileId {
        FileId { dev: 0, ino: 0 }
    }
}

/// A checksum of a file's first `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Fingerprint {
    pub len: u64,
    pub crc: u32,
}

impl Fingerprint {
    /// The fingerprint of the first `min(len, FINGERPRINT_BYTES)` bytes of `file` (fewer if
    /// the file is shorter). Leaves the file position where it was.
    pub fn read(file: &mut File, len: u64) -> io::Result<Fingerprint> {
        let len = len.min(FINGERPRINT_BYTES);
        let pos = file.stream_position()?;
        file.seek(SeekFrom::Start(0))?;
        let mut buf = Vec::with_capacity(len as usize);
        let got = Read::by_ref(file).take(len).read_to_end(&mut buf);
        file.seek(SeekFrom::Start(pos))?;
        got?;
        Ok(Fingerprint {
            len: buf.len() as u64,
            crc: crc32fast::hash(&buf),
        })
    }
}

/// Where one file was acknowledged up to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOffset {
    pub source: String,
    pub path: PathBuf,
    pub id: FileId,
    /// Bytes of the file whose lines are in the write-ahead log (always just after a newline).
    pub offset: u64,
    pub fingerprint: Fingerprint,
    /// The format detected from the file's first line, so a resumed file keeps it.
    #[serde(default)]
    pub format: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct OffsetsFile {
    version: u32,
    files: Vec<FileOffset>,
}

const VERSION: u32 = 1;

/// Every tailed file's offset, by source name and path.
#[derive(Debug)]
pub struct OffsetBook {
    path: PathBuf,
    entries: BTreeMap<(String, PathBuf), FileOffset>,
    dirty: bool,
}

impl OffsetBook {
    /// Reads `path` (an empty book if it does not exist). A file that cannot be read or parsed
    /// is an error naming it: guessing would re-read or skip whole files.
    pub fn open(path: &Path) -> Result<OffsetBook, SourceError> {
        let bad = |message: String| SourceError::Offsets {
            path: path.to_path_buf(),
            message,
        };
        let mut book = OffsetBook {
            path: path.to_path_buf(),
            entries: BTreeMap::new(),
            dirty: false,
        };
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(book),
            Err(e) => return Err(bad(format!("cannot read: {e}"))),
        };
        let file: OffsetsFile = serde_json::from_str(&text).map_err(|e| {
            bad(format!(
                "cannot parse ({e}); move it away to read files from their configured start"
            ))
        })?;
        if file.version != VERSION {
            return Err(bad(format!(
                "version {} is not the supported version {VERSION}",
                file.version
            )));
        }
        for f in file.files {
            book.entries.insert((f.source.clone(), f.path.clone()), f);
        }
        Ok(book)
    }

    pub fn get(&self, source: &str, path: &Path) -> Option<&FileOffset> {
        self.entries.get(&(source.to_string(), path.to_path_buf()))
    }

    /// The entry of `source` for the file with this identity, whatever its path was.
    pub fn find_by_id(&self, source: &str, id: FileId) -> Option<&FileOffset> {
        self.entries
            .values()
            .find(|e| e.source == source && e.id == id)
    }

    /// Entries of one source.
    pub fn of_source<'a>(&'a self, source: &'a str) -> impl Iterator<Item = &'a FileOffset> {
        self.entries.values().filter(move |e| e.source == source)
    }

    pub fn set(&mut self, entry: FileOffset) {
        let key = (entry.source.clone(), entry.path.clone());
        if self.entries.get(&key) != Some(&entry) {
            self.entries.insert(key, entry);
            self.dirty = true;
        }
    }

    pub fn remove(&mut self, source: &str, path: &Path) {
        if self
            .entries
            .remove(&(source.to_string(), path.to_path_buf()))
            .is_some()
        {
            self.dirty = true;
        }
    }

    /// Writes the book if it changed since the last save.
    pub fn save(&mut self) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let file = OffsetsFile {
            version: VERSION,
            files: self.entries.values().cloned().collect(),
        };
        let text = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &self.path)?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_entries_come_back_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("offsets.json");
        let mut book = OffsetBook::open(&p).unwrap();
        let entry = FileOffset {
            source: "app".into(),
            path: "/var/log/app.log".into(),
            id: FileId { dev: 1, ino: 42 },
            offset: 1234,
            fingerprint: Fingerprint { len: 256, crc: 7 },
            format: Some("json".into()),
        };
        book.set(entry.clone());
        book.save().unwrap();
        let again = OffsetBook::open(&p).unwrap();
        assert_eq!(
            again.get("app", Path::new("/var/log/app.log")),
            Some(&entry)
        );
        assert_eq!(
            again.find_by_id("app", FileId { dev: 1, ino: 42 }),
            Some(&entry)
        );
        assert!(again.find_by_id("other", entry.id).is_none());
        fs::write(&p, "{not json").unwrap();
        let e = OffsetBook::open(&p).unwrap_err().to_string();
        assert!(
            e.contains("offsets.json") && e.contains("cannot parse"),
            "{e}"
        );
    }
}

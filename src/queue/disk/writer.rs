//! Appending records to the active segment, rotating segments, and knowing
//! what must be synced for a write to be durable. Nothing here syncs while
//! the queue's lock is held: `sync_job` hands out what to sync, and the job
//! runs on a blocking thread (`SyncJob::run`) in a task of its own.

use super::format::{self, HEADER_LEN};
use super::segment_path;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Writer {
    dir: PathBuf,
    /// The active segment and its append handle.
    pub segment: u64,
    file: File,
    /// Whether fsyncs are wanted at all (`fsync: never` leaves it to the OS).
    syncs: bool,
    /// Records appended so far, and how many of them are known durable.
    pub writes: u64,
    pub synced: u64,
    /// A sync job is out: later waiters wait for it.
    pub syncing: bool,
    /// Set when an fsync failed: nothing written since can be called durable.
    pub failed: Option<String>,
    /// Rotated segments whose last records are not synced yet.
    unsynced: Vec<File>,
    /// A segment was created since the directory was last synced.
    dir_dirty: bool,
}

/// What one sync makes durable: every write up to `target`.
pub struct SyncJob {
    files: Vec<File>,
    dir: Option<PathBuf>,
    pub target: u64,
}

impl SyncJob {
    /// Blocking: fsyncs the segments written to (and the directory when a
    /// segment was created).
    pub fn run(self) -> std::io::Result<u64> {
        for file in &self.files {
            file.sync_data()?;
        }
        if let Some(dir) = &self.dir {
            File::open(dir)?.sync_all()?;
        }
        Ok(self.target)
    }
}

impl Writer {
    /// Starts a new active segment after `last` (the newest one on disk).
    pub fn open(dir: &Path, last: Option<u64>, syncs: bool) -> std::io::Result<Writer> {
        let segment = last.map_or(1, |last| last + 1);
        Ok(Writer {
            dir: dir.to_path_buf(),
            segment,
            file: create_segment(dir, segment)?,
            syncs,
            writes: 0,
            synced: 0,
            syncing: false,
            failed: None,
            unsynced: Vec::new(),
            dir_dirty: true,
        })
    }

    /// Appends `record`, rotating first when the active segment would pass
    /// `segment_size`; returns the write's number. `segments` holds each
    /// segment's length.
    pub fn append(
        &mut self,
        record: &[u8],
        segment_size: u64,
        segments: &mut BTreeMap<u64, u64>,
    ) -> std::io::Result<u64> {
        let len = record.len() as u64;
        let mut length = segments[&self.segment];
        if length + len > segment_size && length > HEADER_LEN {
            let next = self.segment + 1;
            let old = std::mem::replace(&mut self.file, create_segment(&self.dir, next)?);
            if self.syncs {
                self.unsynced.push(old);
            }
            self.dir_dirty = true;
            self.segment = next;
            segments.insert(next, HEADER_LEN);
            length = HEADER_LEN;
        }
        self.file.write_all(record)?;
        segments.insert(self.segment, length + len);
        self.writes += 1;
        Ok(self.writes)
    }

    /// What to sync to make every write so far durable; `None` when it is.
    pub fn sync_job(&mut self) -> std::io::Result<Option<SyncJob>> {
        if self.synced >= self.writes && !self.dir_dirty {
            return Ok(None);
        }
        let mut files = std::mem::take(&mut self.unsynced);
        files.push(self.file.try_clone()?);
        let dir = std::mem::take(&mut self.dir_dirty).then(|| self.dir.clone());
        Ok(Some(SyncJob {
            files,
            dir,
            target: self.writes,
        }))
    }

    /// A job made every write up to `target` durable.
    pub fn settle(&mut self, target: u64) {
        self.synced = self.synced.max(target);
    }
}

/// A new segment file with its header; synced with the first records
/// written to it (and the directory with them), not here.
fn create_segment(dir: &Path, segment: u64) -> std::io::Result<File> {
    let path = segment_path(dir, segment);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    file.write_all(&format::header())?;
    // Append mode from here on: every write goes to the end.
    OpenOptions::new().append(true).open(&path)
}

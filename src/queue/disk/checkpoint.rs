//! Acknowledgement and the read checkpoint: the position of the first
//! record not yet delivered. Acknowledged records release their space at
//! once; the checkpoint is persisted (tmp → fsync → rename → fsync(dir), so
//! a crash leaves the old or the new one, never a torn one) on a blocking
//! thread, and only then are the segments it has passed deleted. A
//! checkpoint that fails its CRC is ignored (the queue then replays from its
//! oldest segment: duplicates, not loss).

use super::format::HEADER_LEN;
use super::{segment_path, State};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;

/// A place in the queue: segment number and byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

const NAME: &str = "checkpoint";
const MAGIC: &[u8; 4] = b"IGCK";

pub fn read(dir: &Path) -> Option<Position> {
    let bytes = fs::read(dir.join(NAME)).ok()?;
    if bytes.len() != 24 || &bytes[..4] != MAGIC {
        return None;
    }
    let crc = u32::from_le_bytes(bytes[20..24].try_into().ok()?);
    if crc32c::crc32c(&bytes[..20]) != crc {
        return None;
    }
    Some(Position {
        segment: u64::from_le_bytes(bytes[4..12].try_into().ok()?),
        offset: u64::from_le_bytes(bytes[12..20].try_into().ok()?),
    })
}

pub fn write(dir: &Path, position: Position) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(24);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&position.segment.to_le_bytes());
    bytes.extend_from_slice(&position.offset.to_le_bytes());
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let tmp = dir.join("checkpoint.tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(NAME))?;
    File::open(dir)?.sync_all()
}

/// How often the checkpoint is persisted while records are acknowledged;
/// what a crash may replay is at most this much delivery.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Persisting a checkpoint, then deleting the segments it has passed.
pub struct CheckpointJob {
    dir: PathBuf,
    pub position: Position,
    pub finished: Vec<u64>,
}

impl CheckpointJob {
    /// Blocking: the checkpoint first, so a crash in between replays
    /// (duplicates) rather than loses.
    pub fn run(&self) -> std::io::Result<()> {
        write(&self.dir, self.position)?;
        for segment in &self.finished {
            let _ = fs::remove_file(segment_path(&self.dir, *segment));
        }
        Ok(())
    }
}

impl State {
    /// Moves the checkpoint position past the acknowledged records at the
    /// head of what was handed out (their space was released when they were
    /// acknowledged), and says whether it is time to persist it (a segment
    /// finished, or a second passed).
    pub(super) fn advance(&mut self) -> bool {
        let mut moved = false;
        while self.in_flight.front().is_some_and(|f| f.acked) {
            let done = self.in_flight.pop_front().expect("checked");
            self.acked = done.next;
            moved = true;
        }
        if !moved {
            return false;
        }
        // The end of a finished segment is the start of the next.
        while self.acked.segment < self.writer.segment
            && self.acked.offset >= self.segments.get(&self.acked.segment).copied().unwrap_or(0)
        {
            match self.segments.range(self.acked.segment + 1..).next() {
                Some((&next, _)) => {
                    self.acked = Position {
                        segment: next,
                        offset: HEADER_LEN,
                    }
                }
                None => break,
            }
        }
        self.checkpoint_due()
    }

    fn checkpoint_due(&self) -> bool {
        let finished = self.segments.range(..self.acked.segment).next().is_some();
        self.checkpointed != self.acked
            && (finished || self.last_checkpoint.elapsed() >= CHECKPOINT_EVERY)
    }

    /// The job to persist the checkpoint now, unless one is out or none is needed.
    pub(super) fn checkpoint_job(&mut self, dir: &Path) -> Option<CheckpointJob> {
        if self.checkpointing || self.checkpointed == self.acked {
            return None;
        }
        self.checkpointing = true;
        Some(CheckpointJob {
            dir: dir.to_path_buf(),
            position: self.acked,
            finished: self
                .segments
                .range(..self.acked.segment)
                .map(|(&s, _)| s)
                .collect(),
        })
    }

    /// A checkpoint job ended; true when another is due already.
    pub(super) fn checkpointed(&mut self, job: &CheckpointJob, ok: bool) -> bool {
        self.checkpointing = false;
        if ok {
            self.checkpointed = job.position;
            self.last_checkpoint = Instant::now();
            for segment in &job.finished {
                self.segments.remove(segment);
            }
        }
        ok && self.checkpoint_due()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), None);
        let p = Position {
            segment: 3,
            offset: 4096,
        };
        write(dir.path(), p).unwrap();
        assert_eq!(read(dir.path()), Some(p));
        let mut bytes = fs::read(dir.path().join(NAME)).unwrap();
        bytes[6] ^= 1;
        fs::write(dir.path().join(NAME), bytes).unwrap();
        assert_eq!(read(dir.path()), None);
    }
}

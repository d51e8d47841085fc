//! The read checkpoint: the position of the first record not yet delivered.
//! Written tmp → fsync → rename → fsync(dir), so a crash leaves the old or
//! the new checkpoint, never a torn one; a checkpoint that fails its CRC is
//! ignored (the queue then replays from its oldest segment: duplicates, not
//! loss).

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

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

//! Opening a queue directory: what a previous run left is taken as it is.
//! Segments before the checkpoint are deleted, a torn tail (a write a crash
//! cut short, never acknowledged) is truncated, a bad segment header is
//! skipped and counted, and what is left is counted as live.

use super::checkpoint::{self, Position};
use super::format::{self, Found, HEADER_LEN};
use super::segment_path;
use crate::metrics::Counter;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::path::Path;

/// What recovery found.
pub struct Recovered {
    /// Segment number → bytes of it that hold records.
    pub segments: BTreeMap<u64, u64>,
    /// Where reading starts: the first record not acknowledged, if any segment is left.
    pub start: Option<Position>,
    pub live_bytes: u64,
    pub live_items: u64,
    pub live_entries: u64,
}

/// Scans `dir` (created if missing). Blocking: runs before the queue serves.
pub fn recover(dir: &Path, corrupt: &Counter) -> std::io::Result<Recovered> {
    fs::create_dir_all(dir)?;
    let mut segments: BTreeMap<u64, u64> = BTreeMap::new();
    for item in fs::read_dir(dir)? {
        let name = item?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name
            .strip_suffix(".seg")
            .and_then(|n| n.parse::<u64>().ok())
        {
            segments.insert(n, 0);
        }
    }
    let start = match checkpoint::read(dir) {
        Some(p) if segments.contains_key(&p.segment) => Some(p),
        Some(p) => first(&segments, p.segment),
        None => first(&segments, 0),
    };
    let (mut live_bytes, mut live_items, mut live_entries) = (0, 0, 0);
    let last = segments.keys().next_back().copied();
    for (&segment, length) in segments.iter_mut() {
        let path = segment_path(dir, segment);
        if start.is_none_or(|s| segment < s.segment) {
            // Consumed before the checkpoint was written: delete.
            let _ = fs::remove_file(&path);
            *length = 0;
            continue;
        }
        let data = format::read_file(&path)?.unwrap_or_default();
        if !format::header_ok(&data) {
            corrupt.add(1);
            let _ = fs::remove_file(&path);
            *length = 0;
            continue;
        }
        let mut offset = match start {
            Some(s) if s.segment == segment => s.offset,
            _ => HEADER_LEN,
        };
        loop {
            match format::read_record(data.get(offset as usize..).unwrap_or_default()) {
                Found::Record(record, len) => {
                    live_bytes += len;
                    live_items += record.items as u64;
                    live_entries += 1;
                    offset += len;
                }
                // The reader counts corrupt records when it meets them.
                Found::Corrupt { skip: Some(skip) } => offset += skip,
                Found::Corrupt { skip: None } => {
                    offset = data.len() as u64;
                    break;
                }
                Found::Torn => {
                    // In the last segment, a write a crash cut short (it
                    // was never acknowledged); anywhere else, damage.
                    if Some(segment) != last {
                        corrupt.add(1);
                    }
                    OpenOptions::new()
                        .write(true)
                        .open(&path)?
                        .set_len(offset)?;
                    break;
                }
                Found::End => break,
            }
        }
        *length = offset.max(HEADER_LEN);
    }
    segments.retain(|_, length| *length > 0);
    Ok(Recovered {
        start: start.filter(|s| segments.contains_key(&s.segment)),
        segments,
        live_bytes,
        live_items,
        live_entries,
    })
}

/// The start of the first segment at or after `from`.
pub fn first(segments: &BTreeMap<u64, u64>, from: u64) -> Option<Position> {
    segments.range(from..).next().map(|(&s, _)| Position {
        segment: s,
        offset: HEADER_LEN,
    })
}

//! Reading records in order from the read position: segments that are gone
//! are stepped over, corrupt records skipped and counted, expired ones
//! dropped and counted. Reads come from the page cache in the common case
//! (records are read soon after they are written), so they run in place.

use super::checkpoint::Position;
use super::format::{self, Found, HEADER_LEN, RECORD_HEAD};
use super::{now_ms, segment_path, DiskCounters, InFlight, State};
use crate::queue::Entry;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

/// A record read: the entry, where it starts, where the next begins, its length.
pub struct Read {
    pub entry: Entry,
    pub start: Position,
    pub next: Position,
    pub bytes: u64,
    /// When it was written (Unix ms).
    pub enqueued_ms: u64,
}

impl State {
    /// Reads the record at the read position and moves past it.
    pub(super) fn read_next(
        &mut self,
        dir: &Path,
        counters: &DiskCounters,
        max_age: Option<Duration>,
    ) -> Option<Read> {
        loop {
            let at = self.read;
            let Some(&length) = self.segments.get(&at.segment) else {
                // The segment is gone: step to the next one.
                let next = self.segments.range(at.segment..).next().map(|(&s, _)| s)?;
                self.read = Position {
                    segment: next,
                    offset: HEADER_LEN,
                };
                continue;
            };
            if at.offset >= length {
                if at.segment >= self.writer.segment {
                    return None;
                }
                let next = self
                    .segments
                    .range(at.segment + 1..)
                    .next()
                    .map(|(&s, _)| s)?;
                self.read = Position {
                    segment: next,
                    offset: HEADER_LEN,
                };
                continue;
            }
            let data = match self.read_bytes(dir, at, length) {
                Ok(data) => data,
                Err(_) => {
                    // Unreadable: count it and move to the next segment.
                    counters.corrupt_records.add(1);
                    self.read = Position {
                        segment: at.segment,
                        offset: length,
                    };
                    continue;
                }
            };
            match format::read_record(&data) {
                Found::Record(record, len) => {
                    let next = Position {
                        segment: at.segment,
                        offset: at.offset + len,
                    };
                    self.read = next;
                    let expired = max_age.is_some_and(|max| {
                        now_ms().saturating_sub(record.enqueued_ms) > max.as_millis() as u64
                    });
                    if expired {
                        counters.expired_items.add(record.items as u64);
                        self.release(len, record.items as u64);
                        self.in_flight.push_back(InFlight {
                            start: at,
                            next,
                            bytes: len,
                            items: record.items as u64,
                            acked: true,
                            enqueued_ms: record.enqueued_ms,
                        });
                        continue;
                    }
                    let entry = Entry {
                        data: record.payload.into(),
                        items: record.items as usize,
                        position: Some(at),
                    };
                    return Some(Read {
                        entry,
                        start: at,
                        next,
                        bytes: len,
                        enqueued_ms: record.enqueued_ms,
                    });
                }
                Found::Corrupt { .. } | Found::Torn => self.skip_corrupt(counters, at, length),
                Found::End => return None,
            }
        }
    }

    /// Counts a corrupt record and moves the reader to the next record magic
    /// in the rest of the segment (or its end).
    fn skip_corrupt(&mut self, counters: &DiskCounters, at: Position, length: u64) {
        counters.corrupt_records.add(1);
        let skip =
            self.read_rest(at, length)
                .ok()
                .and_then(|rest| match format::read_record(&rest) {
                    Found::Corrupt { skip } => skip,
                    _ => None,
                });
        let next = Position {
            segment: at.segment,
            offset: skip.map_or(length, |s| at.offset + s),
        };
        self.read = next;
        self.in_flight.push_back(InFlight {
            start: at,
            next,
            bytes: 0,
            items: 0,
            acked: true,
            enqueued_ms: 0,
        });
    }

    fn read_rest(&self, at: Position, length: u64) -> std::io::Result<Vec<u8>> {
        let (_, file) = self.reader.as_ref().expect("opened by read_bytes");
        let mut rest = vec![0u8; (length - at.offset) as usize];
        file.read_exact_at(&mut rest, at.offset)?;
        Ok(rest)
    }

    /// The bytes from `at` to the end of its record, or to the segment end
    /// when the head can't be trusted.
    fn read_bytes(&mut self, dir: &Path, at: Position, length: u64) -> std::io::Result<Vec<u8>> {
        if self.reader.as_ref().is_none_or(|(s, _)| *s != at.segment) {
            let file = File::open(segment_path(dir, at.segment))?;
            self.reader = Some((at.segment, file));
        }
        let (_, file) = self.reader.as_ref().expect("opened above");
        let available = (length - at.offset) as usize;
        let mut head = vec![0u8; RECORD_HEAD.min(available)];
        file.read_exact_at(&mut head, at.offset)?;
        let want = if head.len() == RECORD_HEAD && head[..4] == format::RECORD_MAGIC.to_le_bytes() {
            let len = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes")) as usize;
            (RECORD_HEAD + len).min(available)
        } else {
            available
        };
        let mut data = vec![0u8; want];
        file.read_exact_at(&mut data, at.offset)?;
        Ok(data)
    }
}

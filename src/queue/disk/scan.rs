//! Reading what a queue directory holds without touching it: for `ignis-agent
//! queue inspect` and `queue export`, whether or not an agent is running on
//! it. From the checkpoint on, in order; damaged records are skipped and
//! counted, a torn tail ends its segment.

use super::checkpoint;
use super::format::{self, Found, HEADER_LEN};
use super::segment_path;
use std::path::Path;

/// One record still waiting for delivery.
pub struct Held {
    pub items: u32,
    pub enqueued_ms: u64,
    /// An encoded OTLP export request.
    pub payload: Vec<u8>,
}

/// Everything a queue directory holds.
#[derive(Default)]
pub struct Scan {
    pub records: Vec<Held>,
    /// Records (or segments) that could not be read.
    pub damaged: u64,
}

pub fn scan(dir: &Path) -> std::io::Result<Scan> {
    let mut segments: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix(".seg")
                .and_then(|n| n.parse().ok())
        })
        .collect();
    segments.sort_unstable();
    let start = checkpoint::read(dir);
    let mut out = Scan::default();
    for segment in segments {
        if start.is_some_and(|s| segment < s.segment) {
            continue; // delivered, awaiting deletion
        }
        let Some(data) = format::read_file(&segment_path(dir, segment))? else {
            continue; // deleted meanwhile
        };
        if !format::header_ok(&data) {
            out.damaged += 1;
            continue;
        }
        let mut offset = match start {
            Some(s) if s.segment == segment => s.offset,
            _ => HEADER_LEN,
        } as usize;
        loop {
            match format::read_record(data.get(offset..).unwrap_or_default()) {
                Found::Record(record, len) => {
                    out.records.push(Held {
                        items: record.items,
                        enqueued_ms: record.enqueued_ms,
                        payload: record.payload,
                    });
                    offset += len as usize;
                }
                Found::Corrupt { skip } => {
                    out.damaged += 1;
                    match skip {
                        Some(skip) => offset += skip as usize,
                        None => break,
                    }
                }
                // Being written now, or cut by a crash: not acknowledged yet.
                Found::Torn | Found::End => break,
            }
        }
    }
    Ok(out)
}

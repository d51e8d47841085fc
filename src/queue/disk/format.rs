//! The on-disk format of the queue's segment files. All integers are
//! little-endian.
//!
//! ```text
//! segment  = header record*
//! header   = "IGNQSEG\0" version:u16 reserved:u16 reserved:u32          (16 bytes)
//! record   = magic:u32 len:u32 crc:u32 items:u32 enqueued_ms:u64 payload[len]
//!            crc = CRC32C of items, enqueued_ms and payload             (24-byte head)
//! ```
//!
//! The per-record magic lets a reader find the next record after a corrupt
//! one; the CRC tells a torn or flipped record from a good one.

use std::io::{self, Read};

pub const SEGMENT_MAGIC: &[u8; 8] = b"IGNQSEG\0";
pub const VERSION: u16 = 1;
pub const HEADER_LEN: u64 = 16;
pub const RECORD_MAGIC: u32 = 0x5247_4e49; // "INGR" read as little-endian bytes
pub const RECORD_HEAD: usize = 24;
/// No record is larger: a corrupt length can't make a reader allocate more.
pub const MAX_RECORD: usize = 256 << 20;

pub fn header() -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// Whether `bytes` start with a header this version reads.
pub fn header_ok(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_LEN as usize
        && &bytes[..8] == SEGMENT_MAGIC
        && u16::from_le_bytes([bytes[8], bytes[9]]) == VERSION
}

fn crc(items: u32, enqueued_ms: u64, payload: &[u8]) -> u32 {
    let mut c = crc32c::crc32c(&items.to_le_bytes());
    c = crc32c::crc32c_append(c, &enqueued_ms.to_le_bytes());
    crc32c::crc32c_append(c, payload)
}

/// One record, head and payload, ready for a single write.
pub fn encode_record(items: u32, enqueued_ms: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEAD + payload.len());
    out.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc(items, enqueued_ms, payload).to_le_bytes());
    out.extend_from_slice(&items.to_le_bytes());
    out.extend_from_slice(&enqueued_ms.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// A record read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub items: u32,
    pub enqueued_ms: u64,
    pub payload: Vec<u8>,
}

/// What lies at an offset of a segment.
#[derive(Debug, PartialEq)]
pub enum Found {
    /// A good record of `len` bytes on disk.
    Record(Record, u64),
    /// Bytes that are not a good record; the next candidate record starts
    /// `skip` bytes on (found by its magic), or nothing does.
    Corrupt { skip: Option<u64> },
    /// A record that ends past the end of the data: a torn write.
    Torn,
    /// Nothing more.
    End,
}

/// Reads the record at the start of `data` (the rest of a segment).
pub fn read_record(data: &[u8]) -> Found {
    if data.is_empty() {
        return Found::End;
    }
    if data.len() < RECORD_HEAD {
        return if data[..4.min(data.len())] == RECORD_MAGIC.to_le_bytes()[..4.min(data.len())] {
            Found::Torn
        } else {
            corrupt(data)
        };
    }
    let word = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"));
    if word(0) != RECORD_MAGIC {
        return corrupt(data);
    }
    let len = word(4) as usize;
    if len > MAX_RECORD {
        return corrupt(data);
    }
    if data.len() < RECORD_HEAD + len {
        return Found::Torn;
    }
    let items = word(12);
    let enqueued_ms = u64::from_le_bytes(data[16..24].try_into().expect("8 bytes"));
    let payload = &data[RECORD_HEAD..RECORD_HEAD + len];
    if crc(items, enqueued_ms, payload) != word(8) {
        return corrupt(data);
    }
    Found::Record(
        Record {
            items,
            enqueued_ms,
            payload: payload.to_vec(),
        },
        (RECORD_HEAD + len) as u64,
    )
}

/// The distance to the next record magic after the first byte.
fn corrupt(data: &[u8]) -> Found {
    let magic = RECORD_MAGIC.to_le_bytes();
    let skip = data
        .windows(4)
        .skip(1)
        .position(|w| w == magic)
        .map(|p| p as u64 + 1);
    Found::Corrupt { skip }
}

/// Reads a whole file, or nothing if it vanished.
pub fn read_file(path: &std::path::Path) -> io::Result<Option<Vec<u8>>> {
    match std::fs::File::open(path) {
        Ok(mut f) => {
            let mut out = Vec::new();
            f.read_to_end(&mut out)?;
            Ok(Some(out))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let bytes = encode_record(7, 1234, b"hello");
        match read_record(&bytes) {
            Found::Record(r, len) => {
                assert_eq!(
                    (r.items, r.enqueued_ms, r.payload.as_slice()),
                    (7, 1234, &b"hello"[..])
                );
                assert_eq!(len as usize, bytes.len());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn torn_and_corrupt_records_are_told_apart() {
        let mut two = encode_record(1, 1, b"first");
        two.extend(encode_record(2, 2, b"second"));
        let first_len = RECORD_HEAD + 5;
        assert_eq!(read_record(&two[..first_len - 1]), Found::Torn);
        assert_eq!(read_record(&two[..3]), Found::Torn);
        let mut flipped = two.clone();
        flipped[RECORD_HEAD + 1] ^= 0xff;
        assert_eq!(
            read_record(&flipped),
            Found::Corrupt {
                skip: Some(first_len as u64)
            }
        );
        assert!(matches!(
            read_record(&flipped[first_len..]),
            Found::Record(..)
        ));
        assert_eq!(
            read_record(b"garbage without magic"),
            Found::Corrupt { skip: None }
        );
        assert_eq!(read_record(b""), Found::End);
    }

    #[test]
    fn headers_are_versioned() {
        assert!(header_ok(&header()));
        let mut other = header();
        other[8] = 9;
        assert!(!header_ok(&other));
        assert!(!header_ok(b"short"));
    }
}

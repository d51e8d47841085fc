//! Bounded decompression (`compression.rs`): never panics, never returns
//! more than the limit, and what fits comes back whole.
#![no_main]

use ignis_agent::compression::{compress, decompress, Compression, DecompressError, Encoding};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (encoding, compression) = match pick % 2 {
        0 => (Encoding::Gzip, Compression::Gzip),
        _ => (Encoding::Zstd, Compression::Zstd),
    };
    // Arbitrary bytes as a compressed body.
    match decompress(body, encoding, LIMIT) {
        Ok(out) => assert!(out.len() <= LIMIT),
        Err(DecompressError::TooLarge { limit }) => assert_eq!(limit, LIMIT),
        Err(DecompressError::Invalid { .. }) => {}
    }
    // The bytes compressed by us come back, or are refused as too large.
    let packed = compress(body, compression);
    match decompress(&packed, encoding, LIMIT) {
        Ok(out) => assert_eq!(out, body),
        Err(e) => assert!(body.len() > LIMIT, "{e}"),
    }
});

//! gzip and zstd for request and batch bodies. Decompression is bounded: a
//! small bomb must not turn into gigabytes of memory.

use serde::Deserialize;
use std::io::{Read, Write};

/// How an exporter compresses what it sends (`compression:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
    None,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecompressError {
    #[error("the decompressed body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the body is not valid {encoding}: {message}")]
    Invalid {
        encoding: &'static str,
        message: String,
    },
}

/// A content encoding this agent reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Zstd,
}

impl Encoding {
    /// From a `Content-Encoding` header value; `None` when unsupported.
    pub fn from_header(value: Option<&str>) -> Option<Encoding> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("identity") => Some(Encoding::Identity),
            Some("gzip") | Some("x-gzip") => Some(Encoding::Gzip),
            Some("zstd") => Some(Encoding::Zstd),
            Some(_) => None,
        }
    }
}

/// gzip level 6, the zlib default and what the Collector sends.
const GZIP_LEVEL: u32 = 6;
/// zstd's default level.
const ZSTD_LEVEL: i32 = 3;

pub fn compress(data: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(data.len() / 4),
                flate2::Compression::new(GZIP_LEVEL),
            );
            // Writing to a Vec cannot fail.
            encoder.write_all(data).expect("write to Vec");
            encoder.finish().expect("write to Vec")
        }
        Compression::Zstd => zstd::bulk::compress(data, ZSTD_LEVEL).expect("zstd on a Vec"),
    }
}

/// Decompresses `data`, refusing to produce more than `limit` bytes.
pub fn decompress(
    data: &[u8],
    encoding: Encoding,
    limit: usize,
) -> Result<Vec<u8>, DecompressError> {
    let invalid = |encoding: &'static str| {
        move |e: std::io::Error| DecompressError::Invalid {
            encoding,
            message: e.to_string(),
        }
    };
    let mut out = Vec::new();
    // Read one byte past the limit to tell "exactly at" from "over".
    let cap = limit as u64 + 1;
    match encoding {
        Encoding::Identity => {
            if data.len() > limit {
                return Err(DecompressError::TooLarge { limit });
            }
            return Ok(data.to_vec());
        }
        Encoding::Gzip => {
            flate2::read::MultiGzDecoder::new(data)
                .take(cap)
                .read_to_end(&mut out)
                .map_err(invalid("gzip"))?;
        }
        Encoding::Zstd => {
            zstd::stream::read::Decoder::new(data)
                .map_err(invalid("zstd"))?
                .take(cap)
                .read_to_end(&mut out)
                .map_err(invalid("zstd"))?;
        }
    }
    if out.len() > limit {
        return Err(DecompressError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let data = b"hello hello hello hello".repeat(100);
        for (c, e) in [
            (Compression::Gzip, Encoding::Gzip),
            (Compression::Zstd, Encoding::Zstd),
        ] {
            let packed = compress(&data, c);
            assert!(packed.len() < data.len());
            assert_eq!(decompress(&packed, e, data.len()).unwrap(), data);
        }
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let bomb = compress(&vec![0u8; 50 << 20], Compression::Gzip);
        assert!(bomb.len() < 100 << 10);
        assert_eq!(
            decompress(&bomb, Encoding::Gzip, 1 << 20),
            Err(DecompressError::TooLarge { limit: 1 << 20 })
        );
    }

    #[test]
    fn garbage_is_invalid() {
        assert!(matches!(
            decompress(b"not gzip", Encoding::Gzip, 100),
            Err(DecompressError::Invalid { .. })
        ));
        assert!(matches!(
            decompress(b"not zstd", Encoding::Zstd, 100),
            Err(DecompressError::Invalid { .. })
        ));
    }
}

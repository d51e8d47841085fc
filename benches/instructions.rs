//! The per-request path, a fixed number of times, for an instruction count
//! that does not depend on the machine's noise: run it under cachegrind
//! (bench/instructions.sh) and compare the `I refs` between commits.
//!
//! Each round: decode the shared 100-span request (the receivers'
//! validation), redact a copy with the defaults, encode it, gzip it.

use ignis_agent::admin::metrics::Registry;
use ignis_agent::compression::compress;
use ignis_agent::config::{Compression, RedactionConfig};
use ignis_agent::processors::redaction::Redaction;
use ignis_agent::signal::Traces;
use prost::Message;
use std::hint::black_box;

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bench/traces.pb");
    let Ok(bytes) = std::fs::read(path) else {
        eprintln!("the shared workload is not beside the project ({path}); nothing to count");
        return;
    };
    // `cargo bench` passes `--bench`; only an explicit round count runs the path.
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let redaction =
        Redaction::new(&RedactionConfig::default(), &Registry::default(), "count").unwrap();
    for _ in 0..rounds {
        let mut request = Traces::decode(black_box(bytes.as_slice())).unwrap();
        redaction.apply(&mut request);
        let encoded = request.encode_to_vec();
        black_box(compress(&encoded, Compression::Gzip));
    }
}

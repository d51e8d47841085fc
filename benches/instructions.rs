//! The per-request path, a fixed number of times, for an instruction count
//! that does not depend on the machine's noise: run it under cachegrind
//! (bench/instructions.sh) and compare the `I refs` between commits.
//!
//! Each round is what the shipped config does to the shared 100-span
//! request: validate it at the wire level, redact it on the wire with the
//! defaults, gzip it.

use ignis_agent::compression::compress;
use ignis_agent::compression::Compression;
use ignis_agent::metrics::Registry;
use ignis_agent::processors::on_wire::WireChain;
use ignis_agent::processors::redaction::Redaction;
use ignis_agent::processors::redaction::RedactionConfig;
use ignis_agent::processors::Processor;
use ignis_agent::signal::wire;
use ignis_agent::signal::SignalKind;
use std::hint::black_box;
use std::sync::Arc;

// The agent's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let redaction = Redaction::new(
        &RedactionConfig::default(),
        &std::sync::Arc::new(Registry::default()),
        "count",
    )
    .unwrap();
    let chain = WireChain::new(&[Arc::new(redaction) as Arc<dyn Processor>])
        .expect("redaction without summary runs on the wire");
    for _ in 0..rounds {
        let request = black_box(bytes.as_slice());
        wire::check(SignalKind::Traces, request).unwrap();
        let redacted = chain.apply(SignalKind::Traces, request);
        black_box(compress(
            redacted.as_deref().unwrap_or(request),
            Compression::Gzip,
        ));
    }
}

//! The per-request hot path on the shared workload (100 spans, 64 KB):
//! decode, wire-level validation (what a pass-through receiver does), encode,
//! gzip-6 and zstd, splitting, and redaction both decoded and on the wire.
//!
//!     cargo bench --bench codec

// The agent's allocator, so that allocation costs are the agent's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ignis_agent::compression::compress;
use ignis_agent::compression::Compression;
use ignis_agent::exporters::batch::split;
use ignis_agent::metrics::Registry;
use ignis_agent::processors::on_wire::WireChain;
use ignis_agent::processors::redaction::Redaction;
use ignis_agent::processors::redaction::RedactionConfig;
use ignis_agent::processors::Processor;
use ignis_agent::signal::wire::validate;
use ignis_agent::signal::SignalKind;
use ignis_agent::signal::{Signal, Traces};
use prost::Message;

fn workload() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bench/traces.pb");
    std::fs::read(path).expect("the shared workload beside the project (../shared/bench)")
}

fn bench(c: &mut Criterion) {
    let bytes = workload();
    let request = Traces::decode(bytes.as_slice()).unwrap();
    let spans = request.item_count() as u64;
    let mut group = c.benchmark_group("traces_100_spans");
    group.throughput(Throughput::Elements(spans));
    group.bench_function("decode", |b| {
        b.iter(|| Traces::decode(bytes.as_slice()).unwrap())
    });
    group.bench_function("validate_wire", |b| {
        b.iter(|| validate(SignalKind::Traces, &bytes).unwrap())
    });
    group.bench_function("encode", |b| b.iter(|| request.encode_to_vec()));
    group.bench_function("gzip6", |b| b.iter(|| compress(&bytes, Compression::Gzip)));
    group.bench_function("zstd3", |b| b.iter(|| compress(&bytes, Compression::Zstd)));
    group.bench_function("split_in_4", |b| {
        b.iter(|| split(request.clone(), 25, usize::MAX))
    });
    // Redaction with its defaults (`redaction: {}`), on a fresh copy each
    // time; the copy alone is measured too.
    let redaction = Redaction::new(
        &RedactionConfig::default(),
        &std::sync::Arc::new(Registry::default()),
        "bench",
    )
    .unwrap();
    group.bench_function("clone", |b| b.iter(|| request.clone()));
    group.bench_function("clone_and_redact", |b| {
        b.iter(|| {
            let mut copy = request.clone();
            redaction.apply(&mut copy);
            copy
        })
    });
    // The whole processing step of the shipped config's redaction, both ways:
    // decode → redact → encode, and on the wire (`processors/on_wire.rs`).
    let chain: Vec<std::sync::Arc<dyn Processor>> = vec![std::sync::Arc::new(redaction)];
    group.bench_function("decode_redact_encode", |b| {
        b.iter(|| {
            let mut request = Traces::decode(bytes.as_slice()).unwrap();
            for processor in &chain {
                ignis_agent::processors::apply(&**processor, &mut request);
            }
            request.encode_to_vec()
        })
    });
    let on_wire = WireChain::new(&chain).unwrap();
    group.bench_function("redact_on_wire", |b| {
        b.iter(|| on_wire.apply(SignalKind::Traces, &bytes))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

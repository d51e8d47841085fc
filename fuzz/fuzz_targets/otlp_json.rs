//! OTLP/JSON decoding (`proto/json.rs`, serde): never panics, and what it
//! accepts encodes to protobuf and back to the same request.
#![no_main]

use ignis_agent::signal::{Logs, Metrics, Signal, Traces};
use libfuzzer_sys::fuzz_target;

fn round_trip<S: Signal + std::fmt::Debug>(data: &[u8]) {
    if let Ok(request) = serde_json::from_slice::<S>(data) {
        let encoded = request.encode_to_vec();
        let back = S::decode(encoded.as_slice()).expect("what we encode decodes");
        assert_eq!(back, request);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    match pick % 3 {
        0 => round_trip::<Traces>(json),
        1 => round_trip::<Logs>(json),
        _ => round_trip::<Metrics>(json),
    }
});

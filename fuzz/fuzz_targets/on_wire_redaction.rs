//! Redaction and enrichment on the encoded request (`processors/on_wire.rs`)
//! against the same processors on the decoded request: the same result for
//! any well-formed request. The first byte picks the signal.
#![no_main]

use ignis_agent::metrics::Registry;
use ignis_agent::processors::on_wire::WireChain;
use ignis_agent::processors::redaction::{Redaction, RedactionConfig};
use ignis_agent::processors::resource_detection::{ResourceDetection, ResourceDetectionConfig};
use ignis_agent::processors::{apply, Processor};
use ignis_agent::signal::wire::check;
use ignis_agent::signal::{Logs, Metrics, Signal, SignalKind, Traces};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

fn chain() -> &'static (Vec<Arc<dyn Processor>>, WireChain) {
    static CHAIN: OnceLock<(Vec<Arc<dyn Processor>>, WireChain)> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let env = |k: &str| (k == "K8S_POD_NAME").then(|| "pod-1".to_string());
        let processors: Vec<Arc<dyn Processor>> = vec![
            Arc::new(ResourceDetection::detect(
                &ResourceDetectionConfig::default(),
                &env,
            )),
            Arc::new(
                Redaction::new(&RedactionConfig::default(), &std::sync::Arc::new(Registry::default()), "r").unwrap(),
            ),
        ];
        let wire = WireChain::new(&processors).expect("runs on the wire");
        (processors, wire)
    })
}

fn compare<S: Signal + std::fmt::Debug>(kind: SignalKind, bytes: &[u8]) {
    // The on-wire path takes well-formed requests without unknown fields.
    let Ok(checked) = check(kind, bytes) else {
        return;
    };
    if checked.unknown_fields {
        return;
    }
    let (processors, wire) = chain();
    let mut decoded = S::decode(bytes).expect("checked");
    for processor in processors {
        apply(&**processor, &mut decoded);
    }
    let on_wire = match wire.apply(kind, bytes) {
        Some(edited) => S::decode(edited.as_slice()).expect("the edit is well-formed"),
        None => S::decode(bytes).expect("checked"),
    };
    // Compared encoded: a NaN in a histogram bound is not equal to itself.
    assert!(
        on_wire.encode_to_vec() == decoded.encode_to_vec(),
        "{kind:?}\non the wire: {on_wire:?}\ndecoded: {decoded:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    match pick % 3 {
        0 => compare::<Traces>(SignalKind::Traces, bytes),
        1 => compare::<Logs>(SignalKind::Logs, bytes),
        _ => compare::<Metrics>(SignalKind::Metrics, bytes),
    }
});

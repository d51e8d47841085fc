//! The wire-level validator (`signal/wire.rs`) against prost's decoding:
//! the same verdict, item count and invalid-id finding on any bytes. The
//! first byte picks the signal.
#![no_main]

use ignis_agent::signal::ids::drop_invalid;
use ignis_agent::signal::wire::check;
use ignis_agent::signal::{Logs, Metrics, Signal, SignalKind, Traces};
use libfuzzer_sys::fuzz_target;

fn decoded<S: Signal>(bytes: &[u8]) -> Option<(usize, bool)> {
    let mut request = S::decode(bytes).ok()?;
    let items = request.item_count();
    Some((items, drop_invalid(&mut request) > 0))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let (kind, decoded) = match pick % 3 {
        0 => (SignalKind::Traces, decoded::<Traces>(bytes)),
        1 => (SignalKind::Logs, decoded::<Logs>(bytes)),
        _ => (SignalKind::Metrics, decoded::<Metrics>(bytes)),
    };
    let wire = check(kind, bytes).ok().map(|c| (c.items, c.invalid_ids));
    assert_eq!(wire, decoded, "{kind:?}");
});

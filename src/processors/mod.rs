//! Processors: each reads, changes or drops the data of a request, chained
//! per pipeline (DESIGN §1). None keeps telemetry between calls; the state
//! some keep (rate-limit buckets) is bounded.
//!
//! Each processor is one file or folder holding its settings, their checks
//! and its constructor (`read`), listed once in `components.rs`.

pub mod attributes;
pub mod filter;
pub mod memory_limiter;
pub mod moved;
pub mod on_wire;
pub mod rate_limit;
pub mod redaction;
pub mod resource_detection;
pub mod sampler;
pub mod severity;

use crate::metrics::{Counter, Registry};
use crate::signal::{AnyRequest, Signal, SignalKind};

/// A built processor, shared by every pipeline that names it.
pub trait Processor: Send + Sync + 'static {
    /// Reads, changes or drops the data of `request`.
    fn process(&self, request: AnyRequest<'_>);

    /// What it is when it can run on the encoded request (`on_wire.rs`).
    fn on_wire(&self) -> Option<OnWire<'_>> {
        None
    }

    /// The memory limiter's settings: it acts in the receivers, not here.
    fn memory_limit(&self) -> Option<&memory_limiter::MemoryLimiterConfig> {
        None
    }
}

/// The processors that know how to work on the encoded request.
pub enum OnWire<'a> {
    ResourceDetection(&'a resource_detection::ResourceDetection),
    Redaction(&'a redaction::Redaction),
}

/// Runs `processor` on a request of any signal.
pub fn apply<S: Signal>(processor: &dyn Processor, request: &mut S) {
    processor.process(request.as_any());
}

/// Items a processor removed, counted per signal with a reason
/// (`ignis_processor_dropped_items{processor, signal, reason}`).
pub struct Dropped([Counter; 3]);

impl Dropped {
    pub fn new(registry: &Registry, processor: &str, reason: &str) -> Self {
        Dropped(SignalKind::ALL.map(|signal| {
            let labels = [
                ("processor", processor),
                ("signal", signal.as_str()),
                ("reason", reason),
            ];
            registry.counter("ignis_processor_dropped_items", &labels)
        }))
    }

    pub fn add(&self, signal: SignalKind, items: usize) {
        if items > 0 {
            self.0[signal as usize].add(items as u64);
        }
    }
}

//! The figures of `/metrics` as OpenTelemetry instruments: each counter an
//! observable counter, each gauge an observable gauge, read from the
//! registry when the SDK's reader collects. Components register figures as
//! they are built (and again after a reload), so new names are looked for
//! every few seconds. The send-duration histogram stays in `/metrics` and
//! on the status page: the API has no observable histogram.

use crate::metrics::{MetricKind, Registry};
use opentelemetry::metrics::Meter;
use opentelemetry::KeyValue;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// How often new names are looked for.
const LOOK_EVERY: Duration = Duration::from_secs(5);

/// Keeps instruments in step with the registry's names until aborted.
pub fn spawn(meter: Meter, registry: Arc<Registry>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut bridged: HashSet<&'static str> = HashSet::new();
        // Dropping an observable instrument leaves its callback registered
        // in the SDK; they are kept anyway, to say so.
        let mut instruments: Vec<Box<dyn std::any::Any + Send>> = Vec::new();
        loop {
            for (name, kind) in registry.names() {
                if bridged.insert(name) {
                    instruments.push(instrument(&meter, &registry, name, kind));
                }
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
    })
}

fn attributes(labels: &[(&'static str, String)]) -> Vec<KeyValue> {
    labels
        .iter()
        .map(|(k, v)| KeyValue::new(*k, v.clone()))
        .collect()
}

fn instrument(
    meter: &Meter,
    registry: &Arc<Registry>,
    name: &'static str,
    kind: MetricKind,
) -> Box<dyn std::any::Any + Send> {
    let registry = Arc::clone(registry);
    match kind {
        MetricKind::Counter => Box::new(
            meter
                .u64_observable_counter(name)
                .with_callback(move |observer| {
                    for (labels, value) in registry.values_of(name, kind) {
                        observer.observe(value, &attributes(&labels));
                    }
                })
                .build(),
        ),
        MetricKind::Gauge => Box::new(
            meter
                .u64_observable_gauge(name)
                .with_callback(move |observer| {
                    for (labels, value) in registry.values_of(name, kind) {
                        observer.observe(value, &attributes(&labels));
                    }
                })
                .build(),
        ),
    }
}

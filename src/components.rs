//! The component registry: every kind of receiver, processor and exporter
//! the agent knows (and connectors), by the name a config gives it, and the configuration
//! loaded through them.
//!
//! Each entry's reader deserializes a component's settings, checks every
//! rule and constructs it (compiling its regexes, loading its certificates)
//! without opening a socket. `ignis-agent validate` runs the very same
//! readers as `run`, so it refuses what `run` would, save what only running
//! can find: a port in use, a disk queue directory that cannot be written.
//!
//! Adding a processor: write `processors/<name>.rs` with its settings
//! struct, a `read` function and `impl Processor`, then add one line to
//! `PROCESSORS` below (ARCHITECTURE.md walks through an example).

use crate::config::component::Kind;
use crate::config::graph::{self, Declared, Problems, Service};
use crate::config::node::{Located, Node};
use crate::config::{ComponentId, ConfigErrors, Pipeline};
use crate::connectors::{self, Connector};
use crate::exporters::delivery::Exporter;
use crate::exporters::{debug, file, ignis, otlp};
use crate::metrics::Registry;
use crate::processors::memory_limiter::MemoryLimiterConfig;
use crate::processors::{self as p, Processor};
use crate::queue::Storage;
use crate::receivers::{self, Receiver};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

// One line per kind (kept by `rustfmt::skip`): adding a kind is one line.
#[rustfmt::skip]
pub const RECEIVERS: &[Kind<Arc<dyn Receiver>>] = &[
    Kind { name: "otlp", read: receivers::otlp::read },
];

#[rustfmt::skip]
pub const PROCESSORS: &[Kind<Arc<dyn Processor>>] = &[
    Kind { name: "memory_limiter", read: p::memory_limiter::read },
    Kind { name: "resource_detection", read: p::resource_detection::read },
    Kind { name: "resource", read: p::attributes::read_resource },
    Kind { name: "attributes", read: p::attributes::read },
    Kind { name: "redaction", read: p::redaction::read },
    Kind { name: "filter", read: p::filter::read },
    Kind { name: "probabilistic_sampler", read: p::sampler::read },
    Kind { name: "rate_limiting", read: p::rate_limit::read },
    // Became a connector: says so.
    Kind { name: "span_metrics", read: p::moved::span_metrics },
];

#[rustfmt::skip]
pub const CONNECTORS: &[Kind<Arc<dyn Connector>>] = &[
    Kind { name: "span_metrics", read: connectors::span_metrics::read },
    Kind { name: "threshold_alerts", read: connectors::threshold_alerts::read },
];

#[rustfmt::skip]
pub const EXPORTERS: &[Kind<Arc<dyn Exporter>>] = &[
    Kind { name: "ignis", read: ignis::read },
    Kind { name: "otlp_grpc", read: otlp::read_grpc },
    Kind { name: "otlp", read: otlp::read_grpc },
    Kind { name: "otlp_http", read: otlp::read_http },
    Kind { name: "otlphttp", read: otlp::read_http },
    Kind { name: "debug", read: debug::read },
    Kind { name: "file", read: file::read },
];

/// The whole configuration, every component built and checked.
#[derive(Clone)]
pub struct Config {
    pub receivers: BTreeMap<ComponentId, Arc<dyn Receiver>>,
    pub processors: BTreeMap<ComponentId, Arc<dyn Processor>>,
    pub connectors: BTreeMap<ComponentId, Arc<dyn Connector>>,
    pub exporters: BTreeMap<ComponentId, Arc<dyn Exporter>>,
    pub pipelines: BTreeMap<ComponentId, Pipeline>,
    /// Each receiver's and exporter's settings, digested: a reload keeps
    /// the running ones whose digest did not change.
    pub fingerprints: BTreeMap<(&'static str, ComponentId), u64>,
    pub service: Service,
    /// The agent's own metrics, where the components registered theirs.
    pub metrics: Arc<Registry>,
}

/// The configuration the binary runs with when given no `--config`.
pub const DEFAULT_CONFIG: &str = include_str!("config/default.yaml");

/// Reads, expands, checks and builds a config file.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    load_file_with(path, &Arc::new(Registry::default()))
}

/// As `load_file`, registering the components' metrics in `metrics`: a
/// reload keeps the running agent's counters going.
pub fn load_file_with(path: &Path, metrics: &Arc<Registry>) -> Result<Config, ConfigErrors> {
    crate::config::load_file(path, &|tree, problems| build(tree, problems, metrics))
}

/// Loads config text; `file` names it in errors, `lookup` reads the environment.
pub fn load_str(
    text: &str,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    load_str_with(text, file, lookup, &Arc::new(Registry::default()))
}

/// As `load_str`, registering the components' metrics in `metrics`.
pub fn load_str_with(
    text: &str,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    metrics: &Arc<Registry>,
) -> Result<Config, ConfigErrors> {
    crate::config::load_str(text, file, lookup, &|tree, problems| {
        build(tree, problems, metrics)
    })
}

fn build(tree: &Located<Node>, problems: &mut Problems, metrics: &Arc<Registry>) -> Option<Config> {
    if !graph::check_top(tree, problems) {
        return None;
    }
    let metrics = Arc::clone(metrics);
    let (receivers, declared_receivers) =
        graph::section(tree, "receivers", RECEIVERS, &metrics, problems);
    let (processors, declared_processors) =
        graph::section(tree, "processors", PROCESSORS, &metrics, problems);
    let (exporters, declared_exporters) =
        graph::section(tree, "exporters", EXPORTERS, &metrics, problems);
    let (connectors, declared_connectors) =
        graph::section(tree, "connectors", CONNECTORS, &metrics, problems);
    // A broken `service` section is reported; pipelines are still checked.
    let service = graph::service(tree, problems);
    let declared = Declared {
        receivers: declared_receivers,
        processors: declared_processors,
        exporters: declared_exporters,
        connectors: declared_connectors
            .into_iter()
            .map(|id| {
                let signals = connectors.get(&id).map(|c| (c.input(), c.output()));
                (id, signals)
            })
            .collect(),
    };
    let pipelines = graph::pipelines(tree, &declared, problems);
    let mut fingerprints = BTreeMap::new();
    for section in ["receivers", "exporters"] {
        let entries = tree
            .get(section)
            .and_then(|s| s.entries())
            .unwrap_or_default();
        for (key, value) in entries {
            if let Ok(id) = ComponentId::parse(&key.value) {
                fingerprints.insert((section, id), value.fingerprint() ^ tls_files(value));
            }
        }
    }
    Some(Config {
        receivers,
        processors,
        connectors,
        exporters,
        pipelines,
        fingerprints,
        service: service?,
        metrics,
    })
}

/// A digest of the TLS files a component's settings name: a reload after a
/// certificate was renewed (a Secret rotated) rebuilds the component even
/// though its settings read the same. (API key and OAuth2 secret files are
/// re-read as they change, without a reload.)
fn tls_files(node: &Located<Node>) -> u64 {
    use std::hash::{Hash, Hasher};
    fn walk(node: &Located<Node>, h: &mut std::collections::hash_map::DefaultHasher) {
        match &node.value {
            Node::Map(entries) => {
                for (key, value) in entries {
                    let named = ["cert_file", "key_file", "client_ca_file", "ca_file"]
                        .contains(&key.value.as_str());
                    match &value.value {
                        Node::Str { text, .. } if named => {
                            std::fs::read(text).unwrap_or_default().hash(h);
                        }
                        _ => walk(value, h),
                    }
                }
            }
            Node::Seq(items) => items.iter().for_each(|item| walk(item, h)),
            _ => {}
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    walk(node, &mut h);
    h.finish()
}

/// What the agent holds itself beside the telemetry: code, runtime,
/// connection and TLS state (its idle resident set is 11 to 14 MiB).
const BASELINE: u64 = 16 << 20;

/// Room for requests being read and processed and for batches being sent,
/// beside what the memory queues hold, when no limit is given.
const IN_FLIGHT: u64 = 16 << 20;

/// How the agent bounds its memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySettings {
    /// Bytes of telemetry it may hold (`budget.rs`): requests wait for room
    /// past it, and are refused after `ADMISSION_WAIT`.
    pub budget: u64,
    /// Resident set past which requests are refused at once: what the
    /// budget does not see (allocator overhead, HTTP/2 buffers) is caught here.
    pub backstop: u64,
    pub check_interval: Duration,
}

impl MemorySettings {
    /// `memory_limiter` is the Collector's: `limit_mib` the resident set
    /// never to pass, `spike_limit_mib` headroom under it. In a cgroup the
    /// Collector's convention applies: 80 % of its limit (the budget under
    /// it), 90 % the backstop. Else the memory queues and room in flight,
    /// and a backstop against runaway growth only.
    pub fn new(listed: Option<&MemoryLimiterConfig>, cgroup: Option<u64>, queues: u64) -> Self {
        let (limit, backstop, check_interval) = match (listed, cgroup) {
            (Some(m), _) => {
                let limit = m.limit_mib << 20;
                let spike = m.spike_limit_mib.map_or(limit / 5, |s| s << 20);
                (limit - spike, limit, m.check_interval.0)
            }
            (None, Some(cgroup)) => (cgroup / 10 * 8, cgroup / 10 * 9, CHECK_INTERVAL),
            (None, None) => {
                let budget = queues + IN_FLIGHT;
                let limit = budget + BASELINE;
                // No limit to keep under: only runaway growth is stopped.
                // Room for what clients may send ahead of admission (up to
                // 80 KiB per waiting HTTP/2 stream: 64 clients of 16
                // streams park 80 MiB there).
                (limit, (2 * limit).max(256 << 20), CHECK_INTERVAL)
            }
        };
        MemorySettings {
            // Never nothing: a budget of 0 would hold every request.
            budget: limit.saturating_sub(BASELINE).max(4 << 20),
            backstop,
            check_interval,
        }
    }
}

const CHECK_INTERVAL: Duration = Duration::from_millis(100);

impl std::fmt::Debug for Config {
    /// The components by id: what they hold may be secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("receivers", &self.receivers.keys().collect::<Vec<_>>())
            .field("processors", &self.processors.keys().collect::<Vec<_>>())
            .field("connectors", &self.connectors.keys().collect::<Vec<_>>())
            .field("exporters", &self.exporters.keys().collect::<Vec<_>>())
            .field("pipelines", &self.pipelines)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The memory settings in force (`budget.rs`): from the tightest
    /// `memory_limiter` listed in a pipeline, else from the cgroup's memory
    /// limit, else from what the memory queues can hold.
    pub fn memory_limit(&self) -> MemorySettings {
        let listed = self
            .pipelines
            .values()
            .flat_map(|p| &p.processors)
            .filter_map(|id| self.processors.get(id)?.memory_limit())
            .min_by_key(|m: &&MemoryLimiterConfig| m.limit_mib);
        let queues = self.memory_queue_bytes();
        MemorySettings::new(listed, crate::budget::cgroup_memory_limit(), queues)
    }

    /// What every memory queue of every pipeline can hold together.
    fn memory_queue_bytes(&self) -> u64 {
        // One queue per exporter and signal, however many pipelines share it.
        let exporters: std::collections::BTreeSet<_> = self
            .pipelines
            .values()
            .flat_map(|p| p.exporters.iter().map(move |id| (id, p.signal.as_str())))
            .collect();
        exporters
            .into_iter()
            .filter_map(|(id, _)| self.exporters.get(id))
            .map(|e| &e.delivery().sending_queue)
            .filter(|q| q.storage == Some(Storage::Memory))
            .map(|q| q.max_size.0)
            .sum()
    }
}

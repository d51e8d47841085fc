//! The parts of a config that are not components: the top-level keys, the
//! `service` section and its pipelines, whose references to components are
//! checked here. Each component section is read through a registry's
//! `Kind`s (`components.rs`), so this module knows no component kind.

use super::component::{Context, Kind};
use super::de::from_node;
use super::model::*;
use super::node::{Located, Node, Pos};
use super::telemetry::TelemetryConfig;
use super::units::Dur;
use crate::metrics::Registry;
use crate::signal::SignalKind;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

pub type Problems = Vec<(Pos, String)>;

const SECTIONS: [&str; 5] = [
    "receivers",
    "processors",
    "connectors",
    "exporters",
    "service",
];

/// Reports top-level keys other than the sections.
pub fn check_top(tree: &Located<Node>, problems: &mut Problems) -> bool {
    let Some(top) = tree.entries() else {
        problems.push((
            tree.pos,
            format!("expected a mapping at the top, found {}", tree.kind()),
        ));
        return false;
    };
    for (key, _) in top {
        if !SECTIONS.contains(&key.value.as_str()) {
            problems.push((
                key.pos,
                format!(
                    "unknown top-level key `{}` (expected {})",
                    key.value,
                    SECTIONS.join(", ")
                ),
            ));
        }
    }
    true
}

/// Every component id written in the file, valid or not: a pipeline that
/// names a broken component is not blamed for it (its own error is reported).
pub struct Declared {
    pub receivers: BTreeSet<ComponentId>,
    pub processors: BTreeSet<ComponentId>,
    pub exporters: BTreeSet<ComponentId>,
    /// Connectors by id, with the signals they read and emit when they
    /// built (a broken one is declared without them).
    pub connectors: BTreeMap<ComponentId, Option<(SignalKind, SignalKind)>>,
}

/// Reads one section (`receivers`, ...), each component with its kind's
/// reader; returns the valid ones and the ids of all.
pub fn section<T>(
    tree: &Located<Node>,
    section: &str,
    kinds: &[Kind<T>],
    metrics: &Arc<Registry>,
    problems: &mut Problems,
) -> (BTreeMap<ComponentId, T>, BTreeSet<ComponentId>) {
    let mut out = BTreeMap::new();
    let mut declared = BTreeSet::new();
    let Some(node) = tree.get(section) else {
        return (out, declared);
    };
    let Some(entries) = node.entries() else {
        problems.push((
            node.pos,
            format!("`{section}` must be a mapping, found {}", node.kind()),
        ));
        return (out, declared);
    };
    for (key, value) in entries {
        let id = match ComponentId::parse(&key.value) {
            Ok(id) => id,
            Err(message) => {
                problems.push((key.pos, message));
                continue;
            }
        };
        declared.insert(id.clone());
        let Some(kind) = kinds.iter().find(|k| k.name == id.kind) else {
            let known: Vec<&str> = kinds.iter().map(|k| k.name).collect();
            problems.push((
                key.pos,
                format!(
                    "unknown {} type `{}` (known: {})",
                    singular(section),
                    id.kind,
                    known.join(", ")
                ),
            ));
            continue;
        };
        let context = Context { id: &id, metrics };
        match (kind.read)(value, &context) {
            Ok(config) => {
                out.insert(id, config);
            }
            Err(e) => problems.push((
                e.pos.unwrap_or(value.pos),
                format!("{section}.{id}: {}", e.message),
            )),
        }
    }
    (out, declared)
}

fn singular(section: &str) -> &str {
    section.strip_suffix('s').unwrap_or(section)
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    // Read separately, with positions for each reference.
    #[serde(default, rename = "pipelines")]
    _pipelines: serde::de::IgnoredAny,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    /// How long SIGTERM waits for queues to drain.
    #[serde(default = "default_grace")]
    pub grace_period: Dur,
}

fn default_grace() -> Dur {
    Dur(Duration::from_secs(30))
}

pub fn service(tree: &Located<Node>, problems: &mut Problems) -> Option<Service> {
    let Some(node) = tree.get("service") else {
        problems.push((
            tree.pos,
            "`service` is missing: it lists the pipelines to run".into(),
        ));
        return None;
    };
    match from_node::<Service>(node) {
        Ok(service) => {
            let level = &service.telemetry.logs.level;
            let pos = node.get("telemetry").map_or(node.pos, |t| t.pos);
            if tracing_subscriber::EnvFilter::try_new(level).is_err() {
                problems.push((
                    pos,
                    format!("`{level}` is not a log level (try info, debug, warn)"),
                ));
            }
            for problem in service.telemetry.problems() {
                problems.push((pos, format!("service.{problem}")));
            }
            Some(service)
        }
        Err(e) => {
            problems.push((e.pos.unwrap_or(node.pos), format!("service: {}", e.message)));
            None
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    receivers: Vec<String>,
    #[serde(default)]
    processors: Vec<String>,
    exporters: Vec<String>,
}

pub fn pipelines(
    tree: &Located<Node>,
    declared: &Declared,
    problems: &mut Problems,
) -> BTreeMap<ComponentId, Pipeline> {
    let mut out = BTreeMap::new();
    let service = tree.get("service");
    let Some(node) = service.and_then(|s| s.get("pipelines")) else {
        problems.push((
            service.map_or(tree.pos, |s| s.pos),
            "service.pipelines is missing: define at least one pipeline".into(),
        ));
        return out;
    };
    let entries = node.entries().unwrap_or_default();
    if entries.is_empty() {
        problems.push((
            node.pos,
            "service.pipelines is empty: define at least one pipeline".into(),
        ));
    }
    for (key, value) in entries {
        let id = match ComponentId::parse(&key.value) {
            Ok(id) => id,
            Err(message) => {
                problems.push((key.pos, message));
                continue;
            }
        };
        let signal = match id.kind.as_str() {
            "traces" => SignalKind::Traces,
            "metrics" => SignalKind::Metrics,
            "logs" => SignalKind::Logs,
            other => {
                problems.push((
                    key.pos,
                    format!("unknown pipeline type `{other}` (expected traces, metrics or logs)"),
                ));
                continue;
            }
        };
        let raw: RawPipeline = match from_node(value) {
            Ok(raw) => raw,
            Err(e) => {
                problems.push((
                    e.pos.unwrap_or(value.pos),
                    format!("pipeline {id}: {}", e.message),
                ));
                continue;
            }
        };
        let mut check = |list: &str,
                         names: &[String],
                         defined: &dyn Fn(&ComponentId) -> Result<(), String>,
                         required: bool| {
            let list_node = value.get(list);
            let item_pos = |i: usize| match list_node.map(|n| &n.value) {
                Some(Node::Seq(items)) => items.get(i).map_or(value.pos, |n| n.pos),
                _ => value.pos,
            };
            if required && names.is_empty() {
                problems.push((
                    list_node.map_or(value.pos, |n| n.pos),
                    format!("pipeline {id} needs at least one of its {list}"),
                ));
            }
            let mut ids = Vec::new();
            for (i, name) in names.iter().enumerate() {
                match ComponentId::parse(name) {
                    Ok(cid) if ids.contains(&cid) => problems.push((
                        item_pos(i),
                        format!("pipeline {id} lists {} `{name}` twice", singular(list)),
                    )),
                    Ok(cid) => match defined(&cid) {
                        Ok(()) => ids.push(cid),
                        Err(why) => problems.push((item_pos(i), format!("pipeline {id} {why}"))),
                    },
                    Err(message) => problems.push((item_pos(i), message)),
                }
            }
            ids
        };
        let undefined = |list: &str, c: &ComponentId| {
            format!(
                "references {} `{c}`, which is not defined under `{list}`",
                singular(list)
            )
        };
        // A connector reads the pipelines it exports from and feeds the
        // ones it receives in: each side must carry the right signal.
        // Not declared in its own section: it may be a connector.
        let connector = |c: &ComponentId, reads: bool, list: &str| {
            let side = if reads { "reads" } else { "emits" };
            match declared.connectors.get(c) {
                Some(Some((input, output))) => {
                    let wanted = if reads { *input } else { *output };
                    if wanted == signal {
                        Ok(())
                    } else {
                        Err(format!(
                            "carries {}, but connector `{c}` {side} {}",
                            signal.as_str(),
                            wanted.as_str()
                        ))
                    }
                }
                Some(None) => Ok(()),
                None => Err(undefined(list, c)),
            }
        };
        let pipeline = Pipeline {
            signal,
            receivers: check(
                "receivers",
                &raw.receivers,
                &|c| match declared.receivers.contains(c) {
                    true => Ok(()),
                    false => connector(c, false, "receivers"),
                },
                true,
            ),
            processors: check(
                "processors",
                &raw.processors,
                &|c| match declared.processors.contains(c) {
                    true => Ok(()),
                    false => Err(undefined("processors", c)),
                },
                false,
            ),
            exporters: check(
                "exporters",
                &raw.exporters,
                &|c| match declared.exporters.contains(c) {
                    true => Ok(()),
                    false => connector(c, true, "exporters"),
                },
                true,
            ),
        };
        out.insert(id, pipeline);
    }
    for connector in declared.connectors.keys() {
        let reads = out.values().any(|p| p.exporters.contains(connector));
        let feeds = out.values().any(|p| p.receivers.contains(connector));
        if reads != feeds {
            let (used, unused) = if reads {
                ("an exporter", "a receiver")
            } else {
                ("a receiver", "an exporter")
            };
            problems.push((
                node.pos,
                format!("connector `{connector}` is {used} of a pipeline but {unused} of none: it reads one pipeline and feeds another"),
            ));
        }
    }
    out
}

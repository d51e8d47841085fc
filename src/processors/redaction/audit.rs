//! What audit mode (and a detector's `action: report`) reports: each
//! finding counted by detector, location and attribute key — never the
//! value — as `ignis_redaction_findings` in `/metrics`, which
//! `GET /api/redaction` groups. Keys are bounded: past `MAX_SERIES` per
//! processor, new ones are counted under `(other)`.

use crate::metrics::{Counter, Registry};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const METRIC: &str = "ignis_redaction_findings";
const MAX_SERIES: usize = 1000;
const OTHER: &str = "(other)";

/// Where a string was found.
#[derive(Clone, Copy, Debug)]
pub struct Site<'a> {
    /// `span.attributes`, `log.body`, ...
    pub location: &'static str,
    /// The attribute (or nested map) key holding it.
    pub key: Option<&'a str>,
}

impl Site<'_> {
    pub const TEXT: Site<'static> = Site {
        location: "text",
        key: None,
    };
}

pub struct Audit {
    registry: Arc<Registry>,
    processor: String,
    series: Mutex<HashMap<(String, &'static str, String), Counter>>,
}

impl Audit {
    pub fn new(registry: &Arc<Registry>, processor: &str) -> Audit {
        Audit {
            registry: Arc::clone(registry),
            processor: processor.to_owned(),
            series: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one finding of `detector` at `site`.
    pub fn report(&self, detector: &str, site: Site<'_>) {
        let key = site.key.unwrap_or("");
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let id = (detector.to_owned(), site.location, key.to_owned());
        if let Some(counter) = series.get(&id) {
            counter.add(1);
            return;
        }
        let key = if series.len() >= MAX_SERIES {
            OTHER
        } else {
            key
        };
        let counter = self.registry.counter(
            METRIC,
            &[
                ("processor", &self.processor),
                ("detector", detector),
                ("location", site.location),
                ("key", key),
            ],
        );
        counter.add(1);
        if key != OTHER {
            series.insert(id, counter);
        }
    }
}

/// `GET /api/redaction`: every processor's findings, largest first.
pub fn findings_json(registry: &Registry) -> serde_json::Value {
    let mut processors: std::collections::BTreeMap<String, Vec<serde_json::Value>> =
        Default::default();
    let mut redacted: std::collections::BTreeMap<String, Vec<serde_json::Value>> =
        Default::default();
    for (name, labels, value) in registry.snapshot() {
        let label = |k: &str| {
            labels
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        if name == METRIC {
            processors
                .entry(label("processor"))
                .or_default()
                .push(serde_json::json!({
                    "detector": label("detector"),
                    "family": super::detectors::family_of(&label("detector")),
                    "location": label("location"),
                    "key": label("key"),
                    "count": value,
                }));
        } else if name == super::REDACTED_METRIC && value > 0 {
            redacted
                .entry(label("processor"))
                .or_default()
                .push(serde_json::json!({
                    "rule": label("rule"),
                    "count": value,
                }));
        }
    }
    let by_count = |list: &mut Vec<serde_json::Value>| {
        list.sort_by(|a, b| b["count"].as_u64().cmp(&a["count"].as_u64()))
    };
    let names: std::collections::BTreeSet<String> =
        processors.keys().chain(redacted.keys()).cloned().collect();
    let list: Vec<serde_json::Value> = names
        .into_iter()
        .map(|name| {
            let mut findings = processors.remove(&name).unwrap_or_default();
            let mut done = redacted.remove(&name).unwrap_or_default();
            by_count(&mut findings);
            by_count(&mut done);
            serde_json::json!({ "processor": name, "reported": findings, "redacted": done })
        })
        .collect();
    serde_json::json!({ "processors": list })
}

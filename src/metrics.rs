//! The agent's own metrics, rendered as Prometheus text. Names follow the
//! Collector's (`otelcol_receiver_accepted_spans`, ...) so dashboards port.
//!
//! A counter is an `Arc<AtomicU64>` handed out once, when a component is built, so the hot path
//! pays one relaxed atomic add and never a lookup.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default, Debug)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

type Labels = Vec<(&'static str, String)>;

/// One metric's value now: name, labels, value.
pub type Figure = (&'static str, Labels, u64);
type GaugeFn = Box<dyn Fn() -> u64 + Send + Sync>;

#[derive(Default)]
pub struct Registry {
    counters: Mutex<BTreeMap<(&'static str, Labels), Counter>>,
    gauges: Mutex<BTreeMap<(&'static str, Labels), GaugeFn>>,
}

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

impl Registry {
    /// The counter with this name and labels, created at zero if new.
    pub fn counter(&self, name: &'static str, pairs: &[(&'static str, &str)]) -> Counter {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        counters.entry((name, labels(pairs))).or_default().clone()
    }

    /// A gauge read from `read` at each scrape.
    pub fn gauge(
        &self,
        name: &'static str,
        pairs: &[(&'static str, &str)],
        read: impl Fn() -> u64 + Send + Sync + 'static,
    ) {
        let mut gauges = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        gauges.insert((name, labels(pairs)), Box::new(read));
    }

    /// Removes the gauges whose labels include all of `pairs` (a component
    /// that is gone: its gauges would read what it left behind).
    pub fn forget_gauges(&self, pairs: &[(&str, &str)]) {
        let mut gauges = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        gauges.retain(|(_, labels), _| {
            !pairs
                .iter()
                .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
        });
    }

    /// The sum of a counter over all label sets matching `pairs`.
    pub fn total(&self, name: &str, pairs: &[(&str, &str)]) -> u64 {
        let counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        counters
            .iter()
            .filter(|((n, l), _)| {
                *n == name
                    && pairs
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, c)| c.get())
            .sum()
    }

    /// Every counter and gauge now, as (name, labels, value), sorted.
    pub fn snapshot(&self) -> Vec<Figure> {
        let mut out: Vec<_> = {
            let counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
            counters
                .iter()
                .map(|((n, l), c)| (*n, l.clone(), c.get()))
                .collect()
        };
        let gauges = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        out.extend(gauges.iter().map(|((n, l), read)| (*n, l.clone(), read())));
        out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        out
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let mut last = "";
        for ((name, labels), counter) in counters.iter() {
            if *name != last {
                let _ = writeln!(out, "# TYPE {name} counter");
                last = name;
            }
            let _ = writeln!(out, "{name}{} {}", render_labels(labels), counter.get());
        }
        drop(counters);
        let gauges = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        last = "";
        for ((name, labels), read) in gauges.iter() {
            if *name != last {
                let _ = writeln!(out, "# TYPE {name} gauge");
                last = name;
            }
            let _ = writeln!(out, "{name}{} {}", render_labels(labels), read());
        }
        out
    }
}

fn render_labels(labels: &Labels) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let body: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", body.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges() {
        let r = Registry::default();
        r.counter("otelcol_receiver_accepted_spans", &[("receiver", "otlp")])
            .add(3);
        r.counter("otelcol_receiver_accepted_spans", &[("receiver", "otlp")])
            .add(2);
        r.gauge("otelcol_exporter_queue_size", &[("exporter", "a\"b")], || 7);
        let text = r.render();
        assert!(
            text.contains("otelcol_receiver_accepted_spans{receiver=\"otlp\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("otelcol_exporter_queue_size{exporter=\"a\\\"b\"} 7"),
            "{text}"
        );
        assert_eq!(r.total("otelcol_receiver_accepted_spans", &[]), 5);
    }
}

//! The agent's own metrics, rendered as Prometheus text. Names follow the
//! Collector's (`otelcol_receiver_accepted_spans`, ...) so dashboards port.
//!
//! A counter is an `Arc<AtomicU64>` handed out once, when a component is built, so the hot path
//! pays one relaxed atomic add and never a lookup. A histogram is a fixed
//! row of such counters, one per bucket.

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

/// Observations counted into fixed buckets (upper bounds, in the unit
/// observed; one more bucket above the last), with their sum.
#[derive(Clone, Debug)]
pub struct Histogram(Arc<HistogramCells>);

#[derive(Debug)]
struct HistogramCells {
    bounds: &'static [f64],
    counts: Box<[AtomicU64]>,
    /// The sum, in millionths of the unit (an atomic integer, no float CAS).
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram(Arc::new(HistogramCells {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }))
    }

    pub fn observe(&self, value: f64) {
        let cells = &self.0;
        let bucket = cells.bounds.partition_point(|bound| *bound < value);
        cells.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = (value.max(0.0) * 1e6) as u64;
        cells.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The bucket bounds and the count in each bucket (not cumulative).
    pub fn counts(&self) -> (&'static [f64], Vec<u64>) {
        let counts = self
            .0
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        (self.0.bounds, counts)
    }
}

/// The value below which `q` (0..1) of the observations fall, from bucket
/// counts (not cumulative), interpolated within the bucket as Prometheus'
/// `histogram_quantile` does; None without observations. Observations above
/// the last bound are placed at it.
pub fn quantile(q: f64, bounds: &[f64], counts: &[u64]) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, count) in counts.iter().enumerate() {
        if *count > 0 && (below + count) as f64 >= rank {
            let Some(upper) = bounds.get(i) else {
                return bounds.last().copied();
            };
            let lower = if i == 0 { 0.0 } else { bounds[i - 1] };
            let within = (rank - below as f64) / *count as f64;
            return Some(lower + (upper - lower) * within);
        }
        below += count;
    }
    bounds.last().copied()
}

/// A metric's labels: (key, value) pairs.
pub type Labels = Vec<(&'static str, String)>;

/// One metric's value now: name, labels, value.
pub type Figure = (&'static str, Labels, u64);
/// Whether a figure only grows (a counter) or goes up and down (a gauge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
}

/// One histogram now: name, labels, bucket bounds, counts per bucket.
pub type HistogramFigure = (&'static str, Labels, &'static [f64], Vec<u64>);
type GaugeFn = Box<dyn Fn() -> u64 + Send + Sync>;

#[derive(Default)]
pub struct Registry {
    counters: Mutex<BTreeMap<(&'static str, Labels), Counter>>,
    gauges: Mutex<BTreeMap<(&'static str, Labels), GaugeFn>>,
    histograms: Mutex<BTreeMap<(&'static str, Labels), Histogram>>,
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

    /// The histogram with this name and labels, created empty with
    /// `bounds` if new.
    pub fn histogram(
        &self,
        name: &'static str,
        pairs: &[(&'static str, &str)],
        bounds: &'static [f64],
    ) -> Histogram {
        let mut histograms = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        histograms
            .entry((name, labels(pairs)))
            .or_insert_with(|| Histogram::new(bounds))
            .clone()
    }

    /// Every histogram now, sorted by name and labels.
    pub fn histogram_snapshot(&self) -> Vec<HistogramFigure> {
        let histograms = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        histograms
            .iter()
            .map(|((name, labels), histogram)| {
                let (bounds, counts) = histogram.counts();
                (*name, labels.clone(), bounds, counts)
            })
            .collect()
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

    /// Every counter's and gauge's name, once each, with which it is.
    pub fn names(&self) -> Vec<(&'static str, MetricKind)> {
        let mut out: Vec<(&'static str, MetricKind)> = Vec::new();
        let counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        out.extend(counters.keys().map(|(n, _)| (*n, MetricKind::Counter)));
        drop(counters);
        let gauges = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        out.extend(gauges.keys().map(|(n, _)| (*n, MetricKind::Gauge)));
        out.dedup();
        out
    }

    /// The values of one counter or gauge now, per label set.
    pub fn values_of(&self, name: &str, kind: MetricKind) -> Vec<(Labels, u64)> {
        match kind {
            MetricKind::Counter => {
                let counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
                counters
                    .iter()
                    .filter(|((n, _), _)| *n == name)
                    .map(|((_, l), c)| (l.clone(), c.get()))
                    .collect()
            }
            MetricKind::Gauge => {
                let gauges = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
                gauges
                    .iter()
                    .filter(|((n, _), _)| *n == name)
                    .map(|((_, l), read)| (l.clone(), read()))
                    .collect()
            }
        }
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
        drop(gauges);
        let histograms = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        last = "";
        for ((name, labels), histogram) in histograms.iter() {
            if *name != last {
                let _ = writeln!(out, "# TYPE {name} histogram");
                last = name;
            }
            let (bounds, counts) = histogram.counts();
            let mut cumulative = 0;
            for (i, count) in counts.iter().enumerate() {
                cumulative += count;
                let le = bounds.get(i).map_or("+Inf".to_owned(), f64::to_string);
                let mut labels = labels.clone();
                labels.push(("le", le));
                let _ = writeln!(out, "{name}_bucket{} {cumulative}", render_labels(&labels));
            }
            let sum = histogram.0.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let labels = render_labels(labels);
            let _ = writeln!(out, "{name}_sum{labels} {sum}");
            let _ = writeln!(out, "{name}_count{labels} {cumulative}");
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

    #[test]
    fn histograms_render_cumulative_buckets_and_give_quantiles() {
        static BOUNDS: [f64; 3] = [0.1, 1.0, 10.0];
        let r = Registry::default();
        let h = r.histogram("send_seconds", &[("exporter", "x")], &BOUNDS);
        for v in [0.05, 0.5, 0.5, 0.5, 20.0] {
            h.observe(v);
        }
        let text = r.render();
        for line in [
            "# TYPE send_seconds histogram",
            "send_seconds_bucket{exporter=\"x\",le=\"0.1\"} 1",
            "send_seconds_bucket{exporter=\"x\",le=\"1\"} 4",
            "send_seconds_bucket{exporter=\"x\",le=\"10\"} 4",
            "send_seconds_bucket{exporter=\"x\",le=\"+Inf\"} 5",
            "send_seconds_sum{exporter=\"x\"} 21.55",
            "send_seconds_count{exporter=\"x\"} 5",
        ] {
            assert!(text.contains(line), "{line} not in {text}");
        }
        let (bounds, counts) = h.counts();
        assert_eq!(counts, [1, 3, 0, 1]);
        // Rank 2.5 of 5: half way through the second bucket's three.
        assert_eq!(
            quantile(0.5, bounds, &counts),
            Some(0.1 + 0.9 * (1.5 / 3.0))
        );
        assert_eq!(quantile(0.99, bounds, &counts), Some(10.0));
        assert_eq!(quantile(0.5, bounds, &[0, 0, 0, 0]), None);
    }
}

//! The status page's memory: the last 15 minutes of what it charts, one
//! sample a second, in a bounded ring. Each chart sums the registry's
//! figures into a few lines (per signal, per exporter, per detector), so
//! what is kept is a few hundred KiB at most, whatever the label counts.

use crate::metrics::{quantile, Figure, HistogramFigure, Labels, Registry};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Samples kept: 15 minutes at 1 s.
pub const SAMPLES: usize = 900;
/// Export latency quantiles are taken over this many seconds: batches
/// leave every few seconds, a one-second window would be mostly empty.
const LATENCY_WINDOW: usize = 10;
/// Lines per chart at most: the rest are summed into "other", so a label
/// with many values (redaction rules, say) cannot grow the ring.
const LINES: usize = 12;

/// One chart: which figures it shows, summed into which line.
struct Chart {
    id: &'static str,
    title: &'static str,
    unit: &'static str,
    /// Counters, charted as a rate per second; gauges as they are.
    rate: bool,
    line: fn(&str, &Labels) -> Option<String>,
}

fn label<'a>(labels: &'a [(&'static str, String)], key: &str) -> &'a str {
    labels
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// The signal an OTLP metric name counts (`..._spans` are traces).
fn signal_of(name: &str) -> &'static str {
    if name.ends_with("_spans") {
        "traces"
    } else if name.ends_with("_metric_points") {
        "metrics"
    } else {
        "logs"
    }
}

fn exporter_line(labels: &[(&'static str, String)]) -> String {
    format!("{}/{}", label(labels, "exporter"), label(labels, "signal"))
}

const CHARTS: &[Chart] = &[
    Chart {
        id: "received",
        title: "Items received",
        unit: "/s",
        rate: true,
        line: |name, _| {
            name.starts_with("otelcol_receiver_accepted_")
                .then(|| signal_of(name).into())
        },
    },
    Chart {
        id: "delivered",
        title: "Items delivered",
        unit: "/s",
        rate: true,
        line: |name, _| {
            name.starts_with("otelcol_exporter_sent_")
                .then(|| signal_of(name).into())
        },
    },
    Chart {
        id: "lost",
        title: "Items refused and dropped",
        unit: "/s",
        rate: true,
        line: |name, labels| {
            if name.starts_with("otelcol_receiver_refused_") {
                Some(format!("refused {}", signal_of(name)))
            } else if name.ends_with("_dropped_items") {
                Some(format!("dropped {}", label(labels, "signal")))
            } else {
                None
            }
        },
    },
    Chart {
        id: "queue_items",
        title: "Queued items",
        unit: "",
        rate: false,
        line: |name, labels| (name == "otelcol_exporter_queue_size").then(|| exporter_line(labels)),
    },
    Chart {
        id: "queue_bytes",
        title: "Queued bytes",
        unit: "B",
        rate: false,
        line: |name, labels| (name == "ignis_exporter_queue_bytes").then(|| exporter_line(labels)),
    },
    Chart {
        id: "queue_age",
        title: "Oldest queued item",
        unit: "s",
        rate: false,
        line: |name, labels| {
            (name == "ignis_exporter_queue_oldest_age_seconds").then(|| exporter_line(labels))
        },
    },
    Chart {
        id: "retries",
        title: "Retries",
        unit: "/s",
        rate: true,
        line: |name, labels| (name == "ignis_exporter_retries").then(|| exporter_line(labels)),
    },
    Chart {
        id: "latency",
        title: "Export latency p50 / p99 (10 s)",
        unit: "s",
        rate: false,
        // Filled from `ignis_exporter_send_duration_seconds`, not figures.
        line: |_, _| None,
    },
    Chart {
        id: "memory",
        title: "Memory",
        unit: "B",
        rate: false,
        line: |name, _| {
            Some(
                match name {
                    "ignis_process_resident_memory_bytes" => "resident",
                    "ignis_memory_budget_used_bytes" => "telemetry held",
                    "ignis_memory_budget_bytes" => "budget",
                    _ => return None,
                }
                .into(),
            )
        },
    },
    Chart {
        id: "redactions",
        title: "Redactions",
        unit: "/s",
        rate: true,
        line: |name, labels| {
            (name == "ignis_redacted_values").then(|| label(labels, "rule").into())
        },
    },
];

/// The charts' lines over the last `SAMPLES` seconds.
pub struct History {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Unix seconds of the newest sample.
    newest: u64,
    /// Samples taken, up to `SAMPLES`.
    taken: usize,
    /// Per chart, per line: values oldest first (NaN where the line was not
    /// there), each `taken` long.
    lines: BTreeMap<(&'static str, String), VecDeque<f64>>,
    /// Counter sums at the previous sample, for rates.
    previous: HashMap<(&'static str, String), (u64, f64)>,
    /// Per exporter, the send-duration bucket counts of the last
    /// `LATENCY_WINDOW` + 1 samples, for quantiles over the window.
    latency: HashMap<String, VecDeque<Vec<u64>>>,
}

impl History {
    pub fn new() -> Self {
        History {
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Samples `registry` every second, for as long as it is polled.
    pub async fn run(&self, registry: &Registry) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let histograms = registry.histogram_snapshot();
            self.sample(&registry.snapshot(), &histograms, now.as_secs_f64());
        }
    }

    /// Adds one sample of `figures` and `histograms`, taken at `now` (Unix
    /// seconds).
    pub fn sample(&self, figures: &[Figure], histograms: &[HistogramFigure], now: f64) {
        let mut sums: BTreeMap<(&'static str, String), u64> = BTreeMap::new();
        for (name, labels, value) in figures {
            for chart in CHARTS {
                if let Some(line) = (chart.line)(name, labels) {
                    // A counter still at zero (nothing redacted by this
                    // rule, nothing dropped) is no line worth drawing.
                    if chart.rate && *value == 0 && !sums.contains_key(&(chart.id, line.clone())) {
                        continue;
                    }
                    *sums.entry((chart.id, line)).or_default() += value;
                }
            }
        }
        let sums = cap_lines(sums);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut values: BTreeMap<(&'static str, String), f64> = inner.latency_lines(histograms);
        for (key, sum) in sums {
            let rate = CHARTS.iter().any(|c| c.id == key.0 && c.rate);
            let value = if rate {
                // The first sample of a counter has nothing to compare with;
                // a counter that went down started again (a component
                // rebuilt): its whole value is new.
                let previous = inner.previous.insert(key.clone(), (sum, now));
                match previous {
                    Some((before, then)) if now > then => {
                        let added = if sum >= before { sum - before } else { sum };
                        added as f64 / (now - then)
                    }
                    _ => f64::NAN,
                }
            } else {
                sum as f64
            };
            values.insert(key, value);
        }
        inner.previous.retain(|key, _| values.contains_key(key));
        let taken = inner.taken;
        for key in values.keys() {
            if !inner.lines.contains_key(key) {
                let line = VecDeque::from(vec![f64::NAN; taken]);
                inner.lines.insert(key.clone(), line);
            }
        }
        for (key, line) in inner.lines.iter_mut() {
            line.push_back(values.get(key).copied().unwrap_or(f64::NAN));
            if line.len() > SAMPLES {
                line.pop_front();
            }
        }
        // A line with nothing left to show (an exporter removed by a
        // reload, 15 minutes ago) is forgotten.
        inner
            .lines
            .retain(|_, line| line.iter().any(|v| !v.is_nan()));
        inner.taken = (taken + 1).min(SAMPLES);
        inner.newest = now as u64;
    }

    /// The charts as JSON: `{"newest": unix_s, "step_s": 1, "charts":
    /// [{"id", "title", "unit", "lines": {"name": [values, oldest first]}}]}`;
    /// a value the line did not have is `null`.
    pub fn to_json(&self) -> serde_json::Value {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let charts: Vec<serde_json::Value> = CHARTS
            .iter()
            .map(|chart| {
                let lines: serde_json::Map<String, serde_json::Value> = inner
                    .lines
                    .iter()
                    .filter(|((id, _), _)| *id == chart.id)
                    .map(|((_, line), values)| {
                        let values: Vec<Option<f64>> =
                            values.iter().map(|v| (!v.is_nan()).then_some(*v)).collect();
                        (line.clone(), values.into())
                    })
                    .collect();
                serde_json::json!({
                    "id": chart.id,
                    "title": chart.title,
                    "unit": chart.unit,
                    "lines": lines,
                })
            })
            .collect();
        serde_json::json!({
            "newest": inner.newest,
            "step_s": 1,
            "samples": inner.taken,
            "charts": charts,
        })
    }
}

impl Inner {
    /// p50 and p99 of each exporter's send durations over the window;
    /// nothing for an exporter that sent nothing in it.
    fn latency_lines(
        &mut self,
        histograms: &[HistogramFigure],
    ) -> BTreeMap<(&'static str, String), f64> {
        let mut out = BTreeMap::new();
        let mut seen = Vec::new();
        for (name, labels, bounds, counts) in histograms {
            if *name != "ignis_exporter_send_duration_seconds" {
                continue;
            }
            let exporter = exporter_line(labels);
            let window = self.latency.entry(exporter.clone()).or_default();
            window.push_back(counts.clone());
            if window.len() > LATENCY_WINDOW + 1 {
                window.pop_front();
            }
            let (Some(first), Some(last)) = (window.front(), window.back()) else {
                continue;
            };
            // The first sample of a histogram counts all it held before.
            let added: Vec<u64> = if window.len() == 1 {
                last.clone()
            } else {
                last.iter()
                    .zip(first)
                    .map(|(l, f)| l.saturating_sub(*f))
                    .collect()
            };
            for (q, label) in [(0.5, "p50"), (0.99, "p99")] {
                if let Some(value) = quantile(q, bounds, &added) {
                    out.insert(("latency", format!("{label} {exporter}")), value);
                }
            }
            seen.push(exporter);
        }
        self.latency.retain(|exporter, _| seen.contains(exporter));
        out
    }
}

impl Default for History {
    fn default() -> Self {
        History::new()
    }
}

/// At most `LINES` lines per chart: the largest kept, the rest summed
/// into "other".
fn cap_lines(sums: BTreeMap<(&'static str, String), u64>) -> BTreeMap<(&'static str, String), u64> {
    let mut per_chart: BTreeMap<&'static str, Vec<(String, u64)>> = BTreeMap::new();
    for ((chart, line), sum) in sums {
        per_chart.entry(chart).or_default().push((line, sum));
    }
    let mut out = BTreeMap::new();
    for (chart, mut lines) in per_chart {
        if lines.len() > LINES {
            lines.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let other: u64 = lines.drain(LINES - 1..).map(|(_, s)| s).sum();
            lines.push(("other".into(), other));
        }
        out.extend(lines.into_iter().map(|(line, sum)| ((chart, line), sum)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(name: &'static str, labels: &[(&'static str, &str)], value: u64) -> Figure {
        (
            name,
            labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            value,
        )
    }

    fn line(json: &serde_json::Value, chart: &str, line: &str) -> Vec<Option<f64>> {
        let chart = json["charts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == chart)
            .unwrap();
        serde_json::from_value(chart["lines"][line].clone()).unwrap_or_default()
    }

    #[test]
    fn counters_become_rates_and_gauges_stay() {
        let history = History::new();
        let spans = |n| {
            figure(
                "otelcol_receiver_accepted_spans",
                &[("receiver", "otlp")],
                n,
            )
        };
        let queued = |n| {
            figure(
                "ignis_exporter_queue_bytes",
                &[("exporter", "ignis"), ("signal", "traces")],
                n,
            )
        };
        history.sample(&[spans(100), queued(5)], &[], 10.0);
        history.sample(&[spans(300), queued(7)], &[], 11.0);
        // Restarted counter: its whole value is new; two seconds apart.
        history.sample(&[spans(50), queued(0)], &[], 13.0);
        let json = history.to_json();
        assert_eq!(
            line(&json, "received", "traces"),
            [None, Some(200.0), Some(25.0)]
        );
        assert_eq!(
            line(&json, "queue_bytes", "ignis/traces"),
            [Some(5.0), Some(7.0), Some(0.0)]
        );
        assert_eq!(json["newest"], 13);
    }

    #[test]
    fn the_ring_is_bounded_and_gone_lines_are_forgotten() {
        let history = History::new();
        let gauge = |exporter, n| {
            figure(
                "otelcol_exporter_queue_size",
                &[("exporter", exporter), ("signal", "logs")],
                n,
            )
        };
        history.sample(&[gauge("old", 1)], &[], 0.0);
        for t in 1..=SAMPLES as u64 + 10 {
            history.sample(&[gauge("new", t)], &[], t as f64);
        }
        let json = history.to_json();
        let new = line(&json, "queue_items", "new/logs");
        assert_eq!(new.len(), SAMPLES);
        assert_eq!(new.last(), Some(&Some((SAMPLES + 10) as f64)));
        assert!(line(&json, "queue_items", "old/logs").is_empty());
        assert_eq!(json["samples"], SAMPLES);
    }

    #[test]
    fn many_label_values_are_capped_into_other() {
        let history = History::new();
        let figures = |times: u64| -> Vec<Figure> {
            (0..40)
                .map(|i| {
                    let rule = format!("rule{i:02}");
                    (
                        "ignis_redacted_values",
                        vec![("processor", "redaction".to_string()), ("rule", rule)],
                        i * times,
                    )
                })
                .collect()
        };
        // Two samples: a rate needs a previous value.
        history.sample(&figures(1), &[], 0.0);
        history.sample(&figures(2), &[], 1.0);
        let json = history.to_json();
        let chart = json["charts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "redactions")
            .unwrap();
        let lines = chart["lines"].as_object().unwrap();
        assert_eq!(lines.len(), LINES);
        assert!(lines.contains_key("other") && lines.contains_key("rule39"));
    }

    #[test]
    fn latency_quantiles_come_from_the_window_and_zero_counters_draw_nothing() {
        static BOUNDS: [f64; 3] = [0.01, 0.1, 1.0];
        let history = History::new();
        let labels = vec![
            ("exporter", "ignis".to_string()),
            ("signal", "traces".to_string()),
        ];
        let sends = |counts: Vec<u64>| {
            vec![(
                "ignis_exporter_send_duration_seconds",
                labels.clone(),
                &BOUNDS[..],
                counts,
            )]
        };
        let nothing_dropped = figure("ignis_exporter_dropped_items", &[("signal", "logs")], 0);
        // 100 fast sends before the first sample, then 10 slow ones.
        history.sample(
            std::slice::from_ref(&nothing_dropped),
            &sends(vec![100, 0, 0, 0]),
            0.0,
        );
        history.sample(&[nothing_dropped], &sends(vec![100, 0, 10, 0]), 1.0);
        let json = history.to_json();
        let p50 = line(&json, "latency", "p50 ignis/traces");
        assert_eq!(p50[0], Some(0.005));
        // Over the window (the one second since the first sample): all slow.
        assert!(p50[1].unwrap() > 0.1 && p50[1].unwrap() < 1.0, "{p50:?}");
        let lost = json["charts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "lost")
            .unwrap();
        assert_eq!(lost["lines"], serde_json::json!({}));
    }
}

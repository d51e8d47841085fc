//! What one window of spans adds up to, per service: spans, errors, a
//! latency histogram and GenAI tokens per model. Bounded: the histogram
//! has fixed buckets, the services and models are capped by the caller.

use super::config::Measure;
use crate::proto::common::v1::any_value::Value;
use crate::proto::trace::v1::Span;
use crate::signal::walk::{attribute, string_attribute};
use std::collections::HashMap;

/// Latency buckets grow by 10 % from 10 µs: a percentile is known to
/// within 10 %, from 10 µs to over an hour, in 200 counters.
const FIRST_MS: f64 = 0.01;
const GROWTH: f64 = 1.1;
const BUCKETS: usize = 200;

#[derive(Default)]
pub struct ServiceWindow {
    pub spans: u64,
    pub errors: u64,
    latency: Vec<u32>,
    /// Input + output tokens, by model.
    pub tokens: HashMap<String, u64>,
}

impl ServiceWindow {
    /// Counts one span; `max_models` bounds the models kept.
    pub fn record(&mut self, span: &Span, max_models: usize) {
        self.spans += 1;
        let status = span.status.as_ref().map_or(0, |s| s.code);
        self.errors += u64::from(status == 2);
        let ms = span
            .end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano) as f64
            / 1e6;
        if self.latency.is_empty() {
            self.latency = vec![0; BUCKETS];
        }
        self.latency[bucket(ms)] += 1;
        let model = string_attribute(&span.attributes, "gen_ai.response.model")
            .or_else(|| string_attribute(&span.attributes, "gen_ai.request.model"));
        if let Some(model) = model {
            let tokens: u64 = ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"]
                .iter()
                .filter_map(|key| match attribute(&span.attributes, key)? {
                    Value::IntValue(n) => u64::try_from(*n).ok(),
                    Value::DoubleValue(n) if *n >= 0.0 => Some(*n as u64),
                    _ => None,
                })
                .sum();
            if self.tokens.contains_key(model) || self.tokens.len() < max_models {
                *self.tokens.entry(model.to_owned()).or_default() += tokens;
            }
        }
    }

    /// The window's figure for `measure` (`model` for GenAI tokens); None
    /// when the window has too few spans to say (`min_spans`).
    pub fn figure(
        &self,
        measure: Measure,
        model: Option<&str>,
        window_s: f64,
        min_spans: u64,
    ) -> Option<f64> {
        let enough = self.spans >= min_spans.max(1);
        match measure {
            Measure::RequestRate => Some(self.spans as f64 / window_s),
            Measure::GenAiTokens => {
                Some(model.map_or(0, |m| self.tokens.get(m).copied().unwrap_or(0)) as f64)
            }
            Measure::ErrorRate => enough.then(|| self.errors as f64 / self.spans as f64),
            Measure::LatencyP95Ms => enough.then(|| self.percentile(0.95)),
            Measure::LatencyP99Ms => enough.then(|| self.percentile(0.99)),
        }
    }

    /// The upper bound of the bucket holding the `q` quantile: at most 10 %
    /// above the true value, never below it.
    fn percentile(&self, q: f64) -> f64 {
        let total: u64 = self.latency.iter().map(|c| u64::from(*c)).sum();
        let rank = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, count) in self.latency.iter().enumerate() {
            seen += u64::from(*count);
            if seen >= rank {
                return upper(i);
            }
        }
        upper(BUCKETS - 1)
    }
}

fn bucket(ms: f64) -> usize {
    if ms <= FIRST_MS {
        return 0;
    }
    let i = ((ms / FIRST_MS).ln() / GROWTH.ln()).ceil() as usize;
    i.min(BUCKETS - 1)
}

fn upper(bucket: usize) -> f64 {
    FIRST_MS * GROWTH.powi(bucket as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::trace::v1::Status;

    fn span(ms: u64, error: bool) -> Span {
        Span {
            start_time_unix_nano: 0,
            end_time_unix_nano: ms * 1_000_000,
            status: Some(Status {
                code: if error { 2 } else { 1 },
                message: String::new(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn percentiles_are_within_ten_percent_above() {
        let mut window = ServiceWindow::default();
        // 1..=1000 ms: p95 is 950 ms, p99 990 ms.
        for ms in 1..=1000 {
            window.record(&span(ms, ms % 10 == 0), 10);
        }
        let p95 = window.figure(Measure::LatencyP95Ms, None, 60.0, 1).unwrap();
        let p99 = window.figure(Measure::LatencyP99Ms, None, 60.0, 1).unwrap();
        assert!((950.0..=1045.0).contains(&p95), "{p95}");
        assert!((990.0..=1089.0).contains(&p99), "{p99}");
        assert_eq!(window.figure(Measure::ErrorRate, None, 60.0, 1), Some(0.1));
        assert_eq!(
            window.figure(Measure::RequestRate, None, 10.0, 1),
            Some(100.0)
        );
        // Too few spans to judge error rate or latency; rate still counts.
        assert_eq!(window.figure(Measure::ErrorRate, None, 60.0, 5000), None);
        let empty = ServiceWindow::default();
        assert_eq!(empty.figure(Measure::RequestRate, None, 10.0, 1), Some(0.0));
        assert_eq!(empty.figure(Measure::LatencyP99Ms, None, 10.0, 1), None);
    }
}

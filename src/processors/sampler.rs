//! `probabilistic_sampler`: OpenTelemetry consistent probability sampling.
//!
//! A span is kept when its randomness R (the trace id's last 56 bits, or an
//! explicit `rv` in tracestate) is at least the threshold
//! T = (1 - p) · 2^56. Every agent computes the same R for a trace, so all
//! sidecars keep or drop it together. Kept spans carry `ot=th:<T>` in their
//! tracestate, so downstream knows their sampling probability. Logs with a
//! trace id follow their trace; logs without one are sampled at random.

use super::severity::Severity;
use super::Dropped;
use super::Processor;
use crate::config::component::{required, Context, Invalid};
use crate::config::de::DeError;
use crate::config::node::{Located, Node};
use crate::metrics::Registry;
use crate::signal::retain::Item;
use crate::signal::AnyRequest;
use crate::signal::Signal;
use rand::Rng;
use serde::Deserialize;
use std::sync::Arc;

/// `probabilistic_sampler`: keeps `sampling_percentage` of traces,
/// consistently by trace id (OpenTelemetry consistent probability sampling,
/// recorded in tracestate `ot=th:..`), so every agent keeps the same traces.
/// Logs with a trace id follow their trace; others are sampled at random.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplerConfig {
    pub sampling_percentage: f64,
    /// Always keep spans with error status and logs at or above `keep_severity`.
    #[serde(default)]
    pub keep_errors: bool,
    #[serde(default)]
    pub keep_severity: Option<Severity>,
}

const MAX: u64 = 1 << 56;

pub struct Sampler {
    threshold: u64,
    probability: f64,
    keep_errors: bool,
    keep_severity: Option<i32>,
    dropped: Dropped,
}

/// The 56-bit threshold as tracestate writes it: 14 hex digits, trailing
/// zeros dropped ("0" for keep-all).
pub fn threshold_hex(threshold: u64) -> String {
    let hex = format!("{threshold:014x}");
    let trimmed = hex.trim_end_matches('0');
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.into()
    }
}

fn parse_threshold(hex: &str) -> Option<u64> {
    if hex.is_empty() || hex.len() > 14 {
        return None;
    }
    u64::from_str_radix(&format!("{hex:0<14}"), 16).ok()
}

/// The `ot` entry's sub-keys of a W3C tracestate.
fn ot_fields(tracestate: &str) -> Vec<(&str, &str)> {
    tracestate
        .split(',')
        .filter_map(|e| e.trim().strip_prefix("ot="))
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.split_once(':'))
        .collect()
}

/// R: an explicit `rv`, else the trace id's last 7 bytes.
fn randomness(trace_id: &[u8], tracestate: &str) -> Option<u64> {
    if let Some((_, rv)) = ot_fields(tracestate).into_iter().find(|(k, _)| *k == "rv") {
        if rv.len() == 14 {
            return u64::from_str_radix(rv, 16).ok();
        }
    }
    let id: [u8; 16] = trace_id.try_into().ok()?;
    Some(u64::from_be_bytes(id[8..16].try_into().expect("8 bytes")) & (MAX - 1))
}

/// The tracestate with `ot=th:<threshold>` set (moved to the front, as W3C
/// asks of a modified entry); other `ot` sub-keys and vendors are kept.
fn with_threshold(tracestate: &str, threshold: u64) -> String {
    let mut others: Vec<&str> = Vec::new();
    let mut ot: Vec<String> = vec![format!("th:{}", threshold_hex(threshold))];
    for entry in tracestate
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        match entry.strip_prefix("ot=") {
            Some(value) => ot.extend(
                value
                    .split(';')
                    .filter(|kv| !kv.starts_with("th:"))
                    .map(str::to_owned),
            ),
            None => others.push(entry),
        }
    }
    let mut out = format!("ot={}", ot.join(";"));
    for entry in others {
        out.push(',');
        out.push_str(entry);
    }
    out
}

impl Sampler {
    pub fn new(config: &SamplerConfig, registry: &Registry, name: &str) -> Self {
        let p = (config.sampling_percentage / 100.0).clamp(0.0, 1.0);
        let dropped = Dropped::new(registry, name, "sampled");
        Sampler {
            threshold: ((1.0 - p) * MAX as f64).round() as u64,
            probability: p,
            keep_errors: config.keep_errors,
            keep_severity: config.keep_severity.map(|s| s.number()),
            dropped,
        }
    }

    pub fn apply<S: Signal>(&self, request: &mut S) {
        let dropped = request.retain_items(&mut |item| self.keeps(item));
        self.dropped.add(S::KIND, dropped);
    }

    fn keeps(&self, item: Item<'_>) -> bool {
        match item {
            Item::Span(_, span) => {
                let existing = ot_fields(&span.trace_state)
                    .into_iter()
                    .find(|(k, _)| *k == "th")
                    .and_then(|(_, v)| parse_threshold(v))
                    .unwrap_or(0);
                let threshold = self.threshold.max(existing);
                let kept = match randomness(&span.trace_id, &span.trace_state) {
                    Some(r) => r >= threshold,
                    None => rand::rng().random_bool(self.probability),
                };
                let error = span.status.as_ref().is_some_and(|s| s.code == 2);
                if kept {
                    span.trace_state = with_threshold(&span.trace_state, threshold);
                }
                kept || (self.keep_errors && error)
            }
            Item::Log(_, record) => {
                if self
                    .keep_severity
                    .is_some_and(|min| record.severity_number >= min)
                {
                    return true;
                }
                match randomness(&record.trace_id, "") {
                    Some(r) => r >= self.threshold,
                    None => rand::rng().random_bool(self.probability),
                }
            }
            Item::Metric(..) => true,
        }
    }
}

pub fn read(node: &Located<Node>, context: &Context) -> Result<Arc<dyn Processor>, DeError> {
    let config: SamplerConfig = required(node)?;
    if !(0.0..=100.0).contains(&config.sampling_percentage) {
        return Err(Invalid::at(
            "sampling_percentage",
            "sampling_percentage must be between 0 and 100",
        )
        .locate(node));
    }
    Ok(Arc::new(Sampler::new(
        &config,
        context.metrics,
        &context.name(),
    )))
}

impl Processor for Sampler {
    fn process(&self, request: AnyRequest<'_>) {
        match request {
            AnyRequest::Traces(r) => self.apply(r),
            AnyRequest::Metrics(r) => self.apply(r),
            AnyRequest::Logs(r) => self.apply(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_follow_the_specification() {
        // 25 % → T = 0.75 · 2^56 = 0xc0000000000000 → "c".
        assert_eq!(threshold_hex(((0.75) * MAX as f64) as u64), "c");
        assert_eq!(threshold_hex(0), "0");
        assert_eq!(threshold_hex(MAX / 2), "8");
        assert_eq!(parse_threshold("c"), Some(0xc0_0000_0000_0000));
        assert_eq!(
            with_threshold("vendor=x,ot=rv:abcdefabcdefab;th:8", 0xc0_0000_0000_0000),
            "ot=th:c;rv:abcdefabcdefab,vendor=x"
        );
        let id = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0, 0, 1];
        assert_eq!(randomness(&id, ""), Some(0xff_0000_0000_0001));
        assert_eq!(randomness(&id, "ot=rv:00000000000001"), Some(1));
        assert_eq!(randomness(&[1, 2], ""), None);
    }
}

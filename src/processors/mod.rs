//! Processors: plain functions over a decoded request, chained per pipeline
//! (DESIGN §1). They hold no data between calls.

pub mod attributes;
pub mod filter;
pub mod on_wire;
pub mod rate_limit;
pub mod redaction;
pub mod resource_detection;
pub mod retain;
pub mod sampler;
pub mod span_metrics;
pub mod walk;

use crate::admin::metrics::Counter;
use crate::admin::metrics::Registry;
use crate::config::ProcessorConfig;
use crate::config::SignalKind;
use crate::signal::Signal;

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

pub enum Processor {
    ResourceDetection(resource_detection::ResourceDetection),
    Attributes(attributes::Attributes),
    Redaction(Box<redaction::Redaction>),
    Filter(Box<filter::Filter>),
    Sampler(sampler::Sampler),
    RateLimit(rate_limit::RateLimiter),
    SpanMetrics(Box<span_metrics::SpanMetrics>),
}

impl Processor {
    /// Builds a processor; `None` for ones that act elsewhere (the memory
    /// limiter works in the receivers).
    pub fn build(
        name: &str,
        config: &ProcessorConfig,
        registry: &Registry,
    ) -> Result<Option<Processor>, String> {
        Ok(Some(match config {
            ProcessorConfig::MemoryLimiter(_) => return Ok(None),
            ProcessorConfig::ResourceDetection(c) => Processor::ResourceDetection(
                resource_detection::ResourceDetection::detect(c, &|k| std::env::var(k).ok()),
            ),
            ProcessorConfig::Resource(c) => {
                Processor::Attributes(attributes::Attributes::new(c, true)?)
            }
            ProcessorConfig::Attributes(c) => {
                Processor::Attributes(attributes::Attributes::new(c, false)?)
            }
            ProcessorConfig::Redaction(c) => {
                Processor::Redaction(Box::new(redaction::Redaction::new(c, registry, name)?))
            }
            ProcessorConfig::Filter(c) => {
                Processor::Filter(Box::new(filter::Filter::new(c, registry, name)?))
            }
            ProcessorConfig::ProbabilisticSampler(c) => {
                Processor::Sampler(sampler::Sampler::new(c, registry, name))
            }
            ProcessorConfig::RateLimiting(c) => {
                Processor::RateLimit(rate_limit::RateLimiter::new(c, registry, name))
            }
            ProcessorConfig::SpanMetrics(c) => {
                Processor::SpanMetrics(Box::new(span_metrics::SpanMetrics::new(c)))
            }
        }))
    }

    pub fn apply<S: Signal>(&self, request: &mut S) {
        match self {
            Processor::ResourceDetection(p) => p.apply(request),
            Processor::Attributes(p) => p.apply(request),
            Processor::Redaction(p) => p.apply(request),
            Processor::Filter(p) => p.apply(request),
            Processor::Sampler(p) => p.apply(request),
            Processor::RateLimit(p) => p.apply(request),
            Processor::SpanMetrics(p) => {
                if let Some(traces) = request.as_traces() {
                    p.record(traces);
                }
            }
        }
    }
}

//! `rate_limiting`: at most `spans_per_second` spans per service (by the
//! resource's `service.name`), with a burst; the rest is counted as
//! `sampled`. A token bucket per service, refilled continuously.

use super::Dropped;
use super::Processor;
use crate::config::component::{required, Context, Invalid};
use crate::config::de::DeError;
use crate::config::node::{Located, Node};
use crate::metrics::Registry;
use crate::signal::retain::Item;
use crate::signal::walk::string_attribute;
use crate::signal::AnyRequest;
use crate::signal::Signal;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Instant;

/// `rate_limiting`: at most `spans_per_second` per service, with a burst.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub spans_per_second: f64,
    /// Spans a quiet service may send at once (default: one second's worth).
    #[serde(default)]
    pub burst: Option<f64>,
    #[serde(default)]
    pub keep_errors: bool,
}

/// Services tracked at most; past this, new services share one bucket.
const MAX_SERVICES: usize = 1000;

pub struct RateLimiter {
    rate: f64,
    burst: f64,
    keep_errors: bool,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
    dropped: Dropped,
}

impl RateLimiter {
    pub fn new(config: &RateLimitConfig, registry: &Registry, name: &str) -> Self {
        RateLimiter {
            rate: config.spans_per_second,
            burst: config.burst.unwrap_or(config.spans_per_second).max(1.0),
            keep_errors: config.keep_errors,
            buckets: Mutex::new(HashMap::new()),
            dropped: Dropped::new(registry, name, "sampled"),
        }
    }

    pub fn apply<S: Signal>(&self, request: &mut S) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let dropped = request.retain_items(&mut |item| {
            let Item::Span(resource, span) = item else {
                return true;
            };
            if self.keep_errors && span.status.as_ref().is_some_and(|s| s.code == 2) {
                return true;
            }
            let service = string_attribute(resource, "service.name").unwrap_or("");
            let key = if buckets.len() < MAX_SERVICES || buckets.contains_key(service) {
                service
            } else {
                "<other>"
            };
            let (tokens, last) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
            *tokens =
                (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
            *last = now;
            if *tokens >= 1.0 {
                *tokens -= 1.0;
                true
            } else {
                false
            }
        });
        self.dropped.add(S::KIND, dropped);
    }
}

pub fn read(node: &Located<Node>, context: &Context) -> Result<Arc<dyn Processor>, DeError> {
    let config: RateLimitConfig = required(node)?;
    if config.spans_per_second <= 0.0 || config.burst.is_some_and(|b| b < 1.0) {
        return Err(
            Invalid::new("spans_per_second must be more than 0 and burst at least 1").locate(node),
        );
    }
    Ok(Arc::new(RateLimiter::new(
        &config,
        context.metrics,
        &context.name(),
    )))
}

impl Processor for RateLimiter {
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
    use crate::proto::common::v1::any_value::Value;
    use crate::proto::common::v1::{AnyValue, KeyValue};
    use crate::proto::resource::v1::Resource;
    use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use crate::signal::Traces;

    fn request(service: &str, spans: usize) -> Traces {
        Traces {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: Some(AnyValue {
                            value: Some(Value::StringValue(service.into())),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span::default(); spans],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn each_service_gets_its_burst_then_its_rate() {
        let config = RateLimitConfig {
            spans_per_second: 100.0,
            burst: Some(50.0),
            keep_errors: false,
        };
        let registry = Registry::default();
        let limiter = RateLimiter::new(&config, &registry, "rl");
        let mut a = request("checkout", 80);
        limiter.apply(&mut a);
        assert_eq!(a.item_count(), 50, "the burst");
        let mut b = request("payments", 10);
        limiter.apply(&mut b);
        assert_eq!(b.item_count(), 10, "another service has its own bucket");
        let paused = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut c = request("checkout", 80);
        limiter.apply(&mut c);
        // About 100/s for the pause; a slow machine may sleep longer.
        let most = (paused.elapsed().as_secs_f64() * 100.0).ceil() as usize + 1;
        assert!(
            (9..=most).contains(&c.item_count()),
            "{} not in 9..={most}",
            c.item_count()
        );
        assert_eq!(
            registry.total("ignis_processor_dropped_items", &[]) as usize,
            30 + 80 - c.item_count()
        );
    }
}

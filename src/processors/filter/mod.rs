//! `filter`: drops spans, log records and metrics matching a rule, counted
//! with reason `filtered`. Typical rules: health-check spans, debug logs.

pub mod config;

use crate::config::component::{settings, Context, Invalid};
use crate::config::de::DeError;
use crate::config::node::{Located, Node};
use crate::metrics::Registry;
use crate::processors::Dropped;
use crate::processors::Processor;
use crate::proto::common::v1::any_value::Value;
use crate::proto::common::v1::KeyValue;
use crate::signal::retain::Item;
use crate::signal::walk::attribute;
use crate::signal::AnyRequest;
use crate::signal::Signal;
pub use config::FilterConfig;
use config::{AttributeCondition, SpanKindName, StatusName};
use regex::Regex;
use std::sync::Arc;

pub struct Condition {
    key: String,
    value: Option<serde_json::Value>,
    regex: Option<Regex>,
    gt: Option<f64>,
    lt: Option<f64>,
}

impl Condition {
    pub fn new(c: &AttributeCondition) -> Result<Self, Invalid> {
        Ok(Condition {
            key: c.key.clone(),
            value: c.value.clone(),
            regex: regex(&c.regex)?,
            gt: c.gt,
            lt: c.lt,
        })
    }

    pub fn holds(&self, attributes: &[KeyValue]) -> bool {
        let Some(value) = attribute(attributes, &self.key) else {
            return false;
        };
        let number = match value {
            Value::IntValue(i) => Some(*i as f64),
            Value::DoubleValue(d) => Some(*d),
            _ => None,
        };
        let text = match value {
            Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        };
        let equal = self.value.as_ref().is_none_or(|want| match (want, value) {
            (serde_json::Value::String(w), Value::StringValue(s)) => w == s,
            (serde_json::Value::Bool(w), Value::BoolValue(b)) => w == b,
            (serde_json::Value::Number(w), _) => number.is_some_and(|n| w.as_f64() == Some(n)),
            _ => false,
        });
        equal
            && self
                .regex
                .as_ref()
                .is_none_or(|r| text.is_some_and(|t| r.is_match(t)))
            && self.gt.is_none_or(|gt| number.is_some_and(|n| n > gt))
            && self.lt.is_none_or(|lt| number.is_some_and(|n| n < lt))
    }
}

fn all(conditions: &[Condition], attributes: &[KeyValue]) -> bool {
    conditions.iter().all(|c| c.holds(attributes))
}

fn compile(conditions: &[AttributeCondition]) -> Result<Vec<Condition>, Invalid> {
    conditions.iter().map(Condition::new).collect()
}

fn regex(pattern: &Option<String>) -> Result<Option<Regex>, Invalid> {
    pattern
        .as_deref()
        .map(|p| {
            Regex::new(p).map_err(|e| Invalid::new(format!("filter: invalid regex `{p}`: {e}")))
        })
        .transpose()
}

struct SpanRule {
    name: Option<String>,
    name_regex: Option<Regex>,
    kind: Option<i32>,
    status: Option<i32>,
    attributes: Vec<Condition>,
    resource: Vec<Condition>,
}

struct EventRule {
    name: Option<String>,
    name_regex: Option<Regex>,
    attributes: Vec<Condition>,
}

struct PointRule {
    metric_name: Option<String>,
    metric_name_regex: Option<Regex>,
    attributes: Vec<Condition>,
}

fn name_matches(name: &str, exact: &Option<String>, pattern: &Option<Regex>) -> bool {
    exact.as_ref().is_none_or(|n| n == name) && pattern.as_ref().is_none_or(|re| re.is_match(name))
}

struct LogRule {
    below: Option<i32>,
    body: Option<Regex>,
    attributes: Vec<Condition>,
    resource: Vec<Condition>,
}

struct MetricRule {
    name: Option<String>,
    name_regex: Option<Regex>,
    resource: Vec<Condition>,
}

pub struct Filter {
    spans: Vec<SpanRule>,
    events: Vec<EventRule>,
    points: Vec<PointRule>,
    logs: Vec<LogRule>,
    metrics: Vec<MetricRule>,
    keep_errors: bool,
    keep_severity: Option<i32>,
    dropped: Dropped,
    dropped_events: crate::metrics::Counter,
}

impl Filter {
    pub fn new(config: &FilterConfig, registry: &Registry, name: &str) -> Result<Self, Invalid> {
        let spans = config
            .spans
            .iter()
            .map(|r| {
                Ok(SpanRule {
                    name: r.name.clone(),
                    name_regex: regex(&r.name_regex)?,
                    kind: r.kind.map(|k| match k {
                        SpanKindName::Internal => 1,
                        SpanKindName::Server => 2,
                        SpanKindName::Client => 3,
                        SpanKindName::Producer => 4,
                        SpanKindName::Consumer => 5,
                    }),
                    status: r.status.map(|s| match s {
                        StatusName::Unset => 0,
                        StatusName::Ok => 1,
                        StatusName::Error => 2,
                    }),
                    attributes: compile(&r.attributes)?,
                    resource: compile(&r.resource_attributes)?,
                })
            })
            .collect::<Result<_, Invalid>>()?;
        let logs = config
            .logs
            .iter()
            .map(|r| {
                Ok(LogRule {
                    below: r.severity_below.map(|s| s.number()),
                    body: regex(&r.body_regex)?,
                    attributes: compile(&r.attributes)?,
                    resource: compile(&r.resource_attributes)?,
                })
            })
            .collect::<Result<_, Invalid>>()?;
        let metrics = config
            .metrics
            .iter()
            .map(|r| {
                Ok(MetricRule {
                    name: r.name.clone(),
                    name_regex: regex(&r.name_regex)?,
                    resource: compile(&r.resource_attributes)?,
                })
            })
            .collect::<Result<_, Invalid>>()?;
        let events = config
            .span_events
            .iter()
            .map(|r| {
                Ok(EventRule {
                    name: r.name.clone(),
                    name_regex: regex(&r.name_regex)?,
                    attributes: compile(&r.attributes)?,
                })
            })
            .collect::<Result<_, Invalid>>()?;
        let points = config
            .data_points
            .iter()
            .map(|r| {
                Ok(PointRule {
                    metric_name: r.metric_name.clone(),
                    metric_name_regex: regex(&r.metric_name_regex)?,
                    attributes: compile(&r.attributes)?,
                })
            })
            .collect::<Result<_, Invalid>>()?;
        let dropped_events = registry.counter(
            "ignis_processor_dropped_span_events",
            &[("processor", name), ("reason", "filtered")],
        );
        let dropped = Dropped::new(registry, name, "filtered");
        Ok(Filter {
            spans,
            events,
            points,
            dropped_events,
            logs,
            metrics,
            keep_errors: config.keep_errors,
            keep_severity: config.keep_severity.map(|s| s.number()),
            dropped,
        })
    }

    pub fn apply<S: Signal>(&self, request: &mut S) {
        let mut points = 0;
        let dropped = request.retain_items(&mut |item| match item {
            Item::Span(resource, span) => {
                if !self.events.is_empty() {
                    let before = span.events.len();
                    span.events.retain(|e| {
                        !self.events.iter().any(|r| {
                            name_matches(&e.name, &r.name, &r.name_regex)
                                && all(&r.attributes, &e.attributes)
                        })
                    });
                    self.dropped_events.add((before - span.events.len()) as u64);
                }
                !self.drops(Item::Span(resource, span))
            }
            Item::Metric(resource, metric) => {
                if !self.points.is_empty() {
                    let rules: Vec<&PointRule> = self
                        .points
                        .iter()
                        .filter(|r| {
                            name_matches(&metric.name, &r.metric_name, &r.metric_name_regex)
                        })
                        .collect();
                    if !rules.is_empty() {
                        points += retain_points(metric, |attrs| {
                            !rules.iter().any(|r| all(&r.attributes, attrs))
                        });
                        if <crate::signal::Metrics as Signal>::weight(metric) == 0 {
                            return false;
                        }
                    }
                }
                !self.drops(Item::Metric(resource, metric))
            }
            item => !self.drops(item),
        });
        self.dropped.add(S::KIND, dropped + points);
    }

    fn drops(&self, item: Item<'_>) -> bool {
        match item {
            Item::Span(resource, span) => {
                let error = span.status.as_ref().is_some_and(|s| s.code == 2);
                if self.keep_errors && error {
                    return false;
                }
                self.spans.iter().any(|r| {
                    r.name.as_ref().is_none_or(|n| *n == span.name)
                        && r.name_regex
                            .as_ref()
                            .is_none_or(|re| re.is_match(&span.name))
                        && r.kind.is_none_or(|k| k == span.kind)
                        && r.status
                            .is_none_or(|s| s == span.status.as_ref().map_or(0, |st| st.code))
                        && all(&r.attributes, &span.attributes)
                        && all(&r.resource, resource)
                })
            }
            Item::Log(resource, record) => {
                if self
                    .keep_severity
                    .is_some_and(|min| record.severity_number >= min)
                {
                    return false;
                }
                let body = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
                    Some(Value::StringValue(s)) => s.as_str(),
                    _ => "",
                };
                self.logs.iter().any(|r| {
                    r.below.is_none_or(|below| record.severity_number < below)
                        && r.body.as_ref().is_none_or(|re| re.is_match(body))
                        && all(&r.attributes, &record.attributes)
                        && all(&r.resource, resource)
                })
            }
            Item::Metric(resource, metric) => self.metrics.iter().any(|r| {
                r.name.as_ref().is_none_or(|n| *n == metric.name)
                    && r.name_regex
                        .as_ref()
                        .is_none_or(|re| re.is_match(&metric.name))
                    && all(&r.resource, resource)
            }),
        }
    }
}

/// Keeps a metric's data points whose attributes `keep` accepts; returns how
/// many went.
fn retain_points(
    metric: &mut crate::proto::metrics::v1::Metric,
    keep: impl Fn(&[KeyValue]) -> bool,
) -> usize {
    use crate::proto::metrics::v1::metric::Data;
    macro_rules! retain {
        ($points:expr) => {{
            let before = $points.len();
            $points.retain(|p| keep(&p.attributes));
            before - $points.len()
        }};
    }
    match &mut metric.data {
        Some(Data::Gauge(g)) => retain!(g.data_points),
        Some(Data::Sum(s)) => retain!(s.data_points),
        Some(Data::Histogram(h)) => retain!(h.data_points),
        Some(Data::ExponentialHistogram(h)) => retain!(h.data_points),
        Some(Data::Summary(s)) => retain!(s.data_points),
        None => 0,
    }
}

pub fn read(node: &Located<Node>, context: &Context) -> Result<Arc<dyn Processor>, DeError> {
    let config: FilterConfig = settings(node)?;
    let filter =
        Filter::new(&config, context.metrics, &context.name()).map_err(|e| e.locate(node))?;
    Ok(Arc::new(filter))
}

impl Processor for Filter {
    fn process(&self, request: AnyRequest<'_>) {
        match request {
            AnyRequest::Traces(r) => self.apply(r),
            AnyRequest::Metrics(r) => self.apply(r),
            AnyRequest::Logs(r) => self.apply(r),
        }
    }
}

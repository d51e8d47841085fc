//! `span_metrics`: derived signals operators asked for. From the spans that
//! pass through, request count, error count and a duration histogram per
//! service.name, span name, kind and status code; and from GenAI spans
//! the GenAI client metrics of the OpenTelemetry semantic conventions
//! (v1.37: `gen_ai.client.token.usage` and `gen_ai.client.operation.duration`,
//! with their bucket boundaries and attributes; `gen_ai.system`, the older
//! name of `gen_ai.provider.name`, is read too).
//! A connector: the exporter of traces pipelines, the receiver of metrics
//! pipelines, into which it emits cumulative OTLP metrics every `interval`. Series are capped at `max_series`; the rest is counted in an
//! overflow series (`otel.metric.overflow: true`).

use super::{Connector, Derived};
use crate::config::component::{settings, Context, Invalid};
use crate::config::de::DeError;
use crate::config::node::{Located, Node};
use crate::config::units::Dur;
use crate::proto::common::v1::any_value::Value;
use crate::proto::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use crate::proto::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use crate::proto::resource::v1::Resource;
use crate::proto::trace::v1::Span;
use crate::signal::walk::{attribute, string_attribute};
use crate::signal::{AnyRequest, Metrics, SignalKind, Traces};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

/// `span_metrics`: calls, errors and a duration histogram per service,
/// span name, kind and status; GenAI token usage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanMetricsConfig {
    pub interval: Dur,
    pub histogram_buckets_ms: Vec<f64>,
    /// Series kept; more are counted in one overflow series.
    pub max_series: usize,
    /// The GenAI client metrics from spans with `gen_ai.*` attributes.
    pub gen_ai: bool,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        SpanMetricsConfig {
            interval: Dur(Duration::from_secs(15)),
            histogram_buckets_ms: vec![
                2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
            ],
            max_series: 1000,
            gen_ai: true,
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    service: String,
    name: String,
    kind: i32,
    status: i32,
}

#[derive(Default)]
struct Series {
    calls: u64,
    errors: u64,
    buckets: Vec<u64>,
    sum_ms: f64,
}

/// One GenAI series: the semantic conventions' attributes (and, for token
/// usage, the token type).
#[derive(Clone, PartialEq, Eq, Hash)]
struct GenAiKey {
    service: String,
    operation: String,
    provider: String,
    request_model: String,
    response_model: String,
    error_type: String,
    token_type: &'static str,
}

/// `gen_ai.client.token.usage` bucket boundaries (semantic conventions).
const TOKEN_BOUNDS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// `gen_ai.client.operation.duration` bucket boundaries, in seconds.
const DURATION_BOUNDS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// A cumulative explicit-bucket histogram.
#[derive(Clone, Default)]
struct Buckets {
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Buckets {
    fn record(&mut self, bounds: &[f64], value: f64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; bounds.len() + 1];
        }
        let bucket = bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(bounds.len());
        self.buckets[bucket] += 1;
        self.count += 1;
        self.sum += value;
    }
}

pub struct SpanMetrics {
    /// How often its metrics are sent.
    interval: Duration,
    bounds_ms: Vec<f64>,
    max_series: usize,
    gen_ai: bool,
    start_unix_nano: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    series: HashMap<SeriesKey, Series>,
    /// By key with `token_type` "input" / "output".
    tokens: HashMap<GenAiKey, Buckets>,
    /// By key with an empty `token_type`.
    durations: HashMap<GenAiKey, Buckets>,
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn int_attr(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attribute(attributes, key)? {
        Value::IntValue(i) => Some(*i),
        Value::DoubleValue(d) => Some(*d as i64),
        _ => None,
    }
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

const OVERFLOW: &str = "otel.metric.overflow";

/// A GenAI series' attributes, the empty ones left out.
fn gen_ai_attributes(key: &GenAiKey) -> Vec<KeyValue> {
    [
        ("gen_ai.operation.name", key.operation.as_str()),
        ("gen_ai.provider.name", key.provider.as_str()),
        ("gen_ai.request.model", key.request_model.as_str()),
        ("gen_ai.response.model", key.response_model.as_str()),
        ("error.type", key.error_type.as_str()),
        ("gen_ai.token.type", key.token_type),
    ]
    .into_iter()
    .filter(|(_, value)| !value.is_empty())
    .map(|(name, value)| kv(name, Value::StringValue(value.to_owned())))
    .collect()
}

impl SpanMetrics {
    pub fn new(config: &SpanMetricsConfig) -> Self {
        SpanMetrics {
            interval: config.interval.0,
            bounds_ms: config.histogram_buckets_ms.clone(),
            max_series: config.max_series,
            gen_ai: config.gen_ai,
            start_unix_nano: now_nanos(),
            state: Mutex::new(State::default()),
        }
    }

    /// Counts the spans of a request; the request passes unchanged.
    pub fn record(&self, traces: &Traces) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for rs in &traces.resource_spans {
            let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes);
            let service = string_attribute(resource, "service.name").unwrap_or("unknown_service");
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                self.record_span(&mut state, service, span);
            }
        }
    }

    fn record_span(&self, state: &mut State, service: &str, span: &Span) {
        let status = span.status.as_ref().map_or(0, |s| s.code);
        let mut key = SeriesKey {
            service: service.to_owned(),
            name: span.name.clone(),
            kind: span.kind,
            status,
        };
        if !state.series.contains_key(&key) && state.series.len() >= self.max_series {
            key = SeriesKey {
                service: service.to_owned(),
                name: OVERFLOW.into(),
                kind: 0,
                status: 0,
            };
        }
        let series = state.series.entry(key).or_insert_with(|| Series {
            buckets: vec![0; self.bounds_ms.len() + 1],
            ..Series::default()
        });
        let duration_ms = span
            .end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano) as f64
            / 1e6;
        series.calls += 1;
        series.errors += u64::from(status == 2);
        series.sum_ms += duration_ms;
        let bucket = self
            .bounds_ms
            .iter()
            .position(|b| duration_ms <= *b)
            .unwrap_or(self.bounds_ms.len());
        series.buckets[bucket] += 1;
        if self.gen_ai {
            self.record_gen_ai(state, service, span, status);
        }
    }

    /// The GenAI client metrics of a span that has `gen_ai.*` attributes.
    fn record_gen_ai(&self, state: &mut State, service: &str, span: &Span, status: i32) {
        let text = |key: &str| string_attribute(&span.attributes, key).unwrap_or_default();
        let provider = string_attribute(&span.attributes, "gen_ai.provider.name")
            .or_else(|| string_attribute(&span.attributes, "gen_ai.system"));
        let Some(provider) = provider else {
            return;
        };
        let error_type = match string_attribute(&span.attributes, "error.type") {
            Some(kind) => kind,
            None if status == 2 => "_OTHER",
            None => "",
        };
        let key = GenAiKey {
            service: service.to_owned(),
            operation: text("gen_ai.operation.name").to_owned(),
            provider: provider.to_owned(),
            request_model: text("gen_ai.request.model").to_owned(),
            response_model: text("gen_ai.response.model").to_owned(),
            error_type: error_type.to_owned(),
            token_type: "",
        };
        let seconds = span
            .end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano) as f64
            / 1e9;
        let room = |map: &HashMap<GenAiKey, Buckets>, key: &GenAiKey| {
            map.contains_key(key) || map.len() < self.max_series
        };
        if room(&state.durations, &key) {
            state
                .durations
                .entry(key.clone())
                .or_default()
                .record(&DURATION_BOUNDS, seconds);
        }
        // Token usage is recorded for successful operations only.
        if !error_type.is_empty() {
            return;
        }
        for (token_type, attribute) in [
            ("input", "gen_ai.usage.input_tokens"),
            ("output", "gen_ai.usage.output_tokens"),
        ] {
            let Some(tokens) = int_attr(&span.attributes, attribute) else {
                continue;
            };
            let key = GenAiKey {
                token_type,
                ..key.clone()
            };
            if room(&state.tokens, &key) {
                state
                    .tokens
                    .entry(key)
                    .or_default()
                    .record(&TOKEN_BOUNDS, tokens as f64);
            }
        }
    }

    /// The cumulative metrics so far, one resource per service; `None` when
    /// no span has been seen.
    pub fn snapshot(&self) -> Option<Metrics> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.series.is_empty() && state.durations.is_empty() {
            return None;
        }
        let now = now_nanos();
        let mut by_service: HashMap<&str, Vec<Metric>> = HashMap::new();
        let cumulative = AggregationTemporality::Cumulative as i32;
        let attributes = |key: &SeriesKey| {
            if key.name == OVERFLOW {
                return vec![kv(OVERFLOW, Value::BoolValue(true))];
            }
            vec![
                kv("span.name", Value::StringValue(key.name.clone())),
                kv("span.kind", Value::IntValue(key.kind as i64)),
                kv("status.code", Value::IntValue(key.status as i64)),
            ]
        };
        let point = |key: &SeriesKey, value: u64| NumberDataPoint {
            attributes: attributes(key),
            start_time_unix_nano: self.start_unix_nano,
            time_unix_nano: now,
            value: Some(number_data_point::Value::AsInt(value as i64)),
            ..Default::default()
        };
        let sum = |name: &str, unit: &str, points: Vec<NumberDataPoint>| Metric {
            name: name.into(),
            unit: unit.into(),
            data: Some(Data::Sum(Sum {
                data_points: points,
                aggregation_temporality: cumulative,
                is_monotonic: true,
            })),
            ..Default::default()
        };
        let mut services: Vec<&str> = state.series.keys().map(|k| k.service.as_str()).collect();
        services.extend(state.durations.keys().map(|k| k.service.as_str()));
        services.sort_unstable();
        services.dedup();
        for service in services {
            let series: Vec<(&SeriesKey, &Series)> = state
                .series
                .iter()
                .filter(|(k, _)| k.service == service)
                .collect();
            let metrics = by_service.entry(service).or_default();
            if !series.is_empty() {
                metrics.push(sum(
                    "traces.span.metrics.calls",
                    "{call}",
                    series.iter().map(|(k, s)| point(k, s.calls)).collect(),
                ));
                metrics.push(sum(
                    "traces.span.metrics.errors",
                    "{call}",
                    series.iter().map(|(k, s)| point(k, s.errors)).collect(),
                ));
                metrics.push(Metric {
                    name: "traces.span.metrics.duration".into(),
                    unit: "ms".into(),
                    data: Some(Data::Histogram(Histogram {
                        aggregation_temporality: cumulative,
                        data_points: series
                            .iter()
                            .map(|(k, s)| HistogramDataPoint {
                                attributes: attributes(k),
                                start_time_unix_nano: self.start_unix_nano,
                                time_unix_nano: now,
                                count: s.calls,
                                sum: Some(s.sum_ms),
                                bucket_counts: s.buckets.clone(),
                                explicit_bounds: self.bounds_ms.clone(),
                                ..Default::default()
                            })
                            .collect(),
                    })),
                    ..Default::default()
                });
            }
            let gen_ai = |map: &HashMap<GenAiKey, Buckets>, bounds: &[f64]| {
                map.iter()
                    .filter(|(k, _)| k.service == service)
                    .map(|(k, h)| HistogramDataPoint {
                        attributes: gen_ai_attributes(k),
                        start_time_unix_nano: self.start_unix_nano,
                        time_unix_nano: now,
                        count: h.count,
                        sum: Some(h.sum),
                        bucket_counts: h.buckets.clone(),
                        explicit_bounds: bounds.to_vec(),
                        ..Default::default()
                    })
                    .collect::<Vec<_>>()
            };
            for (name, unit, points) in [
                (
                    "gen_ai.client.token.usage",
                    "{token}",
                    gen_ai(&state.tokens, &TOKEN_BOUNDS),
                ),
                (
                    "gen_ai.client.operation.duration",
                    "s",
                    gen_ai(&state.durations, &DURATION_BOUNDS),
                ),
            ] {
                if !points.is_empty() {
                    metrics.push(Metric {
                        name: name.into(),
                        unit: unit.into(),
                        data: Some(Data::Histogram(Histogram {
                            aggregation_temporality: cumulative,
                            data_points: points,
                        })),
                        ..Default::default()
                    });
                }
            }
        }
        let mut out = Metrics::default();
        for (service, metrics) in by_service {
            out.resource_metrics.push(ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", Value::StringValue(service.into()))],
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "ignis-agent/span_metrics".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        Some(out)
    }
}

pub fn read(node: &Located<Node>, _: &Context) -> Result<Arc<dyn Connector>, DeError> {
    let config: SpanMetricsConfig = settings(node)?;
    let sorted = config.histogram_buckets_ms.windows(2).all(|w| w[0] < w[1]);
    if config.interval.0.is_zero() || config.max_series == 0 || !sorted {
        return Err(Invalid::new(
            "span_metrics needs interval > 0, max_series > 0 and increasing histogram_buckets_ms",
        )
        .locate(node));
    }
    Ok(Arc::new(SpanMetrics::new(&config)))
}

impl Connector for SpanMetrics {
    fn input(&self) -> SignalKind {
        SignalKind::Traces
    }

    fn output(&self) -> SignalKind {
        SignalKind::Metrics
    }

    fn consume(&self, request: AnyRequest<'_>) {
        if let AnyRequest::Traces(traces) = request {
            self.record(traces);
        }
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn emit(&self) -> Option<Derived> {
        self.snapshot().map(Derived::Metrics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Status};

    fn span(name: &str, ms: u64, status: i32, attributes: Vec<KeyValue>) -> Span {
        Span {
            name: name.into(),
            kind: 2,
            start_time_unix_nano: 1_000_000_000,
            end_time_unix_nano: 1_000_000_000 + ms * 1_000_000,
            status: Some(Status {
                code: status,
                message: String::new(),
            }),
            attributes,
            ..Default::default()
        }
    }

    fn traces(service: &str, spans: Vec<Span>) -> Traces {
        Traces {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", Value::StringValue(service.into()))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn find<'a>(m: &'a Metrics, name: &str) -> &'a Metric {
        m.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .find(|x| x.name == name)
            .unwrap()
    }

    #[test]
    fn counts_errors_durations_and_tokens() {
        let config = SpanMetricsConfig {
            histogram_buckets_ms: vec![10.0, 100.0],
            max_series: 3,
            ..SpanMetricsConfig::default()
        };
        let sm = SpanMetrics::new(&config);
        let tokens = |model: &str, input: i64, output: i64| {
            vec![
                // The older name of gen_ai.provider.name.
                kv("gen_ai.system", Value::StringValue("openai".into())),
                kv("gen_ai.operation.name", Value::StringValue("chat".into())),
                kv("gen_ai.request.model", Value::StringValue(model.into())),
                kv("gen_ai.usage.input_tokens", Value::IntValue(input)),
                kv("gen_ai.usage.output_tokens", Value::IntValue(output)),
            ]
        };
        sm.record(&traces(
            "chat",
            vec![
                span("GET /a", 5, 0, vec![]),
                span("GET /a", 50, 0, vec![]),
                span("GET /a", 500, 0, vec![]),
                span("chat gpt-4o", 1200, 1, tokens("gpt-4o", 100, 20)),
                span("chat gpt-4o", 800, 1, tokens("gpt-4o", 50, 10)),
                span("chat gpt-4o failed", 30, 2, tokens("gpt-4o", 7, 0)),
                span("GET /b", 1, 0, vec![]), // a third series: over max_series
            ],
        ));
        let m = sm.snapshot().unwrap();
        let Some(Data::Sum(calls)) = &find(&m, "traces.span.metrics.calls").data else {
            panic!()
        };
        let value = |p: &NumberDataPoint| match p.value {
            Some(number_data_point::Value::AsInt(v)) => v,
            _ => panic!(),
        };
        let by_name = |points: &[NumberDataPoint], name: &str| {
            points
                .iter()
                .find(|p| {
                    string_attribute(&p.attributes, "span.name") == Some(name)
                        || (name == OVERFLOW && p.attributes[0].key == OVERFLOW)
                })
                .map(value)
        };
        assert_eq!(by_name(&calls.data_points, "GET /a"), Some(3));
        assert_eq!(by_name(&calls.data_points, "chat gpt-4o"), Some(2));
        assert_eq!(by_name(&calls.data_points, OVERFLOW), Some(1));
        let Some(Data::Sum(errors)) = &find(&m, "traces.span.metrics.errors").data else {
            panic!()
        };
        assert_eq!(by_name(&errors.data_points, "chat gpt-4o"), Some(0));
        assert_eq!(by_name(&errors.data_points, "chat gpt-4o failed"), Some(1));
        assert_eq!(by_name(&errors.data_points, "GET /a"), Some(0));
        let Some(Data::Histogram(h)) = &find(&m, "traces.span.metrics.duration").data else {
            panic!()
        };
        let a = h
            .data_points
            .iter()
            .find(|p| string_attribute(&p.attributes, "span.name") == Some("GET /a"))
            .unwrap();
        assert_eq!(a.bucket_counts, vec![1, 1, 1]);
        assert_eq!(a.count, 3);
        assert_eq!(a.sum, Some(555.0));
        let Some(Data::Histogram(tokens)) = &find(&m, "gen_ai.client.token.usage").data else {
            panic!()
        };
        assert_eq!(find(&m, "gen_ai.client.token.usage").unit, "{token}");
        let usage = |kind: &str| {
            tokens
                .data_points
                .iter()
                .find(|p| string_attribute(&p.attributes, "gen_ai.token.type") == Some(kind))
                .unwrap()
        };
        // The failed call's tokens are not usage.
        assert_eq!((usage("input").count, usage("input").sum), (2, Some(150.0)));
        assert_eq!(
            (usage("output").count, usage("output").sum),
            (2, Some(30.0))
        );
        assert_eq!(usage("input").explicit_bounds, TOKEN_BOUNDS.to_vec());
        let input = &usage("input").attributes;
        assert_eq!(
            string_attribute(input, "gen_ai.provider.name"),
            Some("openai")
        );
        assert_eq!(
            string_attribute(input, "gen_ai.operation.name"),
            Some("chat")
        );
        assert_eq!(
            string_attribute(input, "gen_ai.request.model"),
            Some("gpt-4o")
        );
        let Some(Data::Histogram(durations)) = &find(&m, "gen_ai.client.operation.duration").data
        else {
            panic!()
        };
        assert_eq!(find(&m, "gen_ai.client.operation.duration").unit, "s");
        let ok = durations
            .data_points
            .iter()
            .find(|p| string_attribute(&p.attributes, "error.type").is_none())
            .unwrap();
        assert_eq!((ok.count, ok.sum), (2, Some(2.0)));
        let failed = durations
            .data_points
            .iter()
            .find(|p| string_attribute(&p.attributes, "error.type") == Some("_OTHER"))
            .unwrap();
        assert_eq!(failed.count, 1);
        assert_eq!(
            m.resource_metrics[0].resource.as_ref().unwrap().attributes[0].key,
            "service.name"
        );
    }
}

//! `filter` against hand-computed expectations, and `probabilistic_sampler`:
//! the kept fraction is within bounds and two agents keep the same traces.

use ignis_agent::metrics::Registry;
use ignis_agent::processors::filter::Filter;
use ignis_agent::processors::filter::FilterConfig;
use ignis_agent::processors::sampler::Sampler;
use ignis_agent::processors::sampler::SamplerConfig;
use ignis_agent::proto::common::v1::any_value::Value;
use ignis_agent::proto::common::v1::{AnyValue, KeyValue};
use ignis_agent::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use ignis_agent::proto::metrics::v1::{
    metric::Data, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use ignis_agent::proto::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use ignis_agent::signal::{Logs, Metrics, Signal, Traces};
use rand::Rng;

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn span(name: &str, kind: i32, status: i32, attributes: Vec<KeyValue>) -> Span {
    Span {
        name: name.into(),
        kind,
        status: Some(Status {
            code: status,
            message: String::new(),
        }),
        attributes,
        trace_id: rand::rng().random::<[u8; 16]>().to_vec(),
        ..Default::default()
    }
}

fn traces(spans: Vec<Span>) -> Traces {
    Traces {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn names(t: &Traces) -> Vec<String> {
    t.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect()
}

#[test]
fn filter_drops_what_its_rules_match_and_counts_it() {
    let config: FilterConfig = serde_json::from_str(
        r#"{
          "keep_errors": true,
          "spans": [
            {"name_regex": "^GET /(healthz|readyz)$", "kind": "server"},
            {"attributes": [{"key": "http.response.status_code", "gt": 399, "lt": 500}, {"key": "synthetic", "value": true}]}
          ],
          "logs": [{"severity_below": "info"}, {"body_regex": "^heartbeat"}],
          "metrics": [{"name_regex": "^runtime\\."}]
        }"#,
    )
    .unwrap();
    let registry = Registry::default();
    let filter = Filter::new(&config, &registry, "filter").unwrap();
    let mut t = traces(vec![
        span("GET /healthz", 2, 0, vec![]),
        span("GET /healthz", 3, 0, vec![]), // a client span: kept
        span("GET /readyz", 2, 2, vec![]),  // an error: kept (keep_errors)
        span(
            "GET /orders",
            2,
            0,
            vec![
                kv("http.response.status_code", Value::IntValue(404)),
                kv("synthetic", Value::BoolValue(true)),
            ],
        ),
        span(
            "GET /orders",
            2,
            0,
            vec![kv("http.response.status_code", Value::IntValue(404))],
        ),
        span(
            "GET /orders",
            2,
            0,
            vec![
                kv("http.response.status_code", Value::IntValue(500)),
                kv("synthetic", Value::BoolValue(true)),
            ],
        ),
    ]);
    filter.apply(&mut t);
    assert_eq!(
        names(&t),
        vec!["GET /healthz", "GET /readyz", "GET /orders", "GET /orders"]
    );
    assert_eq!(t.item_count(), 4);

    let record = |severity: i32, body: &str| LogRecord {
        severity_number: severity,
        body: Some(AnyValue {
            value: Some(Value::StringValue(body.into())),
        }),
        ..Default::default()
    };
    let mut l = Logs {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    record(5, "debug detail"),
                    record(9, "heartbeat ok"),
                    record(9, "order placed"),
                    record(17, "failed"),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    filter.apply(&mut l);
    assert_eq!(l.item_count(), 2);

    let metric = |name: &str, points: usize| Metric {
        name: name.into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint::default(); points],
        })),
        ..Default::default()
    };
    let mut m = Metrics {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    metric("runtime.gc.count", 3),
                    metric("http.server.duration", 2),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    filter.apply(&mut m);
    assert_eq!(m.item_count(), 2);
    assert_eq!(
        registry.total(
            "ignis_processor_dropped_items",
            &[("reason", "filtered"), ("signal", "traces")]
        ),
        2
    );
    assert_eq!(
        registry.total("ignis_processor_dropped_items", &[("signal", "logs")]),
        2
    );
    assert_eq!(
        registry.total("ignis_processor_dropped_items", &[("signal", "metrics")]),
        3
    );

    // Everything filtered: empty scopes and resources go too.
    let mut all = traces(vec![span("GET /healthz", 2, 0, vec![])]);
    filter.apply(&mut all);
    assert!(all.resource_spans.is_empty());
}

#[test]
fn sampling_is_consistent_across_agents_and_within_bounds() {
    let config = SamplerConfig {
        sampling_percentage: 25.0,
        keep_errors: false,
        keep_severity: None,
    };
    let (a, b) = (
        Sampler::new(&config, &Registry::default(), "s"),
        Sampler::new(&config, &Registry::default(), "s"),
    );
    let spans: Vec<Span> = (0..20_000)
        .map(|i| span(&format!("s{i}"), 2, 0, vec![]))
        .collect();
    let (mut ta, mut tb) = (traces(spans.clone()), traces(spans));
    a.apply(&mut ta);
    b.apply(&mut tb);
    let kept = ta.item_count() as f64 / 20_000.0;
    assert!((0.23..0.27).contains(&kept), "kept {kept}");
    assert_eq!(names(&ta), names(&tb), "two agents keep the same traces");
    let first = &ta.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(
        first.trace_state, "ot=th:c",
        "the threshold travels with the span"
    );

    // Logs with a trace id follow their trace.
    let kept_ids: std::collections::HashSet<Vec<u8>> = ta.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(|s| s.trace_id.clone())
        .collect();
    let mut logs = Logs {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: tb.resource_spans[0].scope_spans[0]
                    .spans
                    .iter()
                    .map(|s| LogRecord {
                        trace_id: s.trace_id.clone(),
                        severity_number: 9,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let before = logs.item_count();
    a.apply(&mut logs);
    assert_eq!(logs.item_count(), before, "logs of kept traces are kept");
    for record in &logs.resource_logs[0].scope_logs[0].log_records {
        assert!(kept_ids.contains(&record.trace_id));
    }

    // A second, stricter sampler downstream keeps a subset: 25 % of 25 %... at
    // most what the first kept, and errors survive when asked.
    let strict = Sampler::new(
        &SamplerConfig {
            sampling_percentage: 10.0,
            keep_errors: true,
            keep_severity: None,
        },
        &Registry::default(),
        "s",
    );
    let mut again = ta.clone();
    again.resource_spans[0].scope_spans[0].spans[0].status = Some(Status {
        code: 2,
        message: "boom".into(),
    });
    strict.apply(&mut again);
    assert!(again.item_count() < ta.item_count());
    assert!(
        names(&again).contains(&names(&ta)[0]),
        "the error span is kept"
    );
}

#[test]
fn filter_drops_span_events_and_data_points() {
    use ignis_agent::proto::trace::v1::span::Event;
    let config: FilterConfig = serde_json::from_str(
        r#"{
          "span_events": [{"name": "cache.miss"}],
          "data_points": [{"metric_name": "http.requests", "attributes": [{"key": "route", "value": "/healthz"}]}]
        }"#,
    )
    .unwrap();
    let registry = Registry::default();
    let filter = Filter::new(&config, &registry, "filter").unwrap();
    let mut s = span("GET /", 2, 0, vec![]);
    s.events = vec![
        Event {
            name: "cache.miss".into(),
            ..Default::default()
        },
        Event {
            name: "exception".into(),
            ..Default::default()
        },
    ];
    let mut t = traces(vec![s]);
    filter.apply(&mut t);
    let events = &t.resource_spans[0].scope_spans[0].spans[0].events;
    assert_eq!(
        events.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        vec!["exception"]
    );

    let point = |route: &str| NumberDataPoint {
        attributes: vec![kv("route", Value::StringValue(route.into()))],
        ..Default::default()
    };
    let gauge = |name: &str, routes: &[&str]| Metric {
        name: name.into(),
        data: Some(Data::Gauge(Gauge {
            data_points: routes.iter().map(|r| point(r)).collect(),
        })),
        ..Default::default()
    };
    let mut m = Metrics {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    gauge("http.requests", &["/healthz", "/orders", "/healthz"]),
                    gauge("http.requests", &["/healthz"]),
                    gauge("other", &["/healthz"]),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    filter.apply(&mut m);
    let metrics = &m.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 2, "the metric left with no point goes");
    assert_eq!(m.item_count(), 2);
    assert_eq!(
        registry.total("ignis_processor_dropped_items", &[("signal", "metrics")]),
        3
    );
    assert_eq!(
        registry.total("ignis_processor_dropped_span_events", &[]),
        1
    );
}

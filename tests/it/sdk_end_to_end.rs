//! The official OpenTelemetry Rust SDK sends all three signals over gRPC,
//! HTTP/protobuf and HTTP/JSON to the agent, which delivers them to a real
//! OTLP sink; every item arrives exactly once with its content intact.

use crate::common;

use common::sdk::{self, Wire};
use common::sink::Sink;
use common::{addr, agent_yaml, fast_delivery, start_agent, wait_until};
use ignis_agent::proto::common::v1::any_value::Value;
use ignis_agent::proto::common::v1::KeyValue;
use ignis_agent::proto::metrics::v1::metric::Data;
use ignis_agent::signal::{Logs, Metrics, Traces};
use std::collections::BTreeSet;
use std::time::Duration;

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

async fn round_trip(wire: Wire, exporter_kind: &str) {
    let sink = Sink::start().await;
    let endpoint = match exporter_kind {
        "otlp_grpc" => format!("http://{}", sink.grpc),
        _ => format!("http://{}", sink.http),
    };
    let yaml = agent_yaml(
        exporter_kind,
        &format!("    endpoint: {endpoint}\n{}", fast_delivery()),
    );
    let agent = start_agent(&yaml).await;
    let target = match wire {
        Wire::Grpc => addr(&agent, "otlp/grpc"),
        _ => addr(&agent, "otlp/http"),
    };
    let (spans, logs, points) = (40, 30, 25);
    let sent_ids = tokio::task::spawn_blocking(move || {
        let ids = sdk::send_spans(wire, target, spans);
        sdk::send_logs(wire, target, logs);
        sdk::send_metrics(wire, target, points);
        ids
    })
    .await
    .unwrap();

    let state = sink.state.clone();
    let arrived = wait_until(Duration::from_secs(15), || {
        state.items::<Traces>() >= spans
            && state.items::<Logs>() >= logs
            && state.items::<Metrics>() >= 2
    })
    .await;
    assert!(
        arrived,
        "sink got {} spans, {} logs, {} points",
        state.items::<Traces>(),
        state.items::<Logs>(),
        state.items::<Metrics>()
    );
    // Give a duplicate time to show up before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Traces: the same ids, once each, with attributes, events and times.
    let traces = state.requests::<Traces>();
    let received: Vec<_> = traces
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| r.scope_spans.iter().map(move |s| (r, s)))
        .flat_map(|(r, s)| s.spans.iter().map(move |span| (r, s, span)))
        .collect();
    assert_eq!(received.len(), spans, "every span exactly once");
    let ids: BTreeSet<_> = received
        .iter()
        .map(|(_, _, s)| (s.trace_id.clone(), s.span_id.clone()))
        .collect();
    assert_eq!(ids, sent_ids.into_iter().collect::<BTreeSet<_>>());
    for (resource, scope, span) in &received {
        let resource_attrs = &resource.resource.as_ref().unwrap().attributes;
        assert_eq!(
            attr(resource_attrs, "service.name"),
            Some(&Value::StringValue("checkout".into()))
        );
        assert_eq!(scope.scope.as_ref().unwrap().name, "orders");
        assert!(span.name.starts_with("GET /orders/"));
        assert_eq!(span.kind, 2, "SPAN_KIND_SERVER");
        assert_eq!(
            attr(&span.attributes, "http.response.status_code"),
            Some(&Value::IntValue(200))
        );
        assert_eq!(
            attr(&span.attributes, "ratio"),
            Some(&Value::DoubleValue(0.5))
        );
        let index: i64 = span.name.rsplit('/').next().unwrap().parse().unwrap();
        assert_eq!(
            attr(&span.attributes, "order.index"),
            Some(&Value::IntValue(index))
        );
        assert!(span.start_time_unix_nano > 1_600_000_000_000_000_000);
        assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
        assert_eq!(span.events.len(), 1);
        assert_eq!(span.events[0].name, "cache miss");
        assert!(span.events[0].time_unix_nano >= span.start_time_unix_nano);
    }

    // Logs: every record once, bodies and severities intact.
    let records: Vec<_> = state
        .requests::<Logs>()
        .iter()
        .flat_map(|r| r.resource_logs.clone())
        .flat_map(|r| r.scope_logs)
        .flat_map(|s| s.log_records)
        .collect();
    assert_eq!(records.len(), logs, "every log record exactly once");
    let bodies: BTreeSet<String> = records
        .iter()
        .map(|r| match r.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(Value::StringValue(s)) => s.clone(),
            other => panic!("unexpected body {other:?}"),
        })
        .collect();
    assert_eq!(
        bodies,
        (0..logs).map(|i| format!("order {i} placed")).collect()
    );
    assert!(records
        .iter()
        .all(|r| r.severity_number == 9 && r.severity_text == "INFO"));
    assert!(records
        .iter()
        .all(|r| r.observed_time_unix_nano > 0 || r.time_unix_nano > 0));

    // Metrics: one counter point summing every increment, one histogram point.
    let metrics: Vec<_> = state
        .requests::<Metrics>()
        .iter()
        .flat_map(|r| r.resource_metrics.clone())
        .flat_map(|r| r.scope_metrics)
        .flat_map(|s| s.metrics)
        .collect();
    assert_eq!(metrics.len(), 2, "{metrics:?}");
    let counter = metrics
        .iter()
        .find(|m| m.name == "orders.placed")
        .expect("counter");
    match &counter.data {
        Some(Data::Sum(sum)) => {
            assert_eq!(sum.data_points.len(), 1);
            let value = match sum.data_points[0].value {
                Some(ignis_agent::proto::metrics::v1::number_data_point::Value::AsInt(v)) => v,
                other => panic!("{other:?}"),
            };
            assert_eq!(value, points as i64);
            assert!(sum.is_monotonic);
        }
        other => panic!("counter arrived as {other:?}"),
    }
    let histogram = metrics
        .iter()
        .find(|m| m.name == "orders.latency")
        .expect("histogram");
    assert_eq!(histogram.unit, "ms");
    match &histogram.data {
        Some(Data::Histogram(h)) => {
            assert_eq!(h.data_points.len(), 1);
            assert_eq!(h.data_points[0].count, points);
            assert_eq!(h.data_points[0].sum, Some((0..points).sum::<u64>() as f64));
        }
        other => panic!("histogram arrived as {other:?}"),
    }
    let report = agent.shutdown().await;
    assert!(report.drained);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_in_grpc_out() {
    round_trip(Wire::Grpc, "otlp_grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_in_grpc_out() {
    round_trip(Wire::HttpProto, "otlp_grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_json_in_grpc_out() {
    round_trip(Wire::HttpJson, "otlp_grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_in_http_out() {
    round_trip(Wire::Grpc, "otlp_http").await;
}

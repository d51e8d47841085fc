//! Processors end to end: the OpenTelemetry SDK sends through an agent whose
//! pipelines enrich (resource_detection, resource, attributes) and redact;
//! the sink receives labelled, scrubbed telemetry.

use crate::common;

use common::sink::Sink;
use common::{addr, start_agent, wait_until};
use ignis_agent::proto::common::v1::any_value::Value;
use ignis_agent::signal::walk::attribute as get;
use ignis_agent::signal::{Logs, Traces};
use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue as OtelKeyValue;
use opentelemetry_otlp::WithExportConfig;
use std::time::Duration;

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::StringValue(s)) => s.clone(),
        other => format!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrich_and_redact_through_the_sdk() {
    // The Downward API variables a sidecar manifest sets. This test binary
    // holds one test, so setting the environment races with nothing.
    std::env::set_var("K8S_POD_NAME", "checkout-7d9f8");
    std::env::set_var("K8S_NAMESPACE_NAME", "shop");
    std::env::set_var("K8S_NODE_NAME", "node-3");
    std::env::set_var("K8S_DEPLOYMENT_NAME", "checkout");

    let sink = Sink::start().await;
    let agent = start_agent(&format!(
        r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }}
processors:
  memory_limiter: {{ limit_mib: 4096 }}
  resource_detection: {{ detectors: [k8s, host] }}
  resource:
    actions: [{{ key: cluster, action: insert, value: eu-1 }}]
  attributes:
    actions: [{{ key: http.url, action: extract, pattern: "^https?://(?P<url_host>[^/]+)" }}]
  redaction: {{}}
  filter: {{ spans: [{{ name: "GET /healthz" }}] }}
  probabilistic_sampler: {{ sampling_percentage: 100 }}
  rate_limiting: {{ spans_per_second: 1000 }}
connectors:
  span_metrics: {{ interval: 1h }}
exporters:
  otlp_grpc:
    endpoint: http://{}
    batch: {{ flush_timeout: 20ms }}
service:
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    # Every processor in one pipeline.
    traces: {{ receivers: [otlp], processors: [memory_limiter, resource_detection, resource, attributes, filter, probabilistic_sampler, rate_limiting, redaction], exporters: [otlp_grpc, span_metrics] }}
    metrics: {{ receivers: [span_metrics], exporters: [otlp_grpc] }}
    logs: {{ receivers: [otlp], processors: [resource_detection, redaction], exporters: [otlp_grpc] }}
"#,
        sink.grpc
    ))
    .await;
    let grpc = addr(&agent, "otlp/grpc");
    tokio::task::spawn_blocking(move || {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://{grpc}"))
            .build()
            .unwrap();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .build();
        let tracer = provider.tracer("checkout");
        let mut span = tracer
            .span_builder("POST /pay")
            .with_attributes(vec![
                OtelKeyValue::new("user.email", "jane.doe@example.com"),
                OtelKeyValue::new("db.password", "hunter2"),
                OtelKeyValue::new("payment.card", "4111 1111 1111 1111"),
                OtelKeyValue::new("http.url", "https://shop.example/pay?token=abc"),
                OtelKeyValue::new("order.id", "1234567890123456"),
            ])
            .start(&tracer);
        span.add_event(
            "retry",
            vec![OtelKeyValue::new("auth", "Bearer abcdefghijklmnop")],
        );
        span.end();
        tracer.start("GET /healthz").end();
        provider.shutdown().unwrap();

        let exporter = opentelemetry_otlp::LogExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://{grpc}"))
            .build()
            .unwrap();
        let provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
            .with_batch_exporter(exporter)
            .build();
        let logger = provider.logger("checkout");
        let mut record = logger.create_log_record();
        record.set_body("card 5500-0000-0000-0004 declined for 10.1.2.3".into());
        record.set_severity_number(Severity::Warn);
        logger.emit(record);
        provider.shutdown().unwrap();
    })
    .await
    .unwrap();

    let state = sink.state.clone();
    assert!(
        wait_until(Duration::from_secs(10), || state.items::<Traces>() == 1
            && state.items::<Logs>() == 1)
        .await
    );
    let traces = state.requests::<Traces>();
    let rs = &traces[0].resource_spans[0];
    let resource = &rs.resource.as_ref().unwrap().attributes;
    assert_eq!(text(get(resource, "k8s.pod.name")), "checkout-7d9f8");
    assert_eq!(text(get(resource, "k8s.namespace.name")), "shop");
    assert_eq!(text(get(resource, "k8s.node.name")), "node-3");
    assert_eq!(text(get(resource, "k8s.deployment.name")), "checkout");
    assert_eq!(text(get(resource, "cluster")), "eu-1");
    assert!(get(resource, "host.name").is_some());

    let span = &rs.scope_spans[0].spans[0];
    assert_eq!(span.name, "POST /pay", "the health check was filtered");
    assert!(
        span.trace_state.contains("ot=th:0"),
        "sampled at 100%: {}",
        span.trace_state
    );
    let everything = format!("{traces:?}");
    for secret in [
        "jane.doe@example.com",
        "hunter2",
        "4111 1111 1111 1111",
        "abcdefghijklmnop",
    ] {
        assert!(!everything.contains(secret), "{secret} left the agent");
    }
    assert_eq!(
        text(get(&span.attributes, "user.email")),
        "<redacted:email>"
    );
    assert_eq!(
        text(get(&span.attributes, "payment.card")),
        "<redacted:credit_card>"
    );
    assert_eq!(
        text(get(&span.attributes, "order.id")),
        "1234567890123456",
        "not a card: fails Luhn"
    );
    assert_eq!(text(get(&span.attributes, "url_host")), "shop.example");

    let logs = state.requests::<Logs>();
    let record = &logs[0].resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(
        text(record.body.as_ref().and_then(|b| b.value.as_ref())),
        "card <redacted:credit_card> declined for <redacted:ipv4>"
    );
    let k8s = &logs[0].resource_logs[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes;
    assert_eq!(text(get(k8s, "k8s.pod.name")), "checkout-7d9f8");
    assert!(agent.metrics.total("ignis_redacted_values", &[]) >= 5);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn span_metrics_flow_into_the_metrics_pipeline() {
    use common::client::{grpc_export, spans};
    use ignis_agent::proto::metrics::v1::metric::Data;
    use ignis_agent::signal::Metrics;
    use prost::Message;

    let sink = Sink::start().await;
    let agent = start_agent(&format!(
        r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }}
processors:
  memory_limiter: {{ limit_mib: 4096 }}
  filter: {{ spans: [{{ name_regex: "^span [0-4]$" }}] }}
connectors:
  span_metrics: {{ interval: 100ms }}
exporters:
  otlp_grpc:
    endpoint: http://{}
    batch: {{ flush_timeout: 20ms }}
service:
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    # span_metrics reads every span; the filtered pipeline delivers half.
    traces/all: {{ receivers: [otlp], exporters: [span_metrics] }}
    traces: {{ receivers: [otlp], processors: [memory_limiter, filter], exporters: [otlp_grpc] }}
    metrics: {{ receivers: [otlp, span_metrics], processors: [memory_limiter], exporters: [otlp_grpc] }}
"#,
        sink.grpc
    ))
    .await;
    grpc_export::<Traces>(
        addr(&agent, "otlp/grpc"),
        spans(0, 10).encode_to_vec().into(),
        None,
    )
    .await
    .unwrap();
    let state = sink.state.clone();
    // span_metrics reads the unfiltered pipeline: 5 spans delivered, 10 counted.
    assert!(
        wait_until(Duration::from_secs(5), || state.items::<Traces>() == 5
            && state.items::<Metrics>() > 0)
        .await
    );
    let metrics = state.requests::<Metrics>();
    let calls = metrics
        .iter()
        .flat_map(|m| &m.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .find(|m| m.name == "traces.span.metrics.calls")
        .expect("calls metric");
    let Some(Data::Sum(sum)) = &calls.data else {
        panic!("a sum")
    };
    assert_eq!(sum.data_points.len(), 10, "one series per span name");
    assert_eq!(
        agent
            .metrics
            .total("ignis_processor_dropped_items", &[("reason", "filtered")]),
        5
    );
    agent.shutdown().await;
}

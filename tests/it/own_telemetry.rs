//! The agent's own telemetry through the OpenTelemetry SDK, as the binary
//! runs it: logs over OTLP/gRPC, traces over OTLP/HTTP, metrics over
//! OTLP/gRPC (`service.telemetry` in the Collector's shape), into a real
//! OTLP destination, under `service.name` `ignis-agent`: spans per export
//! attempt and per reload, the registry's figures, the log lines. Debug level, so
//! the transport crates have plenty to say: none of it goes out.

use crate::common;

use bytes::Bytes;
use common::client::{grpc_export, spans};
use common::process::{spawn_agent_logging, terminate, write_config};
use common::sink::Sink;
use common::wait_until;
use ignis_agent::proto::common::v1::any_value::Value;
use ignis_agent::proto::common::v1::KeyValue;
use ignis_agent::proto::metrics::v1::metric::Data;
use ignis_agent::proto::metrics::v1::number_data_point;
use ignis_agent::proto::resource::v1::Resource;
use ignis_agent::signal::{Logs, Metrics, Traces};
use prost::Message;
use std::time::Duration;

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            Value::IntValue(i) => Some(i.to_string()),
            _ => None,
        }
    })
}

fn service(resource: &Option<Resource>) -> Option<String> {
    text(&resource.as_ref()?.attributes, "service.name")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_traces_and_metrics_reach_an_otlp_destination_as_ignis_agent() {
    let destination = Sink::start().await;
    let telemetry = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        &format!(
            r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }}
exporters:
  otlp_grpc:
    endpoint: http://{destination}
    batch: {{ flush_timeout: 20ms }}
service:
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp_grpc] }}
  telemetry:
    resource: {{ k8s.pod.name: agent-pod-1 }}
    logs:
      level: debug
      format: json
      processors:
        - batch: {{ schedule_delay: 100, exporter: {{ otlp: {{ protocol: grpc, endpoint: "http://{grpc}" }} }} }}
    traces:
      processors:
        - batch: {{ schedule_delay: 100, exporter: {{ otlp: {{ protocol: http/protobuf, endpoint: "http://{http}" }} }} }}
    metrics:
      readers:
        - periodic: {{ interval: 300, exporter: {{ otlp: {{ protocol: grpc, endpoint: "http://{grpc}" }} }} }}
"#,
            destination = destination.grpc,
            grpc = telemetry.grpc,
            http = telemetry.http,
        ),
    );
    let (child, grpc, _log) = spawn_agent_logging(&config);
    for first in [0, 7] {
        let body = Bytes::from(spans(first, 7).encode_to_vec());
        grpc_export::<Traces>(grpc, body, None).await.unwrap();
    }
    let state = destination.state.clone();
    assert!(wait_until(Duration::from_secs(10), || state.items::<Traces>() == 14).await);

    // Metrics: the registry's figures, as OTLP sums, under ignis-agent.
    let seen = telemetry.state.clone();
    let accepted = || -> Option<i64> {
        seen.requests::<Metrics>()
            .iter()
            .flat_map(|m| &m.resource_metrics)
            .filter(|r| service(&r.resource).as_deref() == Some("ignis-agent"))
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name == "otelcol_receiver_accepted_spans")
            .filter_map(|m| match &m.data {
                Some(Data::Sum(sum)) if sum.is_monotonic => sum.data_points.last().cloned(),
                _ => None,
            })
            .filter_map(|p| match p.value {
                Some(number_data_point::Value::AsInt(v)) => Some(v),
                _ => None,
            })
            .max()
    };
    assert!(
        wait_until(Duration::from_secs(10), || accepted() == Some(14)).await,
        "{:?}",
        accepted()
    );

    // Traces: a span per export attempt, with its outcome.
    let export_spans = || {
        seen.requests::<Traces>()
            .iter()
            .flat_map(|t| &t.resource_spans)
            .filter(|r| service(&r.resource).as_deref() == Some("ignis-agent"))
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| s.spans.clone())
            .filter(|s| s.name == "export")
            .collect::<Vec<_>>()
    };
    assert!(wait_until(Duration::from_secs(10), || !export_spans().is_empty()).await);
    let span = &export_spans()[0];
    assert_eq!(
        text(&span.attributes, "exporter").as_deref(),
        Some("otlp_grpc")
    );
    assert_eq!(text(&span.attributes, "outcome").as_deref(), Some("sent"));
    assert_eq!(span.kind, 3, "a client span");

    // A reload is a span too.
    common::process::signal(&child, "-HUP");
    let reloads = || {
        seen.requests::<Traces>()
            .iter()
            .flat_map(|t| &t.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| s.spans.clone())
            .filter(|s| s.name == "reload")
            .collect::<Vec<_>>()
    };
    assert!(wait_until(Duration::from_secs(10), || !reloads().is_empty()).await);
    assert_eq!(
        text(&reloads()[0].attributes, "outcome").as_deref(),
        Some("applied")
    );

    // Logs: this crate's lines only, with the resource configured.
    let terminated = terminate(child, Duration::from_secs(10)).await;
    assert_eq!(terminated, Some(0));
    let logs = seen.requests::<Logs>();
    let resources: Vec<&Option<Resource>> = logs
        .iter()
        .flat_map(|l| &l.resource_logs)
        .map(|r| &r.resource)
        .collect();
    assert!(!resources.is_empty(), "no log records");
    for resource in &resources {
        assert_eq!(service(resource).as_deref(), Some("ignis-agent"));
        let attributes = &resource.as_ref().unwrap().attributes;
        assert_eq!(
            text(attributes, "k8s.pod.name").as_deref(),
            Some("agent-pod-1")
        );
    }
    let records: Vec<(String, String)> = logs
        .iter()
        .flat_map(|l| &l.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| {
            let scope = s.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
            s.log_records.iter().map(move |r| {
                let body = match r.body.as_ref().and_then(|b| b.value.as_ref()) {
                    Some(Value::StringValue(s)) => s.clone(),
                    _ => String::new(),
                };
                (scope.clone(), body)
            })
        })
        .collect();
    for (scope, body) in &records {
        assert!(scope.starts_with("ignis_agent"), "{scope}: {body}");
    }
    let bodies: Vec<&str> = records.iter().map(|(_, b)| b.as_str()).collect();
    assert!(bodies.contains(&"ignis-agent started"), "{bodies:?}");
    // The last line before the exit was flushed out.
    assert!(bodies.contains(&"stopped"), "{bodies:?}");
}

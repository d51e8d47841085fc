//! The admin endpoint: health, readiness and Prometheus metrics.

use crate::common;

use bytes::Bytes;
use common::client::{grpc_export, spans};
use common::sink::Sink;
use common::{addr, agent_yaml, fast_delivery, start_agent, wait_until};
use ignis_agent::signal::Traces;
use prost::Message;
use std::time::Duration;

fn get(url: String) -> (u16, String) {
    let response = reqwest::blocking::get(url).expect("admin answers");
    (response.status().as_u16(), response.text().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let sink = Sink::start().await;
    let agent = start_agent(&agent_yaml(
        "otlp_grpc",
        &format!("    endpoint: http://{}\n{}", sink.grpc, fast_delivery()),
    ))
    .await;
    let admin = addr(&agent, "admin");
    grpc_export::<Traces>(
        addr(&agent, "otlp/grpc"),
        Bytes::from(spans(0, 6).encode_to_vec()),
        None,
    )
    .await
    .unwrap();
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 6).await);
    // The sender counts once the sink has answered.
    let registry = agent.metrics.clone();
    assert!(
        wait_until(Duration::from_secs(5), || registry
            .total("otelcol_exporter_sent_spans", &[])
            == 6)
        .await
    );
    let (health, ready, metrics, page, status) = tokio::task::spawn_blocking(move || {
        (
            get(format!("http://{admin}/healthz")),
            get(format!("http://{admin}/readyz")),
            get(format!("http://{admin}/metrics")),
            get(format!("http://{admin}/")),
            get(format!("http://{admin}/api/status")),
        )
    })
    .await
    .unwrap();
    // The page itself is a script over the JSON below; it is run in a
    // browser by status_page.rs.
    assert_eq!(page.0, 200);
    assert!(page.1.starts_with("<!doctype html>") && page.1.contains("/api/history"));
    let status: serde_json::Value = serde_json::from_str(&status.1).unwrap();
    assert_eq!(status["ready"], true);
    let sent = status["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "otelcol_exporter_sent_spans")
        .unwrap();
    assert_eq!(sent["value"], 6);
    assert_eq!(sent["labels"]["exporter"], "otlp_grpc/out");
    assert_eq!(health.0, 200);
    assert_eq!(ready.0, 200);
    assert_eq!(metrics.0, 200);
    let text = metrics.1;
    for line in [
        "otelcol_receiver_accepted_spans{receiver=\"otlp\",transport=\"grpc\"} 6",
        "otelcol_exporter_sent_spans{exporter=\"otlp_grpc/out\"} 6",
        "otelcol_exporter_queue_size{exporter=\"otlp_grpc/out\",signal=\"traces\"} 0",
        "# TYPE otelcol_exporter_sent_spans counter",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    agent.shutdown().await;
}

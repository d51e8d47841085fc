//! The agent against peers we did not write: a destination built on
//! Python's grpcio and http.server with the official opentelemetry-proto and
//! googleapis-common-protos messages, and the official OpenTelemetry Python
//! SDK as a client (`common/python.rs`, `interop/`).

use crate::common;
use common::client::{grpc_export, spans};
use common::python::{collector_binary, node_client, sdk_client, sdk_client_with, Destination};
use common::{addr, agent_yaml, fast_delivery, start_agent, wait_until};
use ignis_agent::signal::Traces;
use prost::Message;
use std::time::Duration;

/// Sends 10 spans through an agent whose exporter (`kind`) points at
/// `destination`; returns the agent.
async fn through_agent(kind: &str, destination: &Destination) -> ignis_agent::agent::Agent {
    let endpoint = format!("http://127.0.0.1:{}", destination.port);
    let agent = start_agent(&agent_yaml(
        kind,
        &format!("    endpoint: {endpoint}\n{}", fast_delivery()),
    ))
    .await;
    grpc_export::<Traces>(
        addr(&agent, "otlp/grpc"),
        spans(0, 10).encode_to_vec().into(),
        None,
    )
    .await
    .expect("the agent takes the spans");
    agent
}

/// The destination's first answer holds a retry hint of `hint` seconds: the
/// agent waits that long (not its own 50 ms backoff), then delivers.
async fn follows_hint(kind: &str, protocol: &str, answers: &str, hint: f64) {
    let destination = Destination::start(protocol, answers);
    let agent = through_agent(kind, &destination).await;
    assert!(
        wait_until(Duration::from_secs(15), || destination.accepted() == 10).await,
        "{answers}: delivered after the hint: {:?}",
        destination.answered()
    );
    let answered = destination.answered();
    let waited = answered[1].at - answered[0].at;
    assert!(
        waited >= hint * 0.9,
        "{answers}: retried after {waited:.2}s, before the server's {hint}s hint"
    );
    assert_eq!(
        agent.metrics.total("ignis_exporter_dropped_items", &[]),
        0,
        "{answers}: nothing dropped"
    );
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_info_is_followed_in_both_conventions() {
    // grpc-status-details-bin is what Go's status package (and the
    // Collector) send; google.rpc.retryinfo-bin what the OpenTelemetry
    // Python SDK and Google's client libraries read and send.
    tokio::join!(
        follows_hint("otlp_grpc", "grpc", "unavailable-details:2,ok", 2.0),
        follows_hint("otlp_grpc", "grpc", "unavailable-trailer:2,ok", 2.0),
        follows_hint("otlp_grpc", "grpc", "exhausted-details:2,ok", 2.0),
        follows_hint("otlp_grpc", "grpc", "exhausted-trailer:2,ok", 2.0),
        follows_hint("otlp_http", "http", "http:503:2,ok", 2.0),
        follows_hint("otlp_http", "http", "http:429:2,ok", 2.0),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn final_answers_drop_and_count_and_partial_success_is_counted() {
    let exhausted = Destination::start("grpc", "exhausted");
    let bad_request = Destination::start("http", "http:400");
    let partial = Destination::start("grpc", "partial:3");
    let too_large = Destination::start("http", "http:413,ok");
    let (a, b, c, d) = tokio::join!(
        through_agent("otlp_grpc", &exhausted),
        through_agent("otlp_http", &bad_request),
        through_agent("otlp_grpc", &partial),
        through_agent("otlp_http", &too_large),
    );
    let permanent = |agent: &ignis_agent::agent::Agent| {
        agent.metrics.total(
            "ignis_exporter_dropped_items",
            &[("reason", "permanent_error")],
        )
    };
    assert!(
        wait_until(Duration::from_secs(10), || permanent(&a) == 10
            && permanent(&b) == 10)
        .await,
        "RESOURCE_EXHAUSTED without a hint and 400 are final: {} and {} dropped",
        permanent(&a),
        permanent(&b)
    );
    assert_eq!(exhausted.answered().len(), 1, "not retried");
    assert_eq!(bad_request.answered().len(), 1, "not retried");
    assert!(
        wait_until(Duration::from_secs(10), || c
            .metrics
            .total("ignis_exporter_partial_success_rejected_items", &[])
            == 3)
        .await,
        "the server's partial_success rejections are counted"
    );
    assert!(
        wait_until(Duration::from_secs(10), || too_large.accepted() == 10).await,
        "a 413 splits the batch and delivers all of it: {:?}",
        too_large.answered()
    );
    assert!(too_large.answered().len() >= 3, "split in parts");
    for agent in [a, b, c, d] {
        agent.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_delivers_through_the_agent() {
    let destination = Destination::start("grpc", "ok");
    let endpoint = format!("http://127.0.0.1:{}", destination.port);
    let agent = start_agent(&agent_yaml(
        "otlp_grpc",
        &format!("    endpoint: {endpoint}\n{}", fast_delivery()),
    ))
    .await;
    let grpc = format!("http://{}", addr(&agent, "otlp/grpc"));
    let http = format!("http://{}", addr(&agent, "otlp/http"));
    let mut expected = 0;
    for (endpoint, protocol) in [(&grpc, "grpc"), (&http, "http")] {
        for compression in ["gzip", "none"] {
            for signal in ["traces", "logs"] {
                let endpoint = endpoint.clone();
                let run = tokio::task::spawn_blocking(move || {
                    sdk_client(&endpoint, protocol, compression, signal, 5)
                })
                .await
                .unwrap();
                assert!(
                    run.succeeded && run.results.len() == 5,
                    "python {protocol} {compression} {signal}: {:?}\n{}",
                    run.results,
                    run.stderr
                );
                expected += 5;
            }
        }
    }
    assert!(
        wait_until(Duration::from_secs(10), || destination.accepted()
            == expected)
        .await,
        "all {expected} items reach the grpcio destination: {}",
        destination.accepted()
    );
    let signals: std::collections::BTreeSet<String> = destination
        .answered()
        .into_iter()
        .map(|a| a.signal)
        .collect();
    assert_eq!(signals, ["logs", "traces"].map(String::from).into());
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_bomb_from_grpcio_is_refused_as_final() {
    let destination = Destination::start("grpc", "ok");
    let agent = through_agent("otlp_grpc", &destination).await;
    let grpc = format!("http://{}", addr(&agent, "otlp/grpc"));
    // 256 MiB of zeros, about 256 KiB gzipped: the 4 MiB limit is checked
    // while inflating; RESOURCE_EXHAUSTED tells grpcio clients not to resend.
    let run = tokio::task::spawn_blocking(move || sdk_client(&grpc, "grpc", "gzip", "bomb", 256))
        .await
        .unwrap();
    assert_eq!(run.results, ["RESOURCE_EXHAUSTED"], "{}", run.stderr);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_with_invalid_ids_are_dropped_and_the_client_told() {
    let destination = Destination::start("grpc", "ok");
    let endpoint = format!("http://127.0.0.1:{}", destination.port);
    let agent = start_agent(&agent_yaml(
        "otlp_grpc",
        &format!("    endpoint: {endpoint}\n{}", fast_delivery()),
    ))
    .await;
    // grpcio with opentelemetry-proto messages, and OTLP/JSON over urllib.
    for (endpoint, protocol) in [
        (format!("http://{}", addr(&agent, "otlp/grpc")), "grpc"),
        (format!("http://{}", addr(&agent, "otlp/http")), "http"),
    ] {
        let run = tokio::task::spawn_blocking(move || {
            sdk_client(&endpoint, protocol, "none", "invalid-ids", 0)
        })
        .await
        .unwrap();
        let answer = run.lines.first().cloned().unwrap_or_default();
        assert_eq!(answer["rejected"], 4, "{protocol}: {answer} {}", run.stderr);
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or_default()
                .contains("invalid trace or span id"),
            "{protocol}: {answer}"
        );
    }
    assert!(
        wait_until(Duration::from_secs(10), || destination.accepted() == 6).await,
        "only the 3 good spans of each request travel on: {:?}",
        destination.answered()
    );
    assert_eq!(
        agent
            .metrics
            .total("ignis_receiver_dropped_items", &[("reason", "invalid")]),
        8
    );
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_sdk_delivers_otlp_json_through_the_agent() {
    let destination = Destination::start("grpc", "ok");
    let endpoint = format!("http://127.0.0.1:{}", destination.port);
    let agent = start_agent(&agent_yaml(
        "otlp_grpc",
        &format!("    endpoint: {endpoint}\n{}", fast_delivery()),
    ))
    .await;
    let http = format!("http://{}", addr(&agent, "otlp/http"));
    let run = tokio::task::spawn_blocking(move || node_client(&http, 5))
        .await
        .unwrap();
    assert!(
        run.succeeded && run.results.len() == 5,
        "node: {:?}\n{}",
        run.lines,
        run.stderr
    );
    assert!(
        wait_until(Duration::from_secs(10), || destination.accepted() == 5).await,
        "the JS SDK's OTLP/JSON spans reach the grpcio destination: {:?}",
        destination.answered()
    );
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_sends_log_lines_through_the_agent() {
    let destination = Destination::start("grpc", "ok");
    let endpoint = format!("http://127.0.0.1:{}", destination.port);
    let agent = start_agent(&agent_yaml(
        "otlp_grpc",
        &format!("    endpoint: {endpoint}\n{}", fast_delivery()),
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let lines: String = (0..20).map(|n| format!("order {n} placed\n")).collect();
    std::fs::write(&log, lines).unwrap();
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
receivers:
  filelog:
    include: ["{}"]
    start_at: beginning
exporters:
  otlphttp:
    endpoint: http://{}
    compression: gzip
service:
  telemetry: {{ metrics: {{ level: none }} }}
  pipelines:
    logs: {{ receivers: [filelog], exporters: [otlphttp] }}
"#,
            log.display(),
            addr(&agent, "otlp/http")
        ),
    )
    .unwrap();
    let mut collector = std::process::Command::new(collector_binary())
        .arg("--config")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the collector starts");
    let delivered = wait_until(Duration::from_secs(30), || destination.accepted() == 20).await;
    let _ = collector.kill();
    let output = collector.wait_with_output().unwrap();
    assert!(
        delivered,
        "the Collector's 20 log lines reach the destination through the agent: {:?}\n{}",
        destination.answered(),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(destination.answered().iter().all(|a| a.signal == "logs"));
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_waits_as_the_agents_retry_info_asks() {
    // The destination is down and the agent's queue full: it refuses with
    // UNAVAILABLE and a 1 s RetryInfo. The Python exporter reads it from
    // google.rpc.retryinfo-bin; without it, it would back off a random
    // 0.8-1.2 s (then 1.6-2.4 s).
    let port = crate::common::closed_port();
    let agent = start_agent(&agent_yaml(
        "otlp_grpc",
        &format!(
            "    endpoint: http://127.0.0.1:{port}\n    sending_queue: {{ max_size: 1600, when_full: drop_newest, num_consumers: 1 }}\n{}",
            fast_delivery()
        ),
    ))
    .await;
    let grpc = addr(&agent, "otlp/grpc");
    // One request for the sender to retry, one to fill the queue.
    for first in [0, 100] {
        let mut request = spans(first, 1);
        request.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(1400);
        grpc_export::<Traces>(grpc, request.encode_to_vec().into(), None)
            .await
            .expect("taken");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let endpoint = format!("http://{grpc}");
    let run = tokio::task::spawn_blocking(move || {
        sdk_client_with(
            &endpoint,
            "grpc",
            "none",
            "traces",
            1,
            &["--timeout", "6", "--retry-log"],
        )
    })
    .await
    .unwrap();
    let delays: Vec<&str> = run
        .stderr
        .lines()
        .filter_map(|l| l.split("retrying in ").nth(1))
        .collect();
    assert!(
        !delays.is_empty() && run.stderr.contains("the sending queue is full"),
        "refused by the agent and retried: {}",
        run.stderr
    );
    assert!(
        delays.iter().all(|d| d.starts_with("1.00s")),
        "every wait is the agent's 1 s: {delays:?}"
    );
    agent.shutdown().await;
}

//! Overload: a client sending faster than the destination takes gets
//! retryable refusals, the agent's memory stays under its limit, and
//! everything acknowledged is delivered once the destination is back.

use crate::common;

use bytes::Bytes;
use common::client::{connect, export_on, grpc_export, span_numbers, spans};
use common::process::{memory_mib, spawn_agent, write_config};
use common::sink::Sink;
use common::wait_until;
use ignis_agent::signal::Traces;
use prost::Message;
use std::time::Duration;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_refused_retryably_within_the_memory_limit() {
    let port = crate::common::closed_port();
    let dir = tempfile::tempdir().unwrap();
    let limit_mib = 96;
    let config = write_config(
        &dir,
        &format!(
            r#"receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }}
processors:
  memory_limiter: {{ limit_mib: {limit_mib}, spike_limit_mib: 24, check_interval: 20ms }}
exporters:
  otlp_grpc:
    endpoint: http://127.0.0.1:{port}
    sending_queue: {{ max_size: 24MiB, block_timeout: 20ms }}
    retry_on_failure: {{ initial_interval: 50ms, max_interval: 100ms, max_elapsed_time: 0 }}
service:
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [memory_limiter], exporters: [otlp_grpc] }}
  telemetry: {{ logs: {{ level: info, format: json }} }}
"#
        ),
    );
    let (mut agent, grpc) = spawn_agent(&config);
    // The destination is down; 8 clients offer ~50 MB, twice the queue.
    // A refusal comes after the admission wait (2 s).
    let mut clients = Vec::new();
    for c in 0..8u64 {
        clients.push(tokio::spawn(async move {
            let (mut acknowledged, mut refusals) = (Vec::new(), Vec::new());
            for r in 0..16u64 {
                let first = (c * 16 + r) * 2000;
                let body = Bytes::from(spans(first, 2000).encode_to_vec());
                match grpc_export::<Traces>(grpc, body, None).await {
                    Ok(_) => acknowledged.extend(first..first + 2000),
                    Err(status) => refusals.push(status.code()),
                }
            }
            (acknowledged, refusals)
        }));
    }
    let (mut acknowledged, mut refusals) = (Vec::new(), Vec::new());
    for client in clients {
        let (a, r) = client.await.unwrap();
        acknowledged.extend(a);
        refusals.extend(r);
    }
    assert!(!refusals.is_empty(), "the overload was refused");
    assert!(
        refusals.iter().all(|c| *c == Code::Unavailable),
        "retryable: {refusals:?}"
    );
    let peak = memory_mib(agent.id(), "VmHWM");
    assert!(
        peak < limit_mib,
        "peak RSS {peak} MiB over the {limit_mib} MiB limit"
    );

    let sink = Sink::start_at(port).await;
    let state = sink.state.clone();
    let expected = acknowledged.len();
    let delivered = wait_until(Duration::from_secs(30), || {
        state.items::<Traces>() >= expected
    })
    .await;
    agent.kill().unwrap();
    let _ = agent.wait();
    assert!(
        delivered,
        "{} of {expected} delivered",
        state.items::<Traces>()
    );
    let received = span_numbers(&state.requests::<Traces>());
    acknowledged.sort_unstable();
    assert!(
        acknowledged
            .iter()
            .all(|n| received.binary_search(n).is_ok()),
        "an acknowledged span was lost"
    );
    eprintln!(
        "acknowledged {expected} spans, refused {} requests, peak RSS {peak} MiB",
        refusals.len()
    );
}

/// An Export call on a kept connection, its answer reduced to what these tests read.
async fn export(
    grpc: &mut tonic::client::Grpc<tonic::transport::Channel>,
    body: Bytes,
) -> Result<(), tonic::Status> {
    export_on::<Traces>(grpc, body, None).await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_slows_the_sender_then_refuses_it_after_the_wait() {
    let port = crate::common::closed_port();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        &format!(
            r#"receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }}
exporters:
  otlp_grpc:
    endpoint: http://127.0.0.1:{port}
    sending_queue: {{ max_size: 1MiB }}
    retry_on_failure: {{ initial_interval: 50ms, max_interval: 50ms, max_elapsed_time: 0 }}
service:
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp_grpc] }}
  telemetry: {{ logs: {{ level: info, format: json }} }}
"#
        ),
    );
    let (mut agent, grpc) = spawn_agent(&config);
    // About 600 KB each: the sender holds a batch it retries, the queue
    // one more; the next finds no room.
    let request = |n: u64| Bytes::from(spans(n * 4000, 4000).encode_to_vec());
    assert!(request(0).len() > 512 << 10);
    let mut client = connect(grpc).await.unwrap();
    let mut acknowledged = Vec::new();
    let (refused, waited) = loop {
        let n = acknowledged.len() as u64;
        assert!(n < 8, "nothing was refused");
        let started = std::time::Instant::now();
        match export(&mut client, request(n)).await {
            Ok(()) => acknowledged.push(n),
            Err(status) => break (status, started.elapsed()),
        }
        // Let the sender take what it will before the next one.
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // Held, unread, then refused: retryable, after the admission wait.
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(5),
        "refused after {waited:?}, not after the admission wait"
    );

    // One held while the destination comes back is taken, not bounced.
    let next = acknowledged.len() as u64 + 1;
    let waiting = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let result = export(&mut client, request(next)).await;
        (result, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let sink = Sink::start_at(port).await;
    let (result, waited) = waiting.await.unwrap();
    result.expect("taken once the queue had room");
    assert!(
        waited >= Duration::from_millis(350),
        "it waited: {waited:?}"
    );
    acknowledged.push(next);

    let state = sink.state.clone();
    let expected = acknowledged.len() * 4000;
    let delivered = wait_until(Duration::from_secs(10), || {
        state.items::<Traces>() >= expected
    })
    .await;
    agent.kill().unwrap();
    let _ = agent.wait();
    assert!(delivered, "{} of {expected}", state.items::<Traces>());
    let received = span_numbers(&state.requests::<Traces>());
    assert!(acknowledged
        .iter()
        .flat_map(|n| n * 4000..(n + 1) * 4000)
        .all(|n| received.binary_search(&n).is_ok()));
}

/// Goodput with 48 clients flooding stays near what 6 clients get (an
/// RSS-sampling limiter lost two thirds of it to refusals): the
/// flood waits its turn instead of being bounced, and memory stays under
/// the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_past_the_budget_keeps_goodput_and_memory() {
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let limit_mib = 64;
    let config = write_config(
        &dir,
        &format!(
            r#"receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }}
processors:
  memory_limiter: {{ limit_mib: {limit_mib} }}
  redaction: {{}}
exporters:
  otlp_grpc: {{ endpoint: "http://{}" }}
service:
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [memory_limiter, redaction], exporters: [otlp_grpc] }}
  telemetry: {{ logs: {{ level: info, format: json }} }}
"#,
            sink.grpc
        ),
    );
    let (mut agent, grpc) = spawn_agent(&config);
    let body = Bytes::from(spans(0, 500).encode_to_vec());

    // Spans delivered per second while `clients` send for `secs`, and the
    // requests refused.
    let flood = |clients: usize, secs: u64| {
        let body = body.clone();
        let state = sink.state.clone();
        async move {
            let before = state.items::<Traces>();
            let until = std::time::Instant::now() + Duration::from_secs(secs);
            let tasks: Vec<_> = (0..clients)
                .map(|_| {
                    let body = body.clone();
                    tokio::spawn(async move {
                        let mut client = connect(grpc).await.unwrap();
                        let mut refused = Vec::new();
                        while std::time::Instant::now() < until {
                            if let Err(status) = export(&mut client, body.clone()).await {
                                refused.push(status.code());
                            }
                        }
                        refused
                    })
                })
                .collect();
            let mut refused = Vec::new();
            for task in tasks {
                refused.extend(task.await.unwrap());
            }
            let rate = (state.items::<Traces>() - before) as f64 / secs as f64;
            (rate, refused)
        }
    };
    let (steady, _) = flood(6, 3).await;
    let (flooded, refused) = flood(48, 3).await;
    let peak = memory_mib(agent.id(), "VmHWM");
    agent.kill().unwrap();
    let _ = agent.wait();
    eprintln!(
        "6 clients: {steady:.0} spans/s; 48 clients: {flooded:.0} spans/s, {} refused; peak RSS {peak} MiB",
        refused.len()
    );
    assert!(
        refused.iter().all(|c| *c == Code::Unavailable),
        "{refused:?}"
    );
    assert!(
        flooded >= 0.5 * steady,
        "goodput fell from {steady:.0} to {flooded:.0} spans/s under the flood"
    );
    assert!(peak < limit_mib, "peak RSS {peak} MiB over {limit_mib} MiB");
}

/// A gauge's value, as `/metrics` renders it.
fn gauge(metrics: &ignis_agent::metrics::Registry, name: &str) -> Option<f64> {
    metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// A burst of requests that inflate to 4 MiB each (compressed bombs) is
/// counted as it inflates; within a second of it what the agent holds is
/// back to nothing, and the next request is taken at once (an RSS-sampling
/// limiter refused everything for seconds after such a spike).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_is_back_within_a_second_of_a_spike() {
    let _alone = crate::common::exclusive().await;
    // In this process: no port to pick for the admin endpoint, and the
    // figures read from the agent's own registry.
    let sink = Sink::start().await;
    let agent = crate::common::start_agent(&format!(
        r#"receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }}
processors:
  memory_limiter: {{ limit_mib: 4096 }}  # a test process holds more than one agent
exporters:
  otlp_grpc: {{ endpoint: "http://{}" }}
service:
  admin: {{ endpoint: "" }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [memory_limiter], exporters: [otlp_grpc] }}
"#,
        sink.grpc
    ))
    .await;
    let grpc = crate::common::addr(&agent, "otlp/grpc");
    let metrics = std::sync::Arc::clone(&agent.metrics);
    let mut bomb = spans(0, 1);
    let attributes = &mut bomb.resource_spans[0].scope_spans[0].spans[0].attributes;
    attributes.push(ignis_agent::proto::common::v1::KeyValue {
        key: "filler".into(),
        value: Some(ignis_agent::proto::common::v1::AnyValue {
            value: Some(
                ignis_agent::proto::common::v1::any_value::Value::StringValue(
                    "a".repeat((4 << 20) - 4096),
                ),
            ),
        }),
        ..Default::default()
    });
    let bomb = Bytes::from(bomb.encode_to_vec());
    let spike: Vec<_> = (0..24)
        .map(|_| {
            let bomb = bomb.clone();
            tokio::spawn(async move {
                grpc_export::<Traces>(grpc, bomb, Some(tonic::codec::CompressionEncoding::Gzip))
                    .await
                    .map_err(|s| s.code())
            })
        })
        .collect();
    // What the budget counted, sampled until every bomb is answered.
    let answered_all = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watching = {
        let (answered_all, metrics) = (answered_all.clone(), metrics.clone());
        tokio::spawn(async move {
            let mut peak = 0.0f64;
            while !answered_all.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(gauge(&metrics, "ignis_memory_budget_used_bytes").unwrap_or(0.0));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        })
    };
    let mut taken = 0;
    for answer in spike {
        let answer = answer.await.unwrap();
        assert!(
            matches!(answer, Ok(_) | Err(Code::Unavailable)),
            "{answer:?}"
        );
        taken += answer.is_ok() as usize;
    }
    answered_all.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = watching.await.unwrap();
    let over = std::time::Instant::now();
    let mut freed = None;
    while over.elapsed() < Duration::from_secs(1) {
        if gauge(&metrics, "ignis_memory_budget_used_bytes") == Some(0.0) {
            freed = Some(over.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = std::time::Instant::now();
    let small =
        grpc_export::<Traces>(grpc, Bytes::from(spans(100, 10).encode_to_vec()), None).await;
    let answered = started.elapsed();
    agent.shutdown().await;
    eprintln!(
        "spike: {taken} of 24 taken, budget peak {:.0} MiB; held nothing {freed:?} after; next request answered in {answered:?}",
        peak / 1048576.0
    );
    assert!(taken > 0, "the spike was taken in part");
    assert!(
        peak >= 4.0 * 1048576.0,
        "the inflated bodies were counted: {peak}"
    );
    assert!(
        freed.is_some(),
        "the budget still held bytes a second after the spike"
    );
    small.expect("taken right after the spike");
    assert!(
        answered < Duration::from_millis(500),
        "a small request waited {answered:?}"
    );
}

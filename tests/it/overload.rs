//! Overload: a client sending faster than the destination takes gets
//! retryable refusals, the agent's memory stays under its limit, and
//! everything acknowledged is delivered once the destination is back.

use crate::common;

use bytes::Bytes;
use common::client::{grpc_export, span_numbers, spans};
use common::process::{spawn_agent, write_config};
use common::sink::Sink;
use common::wait_until;
use ignis_agent::signal::Traces;
use prost::Message;
use std::time::Duration;
use tonic::Code;

fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

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
    // The destination is down; 8 clients offer ~160 MB.
    let mut clients = Vec::new();
    for c in 0..8u64 {
        clients.push(tokio::spawn(async move {
            let (mut acknowledged, mut refusals) = (Vec::new(), Vec::new());
            for r in 0..50u64 {
                let first = (c * 50 + r) * 2000;
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
    let peak = peak_rss_mib(agent.id());
    assert!(
        peak < limit_mib,
        "peak RSS {peak} MiB over the {limit_mib} MiB limit"
    );

    let sink = Sink::start_on(&format!("127.0.0.1:{port}"), "127.0.0.1:0").await;
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

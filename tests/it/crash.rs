//! `kill -9` in the middle of a stream: with a disk queue, everything the
//! client saw acknowledged reaches the destination after a restart.

use crate::common;

use bytes::Bytes;
use common::client::{grpc_export, span_numbers, spans};
use common::process::{spawn_agent, write_config};
use common::sink::Sink;
use common::wait_until;
use ignis_agent::signal::Traces;
use prost::Message;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_acknowledged() {
    // The destination is down at first: data piles up in the disk queue.
    let port = crate::common::closed_port();
    let dir = tempfile::tempdir().unwrap();
    let queue_dir = dir.path().join("queue");
    let config = write_config(
        &dir,
        &format!(
            r#"receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }}
processors:
  memory_limiter: {{ limit_mib: 4096 }}  # a test process holds more than one agent
exporters:
  otlp_grpc:
    endpoint: http://127.0.0.1:{port}
    sending_queue: {{ storage: disk, directory: {}, fsync: always }}
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 0 }}
    batch: {{ flush_timeout: 20ms }}
service:
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [memory_limiter], exporters: [otlp_grpc] }}
  telemetry: {{ logs: {{ level: info, format: json }} }}
"#,
            queue_dir.display()
        ),
    );
    let (mut agent, grpc) = spawn_agent(&config);

    // A steady stream; the agent dies in the middle of it.
    let sender = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for i in 0..400u64 {
            let body = Bytes::from(spans(i * 5, 5).encode_to_vec());
            if grpc_export::<Traces>(grpc, body, None).await.is_ok() {
                acknowledged.extend(i * 5..i * 5 + 5);
            }
        }
        acknowledged
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.kill().unwrap(); // SIGKILL
    agent.wait().unwrap();
    let acknowledged = sender.await.unwrap();
    assert!(
        acknowledged.len() >= 50,
        "the stream was under way: {}",
        acknowledged.len()
    );
    assert!(acknowledged.len() < 2000, "the kill came mid-stream");

    // Restart with the same config; the destination is back.
    let sink = Sink::start_at(port).await;
    let (mut agent, _) = spawn_agent(&config);
    let state = sink.state.clone();
    let all_there = wait_until(Duration::from_secs(20), || {
        let received = span_numbers(&state.requests::<Traces>());
        acknowledged
            .iter()
            .all(|n| received.binary_search(n).is_ok())
    })
    .await;
    let received = span_numbers(&state.requests::<Traces>());
    agent.kill().unwrap();
    let _ = agent.wait();
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|n| received.binary_search(n).is_err())
        .collect();
    assert!(
        all_there,
        "{} acknowledged spans lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let duplicates = received.len()
        - received
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len();
    eprintln!(
        "acknowledged {}, received {} ({} duplicates)",
        acknowledged.len(),
        received.len(),
        duplicates
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_queue_directory_still_starts_and_delivers_the_rest() {
    let port = crate::common::closed_port();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }}
processors:
  memory_limiter: {{ limit_mib: 4096 }}  # a test process holds more than one agent
exporters:
  otlp_grpc:
    endpoint: http://127.0.0.1:{port}
    sending_queue: {{ storage: disk, directory: {}, segment_size: 16KiB }}
    retry_on_failure: {{ initial_interval: 50ms, max_interval: 100ms }}
    batch: {{ flush_timeout: 10ms }}
service:
  grace_period: 1s
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [memory_limiter], exporters: [otlp_grpc] }}
"#,
        dir.path().display()
    );
    // Fill the queue while the destination is down, then stop.
    let agent = common::start_agent(&yaml).await;
    let grpc = common::addr(&agent, "otlp/grpc");
    for i in 0..60u64 {
        grpc_export::<Traces>(grpc, Bytes::from(spans(i * 10, 10).encode_to_vec()), None)
            .await
            .unwrap();
    }
    agent.shutdown().await;

    // Damage it: flip bytes in the middle of one segment, tear another's
    // tail, and drop garbage files in.
    let queue = dir.path().join("otlp_grpc").join("traces");
    let mut segments: Vec<_> = std::fs::read_dir(&queue)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segments.sort();
    assert!(segments.len() >= 3, "{segments:?}");
    let mut bytes = std::fs::read(&segments[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 16]
        .iter_mut()
        .for_each(|b| *b ^= 0xa5);
    std::fs::write(&segments[0], bytes).unwrap();
    let torn = std::fs::metadata(&segments[1]).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segments[1])
        .unwrap()
        .set_len(torn - 100)
        .unwrap();
    std::fs::write(queue.join("checkpoint"), b"garbage").unwrap();
    std::fs::write(
        queue.join("00000000000000000000.seg"),
        b"not a segment at all",
    )
    .unwrap();

    let sink = Sink::start_at(port).await;
    let agent = common::start_agent(&yaml).await;
    let state = sink.state.clone();
    let metrics = agent.metrics.clone();
    let settled = wait_until(Duration::from_secs(10), || {
        metrics.total("ignis_queue_corrupt_records", &[]) >= 3 && state.items::<Traces>() >= 450
    })
    .await;
    let received = span_numbers(&state.requests::<Traces>());
    assert!(
        settled,
        "received {} spans, {} corrupt records counted",
        received.len(),
        metrics.total("ignis_queue_corrupt_records", &[])
    );
    // Most of it arrives; the damaged records are counted, not delivered.
    assert!(received.len() < 600);
    agent.shutdown().await;
}

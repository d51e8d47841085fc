//! Batching, splitting and retrying between the queue and the destination.

use crate::common;

use bytes::Bytes;
use common::client::{grpc_export, span_numbers, spans};
use common::sink::{Reply, Sink};
use common::{addr, agent_yaml, start_agent, wait_until};
use ignis_agent::proto::rpc;
use ignis_agent::signal::Traces;
use prost::Message;
use std::time::Duration;
use tonic::Code;

fn exporter(endpoint: String, extra: &str) -> String {
    format!(
        "    endpoint: {endpoint}\n    retry_on_failure: {{ initial_interval: 50ms, max_interval: 200ms, max_elapsed_time: 20s }}\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_requests_coalesce_into_few_batches() {
    let sink = Sink::start().await;
    let yaml = agent_yaml(
        "otlp_grpc",
        &exporter(
            format!("http://{}", sink.grpc),
            "    batch: { flush_timeout: 500ms, max_size: 1000 }\n",
        ),
    );
    let agent = start_agent(&yaml).await;
    let grpc = addr(&agent, "otlp/grpc");
    let mut sends = Vec::new();
    for i in 0..200u64 {
        let body = Bytes::from(spans(i, 1).encode_to_vec());
        sends.push(tokio::spawn(async move {
            grpc_export::<Traces>(grpc, body, None).await
        }));
    }
    for send in sends {
        send.await.unwrap().expect("acknowledged");
    }
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 200).await);
    let requests = state.requests::<Traces>();
    assert_eq!(span_numbers(&requests), (0..200).collect::<Vec<_>>());
    assert!(
        requests.len() <= 10,
        "200 one-span requests became {} batches",
        requests.len()
    );
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_request_is_split_under_max_bytes() {
    let sink = Sink::start().await;
    let max_bytes = 64 * 1024;
    let yaml = agent_yaml(
        "otlp_grpc",
        &exporter(
            format!("http://{}", sink.grpc),
            &format!("    batch: {{ flush_timeout: 10ms, max_bytes: {max_bytes} }}\n"),
        ),
    );
    let agent = start_agent(&yaml).await;
    let request = spans(0, 5000);
    assert!(request.encoded_len() > 8 * max_bytes);
    grpc_export::<Traces>(
        addr(&agent, "otlp/grpc"),
        Bytes::from(request.encode_to_vec()),
        None,
    )
    .await
    .expect("acknowledged");
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(10), || state.items::<Traces>() >= 5000).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let requests = state.requests::<Traces>();
    assert!(requests.len() >= 8, "{} parts", requests.len());
    for part in &requests {
        assert!(
            part.encoded_len() <= max_bytes,
            "part of {} bytes",
            part.encoded_len()
        );
    }
    assert_eq!(
        span_numbers(&requests),
        (0..5000).collect::<Vec<_>>(),
        "nothing lost or duplicated"
    );
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_answers_are_retried_and_permanent_ones_dropped_and_counted() {
    let sink = Sink::start().await;
    let yaml = agent_yaml(
        "otlp_grpc",
        &exporter(
            format!("http://{}", sink.grpc),
            "    batch: { flush_timeout: 10ms }\n",
        ),
    );
    let agent = start_agent(&yaml).await;
    let grpc = addr(&agent, "otlp/grpc");
    let with_retry_info = tonic::Status::with_details(
        Code::ResourceExhausted,
        "slow down",
        rpc::status_with_retry_info(8, "slow down", Duration::from_millis(100)).into(),
    );
    sink.script([
        Reply::Grpc(tonic::Status::unavailable("restarting")),
        Reply::Grpc(tonic::Status::deadline_exceeded("slow")),
        Reply::Grpc(with_retry_info),
    ]);
    grpc_export::<Traces>(grpc, Bytes::from(spans(0, 10).encode_to_vec()), None)
        .await
        .unwrap();
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 10).await);
    assert_eq!(*state.attempts.lock().unwrap(), 4);

    // Permanent: INVALID_ARGUMENT and RESOURCE_EXHAUSTED without RetryInfo.
    sink.script([
        Reply::Grpc(tonic::Status::invalid_argument("bad data")),
        Reply::Grpc(tonic::Status::resource_exhausted("quota")),
    ]);
    grpc_export::<Traces>(grpc, Bytes::from(spans(100, 3).encode_to_vec()), None)
        .await
        .unwrap();
    let metrics = agent.metrics.clone();
    assert!(
        wait_until(Duration::from_secs(5), || {
            metrics.total(
                "ignis_exporter_dropped_items",
                &[("reason", "permanent_error")],
            ) == 3
        })
        .await
    );
    grpc_export::<Traces>(grpc, Bytes::from(spans(200, 4).encode_to_vec()), None)
        .await
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || {
            metrics.total(
                "ignis_exporter_dropped_items",
                &[("reason", "permanent_error")],
            ) == 7
        })
        .await
    );
    assert_eq!(
        *state.attempts.lock().unwrap(),
        6,
        "permanent errors are not retried"
    );

    // Partial success: delivered, the rejected part counted.
    sink.script([Reply::Partial(2, "2 spans too old")]);
    grpc_export::<Traces>(grpc, Bytes::from(spans(300, 5).encode_to_vec()), None)
        .await
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || {
            metrics.total("ignis_exporter_partial_success_rejected_items", &[]) == 2
        })
        .await
    );
    assert_eq!(metrics.total("otelcol_exporter_sent_spans", &[]), 10 + 3);
    assert_eq!(metrics.total("otelcol_exporter_send_failed_spans", &[]), 7);
    assert_eq!(
        metrics.total("otelcol_receiver_accepted_spans", &[]),
        10 + 3 + 4 + 5
    );
    let text = metrics.render();
    assert!(
        text.contains("otelcol_exporter_sent_spans{exporter=\"otlp_grpc/out\"} 13"),
        "{text}"
    );
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_exporter_follows_retry_after_and_splits_on_413() {
    let sink = Sink::start().await;
    let yaml = agent_yaml(
        "otlp_http",
        &exporter(
            format!("http://{}", sink.http),
            "    batch: { flush_timeout: 10ms }\n",
        ),
    );
    let agent = start_agent(&yaml).await;
    sink.script([
        Reply::Http(503, Some(1)),
        Reply::Http(413, None),
        Reply::Http(429, Some(0)),
    ]);
    let started = tokio::time::Instant::now();
    grpc_export::<Traces>(
        addr(&agent, "otlp/grpc"),
        Bytes::from(spans(0, 8).encode_to_vec()),
        None,
    )
    .await
    .unwrap();
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(10), || state.items::<Traces>() == 8).await);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was followed"
    );
    let requests = state.requests::<Traces>();
    assert_eq!(requests.len(), 2, "the 413 split the batch in two");
    assert_eq!(span_numbers(&requests), (0..8).collect::<Vec<_>>());
    let headers = state.last_headers.lock().unwrap().clone();
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["content-type"], "application/x-protobuf");
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_reach_the_destination() {
    let sink = Sink::start().await;
    let yaml = agent_yaml(
        "otlp_grpc",
        &exporter(
            format!("http://{}", sink.grpc),
            "    compression: zstd\n    headers: { authorization: \"Bearer abc\", x-tenant: acme }\n    batch: { flush_timeout: 10ms }\n",
        ),
    );
    let agent = start_agent(&yaml).await;
    grpc_export::<Traces>(
        addr(&agent, "otlp/grpc"),
        Bytes::from(spans(0, 1).encode_to_vec()),
        None,
    )
    .await
    .unwrap();
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 1).await);
    let headers = state.last_headers.lock().unwrap().clone();
    assert_eq!(headers["authorization"], "Bearer abc");
    assert_eq!(headers["x-tenant"], "acme");
    assert_eq!(headers["grpc-encoding"], "zstd");
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_with_a_retryable_answer() {
    // The destination is down and the queue holds one request: the next is
    // refused with UNAVAILABLE + RetryInfo, and nothing acknowledged is lost.
    let mut sink = Sink::start().await;
    let sink_addr = sink.grpc;
    sink.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let yaml = agent_yaml(
        "otlp_grpc",
        &exporter(
            format!("http://{sink_addr}"),
            "    sending_queue: { max_size: 2KiB, block_timeout: 100ms, num_consumers: 1 }\n    batch: { flush_timeout: 10ms, max_size: 1 }\n",
        ),
    );
    let agent = start_agent(&yaml).await;
    let grpc = addr(&agent, "otlp/grpc");
    let mut acknowledged = Vec::new();
    let mut refusal = None;
    for i in 0..20u64 {
        match grpc_export::<Traces>(grpc, Bytes::from(spans(i * 10, 10).encode_to_vec()), None)
            .await
        {
            Ok(_) => acknowledged.extend(i * 10..i * 10 + 10),
            Err(status) => {
                refusal = Some(status);
                break;
            }
        }
    }
    let status = refusal.expect("a full queue refuses");
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        rpc::retry_delay(status.details()),
        Some(Duration::from_secs(1))
    );
    // Refused before it was read (the queue had no room through the
    // admission wait): counted as a request, its spans unknown.
    assert_eq!(
        agent.metrics.total(
            "ignis_receiver_refused_requests",
            &[("reason", "queue_full")]
        ),
        1
    );

    // The destination comes back on the same port: everything acknowledged arrives.
    let sink = Sink::start_on(&sink_addr.to_string()).await;
    let state = sink.state.clone();
    let expected = acknowledged.len();
    assert!(
        wait_until(Duration::from_secs(10), || state.items::<Traces>()
            >= expected)
        .await
    );
    let numbers = span_numbers(&state.requests::<Traces>());
    for n in &acknowledged {
        assert!(numbers.contains(n), "acknowledged span {n} lost");
    }
    agent.shutdown().await;
}

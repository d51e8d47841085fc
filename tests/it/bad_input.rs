//! Malformed, oversize and unsupported requests get the right OTLP answer,
//! nothing panics, and the agent keeps serving.

use crate::common;

use bytes::Bytes;
use common::client::{grpc_export, span_numbers, spans};
use common::sink::Sink;
use common::{addr, fast_delivery, start_agent, wait_until};
use ignis_agent::compression::compress;
use ignis_agent::compression::Compression;
use ignis_agent::signal::{Logs, Metrics, Traces};
use prost::Message;
use std::time::Duration;
use tonic::codec::CompressionEncoding;
use tonic::Code;

fn yaml(sink: &Sink) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0", max_recv_msg_size_mib: 1 }}
      http: {{ endpoint: "127.0.0.1:0", max_request_body_size: 100000 }}
processors:
  memory_limiter: {{ limit_mib: 4096 }}  # a test process holds more than one agent
exporters:
  otlp_grpc:
    endpoint: http://{}
{}
service:
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [memory_limiter], exporters: [otlp_grpc] }}
    logs: {{ receivers: [otlp], processors: [memory_limiter], exporters: [otlp_grpc] }}
"#,
        sink.grpc,
        fast_delivery()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_refusals_have_the_right_codes() {
    let sink = Sink::start().await;
    let agent = start_agent(&yaml(&sink)).await;
    let grpc = addr(&agent, "otlp/grpc");

    let malformed =
        grpc_export::<Traces>(grpc, Bytes::from_static(b"\xff\xff\xff\x07garbage"), None).await;
    assert_eq!(malformed.unwrap_err().code(), Code::InvalidArgument);

    // A JSON body sent as protobuf is malformed too.
    let json = grpc_export::<Logs>(grpc, Bytes::from_static(b"{\"resourceLogs\":[]}"), None).await;
    assert_eq!(json.unwrap_err().code(), Code::InvalidArgument);

    let big = Bytes::from(spans(0, 15_000).encode_to_vec());
    assert!(big.len() > 1 << 20);
    let oversize = grpc_export::<Traces>(grpc, big.clone(), None).await;
    assert_eq!(
        oversize.unwrap_err().code(),
        Code::ResourceExhausted,
        "uncompressed oversize"
    );
    let oversize = grpc_export::<Traces>(grpc, big, Some(CompressionEncoding::Gzip)).await;
    assert_eq!(
        oversize.unwrap_err().code(),
        Code::ResourceExhausted,
        "oversize after decompression"
    );

    // Bombs: 64 MiB of zeros compress to a few tens of KiB. tonic inflates
    // no more than the limit and answers RESOURCE_EXHAUSTED (final for
    // OTLP clients, so not resent), not a reset stream (which clients see
    // as UNAVAILABLE and retry).
    let zeros = Bytes::from(vec![0u8; 64 << 20]);
    for encoding in [CompressionEncoding::Gzip, CompressionEncoding::Zstd] {
        let bomb = grpc_export::<Traces>(grpc, zeros.clone(), Some(encoding)).await;
        let status = bomb.unwrap_err();
        assert_eq!(
            status.code(),
            Code::ResourceExhausted,
            "{encoding:?} bomb: {status:?}"
        );
    }

    // No pipeline takes metrics from this receiver.
    let metrics = grpc_export::<Metrics>(grpc, Bytes::new(), None).await;
    assert_eq!(metrics.unwrap_err().code(), Code::Unimplemented);

    // Still serving: a good request is acknowledged and delivered.
    let good = Bytes::from(spans(1, 3).encode_to_vec());
    grpc_export::<Traces>(grpc, good, Some(CompressionEncoding::Gzip))
        .await
        .expect("accepted");
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 3).await);
    assert_eq!(span_numbers(&state.requests::<Traces>()), vec![1, 2, 3]);
    agent.shutdown().await;
}

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

fn post(url: &str, content_type: &str, encoding: Option<&str>, body: Vec<u8>) -> Answer {
    let client = reqwest::blocking::Client::new();
    let mut request = client
        .post(url)
        .header("content-type", content_type)
        .body(body);
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    let response = request.send().expect("agent answers");
    Answer {
        status: response.status().as_u16(),
        content_type: response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default(),
        body: response.bytes().unwrap().to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_refusals_have_the_right_statuses() {
    let sink = Sink::start().await;
    let agent = start_agent(&yaml(&sink)).await;
    let base = format!("http://{}", addr(&agent, "otlp/http"));
    let answers = tokio::task::spawn_blocking(move || {
        let traces = format!("{base}/v1/traces");
        let good = spans(10, 2).encode_to_vec();
        let bomb = compress(&vec![b'a'; 10 << 20], Compression::Gzip);
        let client = reqwest::blocking::Client::new();
        vec![
            (
                "malformed protobuf",
                post(
                    &traces,
                    "application/x-protobuf",
                    None,
                    b"\xff\xff\xff".to_vec(),
                ),
            ),
            (
                "malformed json",
                post(
                    &traces,
                    "application/json",
                    None,
                    b"{\"resourceSpans\": [".to_vec(),
                ),
            ),
            (
                "wrong json type",
                post(
                    &traces,
                    "application/json",
                    None,
                    b"{\"resourceSpans\": 5}".to_vec(),
                ),
            ),
            (
                "bad hex id",
                post(
                    &traces,
                    "application/json",
                    None,
                    br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#
                        .to_vec(),
                ),
            ),
            (
                "oversize",
                post(
                    &traces,
                    "application/x-protobuf",
                    None,
                    spans(0, 2000).encode_to_vec(),
                ),
            ),
            (
                "gzip bomb",
                post(&traces, "application/x-protobuf", Some("gzip"), bomb),
            ),
            (
                "broken gzip",
                post(
                    &traces,
                    "application/x-protobuf",
                    Some("gzip"),
                    b"not gzip".to_vec(),
                ),
            ),
            (
                "unknown encoding",
                post(&traces, "application/x-protobuf", Some("br"), good.clone()),
            ),
            (
                "text body",
                post(&traces, "text/plain", None, b"hello".to_vec()),
            ),
            (
                "no pipeline",
                post(
                    &format!("{base}/v1/metrics"),
                    "application/x-protobuf",
                    None,
                    vec![],
                ),
            ),
            (
                "unknown path",
                post(
                    &format!("{base}/v2/traces"),
                    "application/x-protobuf",
                    None,
                    good.clone(),
                ),
            ),
            ("GET", {
                let r = client.get(&traces).send().unwrap();
                Answer {
                    status: r.status().as_u16(),
                    content_type: String::new(),
                    body: vec![],
                }
            }),
            (
                "good gzip",
                post(
                    &traces,
                    "application/x-protobuf",
                    Some("gzip"),
                    compress(&good, Compression::Gzip),
                ),
            ),
            (
                "good json",
                post(
                    &traces,
                    "application/json; charset=utf-8",
                    None,
                    serde_json::to_vec(&spans(12, 1)).unwrap(),
                ),
            ),
        ]
    })
    .await
    .unwrap();
    let expected = [
        ("malformed protobuf", 400),
        ("malformed json", 400),
        ("wrong json type", 400),
        ("bad hex id", 400),
        ("oversize", 413),
        ("gzip bomb", 413),
        ("broken gzip", 400),
        ("unknown encoding", 415),
        ("text body", 415),
        ("no pipeline", 404),
        ("unknown path", 404),
        ("GET", 405),
        ("good gzip", 200),
        ("good json", 200),
    ];
    for ((name, answer), (expected_name, status)) in answers.iter().zip(expected) {
        assert_eq!(*name, expected_name);
        assert_eq!(
            answer.status,
            status,
            "{name}: {}",
            String::from_utf8_lossy(&answer.body)
        );
    }
    // Errors come back as google.rpc.Status in the request's format.
    let malformed = &answers[0].1;
    assert_eq!(malformed.content_type, "application/x-protobuf");
    let status = ignis_agent::proto::rpc::Status::decode(malformed.body.as_slice()).unwrap();
    assert_eq!(status.code, Code::InvalidArgument as i32);
    let json: serde_json::Value = serde_json::from_slice(&answers[1].1.body).unwrap();
    assert_eq!(json["code"], Code::InvalidArgument as i32);
    assert_eq!(answers[13].1.content_type, "application/json");

    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 3).await);
    assert_eq!(span_numbers(&state.requests::<Traces>()), vec![10, 11, 12]);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_bearer_token_is_required() {
    use common::client::grpc_export_with;
    let sink = Sink::start().await;
    let yaml = yaml(&sink).replace(
        "max_recv_msg_size_mib: 1 }",
        "max_recv_msg_size_mib: 1, auth: { bearer_token: app-token-1 } }",
    );
    let yaml = yaml.replace(
        "max_request_body_size: 100000 }",
        "max_request_body_size: 100000, auth: { bearer_token: app-token-1 } }",
    );
    let agent = start_agent(&yaml).await;
    let grpc = addr(&agent, "otlp/grpc");
    let body = || Bytes::from(spans(0, 2).encode_to_vec());
    let refused = grpc_export_with::<Traces>(grpc, body(), None, None).await;
    assert_eq!(refused.unwrap_err().code(), Code::Unauthenticated);
    let wrong = grpc_export_with::<Traces>(grpc, body(), None, Some("Bearer nope")).await;
    assert_eq!(wrong.unwrap_err().code(), Code::Unauthenticated);
    grpc_export_with::<Traces>(grpc, body(), None, Some("Bearer app-token-1"))
        .await
        .expect("accepted");

    let url = format!("http://{}/v1/traces", addr(&agent, "otlp/http"));
    let (without, with) = tokio::task::spawn_blocking(move || {
        let client = reqwest::blocking::Client::new();
        let send = |auth: Option<&str>| {
            let mut r = client
                .post(&url)
                .header("content-type", "application/x-protobuf")
                .body(spans(5, 1).encode_to_vec());
            if let Some(a) = auth {
                r = r.header("authorization", a);
            }
            r.send().unwrap().status().as_u16()
        };
        (send(None), send(Some("Bearer app-token-1")))
    })
    .await
    .unwrap();
    assert_eq!((without, with), (401, 200));
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 3).await);
    agent.shutdown().await;
}

//! Raw OTLP clients for tests that need to send exact bytes (malformed,
//! oversize) or build requests by hand.

use bytes::Bytes;
use http::uri::PathAndQuery;
use ignis_agent::proto::codec::ClientCodec;
use ignis_agent::proto::common::v1::{any_value, AnyValue, KeyValue};
use ignis_agent::proto::resource::v1::Resource;
use ignis_agent::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use ignis_agent::signal::{Signal, Traces};
use std::net::SocketAddr;
use tonic::client::Grpc;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

/// Sends `body` as an OTLP Export call for signal `S`.
pub async fn grpc_export<S: Signal>(
    addr: SocketAddr,
    body: Bytes,
    compression: Option<CompressionEncoding>,
) -> Result<S::Response, tonic::Status> {
    grpc_export_with::<S>(addr, body, compression, None).await
}

/// As `grpc_export`, with an `authorization` header when given.
pub async fn grpc_export_with<S: Signal>(
    addr: SocketAddr,
    body: Bytes,
    compression: Option<CompressionEncoding>,
    authorization: Option<&str>,
) -> Result<S::Response, tonic::Status> {
    let mut grpc = connect(addr).await?;
    if let Some(c) = compression {
        grpc = grpc.send_compressed(c);
    }
    export_on::<S>(&mut grpc, body, authorization).await
}

/// A client on one connection, to keep across calls as an SDK keeps it.
pub async fn connect(addr: SocketAddr) -> Result<Grpc<Channel>, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    Ok(Grpc::new(channel).max_encoding_message_size(usize::MAX))
}

/// One OTLP Export call for signal `S` on `grpc`'s connection.
pub async fn export_on<S: Signal>(
    grpc: &mut Grpc<Channel>,
    body: Bytes,
    authorization: Option<&str>,
) -> Result<S::Response, tonic::Status> {
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = PathAndQuery::from_maybe_shared(format!("/{}/Export", S::GRPC_SERVICE)).unwrap();
    let mut request = tonic::Request::new(body);
    if let Some(value) = authorization {
        request
            .metadata_mut()
            .insert("authorization", value.parse().unwrap());
    }
    grpc.unary(request, path, ClientCodec::<S::Response>::default())
        .await
        .map(|r| r.into_inner())
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// The high bit every test span id carries: an id of all zeros is invalid
/// (and dropped), so span 0 must not have one.
const ID_MARK: u64 = 1 << 63;

/// A request of `count` spans whose span ids encode `first..first+count`.
pub fn spans(first: u64, count: u64) -> Traces {
    Traces {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string("service.name", "loadgen"),
                    string("k8s.pod.name", "pod-1"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (first..first + count)
                    .map(|i| Span {
                        trace_id: [(i | ID_MARK).to_be_bytes(), i.to_be_bytes()].concat(),
                        span_id: (i | ID_MARK).to_be_bytes().to_vec(),
                        name: format!("span {i}"),
                        kind: 2,
                        start_time_unix_nano: 1_700_000_000_000_000_000 + i,
                        end_time_unix_nano: 1_700_000_000_000_100_000 + i,
                        attributes: vec![
                            string("http.route", "/orders/{id}"),
                            string("padding", &"x".repeat(40)),
                        ],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The span numbers (as made by `spans`) in received requests.
pub fn span_numbers(requests: &[Traces]) -> Vec<u64> {
    let mut numbers: Vec<u64> = requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| u64::from_be_bytes(s.span_id.as_slice().try_into().unwrap()) & !ID_MARK)
        .collect();
    numbers.sort_unstable();
    numbers
}

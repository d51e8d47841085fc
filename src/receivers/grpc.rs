//! OTLP/gRPC: `TraceService`, `MetricsService` and `LogsService` `Export`.

use super::auth::BearerToken;
use super::refusal::Refusal;
use crate::budget::Held;
use crate::pipeline::Switch;
use crate::proto::codec::ServerCodec;
use crate::signal::Signal;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use http::HeaderValue;
use http_body_util::{BodyExt, BodyStream, StreamBody};
use hyper::body::Frame;
use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tonic::body::Body;
use tonic::codec::{CompressionEncoding, EnabledCompressionEncodings};
use tonic::server::{NamedService, UnaryService};
use tonic::{Code, Status};

/// What an OTLP gRPC `Export` call does with a request, once tonic has
/// framed, decompressed and size-checked it: the agent's receiver, and the
/// sinks used by tests and benchmarks, differ only here.
pub trait ExportHandler<S: Signal>: Clone + Send + Sync + 'static {
    /// Admission before the request is read, knowing the length of its
    /// (possibly compressed) message: may wait for room, or refuse. What
    /// it returns is held until the call is answered.
    fn admit(
        &self,
        _frame_len: usize,
    ) -> impl Future<Output = Result<Option<Held>, Status>> + Send {
        async { Ok(None) }
    }
    /// Handles the request (its protobuf bytes and metadata).
    fn export(
        &self,
        request: tonic::Request<Bytes>,
    ) -> impl Future<Output = Result<S::Response, Status>> + Send;
}

/// One OTLP gRPC service (`TraceService`, ...) for signal `S`.
pub struct ExportService<S, H> {
    handler: H,
    max_message_size: usize,
    signal: PhantomData<fn() -> S>,
}

impl<S, H: Clone> Clone for ExportService<S, H> {
    fn clone(&self) -> Self {
        ExportService {
            handler: self.handler.clone(),
            max_message_size: self.max_message_size,
            signal: PhantomData,
        }
    }
}

impl<S: Signal, H: ExportHandler<S>> ExportService<S, H> {
    pub fn new(handler: H, max_message_size: usize) -> Self {
        ExportService {
            handler,
            max_message_size,
            signal: PhantomData,
        }
    }
}

impl<S: Signal, H> NamedService for ExportService<S, H> {
    const NAME: &'static str = S::GRPC_SERVICE;
}

impl<S: Signal, H: ExportHandler<S>> tower_service::Service<http::Request<Body>>
    for ExportService<S, H>
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            if !request.uri().path().ends_with("/Export") {
                return Ok(Status::unimplemented("only Export is served").into_http());
            }
            let (parts, body) = request.into_parts();
            let (prefix, rest) = frame_prefix(body).await;
            let frame_len = prefix
                .iter()
                .flat_map(|b| b.iter())
                .skip(1)
                .take(4)
                .fold(0usize, |len, b| len << 8 | *b as usize);
            // More than the limit is refused by tonic once it reads the prefix.
            let admitted = this
                .handler
                .admit(frame_len.min(this.max_message_size))
                .await;
            let (mut parts, held) = match admitted {
                Ok(held) => (parts, held),
                Err(status) => return Ok(status.into_http()),
            };
            if let Some(held) = held {
                parts
                    .extensions
                    .insert(Admitted(Arc::new(Mutex::new(held))));
            }
            let replay = futures_util::stream::iter(prefix.into_iter().map(|b| Ok(Frame::data(b))));
            let body = StreamBody::new(replay.chain(BodyStream::new(rest)));
            let request = http::Request::from_parts(parts, Body::new(body));
            let mut accept = EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            accept.enable(CompressionEncoding::Zstd);
            let mut grpc = tonic::server::Grpc::new(ServerCodec::<S::Response>::default())
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(this.max_message_size), None);
            let mut response = grpc.unary(Unary(this.handler, PhantomData), request).await;
            too_large_is_resource_exhausted(&mut response);
            Ok(response)
        })
    }
}

/// What admission holds for a call, until it is answered; the handler
/// counts the message's inflated size into it.
#[derive(Clone)]
struct Admitted(Arc<Mutex<Held>>);

/// Reads a request body until it has the gRPC message prefix (a flag byte
/// and a 4-byte length), without consuming more than the first data
/// frames: those read, and the rest of the body. Fewer than 5 bytes come
/// back when the body ends (or fails) first; tonic then says what is wrong.
async fn frame_prefix(mut body: Body) -> (Vec<Bytes>, Body) {
    let mut read = Vec::new();
    let mut len = 0;
    while len < 5 {
        match body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    len += data.len();
                    // A copy: the frame is a slice of the connection's read
                    // buffer and would keep all of it alive while it waits.
                    read.push(Bytes::copy_from_slice(&data));
                }
                // Trailers before the message: let tonic judge the rest.
                Err(_) => break,
            },
            _ => break,
        }
    }
    (read, body)
}

/// Adapts an `ExportHandler` to tonic's unary service.
struct Unary<S, H>(H, PhantomData<fn() -> S>);

impl<S: Signal, H: ExportHandler<S>> UnaryService<Bytes> for Unary<S, H> {
    type Response = S::Response;
    type Future = BoxFuture<'static, Result<tonic::Response<S::Response>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let handler = self.0.clone();
        Box::pin(async move { handler.export(request).await.map(tonic::Response::new) })
    }
}

/// The agent's receiver: authenticate, validate, then hand to the pipelines.
pub struct Receive<S>(pub Arc<Switch<S>>, pub Option<BearerToken>);

impl<S> Clone for Receive<S> {
    fn clone(&self) -> Self {
        Receive(Arc::clone(&self.0), self.1.clone())
    }
}

impl<S: Signal> ExportHandler<S> for Receive<S> {
    async fn admit(&self, frame_len: usize) -> Result<Option<Held>, Status> {
        let fanout = self.0.current();
        if fanout.is_empty() {
            return Err(Refusal::NoPipeline(S::KIND.as_str()).into_grpc());
        }
        match fanout.admit(frame_len).await {
            Ok(held) => Ok(Some(held)),
            Err(e) => Err(Refusal::Busy(e).into_grpc()),
        }
    }

    async fn export(&self, request: tonic::Request<Bytes>) -> Result<S::Response, Status> {
        if let Some(token) = &self.1 {
            if !token.accepts(&request.metadata().clone().into_headers()) {
                return Err(Refusal::Unauthenticated.into_grpc());
            }
        }
        // The bytes as received travel on unless a processor changes them.
        // One fan-out for the whole request, even if a reload swaps it.
        let fanout = self.0.current();
        // Kept to the end: the request's extensions go with `into_inner`.
        let admitted = request.extensions().get::<Admitted>().cloned();
        if let Some(Admitted(held)) = &admitted {
            let mut held = held.lock().unwrap_or_else(|p| p.into_inner());
            fanout.inflated(&mut held, request.get_ref().len());
        }
        let message = request.into_inner();
        let valid = fanout.validate(message).map_err(|source| {
            Refusal::Malformed {
                signal: S::KIND.as_str(),
                source,
            }
            .into_grpc()
        })?;
        let response = valid.response();
        fanout
            .consume(valid)
            .await
            .map_err(|e| Refusal::Busy(e).into_grpc())?;
        Ok(response)
    }
}

/// tonic answers a frame over the size limit with OUT_OF_RANGE, which OTLP
/// clients must retry, forever. The gRPC convention (and what OTLP clients
/// treat as final) is RESOURCE_EXHAUSTED. Such an error is a trailers-only
/// response, so the code sits in the headers.
fn too_large_is_resource_exhausted(response: &mut http::Response<Body>) {
    let out_of_range = (Code::OutOfRange as i32).to_string();
    if response.headers().get("grpc-status").map(|v| v.as_bytes()) == Some(out_of_range.as_bytes())
    {
        let code = (Code::ResourceExhausted as i32).to_string();
        response
            .headers_mut()
            .insert("grpc-status", HeaderValue::from_str(&code).expect("digits"));
    }
}

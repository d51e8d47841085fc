//! OTLP/gRPC: `TraceService`, `MetricsService` and `LogsService` `Export`.

use super::RETRY_DELAY;
use crate::pipeline::Fanout;
use crate::proto::codec::ServerCodec;
use crate::proto::rpc;
use crate::queue::PushError;
use crate::signal::Signal;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::HeaderValue;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::body::Body;
use tonic::codec::{CompressionEncoding, EnabledCompressionEncodings};
use tonic::server::{NamedService, UnaryService};
use tonic::{Code, Status};

/// One OTLP gRPC service, for signal `S`.
pub struct ExportService<S> {
    fanout: Arc<Fanout<S>>,
    max_message_size: usize,
}

impl<S> Clone for ExportService<S> {
    fn clone(&self) -> Self {
        ExportService {
            fanout: Arc::clone(&self.fanout),
            max_message_size: self.max_message_size,
        }
    }
}

impl<S: Signal> ExportService<S> {
    pub fn new(fanout: Arc<Fanout<S>>, max_message_size: usize) -> Self {
        ExportService {
            fanout,
            max_message_size,
        }
    }
}

impl<S: Signal> NamedService for ExportService<S> {
    const NAME: &'static str = S::GRPC_SERVICE;
}

impl<S: Signal> tower_service::Service<http::Request<Body>> for ExportService<S> {
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
            if this.fanout.is_empty() {
                let message = format!("no pipeline takes {} from this receiver", S::KIND.as_str());
                return Ok(Status::unimplemented(message).into_http());
            }
            if let Err(e) = this.fanout.admit() {
                return Ok(refusal(e).into_http());
            }
            let mut accept = EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            accept.enable(CompressionEncoding::Zstd);
            let mut grpc = tonic::server::Grpc::new(ServerCodec::<S::Response>::default())
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(this.max_message_size), None);
            let handler = Handler {
                fanout: this.fanout,
            };
            let mut response = grpc.unary(handler, request).await;
            too_large_is_resource_exhausted(&mut response);
            Ok(response)
        })
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

struct Handler<S> {
    fanout: Arc<Fanout<S>>,
}

impl<S: Signal> UnaryService<Bytes> for Handler<S> {
    type Response = S::Response;
    type Future = BoxFuture<'static, Result<tonic::Response<S::Response>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let fanout = Arc::clone(&self.fanout);
        Box::pin(async move {
            let body = request.into_inner();
            // Decoding validates the request; the bytes as received travel
            // on unless a processor changes them.
            let decoded = S::decode(body.clone()).map_err(|e| {
                let signal = S::KIND.as_str();
                Status::invalid_argument(format!("malformed OTLP {signal} request: {e}"))
            })?;
            fanout.consume(body, decoded).await.map_err(refusal)?;
            Ok(tonic::Response::new(S::Response::default()))
        })
    }
}

/// A retryable refusal: UNAVAILABLE with RetryInfo, as OTLP asks.
pub fn refusal(error: PushError) -> Status {
    let message = error.to_string();
    let details = rpc::status_with_retry_info(Code::Unavailable as i32, &message, RETRY_DELAY);
    Status::with_details(Code::Unavailable, message, details.into())
}

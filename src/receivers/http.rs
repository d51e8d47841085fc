//! OTLP/HTTP: `POST /v1/traces`, `/v1/metrics`, `/v1/logs` with protobuf or
//! JSON bodies, gzip or zstd encoded, answered in the request's content type.

use super::auth::BearerToken;
use super::RETRY_DELAY;
use crate::compression::{decompress, DecompressError, Encoding};
use crate::pipeline::{Fanout, Valid};
use crate::proto::rpc;
use crate::queue::PushError;
use crate::signal::{Logs, Metrics, Signal, Traces};
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prost::Message;
use std::sync::Arc;

struct Route<S> {
    fanout: Arc<Fanout<S>>,
    limit: usize,
    token: Option<BearerToken>,
}

/// The OTLP/HTTP routes over the three fan-outs; bodies are limited to
/// `limit` bytes both as received and after decompression.
pub fn router(
    traces: Arc<Fanout<Traces>>,
    metrics: Arc<Fanout<Metrics>>,
    logs: Arc<Fanout<Logs>>,
    limit: usize,
    token: Option<BearerToken>,
) -> Router {
    fn at<S: Signal>(fanout: Arc<Fanout<S>>, limit: usize, token: Option<BearerToken>) -> Router {
        let route = Route {
            fanout,
            limit,
            token,
        };
        Router::new().route(S::HTTP_PATH, post(export::<S>).with_state(Arc::new(route)))
    }
    at(traces, limit, token.clone())
        .merge(at(metrics, limit, token.clone()))
        .merge(at(logs, limit, token))
        .fallback(|| async {
            plain(
                StatusCode::NOT_FOUND,
                "not an OTLP path: use /v1/traces, /v1/metrics or /v1/logs",
            )
        })
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Protobuf,
    Json,
}

fn plain(status: StatusCode, message: &str) -> Response {
    (status, message.to_owned()).into_response()
}

/// An error answer: a `google.rpc.Status` in the request's format.
fn status(format: Format, status: StatusCode, code: tonic::Code, message: &str) -> Response {
    let rpc_status = rpc::Status {
        code: code as i32,
        message: message.to_owned(),
        details: vec![],
    };
    let (content_type, body) = match format {
        Format::Protobuf => ("application/x-protobuf", rpc_status.encode_to_vec()),
        Format::Json => (
            "application/json",
            serde_json::json!({ "code": rpc_status.code, "message": message })
                .to_string()
                .into_bytes(),
        ),
    };
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn export<S: Signal>(
    State(route): State<Arc<Route<S>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let format = match content_type.as_deref() {
        Some("application/x-protobuf") | Some("application/protobuf") => Format::Protobuf,
        Some("application/json") => Format::Json,
        _ => {
            return plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/x-protobuf or application/json",
            )
        }
    };
    if route.token.as_ref().is_some_and(|t| !t.accepts(&headers)) {
        return status(
            format,
            StatusCode::UNAUTHORIZED,
            tonic::Code::Unauthenticated,
            "a valid bearer token is required",
        );
    }
    if route.fanout.is_empty() {
        let message = format!("no pipeline takes {} from this receiver", S::KIND.as_str());
        return status(
            format,
            StatusCode::NOT_FOUND,
            tonic::Code::Unimplemented,
            &message,
        );
    }
    if let Err(e) = route.fanout.admit() {
        return refusal(format, e);
    }
    let encoding_header = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let Some(encoding) = Encoding::from_header(encoding_header) else {
        return status(
            format,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            tonic::Code::InvalidArgument,
            "Content-Encoding must be gzip, zstd or identity",
        );
    };
    let too_large = |limit: usize| {
        let message = format!("the request body is larger than the limit of {limit} bytes");
        status(
            format,
            StatusCode::PAYLOAD_TOO_LARGE,
            tonic::Code::ResourceExhausted,
            &message,
        )
    };
    let raw = match Limited::new(body, route.limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(route.limit),
        Err(e) => {
            let message = format!("reading the request body: {e}");
            return status(
                format,
                StatusCode::BAD_REQUEST,
                tonic::Code::InvalidArgument,
                &message,
            );
        }
    };
    let data = match encoding {
        Encoding::Identity => raw,
        _ => match decompress(&raw, encoding, route.limit) {
            Ok(data) => data.into(),
            Err(DecompressError::TooLarge { limit }) => return too_large(limit),
            Err(e) => {
                return status(
                    format,
                    StatusCode::BAD_REQUEST,
                    tonic::Code::InvalidArgument,
                    &e.to_string(),
                )
            }
        },
    };
    // Protobuf travels on as received (unless a processor changes it);
    // JSON is encoded once, here.
    let valid = match format {
        Format::Protobuf => route.fanout.validate(data),
        Format::Json => serde_json::from_slice::<S>(&data)
            .map(|r| {
                let encoded = r.encode_to_vec().into();
                Valid::decoded(r, encoded)
            })
            .map_err(|e| e.to_string()),
    };
    let valid = match valid {
        Ok(decoded) => decoded,
        Err(e) => {
            let message = format!("malformed OTLP {} request: {e}", S::KIND.as_str());
            return status(
                format,
                StatusCode::BAD_REQUEST,
                tonic::Code::InvalidArgument,
                &message,
            );
        }
    };
    match route.fanout.consume(valid).await {
        Ok(()) => success::<S>(format),
        Err(e) => refusal(format, e),
    }
}

fn success<S: Signal>(format: Format) -> Response {
    let response = S::Response::default();
    match format {
        Format::Protobuf => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            response.encode_to_vec(),
        )
            .into_response(),
        Format::Json => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{}",
        )
            .into_response(),
    }
}

/// A retryable refusal: 503 with Retry-After, as OTLP/HTTP asks.
fn refusal(format: Format, error: PushError) -> Response {
    let mut response = status(
        format,
        StatusCode::SERVICE_UNAVAILABLE,
        tonic::Code::Unavailable,
        &error.to_string(),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&RETRY_DELAY.as_secs().max(1).to_string()).expect("digits"),
    );
    response
}

//! OTLP/HTTP: `POST /v1/traces`, `/v1/metrics`, `/v1/logs` with protobuf or
//! JSON bodies, gzip or zstd encoded, answered in the request's content type.

use super::auth::BearerToken;
use super::refusal::Refusal;
use crate::budget::Held;
use crate::compression::{decompress, Encoding};
use crate::pipeline::{Fanout, Malformed, Switch, Valid};
use crate::proto::rpc;
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
use std::time::Duration;

struct Route<S> {
    fanout: Arc<Switch<S>>,
    limit: usize,
    /// How long the body may take to arrive.
    read_timeout: Duration,
    token: Option<BearerToken>,
}

/// The OTLP/HTTP routes over the three fan-outs; bodies are limited to
/// `limit` bytes both as received and after decompression, and to
/// `read_timeout` to arrive.
pub fn router(
    traces: Arc<Switch<Traces>>,
    metrics: Arc<Switch<Metrics>>,
    logs: Arc<Switch<Logs>>,
    limit: usize,
    read_timeout: Duration,
    token: Option<BearerToken>,
) -> Router {
    fn at<S: Signal>(
        fanout: Arc<Switch<S>>,
        limit: usize,
        read_timeout: Duration,
        token: Option<BearerToken>,
    ) -> Router {
        let route = Route {
            fanout,
            limit,
            read_timeout,
            token,
        };
        Router::new().route(S::HTTP_PATH, post(export::<S>).with_state(Arc::new(route)))
    }
    at(traces, limit, read_timeout, token.clone())
        .merge(at(metrics, limit, read_timeout, token.clone()))
        .merge(at(logs, limit, read_timeout, token))
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

/// An error answer: a `google.rpc.Status` in the request's format, with
/// `Retry-After` when the client should retry.
fn refuse(format: Format, refusal: Refusal) -> Response {
    let rpc_status = rpc::Status {
        code: refusal.grpc_code() as i32,
        message: refusal.to_string(),
        details: vec![],
    };
    let (content_type, body) = match format {
        Format::Protobuf => ("application/x-protobuf", rpc_status.encode_to_vec()),
        Format::Json => (
            "application/json",
            serde_json::json!({ "code": rpc_status.code, "message": rpc_status.message })
                .to_string()
                .into_bytes(),
        ),
    };
    let mut response = (
        refusal.http_status(),
        [(header::CONTENT_TYPE, content_type)],
        body,
    )
        .into_response();
    if let Some(delay) = refusal.retry_after() {
        let seconds = delay.as_secs().max(1).to_string();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_str(&seconds).expect("digits"),
        );
    }
    response
}

/// What a body without `Content-Length` is admitted as, before its size is
/// known (then it is counted as it is).
const UNKNOWN_LENGTH: usize = 64 << 10;

/// Reads, inflates and validates the body; `Err` is the answer to give.
/// The bytes it holds are counted until the returned `Held` is dropped.
async fn read<S: Signal>(
    route: &Route<S>,
    format: Format,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Arc<Fanout<S>>, Valid<S>, Held), Refusal> {
    if route.token.as_ref().is_some_and(|t| !t.accepts(headers)) {
        return Err(Refusal::Unauthenticated);
    }
    let fanout = route.fanout.current();
    if fanout.is_empty() {
        return Err(Refusal::NoPipeline(S::KIND.as_str()));
    }
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let mut held = fanout
        .admit(announced.unwrap_or(UNKNOWN_LENGTH).min(route.limit))
        .await?;
    let encoding_header = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let encoding = Encoding::from_header(encoding_header).ok_or(Refusal::UnsupportedEncoding)?;
    let collected = tokio::time::timeout(
        route.read_timeout,
        Limited::new(body, route.limit).collect(),
    );
    let Ok(collected) = collected.await else {
        return Err(Refusal::Slow(route.read_timeout));
    };
    let raw = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(Refusal::TooLarge { limit: route.limit })
        }
        Err(e) => return Err(Refusal::Body(e.to_string())),
    };
    fanout.inflated(&mut held, raw.len());
    let data = match encoding {
        Encoding::Identity => raw,
        _ => decompress(&raw, encoding, route.limit)?.into(),
    };
    fanout.inflated(&mut held, data.len());
    // Protobuf travels on as received (unless a processor changes it);
    // JSON is encoded once, here.
    let valid = match format {
        Format::Protobuf => fanout.validate(data),
        Format::Json => serde_json::from_slice::<S>(&data)
            .map(|r| fanout.validate_decoded(r, None))
            .map_err(Malformed::from),
    };
    let valid = valid.map_err(|source| Refusal::Malformed {
        signal: S::KIND.as_str(),
        source,
    })?;
    // The same fan-out takes it, even if a reload swapped the switch.
    Ok((fanout, valid, held))
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
    let (fanout, valid, _held) = match read(&route, format, &headers, body).await {
        Ok(read) => read,
        Err(refusal) => return refuse(format, refusal),
    };
    let response = valid.response();
    match fanout.consume(valid).await {
        Ok(()) => success::<S>(format, response),
        Err(e) => refuse(format, Refusal::Busy(e)),
    }
}

/// 200 with the response (a `partial_success` when items were dropped).
fn success<S: Signal>(format: Format, response: S::Response) -> Response {
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
            serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec()),
        )
            .into_response(),
    }
}

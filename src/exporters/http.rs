//! `otlp_http` (alias `otlphttp`): OTLP/HTTP with protobuf bodies.

use super::auth::Auth;
use super::otlp::OtlpExporterConfig;
use super::{tls, Batch, Outcome, Transport};
use crate::compression::compress;
use crate::compression::Compression;
use crate::proto::rpc;
use crate::signal::Signal;
use crate::signal::SignalKind;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Response bodies larger than this are not read (a partial-success answer
/// is a few hundred bytes).
const MAX_RESPONSE: usize = 1 << 20;

pub struct HttpTransport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    urls: [Uri; 3],
    headers: HeaderMap,
    compression: Compression,
    timeout: Duration,
    /// Credentials added per request (the `ignis` exporter).
    pub auth: Option<Arc<Auth>>,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("invalid URL {0}")]
    Url(String),
}

impl HttpTransport {
    pub fn new(config: &OtlpExporterConfig) -> Result<Self, HttpSetupError> {
        let connector = tls::connector(&config.tls, false)?;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        let base = config.endpoint.trim_end_matches('/');
        let url = |specific: &Option<String>, path: &str| {
            let text = specific.clone().unwrap_or_else(|| format!("{base}{path}"));
            text.parse::<Uri>().map_err(|_| HttpSetupError::Url(text))
        };
        let mut headers: HeaderMap = config
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v.parse().ok()?)))
            .collect();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("ignis-agent/", env!("CARGO_PKG_VERSION"))),
        );
        match config.compression {
            Compression::Gzip => {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"))
            }
            Compression::Zstd => {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("zstd"))
            }
            Compression::None => None,
        };
        Ok(HttpTransport {
            client,
            urls: [
                url(&config.traces_endpoint, "/v1/traces")?,
                url(&config.metrics_endpoint, "/v1/metrics")?,
                url(&config.logs_endpoint, "/v1/logs")?,
            ],
            headers,
            compression: config.compression,
            timeout: config.timeout.0,
            auth: None,
        })
    }

    fn url(&self, signal: SignalKind) -> &Uri {
        &self.urls[signal as usize]
    }
}

impl<S: Signal> Transport<S> for HttpTransport {
    async fn send(&self, batch: &Batch) -> Outcome {
        let body = Bytes::from(compress(&batch.data, self.compression));
        let mut answer = self.exchange(S::KIND, body.clone()).await;
        // A 401 may mean an expired token or a rotated key: refresh once.
        if matches!(&answer, Ok((parts, _)) if parts.status == StatusCode::UNAUTHORIZED) {
            if let Some(auth) = &self.auth {
                if auth.unauthorized().await {
                    answer = self.exchange(S::KIND, body).await;
                }
            }
        }
        let (parts, body) = match answer {
            Ok(answer) => answer,
            Err(outcome) => return outcome,
        };
        let status = parts.status;
        if status.is_success() {
            let response = decode_response::<S>(&parts.headers, &body);
            return match response.as_ref().and_then(S::rejected) {
                Some((rejected, message)) => Outcome::Sent { rejected, message },
                None => Outcome::Sent {
                    rejected: 0,
                    message: String::new(),
                },
            };
        }
        let reason = format!(
            "HTTP {}: {}",
            status.as_u16(),
            error_message(&parts.headers, &body)
        );
        match status {
            StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => Outcome::Retry {
                after: retry_after(&parts.headers),
                reason,
            },
            StatusCode::PAYLOAD_TOO_LARGE => Outcome::TooLarge { reason },
            _ => Outcome::Permanent { reason },
        }
    }
}

impl HttpTransport {
    /// One POST: the answer's head and body, or a retryable outcome when
    /// there was no answer.
    async fn exchange(
        &self,
        signal: SignalKind,
        body: Bytes,
    ) -> Result<(http::response::Parts, Bytes), Outcome> {
        let mut request = Request::post(self.url(signal).clone())
            .body(Full::new(body))
            .expect("valid request parts");
        *request.headers_mut() = self.headers.clone();
        if let Some(auth) = &self.auth {
            let (name, value) = auth.header().await.map_err(|e| Outcome::Retry {
                after: None,
                reason: e.to_string(),
            })?;
            request.headers_mut().insert(name, value);
        }
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("connection: {e}"))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_RESPONSE)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, String>((parts, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Err(Outcome::Retry {
                after: None,
                reason: format!("no answer within {:?}", self.timeout),
            }),
            Ok(Err(reason)) => Err(Outcome::Retry {
                after: None,
                reason,
            }),
            Ok(Ok(answer)) => Ok(answer),
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

fn decode_response<S: Signal>(headers: &HeaderMap, body: &[u8]) -> Option<S::Response> {
    if body.is_empty() {
        return None;
    }
    if is_json(headers) {
        serde_json::from_slice(body).ok()
    } else {
        S::Response::decode(body).ok()
    }
}

/// The server's explanation: a `google.rpc.Status` message if the body is
/// one, else the start of the body as text.
fn error_message(headers: &HeaderMap, body: &[u8]) -> String {
    let text = if is_json(headers) {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
    } else {
        rpc::Status::decode(body)
            .ok()
            .map(|s| s.message)
            .filter(|m| !m.is_empty())
    };
    let text = text.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    text.chars().filter(|c| !c.is_control()).take(512).collect()
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let later = SystemTime::now() + Duration::from_secs(30);
        h.insert(
            header::RETRY_AFTER,
            httpdate::fmt_http_date(later).parse().unwrap(),
        );
        let d = retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(25) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn error_message_reads_rpc_status() {
        let status = rpc::Status {
            code: 3,
            message: "bad span".into(),
            details: vec![],
        };
        assert_eq!(
            error_message(&HeaderMap::new(), &status.encode_to_vec()),
            "bad span"
        );
        assert_eq!(
            error_message(&HeaderMap::new(), b"plain\ntext"),
            "plaintext"
        );
    }
}

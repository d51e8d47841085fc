//! `otlp_grpc` (alias `otlp`): OTLP over gRPC through tonic.

use super::auth::Auth;
use super::otlp::OtlpExporterConfig;
use super::{tls, Batch, Outcome, Transport};
use crate::compression::Compression;
use crate::proto::codec::ClientCodec;
use crate::proto::rpc;
use crate::signal::Signal;
use http::uri::PathAndQuery;
use std::sync::Arc;
use std::time::Duration;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

pub struct GrpcTransport {
    channel: Channel,
    headers: MetadataMap,
    compression: Option<CompressionEncoding>,
    timeout: Duration,
    /// Credentials added per request (the `ignis` exporter).
    pub auth: Option<Arc<Auth>>,
}

#[derive(Debug, thiserror::Error)]
pub enum GrpcSetupError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("invalid endpoint {0}")]
    Endpoint(String),
}

/// The URL to dial: `http://` is plaintext, `https://` or no scheme is TLS
/// (plaintext with `tls.insecure: true`), as in the Collector.
pub fn dial_url(config: &OtlpExporterConfig) -> String {
    let endpoint = config.endpoint.trim_end_matches('/');
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        endpoint.to_owned()
    } else if config.tls.insecure {
        format!("http://{endpoint}")
    } else {
        format!("https://{endpoint}")
    }
}

impl GrpcTransport {
    pub fn new(config: &OtlpExporterConfig) -> Result<Self, GrpcSetupError> {
        let url = dial_url(config);
        let connector = tls::connector(&config.tls, true)?;
        let channel = Endpoint::from_shared(url.clone())
            .map_err(|_| GrpcSetupError::Endpoint(url))?
            .timeout(config.timeout.0)
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .connect_with_connector_lazy(connector);
        let header_map: http::HeaderMap = config
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v.parse().ok()?)))
            .collect();
        Ok(GrpcTransport {
            channel,
            headers: MetadataMap::from_headers(header_map),
            compression: match config.compression {
                Compression::Gzip => Some(CompressionEncoding::Gzip),
                Compression::Zstd => Some(CompressionEncoding::Zstd),
                Compression::None => None,
            },
            timeout: config.timeout.0,
            auth: None,
        })
    }
}

impl<S: Signal> Transport<S> for GrpcTransport {
    async fn send(&self, batch: &Batch) -> Outcome {
        // A 401 may mean an expired token or a rotated key: refresh once.
        for attempt in 0..2 {
            match self.send_once::<S>(batch).await {
                Err(status) if status.code() == Code::Unauthenticated && attempt == 0 => {
                    match &self.auth {
                        Some(auth) if auth.unauthorized().await => continue,
                        _ => return classify(&status),
                    }
                }
                Err(status) => return classify(&status),
                Ok(outcome) => return outcome,
            }
        }
        unreachable!("the loop returns")
    }
}

impl GrpcTransport {
    async fn send_once<S: Signal>(&self, batch: &Batch) -> Result<Outcome, Status> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd);
        if let Some(encoding) = self.compression {
            grpc = grpc.send_compressed(encoding);
        }
        if let Err(e) = grpc.ready().await {
            return Ok(Outcome::Retry {
                after: None,
                reason: format!("connection: {e}"),
            });
        }
        let mut request = tonic::Request::new(batch.data.clone());
        *request.metadata_mut() = self.headers.clone();
        if let Some(auth) = &self.auth {
            match auth.header().await {
                Ok((name, value)) => {
                    let key = MetadataKey::from_bytes(name.as_str().as_bytes())
                        .expect("a valid header name");
                    let value = MetadataValue::try_from(value.as_bytes())
                        .map_err(|_| Status::unauthenticated("invalid credential"))?;
                    request.metadata_mut().insert(key, value);
                }
                Err(e) => {
                    return Ok(Outcome::Retry {
                        after: None,
                        reason: e.to_string(),
                    })
                }
            }
        }
        request.set_timeout(self.timeout);
        let path = PathAndQuery::from_maybe_shared(format!("/{}/Export", S::GRPC_SERVICE))
            .expect("static service path");
        let response = grpc
            .unary(request, path, ClientCodec::<S::Response>::default())
            .await?;
        Ok(match S::rejected(response.get_ref()) {
            Some((rejected, message)) => Outcome::Sent { rejected, message },
            None => Outcome::Sent {
                rejected: 0,
                message: String::new(),
            },
        })
    }
}

/// The server's RetryInfo, wherever it put it: inside the status details
/// or as a trailer entry of its own.
fn retry_delay(status: &Status) -> Option<Duration> {
    rpc::retry_delay(status.details()).or_else(|| {
        let entry = status.metadata().get_bin(rpc::RETRY_INFO_KEY)?;
        rpc::retry_info_delay(&entry.to_bytes().ok()?)
    })
}

/// Classifies a gRPC error exactly as the OTLP specification says.
pub fn classify(status: &Status) -> Outcome {
    let message: String = status.message().chars().take(512).collect();
    let reason = format!("{:?}: {message}", status.code());
    let delay = retry_delay(status);
    match status.code() {
        Code::Unavailable
        | Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::DataLoss => Outcome::Retry {
            after: delay,
            reason,
        },
        Code::ResourceExhausted if delay.is_some() => Outcome::Retry {
            after: delay,
            reason,
        },
        Code::ResourceExhausted if is_size_error(&message) => Outcome::TooLarge { reason },
        _ => Outcome::Permanent { reason },
    }
}

/// Whether a RESOURCE_EXHAUSTED message says the message was too big (as
/// grpc-go, tonic and the Collector phrase it).
fn is_size_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("too large")
        || m.contains("larger than")
        || (m.contains("size") && m.contains("exceed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_spec() {
        let retry = |s: Status| matches!(classify(&s), Outcome::Retry { .. });
        assert!(retry(Status::unavailable("down")));
        assert!(retry(Status::deadline_exceeded("slow")));
        assert!(retry(Status::aborted("x")));
        assert!(retry(Status::out_of_range("x")));
        assert!(retry(Status::data_loss("x")));
        assert!(retry(Status::cancelled("x")));
        assert!(!retry(Status::resource_exhausted("quota")));
        assert!(!retry(Status::invalid_argument("bad")));
        assert!(!retry(Status::unauthenticated("who")));
        assert!(!retry(Status::permission_denied("no")));
        assert!(!retry(Status::internal("x")));
        assert!(matches!(
            classify(&Status::resource_exhausted(
                "grpc: received message larger than max (5 vs. 4)"
            )),
            Outcome::TooLarge { .. }
        ));
        let details = rpc::status_with_retry_info(8, "slow down", Duration::from_secs(3));
        let status = Status::with_details(Code::ResourceExhausted, "slow down", details.into());
        assert_eq!(
            classify(&status),
            Outcome::Retry {
                after: Some(Duration::from_secs(3)),
                reason: "ResourceExhausted: slow down".into()
            }
        );
        // The other convention: a bare RetryInfo in its own trailer entry.
        let mut status = Status::resource_exhausted("slow down");
        status.metadata_mut().insert_bin(
            rpc::RETRY_INFO_KEY,
            tonic::metadata::MetadataValue::from_bytes(&rpc::retry_info(Duration::from_secs(2))),
        );
        assert_eq!(
            classify(&status),
            Outcome::Retry {
                after: Some(Duration::from_secs(2)),
                reason: "ResourceExhausted: slow down".into()
            }
        );
    }

    #[test]
    fn dial_url_follows_the_collector() {
        let mut c: OtlpExporterConfig =
            serde_json::from_str(r#"{"endpoint":"ignis.example:4317"}"#).unwrap();
        assert_eq!(dial_url(&c), "https://ignis.example:4317");
        c.tls.insecure = true;
        assert_eq!(dial_url(&c), "http://ignis.example:4317");
        c.endpoint = "http://127.0.0.1:4317/".into();
        assert_eq!(dial_url(&c), "http://127.0.0.1:4317");
    }
}

//! `otlp_grpc` (alias `otlp`): OTLP over gRPC through tonic.

use super::{tls, Batch, Outcome, Transport};
use crate::config::{Compression, OtlpExporterConfig};
use crate::proto::codec::ClientCodec;
use crate::proto::rpc;
use crate::signal::Signal;
use http::uri::PathAndQuery;
use std::time::Duration;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

pub struct GrpcTransport {
    channel: Channel,
    headers: MetadataMap,
    compression: Option<CompressionEncoding>,
    timeout: Duration,
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
        })
    }
}

impl<S: Signal> Transport<S> for GrpcTransport {
    async fn send(&self, batch: &Batch) -> Outcome {
        let body = batch.data.clone();
        let mut grpc = tonic::client::Grpc::new(self.channel.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd);
        if let Some(encoding) = self.compression {
            grpc = grpc.send_compressed(encoding);
        }
        if let Err(e) = grpc.ready().await {
            return Outcome::Retry {
                after: None,
                reason: format!("connection: {e}"),
            };
        }
        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = self.headers.clone();
        request.set_timeout(self.timeout);
        let path = PathAndQuery::from_maybe_shared(format!("/{}/Export", S::GRPC_SERVICE))
            .expect("static service path");
        match grpc
            .unary(request, path, ClientCodec::<S::Response>::default())
            .await
        {
            Ok(response) => match S::rejected(response.get_ref()) {
                Some((rejected, message)) => Outcome::Sent { rejected, message },
                None => Outcome::Sent {
                    rejected: 0,
                    message: String::new(),
                },
            },
            Err(status) => classify(&status),
        }
    }
}

/// Classifies a gRPC error exactly as the OTLP specification says.
pub fn classify(status: &Status) -> Outcome {
    let message: String = status.message().chars().take(512).collect();
    let reason = format!("{:?}: {message}", status.code());
    let delay = rpc::retry_delay(status.details());
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

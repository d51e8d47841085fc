//! Why a receiver did not take a request, and how each protocol says it:
//! one type, rendered as a gRPC status or an HTTP response, so both
//! receivers answer the same case with the same code.

use super::RETRY_DELAY;
use crate::compression::DecompressError;
use crate::pipeline::Malformed;
use crate::proto::rpc;
use crate::queue::PushError;
use http::StatusCode;
use std::time::Duration;
use tonic::metadata::MetadataValue;
use tonic::Code;

#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("a valid bearer token is required")]
    Unauthenticated,
    #[error("no pipeline takes {0} from this receiver")]
    NoPipeline(&'static str),
    #[error("Content-Encoding must be gzip, zstd or identity")]
    UnsupportedEncoding,
    #[error("the request body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("reading the request body: {0}")]
    Body(String),
    #[error("the request body did not arrive within {0:?}")]
    Slow(Duration),
    #[error("the body is not valid {encoding}: {message}")]
    Compression {
        encoding: &'static str,
        message: String,
    },
    #[error("malformed OTLP {signal} request: {source}")]
    Malformed {
        signal: &'static str,
        #[source]
        source: Malformed,
    },
    /// The agent cannot take it now (a full queue, the memory limit,
    /// shutdown): the client should retry.
    #[error(transparent)]
    Busy(#[from] PushError),
}

impl From<DecompressError> for Refusal {
    fn from(error: DecompressError) -> Self {
        match error {
            DecompressError::TooLarge { limit } => Refusal::TooLarge { limit },
            DecompressError::Invalid { encoding, message } => {
                Refusal::Compression { encoding, message }
            }
        }
    }
}

impl Refusal {
    /// The gRPC code OTLP prescribes: only `Busy` is retryable.
    pub fn grpc_code(&self) -> Code {
        match self {
            Refusal::Unauthenticated => Code::Unauthenticated,
            Refusal::NoPipeline(_) => Code::Unimplemented,
            Refusal::TooLarge { .. } => Code::ResourceExhausted,
            Refusal::Slow(_) => Code::DeadlineExceeded,
            Refusal::UnsupportedEncoding
            | Refusal::Body(_)
            | Refusal::Compression { .. }
            | Refusal::Malformed { .. } => Code::InvalidArgument,
            Refusal::Busy(_) => Code::Unavailable,
        }
    }

    /// The HTTP status OTLP/HTTP prescribes.
    pub fn http_status(&self) -> StatusCode {
        match self {
            Refusal::Unauthenticated => StatusCode::UNAUTHORIZED,
            Refusal::NoPipeline(_) => StatusCode::NOT_FOUND,
            Refusal::UnsupportedEncoding => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Slow(_) => StatusCode::REQUEST_TIMEOUT,
            Refusal::Body(_) | Refusal::Compression { .. } | Refusal::Malformed { .. } => {
                StatusCode::BAD_REQUEST
            }
            Refusal::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// How long the client should wait before retrying, when it should.
    pub fn retry_after(&self) -> Option<Duration> {
        matches!(self, Refusal::Busy(_)).then_some(RETRY_DELAY)
    }

    /// As a gRPC status. A retryable one carries RetryInfo both ways real
    /// clients read it: inside `grpc-status-details-bin` (Go's status
    /// package, the Collector) and as the `google.rpc.retryinfo-bin` entry
    /// (the OpenTelemetry Python exporter, Google's client libraries).
    pub fn into_grpc(self) -> tonic::Status {
        let code = self.grpc_code();
        let message = self.to_string();
        let Some(delay) = self.retry_after() else {
            return tonic::Status::new(code, message);
        };
        let details = rpc::status_with_retry_info(code as i32, &message, delay);
        let mut status = tonic::Status::with_details(code, message, details.into());
        status.metadata_mut().insert_bin(
            rpc::RETRY_INFO_KEY,
            MetadataValue::from_bytes(&rpc::retry_info(delay)),
        );
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn a_busy_refusal_carries_retry_info_both_ways() {
        let status = Refusal::Busy(PushError::Full).into_grpc();
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(rpc::retry_delay(status.details()), Some(RETRY_DELAY));
        let entry = status
            .metadata()
            .get_bin(rpc::RETRY_INFO_KEY)
            .expect("the trailer entry Python and Google clients read")
            .to_bytes()
            .unwrap();
        let info = rpc::RetryInfo::decode(entry.as_ref()).unwrap();
        assert_eq!(
            info.retry_delay.unwrap().seconds,
            RETRY_DELAY.as_secs() as i64
        );
    }

    #[test]
    fn final_refusals_carry_no_retry_hint() {
        for refusal in [
            Refusal::Unauthenticated,
            Refusal::TooLarge { limit: 1 },
            Refusal::UnsupportedEncoding,
        ] {
            assert!(refusal.retry_after().is_none());
            let status = refusal.into_grpc();
            assert_ne!(status.code(), Code::Unavailable);
            assert!(status.metadata().get_bin(rpc::RETRY_INFO_KEY).is_none());
        }
    }
}

//! `google.rpc.Status` and `google.rpc.RetryInfo`: the gRPC error details an
//! OTLP server uses to say "retry after this delay". Two small messages do not
//! justify a second proto tree, so they are declared here by hand.

use std::time::Duration;

/// `google.rpc.Status`, carried in the `grpc-status-details-bin` trailer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Any {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

const RETRY_INFO_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// An encoded `google.rpc.RetryInfo` with `delay`.
pub fn retry_info(delay: Duration) -> Vec<u8> {
    use prost::Message;
    RetryInfo {
        retry_delay: Some(ProtoDuration {
            seconds: delay.as_secs() as i64,
            nanos: delay.subsec_nanos() as i32,
        }),
    }
    .encode_to_vec()
}

/// Encodes a `google.rpc.Status` whose details hold a RetryInfo with `delay`.
pub fn status_with_retry_info(code: i32, message: &str, delay: Duration) -> Vec<u8> {
    use prost::Message;
    Status {
        code,
        message: message.to_owned(),
        details: vec![Any {
            type_url: RETRY_INFO_URL.to_owned(),
            value: retry_info(delay),
        }],
    }
    .encode_to_vec()
}

/// The RetryInfo delay inside an encoded `google.rpc.Status`, if there is
/// one (`grpc-status-details-bin`: Go's status package, the Collector).
pub fn retry_delay(status_details: &[u8]) -> Option<Duration> {
    use prost::Message;
    let status = Status::decode(status_details).ok()?;
    let any = status
        .details
        .iter()
        .find(|d| d.type_url.ends_with("google.rpc.RetryInfo"))?;
    retry_info_delay(&any.value)
}

/// The delay of an encoded `google.rpc.RetryInfo` (as the
/// `google.rpc.retryinfo-bin` trailer carries it: the OpenTelemetry Python
/// exporter, Google's client libraries).
pub fn retry_info_delay(retry_info: &[u8]) -> Option<Duration> {
    use prost::Message;
    let delay = RetryInfo::decode(retry_info).ok()?.retry_delay?;
    let secs = u64::try_from(delay.seconds).ok()?;
    let nanos = u32::try_from(delay.nanos).ok()?.min(999_999_999);
    Some(Duration::new(secs, nanos))
}

/// The trailer entry that carries a bare `google.rpc.RetryInfo`.
pub const RETRY_INFO_KEY: &str = "google.rpc.retryinfo-bin";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_info_round_trips() {
        let bytes = status_with_retry_info(14, "busy", Duration::from_millis(1500));
        assert_eq!(retry_delay(&bytes), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn garbage_has_no_delay() {
        assert_eq!(retry_delay(b"\xff\xff\xff"), None);
        let plain = Status {
            code: 14,
            message: "x".into(),
            details: vec![],
        };
        assert_eq!(retry_delay(&prost::Message::encode_to_vec(&plain)), None);
    }
}

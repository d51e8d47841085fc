//! OTLP receivers: gRPC (tonic) and HTTP (axum). Both decode, hand the
//! request to the pipelines' fan-out, and answer only once it is queued.

pub mod auth;
pub mod grpc;
pub mod http;
pub mod tls;

use std::time::Duration;

/// What a refused client is told to wait before retrying.
pub const RETRY_DELAY: Duration = Duration::from_secs(1);

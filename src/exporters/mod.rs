//! Exporters: a queue per exporter and signal, drained by senders that batch,
//! encode, compress, send and retry.

pub mod auth;
pub mod batch;
pub mod debug;
pub mod delivery;
pub mod file;
pub mod grpc;
pub mod health;
pub mod http;
pub mod ignis;
pub mod ledger;
pub mod otlp;
pub mod retry;
pub mod sender;
pub mod tls;

use crate::signal::Signal;
use bytes::Bytes;
use std::future::Future;
use std::time::Duration;

/// A batch ready to send: one or more encoded requests of one signal,
/// concatenated (which protobuf reads as one request holding them all).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub data: Bytes,
    pub items: usize,
}

/// How a destination answered one batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Accepted; `rejected` items were refused by the server's partial success.
    Sent { rejected: i64, message: String },
    /// Try again, after `after` if the server said when.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// The batch is too large for the destination: split it and retry.
    TooLarge { reason: String },
    /// The destination will never take this batch.
    Permanent { reason: String },
}

/// One destination protocol: sends a batch of signal `S` and classifies the answer.
pub trait Transport<S: Signal>: Send + Sync + 'static {
    fn send(&self, batch: &Batch) -> impl Future<Output = Outcome> + Send;
}

//! Per-exporter queues. A request is acknowledged to the client only once it
//! is in the queue of every exporter of its pipelines (DESIGN §3).

mod memory;

pub use memory::{Evicted, MemoryQueue};

use bytes::Bytes;

/// One accepted request, encoded as protobuf. Queues hold bytes, not decoded
/// messages: the byte bound is then the real memory cost (a decoded request
/// takes several times its encoded size), fan-out to several exporters
/// shares one buffer, and a batch is sent without re-encoding, because
/// concatenated OTLP requests are one valid request (protobuf merges
/// repeated fields).
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub data: Bytes,
    /// Counted items (spans, data points, log records).
    pub items: usize,
}

impl Entry {
    /// Encoded size, what the queue's byte bound counts.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }
}

/// Why a queue did not take a request. Both are retryable for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("the sending queue is full")]
    Full,
    #[error("the agent is shutting down")]
    Closed,
}

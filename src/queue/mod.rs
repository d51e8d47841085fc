//! Per-exporter queues. A request is acknowledged to the client only once it
//! is in the queue of every exporter of its pipelines (DESIGN §3).

mod memory;

pub use memory::{Evicted, MemoryQueue};

use std::sync::Arc;

/// One accepted request, shared by every exporter it fans out to.
pub struct Entry<S> {
    pub data: Arc<S>,
    /// Encoded size, what the queue's byte bound counts.
    pub bytes: usize,
    /// Counted items (spans, data points, log records).
    pub items: usize,
}

impl<S> Clone for Entry<S> {
    fn clone(&self) -> Self {
        Entry {
            data: Arc::clone(&self.data),
            bytes: self.bytes,
            items: self.items,
        }
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

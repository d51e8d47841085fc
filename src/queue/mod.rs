//! Per-exporter queues. A request is acknowledged to the client only once it
//! is in the queue of every exporter of its pipelines (DESIGN §3).

mod config;
pub mod disk;
mod memory;

pub use config::{FsyncPolicy, QueueConfig, Storage};
pub use disk::{DiskQueue, Position};
pub use memory::{Evicted, MemoryQueue};

use bytes::Bytes;
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// What a full queue does with a new request (`sending_queue.when_full`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    #[default]
    Block,
    DropNewest,
    DropOldest,
}

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
    /// Where a disk queue holds it, to acknowledge it once delivered.
    pub position: Option<Position>,
}

impl Entry {
    /// Encoded size, what the queue's byte bound counts.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }
}

/// Why a queue did not take a request. All are retryable for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("the sending queue is full")]
    Full,
    #[error("the agent is shutting down")]
    Closed,
    #[error("the disk queue cannot write: {0}")]
    Storage(String),
    #[error("the agent is over its memory limit")]
    OverMemoryLimit,
}

/// `when_full` for both queue kinds: `try_push` now, and with `block` wait
/// for room (`room` is woken when some is freed) until `block_timeout`,
/// then refuse. `drop_newest` refuses at once; `drop_oldest` makes room
/// inside `try_push`, which knows how its kind evicts.
async fn admit<T>(
    when_full: WhenFull,
    block_timeout: Duration,
    room: &Notify,
    mut try_push: impl FnMut() -> Result<T, PushError>,
) -> Result<T, PushError> {
    let deadline = Instant::now() + block_timeout;
    loop {
        // Register interest before trying, so a wake between the try and
        // the wait is not lost.
        let freed = room.notified();
        tokio::pin!(freed);
        freed.as_mut().enable();
        match try_push() {
            Err(PushError::Full) if when_full == WhenFull::Block => {
                if tokio::time::timeout_at(deadline, freed).await.is_err() {
                    return Err(PushError::Full);
                }
            }
            result => return result,
        }
    }
}

/// An exporter's queue, in memory or on disk.
pub enum Queue<S> {
    Memory(Box<MemoryQueue<S>>),
    Disk(Box<DiskQueue<S>>),
}

impl<S> Queue<S> {
    /// Takes `entry`; success means it is held (durably, for a disk queue).
    pub async fn push(&self, entry: Entry) -> Result<Evicted, PushError> {
        match self {
            Queue::Memory(q) => q.push(entry).await,
            Queue::Disk(q) => q.push(entry).await,
        }
    }

    /// The next entry, waiting; `None` once closed (and, in memory, drained:
    /// on disk what remains waits for the next start).
    pub async fn pop(&self) -> Option<Entry> {
        match self {
            Queue::Memory(q) => q.pop().await,
            Queue::Disk(q) => q.pop().await,
        }
    }

    pub async fn pop_until(&self, deadline: Instant) -> Option<Entry> {
        match self {
            Queue::Memory(q) => q.pop_until(deadline).await,
            Queue::Disk(q) => q.pop_until(deadline).await,
        }
    }

    /// Waits until the queue would take a request of about `bytes` without
    /// waiting (see `has_room`), or `deadline`; whether it would. Receivers
    /// call it before reading a request, so a full queue slows its senders
    /// instead of making the agent read, process and then refuse. Waiters
    /// take turns in the order they came (tokio's mutex is fair): only the
    /// first waits for room, woken once per entry taken, so none is
    /// overtaken past the deadline under a long overload.
    pub async fn wait_for_room(&self, bytes: usize, deadline: Instant) -> bool {
        let (room, turn) = match self {
            Queue::Memory(q) => q.admission(),
            Queue::Disk(q) => q.admission(),
        };
        let has_room = || match self {
            Queue::Memory(q) => q.has_room(bytes),
            Queue::Disk(q) => q.has_room(bytes),
        };
        // Nobody waiting and room: no turn to take.
        if let Ok(_free) = turn.try_lock() {
            if has_room() {
                return true;
            }
        }
        let Ok(_turn) = tokio::time::timeout_at(deadline, turn.lock()).await else {
            return false;
        };
        loop {
            let freed = room.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if has_room() {
                return true;
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return false;
            }
        }
    }

    /// Entries delivered or dropped for good: their space can be reused.
    pub fn ack(&self, positions: &[Position]) {
        if let Queue::Disk(q) = self {
            q.ack(positions);
        }
    }

    pub fn close(&self) {
        match self {
            Queue::Memory(q) => q.close(),
            Queue::Disk(q) => q.close(),
        }
    }

    /// Whether what it holds survives a restart.
    pub fn is_durable(&self) -> bool {
        matches!(self, Queue::Disk(_))
    }

    pub fn is_closed(&self) -> bool {
        match self {
            Queue::Memory(q) => q.is_closed(),
            Queue::Disk(q) => q.is_closed(),
        }
    }

    /// (entries, bytes, items) held.
    pub fn usage(&self) -> (usize, usize, usize) {
        match self {
            Queue::Memory(q) => q.usage(),
            Queue::Disk(q) => q.usage(),
        }
    }

    /// When the oldest entry waiting came (Unix ms): a memory queue's
    /// head, a disk queue's oldest record being delivered.
    pub fn oldest_enqueued_ms(&self) -> Option<u64> {
        match self {
            Queue::Memory(q) => q.oldest_enqueued_ms(),
            Queue::Disk(q) => q.oldest_enqueued_ms(),
        }
    }
}

/// A queue of any signal, for what treats them all alike (shutdown).
pub trait AnyQueue: Send + Sync {
    fn close(&self);
    fn is_durable(&self) -> bool;
    /// (entries, bytes, items) held.
    fn usage(&self) -> (usize, usize, usize);
    /// How long the oldest entry has waited, in ms.
    fn oldest_age_ms(&self) -> Option<u64>;
    /// Once its senders stopped: a disk queue syncs and persists its checkpoint.
    fn finish(&self) -> futures_util::future::BoxFuture<'_, std::io::Result<()>>;
}

impl<S: Send + Sync> AnyQueue for Queue<S> {
    fn close(&self) {
        Queue::close(self)
    }
    fn is_durable(&self) -> bool {
        Queue::is_durable(self)
    }
    fn usage(&self) -> (usize, usize, usize) {
        Queue::usage(self)
    }
    fn oldest_age_ms(&self) -> Option<u64> {
        self.oldest_enqueued_ms()
            .map(|at| now_ms().saturating_sub(at))
    }
    fn finish(&self) -> futures_util::future::BoxFuture<'_, std::io::Result<()>> {
        Box::pin(async move {
            match self {
                Queue::Disk(disk) => disk.finish().await,
                Queue::Memory(_) => Ok(()),
            }
        })
    }
}

/// Now, in Unix milliseconds: what queues stamp their entries with.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

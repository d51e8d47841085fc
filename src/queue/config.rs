//! An exporter's `sending_queue` settings.

use super::WhenFull;
use crate::config::units::{ByteSize, Dur};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    #[default]
    Memory,
    Disk,
}

/// When the disk queue syncs what it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// Before the client is answered (concurrent writes share one fsync).
    #[default]
    Always,
    /// Every `fsync_interval`, in the background.
    Interval,
    /// Left to the OS. Survives `kill -9`, not a power cut.
    Never,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// `memory` (the default) or `disk` (the default of the `ignis` exporter).
    pub storage: Option<Storage>,
    /// Bytes of encoded telemetry the queue may hold.
    pub max_size: ByteSize,
    pub when_full: WhenFull,
    /// How long a receiver waits for room before refusing (when_full: block).
    pub block_timeout: Dur,
    /// Concurrent sends, so one slow request does not stall the queue.
    pub num_consumers: usize,
    /// Disk queue: where its files live (a subdirectory per exporter and signal).
    pub directory: Option<PathBuf>,
    pub fsync: FsyncPolicy,
    pub fsync_interval: Dur,
    /// Disk queue: size of one segment file.
    pub segment_size: ByteSize,
    /// Disk queue: data older than this is dropped (counted as expired); 0 keeps it.
    pub max_age: Dur,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            storage: None,
            max_size: ByteSize(8 << 20),
            when_full: WhenFull::Block,
            block_timeout: Dur(Duration::from_millis(500)),
            num_consumers: 2,
            directory: None,
            fsync: FsyncPolicy::Always,
            fsync_interval: Dur(Duration::from_secs(1)),
            segment_size: ByteSize(8 << 20),
            max_age: Dur(Duration::ZERO),
        }
    }
}

//! What every exporter kind shares: queue, retry and batch settings (with
//! their checks), the `Exporter` trait a registry entry builds, and the
//! setup its senders start from.

use super::batch::BatchConfig;
use super::grpc::GrpcSetupError;
use super::health::{Health, Healths};
use super::http::HttpSetupError;
use super::ledger::{Ledger, Ledgers};
use super::retry::RetryConfig;
use super::sender::{DropReason, Sender, SenderMetrics};
use super::Transport;
use crate::budget::Budget;
use crate::config::component::Invalid;
use crate::metrics::Registry;
use crate::queue::disk::{DiskCounters, DiskOptions, Fsync};
use crate::queue::{AnyQueue, DiskQueue, FsyncPolicy, MemoryQueue, Queue, QueueConfig, Storage};
use crate::signal::{Logs, Metrics, Signal, Traces};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Queue, batching and retry: what sits between the pipeline and a sender.
/// Every exporter kind has these keys (spelled out in each, because serde's
/// `flatten` would lose `deny_unknown_fields` and error positions).
#[derive(Debug, Clone, Default)]
pub struct DeliveryConfig {
    pub sending_queue: QueueConfig,
    pub retry_on_failure: RetryConfig,
    pub batch: BatchConfig,
}

impl DeliveryConfig {
    /// The settings as written, with `storage: memory` unless a kind says
    /// otherwise (the `ignis` exporter sets its own default first).
    pub fn new(queue: &QueueConfig, retry: &RetryConfig, batch: &BatchConfig) -> Self {
        let mut sending_queue = queue.clone();
        sending_queue.storage.get_or_insert(Storage::Memory);
        DeliveryConfig {
            sending_queue,
            retry_on_failure: retry.clone(),
            batch: batch.clone(),
        }
    }

    pub fn check(&self) -> Result<(), Invalid> {
        let q = &self.sending_queue;
        if q.max_size.0 == 0 || q.num_consumers == 0 {
            return Err(Invalid::at(
                "sending_queue",
                "sending_queue.max_size and num_consumers must be more than 0",
            ));
        }
        if q.storage == Some(Storage::Disk) && q.directory.is_none() {
            return Err(Invalid::at(
                "sending_queue",
                "sending_queue.storage: disk needs a `directory`",
            ));
        }
        if q.segment_size.0 < 4096 || q.fsync_interval.0.is_zero() {
            return Err(Invalid::at(
                "sending_queue",
                "sending_queue.segment_size must be at least 4KiB and fsync_interval more than 0",
            ));
        }
        let b = &self.batch;
        if b.max_size == 0 || b.max_bytes.0 == 0 {
            return Err(Invalid::at(
                "batch",
                "batch.max_size and batch.max_bytes must be more than 0",
            ));
        }
        let r = &self.retry_on_failure;
        if r.multiplier < 1.0 || !(0.0..=1.0).contains(&r.randomization_factor) {
            return Err(Invalid::at(
                "retry_on_failure",
                "retry_on_failure needs multiplier >= 1 and randomization_factor between 0 and 1",
            ));
        }
        Ok(())
    }
}

/// Why an exporter's senders did not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(transparent)]
    Grpc(#[from] GrpcSetupError),
    #[error(transparent)]
    Http(#[from] HttpSetupError),
}

/// A built exporter, as its registry entry returns it.
pub trait Exporter: Send + Sync + 'static {
    /// Queue, retry and batch settings, with this kind's defaults applied.
    fn delivery(&self) -> &DeliveryConfig;

    /// Starts the senders that drain one signal's queue.
    fn spawn(&self, senders: Senders<'_>) -> Result<Vec<JoinHandle<()>>, SpawnError>;

    /// The concrete exporter, for code that inspects its settings.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// What every sender of one exporter queue shares.
pub struct SenderSetup<'a, S> {
    pub name: &'a str,
    pub queue: &'a Arc<Queue<S>>,
    pub delivery: &'a DeliveryConfig,
    pub metrics: &'a SenderMetrics,
    pub hard_stop: &'a watch::Receiver<bool>,
    /// The agent's metrics and its ledgers, for exporters that keep one.
    pub registry: &'a Registry,
    pub ledgers: &'a Ledgers,
    /// Where the senders' health is listed for `/api/status`.
    pub healths: &'a Healths,
    /// The agent's memory budget: a batch is counted while it is sent.
    pub budget: &'a Arc<Budget>,
}

impl<S: Signal> SenderSetup<'_, S> {
    fn spawn<T: Transport<S>>(
        self,
        transport: T,
        ledger: Option<Arc<Ledger>>,
    ) -> Vec<JoinHandle<()>> {
        let health = Health::new(self.registry, self.name, S::KIND.as_str());
        self.healths
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((
                Arc::clone(&health),
                Arc::clone(self.queue) as Arc<dyn AnyQueue>,
            ));
        Sender {
            health,
            name: self.name.to_owned(),
            queue: Arc::clone(self.queue),
            transport: Arc::new(transport),
            delivery: self.delivery.clone(),
            metrics: self.metrics.clone(),
            hard_stop: self.hard_stop.clone(),
            ledger,
            last_log_ms: Default::default(),
            budget: Arc::clone(self.budget),
        }
        .spawn()
    }
}

/// The setup of one signal's senders.
pub enum Senders<'a> {
    Traces(SenderSetup<'a, Traces>),
    Metrics(SenderSetup<'a, Metrics>),
    Logs(SenderSetup<'a, Logs>),
}

/// A transport for every signal.
pub trait AnyTransport: Transport<Traces> + Transport<Metrics> + Transport<Logs> {}
impl<T: Transport<Traces> + Transport<Metrics> + Transport<Logs>> AnyTransport for T {}

impl Senders<'_> {
    /// Starts the senders with `transport`, and `ledger` if the kind keeps one.
    pub fn spawn<T: AnyTransport>(
        self,
        transport: T,
        ledger: Option<Arc<Ledger>>,
    ) -> Vec<JoinHandle<()>> {
        match self {
            Senders::Traces(s) => s.spawn(transport, ledger),
            Senders::Metrics(s) => s.spawn(transport, ledger),
            Senders::Logs(s) => s.spawn(transport, ledger),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Senders::Traces(s) => s.name,
            Senders::Metrics(s) => s.name,
            Senders::Logs(s) => s.name,
        }
    }

    pub fn signal(&self) -> &'static str {
        match self {
            Senders::Traces(_) => Traces::KIND.as_str(),
            Senders::Metrics(_) => Metrics::KIND.as_str(),
            Senders::Logs(_) => Logs::KIND.as_str(),
        }
    }

    /// The agent's metrics and ledger list.
    pub fn registry(&self) -> (&Registry, &Ledgers) {
        match self {
            Senders::Traces(s) => (s.registry, s.ledgers),
            Senders::Metrics(s) => (s.registry, s.ledgers),
            Senders::Logs(s) => (s.registry, s.ledgers),
        }
    }
}

/// Which `Senders` a signal's setup is, for code generic over the signal.
pub trait IntoSenders: Signal {
    fn senders(setup: SenderSetup<'_, Self>) -> Senders<'_>;
}

impl IntoSenders for Traces {
    fn senders(setup: SenderSetup<'_, Self>) -> Senders<'_> {
        Senders::Traces(setup)
    }
}

impl IntoSenders for Metrics {
    fn senders(setup: SenderSetup<'_, Self>) -> Senders<'_> {
        Senders::Metrics(setup)
    }
}

impl IntoSenders for Logs {
    fn senders(setup: SenderSetup<'_, Self>) -> Senders<'_> {
        Senders::Logs(setup)
    }
}

/// Opens an exporter's queue of signal `S` as its settings say, with its
/// gauges; a disk queue recovers what a previous run left (blocking, before
/// the senders start). On failure: the directory and why.
pub fn open_queue<S: Signal>(
    exporter: &str,
    q: &QueueConfig,
    registry: &Registry,
    metrics: &SenderMetrics,
    budget: &Arc<Budget>,
) -> Result<Arc<Queue<S>>, (PathBuf, std::io::Error)> {
    let signal = S::KIND.as_str();
    let labels = [("exporter", exporter), ("signal", signal)];
    let queue = Arc::new(match q.storage.unwrap_or_default() {
        Storage::Memory => Queue::Memory(Box::new(
            MemoryQueue::new(q.max_size.0 as usize, q.when_full, q.block_timeout.0)
                .with_budget(Arc::clone(budget)),
        )),
        Storage::Disk => {
            let base = q
                .directory
                .clone()
                .expect("checked: a disk queue has a directory");
            let dir = base.join(exporter.replace('/', "_")).join(signal);
            let counters = DiskCounters {
                corrupt_records: registry.counter("ignis_queue_corrupt_records", &labels),
                expired_items: metrics.dropped(DropReason::Expired).clone(),
            };
            let options = DiskOptions {
                dir: dir.clone(),
                capacity: q.max_size.0,
                segment_size: q.segment_size.0,
                when_full: q.when_full,
                block_timeout: q.block_timeout.0,
                fsync: match q.fsync {
                    FsyncPolicy::Always => Fsync::Always,
                    FsyncPolicy::Interval => Fsync::Interval(q.fsync_interval.0),
                    FsyncPolicy::Never => Fsync::Never,
                },
                max_age: (!q.max_age.0.is_zero()).then_some(q.max_age.0),
            };
            let queue = DiskQueue::open(options, counters).map_err(|e| (dir, e))?;
            let (entries, bytes, _) = queue.usage();
            if entries > 0 {
                tracing::info!(%exporter, signal, entries, bytes, "disk queue holds data from before; delivering it");
            }
            Queue::Disk(Box::new(queue))
        }
    });
    let gauge = Arc::clone(&queue);
    registry.gauge("otelcol_exporter_queue_size", &labels, move || {
        gauge.usage().0 as u64
    });
    let gauge = Arc::clone(&queue);
    registry.gauge("ignis_exporter_queue_bytes", &labels, move || {
        gauge.usage().1 as u64
    });
    let gauge = Arc::clone(&queue);
    registry.gauge(
        "ignis_exporter_queue_oldest_age_seconds",
        &labels,
        move || {
            use crate::queue::AnyQueue;
            gauge.oldest_age_ms().map_or(0, |ms| ms / 1000)
        },
    );
    let capacity = q.max_size.0;
    registry.gauge("ignis_exporter_queue_capacity_bytes", &labels, move || {
        capacity
    });
    Ok(queue)
}

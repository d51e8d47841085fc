//! One exporter's queue and senders for one signal, as the agent runs them:
//! started from the exporter's settings, kept across a reload while those
//! settings do not change, retired (drained, or left on disk) when they do.

use super::StartError;
use crate::admin::server::AdminState;
use crate::budget::Budget;
use crate::config::ComponentId;
use crate::exporters::delivery::{self, Exporter, IntoSenders, SenderSetup};
use crate::exporters::sender::{DropReason, SenderMetrics};
use crate::metrics::{Counter, Registry};
use crate::queue::{AnyQueue, FsyncPolicy, Queue};
use std::any::Any;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct RunningExporter {
    /// The exporter's settings, digested (`Config::fingerprints`).
    pub fingerprint: u64,
    /// `exporter/signal`.
    pub name: String,
    pub queue: Arc<dyn AnyQueue>,
    /// The same queue, typed (`Arc<Queue<S>>`), for the pipelines.
    typed: Box<dyn Any + Send + Sync>,
    /// Items evicted to make room (`when_full: drop_oldest`).
    pub evicted: Counter,
    senders: Vec<JoinHandle<()>>,
    /// Turns true when the grace period is over: senders give up retrying.
    hard_stop: watch::Sender<bool>,
    /// The fsync syncer of a disk queue with `fsync: interval`.
    syncer: Option<JoinHandle<()>>,
}

impl RunningExporter {
    /// Opens the queue of signal `S` and starts its senders.
    pub fn start<S: IntoSenders>(
        id: &ComponentId,
        exporter: &dyn Exporter,
        fingerprint: u64,
        registry: &Registry,
        admin: &AdminState,
        budget: &Arc<Budget>,
    ) -> Result<RunningExporter, StartError> {
        let delivery = exporter.delivery();
        let q = &delivery.sending_queue;
        let name = id.to_string();
        let metrics = SenderMetrics::new::<S>(registry, &name);
        let queue = delivery::open_queue::<S>(&name, q, registry, &metrics, budget).map_err(
            |(dir, source)| StartError::DiskQueue {
                exporter: name.clone(),
                dir,
                source,
            },
        )?;
        let (hard_stop, hard_stop_rx) = watch::channel(false);
        let setup = SenderSetup {
            name: &name,
            queue: &queue,
            delivery,
            metrics: &metrics,
            hard_stop: &hard_stop_rx,
            registry,
            ledgers: &admin.ledgers,
            healths: &admin.healths,
            budget,
        };
        let senders = exporter
            .spawn(S::senders(setup))
            .map_err(|source| StartError::Exporter {
                exporter: name.clone(),
                source,
            })?;
        let syncer = (queue.is_durable() && q.fsync == FsyncPolicy::Interval).then(|| {
            let syncing = Arc::clone(&queue);
            let interval = q.fsync_interval.0;
            // Ends when the queue closes.
            tokio::spawn(async move {
                if let Queue::Disk(disk) = &*syncing {
                    disk.run_syncer(interval).await;
                }
            })
        });
        Ok(RunningExporter {
            fingerprint,
            name: format!("{name}/{}", S::KIND.as_str()),
            queue: Arc::clone(&queue) as Arc<dyn AnyQueue>,
            typed: Box::new(queue),
            evicted: metrics.dropped(DropReason::QueueFull).clone(),
            senders,
            hard_stop,
            syncer,
        })
    }

    /// The queue, typed for a pipeline of signal `S`.
    pub fn queue<S: Send + Sync + 'static>(&self) -> Arc<Queue<S>> {
        Arc::clone(
            self.typed
                .downcast_ref::<Arc<Queue<S>>>()
                .expect("a queue of its own signal"),
        )
    }

    /// Stops taking entries; the senders deliver what is queued.
    pub fn close(&self) {
        self.queue.close();
    }

    /// Waits for the senders to deliver what is queued, until `deadline`;
    /// then they give up (a disk queue keeps the rest, a memory queue's is
    /// counted as dropped). Returns whether they finished in time.
    pub async fn drain(&mut self, deadline: tokio::time::Instant) -> bool {
        // A sender is forgotten once it ended: a finished JoinHandle must
        // not be awaited again after the deadline.
        let senders = &mut self.senders;
        let drained = tokio::time::timeout_at(deadline, async {
            while let Some(sender) = senders.last_mut() {
                let _ = sender.await;
                senders.pop();
            }
        })
        .await
        .is_ok();
        if !drained {
            let _ = self.hard_stop.send(true);
            for sender in self.senders.drain(..) {
                let _ = sender.await;
            }
        }
        drained
    }

    /// After the senders stopped: a disk queue syncs and persists its checkpoint.
    pub async fn finish(&self) {
        if let Some(syncer) = &self.syncer {
            syncer.abort();
        }
        if let Err(e) = self.queue.finish().await {
            tracing::error!(queue = %self.name, error = %e, "could not persist the disk queue checkpoint");
        }
    }

    /// Retires it on a reload that changed its settings: a disk queue stops
    /// at once (its data stays for the exporter that replaces it, which may
    /// open the same directory); a memory queue drains to its destination
    /// within `grace` in the background.
    pub async fn retire(mut self, grace: Duration) -> Option<JoinHandle<()>> {
        self.close();
        if self.queue.is_durable() {
            self.drain(tokio::time::Instant::now()).await;
            self.finish().await;
            return None;
        }
        Some(tokio::spawn(async move {
            if !self.drain(tokio::time::Instant::now() + grace).await {
                tracing::warn!(queue = %self.name, "a replaced exporter could not deliver everything within the grace period");
            }
        }))
    }
}

//! The loop that drains one exporter queue: batch, send, retry, count.

use super::batch::{merge, split};
use super::retry::Backoff;
use super::{Outcome, Transport};
use crate::admin::metrics::{Counter, Registry};
use crate::config::DeliveryConfig;
use crate::queue::MemoryQueue;
use crate::signal::Signal;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Why an item left the agent without being delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    QueueFull,
    Expired,
    PermanentError,
    Shutdown,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Expired => "expired",
            DropReason::PermanentError => "permanent_error",
            DropReason::Shutdown => "shutdown",
        }
    }
}

/// The counters one sender keeps.
#[derive(Clone)]
pub struct SenderMetrics {
    pub sent: Counter,
    pub send_failed: Counter,
    pub rejected: Counter,
    dropped: [Counter; 4],
}

impl SenderMetrics {
    pub fn new<S: Signal>(registry: &Registry, exporter: &str) -> Self {
        let labels = [("exporter", exporter)];
        let (sent, failed) = match S::ITEM_NAME {
            "spans" => (
                "otelcol_exporter_sent_spans",
                "otelcol_exporter_send_failed_spans",
            ),
            "metric_points" => (
                "otelcol_exporter_sent_metric_points",
                "otelcol_exporter_send_failed_metric_points",
            ),
            _ => (
                "otelcol_exporter_sent_log_records",
                "otelcol_exporter_send_failed_log_records",
            ),
        };
        let signal = S::KIND.as_str();
        let dropped = |reason: DropReason| {
            registry.counter(
                "ignis_exporter_dropped_items",
                &[
                    ("exporter", exporter),
                    ("signal", signal),
                    ("reason", reason.as_str()),
                ],
            )
        };
        SenderMetrics {
            sent: registry.counter(sent, &labels),
            send_failed: registry.counter(failed, &labels),
            rejected: registry.counter(
                "ignis_exporter_partial_success_rejected_items",
                &[("exporter", exporter), ("signal", signal)],
            ),
            dropped: [
                dropped(DropReason::QueueFull),
                dropped(DropReason::Expired),
                dropped(DropReason::PermanentError),
                dropped(DropReason::Shutdown),
            ],
        }
    }

    pub fn dropped(&self, reason: DropReason) -> &Counter {
        &self.dropped[reason as usize]
    }
}

pub struct Sender<S, T> {
    pub name: String,
    pub queue: Arc<MemoryQueue<S>>,
    pub transport: Arc<T>,
    pub delivery: DeliveryConfig,
    pub metrics: SenderMetrics,
    /// Turns true when the grace period is over: give up on retries.
    pub hard_stop: watch::Receiver<bool>,
}

impl<S: Signal, T: Transport<S>> Sender<S, T> {
    /// Starts `num_consumers` tasks draining the queue. They end when the
    /// queue is closed and empty, or at the hard stop.
    pub fn spawn(self) -> Vec<JoinHandle<()>> {
        let this = Arc::new(self);
        (0..this.delivery.sending_queue.num_consumers.max(1))
            .map(|_| {
                let this = Arc::clone(&this);
                tokio::spawn(async move { this.run().await })
            })
            .collect()
    }

    async fn run(&self) {
        let batch_cfg = &self.delivery.batch;
        let max_bytes = batch_cfg.max_bytes.0 as usize;
        while let Some(first) = self.queue.pop().await {
            let mut items = first.items;
            let mut bytes = first.bytes;
            let mut batch = Arc::unwrap_or_clone(first.data);
            let deadline = Instant::now() + batch_cfg.flush_timeout.0;
            while items < batch_cfg.max_size && bytes < max_bytes {
                // A closed queue is flushing for shutdown: don't wait.
                let next = if self.queue.is_closed() {
                    self.queue.pop_until(Instant::now()).await
                } else {
                    self.queue.pop_until(deadline).await
                };
                let Some(next) = next else { break };
                items += next.items;
                bytes += next.bytes;
                merge(&mut batch, Arc::unwrap_or_clone(next.data));
            }
            for part in split(batch, batch_cfg.max_size, max_bytes) {
                self.deliver(part).await;
            }
        }
    }

    /// Sends one batch until it is delivered, refused for good, or expired.
    async fn deliver(&self, batch: S) {
        let retry = &self.delivery.retry_on_failure;
        let started = Instant::now();
        let mut backoff = Backoff::new(retry);
        let mut pending = vec![batch];
        while let Some(batch) = pending.pop() {
            let items = batch.item_count() as u64;
            loop {
                if *self.hard_stop.borrow() {
                    self.drop_items(items, DropReason::Shutdown, "the grace period ended");
                    break;
                }
                match self.transport.send(&batch).await {
                    Outcome::Sent { rejected, message } => {
                        let rejected = rejected.clamp(0, items as i64) as u64;
                        self.metrics.sent.add(items - rejected);
                        if rejected > 0 {
                            self.metrics.rejected.add(rejected);
                            tracing::warn!(exporter = %self.name, rejected, server_message = %message,
                                "destination rejected part of a batch (partial success)");
                        }
                        break;
                    }
                    Outcome::Permanent { reason } => {
                        self.drop_items(items, DropReason::PermanentError, &reason);
                        break;
                    }
                    Outcome::TooLarge { reason } if batch.item_count() > 1 => {
                        tracing::info!(exporter = %self.name, %reason, items, "batch too large, splitting it");
                        let half = batch.item_count().div_ceil(2);
                        let mut parts = split(batch, half, usize::MAX);
                        parts.reverse();
                        pending.extend(parts);
                        break;
                    }
                    Outcome::TooLarge { reason } => {
                        self.drop_items(items, DropReason::PermanentError, &reason);
                        break;
                    }
                    Outcome::Retry { after, reason } => {
                        if !retry.enabled {
                            self.drop_items(items, DropReason::PermanentError, &reason);
                            break;
                        }
                        let delay = backoff.delay(after);
                        let limit = retry.max_elapsed_time.0;
                        if !limit.is_zero() && started.elapsed() + delay > limit {
                            self.drop_items(items, DropReason::Expired, &reason);
                            break;
                        }
                        tracing::debug!(exporter = %self.name, %reason, delay_ms = delay.as_millis() as u64,
                            "send failed, will retry");
                        if !self.sleep_unless_stopped(delay).await {
                            self.drop_items(items, DropReason::Shutdown, &reason);
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Sleeps for `delay`; false if the hard stop came first.
    async fn sleep_unless_stopped(&self, delay: Duration) -> bool {
        let mut stop = self.hard_stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = stop.wait_for(|stopped| *stopped) => false,
        }
    }

    fn drop_items(&self, items: u64, reason: DropReason, message: &str) {
        self.metrics.send_failed.add(items);
        self.metrics.dropped(reason).add(items);
        tracing::error!(exporter = %self.name, items, reason = reason.as_str(), error = %message,
            "dropping data that could not be delivered");
    }
}

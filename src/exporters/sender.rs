//! The loop that drains one exporter queue: batch, send, retry, count.

use super::batch::split_encoded;
use super::delivery::DeliveryConfig;
use super::health::Health;
use super::ledger::{Ledger, LedgerOutcome, Settled};
use super::retry::Backoff;
use super::{Batch, Outcome, Transport};
use crate::budget::Budget;
use crate::metrics::{Counter, Registry};
use crate::queue::{now_ms, Entry, Queue};
use crate::signal::Signal;
use bytes::{Bytes, BytesMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

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
            sent: registry.counter(S::METRIC_NAMES.sent, &labels),
            send_failed: registry.counter(S::METRIC_NAMES.send_failed, &labels),
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
    /// Says when the destination fails and when it recovers.
    pub health: Arc<Health>,
    pub name: String,
    pub queue: Arc<Queue<S>>,
    pub transport: Arc<T>,
    pub delivery: DeliveryConfig,
    pub metrics: SenderMetrics,
    /// Turns true when the grace period is over: give up on retries.
    pub hard_stop: watch::Receiver<bool>,
    /// Records what became of each batch (the `ignis` exporter).
    pub ledger: Option<Arc<Ledger>>,
    /// When a rate-limited warning was last logged.
    pub last_log_ms: AtomicU64,
    pub budget: Arc<Budget>,
}

/// Repeated warnings (partial success) are logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);

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
        let limits = &self.delivery.batch;
        let max_bytes = limits.max_bytes.0 as usize;
        // An entry that would have overflowed the previous batch opens the next.
        let mut carry: Option<Entry> = None;
        loop {
            let first = match carry.take() {
                Some(entry) => entry,
                None => match self.queue.pop().await {
                    Some(entry) => entry,
                    None => break,
                },
            };
            let (mut items, mut bytes) = (first.items, first.bytes());
            let mut positions: Vec<_> = first.position.into_iter().collect();
            let mut parts = vec![first.data];
            let deadline = Instant::now() + limits.flush_timeout.0;
            while items < limits.max_size && bytes < max_bytes {
                // A closed queue is flushing for shutdown: don't wait.
                let until = if self.queue.is_closed() {
                    Instant::now()
                } else {
                    deadline
                };
                let Some(next) = self.queue.pop_until(until).await else {
                    break;
                };
                if items + next.items > limits.max_size || bytes + next.bytes() > max_bytes {
                    carry = Some(next);
                    break;
                }
                items += next.items;
                bytes += next.bytes();
                positions.extend(next.position);
                parts.push(next.data);
            }
            // The batch, and its encoded copy on the wire (compressed: smaller).
            let _sending = self.budget.hold(2 * bytes);
            let batch = Batch {
                data: concat(parts),
                items,
            };
            let settled = if items <= limits.max_size && bytes <= max_bytes {
                self.deliver(batch).await
            } else {
                // One request alone over a limit.
                match split_encoded::<S>(&batch, limits.max_size, max_bytes) {
                    Ok(parts) => {
                        let mut settled = true;
                        for part in parts {
                            settled &= self.deliver(part).await;
                        }
                        settled
                    }
                    // Receivers validated it; should it still not decode, let
                    // the destination judge it rather than drop it here.
                    Err(_) => self.deliver(batch).await,
                }
            };
            if settled {
                // Delivered or counted as dropped: a disk queue may reuse the space.
                self.queue.ack(&positions);
            }
        }
    }

    /// Sends one batch until it is delivered, refused for good, or expired:
    /// then it is settled (true). At the hard stop a batch from a disk queue
    /// is left unsettled (false): it stays on disk for the next start.
    async fn deliver(&self, batch: Batch) -> bool {
        let retry = &self.delivery.retry_on_failure;
        let started = Instant::now();
        let mut backoff = Backoff::new(retry);
        let mut pending = vec![batch];
        while let Some(batch) = pending.pop() {
            let items = batch.items as u64;
            let first_attempt = now_ms();
            let mut attempts = 0;
            // What became of this batch; `None` when it was split into `pending`.
            let outcome: Option<LedgerOutcome> = loop {
                if *self.hard_stop.borrow() {
                    if self.queue.is_durable() {
                        return false;
                    }
                    break Some(self.drop_items(
                        items,
                        DropReason::Shutdown,
                        "the grace period ended",
                    ));
                }
                attempts += 1;
                // One span per attempt in the agent's own traces (when
                // they are exported; otherwise no one takes it).
                let span = tracing::info_span!(
                    target: crate::SELF_SPANS,
                    "export",
                    otel.kind = "client",
                    exporter = %self.name,
                    signal = S::KIND.as_str(),
                    items,
                    bytes = batch.data.len(),
                    attempt = attempts,
                    outcome = tracing::field::Empty,
                    otel.status_code = tracing::field::Empty,
                );
                let attempt = Instant::now();
                let outcome = self.transport.send(&batch).instrument(span.clone()).await;
                self.health.attempted(attempt.elapsed());
                record_outcome(&span, &outcome);
                match outcome {
                    Outcome::Sent { rejected, message } => {
                        self.health.succeeded();
                        let rejected = rejected.clamp(0, items as i64) as u64;
                        self.metrics.sent.add(items - rejected);
                        if rejected == 0 {
                            break Some(LedgerOutcome::Confirmed);
                        }
                        self.metrics.rejected.add(rejected);
                        if self.log_allowed() {
                            tracing::warn!(exporter = %self.name, signal = S::KIND.as_str(), rejected,
                                server_message = %message, "destination rejected part of a batch (partial success)");
                        }
                        break Some(LedgerOutcome::PartiallyRejected {
                            rejected: rejected as i64,
                            message,
                        });
                    }
                    Outcome::Permanent { reason } => {
                        self.health
                            .failed(&reason, items, attempts, None, &*self.queue);
                        break Some(self.drop_items(items, DropReason::PermanentError, &reason));
                    }
                    Outcome::TooLarge { reason } => {
                        let parts = (batch.items > 1)
                            .then(|| {
                                split_encoded::<S>(&batch, batch.items.div_ceil(2), usize::MAX).ok()
                            })
                            .flatten();
                        let Some(mut parts) = parts else {
                            break Some(self.drop_items(
                                items,
                                DropReason::PermanentError,
                                &reason,
                            ));
                        };
                        tracing::info!(exporter = %self.name, %reason, items, "batch too large, splitting it");
                        parts.reverse();
                        pending.extend(parts);
                        break None;
                    }
                    Outcome::Retry { after, reason } => {
                        if !retry.enabled {
                            self.health
                                .failed(&reason, items, attempts, None, &*self.queue);
                            break Some(self.drop_items(
                                items,
                                DropReason::PermanentError,
                                &reason,
                            ));
                        }
                        let delay = backoff.delay(after);
                        let limit = retry.max_elapsed_time.0;
                        if !limit.is_zero() && started.elapsed() + delay > limit {
                            self.health
                                .failed(&reason, items, attempts, None, &*self.queue);
                            break Some(self.drop_items(items, DropReason::Expired, &reason));
                        }
                        self.health
                            .failed(&reason, items, attempts, Some(delay), &*self.queue);
                        if !self.sleep_unless_stopped(delay).await {
                            if self.queue.is_durable() {
                                return false;
                            }
                            break Some(self.drop_items(items, DropReason::Shutdown, &reason));
                        }
                    }
                }
            };
            if let (Some(outcome), Some(ledger)) = (outcome, &self.ledger) {
                ledger.record(Settled {
                    signal: S::KIND.as_str(),
                    data: &batch.data,
                    items: batch.items,
                    attempts,
                    first_attempt_unix_ms: first_attempt,
                    outcome,
                });
            }
        }
        true
    }

    /// At most one warning per `LOG_EVERY` for repeated events.
    fn log_allowed(&self) -> bool {
        let now = now_ms();
        let last = self.last_log_ms.load(Ordering::Relaxed);
        now.saturating_sub(last) >= LOG_EVERY.as_millis() as u64
            && self
                .last_log_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Sleeps for `delay`; false if the hard stop came first.
    async fn sleep_unless_stopped(&self, delay: Duration) -> bool {
        let mut stop = self.hard_stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = stop.wait_for(|stopped| *stopped) => false,
        }
    }

    fn drop_items(&self, items: u64, reason: DropReason, message: &str) -> LedgerOutcome {
        self.metrics.send_failed.add(items);
        self.metrics.dropped(reason).add(items);
        tracing::error!(exporter = %self.name, items, reason = reason.as_str(), error = %message,
            "dropping data that could not be delivered");
        LedgerOutcome::Failed {
            reason: format!("{}: {message}", reason.as_str()),
        }
    }
}

/// One buffer holding the requests back to back (no copy for one request).
fn concat(mut parts: Vec<Bytes>) -> Bytes {
    if parts.len() == 1 {
        return parts.pop().expect("one part");
    }
    let mut out = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
    for part in parts {
        out.extend_from_slice(&part);
    }
    out.freeze()
}

/// What became of one attempt, on its span.
fn record_outcome(span: &tracing::Span, outcome: &Outcome) {
    let (what, failed) = match outcome {
        Outcome::Sent { rejected: 0, .. } => ("sent", false),
        Outcome::Sent { .. } => ("partially rejected", false),
        Outcome::Retry { .. } => ("retry", true),
        Outcome::Permanent { .. } => ("refused", true),
        Outcome::TooLarge { .. } => ("too large", true),
    };
    span.record("outcome", what);
    if failed {
        span.record("otel.status_code", "ERROR");
    }
}

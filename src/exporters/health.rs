//! Whether a destination takes what an exporter sends, said where an
//! operator looks: the first failure of an outage at WARN (what, why, the
//! attempt, when the next one comes), then at most one summary line per 30
//! s while it lasts, and one INFO line when delivery recovers; the same in
//! `/metrics` (`ignis_exporter_destination_up`, failed attempts, retries,
//! last success, how long each attempt took) and `/api/status`.

use crate::metrics::{Counter, Histogram, Registry};
use crate::queue::now_ms;
use crate::queue::AnyQueue;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// At most one summary line per outage and this long.
const SUMMARY_EVERY: Duration = Duration::from_secs(30);

/// Bounds of `ignis_exporter_send_duration_seconds`: from a local peer's
/// milliseconds to a destination's timeout.
static SEND_SECONDS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every running exporter's health with its queue, for `/api/status`.
pub type Healths = Mutex<Vec<(Arc<Health>, Arc<dyn AnyQueue>)>>;

/// One exporter's health for one signal, shared by its senders.
pub struct Health {
    exporter: String,
    signal: &'static str,
    state: Mutex<State>,
    failed_attempts: Counter,
    retries: Counter,
    send_duration: Histogram,
    up: Arc<AtomicU64>,
    last_success: Arc<AtomicU64>,
}

#[derive(Default)]
struct State {
    /// Since when the destination fails (unix ms), while it does.
    failing_since: Option<u64>,
    failing_since_instant: Option<Instant>,
    failures: u64,
    last_error: String,
    next_retry_unix_ms: Option<u64>,
    last_summary: Option<Instant>,
}

/// What `/api/status` shows of an exporter.
#[derive(Debug, Serialize)]
pub struct HealthReport {
    pub exporter: String,
    pub signal: &'static str,
    pub up: bool,
    pub failing_since_unix_ms: Option<u64>,
    pub failed_attempts_in_outage: u64,
    pub last_error: Option<String>,
    pub next_retry_unix_ms: Option<u64>,
    pub last_success_unix_ms: Option<u64>,
    pub queued_items: usize,
    pub queued_bytes: usize,
    /// How long the oldest item queued has waited.
    pub oldest_queued_age_ms: Option<u64>,
}

impl Health {
    pub fn new(registry: &Registry, exporter: &str, signal: &'static str) -> Arc<Health> {
        let labels = [("exporter", exporter), ("signal", signal)];
        let up = Arc::new(AtomicU64::new(1));
        let last_success = Arc::new(AtomicU64::new(0));
        let gauge = Arc::clone(&up);
        registry.gauge("ignis_exporter_destination_up", &labels, move || {
            gauge.load(Ordering::Relaxed)
        });
        let gauge = Arc::clone(&last_success);
        registry.gauge(
            "ignis_exporter_last_success_timestamp_seconds",
            &labels,
            move || gauge.load(Ordering::Relaxed) / 1000,
        );
        Arc::new(Health {
            exporter: exporter.to_owned(),
            signal,
            state: Mutex::new(State::default()),
            failed_attempts: registry.counter("ignis_exporter_send_failed_attempts", &labels),
            retries: registry.counter("ignis_exporter_retries", &labels),
            send_duration: registry.histogram(
                "ignis_exporter_send_duration_seconds",
                &labels,
                &SEND_SECONDS,
            ),
            up,
            last_success,
        })
    }

    /// `exporter/signal`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.exporter, self.signal)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One attempt took `took`, whatever its outcome.
    pub fn attempted(&self, took: Duration) {
        self.send_duration.observe(took.as_secs_f64());
    }

    /// An attempt to send a batch of `items` failed with `reason`;
    /// `retry_in` when another follows.
    pub fn failed(
        &self,
        reason: &str,
        items: u64,
        attempt: u32,
        retry_in: Option<Duration>,
        queue: &dyn AnyQueue,
    ) {
        self.failed_attempts.add(1);
        if retry_in.is_some() {
            self.retries.add(1);
        }
        self.up.store(0, Ordering::Relaxed);
        let now = Instant::now();
        let mut state = self.lock();
        state.failures += 1;
        state.last_error = reason.to_owned();
        state.next_retry_unix_ms = retry_in.map(|d| now_ms() + d.as_millis() as u64);
        let (entries, bytes, queued_items) = queue.usage();
        let retry_in_ms = retry_in.map(|d| d.as_millis() as u64);
        if state.failing_since.is_none() {
            state.failing_since = Some(now_ms());
            state.failing_since_instant = Some(now);
            state.last_summary = Some(now);
            let what = if retry_in.is_some() {
                "cannot deliver to the destination; the data is kept and retried"
            } else {
                "cannot deliver to the destination; this batch is dropped (ignis_exporter_dropped_items)"
            };
            tracing::warn!(
                exporter = %self.exporter,
                signal = self.signal,
                error = %reason,
                attempt,
                retry_in_ms,
                batch_items = items,
                queued_items,
                "{what}"
            );
            return;
        }
        if state
            .last_summary
            .is_none_or(|at| now.duration_since(at) >= SUMMARY_EVERY)
        {
            state.last_summary = Some(now);
            let failing_for_s = state
                .failing_since_instant
                .map_or(0, |at| now.duration_since(at).as_secs());
            tracing::warn!(
                exporter = %self.exporter,
                signal = self.signal,
                error = %reason,
                failing_for_s,
                failed_attempts = state.failures,
                queued_entries = entries,
                queued_bytes = bytes,
                queued_items,
                retry_in_ms,
                "still cannot deliver"
            );
        }
    }

    /// A batch reached the destination.
    pub fn succeeded(&self) {
        self.last_success.store(now_ms(), Ordering::Relaxed);
        self.up.store(1, Ordering::Relaxed);
        let mut state = self.lock();
        if let Some(since) = state.failing_since_instant.take() {
            tracing::info!(
                exporter = %self.exporter,
                signal = self.signal,
                failed_for_ms = since.elapsed().as_millis() as u64,
                failed_attempts = state.failures,
                "delivery recovered"
            );
            *state = State::default();
        }
    }

    pub fn report(&self, queue: &dyn AnyQueue) -> HealthReport {
        let state = self.lock();
        let (_, bytes, items) = queue.usage();
        let last_success = self.last_success.load(Ordering::Relaxed);
        HealthReport {
            exporter: self.exporter.clone(),
            signal: self.signal,
            up: self.up.load(Ordering::Relaxed) == 1,
            failing_since_unix_ms: state.failing_since,
            failed_attempts_in_outage: state.failures,
            last_error: (!state.last_error.is_empty()).then(|| state.last_error.clone()),
            next_retry_unix_ms: state.next_retry_unix_ms,
            last_success_unix_ms: (last_success > 0).then_some(last_success),
            queued_items: items,
            queued_bytes: bytes,
            oldest_queued_age_ms: queue.oldest_age_ms(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{MemoryQueue, Queue, WhenFull};

    /// Captures what is logged while the test runs (on this thread).
    fn capture() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Writer(Arc::clone(&writer)))
            .with_ansi(false)
            .finish();
        (buffer, tracing::subscriber::set_default(subscriber))
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_warning_then_a_summary_every_30_s_then_the_recovery() {
        let (log, _guard) = capture();
        let registry = Registry::default();
        let health = Health::new(&registry, "otlp", "traces");
        let queue: Queue<()> = Queue::Memory(Box::new(MemoryQueue::new(
            100,
            WhenFull::Block,
            Duration::ZERO,
        )));
        let count = |words: &str| {
            String::from_utf8_lossy(&log.lock().unwrap())
                .matches(words)
                .count()
        };
        // A failure a second for 65 s: the first, then two summaries.
        for attempt in 1..=65 {
            health.failed(
                "Unavailable: down",
                3,
                attempt,
                Some(Duration::from_secs(1)),
                &queue,
            );
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert_eq!(count("cannot deliver to the destination"), 1);
        assert_eq!(count("still cannot deliver"), 2);
        assert_eq!(
            registry.total("ignis_exporter_send_failed_attempts", &[]),
            65
        );
        assert!(!health.report(&queue).up);
        health.succeeded();
        assert_eq!(count("delivery recovered"), 1);
        assert!(health.report(&queue).up);
        // A new outage speaks again at once.
        health.failed(
            "Unavailable: down",
            3,
            1,
            Some(Duration::from_secs(1)),
            &queue,
        );
        assert_eq!(count("cannot deliver to the destination"), 2);
    }
}

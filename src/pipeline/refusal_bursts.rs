//! Refusals said once per burst, not once per request. Under overload a
//! receiver may refuse thousands of requests a second (each answered with
//! a retryable code and counted in `/metrics`); an operator needs to know
//! that it started, why, and when it ended. The first refusal after a
//! quiet second opens a burst: one WARN line, and a span of the agent's
//! own traces that lasts as long as the burst; a quiet second closes it
//! with one INFO line counting what was refused.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A burst ends after this long without a refusal.
const QUIET: Duration = Duration::from_secs(1);

pub struct RefusalBursts {
    receiver: String,
    transport: String,
    burst: Mutex<Option<Burst>>,
}

struct Burst {
    span: tracing::Span,
    reason: &'static str,
    started: Instant,
    last: Instant,
    refused: u64,
}

impl RefusalBursts {
    pub fn new(receiver: &str, transport: &str) -> Arc<Self> {
        Arc::new(RefusalBursts {
            receiver: receiver.to_owned(),
            transport: transport.to_owned(),
            burst: Mutex::new(None),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Burst>> {
        self.burst.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One request refused for `reason`. Called on the runtime.
    pub fn refused(self: &Arc<Self>, reason: &'static str) {
        let now = Instant::now();
        let mut burst = self.lock();
        if let Some(open) = burst.as_mut() {
            open.refused += 1;
            open.last = now;
            return;
        }
        tracing::warn!(
            receiver = %self.receiver,
            transport = %self.transport,
            reason,
            "refusing data; senders are told to retry (otelcol_receiver_refused_*, ignis_receiver_refused_requests)"
        );
        let span = tracing::info_span!(
            target: crate::SELF_SPANS,
            "refusal burst",
            receiver = %self.receiver,
            transport = %self.transport,
            reason,
            refused = tracing::field::Empty,
            otel.status_code = "ERROR",
        );
        *burst = Some(Burst {
            span,
            reason,
            started: now,
            last: now,
            refused: 1,
        });
        drop(burst);
        // Closes the burst once it has been quiet for `QUIET`.
        let bursts = Arc::clone(self);
        tokio::spawn(async move {
            while let Some(last) = bursts.close_if_quiet() {
                tokio::time::sleep_until(last + QUIET).await;
            }
        });
    }

    /// Closes the burst if it has been quiet for `QUIET` (checked and
    /// taken under one lock, so a refusal arriving meanwhile is counted in
    /// it); else returns its last refusal's time.
    fn close_if_quiet(&self) -> Option<Instant> {
        let burst = {
            let mut open = self.lock();
            match open.as_ref() {
                Some(burst) if burst.last.elapsed() < QUIET => return Some(burst.last),
                _ => open.take()?,
            }
        };
        burst.span.record("refused", burst.refused);
        tracing::info!(
            receiver = %self.receiver,
            transport = %self.transport,
            reason = burst.reason,
            refused = burst.refused,
            lasted_ms = burst.last.duration_since(burst.started).as_millis() as u64,
            "refusals ended: taking data again"
        );
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_counted_and_closed_after_a_quiet_second() {
        let bursts = RefusalBursts::new("otlp", "grpc");
        for _ in 0..5 {
            bursts.refused("queue_full");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert_eq!(bursts.lock().as_ref().map(|b| b.refused), Some(5));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(bursts.lock().is_none(), "closed after a quiet second");
        bursts.refused("memory_budget");
        assert_eq!(
            bursts.lock().as_ref().map(|b| b.reason),
            Some("memory_budget")
        );
    }
}

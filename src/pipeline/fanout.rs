//! From a receiver to the queues of every exporter of its pipelines.

use super::memory_limiter::MemoryLimiter;
use super::refusal_bursts::RefusalBursts;
use crate::budget::{Budget, Held};
use crate::connectors::Connector;
use crate::metrics::{Counter, Registry};
use crate::processors::on_wire::WireChain;
use crate::processors::Processor;
use crate::queue::{Entry, PushError, Queue};
use crate::signal::Signal;
use crate::signal::{ids, wire};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long a receiver holds a request it has not read yet while the
/// queues or the memory budget are full, before refusing it (retryable).
/// Waiting is what slows a sender down: its streams stay open and its
/// flow-control windows fill. Well under the 10 s export timeout of the
/// OpenTelemetry SDKs, so a waiting client is answered, not timed out.
pub const ADMISSION_WAIT: Duration = Duration::from_secs(2);

/// A decoded request takes about this many times its encoded size (the
/// prost structs, their strings and vectors).
const DECODED_PER_ENCODED: usize = 3;

/// What handling a request holds at most, in multiples of its size as
/// received: the frame as read, the body inflated (or the message tonic
/// hands over), a decoded copy if some pipeline needs one, and the copy
/// each processing pipeline makes. Reserved in full at admission, so the
/// budget bounds requests in flight, not only their first copy.
fn footprint<S>(pipelines: &[Arc<Pipeline<S>>]) -> usize {
    let processing = pipelines.iter().filter(|p| !p.processors.is_empty());
    let decodes = processing.clone().any(|p| p.wire.is_none());
    2 + processing.count() + if decodes { DECODED_PER_ENCODED } else { 0 }
}

/// Why a request is not well-formed OTLP.
#[derive(Debug, thiserror::Error)]
pub enum Malformed {
    #[error(transparent)]
    Wire(#[from] wire::WireError),
    #[error(transparent)]
    Protobuf(#[from] prost::DecodeError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// One exporter's queue, as a pipeline sees it.
pub struct QueueHandle<S> {
    pub queue: Arc<Queue<S>>,
    /// Items evicted to make room (`when_full: drop_oldest`).
    pub evicted: Counter,
}

/// A configured pipeline of one signal: processors, then exporters.
pub struct Pipeline<S> {
    /// Keeps pipelines of different signals apart.
    pub signal: std::marker::PhantomData<fn() -> S>,
    pub processors: Vec<Arc<dyn Processor>>,
    /// The processors, when they can all run on the encoded request.
    pub wire: Option<WireChain>,
    pub name: String,
    pub exporters: Vec<QueueHandle<S>>,
    /// Connectors it exports to: they read what the queues took.
    pub connectors: Vec<Arc<dyn Connector>>,
}

impl<S: Signal> Pipeline<S> {
    /// Queues `request` for every exporter. Success means it is in all of
    /// them; on failure some may hold it already, which can only cause a
    /// duplicate when the client retries, never a loss.
    pub async fn consume(&self, entry: Entry) -> Result<(), PushError> {
        for exporter in &self.exporters {
            let evicted = exporter.queue.push(entry.clone()).await?;
            if evicted.items > 0 {
                exporter.evicted.add(evicted.items as u64);
            }
        }
        // Only once every queue took it, so a client's retry is not counted twice.
        if !self.connectors.is_empty() {
            // Well-formed: validated, or encoded by the agent.
            if let Ok(mut request) = S::decode(entry.data.clone()) {
                for connector in &self.connectors {
                    connector.consume(request.as_any());
                }
            }
        }
        Ok(())
    }
}

/// Everything one receiver feeds for one signal.
pub struct Fanout<S> {
    pipelines: Vec<Arc<Pipeline<S>>>,
    /// See `footprint`.
    footprint: usize,
    budget: Arc<Budget>,
    /// The resident-set backstop.
    limiter: Arc<MemoryLimiter>,
    accepted: Counter,
    refused: Counter,
    /// Items dropped for invalid ids.
    invalid: Counter,
    /// Requests refused at admission, by reason: over the resident-set
    /// backstop, a queue full past the wait, the budget spent past it.
    refused_rss: Counter,
    refused_queue_full: Counter,
    refused_budget: Counter,
    /// Refusals said once per burst.
    bursts: Arc<RefusalBursts>,
}

impl<S: Signal> Fanout<S> {
    pub fn new(
        pipelines: Vec<Arc<Pipeline<S>>>,
        budget: Arc<Budget>,
        limiter: Arc<MemoryLimiter>,
        metrics: &Registry,
        receiver: &str,
        transport: &str,
    ) -> Self {
        let labels = [("receiver", receiver), ("transport", transport)];
        let refused = |reason| {
            metrics.counter(
                "ignis_receiver_refused_requests",
                &[
                    ("receiver", receiver),
                    ("transport", transport),
                    ("reason", reason),
                ],
            )
        };
        Fanout {
            footprint: footprint(&pipelines),
            pipelines,
            budget,
            limiter,
            accepted: metrics.counter(S::METRIC_NAMES.accepted, &labels),
            invalid: metrics.counter(
                "ignis_receiver_dropped_items",
                &[
                    ("receiver", receiver),
                    ("transport", transport),
                    ("signal", S::KIND.as_str()),
                    ("reason", "invalid"),
                ],
            ),
            refused: metrics.counter(S::METRIC_NAMES.refused, &labels),
            refused_rss: refused("memory_limit"),
            refused_queue_full: refused("queue_full"),
            refused_budget: refused("memory_budget"),
            bursts: RefusalBursts::new(receiver, transport),
        }
    }

    /// Admission of a request of `bytes` (as it arrives, before it is read
    /// or decoded): waits until every queue it goes to has room and what
    /// handling it holds fits the memory budget, up to `ADMISSION_WAIT`;
    /// then it is refused (retryable). What is returned holds those bytes
    /// until dropped. Refused at once only when the resident set is over
    /// the backstop.
    pub async fn admit(&self, bytes: usize) -> Result<Held, PushError> {
        if self.limiter.refuses() {
            self.refused_rss.add(1);
            self.bursts.refused("memory_limit");
            return Err(PushError::OverMemoryLimit);
        }
        let deadline = Instant::now() + ADMISSION_WAIT;
        for pipeline in &self.pipelines {
            for exporter in &pipeline.exporters {
                if !exporter.queue.wait_for_room(bytes, deadline).await {
                    self.refused_queue_full.add(1);
                    self.bursts.refused("queue_full");
                    return Err(PushError::Full);
                }
            }
        }
        match self.budget.reserve(bytes * self.footprint, deadline).await {
            Some(held) => Ok(held),
            None => {
                self.refused_budget.add(1);
                self.bursts.refused("memory_budget");
                Err(PushError::OverMemoryLimit)
            }
        }
    }

    /// Once the body is inflated to `bytes`: counts what handling it
    /// holds beyond what was admitted (a compressed body inflates). Already
    /// in memory, so counted, not refused.
    pub fn inflated(&self, held: &mut Held, bytes: usize) {
        let needed = bytes * self.footprint;
        held.grow(needed.saturating_sub(held.bytes()));
    }

    /// Whether any pipeline takes this signal from this receiver.
    pub fn is_empty(&self) -> bool {
        self.pipelines.is_empty()
    }

    /// Proves a protobuf request well-formed: at the wire level, which
    /// costs a fraction of a decode and allocates nothing, unless some
    /// pipeline runs processors that need it decoded. Fields outside the
    /// schema are dropped by decoding, never carried past processors.
    pub fn validate(&self, encoded: Bytes) -> Result<Valid<S>, Malformed> {
        let processing = || self.pipelines.iter().filter(|p| !p.processors.is_empty());
        if processing().all(|p| p.wire.is_some()) {
            let checked = wire::check(S::KIND, &encoded)?;
            let keeps_bytes = !checked.unknown_fields || processing().next().is_none();
            if keeps_bytes && !checked.invalid_ids {
                return Ok(Valid {
                    encoded,
                    items: checked.items,
                    decoded: None,
                    rejected: 0,
                });
            }
        }
        let request = S::decode(encoded.clone())?;
        Ok(self.validate_decoded(request, Some(encoded)))
    }

    /// A decoded request (from protobuf, OTLP/JSON, or made by the agent):
    /// spans and log records with invalid ids are dropped and counted
    /// (`signal/ids.rs`), and it is encoded if it has no encoding yet or lost
    /// items.
    pub fn validate_decoded(&self, mut request: S, encoded: Option<Bytes>) -> Valid<S> {
        let rejected = ids::drop_invalid(&mut request);
        self.invalid.add(rejected as u64);
        let encoded = match encoded {
            Some(encoded) if rejected == 0 => encoded,
            _ => request.encode_to_vec().into(),
        };
        Valid {
            encoded,
            items: request.item_count(),
            decoded: Some(request),
            rejected,
        }
    }

    /// Hands a validated request to every pipeline. A pipeline without
    /// processors queues the bytes as received (one buffer shared by all);
    /// one with processors runs them on its own copy and queues that.
    pub async fn consume(&self, request: Valid<S>) -> Result<(), PushError> {
        let Valid {
            encoded,
            items,
            mut decoded,
            rejected: _,
        } = request;
        let as_received = Entry {
            data: encoded,
            items,
            position: None,
        };
        let last_processing = self
            .pipelines
            .iter()
            .rposition(|p| !p.processors.is_empty());
        let mut result = Ok(());
        for (i, pipeline) in self.pipelines.iter().enumerate() {
            let entry = if pipeline.processors.is_empty() {
                as_received.clone()
            } else if let (None, Some(chain)) = (&decoded, &pipeline.wire) {
                match chain.apply(S::KIND, &as_received.data) {
                    // Enrichment and redaction keep every item.
                    Some(data) => Entry {
                        data: data.into(),
                        items,
                        position: None,
                    },
                    None => as_received.clone(),
                }
            } else {
                // `validate` decodes unless every processing pipeline runs on the wire.
                let mut request = if Some(i) == last_processing {
                    decoded.take().expect("decoded, taken once, last")
                } else {
                    decoded.clone().expect("decoded, present until the last")
                };
                for processor in &pipeline.processors {
                    crate::processors::apply(&**processor, &mut request);
                }
                if request.resources().is_empty() {
                    // Filtered or sampled out entirely (and counted there).
                    continue;
                }
                Entry {
                    items: request.item_count(),
                    data: request.encode_to_vec().into(),
                    position: None,
                }
            };
            result = pipeline.consume(entry).await;
            if result.is_err() {
                break;
            }
        }
        match result {
            Ok(()) => self.accepted.add(items as u64),
            Err(_) => self.refused.add(items as u64),
        }
        result
    }
}

/// A request proven well-formed, as `Fanout::consume` takes it.
pub struct Valid<S> {
    encoded: Bytes,
    items: usize,
    /// Present whenever a pipeline of the fanout that validated it processes.
    decoded: Option<S>,
    /// Items dropped for invalid ids: the client is told in `partial_success`.
    rejected: usize,
}

impl<S: Signal> Valid<S> {
    /// What the client is answered once the request is queued.
    pub fn response(&self) -> S::Response {
        if self.rejected == 0 {
            return S::Response::default();
        }
        S::partial_success(
            self.rejected as i64,
            format!(
                "{} {} with an invalid trace or span id were dropped (a span needs a 16-byte trace id and an 8-byte span id, not all zeros)",
                self.rejected,
                S::ITEM_NAME
            ),
        )
    }
}

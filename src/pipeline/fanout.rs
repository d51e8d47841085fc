//! From a receiver to the queues of every exporter of its pipelines.

use super::memory_limiter::MemoryLimiter;
use crate::connectors::Connector;
use crate::metrics::{Counter, Registry};
use crate::processors::on_wire::WireChain;
use crate::processors::Processor;
use crate::queue::{Entry, PushError, Queue};
use crate::signal::wire;
use crate::signal::Signal;
use bytes::Bytes;
use std::sync::Arc;

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
    limiter: Arc<MemoryLimiter>,
    accepted: Counter,
    refused: Counter,
    refused_requests: Counter,
}

impl<S: Signal> Fanout<S> {
    pub fn new(
        pipelines: Vec<Arc<Pipeline<S>>>,
        limiter: Arc<MemoryLimiter>,
        metrics: &Registry,
        receiver: &str,
        transport: &str,
    ) -> Self {
        let labels = [("receiver", receiver), ("transport", transport)];
        Fanout {
            pipelines,
            limiter,
            accepted: metrics.counter(S::METRIC_NAMES.accepted, &labels),
            refused: metrics.counter(S::METRIC_NAMES.refused, &labels),
            refused_requests: metrics.counter(
                "ignis_receiver_refused_requests",
                &[
                    ("receiver", receiver),
                    ("transport", transport),
                    ("reason", "memory_limit"),
                ],
            ),
        }
    }

    /// Admission before a request is read or decoded: refused while the
    /// process is over its memory limit.
    pub fn admit(&self) -> Result<(), PushError> {
        if self.limiter.refuses() {
            self.refused_requests.add(1);
            return Err(PushError::OverMemoryLimit);
        }
        Ok(())
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
            if !checked.unknown_fields || processing().next().is_none() {
                return Ok(Valid {
                    encoded,
                    items: checked.items,
                    decoded: None,
                });
            }
        }
        let request = S::decode(encoded.clone())?;
        Ok(Valid::decoded(request, encoded))
    }

    /// Hands a validated request to every pipeline. A pipeline without
    /// processors queues the bytes as received (one buffer shared by all);
    /// one with processors runs them on its own copy and queues that.
    pub async fn consume(&self, request: Valid<S>) -> Result<(), PushError> {
        let Valid {
            encoded,
            items,
            mut decoded,
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
}

impl<S: Signal> Valid<S> {
    /// A request already decoded (from OTLP/JSON, or made by the agent),
    /// with its protobuf encoding.
    pub fn decoded(request: S, encoded: Bytes) -> Self {
        Valid {
            encoded,
            items: request.item_count(),
            decoded: Some(request),
        }
    }
}

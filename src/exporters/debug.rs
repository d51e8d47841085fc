//! `debug`: a log line per batch (signal and counts); `verbosity: detailed`
//! adds the batch itself as OTLP/JSON.

use super::delivery::{DeliveryConfig, Exporter, Senders, SpawnError};
use super::{Batch, Outcome, Transport};
use crate::config::component::{settings, Context};
use crate::config::de::DeError;
use crate::config::node::{Located, Node};
use crate::exporters::batch::BatchConfig;
use crate::exporters::retry::RetryConfig;
use crate::queue::QueueConfig;
use crate::signal::Signal;
use serde::Deserialize;
use std::sync::Arc;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    #[default]
    Basic,
    Normal,
    Detailed,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebugExporterConfig {
    #[serde(default)]
    pub verbosity: Verbosity,
    #[serde(default)]
    pub sending_queue: QueueConfig,
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    #[serde(default)]
    pub batch: BatchConfig,
}

pub struct DebugTransport {
    pub name: String,
    pub verbosity: Verbosity,
}

impl<S: Signal> Transport<S> for DebugTransport {
    async fn send(&self, batch: &Batch) -> Outcome {
        let (signal, items, bytes) = (S::KIND.as_str(), batch.items, batch.data.len());
        match self.verbosity {
            Verbosity::Basic => tracing::info!(exporter = %self.name, signal, items, "batch"),
            Verbosity::Normal => {
                tracing::info!(exporter = %self.name, signal, items, bytes, "batch")
            }
            Verbosity::Detailed => {
                let json = match S::decode(batch.data.clone()) {
                    Ok(decoded) => {
                        serde_json::to_string(&decoded).unwrap_or_else(|e| format!("<{e}>"))
                    }
                    Err(e) => format!("<undecodable: {e}>"),
                };
                tracing::info!(exporter = %self.name, signal, items, bytes, data = %json, "batch")
            }
        }
        Outcome::Sent {
            rejected: 0,
            message: String::new(),
        }
    }
}

/// A built `debug` exporter.
pub struct DebugExporter {
    verbosity: Verbosity,
    delivery: DeliveryConfig,
}

pub fn read(node: &Located<Node>, _: &Context) -> Result<Arc<dyn Exporter>, DeError> {
    let config: DebugExporterConfig = settings(node)?;
    let delivery = DeliveryConfig::new(
        &config.sending_queue,
        &config.retry_on_failure,
        &config.batch,
    );
    delivery.check().map_err(|e| e.locate(node))?;
    Ok(Arc::new(DebugExporter {
        verbosity: config.verbosity,
        delivery,
    }))
}

impl Exporter for DebugExporter {
    fn delivery(&self) -> &DeliveryConfig {
        &self.delivery
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn spawn(&self, senders: Senders<'_>) -> Result<Vec<JoinHandle<()>>, SpawnError> {
        let transport = DebugTransport {
            name: senders.name().to_owned(),
            verbosity: self.verbosity,
        };
        Ok(senders.spawn(transport, None))
    }
}

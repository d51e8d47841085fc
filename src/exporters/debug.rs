//! `debug`: a log line per batch (signal and counts); `verbosity: detailed`
//! adds the batch itself as OTLP/JSON.

use super::{Batch, Outcome, Transport};
use crate::config::Verbosity;
use crate::signal::Signal;

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

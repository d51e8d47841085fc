//! `debug`: a log line per batch (signal and counts); `verbosity: detailed`
//! adds the batch itself as OTLP/JSON.

use super::{Outcome, Transport};
use crate::config::Verbosity;
use crate::signal::Signal;

pub struct DebugTransport {
    pub name: String,
    pub verbosity: Verbosity,
}

impl<S: Signal> Transport<S> for DebugTransport {
    async fn send(&self, batch: &S) -> Outcome {
        let resources = batch.resources().len();
        let items = batch.item_count();
        match self.verbosity {
            Verbosity::Basic => tracing::info!(
                exporter = %self.name, signal = S::KIND.as_str(), resources, items, "batch"
            ),
            Verbosity::Normal => tracing::info!(
                exporter = %self.name, signal = S::KIND.as_str(), resources, items,
                bytes = batch.encoded_len(), "batch"
            ),
            Verbosity::Detailed => {
                let json = serde_json::to_string(batch).unwrap_or_else(|e| format!("<{e}>"));
                tracing::info!(
                    exporter = %self.name, signal = S::KIND.as_str(), resources, items,
                    data = %json, "batch"
                )
            }
        }
        Outcome::Sent {
            rejected: 0,
            message: String::new(),
        }
    }
}

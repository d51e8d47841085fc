//! Sending what a connector derives into the pipelines it feeds.

use crate::connectors::{Connector, Derived};
use crate::pipeline::Fanout;
use crate::queue::PushError;
use crate::signal::{Logs, Metrics, Signal, Traces};
use std::sync::Arc;

/// One connector's output, into the fan-outs of the pipelines that list it
/// as a receiver.
#[derive(Clone)]
pub struct Emitter {
    pub name: String,
    pub connector: Arc<dyn Connector>,
    pub traces: Arc<Fanout<Traces>>,
    pub metrics: Arc<Fanout<Metrics>>,
    pub logs: Arc<Fanout<Logs>>,
}

impl Emitter {
    pub async fn emit(&self) {
        let result = match self.connector.emit() {
            None => return,
            Some(Derived::Traces(r)) => send(&self.traces, r).await,
            Some(Derived::Metrics(r)) => send(&self.metrics, r).await,
            Some(Derived::Logs(r)) => send(&self.logs, r).await,
        };
        // What was not taken comes again at the next interval: cumulative
        // figures are derived again, alerts are kept until taken.
        self.connector.settled(result.is_ok());
        if let Err(e) = result {
            tracing::warn!(connector = %self.name, error = %e, "a connector could not queue what it derived; the next interval carries it");
        }
    }

    /// Emits every interval until aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        let interval = self.connector.interval();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                self.emit().await;
            }
        })
    }
}

async fn send<S: Signal>(fanout: &Fanout<S>, request: S) -> Result<(), PushError> {
    fanout.consume(fanout.validate_decoded(request, None)).await
}

//! OTLP receivers: gRPC (tonic) and HTTP (axum). Both validate the request,
//! hand it to the pipelines' fan-out, and answer only once it is queued.
//!
//! A receiver kind is one file holding its settings, their checks and the
//! servers it starts (`otlp.rs`), listed once in `components.rs`.

pub mod auth;
pub mod grpc;
pub mod http;
pub mod otlp;
mod ping_policy;
pub mod refusal;
mod serve;
pub mod tls;

use crate::pipeline::Switch;
use crate::signal::{Logs, Metrics, Traces};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a refused client is told to wait before retrying.
pub const RETRY_DELAY: Duration = Duration::from_secs(1);

/// What one receiver feeds for its three signals, swapped on reload.
pub type FanoutSet = (Arc<Switch<Traces>>, Arc<Switch<Metrics>>, Arc<Switch<Logs>>);

/// A receiver's fan-outs per transport (`grpc`, `http`): they count apart.
pub type Feeds<'a> = dyn Fn(&str) -> FanoutSet + 'a;

/// What a started receiver serves.
#[derive(Default)]
pub struct Started {
    /// Where it listens, as `otlp/grpc` → address (useful with port 0).
    pub listening: Vec<(String, SocketAddr)>,
    /// Its servers, which end once `stop` turns true and requests finish.
    pub tasks: Vec<JoinHandle<()>>,
}

/// A built receiver, as its registry entry returns it.
pub trait Receiver: Send + Sync + 'static {
    /// Binds its listeners and starts serving until `stop` turns true.
    fn start(
        &self,
        name: &str,
        feeds: &Feeds<'_>,
        stop: &watch::Receiver<bool>,
    ) -> Result<Started, BindError>;

    /// The concrete receiver, for code that inspects its settings.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// A receiver could not listen where it was told to.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {endpoint}: {source}")]
pub struct BindError {
    pub endpoint: String,
    #[source]
    pub source: std::io::Error,
}

/// Binds `endpoint` now, so a port in use is an error at start.
fn bind(endpoint: &str) -> Result<tokio::net::TcpListener, BindError> {
    std::net::TcpListener::bind(endpoint)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(tokio::net::TcpListener::from_std)
        .map_err(|source| BindError {
            endpoint: endpoint.to_owned(),
            source,
        })
}

/// Where a listener is bound (useful with port 0).
pub fn local_addr(listener: &tokio::net::TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
}

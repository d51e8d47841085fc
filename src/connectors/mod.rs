//! Connectors: one signal in, another out, as in the Collector. A connector
//! is an exporter of the pipelines it reads (it sees what they deliver,
//! after their processors) and a receiver of the pipelines it feeds (what
//! it derives enters them every interval).
//!
//! Each connector is one file holding its settings, their checks and its
//! constructor (`read`), listed once in `components.rs`.

pub mod span_metrics;
pub mod threshold_alerts;

use crate::signal::{AnyRequest, Logs, Metrics, SignalKind, Traces};
use std::time::Duration;

/// A request a connector derived, of its output signal.
pub enum Derived {
    Traces(Traces),
    Metrics(Metrics),
    Logs(Logs),
}

/// A built connector, shared by every pipeline naming it.
pub trait Connector: Send + Sync + 'static {
    /// The signal it reads: it may be an exporter of pipelines of this signal.
    fn input(&self) -> SignalKind;

    /// The signal it emits: it may be a receiver of pipelines of this signal.
    fn output(&self) -> SignalKind;

    /// Reads a request one of its pipelines delivered.
    fn consume(&self, request: AnyRequest<'_>);

    /// How often `emit` runs.
    fn interval(&self) -> Duration;

    /// What it derived since it started (cumulative) or since the last call.
    fn emit(&self) -> Option<Derived>;

    /// Whether the pipelines took what the last `emit` returned. A
    /// connector whose output is not cumulative keeps it until they do.
    fn settled(&self, _taken: bool) {}
}

//! The agent's own telemetry. Logs through `tracing`, to stderr as text or
//! JSON; and, when `service.telemetry` configures OTLP exporters, its logs,
//! traces and metrics through the OpenTelemetry SDK (`otlp.rs`). The level,
//! the format and the exporters reload with the config.

mod http_client;
mod metrics_bridge;
pub mod otlp;

use crate::config::{LogFormat, LogsConfig, TelemetryConfig};
use crate::metrics::Registry;
use crate::SELF_SPANS;
use otlp::{BoxedLayer, SelfTelemetry};
use std::sync::Arc;
use tracing::Metadata;
use tracing_subscriber::filter::{FilterFn, Filtered as Filtered_};
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry as Spans};

type Filtered = Layered<reload::Layer<EnvFilter, Spans>, Spans>;
type Format = Box<dyn Layer<Filtered> + Send + Sync>;
/// Per-layer filters stay outside the reloadable slots: tracing-subscriber
/// registers a filter when the subscriber is built, not when a slot is
/// reloaded.
type Only = FilterFn<fn(&Metadata<'_>) -> bool>;
type Formatted = Layered<Filtered_<reload::Layer<Format, Filtered>, Only, Filtered>, Filtered>;
/// The OTLP traces layer, when the config asks for it.
type TracesSlot = Option<BoxedLayer<Formatted>>;
type Traced = Layered<Filtered_<reload::Layer<TracesSlot, Formatted>, Only, Formatted>, Formatted>;
/// The OTLP logs layer, when the config asks for it.
type LogsSlot = Option<BoxedLayer<Traced>>;

/// Changes the installed subscriber's level, format and OTLP export.
pub struct Telemetry {
    filter: reload::Handle<EnvFilter, Spans>,
    format: reload::Handle<Format, Filtered>,
    traces: reload::Handle<TracesSlot, Formatted>,
    logs: reload::Handle<LogsSlot, Traced>,
    exporting: Option<(TelemetryConfig, SelfTelemetry)>,
}

/// `RUST_LOG`, when set, overrides the configured level (handy for one-off
/// debugging without a config change). The spans made for export are
/// always on: the layers decide who sees them. The OpenTelemetry SDK's own
/// chatter below WARN stays out unless `RUST_LOG` asks for it.
fn filter(config: &LogsConfig) -> EnvFilter {
    let directives = match std::env::var("RUST_LOG") {
        Ok(v) if EnvFilter::try_new(&v).is_ok() => format!("{v},{SELF_SPANS}=info"),
        _ => format!("{},{SELF_SPANS}=info,opentelemetry_sdk=warn", config.level),
    };
    EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new(&config.level))
}

/// The spans made for export are not log context: lines read the same
/// whether the agent's traces are exported or not.
fn not_exported(meta: &Metadata<'_>) -> bool {
    meta.target() != SELF_SPANS
}

fn format(config: &LogsConfig) -> Format {
    use std::io::IsTerminal;
    // Colour only on a terminal: a file or a pipe gets plain text.
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    match config.format {
        LogFormat::Json => Box::new(layer.json().flatten_event(true)),
        LogFormat::Text => Box::new(layer),
    }
}

/// Installs the global subscriber (no OTLP export yet: that needs the
/// runtime, see `Telemetry::export`).
pub fn init(config: &LogsConfig) -> Telemetry {
    let (filter, filter_handle) = reload::Layer::new(filter(config));
    let (format, format_handle) = reload::Layer::new(format(config));
    let (traces, traces_handle) = reload::Layer::new(None as TracesSlot);
    let (logs, logs_handle) = reload::Layer::new(None as LogsSlot);
    let only = |f: fn(&Metadata<'_>) -> bool| -> Only { FilterFn::new(f) };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(format.with_filter(only(not_exported)))
        .with(traces.with_filter(only(otlp::exported_span)))
        .with(logs.with_filter(only(otlp::our_event)))
        .try_init();
    Telemetry {
        filter: filter_handle,
        format: format_handle,
        traces: traces_handle,
        logs: logs_handle,
        exporting: None,
    }
}

impl Telemetry {
    /// Applies a reloaded config's level and format.
    pub fn apply(&self, config: &LogsConfig) {
        let _ = self.filter.reload(filter(config));
        let _ = self.format.reload(format(config));
    }

    /// Starts, changes or stops the OTLP export of the agent's own
    /// telemetry to match `config`; on the runtime. What was exported
    /// before is flushed first. A setting that cannot start is said and
    /// leaves nothing exported.
    pub async fn export(&mut self, config: &TelemetryConfig, registry: &Arc<Registry>) {
        // A new log level or format is no reason to restart the exporters.
        let config = &config.export_settings();
        if self.exporting.as_ref().map(|(c, _)| c) == Some(config)
            || (self.exporting.is_none() && !config.exports())
        {
            return;
        }
        self.stop_export().await;
        if !config.exports() {
            return;
        }
        match SelfTelemetry::start::<Formatted, Traced>(config, registry) {
            Ok((running, layers)) => {
                let _ = self.traces.reload(layers.traces);
                let _ = self.logs.reload(layers.logs);
                self.exporting = Some((config.clone(), running));
                tracing::info!(
                    exporters = config.exporters().len(),
                    "exporting the agent's own telemetry over OTLP"
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot export the agent's own telemetry; it stays on stderr and /metrics");
            }
        }
    }

    /// Flushes and stops the OTLP export, if any.
    pub async fn stop_export(&mut self) {
        let _ = self.traces.reload(None);
        let _ = self.logs.reload(None);
        if let Some((_, running)) = self.exporting.take() {
            let _ = tokio::task::spawn_blocking(move || running.shutdown()).await;
        }
    }
}

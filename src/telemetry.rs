//! The agent's own logs, through `tracing`, as text or JSON. The level and
//! the format reload with the config.

use crate::config::{LogFormat, LogsConfig};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

type Filtered = tracing_subscriber::layer::Layered<reload::Layer<EnvFilter, Registry>, Registry>;
type Format = Box<dyn Layer<Filtered> + Send + Sync>;

/// Changes the installed subscriber's level and format.
pub struct Logs {
    filter: reload::Handle<EnvFilter, Registry>,
    format: reload::Handle<Format, Filtered>,
}

/// `RUST_LOG`, when set, overrides the configured level (handy for one-off
/// debugging without a config change).
fn filter(config: &LogsConfig) -> EnvFilter {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(&config.level))
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

/// Installs the global subscriber.
pub fn init(config: &LogsConfig) -> Logs {
    let (filter, filter_handle) = reload::Layer::new(filter(config));
    let (format, format_handle) = reload::Layer::new(format(config));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(format)
        .try_init();
    Logs {
        filter: filter_handle,
        format: format_handle,
    }
}

impl Logs {
    /// Applies a reloaded config's level and format.
    pub fn apply(&self, config: &LogsConfig) {
        let _ = self.filter.reload(filter(config));
        let _ = self.format.reload(format(config));
    }
}

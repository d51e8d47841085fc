//! The agent's own telemetry over OTLP, through the OpenTelemetry SDK:
//! logs (the `tracing` events of this crate, through the appender bridge),
//! traces (the spans of target `ignis_self`: an export attempt, a reload,
//! a refusal burst; through `tracing-opentelemetry`) and metrics (the
//! registry, through `metrics_bridge`). Only this crate's events and spans
//! go out: the transport crates' own logs (hyper, h2, tonic, the SDK) are
//! filtered out, so exporting never feeds itself. Nothing goes into the
//! agent's pipelines unless a receiver is the configured endpoint.

use super::http_client::RuntimeHttpClient;
use super::metrics_bridge;
use crate::config::telemetry::{Batch, OtlpExporter, Protocol, TelemetryConfig};
use crate::metrics::Registry;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::SELF_SPANS;

/// What the agent's own telemetry runs on while it is configured.
pub struct SelfTelemetry {
    tracer: Option<SdkTracerProvider>,
    logger: Option<SdkLoggerProvider>,
    meter: Option<SdkMeterProvider>,
    bridge: Option<tokio::task::JoinHandle<()>>,
}

/// A layer for the global subscriber: boxed, as the slot it goes into.
pub type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync>;

fn resource(config: &TelemetryConfig) -> Resource {
    let instance = format!("{:016x}", rand::random::<u64>());
    let mut builder = Resource::builder_empty()
        .with_service_name("ignis-agent")
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .with_attribute(KeyValue::new("service.instance.id", instance));
    for (key, value) in &config.resource {
        builder = builder.with_attribute(KeyValue::new(key.clone(), value.clone()));
    }
    builder.build()
}

/// Where an OTLP/HTTP exporter posts `signal`: the endpoint as written
/// when it has a path, else with `/v1/<signal>` (as the Collector's
/// configuration reads it).
fn http_url(endpoint: &str, signal: &str) -> String {
    let trimmed = endpoint.trim_end_matches('/');
    let has_path = endpoint
        .parse::<http::Uri>()
        .is_ok_and(|u| !matches!(u.path(), "" | "/"));
    if has_path {
        endpoint.to_owned()
    } else {
        format!("{trimmed}/v1/{signal}")
    }
}

fn headers(exporter: &OtlpExporter) -> HashMap<String, String> {
    exporter
        .headers
        .iter()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect()
}

fn metadata(exporter: &OtlpExporter) -> tonic::metadata::MetadataMap {
    let mut map = http::HeaderMap::new();
    for h in &exporter.headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(h.name.as_bytes()),
            http::HeaderValue::from_str(&h.value),
        ) {
            map.insert(name, value);
        }
    }
    tonic::metadata::MetadataMap::from_headers(map)
}

/// Builds one exporter of any signal (the three builders share their API,
/// not a type).
macro_rules! exporter {
    ($builder:expr, $config:expr, $signal:expr) => {{
        let config: &OtlpExporter = $config;
        let timeout = Duration::from_millis(config.timeout);
        match config.protocol {
            Protocol::Grpc => $builder
                .with_tonic()
                .with_endpoint(config.endpoint.clone())
                .with_timeout(timeout)
                .with_metadata(metadata(config))
                .build(),
            Protocol::HttpProtobuf => $builder
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(http_url(&config.endpoint, $signal))
                .with_http_client(RuntimeHttpClient::new(timeout)?)
                .with_headers(headers(config))
                .with_timeout(timeout)
                .build(),
        }
        .map_err(|e| format!("{}: {e}", config.endpoint))?
    }};
}

/// A batch processor's settings for traces or logs (two builder types,
/// one API).
macro_rules! batch_config {
    ($builder:ty, $batch:expr) => {{
        let batch: &Batch = $batch;
        let mut config = <$builder>::default();
        if let Some(ms) = batch.schedule_delay {
            config = config.with_scheduled_delay(Duration::from_millis(ms));
        }
        if let Some(n) = batch.max_queue_size {
            config = config.with_max_queue_size(n);
        }
        if let Some(n) = batch.max_export_batch_size {
            config = config.with_max_export_batch_size(n);
        }
        config.build()
    }};
}

/// What the traces layer takes: the spans made to be exported, and not
/// the log lines inside them (as span events; logs go as logs).
pub fn exported_span(meta: &Metadata<'_>) -> bool {
    meta.is_span() && meta.target() == SELF_SPANS
}

/// What the logs layer takes: this crate's events, not a dependency's.
pub fn our_event(meta: &Metadata<'_>) -> bool {
    meta.is_event() && ours(meta.target())
}

fn ours(target: &str) -> bool {
    target == "ignis_agent" || target.starts_with("ignis_agent::")
}

/// The layers for the subscriber's two slots (a per-layer filter goes
/// around each slot: `exported_span`, `our_event`).
pub struct Layers<T, L> {
    pub traces: Option<BoxedLayer<T>>,
    pub logs: Option<BoxedLayer<L>>,
}

impl SelfTelemetry {
    /// Starts what `config` asks for, on the current runtime; returns it
    /// and the layer to put into the subscriber (None when nothing is
    /// exported).
    pub fn start<T, L>(
        config: &TelemetryConfig,
        registry: &Arc<Registry>,
    ) -> Result<(Self, Layers<T, L>), String>
    where
        T: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
        L: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let resource = resource(config);
        let mut layers = Layers {
            traces: None,
            logs: None,
        };

        let tracer = if config.traces.processors.is_empty() {
            None
        } else {
            let mut builder = SdkTracerProvider::builder().with_resource(resource.clone());
            for processor in &config.traces.processors {
                let exporter = exporter!(
                    opentelemetry_otlp::SpanExporter::builder(),
                    &processor.batch.exporter.otlp,
                    "traces"
                );
                builder = builder.with_span_processor(
                    opentelemetry_sdk::trace::BatchSpanProcessor::builder(exporter)
                        .with_batch_config(batch_config!(
                            opentelemetry_sdk::trace::BatchConfigBuilder,
                            &processor.batch
                        ))
                        .build(),
                );
            }
            let provider = builder.build();
            let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("ignis-agent"));
            layers.traces = Some(Box::new(layer));
            Some(provider)
        };

        let logger = if config.logs.processors.is_empty() {
            None
        } else {
            let mut builder = SdkLoggerProvider::builder().with_resource(resource.clone());
            for processor in &config.logs.processors {
                let exporter = exporter!(
                    opentelemetry_otlp::LogExporter::builder(),
                    &processor.batch.exporter.otlp,
                    "logs"
                );
                builder = builder.with_log_processor(
                    opentelemetry_sdk::logs::BatchLogProcessor::builder(exporter)
                        .with_batch_config(batch_config!(
                            opentelemetry_sdk::logs::BatchConfigBuilder,
                            &processor.batch
                        ))
                        .build(),
                );
            }
            let provider = builder.build();
            let layer =
                opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(&provider);
            layers.logs = Some(Box::new(layer));
            Some(provider)
        };

        let (meter, bridge) = if config.metrics.readers.is_empty() {
            (None, None)
        } else {
            let mut builder = SdkMeterProvider::builder().with_resource(resource);
            for reader in &config.metrics.readers {
                let exporter = exporter!(
                    opentelemetry_otlp::MetricExporter::builder(),
                    &reader.periodic.exporter.otlp,
                    "metrics"
                );
                builder = builder.with_reader(
                    PeriodicReader::builder(exporter)
                        .with_interval(Duration::from_millis(reader.periodic.interval))
                        .build(),
                );
            }
            let provider = builder.build();
            let meter = opentelemetry::metrics::MeterProvider::meter(&provider, "ignis-agent");
            let bridge = metrics_bridge::spawn(meter, Arc::clone(registry));
            (Some(provider), Some(bridge))
        };

        Ok((
            SelfTelemetry {
                tracer,
                logger,
                meter,
                bridge,
            },
            layers,
        ))
    }

    /// Exports what is still buffered and stops. Blocks: call it off the
    /// runtime's workers (the SDK waits on its exporters, which run there).
    pub fn shutdown(self) {
        if let Some(bridge) = self.bridge {
            bridge.abort();
        }
        // Metrics last: their final collection sees the last counts.
        if let Some(tracer) = self.tracer {
            let _ = tracer.shutdown();
        }
        if let Some(logger) = self.logger {
            let _ = logger.shutdown();
        }
        if let Some(meter) = self.meter {
            let _ = meter.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_endpoints_get_the_signal_path_unless_they_have_one() {
        assert_eq!(
            http_url("http://c:4318", "traces"),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            http_url("https://c:4318/", "logs"),
            "https://c:4318/v1/logs"
        );
        assert_eq!(
            http_url("https://c/otlp/v1/metrics", "metrics"),
            "https://c/otlp/v1/metrics"
        );
    }

    #[test]
    fn only_this_crates_events_go_out() {
        assert!(ours("ignis_agent::exporters::health"));
        for dependency in [
            "hyper_util::client",
            "h2::codec",
            "tonic::transport",
            "opentelemetry_sdk",
        ] {
            assert!(!ours(dependency));
        }
    }
}

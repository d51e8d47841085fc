//! `service.telemetry`: the agent's own logs (level, format) and, when
//! configured, its own logs, traces and metrics over OTLP, in the shape the
//! Collector takes from the OpenTelemetry declarative configuration schema:
//!
//! ```yaml
//! service:
//!   telemetry:
//!     logs:
//!       level: info
//!       processors: [{ batch: { exporter: { otlp: { protocol: grpc, endpoint: http://collector:4317 } } } }]
//!     traces:
//!       processors: [{ batch: { exporter: { otlp: { protocol: http/protobuf, endpoint: https://ingest:4318 } } } }]
//!     metrics:
//!       readers: [{ periodic: { interval: 10000, exporter: { otlp: { protocol: grpc, endpoint: http://collector:4317 } } } }]
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    pub logs: LogsConfig,
    pub traces: TracesTelemetry,
    pub metrics: MetricsTelemetry,
    /// Resource attributes added to the agent's own telemetry (beside
    /// `service.name: ignis-agent`, `service.version`, `service.instance.id`).
    pub resource: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    pub level: String,
    pub format: LogFormat,
    /// Where the agent's own log records go over OTLP, besides stderr.
    pub processors: Vec<Processor>,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            level: "info".into(),
            format: LogFormat::Text,
            processors: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TracesTelemetry {
    pub processors: Vec<Processor>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsTelemetry {
    /// Accepted for the Collector's configs; the agent has one level.
    pub level: Option<String>,
    pub readers: Vec<Reader>,
}

/// A span or log record processor: `batch` is the one there is.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Processor {
    pub batch: Batch,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// Milliseconds between exports (the SDK's default: 1000 for logs,
    /// 5000 for spans).
    #[serde(default)]
    pub schedule_delay: Option<u64>,
    #[serde(default)]
    pub max_queue_size: Option<usize>,
    #[serde(default)]
    pub max_export_batch_size: Option<usize>,
    pub exporter: Exporter,
}

/// A metric reader: `periodic` (the agent serves `/metrics` for pulling).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Reader {
    pub periodic: Periodic,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Periodic {
    /// Milliseconds between exports (60000, as the SDK's default).
    #[serde(default = "minute")]
    pub interval: u64,
    pub exporter: Exporter,
}

fn minute() -> u64 {
    60_000
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Exporter {
    pub otlp: OtlpExporter,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OtlpExporter {
    #[serde(default)]
    pub protocol: Protocol,
    /// gRPC: `http://host:port` (plaintext; TLS is for http/protobuf);
    /// http/protobuf: a URL, with `/v1/<signal>` added when it has no path.
    pub endpoint: String,
    #[serde(default)]
    pub headers: Vec<Header>,
    /// Milliseconds an export may take (10000).
    #[serde(default = "ten_seconds")]
    pub timeout: u64,
}

fn ten_seconds() -> u64 {
    10_000
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum Protocol {
    #[default]
    #[serde(rename = "grpc")]
    Grpc,
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub name: String,
    pub value: String,
}

impl TelemetryConfig {
    /// Every OTLP exporter configured, with where it is in the config.
    pub fn exporters(&self) -> Vec<(&'static str, &OtlpExporter)> {
        let mut out = Vec::new();
        for p in &self.logs.processors {
            out.push(("logs.processors", &p.batch.exporter.otlp));
        }
        for p in &self.traces.processors {
            out.push(("traces.processors", &p.batch.exporter.otlp));
        }
        for r in &self.metrics.readers {
            out.push(("metrics.readers", &r.periodic.exporter.otlp));
        }
        out
    }

    /// What is wrong with the OTLP exporters, one message each.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (place, exporter) in self.exporters() {
            let endpoint = &exporter.endpoint;
            let uri: Option<http::Uri> = endpoint.parse().ok();
            let scheme = uri.as_ref().and_then(|u| u.scheme_str().map(str::to_owned));
            let has_host = uri.as_ref().is_some_and(|u| u.host().is_some());
            match (exporter.protocol, scheme.as_deref()) {
                (_, Some("http" | "https")) if has_host => {}
                _ => out.push(format!(
                    "telemetry.{place}: endpoint `{endpoint}` must be a URL such as http://collector:4317"
                )),
            }
            if exporter.protocol == Protocol::Grpc && scheme.as_deref() == Some("https") {
                out.push(format!(
                    "telemetry.{place}: the agent's own telemetry goes over gRPC in plaintext only; for TLS use protocol: http/protobuf with an https:// endpoint"
                ));
            }
            if exporter.timeout == 0 {
                out.push(format!("telemetry.{place}: timeout must be more than 0"));
            }
        }
        for reader in &self.metrics.readers {
            if reader.periodic.interval == 0 {
                out.push(
                    "telemetry.metrics.readers: interval must be more than 0 (milliseconds)".into(),
                );
            }
        }
        out
    }

    /// The settings of the OTLP export alone (log level and format as by
    /// default): what decides whether the exporters must restart.
    pub fn export_settings(&self) -> TelemetryConfig {
        TelemetryConfig {
            logs: LogsConfig {
                processors: self.logs.processors.clone(),
                ..LogsConfig::default()
            },
            ..self.clone()
        }
    }

    /// Whether anything of the agent's own goes out over OTLP.
    pub fn exports(&self) -> bool {
        !self.exporters().is_empty()
    }
}

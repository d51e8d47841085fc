//! Clients built from the official OpenTelemetry Rust SDK and OTLP exporter.
//!
//! The SDK exports from its own threads; the gRPC exporter must be built
//! inside a tokio runtime, and the HTTP (blocking reqwest) one outside any.
//! Call these from `spawn_blocking` with a runtime handle entered for gRPC.

use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Span as _, SpanKind, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Wire {
    Grpc,
    HttpProto,
    HttpJson,
}

fn resource() -> Resource {
    Resource::builder()
        .with_service_name("checkout")
        .with_attribute(KeyValue::new("deployment.environment", "test"))
        .build()
}

fn endpoint(wire: Wire, addr: std::net::SocketAddr, path: &str) -> String {
    match wire {
        Wire::Grpc => format!("http://{addr}"),
        _ => format!("http://{addr}{path}"),
    }
}

/// Builds an OTLP exporter of any signal for `wire` (the three builders
/// share their API but not a type).
macro_rules! exporter {
    ($builder:expr, $wire:expr, $addr:expr, $path:expr) => {
        match $wire {
            Wire::Grpc => $builder
                .with_tonic()
                .with_endpoint(endpoint($wire, $addr, ""))
                .build(),
            Wire::HttpProto | Wire::HttpJson => $builder
                .with_http()
                .with_protocol(if $wire == Wire::HttpJson {
                    Protocol::HttpJson
                } else {
                    Protocol::HttpBinary
                })
                .with_endpoint(endpoint($wire, $addr, $path))
                .build(),
        }
    };
}

/// The ids of the spans sent, as (trace_id, span_id) bytes.
pub type SpanIds = Vec<(Vec<u8>, Vec<u8>)>;

/// Sends `count` spans with attributes through the SDK and flushes them.
pub fn send_spans(wire: Wire, addr: std::net::SocketAddr, count: usize) -> SpanIds {
    let exporter = exporter!(
        opentelemetry_otlp::SpanExporter::builder(),
        wire,
        addr,
        "/v1/traces"
    )
    .expect("span exporter");
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource())
        .build();
    let tracer = provider.tracer("orders");
    let mut ids = Vec::new();
    for i in 0..count {
        let mut span = tracer
            .span_builder(format!("GET /orders/{i}"))
            .with_kind(SpanKind::Server)
            .with_attributes(vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.response.status_code", 200),
                KeyValue::new("order.index", i as i64),
                KeyValue::new("ratio", 0.5),
            ])
            .start(&tracer);
        span.add_event("cache miss", vec![KeyValue::new("key", "orders")]);
        let ctx = span.span_context().clone();
        ids.push((
            ctx.trace_id().to_bytes().to_vec(),
            ctx.span_id().to_bytes().to_vec(),
        ));
        span.end();
    }
    provider.force_flush().expect("flush spans");
    provider.shutdown().expect("shutdown tracer provider");
    ids
}

/// Records `count` increments of a counter and a histogram, and flushes.
pub fn send_metrics(wire: Wire, addr: std::net::SocketAddr, count: u64) {
    let exporter = exporter!(
        opentelemetry_otlp::MetricExporter::builder(),
        wire,
        addr,
        "/v1/metrics"
    )
    .expect("metric exporter");
    let provider = SdkMeterProvider::builder()
        .with_periodic_exporter(exporter)
        .with_resource(resource())
        .build();
    let meter = provider.meter("orders");
    let counter = meter.u64_counter("orders.placed").build();
    let histogram = meter
        .f64_histogram("orders.latency")
        .with_unit("ms")
        .build();
    for i in 0..count {
        counter.add(1, &[KeyValue::new("region", "eu")]);
        histogram.record(i as f64, &[KeyValue::new("region", "eu")]);
    }
    // Shutdown exports once; a flush before it would send the cumulative
    // points twice and blur the exactly-once check.
    provider.shutdown().expect("shutdown meter provider");
}

/// Emits `count` log records with bodies and attributes, and flushes.
pub fn send_logs(wire: Wire, addr: std::net::SocketAddr, count: usize) {
    let exporter = exporter!(
        opentelemetry_otlp::LogExporter::builder(),
        wire,
        addr,
        "/v1/logs"
    )
    .expect("log exporter");
    let provider = SdkLoggerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource())
        .build();
    let logger = provider.logger("orders");
    for i in 0..count {
        let mut record = logger.create_log_record();
        record.set_body(format!("order {i} placed").into());
        record.set_severity_number(Severity::Info);
        record.set_severity_text("INFO");
        record.add_attribute("order.index", i as i64);
        logger.emit(record);
    }
    provider.force_flush().expect("flush logs");
    provider.shutdown().expect("shutdown logger provider");
}

//! Generates the OTLP message types from the pinned protos in `proto/`.
//!
//! Only messages are generated: the gRPC services are served and called through
//! our own codec (see `src/receivers/grpc.rs`), so that malformed input maps to
//! INVALID_ARGUMENT and received bytes can be kept as they arrived.
//!
//! The serde attributes implement the OTLP/JSON mapping, which differs from
//! canonical proto3 JSON: ids are hex, enums are integers, 64-bit integers are
//! written as strings but read as strings or numbers.

const PROTOS: &[&str] = &[
    "proto/opentelemetry/proto/collector/trace/v1/trace_service.proto",
    "proto/opentelemetry/proto/collector/metrics/v1/metrics_service.proto",
    "proto/opentelemetry/proto/collector/logs/v1/logs_service.proto",
];

/// Byte fields that OTLP/JSON writes as lowercase hex.
const HEX_IDS: &[&str] = &[
    "trace.v1.Span.trace_id",
    "trace.v1.Span.span_id",
    "trace.v1.Span.parent_span_id",
    "trace.v1.Span.Link.trace_id",
    "trace.v1.Span.Link.span_id",
    "logs.v1.LogRecord.trace_id",
    "logs.v1.LogRecord.span_id",
    "metrics.v1.Exemplar.trace_id",
    "metrics.v1.Exemplar.span_id",
];

/// 64-bit unsigned scalars (fixed64 / uint64).
const U64: &[&str] = &[
    "trace.v1.Span.start_time_unix_nano",
    "trace.v1.Span.end_time_unix_nano",
    "trace.v1.Span.Event.time_unix_nano",
    "logs.v1.LogRecord.time_unix_nano",
    "logs.v1.LogRecord.observed_time_unix_nano",
    "metrics.v1.NumberDataPoint.start_time_unix_nano",
    "metrics.v1.NumberDataPoint.time_unix_nano",
    "metrics.v1.HistogramDataPoint.start_time_unix_nano",
    "metrics.v1.HistogramDataPoint.time_unix_nano",
    "metrics.v1.HistogramDataPoint.count",
    "metrics.v1.ExponentialHistogramDataPoint.start_time_unix_nano",
    "metrics.v1.ExponentialHistogramDataPoint.time_unix_nano",
    "metrics.v1.ExponentialHistogramDataPoint.count",
    "metrics.v1.ExponentialHistogramDataPoint.zero_count",
    "metrics.v1.SummaryDataPoint.start_time_unix_nano",
    "metrics.v1.SummaryDataPoint.time_unix_nano",
    "metrics.v1.SummaryDataPoint.count",
    "metrics.v1.Exemplar.time_unix_nano",
];

/// Repeated 64-bit unsigned scalars.
const U64_LISTS: &[&str] = &[
    "metrics.v1.HistogramDataPoint.bucket_counts",
    "metrics.v1.ExponentialHistogramDataPoint.Buckets.bucket_counts",
];

/// 64-bit signed scalars; oneof members are named `Message.oneof.member`.
const I64: &[&str] = &[
    "common.v1.AnyValue.value.int_value",
    "metrics.v1.NumberDataPoint.value.as_int",
    "metrics.v1.Exemplar.value.as_int",
    "collector.trace.v1.ExportTracePartialSuccess.rejected_spans",
    "collector.metrics.v1.ExportMetricsPartialSuccess.rejected_data_points",
    "collector.logs.v1.ExportLogsPartialSuccess.rejected_log_records",
];

/// Oneofs: serialized flattened into their parent, as `{"stringValue": "x"}`.
const ONEOFS: &[&str] = &[
    "common.v1.AnyValue.value",
    "metrics.v1.Metric.data",
    "metrics.v1.NumberDataPoint.value",
    "metrics.v1.Exemplar.value",
];

fn main() -> std::io::Result<()> {
    // protoc comes from a crate, so a fresh machine needs none.
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc");
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    // Paths without a leading dot match exactly: a dotted path would also match
    // a oneof's variants, which share the oneof's path as a prefix.
    let p = |s: &str| format!("opentelemetry.proto.{s}");
    const JSON: &str = "crate::proto::json";

    config.message_attribute(
        ".opentelemetry",
        "#[derive(serde::Serialize, serde::Deserialize)] #[serde(rename_all = \"camelCase\", default)]",
    );
    for path in ONEOFS {
        config.enum_attribute(
            p(path),
            "#[derive(serde::Serialize, serde::Deserialize)] #[serde(rename_all = \"camelCase\")]",
        );
        config.field_attribute(p(path), "#[serde(flatten)]");
    }
    config.field_attribute(
        p("common.v1.AnyValue.value.bytes_value"),
        format!("#[serde(with = \"{JSON}::base64\")]"),
    );
    for path in HEX_IDS {
        config.field_attribute(p(path), format!("#[serde(with = \"{JSON}::hex\")]"));
    }
    for path in U64 {
        config.field_attribute(p(path), format!("#[serde(with = \"{JSON}::u64_str\")]"));
    }
    for path in U64_LISTS {
        config.field_attribute(p(path), format!("#[serde(with = \"{JSON}::u64_list\")]"));
    }
    for path in I64 {
        config.field_attribute(p(path), format!("#[serde(with = \"{JSON}::i64_str\")]"));
    }
    config.compile_protos(PROTOS, &["proto"])?;
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}

//! What differs between traces, metrics and logs, behind one trait, so that
//! receivers, queues, batching and senders are written once.
//!
//! All three requests share a shape: resources → scopes → items. A batch is
//! requests concatenated (protobuf reads them as one); one over the limits
//! is split along that shape (`exporters/batch.rs`).

pub mod fields;
pub mod ids;
pub mod retain;
pub mod walk;
pub mod wire;

use crate::proto::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use crate::proto::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use crate::proto::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use crate::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use crate::proto::metrics::v1::{metric::Data, Metric, ResourceMetrics, ScopeMetrics};
use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use retain::Retain;
use serde::{de::DeserializeOwned, Serialize};
use walk::Walk;

/// Which of the three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SignalKind {
    Traces,
    Metrics,
    Logs,
}

impl SignalKind {
    pub const ALL: [SignalKind; 3] = [SignalKind::Traces, SignalKind::Metrics, SignalKind::Logs];

    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::Traces => "traces",
            SignalKind::Metrics => "metrics",
            SignalKind::Logs => "logs",
        }
    }
}

pub type Traces = ExportTraceServiceRequest;
pub type Metrics = ExportMetricsServiceRequest;
pub type Logs = ExportLogsServiceRequest;

/// The Collector's metric names for one signal's items, so dashboards built
/// for it work unchanged.
pub struct MetricNames {
    pub accepted: &'static str,
    pub refused: &'static str,
    pub sent: &'static str,
    pub send_failed: &'static str,
}

/// A request of any of the three signals.
pub enum AnyRequest<'a> {
    Traces(&'a mut Traces),
    Metrics(&'a mut Metrics),
    Logs(&'a mut Logs),
}

pub trait Signal:
    Message
    + Default
    + Clone
    + PartialEq
    + Serialize
    + DeserializeOwned
    + Walk
    + Retain
    + Send
    + Sync
    + 'static
{
    type Response: Message + Default + Serialize + DeserializeOwned + Send + Sync + 'static;
    type Resource: Message + Clone + Send + Sync;
    type Scope: Message + Clone + Send + Sync;
    type Item: Message + Clone + Send + Sync;

    const KIND: SignalKind;
    /// The gRPC service name, e.g. `opentelemetry.proto.collector.trace.v1.TraceService`.
    const GRPC_SERVICE: &'static str;
    /// The OTLP/HTTP path, e.g. `/v1/traces`.
    const HTTP_PATH: &'static str;
    /// What one item is called in logs and metric names.
    const ITEM_NAME: &'static str;
    /// The Collector's names of the metrics that count these items.
    const METRIC_NAMES: MetricNames;

    fn resources(&self) -> &[Self::Resource];
    fn resources_mut(&mut self) -> &mut Vec<Self::Resource>;
    fn scopes(resource: &Self::Resource) -> &[Self::Scope];
    fn scopes_mut(resource: &mut Self::Resource) -> &mut Vec<Self::Scope>;
    fn items(scope: &Self::Scope) -> &[Self::Item];
    fn items_mut(scope: &mut Self::Scope) -> &mut Vec<Self::Item>;

    /// Same resource and schema URL, so their scopes can live under one.
    fn same_resource(a: &Self::Resource, b: &Self::Resource) -> bool;
    /// Same scope and schema URL, so their items can live under one.
    fn same_scope(a: &Self::Scope, b: &Self::Scope) -> bool;
    /// How many counted items one item holds: 1, or a metric's data points.
    fn weight(item: &Self::Item) -> usize;

    /// Items the server rejected, with its message.
    fn rejected(response: &Self::Response) -> Option<(i64, String)>;

    /// An answer that says `rejected` items were not taken, and why.
    fn partial_success(rejected: i64, message: String) -> Self::Response;

    /// This request as one of the three, for code that treats them apart
    /// behind a trait object (processors).
    fn as_any(&mut self) -> AnyRequest<'_>;

    /// Counted items in the whole request.
    fn item_count(&self) -> usize {
        self.resources()
            .iter()
            .flat_map(|r| Self::scopes(r))
            .flat_map(|s| Self::items(s))
            .map(Self::weight)
            .sum()
    }
}

macro_rules! shape {
    ($req:ty, $res:ty, $scope:ty, $item:ty, $resources:ident, $scopes:ident, $items:ident) => {
        fn resources(&self) -> &[$res] {
            &self.$resources
        }
        fn resources_mut(&mut self) -> &mut Vec<$res> {
            &mut self.$resources
        }
        fn scopes(resource: &$res) -> &[$scope] {
            &resource.$scopes
        }
        fn scopes_mut(resource: &mut $res) -> &mut Vec<$scope> {
            &mut resource.$scopes
        }
        fn items(scope: &$scope) -> &[$item] {
            &scope.$items
        }
        fn items_mut(scope: &mut $scope) -> &mut Vec<$item> {
            &mut scope.$items
        }
        fn same_resource(a: &$res, b: &$res) -> bool {
            a.resource == b.resource && a.schema_url == b.schema_url
        }
        fn same_scope(a: &$scope, b: &$scope) -> bool {
            a.scope == b.scope && a.schema_url == b.schema_url
        }
    };
}

impl Signal for Traces {
    type Response = ExportTraceServiceResponse;
    type Resource = ResourceSpans;
    type Scope = ScopeSpans;
    type Item = Span;
    const KIND: SignalKind = SignalKind::Traces;
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const HTTP_PATH: &'static str = "/v1/traces";
    const ITEM_NAME: &'static str = "spans";
    const METRIC_NAMES: MetricNames = MetricNames {
        accepted: "otelcol_receiver_accepted_spans",
        refused: "otelcol_receiver_refused_spans",
        sent: "otelcol_exporter_sent_spans",
        send_failed: "otelcol_exporter_send_failed_spans",
    };

    shape!(
        Traces,
        ResourceSpans,
        ScopeSpans,
        Span,
        resource_spans,
        scope_spans,
        spans
    );

    fn weight(_: &Span) -> usize {
        1
    }
    fn as_any(&mut self) -> AnyRequest<'_> {
        AnyRequest::Traces(self)
    }
    fn rejected(response: &Self::Response) -> Option<(i64, String)> {
        let p: &ExportTracePartialSuccess = response.partial_success.as_ref()?;
        Some((p.rejected_spans, p.error_message.clone()))
    }
    fn partial_success(rejected_spans: i64, error_message: String) -> Self::Response {
        ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans,
                error_message,
            }),
        }
    }
}

impl Signal for Metrics {
    type Response = ExportMetricsServiceResponse;
    type Resource = ResourceMetrics;
    type Scope = ScopeMetrics;
    type Item = Metric;
    const KIND: SignalKind = SignalKind::Metrics;
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const HTTP_PATH: &'static str = "/v1/metrics";
    const ITEM_NAME: &'static str = "metric_points";
    const METRIC_NAMES: MetricNames = MetricNames {
        accepted: "otelcol_receiver_accepted_metric_points",
        refused: "otelcol_receiver_refused_metric_points",
        sent: "otelcol_exporter_sent_metric_points",
        send_failed: "otelcol_exporter_send_failed_metric_points",
    };

    shape!(
        Metrics,
        ResourceMetrics,
        ScopeMetrics,
        Metric,
        resource_metrics,
        scope_metrics,
        metrics
    );

    fn as_any(&mut self) -> AnyRequest<'_> {
        AnyRequest::Metrics(self)
    }
    fn weight(metric: &Metric) -> usize {
        match &metric.data {
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
            None => 0,
        }
    }
    fn rejected(response: &Self::Response) -> Option<(i64, String)> {
        let p: &ExportMetricsPartialSuccess = response.partial_success.as_ref()?;
        Some((p.rejected_data_points, p.error_message.clone()))
    }
    fn partial_success(rejected_data_points: i64, error_message: String) -> Self::Response {
        ExportMetricsServiceResponse {
            partial_success: Some(ExportMetricsPartialSuccess {
                rejected_data_points,
                error_message,
            }),
        }
    }
}

impl Signal for Logs {
    type Response = ExportLogsServiceResponse;
    type Resource = ResourceLogs;
    type Scope = ScopeLogs;
    type Item = LogRecord;
    const KIND: SignalKind = SignalKind::Logs;
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const HTTP_PATH: &'static str = "/v1/logs";
    const ITEM_NAME: &'static str = "log_records";
    const METRIC_NAMES: MetricNames = MetricNames {
        accepted: "otelcol_receiver_accepted_log_records",
        refused: "otelcol_receiver_refused_log_records",
        sent: "otelcol_exporter_sent_log_records",
        send_failed: "otelcol_exporter_send_failed_log_records",
    };

    shape!(
        Logs,
        ResourceLogs,
        ScopeLogs,
        LogRecord,
        resource_logs,
        scope_logs,
        log_records
    );

    fn weight(_: &LogRecord) -> usize {
        1
    }
    fn as_any(&mut self) -> AnyRequest<'_> {
        AnyRequest::Logs(self)
    }
    fn rejected(response: &Self::Response) -> Option<(i64, String)> {
        let p: &ExportLogsPartialSuccess = response.partial_success.as_ref()?;
        Some((p.rejected_log_records, p.error_message.clone()))
    }
    fn partial_success(rejected_log_records: i64, error_message: String) -> Self::Response {
        ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records,
                error_message,
            }),
        }
    }
}

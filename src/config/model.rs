//! The typed configuration, with the Collector's key names and defaults.

use super::units::{ByteSize, Dur};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A component or pipeline name: `type` or `type/name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentId {
    pub kind: String,
    pub name: Option<String>,
}

impl ComponentId {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (kind, name) = match text.split_once('/') {
            Some((kind, name)) => (kind, Some(name)),
            None => (text, None),
        };
        let valid_kind =
            !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_kind {
            return Err(format!(
                "`{text}` is not a valid id: write `type` or `type/name`"
            ));
        }
        if name.is_some_and(|n| n.is_empty() || n.contains(char::is_whitespace)) {
            return Err(format!(
                "`{text}` is not a valid id: the name after `/` must be non-empty"
            ));
        }
        Ok(ComponentId {
            kind: kind.to_owned(),
            name: name.map(str::to_owned),
        })
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{name}", self.kind),
            None => f.write_str(&self.kind),
        }
    }
}

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub receivers: BTreeMap<ComponentId, ReceiverConfig>,
    pub processors: BTreeMap<ComponentId, ProcessorConfig>,
    pub exporters: BTreeMap<ComponentId, ExporterConfig>,
    pub pipelines: BTreeMap<ComponentId, Pipeline>,
    pub telemetry: TelemetryConfig,
    pub admin: AdminConfig,
    pub grace_period: Duration,
}

/// The admin endpoint (health, readiness, metrics).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// `host:port`; an empty string turns the endpoint off.
    pub endpoint: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            endpoint: "127.0.0.1:13133".into(),
        }
    }
}

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

#[derive(Debug, Clone)]
pub struct Pipeline {
    pub signal: SignalKind,
    pub receivers: Vec<ComponentId>,
    pub processors: Vec<ComponentId>,
    pub exporters: Vec<ComponentId>,
}

// ---------------------------------------------------------------- receivers

#[derive(Debug, Clone)]
pub enum ReceiverConfig {
    Otlp(OtlpReceiverConfig),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    pub protocols: Protocols,
}

/// `grpc:` with no value turns the protocol on with its defaults, as in the
/// Collector; leaving the key out turns it off.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    #[serde(default, deserialize_with = "present")]
    pub grpc: Option<GrpcServerConfig>,
    #[serde(default, deserialize_with = "present")]
    pub http: Option<HttpServerConfig>,
}

fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(|v| Some(v.unwrap_or_default()))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcServerConfig {
    pub endpoint: String,
    /// Largest accepted message after decompression, in MiB.
    pub max_recv_msg_size_mib: u64,
    pub auth: Option<ReceiverAuth>,
    pub tls: Option<ServerTlsConfig>,
}

/// TLS on a receiver; with `client_ca_file`, clients must present a
/// certificate it signed (mTLS).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

/// Optional authentication of the applications sending to a receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverAuth {
    /// Requests must carry `authorization: Bearer <token>`.
    pub bearer_token: String,
}

impl Default for GrpcServerConfig {
    fn default() -> Self {
        GrpcServerConfig {
            endpoint: "127.0.0.1:4317".into(),
            max_recv_msg_size_mib: 4,
            auth: None,
            tls: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpServerConfig {
    pub endpoint: String,
    /// Largest accepted body after decompression.
    pub max_request_body_size: ByteSize,
    pub auth: Option<ReceiverAuth>,
    pub tls: Option<ServerTlsConfig>,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            endpoint: "127.0.0.1:4318".into(),
            max_request_body_size: ByteSize(20 << 20),
            auth: None,
            tls: None,
        }
    }
}

// ---------------------------------------------------------------- processors

#[derive(Debug, Clone)]
pub enum ProcessorConfig {
    MemoryLimiter(MemoryLimiterConfig),
    ResourceDetection(ResourceDetectionConfig),
    Resource(AttributesConfig),
    Attributes(AttributesConfig),
    Redaction(RedactionConfig),
    Filter(FilterConfig),
    ProbabilisticSampler(SamplerConfig),
    RateLimiting(RateLimitConfig),
    SpanMetrics(SpanMetricsConfig),
}

/// `span_metrics` (in a traces pipeline): calls, errors and a duration
/// histogram per service, span name, kind and status; GenAI token usage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanMetricsConfig {
    pub interval: Dur,
    /// The metrics pipeline that receives the derived metrics (default: all).
    pub metrics_pipeline: Option<String>,
    pub histogram_buckets_ms: Vec<f64>,
    /// Series kept; more are counted in one overflow series.
    pub max_series: usize,
    /// Token sums from `gen_ai.usage.*_tokens` per system and model.
    pub gen_ai: bool,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        SpanMetricsConfig {
            interval: Dur(Duration::from_secs(15)),
            metrics_pipeline: None,
            histogram_buckets_ms: vec![
                2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
            ],
            max_series: 1000,
            gen_ai: true,
        }
    }
}

/// `rate_limiting`: at most `spans_per_second` per service, with a burst.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub spans_per_second: f64,
    /// Spans a quiet service may send at once (default: one second's worth).
    #[serde(default)]
    pub burst: Option<f64>,
    #[serde(default)]
    pub keep_errors: bool,
}

/// `filter`: items matching any rule are dropped (and counted). A rule
/// matches when all its conditions hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    pub spans: Vec<SpanRule>,
    pub span_events: Vec<EventRule>,
    pub logs: Vec<LogRule>,
    pub metrics: Vec<MetricRule>,
    pub data_points: Vec<DataPointRule>,
    /// Never drop spans with error status or logs at or above this severity.
    pub keep_errors: bool,
    pub keep_severity: Option<Severity>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanRule {
    pub name: Option<String>,
    pub name_regex: Option<String>,
    pub kind: Option<SpanKindName>,
    pub status: Option<StatusName>,
    pub attributes: Vec<AttributeCondition>,
    pub resource_attributes: Vec<AttributeCondition>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventRule {
    pub name: Option<String>,
    pub name_regex: Option<String>,
    pub attributes: Vec<AttributeCondition>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataPointRule {
    pub metric_name: Option<String>,
    pub metric_name_regex: Option<String>,
    pub attributes: Vec<AttributeCondition>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogRule {
    /// Matches records below this severity (e.g. `info` drops debug and trace).
    pub severity_below: Option<Severity>,
    pub body_regex: Option<String>,
    pub attributes: Vec<AttributeCondition>,
    pub resource_attributes: Vec<AttributeCondition>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricRule {
    pub name: Option<String>,
    pub name_regex: Option<String>,
    pub resource_attributes: Vec<AttributeCondition>,
}

/// A condition on one attribute: equal to `value`, matching `regex`, or
/// numerically `gt` / `lt`; with none of them, the attribute exists.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeCondition {
    pub key: String,
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub gt: Option<f64>,
    #[serde(default)]
    pub lt: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanKindName {
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusName {
    Unset,
    Ok,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Severity {
    /// The lowest OTLP severity number of this level.
    pub fn number(self) -> i32 {
        match self {
            Severity::Trace => 1,
            Severity::Debug => 5,
            Severity::Info => 9,
            Severity::Warn => 13,
            Severity::Error => 17,
            Severity::Fatal => 21,
        }
    }
}

/// `probabilistic_sampler`: keeps `sampling_percentage` of traces,
/// consistently by trace id (OpenTelemetry consistent probability sampling,
/// recorded in tracestate `ot=th:..`), so every agent keeps the same traces.
/// Logs with a trace id follow their trace; others are sampled at random.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplerConfig {
    pub sampling_percentage: f64,
    /// Always keep spans with error status and logs at or above `keep_severity`.
    #[serde(default)]
    pub keep_errors: bool,
    #[serde(default)]
    pub keep_severity: Option<Severity>,
}

/// `resource_detection`: where the telemetry comes from, detected once at
/// start and added to every resource.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceDetectionConfig {
    pub detectors: Vec<Detector>,
    /// Replace attributes the application already set (as in the Collector).
    #[serde(rename = "override")]
    pub override_: bool,
}

impl Default for ResourceDetectionConfig {
    fn default() -> Self {
        ResourceDetectionConfig {
            detectors: vec![Detector::Env, Detector::K8s, Detector::Host],
            override_: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Detector {
    Env,
    K8s,
    Host,
}

/// `resource` and `attributes`: actions on attributes, in order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributesConfig {
    #[serde(default)]
    pub actions: Vec<AttributeAction>,
    /// `attributes` only: the key that `hash` actions hash with (HMAC-SHA256).
    #[serde(default)]
    pub hash_key: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeAction {
    pub key: String,
    pub action: ActionKind,
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    /// `upsert`/`insert`/`update` from another attribute instead of `value`.
    #[serde(default)]
    pub from_attribute: Option<String>,
    /// `extract`: a regex with named groups, each becoming an attribute.
    #[serde(default)]
    pub pattern: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Insert,
    Update,
    Upsert,
    Delete,
    Hash,
    Extract,
}

/// `redaction`. `redaction: {}` turns on every built-in detector and the
/// blocked-key list, masking what they find.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedactionConfig {
    pub action: RedactAction,
    /// Only these built-in detectors (all when absent).
    pub detectors: Option<Vec<String>>,
    pub disable_detectors: Vec<String>,
    /// Per-detector action, e.g. `{ email: hash }`.
    pub detector_actions: BTreeMap<String, RedactAction>,
    /// Keys blocked besides the built-in list.
    pub blocked_keys: Vec<String>,
    pub default_blocked_keys: bool,
    pub blocked_key_action: Option<RedactAction>,
    /// When set, only these attributes survive on spans, events, links, log
    /// records and data points (resource and scope attributes are kept).
    pub allowed_keys: Vec<String>,
    pub custom: Vec<CustomDetector>,
    /// The HMAC-SHA256 key for `hash`: at least 16 bytes, from a secret.
    pub hash_key: Option<String>,
    /// Summary attributes on items that had something redacted.
    pub summary: RedactionSummary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RedactionSummary {
    #[default]
    None,
    /// `redaction.redacted.count`.
    Count,
    /// The count and `redaction.redacted.keys` (the attribute keys).
    Names,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        RedactionConfig {
            action: RedactAction::Mask,
            detectors: None,
            disable_detectors: Vec::new(),
            detector_actions: BTreeMap::new(),
            blocked_keys: Vec::new(),
            default_blocked_keys: true,
            blocked_key_action: None,
            allowed_keys: Vec::new(),
            custom: Vec::new(),
            hash_key: None,
            summary: RedactionSummary::None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RedactAction {
    /// Keep the key, replace what was found with `<redacted:rule>`.
    #[default]
    Mask,
    /// Replace with a keyed hash, so equal values still correlate.
    Hash,
    /// Remove the attribute.
    Drop,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDetector {
    pub name: String,
    pub regex: String,
    #[serde(default)]
    pub action: Option<RedactAction>,
}

/// The Collector's `memory_limiter`. In ignis-agent it is global: receivers
/// refuse before decoding while the process is over `limit - spike_limit`.
/// Listing it in any pipeline turns it on with these settings; without it a
/// default applies (see `Config::memory_limit`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryLimiterConfig {
    #[serde(default = "default_check_interval")]
    pub check_interval: Dur,
    pub limit_mib: u64,
    /// Headroom for spikes between checks; default 20% of the limit.
    #[serde(default)]
    pub spike_limit_mib: Option<u64>,
}

fn default_check_interval() -> Dur {
    Dur(Duration::from_millis(100))
}

impl Config {
    /// The memory limiter in force: the tightest one listed in a pipeline,
    /// else a default of the memory queues' capacity plus 32 MiB of
    /// headroom, and at least 48 MiB. Returns (limit, spike, interval).
    pub fn memory_limit(&self) -> (u64, u64, Duration) {
        let listed = self
            .pipelines
            .values()
            .flat_map(|p| &p.processors)
            .filter_map(|id| match self.processors.get(id) {
                Some(ProcessorConfig::MemoryLimiter(m)) => Some(m),
                _ => None,
            })
            .min_by_key(|m| m.limit_mib);
        if let Some(m) = listed {
            let limit = m.limit_mib << 20;
            let spike = m.spike_limit_mib.map_or(limit / 5, |s| s << 20);
            return (limit, spike, m.check_interval.0);
        }
        let queues: u64 = self
            .pipelines
            .values()
            .flat_map(|p| &p.exporters)
            .filter_map(|id| self.exporters.get(id))
            .map(|e| e.delivery().sending_queue)
            .filter(|q| q.storage == Some(Storage::Memory))
            .map(|q| q.max_size.0)
            .sum();
        let limit = (queues + (32 << 20)).max(48 << 20);
        (limit, limit / 5, Duration::from_millis(100))
    }
}

// ---------------------------------------------------------------- exporters

#[derive(Debug, Clone)]
pub enum ExporterConfig {
    OtlpGrpc(OtlpExporterConfig),
    OtlpHttp(OtlpExporterConfig),
    Ignis(IgnisExporterConfig),
    Debug(DebugExporterConfig),
    File(FileExporterConfig),
}

impl ExporterConfig {
    /// The delivery settings shared by every exporter kind.
    /// The delivery settings with this kind's defaults applied: the `ignis`
    /// exporter queues on disk unless told otherwise, the others in memory.
    pub fn delivery(&self) -> DeliveryConfig {
        let (queue, retry, batch) = match self {
            ExporterConfig::OtlpGrpc(c) | ExporterConfig::OtlpHttp(c) => {
                (&c.sending_queue, &c.retry_on_failure, &c.batch)
            }
            ExporterConfig::Ignis(c) => (&c.sending_queue, &c.retry_on_failure, &c.batch),
            ExporterConfig::Debug(c) => (&c.sending_queue, &c.retry_on_failure, &c.batch),
            ExporterConfig::File(c) => (&c.sending_queue, &c.retry_on_failure, &c.batch),
        };
        let mut queue = queue.clone();
        if let ExporterConfig::Ignis(_) = self {
            queue.storage.get_or_insert(Storage::Disk);
            queue
                .directory
                .get_or_insert_with(|| PathBuf::from(IGNIS_QUEUE_DIRECTORY));
        }
        queue.storage.get_or_insert(Storage::Memory);
        DeliveryConfig {
            sending_queue: queue,
            retry_on_failure: retry.clone(),
            batch: batch.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
    None,
}

/// Queue, batching and retry: what sits between the pipeline and a sender.
/// Every exporter kind has these keys (spelled out in each, because serde's
/// `flatten` would lose `deny_unknown_fields` and error positions).
#[derive(Debug, Clone, Default)]
pub struct DeliveryConfig {
    pub sending_queue: QueueConfig,
    pub retry_on_failure: RetryConfig,
    pub batch: BatchConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpExporterConfig {
    /// `http://` is plaintext, `https://` (or no scheme) is TLS.
    pub endpoint: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub compression: Compression,
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    #[serde(default)]
    pub tls: TlsClientConfig,
    /// otlp_http only: full URLs that replace `endpoint` + `/v1/<signal>`.
    #[serde(default)]
    pub traces_endpoint: Option<String>,
    #[serde(default)]
    pub metrics_endpoint: Option<String>,
    #[serde(default)]
    pub logs_endpoint: Option<String>,
    #[serde(default)]
    pub sending_queue: QueueConfig,
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    #[serde(default)]
    pub batch: BatchConfig,
}

fn default_timeout() -> Dur {
    Dur(Duration::from_secs(10))
}

/// Where the `ignis` exporter keeps its disk queue unless told otherwise.
pub const IGNIS_QUEUE_DIRECTORY: &str = "/var/lib/ignis-agent";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IgnisProtocol {
    #[default]
    Grpc,
    Http,
}

/// The `ignis` exporter: OTLP to Ignis Platform with authentication, TLS
/// required, gzip and a disk queue by default, and a ledger of deliveries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnisExporterConfig {
    /// `https://host:port`; `http://` only with `insecure: true`.
    pub endpoint: String,
    #[serde(default)]
    pub protocol: IgnisProtocol,
    /// Allows a plaintext endpoint (tests, a local relay).
    #[serde(default)]
    pub insecure: bool,
    #[serde(default)]
    pub api_key: Option<String>,
    /// A file holding the key, re-read when it changes (a mounted secret).
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// The header carrying the key; `authorization` gets `Bearer <key>`.
    #[serde(default = "default_api_key_header")]
    pub api_key_header: String,
    #[serde(default)]
    pub oauth2: Option<OAuth2Config>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub compression: Compression,
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    #[serde(default)]
    pub tls: TlsClientConfig,
    /// Batches remembered in the delivery ledger (served at /api/ledger).
    #[serde(default = "default_ledger_size")]
    pub ledger_size: usize,
    #[serde(default)]
    pub sending_queue: QueueConfig,
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    #[serde(default)]
    pub batch: BatchConfig,
}

fn default_api_key_header() -> String {
    "authorization".into()
}

fn default_ledger_size() -> usize {
    1000
}

/// OAuth2 client credentials: a token from `token_url`, cached and
/// refreshed before it expires, and once more on a 401.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Config {
    pub token_url: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl IgnisExporterConfig {
    /// The OTLP transport settings this exporter sends with.
    pub fn otlp(&self) -> OtlpExporterConfig {
        let bare = self
            .endpoint
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let plaintext = self.insecure && !self.endpoint.starts_with("https://");
        let scheme = if plaintext { "http" } else { "https" };
        OtlpExporterConfig {
            endpoint: format!("{scheme}://{bare}"),
            headers: self.headers.clone(),
            compression: self.compression,
            timeout: self.timeout,
            tls: self.tls.clone(),
            traces_endpoint: None,
            metrics_endpoint: None,
            logs_endpoint: None,
            sending_queue: self.sending_queue.clone(),
            retry_on_failure: self.retry_on_failure.clone(),
            batch: self.batch.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsClientConfig {
    /// Plaintext even for an endpoint without `http://`.
    pub insecure: bool,
    pub insecure_skip_verify: bool,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub server_name_override: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    #[default]
    Block,
    DropNewest,
    DropOldest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    #[default]
    Memory,
    Disk,
}

/// When the disk queue syncs what it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// Before the client is answered (concurrent writes share one fsync).
    #[default]
    Always,
    /// Every `fsync_interval`, in the background.
    Interval,
    /// Left to the OS. Survives `kill -9`, not a power cut.
    Never,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// `memory` (the default) or `disk` (the default of the `ignis` exporter).
    pub storage: Option<Storage>,
    /// Bytes of encoded telemetry the queue may hold.
    pub max_size: ByteSize,
    pub when_full: WhenFull,
    /// How long a receiver waits for room before refusing (when_full: block).
    pub block_timeout: Dur,
    /// Concurrent sends, so one slow request does not stall the queue.
    pub num_consumers: usize,
    /// Disk queue: where its files live (a subdirectory per exporter and signal).
    pub directory: Option<PathBuf>,
    pub fsync: FsyncPolicy,
    pub fsync_interval: Dur,
    /// Disk queue: size of one segment file.
    pub segment_size: ByteSize,
    /// Disk queue: data older than this is dropped (counted as expired); 0 keeps it.
    pub max_age: Dur,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            storage: None,
            max_size: ByteSize(8 << 20),
            when_full: WhenFull::Block,
            block_timeout: Dur(Duration::from_millis(500)),
            num_consumers: 2,
            directory: None,
            fsync: FsyncPolicy::Always,
            fsync_interval: Dur(Duration::from_secs(1)),
            segment_size: ByteSize(8 << 20),
            max_age: Dur(Duration::ZERO),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    pub enabled: bool,
    pub initial_interval: Dur,
    pub max_interval: Dur,
    pub multiplier: f64,
    pub randomization_factor: f64,
    /// Give up on a batch after this long; 0 retries forever.
    pub max_elapsed_time: Dur,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: Dur(Duration::from_secs(5)),
            max_interval: Dur(Duration::from_secs(30)),
            multiplier: 1.5,
            randomization_factor: 0.5,
            max_elapsed_time: Dur(Duration::from_secs(300)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Items (spans, data points, log records) per request.
    pub max_size: usize,
    /// Encoded bytes per request, before compression.
    pub max_bytes: ByteSize,
    pub flush_timeout: Dur,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_size: 8192,
            max_bytes: ByteSize(3 << 20),
            flush_timeout: Dur(Duration::from_millis(200)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    #[default]
    Basic,
    Normal,
    Detailed,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebugExporterConfig {
    #[serde(default)]
    pub verbosity: Verbosity,
    #[serde(default)]
    pub sending_queue: QueueConfig,
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    #[serde(default)]
    pub batch: BatchConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileExporterConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub rotation: RotationConfig,
    #[serde(default)]
    pub sending_queue: QueueConfig,
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    #[serde(default)]
    pub batch: BatchConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RotationConfig {
    pub max_megabytes: u64,
    pub max_backups: usize,
}

impl Default for RotationConfig {
    fn default() -> Self {
        RotationConfig {
            max_megabytes: 100,
            max_backups: 3,
        }
    }
}

// ---------------------------------------------------------------- service

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    pub logs: LogsConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            level: "info".into(),
            format: LogFormat::Text,
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

//! From a located tree to a `Config`: each component is read on its own and
//! every cross-reference is checked, so all problems surface in one run.

use super::de::{from_node, DeError};
use super::model::*;
use super::node::{Located, Node, Pos};
use super::units::Dur;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

type Problems = Vec<(Pos, String)>;

const RECEIVER_KINDS: &[&str] = &["otlp"];
const PROCESSOR_KINDS: &[&str] = &[
    "memory_limiter",
    "resource_detection",
    "resource",
    "attributes",
    "redaction",
    "filter",
    "probabilistic_sampler",
    "rate_limiting",
    "span_metrics",
];
const EXPORTER_KINDS: &[&str] = &[
    "ignis",
    "otlp_grpc",
    "otlp",
    "otlp_http",
    "otlphttp",
    "debug",
    "file",
];

/// Builds the config, pushing every problem found. Returns `None` only when
/// the document is too broken to say more.
pub(super) fn build(tree: &Located<Node>, problems: &mut Problems) -> Option<Config> {
    let Some(top) = tree.entries() else {
        problems.push((
            tree.pos,
            format!("expected a mapping at the top, found {}", tree.kind()),
        ));
        return None;
    };
    for (key, _) in top {
        if !["receivers", "processors", "exporters", "service"].contains(&key.value.as_str()) {
            problems.push((
                key.pos,
                format!(
                    "unknown top-level key `{}` (expected receivers, processors, exporters, service)",
                    key.value
                ),
            ));
        }
    }
    let (receivers, declared_receivers) =
        components(tree, "receivers", RECEIVER_KINDS, problems, receiver);
    let (processors, declared_processors) =
        components(tree, "processors", PROCESSOR_KINDS, problems, processor);
    let (exporters, declared_exporters) =
        components(tree, "exporters", EXPORTER_KINDS, problems, exporter);
    // A broken `service` section is reported; pipelines are still checked.
    let service = service(tree, problems);
    let declared = Declared {
        receivers: declared_receivers,
        processors: declared_processors,
        exporters: declared_exporters,
    };
    let pipelines = pipelines(tree, &declared, problems);
    let service = service?;
    Some(Config {
        receivers,
        processors,
        exporters,
        pipelines,
        telemetry: service.telemetry,
        admin: service.admin,
        grace_period: service.grace_period.0,
    })
}

/// Every component id written in the file, valid or not: a pipeline that
/// names a broken component is not blamed for it (its own error is reported).
struct Declared {
    receivers: BTreeSet<ComponentId>,
    processors: BTreeSet<ComponentId>,
    exporters: BTreeSet<ComponentId>,
}

/// Reads one section (`receivers`, ...) with `read` for each component;
/// returns the valid ones and the ids of all.
fn components<T>(
    tree: &Located<Node>,
    section: &str,
    kinds: &[&str],
    problems: &mut Problems,
    read: impl Fn(&str, &Located<Node>) -> Result<T, DeError>,
) -> (BTreeMap<ComponentId, T>, BTreeSet<ComponentId>) {
    let mut out = BTreeMap::new();
    let mut declared = BTreeSet::new();
    let Some(node) = tree.get(section) else {
        return (out, declared);
    };
    let Some(entries) = node.entries() else {
        problems.push((
            node.pos,
            format!("`{section}` must be a mapping, found {}", node.kind()),
        ));
        return (out, declared);
    };
    for (key, value) in entries {
        let id = match ComponentId::parse(&key.value) {
            Ok(id) => id,
            Err(message) => {
                problems.push((key.pos, message));
                continue;
            }
        };
        declared.insert(id.clone());
        if !kinds.contains(&id.kind.as_str()) {
            let known = if kinds.is_empty() {
                "none yet".to_owned()
            } else {
                kinds.join(", ")
            };
            problems.push((
                key.pos,
                format!(
                    "unknown {} type `{}` (known: {known})",
                    singular(section),
                    id.kind
                ),
            ));
            continue;
        }
        match read(&id.kind, value) {
            Ok(config) => {
                out.insert(id, config);
            }
            Err(e) => problems.push((
                e.pos.unwrap_or(value.pos),
                format!("{section}.{id}: {}", e.message),
            )),
        }
    }
    (out, declared)
}

fn singular(section: &str) -> &str {
    section.strip_suffix('s').unwrap_or(section)
}

fn err_at(pos: Pos, message: impl Into<String>) -> DeError {
    DeError {
        message: message.into(),
        pos: Some(pos),
    }
}

/// A mapping node, treating null (`otlp:`) as an empty mapping.
fn read<'a, T: Deserialize<'a> + Default>(node: &'a Located<Node>) -> Result<T, DeError> {
    match node.value {
        Node::Null => Ok(T::default()),
        _ => from_node(node),
    }
}

fn receiver(_kind: &str, node: &Located<Node>) -> Result<ReceiverConfig, DeError> {
    let config: OtlpReceiverConfig = read(node)?;
    if config.protocols.grpc.is_none() && config.protocols.http.is_none() {
        return Err(err_at(
            node.pos,
            "enable at least one of `protocols.grpc` and `protocols.http`",
        ));
    }
    for endpoint in [
        config.protocols.grpc.as_ref().map(|g| &g.endpoint),
        config.protocols.http.as_ref().map(|h| &h.endpoint),
    ]
    .into_iter()
    .flatten()
    {
        if endpoint.parse::<std::net::SocketAddr>().is_err() && !endpoint.contains(':') {
            return Err(err_at(
                node.pos,
                format!("endpoint `{endpoint}` must be host:port"),
            ));
        }
    }
    let tls = [
        config.protocols.grpc.as_ref().and_then(|g| g.tls.as_ref()),
        config.protocols.http.as_ref().and_then(|h| h.tls.as_ref()),
    ];
    for tls in tls.into_iter().flatten() {
        for file in [
            Some(&tls.cert_file),
            Some(&tls.key_file),
            tls.client_ca_file.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if !file.is_file() {
                return Err(err_at(
                    node.pos,
                    format!("TLS file {} does not exist", file.display()),
                ));
            }
        }
    }
    Ok(ReceiverConfig::Otlp(config))
}

fn processor(kind: &str, node: &Located<Node>) -> Result<ProcessorConfig, DeError> {
    Ok(match kind {
        "memory_limiter" => {
            let config: MemoryLimiterConfig = from_node(node)?;
            if config.limit_mib == 0
                || config
                    .spike_limit_mib
                    .is_some_and(|s| s >= config.limit_mib)
            {
                return Err(err_at(
                    node.pos,
                    "limit_mib must be more than 0 and more than spike_limit_mib",
                ));
            }
            ProcessorConfig::MemoryLimiter(config)
        }
        "resource_detection" => ProcessorConfig::ResourceDetection(read(node)?),
        "resource" => ProcessorConfig::Resource(check_actions(read(node)?, node, false)?),
        "attributes" => ProcessorConfig::Attributes(check_actions(read(node)?, node, true)?),
        "redaction" => {
            let config: RedactionConfig = read(node)?;
            check_redaction(&config, node)?;
            ProcessorConfig::Redaction(config)
        }
        "filter" => {
            let config: FilterConfig = read(node)?;
            check_filter(&config, node)?;
            ProcessorConfig::Filter(config)
        }
        "probabilistic_sampler" => {
            let config: SamplerConfig = from_node(node)?;
            if !(0.0..=100.0).contains(&config.sampling_percentage) {
                return Err(err_at(
                    pos_of(node, "sampling_percentage"),
                    "sampling_percentage must be between 0 and 100",
                ));
            }
            ProcessorConfig::ProbabilisticSampler(config)
        }
        "rate_limiting" => {
            let config: RateLimitConfig = from_node(node)?;
            if config.spans_per_second <= 0.0 || config.burst.is_some_and(|b| b < 1.0) {
                return Err(err_at(
                    node.pos,
                    "spans_per_second must be more than 0 and burst at least 1",
                ));
            }
            ProcessorConfig::RateLimiting(config)
        }
        "span_metrics" => {
            let config: SpanMetricsConfig = read(node)?;
            let sorted = config.histogram_buckets_ms.windows(2).all(|w| w[0] < w[1]);
            if config.interval.0.is_zero() || config.max_series == 0 || !sorted {
                return Err(err_at(
                    node.pos,
                    "span_metrics needs interval > 0, max_series > 0 and increasing histogram_buckets_ms",
                ));
            }
            ProcessorConfig::SpanMetrics(config)
        }
        other => {
            return Err(err_at(
                node.pos,
                format!("unknown processor type `{other}`"),
            ))
        }
    })
}

fn check_actions(
    config: AttributesConfig,
    node: &Located<Node>,
    item_level: bool,
) -> Result<AttributesConfig, DeError> {
    let pos = pos_of(node, "actions");
    for a in &config.actions {
        let needs_value = matches!(
            a.action,
            ActionKind::Insert | ActionKind::Update | ActionKind::Upsert
        );
        if needs_value && a.value.is_none() && a.from_attribute.is_none() {
            return Err(err_at(
                pos,
                format!(
                    "action {:?} on `{}` needs `value` or `from_attribute`",
                    a.action, a.key
                ),
            ));
        }
        if a.action == ActionKind::Extract {
            let Some(pattern) = &a.pattern else {
                return Err(err_at(
                    pos,
                    format!("extract on `{}` needs a `pattern`", a.key),
                ));
            };
            if let Err(e) = regex::Regex::new(pattern) {
                return Err(err_at(pos, format!("extract pattern for `{}`: {e}", a.key)));
            }
        }
        if matches!(a.action, ActionKind::Hash | ActionKind::Extract) && !item_level {
            return Err(err_at(
                pos,
                "hash and extract are attributes-processor actions",
            ));
        }
        if a.action == ActionKind::Hash && config.hash_key.as_ref().is_none_or(|k| k.len() < 16) {
            return Err(err_at(pos, "hash needs a `hash_key` of at least 16 bytes (an unkeyed hash of a short value can be reversed)"));
        }
        if let Some(value) = &a.value {
            if value.is_object() || value.is_null() {
                return Err(err_at(
                    pos,
                    format!(
                        "the value for `{}` must be a string, number, boolean or list",
                        a.key
                    ),
                ));
            }
        }
    }
    Ok(config)
}

fn check_filter(c: &FilterConfig, node: &Located<Node>) -> Result<(), DeError> {
    let conditions = c
        .spans
        .iter()
        .flat_map(|r| r.attributes.iter().chain(&r.resource_attributes))
        .chain(
            c.logs
                .iter()
                .flat_map(|r| r.attributes.iter().chain(&r.resource_attributes)),
        )
        .chain(c.metrics.iter().flat_map(|r| &r.resource_attributes))
        .chain(c.span_events.iter().flat_map(|r| &r.attributes))
        .chain(c.data_points.iter().flat_map(|r| &r.attributes));
    let patterns = conditions
        .filter_map(|a| a.regex.as_ref())
        .chain(c.spans.iter().filter_map(|r| r.name_regex.as_ref()))
        .chain(c.logs.iter().filter_map(|r| r.body_regex.as_ref()))
        .chain(c.metrics.iter().filter_map(|r| r.name_regex.as_ref()))
        .chain(c.span_events.iter().filter_map(|r| r.name_regex.as_ref()))
        .chain(
            c.data_points
                .iter()
                .filter_map(|r| r.metric_name_regex.as_ref()),
        );
    for pattern in patterns {
        if let Err(e) = regex::Regex::new(pattern) {
            return Err(err_at(
                node.pos,
                format!("filter: invalid regex `{pattern}`: {e}"),
            ));
        }
    }
    Ok(())
}

fn check_redaction(c: &RedactionConfig, node: &Located<Node>) -> Result<(), DeError> {
    let known: Vec<&str> = crate::processors::redaction::BUILTIN
        .iter()
        .map(|d| d.name)
        .collect();
    let names = c
        .detectors
        .iter()
        .flatten()
        .chain(&c.disable_detectors)
        .chain(
            c.detector_actions
                .keys()
                .filter(|k| !c.custom.iter().any(|d| &d.name == *k)),
        );
    for name in names {
        if !known.contains(&name.as_str()) {
            return Err(err_at(
                node.pos,
                format!("unknown detector `{name}` (built in: {})", known.join(", ")),
            ));
        }
    }
    for custom in &c.custom {
        if let Err(e) = regex::Regex::new(&custom.regex) {
            return Err(err_at(
                pos_of(node, "custom"),
                format!("custom detector {}: {e}", custom.name),
            ));
        }
    }
    let hashes = c.action == RedactAction::Hash
        || c.blocked_key_action == Some(RedactAction::Hash)
        || c.detector_actions
            .values()
            .any(|a| *a == RedactAction::Hash)
        || c.custom
            .iter()
            .any(|d| d.action == Some(RedactAction::Hash));
    if hashes && c.hash_key.as_ref().is_none_or(|k| k.len() < 16) {
        return Err(err_at(
            node.pos,
            "hash needs a `hash_key` of at least 16 bytes, e.g. ${env:IGNIS_REDACTION_KEY}: an unkeyed hash of a short value can be reversed",
        ));
    }
    Ok(())
}

fn exporter(kind: &str, node: &Located<Node>) -> Result<ExporterConfig, DeError> {
    let config = match kind {
        "otlp_grpc" | "otlp" => {
            let c: OtlpExporterConfig = from_node(node)?;
            check_otlp(&c, node, false)?;
            ExporterConfig::OtlpGrpc(c)
        }
        "otlp_http" | "otlphttp" => {
            let c: OtlpExporterConfig = from_node(node)?;
            check_otlp(&c, node, true)?;
            ExporterConfig::OtlpHttp(c)
        }
        "ignis" => {
            let c: IgnisExporterConfig = from_node(node)?;
            check_ignis(&c, node)?;
            ExporterConfig::Ignis(c)
        }
        "debug" => ExporterConfig::Debug(read(node)?),
        "file" => ExporterConfig::File(from_node(node)?),
        other => return Err(err_at(node.pos, format!("unknown exporter type `{other}`"))),
    };
    check_delivery(&config.delivery(), node)?;
    Ok(config)
}

/// Position of `key` inside `node`, or the node's own.
fn pos_of(node: &Located<Node>, key: &str) -> Pos {
    node.get(key).map_or(node.pos, |n| n.pos)
}

fn check_otlp(
    c: &OtlpExporterConfig,
    node: &Located<Node>,
    http_only: bool,
) -> Result<(), DeError> {
    let endpoint_pos = pos_of(node, "endpoint");
    let endpoints = [
        Some(&c.endpoint),
        c.traces_endpoint.as_ref(),
        c.metrics_endpoint.as_ref(),
        c.logs_endpoint.as_ref(),
    ];
    for endpoint in endpoints.into_iter().flatten() {
        let has_scheme = endpoint.starts_with("http://") || endpoint.starts_with("https://");
        if http_only && !has_scheme {
            return Err(err_at(
                endpoint_pos,
                format!("endpoint `{endpoint}` must start with http:// or https://"),
            ));
        }
        let full = if has_scheme {
            endpoint.clone()
        } else {
            format!("https://{endpoint}")
        };
        match full.parse::<http::Uri>() {
            Ok(uri) if uri.host().is_some() => {}
            _ => {
                return Err(err_at(
                    endpoint_pos,
                    format!("endpoint `{endpoint}` is not a valid URL"),
                ))
            }
        }
    }
    if !http_only
        && (c.traces_endpoint.is_some()
            || c.metrics_endpoint.is_some()
            || c.logs_endpoint.is_some())
    {
        return Err(err_at(
            node.pos,
            "traces_endpoint, metrics_endpoint and logs_endpoint are for otlp_http only",
        ));
    }
    let headers_pos = pos_of(node, "headers");
    for (name, value) in &c.headers {
        if http::HeaderName::try_from(name.as_str()).is_err() {
            return Err(err_at(
                headers_pos,
                format!("`{name}` is not a valid header name"),
            ));
        }
        // The value may be a secret: say which header, never what it holds.
        if http::HeaderValue::try_from(value.as_str()).is_err() {
            return Err(err_at(
                headers_pos,
                format!("the value of header `{name}` is not a valid header value"),
            ));
        }
    }
    let tls_pos = pos_of(node, "tls");
    if c.tls.cert_file.is_some() != c.tls.key_file.is_some() {
        return Err(err_at(
            tls_pos,
            "tls.cert_file and tls.key_file go together",
        ));
    }
    for file in [&c.tls.ca_file, &c.tls.cert_file, &c.tls.key_file]
        .into_iter()
        .flatten()
    {
        if !file.is_file() {
            return Err(err_at(
                tls_pos,
                format!("TLS file {} does not exist", file.display()),
            ));
        }
    }
    if c.timeout.0.is_zero() {
        return Err(err_at(
            pos_of(node, "timeout"),
            "timeout must be more than 0",
        ));
    }
    Ok(())
}

fn check_ignis(c: &IgnisExporterConfig, node: &Located<Node>) -> Result<(), DeError> {
    let endpoint_pos = pos_of(node, "endpoint");
    if c.endpoint.starts_with("http://") && !c.insecure {
        return Err(err_at(
            endpoint_pos,
            "Ignis Platform takes data over TLS only: use https:// (or set insecure: true for a local relay)",
        ));
    }
    let methods = [
        c.api_key.is_some(),
        c.api_key_file.is_some(),
        c.oauth2.is_some(),
    ];
    if methods.iter().filter(|m| **m).count() > 1 {
        return Err(err_at(
            node.pos,
            "use one of api_key, api_key_file and oauth2",
        ));
    }
    if http::HeaderName::try_from(c.api_key_header.as_str()).is_err() {
        return Err(err_at(
            pos_of(node, "api_key_header"),
            "api_key_header is not a valid header name",
        ));
    }
    if let Some(key) = &c.api_key {
        if key.trim().is_empty() || http::HeaderValue::try_from(format!("Bearer {key}")).is_err() {
            // Say what is wrong, never what the key is.
            return Err(err_at(
                pos_of(node, "api_key"),
                "api_key is empty or not valid in a header",
            ));
        }
    }
    if let Some(oauth) = &c.oauth2 {
        let pos = pos_of(node, "oauth2");
        if oauth
            .token_url
            .parse::<http::Uri>()
            .map_or(true, |u| u.host().is_none())
        {
            return Err(err_at(pos, "oauth2.token_url must be a URL"));
        }
        if oauth.client_secret.is_none() && oauth.client_secret_file.is_none() {
            return Err(err_at(
                pos,
                "oauth2 needs client_secret or client_secret_file",
            ));
        }
    }
    check_otlp(&c.otlp(), node, false)
}

fn check_delivery(d: &DeliveryConfig, node: &Located<Node>) -> Result<(), DeError> {
    let q = &d.sending_queue;
    let queue_pos = pos_of(node, "sending_queue");
    if q.max_size.0 == 0 || q.num_consumers == 0 {
        return Err(err_at(
            queue_pos,
            "sending_queue.max_size and num_consumers must be more than 0",
        ));
    }
    if q.storage == Some(Storage::Disk) && q.directory.is_none() {
        return Err(err_at(
            queue_pos,
            "sending_queue.storage: disk needs a `directory`",
        ));
    }
    if q.segment_size.0 < 4096 || q.fsync_interval.0.is_zero() {
        return Err(err_at(
            queue_pos,
            "sending_queue.segment_size must be at least 4KiB and fsync_interval more than 0",
        ));
    }
    let b = &d.batch;
    if b.max_size == 0 || b.max_bytes.0 == 0 {
        return Err(err_at(
            pos_of(node, "batch"),
            "batch.max_size and batch.max_bytes must be more than 0",
        ));
    }
    let r = &d.retry_on_failure;
    if r.multiplier < 1.0 || !(0.0..=1.0).contains(&r.randomization_factor) {
        return Err(err_at(
            pos_of(node, "retry_on_failure"),
            "retry_on_failure needs multiplier >= 1 and randomization_factor between 0 and 1",
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Service {
    // Read separately, with positions for each reference.
    #[serde(default, rename = "pipelines")]
    _pipelines: serde::de::IgnoredAny,
    #[serde(default)]
    telemetry: TelemetryConfig,
    #[serde(default)]
    admin: AdminConfig,
    #[serde(default = "default_grace")]
    grace_period: Dur,
}

fn default_grace() -> Dur {
    Dur(Duration::from_secs(30))
}

fn service(tree: &Located<Node>, problems: &mut Problems) -> Option<Service> {
    let Some(node) = tree.get("service") else {
        problems.push((
            tree.pos,
            "`service` is missing: it lists the pipelines to run".into(),
        ));
        return None;
    };
    match from_node::<Service>(node) {
        Ok(service) => {
            let level = &service.telemetry.logs.level;
            if tracing_subscriber::EnvFilter::try_new(level).is_err() {
                let pos = node.get("telemetry").map_or(node.pos, |t| t.pos);
                problems.push((
                    pos,
                    format!("`{level}` is not a log level (try info, debug, warn)"),
                ));
            }
            Some(service)
        }
        Err(e) => {
            problems.push((e.pos.unwrap_or(node.pos), format!("service: {}", e.message)));
            None
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    receivers: Vec<String>,
    #[serde(default)]
    processors: Vec<String>,
    exporters: Vec<String>,
}

fn pipelines(
    tree: &Located<Node>,
    declared: &Declared,
    problems: &mut Problems,
) -> BTreeMap<ComponentId, Pipeline> {
    let mut out = BTreeMap::new();
    let service = tree.get("service");
    let Some(node) = service.and_then(|s| s.get("pipelines")) else {
        problems.push((
            service.map_or(tree.pos, |s| s.pos),
            "service.pipelines is missing: define at least one pipeline".into(),
        ));
        return out;
    };
    let entries = node.entries().unwrap_or_default();
    if entries.is_empty() {
        problems.push((
            node.pos,
            "service.pipelines is empty: define at least one pipeline".into(),
        ));
    }
    for (key, value) in entries {
        let id = match ComponentId::parse(&key.value) {
            Ok(id) => id,
            Err(message) => {
                problems.push((key.pos, message));
                continue;
            }
        };
        let signal = match id.kind.as_str() {
            "traces" => SignalKind::Traces,
            "metrics" => SignalKind::Metrics,
            "logs" => SignalKind::Logs,
            other => {
                problems.push((
                    key.pos,
                    format!("unknown pipeline type `{other}` (expected traces, metrics or logs)"),
                ));
                continue;
            }
        };
        let raw: RawPipeline = match from_node(value) {
            Ok(raw) => raw,
            Err(e) => {
                problems.push((
                    e.pos.unwrap_or(value.pos),
                    format!("pipeline {id}: {}", e.message),
                ));
                continue;
            }
        };
        let mut check = |list: &str,
                         names: &[String],
                         defined: &dyn Fn(&ComponentId) -> bool,
                         required: bool| {
            let list_node = value.get(list);
            let item_pos = |i: usize| match list_node.map(|n| &n.value) {
                Some(Node::Seq(items)) => items.get(i).map_or(value.pos, |n| n.pos),
                _ => value.pos,
            };
            if required && names.is_empty() {
                problems.push((
                    list_node.map_or(value.pos, |n| n.pos),
                    format!("pipeline {id} needs at least one of its {list}"),
                ));
            }
            let mut ids = Vec::new();
            for (i, name) in names.iter().enumerate() {
                match ComponentId::parse(name) {
                    Ok(cid) if ids.contains(&cid) => {
                        problems.push((item_pos(i), format!("pipeline {id} lists {} `{name}` twice", singular(list))))
                    }
                    Ok(cid) if !defined(&cid) => problems.push((
                        item_pos(i),
                        format!("pipeline {id} references {} `{name}`, which is not defined under `{list}`", singular(list)),
                    )),
                    Ok(cid) => ids.push(cid),
                    Err(message) => problems.push((item_pos(i), message)),
                }
            }
            ids
        };
        let pipeline = Pipeline {
            signal,
            receivers: check(
                "receivers",
                &raw.receivers,
                &|c| declared.receivers.contains(c),
                true,
            ),
            processors: check(
                "processors",
                &raw.processors,
                &|c| declared.processors.contains(c),
                false,
            ),
            exporters: check(
                "exporters",
                &raw.exporters,
                &|c| declared.exporters.contains(c),
                true,
            ),
        };
        out.insert(id, pipeline);
    }
    out
}

//! The `filter` processor's settings: rules whose matches are dropped.

use crate::processors::severity::Severity;
use serde::Deserialize;

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

//! `resource_detection`: the pod, namespace, node, container, deployment and
//! host the telemetry comes from, detected once, when the config is loaded.
//!
//! `k8s` reads the Downward API variables a sidecar manifest sets (see
//! deploy/sidecar.yaml) and maps them to the OpenTelemetry semantic
//! conventions; `env` reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME;
//! `host` reads the host name, OS and architecture.

use super::Processor;
use crate::config::component::{settings, Context};
use crate::config::de::DeError;
use crate::config::node::{Located, Node};
use crate::proto::common::v1::any_value::Value;
use crate::proto::common::v1::{AnyValue, KeyValue};
use crate::signal::walk::{Place, Visitor, Walk};
use crate::signal::AnyRequest;
use serde::Deserialize;
use std::sync::Arc;

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

const K8S: &[(&str, &str)] = &[
    ("K8S_POD_NAME", "k8s.pod.name"),
    ("K8S_POD_UID", "k8s.pod.uid"),
    ("K8S_POD_IP", "k8s.pod.ip"),
    ("K8S_NAMESPACE_NAME", "k8s.namespace.name"),
    ("K8S_NODE_NAME", "k8s.node.name"),
    ("K8S_CONTAINER_NAME", "k8s.container.name"),
    ("K8S_DEPLOYMENT_NAME", "k8s.deployment.name"),
];

pub struct ResourceDetection {
    detected: Vec<KeyValue>,
    override_: bool,
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

/// `%XX` decoding for OTEL_RESOURCE_ATTRIBUTES values (W3C Baggage style).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl ResourceDetection {
    pub fn detect(config: &ResourceDetectionConfig, env: &dyn Fn(&str) -> Option<String>) -> Self {
        let mut detected: Vec<KeyValue> = Vec::new();
        let mut add = |key: &str, value: &str| {
            if !value.is_empty() && !detected.iter().any(|kv| kv.key == key) {
                detected.push(string(key, value));
            }
        };
        for detector in &config.detectors {
            match detector {
                Detector::Env => {
                    if let Some(name) = env("OTEL_SERVICE_NAME") {
                        add("service.name", name.trim());
                    }
                    for pair in env("OTEL_RESOURCE_ATTRIBUTES")
                        .unwrap_or_default()
                        .split(',')
                    {
                        if let Some((k, v)) = pair.split_once('=') {
                            add(k.trim(), &percent_decode(v.trim()));
                        }
                    }
                }
                Detector::K8s => {
                    for (var, key) in K8S {
                        if let Some(value) = env(var) {
                            add(key, value.trim());
                        }
                    }
                }
                Detector::Host => {
                    let host = env("HOSTNAME")
                        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
                        .unwrap_or_default();
                    add("host.name", host.trim());
                    add("os.type", std::env::consts::OS);
                    let arch = match std::env::consts::ARCH {
                        "x86_64" => "amd64",
                        "aarch64" => "arm64",
                        "x86" => "x86",
                        other => other,
                    };
                    add("host.arch", arch);
                }
            }
        }
        ResourceDetection {
            detected,
            override_: config.override_,
        }
    }

    pub fn attributes(&self) -> &[KeyValue] {
        &self.detected
    }

    pub fn apply<S: Walk>(&self, request: &mut S) {
        request.walk(&mut Apply(self));
    }
}

struct Apply<'a>(&'a ResourceDetection);

impl Visitor for Apply<'_> {
    fn attributes(&mut self, place: Place, attributes: &mut Vec<KeyValue>) {
        if place != Place::Resource {
            return;
        }
        for kv in &self.0.detected {
            match attributes.iter_mut().find(|a| a.key == kv.key) {
                Some(existing) if self.0.override_ => existing.value = kv.value.clone(),
                Some(_) => {}
                None => attributes.push(kv.clone()),
            }
        }
    }
}

pub fn read(node: &Located<Node>, _: &Context) -> Result<Arc<dyn Processor>, DeError> {
    let config: ResourceDetectionConfig = settings(node)?;
    Ok(Arc::new(ResourceDetection::detect(&config, &|k| {
        std::env::var(k).ok()
    })))
}

impl Processor for ResourceDetection {
    fn process(&self, request: AnyRequest<'_>) {
        match request {
            AnyRequest::Traces(r) => self.apply(r),
            AnyRequest::Metrics(r) => self.apply(r),
            AnyRequest::Logs(r) => self.apply(r),
        }
    }

    fn on_wire(&self) -> Option<super::OnWire<'_>> {
        Some(super::OnWire::ResourceDetection(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_k8s_env_and_host() {
        let env = |k: &str| match k {
            "K8S_POD_NAME" => Some("checkout-7d9f".to_string()),
            "K8S_NAMESPACE_NAME" => Some("shop".to_string()),
            "K8S_DEPLOYMENT_NAME" => Some("checkout".to_string()),
            "OTEL_SERVICE_NAME" => Some("checkout-svc".to_string()),
            "OTEL_RESOURCE_ATTRIBUTES" => {
                Some("deployment.environment=prod,team=pay%20ments".to_string())
            }
            _ => None,
        };
        let d = ResourceDetection::detect(&ResourceDetectionConfig::default(), &env);
        let get = |k: &str| {
            d.attributes()
                .iter()
                .find(|kv| kv.key == k)
                .map(|kv| kv.value.clone().unwrap().value.unwrap())
        };
        assert_eq!(
            get("k8s.pod.name"),
            Some(Value::StringValue("checkout-7d9f".into()))
        );
        assert_eq!(
            get("k8s.namespace.name"),
            Some(Value::StringValue("shop".into()))
        );
        assert_eq!(
            get("k8s.deployment.name"),
            Some(Value::StringValue("checkout".into()))
        );
        assert_eq!(
            get("service.name"),
            Some(Value::StringValue("checkout-svc".into()))
        );
        assert_eq!(get("team"), Some(Value::StringValue("pay ments".into())));
        assert_eq!(get("os.type"), Some(Value::StringValue("linux".into())));
        assert!(get("host.name").is_some() && get("host.arch").is_some());
        assert_eq!(get("k8s.node.name"), None);
    }
}

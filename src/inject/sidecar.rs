//! What `inject` adds to a pod, as YAML text at indentation 0 (the caller
//! indents it): the agent as a native sidecar, its volumes, the variable
//! that points an app at it, and the ConfigMap holding its config. The same
//! shape as `deploy/sidecar.yaml`, which a test keeps in step.

use std::fmt::Write;

/// Volume names the sidecar brings; a pod that already has one is refused.
pub const VOLUMES: [&str; 3] = ["ignis-agent-config", "ignis-agent-queue", "ignis-api-key"];

/// Ports the sidecar listens on in the pod's network namespace.
pub const PORTS: [u16; 3] = [4317, 4318, 13133];

/// The ConfigMap's (and the container's) name.
pub const NAME: &str = "ignis-agent";

/// The variables that send an app's telemetry elsewhere than the agent
/// (the signal-specific ones win over the general one in every SDK).
pub const ENDPOINT_VARIABLES: [&str; 4] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
];

pub struct Sidecar<'a> {
    pub image: &'a str,
    /// `IGNIS_ENDPOINT`; the config's default when `None`.
    pub endpoint: Option<&'a str>,
    /// The app container the agent reports as `k8s.container.name`.
    pub app: &'a str,
}

/// The agent as a native sidecar: an init container that keeps running
/// (`restartPolicy: Always`, Kubernetes 1.29+), so it starts before the
/// apps and stops after them.
pub fn container(s: &Sidecar<'_>) -> String {
    let mut env = String::new();
    if let Some(endpoint) = s.endpoint {
        let _ = writeln!(
            env,
            "    - {{ name: IGNIS_ENDPOINT, value: {} }}",
            quoted(endpoint)
        );
    }
    format!(
        r#"- name: {NAME}
  image: {image}
  restartPolicy: Always
  args: ["--config", "/etc/ignis-agent/config.yaml"]
  env:
{env}    - {{ name: IGNIS_API_KEY_FILE, value: /var/run/secrets/ignis/api-key }}
    - {{ name: IGNIS_QUEUE_DIR, value: /var/lib/ignis-agent/queue }}
    - {{ name: IGNIS_ADMIN_ENDPOINT, value: "0.0.0.0:13133" }}   # the kubelet probes the pod IP
    # Downward API: where the telemetry comes from (the k8s detector).
    - name: K8S_POD_NAME
      valueFrom: {{ fieldRef: {{ fieldPath: metadata.name }} }}
    - name: K8S_POD_UID
      valueFrom: {{ fieldRef: {{ fieldPath: metadata.uid }} }}
    - name: K8S_POD_IP
      valueFrom: {{ fieldRef: {{ fieldPath: status.podIP }} }}
    - name: K8S_NAMESPACE_NAME
      valueFrom: {{ fieldRef: {{ fieldPath: metadata.namespace }} }}
    - name: K8S_NODE_NAME
      valueFrom: {{ fieldRef: {{ fieldPath: spec.nodeName }} }}
    - {{ name: K8S_CONTAINER_NAME, value: {app} }}
  ports:
    - {{ name: otlp-grpc, containerPort: 4317 }}
    - {{ name: otlp-http, containerPort: 4318 }}
    - {{ name: ignis-admin, containerPort: 13133 }}
  resources:
    requests: {{ cpu: 50m, memory: 32Mi }}
    limits: {{ cpu: "1", memory: 128Mi }}
  startupProbe:
    httpGet: {{ path: /readyz, port: 13133 }}
    periodSeconds: 1
    failureThreshold: 30
  readinessProbe:
    httpGet: {{ path: /readyz, port: 13133 }}
  livenessProbe:
    httpGet: {{ path: /healthz, port: 13133 }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    capabilities: {{ drop: [ALL] }}
    seccompProfile: {{ type: RuntimeDefault }}
  volumeMounts:
    - {{ name: ignis-agent-config, mountPath: /etc/ignis-agent, readOnly: true }}
    - {{ name: ignis-agent-queue, mountPath: /var/lib/ignis-agent }}
    - {{ name: ignis-api-key, mountPath: /var/run/secrets/ignis, readOnly: true }}
"#,
        image = quoted(s.image),
        app = quoted(s.app),
    )
}

/// The sidecar's volumes. The key's Secret is optional: until it exists
/// the pod starts and the agent keeps its data queued.
pub fn volumes() -> &'static str {
    r#"- name: ignis-agent-config
  configMap: { name: ignis-agent }
- name: ignis-agent-queue
  emptyDir: { sizeLimit: 512Mi }   # the disk queue outlives container restarts
- name: ignis-api-key
  secret: { secretName: ignis, optional: true, items: [{ key: api-key, path: api-key }] }
"#
}

/// Points an app at the agent: gRPC unless the app asked for OTLP/HTTP.
pub fn endpoint_variable(http: bool) -> String {
    let url = if http {
        "http://localhost:4318"
    } else {
        "http://localhost:4317"
    };
    format!("- {{ name: OTEL_EXPORTER_OTLP_ENDPOINT, value: \"{url}\" }}\n")
}

/// A ConfigMap document holding `config` as `config.yaml`.
pub fn config_map(namespace: Option<&str>, config: &str) -> String {
    let mut doc = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {NAME}\n");
    if let Some(namespace) = namespace {
        let _ = writeln!(doc, "  namespace: {}", quoted(namespace));
    }
    doc.push_str("data:\n  config.yaml: |\n");
    for line in config.lines() {
        if line.trim().is_empty() {
            doc.push('\n');
        } else {
            let _ = writeln!(doc, "    {line}");
        }
    }
    doc
}

/// `value` as a double-quoted YAML string (JSON's escapes are YAML's).
fn quoted(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

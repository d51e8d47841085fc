//! Loading configs: good ones load, every error is reported with its line,
//! `${env:..}` expands, and secrets never appear in messages.

use ignis_agent::components::{self, Config, DEFAULT_CONFIG};
use ignis_agent::compression::Compression;
use ignis_agent::config::ConfigError;
use ignis_agent::exporters::debug::DebugExporter;
use ignis_agent::exporters::delivery::Exporter;
use ignis_agent::exporters::file::FileExporter;
use ignis_agent::exporters::ignis::Ignis;
use ignis_agent::exporters::otlp::Otlp;
use ignis_agent::queue::{Storage, WhenFull};
use ignis_agent::receivers::otlp::Otlp as OtlpReceiver;
use ignis_agent::signal::SignalKind;
use std::sync::Arc;
use std::time::Duration;

fn env(name: &str) -> Option<String> {
    match name {
        "IGNIS_ENDPOINT" => Some("https://ingest.example:4317".into()),
        "IGNIS_API_KEY" => Some("sk_live_TOPSECRET".into()),
        "PORT" => Some("4999".into()),
        _ => None,
    }
}

fn load(yaml: &str) -> Result<Config, Vec<ConfigError>> {
    components::load_str(yaml, "agent.yaml", &env).map_err(|e| e.0)
}

/// The exporter as its concrete kind, if it is one.
fn kind<T: 'static>(exporter: &Arc<dyn Exporter>) -> Option<&T> {
    exporter.as_any().downcast_ref::<T>()
}

fn errors(yaml: &str) -> Vec<String> {
    load(yaml)
        .expect_err("config should be refused")
        .into_iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn the_shipped_and_default_configs_load() {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml")).unwrap();
    let c = load(&shipped).unwrap();
    assert_eq!(c.pipelines.len(), 3);
    let exporter = c.exporters.values().next().unwrap();
    let ignis = kind::<Ignis>(exporter)
        .expect("the shipped config sends to Ignis")
        .config();
    assert_eq!(ignis.endpoint, "https://ingest.example:4317");
    assert!(ignis.api_key_file.is_some());
    let delivery = exporter.delivery();
    assert_eq!(delivery.sending_queue.storage, Some(Storage::Disk));
    assert_eq!(delivery.sending_queue.max_size.0, 256 << 20);
    assert!(delivery.retry_on_failure.max_elapsed_time.0.is_zero());
    assert_eq!(
        delivery.sending_queue.max_age.0,
        Duration::from_secs(24 * 3600)
    );
    assert_eq!(c.service.grace_period.0, Duration::from_secs(25));

    let default = components::load_str(DEFAULT_CONFIG, "default", &|_| None).unwrap();
    assert!(default
        .exporters
        .values()
        .any(|e| kind::<DebugExporter>(e).is_some()));
    assert!(default
        .exporters
        .values()
        .any(|e| kind::<FileExporter>(e).is_some()));
}

#[test]
fn a_collector_style_config_loads_with_defaults() {
    let c = load(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
      http: { endpoint: "127.0.0.1:${env:PORT}" }
exporters:
  otlp:
    endpoint: ${env:IGNIS_ENDPOINT}
    sending_queue: { max_size: 256MiB, when_full: drop_oldest }
    retry_on_failure: { initial_interval: 1s, max_interval: 30s, max_elapsed_time: 0 }
  otlphttp/backup: { endpoint: "http://127.0.0.1:4318", compression: zstd }
  debug:
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [otlp, debug] }
    traces/backup: { receivers: [otlp], exporters: [otlphttp/backup] }
"#,
    )
    .unwrap();
    let receiver = c.receivers.values().next().unwrap();
    let otlp = receiver
        .as_any()
        .downcast_ref::<OtlpReceiver>()
        .unwrap()
        .config();
    assert_eq!(
        otlp.protocols.grpc.as_ref().unwrap().endpoint,
        "127.0.0.1:4317"
    );
    assert_eq!(
        otlp.protocols.grpc.as_ref().unwrap().max_recv_msg_size_mib,
        4
    );
    assert_eq!(
        otlp.protocols.http.as_ref().unwrap().endpoint,
        "127.0.0.1:4999"
    );
    assert_eq!(c.pipelines.len(), 2);
    assert!(c.pipelines.values().all(|p| p.signal == SignalKind::Traces));
    for (id, exporter) in &c.exporters {
        let otlp = kind::<Otlp>(exporter).map(|o| (o.is_http(), o.config()));
        match (id.to_string().as_str(), otlp) {
            ("otlp", Some((false, e))) => {
                assert_eq!(e.compression, Compression::Gzip);
                assert_eq!(e.sending_queue.when_full, WhenFull::DropOldest);
                assert_eq!(e.sending_queue.max_size.0, 256 << 20);
                assert!(e.retry_on_failure.max_elapsed_time.0.is_zero());
            }
            ("otlphttp/backup", Some((true, e))) => {
                assert_eq!(e.compression, Compression::Zstd)
            }
            ("debug", None) => assert!(kind::<DebugExporter>(exporter).is_some()),
            (other, _) => panic!("unexpected exporter {other}"),
        }
    }
}

#[test]
fn every_error_is_reported_with_its_line() {
    let found = errors(
        r#"receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:4317, max_recv_msg_size_mib: lots }
  zipkin: {}
exporters:
  otlp_grpc/a:
    endpoint: http://127.0.0.1:5317
    compresion: gzip
  otlp_http/b:
    endpoint: 127.0.0.1:4318
  debug:
    verbosity: loud
service:
  pipelines:
    traces: { receivers: [otlp, jaeger], exporters: [otlp_grpc/a] }
    spans: { receivers: [otlp], exporters: [debug] }
    logs: { receivers: [otlp], exporters: [] }
  extra: 1
"#,
    );
    let expect = [
        ("agent.yaml:4:", "\"lots\""),
        ("agent.yaml:5:3:", "unknown receiver type `zipkin`"),
        ("agent.yaml:9:5:", "unknown field `compresion`"),
        ("agent.yaml:11:", "must start with http:// or https://"),
        ("agent.yaml:13:", "unknown variant `loud`"),
        ("agent.yaml:16:", "receiver `jaeger`, which is not defined"),
        ("agent.yaml:17:5:", "unknown pipeline type `spans`"),
        ("agent.yaml:18:", "needs at least one of its exporters"),
        ("agent.yaml:19:3:", "unknown field `extra`"),
    ];
    assert_eq!(found.len(), expect.len(), "{found:#?}");
    for ((prefix, words), error) in expect.iter().zip(&found) {
        assert!(
            error.starts_with(prefix) && error.contains(words),
            "expected {prefix} {words}, got {error}"
        );
    }
}

#[test]
fn syntax_errors_and_wrong_shapes_are_located() {
    let found = errors("receivers:\n  otlp: [1, 2\nexporters: {}\n");
    assert_eq!(found.len(), 1);
    assert!(found[0].starts_with("agent.yaml:"), "{found:?}");
    assert!(!found[0].starts_with("agent.yaml:0:"), "{found:?}");

    let found = errors("- a\n- b\n");
    assert!(
        found[0].contains("expected a mapping at the top"),
        "{found:?}"
    );

    let found = errors("receivers: {}\nexporters: {}\n");
    assert!(
        found.iter().any(|e| e.contains("`service` is missing")),
        "{found:?}"
    );

    let found = errors("receivers:\n  otlp:\nexporters:\n  debug:\nservice:\n  pipelines: {}\n");
    assert!(
        found.iter().any(|e| e.contains("enable at least one")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|e| e.contains("pipelines is empty")),
        "{found:?}"
    );
}

#[test]
fn env_expansion_refuses_unset_variables_and_other_syntax() {
    let found = errors(
        r#"receivers:
  otlp: { protocols: { grpc: } }
exporters:
  otlp:
    endpoint: ${env:NOT_SET}
    headers: { x-a: "${vault:secret}" }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [otlp] }
"#,
    );
    assert!(
        found[0].starts_with("agent.yaml:5:") && found[0].contains("NOT_SET is not set"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("agent.yaml:6:") && found[1].contains("only ${env:NAME}"),
        "{found:?}"
    );
}

#[test]
fn secrets_never_appear_in_errors() {
    // The key lands in a number field and in an invalid header: both refused,
    // neither message shows it.
    let found = errors(
        r#"receivers:
  otlp: { protocols: { grpc: { max_recv_msg_size_mib: "${env:IGNIS_API_KEY}" } } }
exporters:
  otlp:
    endpoint: http://127.0.0.1:1
    headers: { "x-key": "${env:IGNIS_API_KEY}\u0001" }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [otlp] }
"#,
    );
    assert_eq!(found.len(), 2, "{found:?}");
    for error in &found {
        assert!(!error.contains("TOPSECRET"), "secret leaked: {error}");
    }
    assert!(found[1].contains("header `x-key`"), "{found:?}");
}

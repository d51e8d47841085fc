//! Every rule a component's settings are held to, one row each: the error
//! message and the position it points at. `ignis-agent validate` and `run`
//! go through the same readers (`components.rs`), so this is also what
//! `run` refuses.

use ignis_agent::components;

/// A config whose `section` holds one component, `id: body` (body lines
/// indented under it), at line 2; the rest is valid.
fn config(section: &str, id: &str, body: &str) -> String {
    let mut text = format!("{section}:\n  {id}:{body}\n");
    if section == "exporters" {
        text.push_str("  debug:\n");
    } else {
        text.push_str("exporters:\n  debug:\n");
    }
    if section != "receivers" {
        text.push_str("receivers:\n  otlp: { protocols: { grpc: } }\n");
    }
    text.push_str(
        "service:\n  pipelines:\n    traces: { receivers: [otlp], exporters: [debug] }\n",
    );
    text
}

const RULES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "receivers",
        "otlp",
        " { protocols: { http: { idle_timeout: 0s } } }",
        "2:9",
        "timeouts, max_connections and max_concurrent_streams must be more than 0",
    ),
    (
        "receivers",
        "otlp",
        " { protocols: { grpc: { max_connections: 0 } } }",
        "2:9",
        "must be more than 0",
    ),
    // (section, id, body, where the error points, what it says)
    (
        "receivers",
        "otlp",
        "",
        "2:7",
        "enable at least one of `protocols.grpc` and `protocols.http`",
    ),
    (
        "receivers",
        "otlp",
        " { protocols: { grpc: { endpoint: nowhere } } }",
        "2:9",
        "endpoint `nowhere` must be host:port",
    ),
    (
        "receivers",
        "otlp",
        " { protocols: { http: { tls: { cert_file: /no/cert, key_file: /no/key } } } }",
        "2:9",
        "TLS file /no/cert does not exist",
    ),
    (
        "receivers",
        "otlp",
        " { protocols: { grpc: { max_recv_msg_size_mib: -1 } } }",
        "2:55",
        "invalid value: integer `-1`, expected u64",
    ),
    (
        "processors",
        "memory_limiter",
        " { limit_mib: 0 }",
        "2:19",
        "limit_mib must be more than 0 and more than spike_limit_mib",
    ),
    (
        "processors",
        "memory_limiter",
        " { limit_mib: 64, spike_limit_mib: 64 }",
        "2:19",
        "more than spike_limit_mib",
    ),
    (
        "processors",
        "memory_limiter",
        " {}",
        "2:",
        "missing field `limit_mib`",
    ),
    (
        "processors",
        "resource_detection",
        " { detectors: [gcp] }",
        "2:",
        "unknown variant `gcp`",
    ),
    (
        "processors",
        "resource",
        "\n    actions: [{ key: a, action: insert }]",
        "3:14",
        "needs `value` or `from_attribute`",
    ),
    (
        "processors",
        "resource",
        "\n    hash_key: 0123456789abcdef0123\n    actions: [{ key: a, action: hash }]",
        "4:14",
        "hash and extract are attributes-processor actions",
    ),
    (
        "processors",
        "attributes",
        "\n    actions: [{ key: a, action: hash }]",
        "3:14",
        "hash needs a `hash_key` of at least 16 bytes",
    ),
    (
        "processors",
        "attributes",
        "\n    hash_key: short\n    actions: [{ key: a, action: hash }]",
        "4:14",
        "at least 16 bytes",
    ),
    (
        "processors",
        "attributes",
        "\n    actions: [{ key: a, action: extract }]",
        "3:14",
        "extract on `a` needs a `pattern`",
    ),
    (
        "processors",
        "attributes",
        "\n    actions: [{ key: a, action: extract, pattern: '(' }]",
        "3:14",
        "extract pattern for `a`",
    ),
    (
        "processors",
        "attributes",
        "\n    actions: [{ key: a, action: insert, value: { b: 1 } }]",
        "3:14",
        "must be a string, number, boolean or list",
    ),
    (
        "processors",
        "redaction",
        " { detectors: [nope] }",
        "2:14",
        "unknown detector `nope`",
    ),
    (
        "processors",
        "redaction",
        " { disable_detectors: [nope] }",
        "2:14",
        "unknown detector `nope`",
    ),
    (
        "processors",
        "redaction",
        " { detector_actions: { nope: hash } }",
        "2:14",
        "unknown detector `nope`",
    ),
    (
        "processors",
        "redaction",
        " { action: hash }",
        "2:14",
        "hash needs a `hash_key` of at least 16 bytes",
    ),
    (
        "processors",
        "redaction",
        " { custom: [{ name: x, regex: '(' }] }",
        "2:24",
        "custom detector x",
    ),
    (
        "processors",
        "filter",
        " { spans: [{ name_regex: '(' }] }",
        "2:11",
        "filter: invalid regex `(`",
    ),
    (
        "processors",
        "filter",
        " { logs: [{ body_regex: '[' }] }",
        "2:11",
        "filter: invalid regex `[`",
    ),
    (
        "processors",
        "filter",
        " { spans: [{ attributes: [{ key: a, regex: '(' }] }] }",
        "2:11",
        "filter: invalid regex `(`",
    ),
    (
        "processors",
        "probabilistic_sampler",
        " { sampling_percentage: 101 }",
        "2:49",
        "sampling_percentage must be between 0 and 100",
    ),
    (
        "processors",
        "rate_limiting",
        " { spans_per_second: 0 }",
        "2:18",
        "spans_per_second must be more than 0 and burst at least 1",
    ),
    (
        "processors",
        "rate_limiting",
        " { spans_per_second: 10, burst: 0.5 }",
        "2:18",
        "burst at least 1",
    ),
    (
        "connectors",
        "span_metrics",
        " { interval: 0s }",
        "2:17",
        "span_metrics needs interval > 0",
    ),
    (
        "connectors",
        "threshold_alerts",
        " { rules: [] }",
        "2:30",
        "threshold_alerts needs at least one rule",
    ),
    (
        "connectors",
        "threshold_alerts",
        " { rules: [{ name: slow, measure: latency_p99_ms, above: 500, below: 1 }] }",
        "2:30",
        "rule slow: set exactly one of above or below",
    ),
    (
        "connectors",
        "threshold_alerts",
        " { rules: [{ name: t, measure: error_rate, above: 0.1, model: gpt-4o }] }",
        "2:30",
        "rule t: model applies to measure gen_ai_tokens only",
    ),
    (
        "connectors",
        "threshold_alerts",
        " { window: 0s, rules: [{ name: t, measure: error_rate, above: 0.1 }] }",
        "2:21",
        "threshold_alerts needs window > 0",
    ),
    (
        "connectors",
        "span_metrics",
        " { histogram_buckets_ms: [5, 2] }",
        "2:17",
        "increasing histogram_buckets_ms",
    ),
    (
        "exporters",
        "otlp",
        " { endpoint: 'http://' }",
        "2:21",
        "is not a valid URL",
    ),
    (
        "exporters",
        "otlp",
        " { endpoint: 'http://a:1', traces_endpoint: 'http://b:1/v1/traces' }",
        "2:9",
        "are for otlp_http only",
    ),
    (
        "exporters",
        "otlp",
        " { endpoint: 'http://a:1', headers: { 'bad header': x } }",
        "2:44",
        "`bad header` is not a valid header name",
    ),
    (
        "exporters",
        "otlp",
        " { endpoint: 'http://a:1', tls: { cert_file: /no/cert } }",
        "2:40",
        "tls.cert_file and tls.key_file go together",
    ),
    (
        "exporters",
        "otlp",
        " { endpoint: 'http://a:1', tls: { ca_file: /no/ca } }",
        "2:40",
        "TLS file /no/ca does not exist",
    ),
    (
        "exporters",
        "otlp",
        " { endpoint: 'http://a:1', timeout: 0s }",
        "2:44",
        "timeout must be more than 0",
    ),
    (
        "exporters",
        "otlp_http",
        " { endpoint: 'a:4318' }",
        "2:26",
        "must start with http:// or https://",
    ),
    (
        "exporters",
        "otlp",
        " { endpoint: 'http://a:1', sending_queue: { num_consumers: 0 } }",
        "2:50",
        "num_consumers must be more than 0",
    ),
    (
        "exporters",
        "otlp",
        " { endpoint: 'http://a:1', sending_queue: { storage: disk } }",
        "2:50",
        "storage: disk needs a `directory`",
    ),
    (
        "exporters",
        "otlp",
        " { endpoint: 'http://a:1', sending_queue: { segment_size: 1KiB } }",
        "2:50",
        "segment_size must be at least 4KiB",
    ),
    (
        "exporters",
        "otlp",
        " { endpoint: 'http://a:1', batch: { max_size: 0 } }",
        "2:42",
        "batch.max_size and batch.max_bytes must be more than 0",
    ),
    (
        "exporters",
        "otlp",
        " { endpoint: 'http://a:1', retry_on_failure: { multiplier: 0.5 } }",
        "2:53",
        "multiplier >= 1",
    ),
    (
        "exporters",
        "ignis",
        " { endpoint: 'http://a:1' }",
        "2:22",
        "Ignis Platform takes data over TLS only",
    ),
    (
        "exporters",
        "ignis",
        " { endpoint: 'https://a:1', api_key: k, api_key_file: /f }",
        "2:10",
        "use one of api_key, api_key_file and oauth2",
    ),
    (
        "exporters",
        "ignis",
        " { endpoint: 'https://a:1', api_key: ' ' }",
        "2:46",
        "api_key is empty or not valid in a header",
    ),
    (
        "exporters",
        "ignis",
        " { endpoint: 'https://a:1', api_key_header: 'x y' }",
        "2:53",
        "api_key_header is not a valid header name",
    ),
    (
        "exporters",
        "ignis",
        " { endpoint: 'https://a:1', oauth2: { token_url: '/t', client_id: c, client_secret: s } }",
        "2:45",
        "oauth2.token_url must be a URL",
    ),
    (
        "exporters",
        "ignis",
        " { endpoint: 'https://a:1', oauth2: { token_url: 'https://t/x', client_id: c } }",
        "2:45",
        "oauth2 needs client_secret or client_secret_file",
    ),
    ("exporters", "file", " {}", "2:", "missing field `path`"),
];

#[test]
fn every_component_rule_has_its_message_and_position() {
    let mut failures = Vec::new();
    for (section, id, body, at, message) in RULES {
        let text = config(section, id, body);
        let errors = match components::load_str(&text, "agent.yaml", &|_| None) {
            Ok(_) => {
                failures.push(format!("{section}.{id}{body}: accepted"));
                continue;
            }
            Err(e) => e.to_string(),
        };
        let expected = format!("agent.yaml:{at}");
        let one = errors.lines().count() == 1
            || errors
                .lines()
                .skip(1)
                .all(|l| !l.starts_with("agent.yaml:"));
        if !errors.starts_with(&expected) || !errors.contains(message) || !one {
            failures.push(format!(
                "{section}.{id}{body}\n  want {expected} … {message}\n  got  {errors}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn connectors_join_pipelines_of_the_signals_they_read_and_emit() {
    let load = |pipelines: &str, sections: &str| {
        let text = format!(
            "receivers:\n  otlp: {{ protocols: {{ grpc: }} }}\n{sections}exporters:\n  debug:\nservice:\n  pipelines:\n{pipelines}"
        );
        components::load_str(&text, "agent.yaml", &|_| None).map_err(|e| e.to_string())
    };
    let connector = "connectors:\n  span_metrics:\n";
    load(
        "    traces: { receivers: [otlp], exporters: [span_metrics] }\n    metrics: { receivers: [span_metrics], exporters: [debug] }\n",
        connector,
    )
    .expect("traces in, metrics out");

    let wrong_side = load(
        "    traces: { receivers: [otlp], exporters: [debug] }\n    logs: { receivers: [span_metrics], exporters: [debug] }\n    metrics: { receivers: [otlp], exporters: [span_metrics] }\n",
        connector,
    )
    .unwrap_err();
    assert!(
        wrong_side.contains("agent.yaml:10:")
            && wrong_side
                .contains("pipeline logs carries logs, but connector `span_metrics` emits metrics"),
        "{wrong_side}"
    );
    assert!(
        wrong_side.contains("agent.yaml:11:")
            && wrong_side.contains(
                "pipeline metrics carries metrics, but connector `span_metrics` reads traces"
            ),
        "{wrong_side}"
    );

    let one_side = load(
        "    traces: { receivers: [otlp], exporters: [span_metrics, debug] }\n",
        connector,
    )
    .unwrap_err();
    assert!(
        one_side.contains(
            "connector `span_metrics` is an exporter of a pipeline but a receiver of none"
        ),
        "{one_side}"
    );

    let as_processor = load(
        "    traces: { receivers: [otlp], processors: [span_metrics], exporters: [debug] }\n",
        "processors:\n  span_metrics:\n",
    )
    .unwrap_err();
    assert!(
        as_processor.starts_with("agent.yaml:4:")
            && as_processor.contains("span_metrics is a connector now"),
        "{as_processor}"
    );
}

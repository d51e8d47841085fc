//! The threat model's promise about secrets (README "Threat model"): the
//! Ignis API key and the receivers' bearer token are used, but never shown
//! — not in logs at debug level, not when the destination refuses the key,
//! not when a client sends a wrong token, not in `/metrics`, the status
//! page, `/api/status` or the ledger.

use crate::common;

use bytes::Bytes;
use common::client::{grpc_export_with, spans};
use common::process::{logged_address, spawn_agent_logging, terminate, write_config};
use common::sink::{Reply, Sink};
use common::wait_until;
use ignis_agent::signal::Traces;
use prost::Message;
use std::time::Duration;

const API_KEY: &str = "sk-live-7Hq2VbN9xK4mZr8T";
const TOKEN: &str = "app-token-Wd5sLp0Qy3";
const WRONG_TOKEN: &str = "stolen-token-Gf6hJk1N";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_used_but_never_shown() {
    let sink = Sink::start().await;
    // The destination first refuses the key, then is unavailable, then takes what is sent.
    sink.script([
        Reply::Grpc(tonic::Status::unauthenticated("invalid API key")),
        Reply::Grpc(tonic::Status::unavailable("down for a moment")),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0", auth: {{ bearer_token: {TOKEN} }} }}
exporters:
  ignis:
    endpoint: http://{}
    insecure: true
    api_key: {API_KEY}
    sending_queue: {{ directory: {} }}
    retry_on_failure: {{ initial_interval: 50ms, max_interval: 100ms }}
    batch: {{ flush_timeout: 10ms }}
service:
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [ignis] }}
  telemetry: {{ logs: {{ level: debug, format: json }} }}
"#,
            sink.grpc,
            dir.path().join("queue").display()
        ),
    );
    let (child, grpc, log) = spawn_agent_logging(&config);
    let admin = logged_address(&log, "admin").await;

    let body = || Bytes::from(spans(0, 10).encode_to_vec());
    let send = |token: &str| {
        let header = format!("Bearer {token}");
        async move { grpc_export_with::<Traces>(grpc, body(), None, Some(&header)).await }
    };
    let refused = send(WRONG_TOKEN).await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::Unauthenticated);
    // The first batch meets the refused key (permanent in OTLP: dropped and
    // logged), the second an unavailable destination, then delivery.
    let logged = |text: &str| log.lock().unwrap().iter().any(|l| l.contains(text));
    send(TOKEN).await.expect("accepted with the right token");
    assert!(wait_until(Duration::from_secs(10), || logged("invalid API key")).await);
    send(TOKEN).await.expect("accepted with the right token");
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(10), || state.items::<Traces>() == 10).await);
    // The key was used.
    let sent = sink.state.last_headers.lock().unwrap().clone();
    let sent_key = sent.get("authorization").or_else(|| sent.get("x-api-key"));
    assert!(
        sent_key.is_some_and(|v| v.to_str().unwrap().contains(API_KEY)),
        "{sent:?}"
    );

    let mut shown = Vec::new();
    for path in ["/metrics", "/api/status", "/", "/api/ledger?limit=100"] {
        let url = format!("http://{admin}{path}");
        let page = tokio::task::spawn_blocking(move || {
            reqwest::blocking::get(url).unwrap().text().unwrap()
        })
        .await
        .unwrap();
        assert!(!page.is_empty(), "{path}");
        shown.push((path.to_string(), page));
    }
    assert_eq!(terminate(child, Duration::from_secs(10)).await, Some(0));
    let logs = log.lock().unwrap().join("\n");
    shown.push(("logs".into(), logs));
    for (place, text) in &shown {
        for secret in [API_KEY, TOKEN, WRONG_TOKEN] {
            assert!(!text.contains(secret), "{secret} shown in {place}:\n{text}");
        }
    }
}

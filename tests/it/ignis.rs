//! The `ignis` exporter: API key, key file rotation, OAuth2 client
//! credentials with refresh on 401, the disk queue by default, and the
//! delivery ledger served by the admin endpoint.

use crate::common;

use axum::extract::State;
use axum::routing::post;
use bytes::Bytes;
use common::client::{grpc_export, spans};
use common::sink::{Reply, Sink};
use common::{addr, start_agent, wait_until};
use http::HeaderMap;
use ignis_agent::signal::Traces;
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn yaml(exporter: &str, queue_dir: &std::path::Path) -> String {
    format!(
        r#"receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }}
processors:
  memory_limiter: {{ limit_mib: 4096 }}
exporters:
  ignis:
{exporter}
    sending_queue: {{ directory: {} }}
    retry_on_failure: {{ initial_interval: 50ms, max_interval: 100ms }}
    batch: {{ flush_timeout: 10ms }}
service:
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [memory_limiter], exporters: [ignis] }}
"#,
        queue_dir.display()
    )
}

async fn send(agent: &ignis_agent::agent::Agent, first: u64, count: u64) {
    grpc_export::<Traces>(
        addr(agent, "otlp/grpc"),
        Bytes::from(spans(first, count).encode_to_vec()),
        None,
    )
    .await
    .expect("acknowledged");
}

fn header(sink: &Sink, name: &str) -> Option<String> {
    sink.state
        .last_headers
        .lock()
        .unwrap()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_disk_queue_and_ledger() {
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let exporter = format!(
        "    endpoint: http://{}\n    insecure: true\n    api_key: sk_test_123",
        sink.grpc
    );
    let agent = start_agent(&yaml(&exporter, dir.path())).await;
    sink.script([
        Reply::Grpc(tonic::Status::unavailable("once")),
        Reply::Ok,
        Reply::Partial(1, "1 span too old"),
    ]);
    send(&agent, 0, 4).await;
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 4).await);
    send(&agent, 10, 3).await;
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 7).await);
    assert_eq!(
        header(&sink, "authorization").as_deref(),
        Some("Bearer sk_test_123")
    );
    assert_eq!(header(&sink, "grpc-encoding").as_deref(), Some("gzip"));
    // The queue is on disk by default.
    let segments = std::fs::read_dir(dir.path().join("ignis").join("traces")).unwrap();
    assert!(segments
        .map(|e| e.unwrap().path())
        .any(|p| p.extension().is_some_and(|x| x == "seg")));

    let admin = addr(&agent, "admin");
    let metrics = agent.metrics.clone();
    assert!(
        wait_until(Duration::from_secs(5), || metrics
            .total("ignis_ledger_batches", &[])
            == 2)
        .await
    );
    let ledger: serde_json::Value = tokio::task::spawn_blocking(move || {
        let text = reqwest::blocking::get(format!("http://{admin}/api/ledger"))
            .unwrap()
            .text()
            .unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    })
    .await
    .unwrap();
    let entries = ledger["ignis/traces"].as_array().expect("the ignis ledger");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["outcome"], "partially_rejected");
    assert_eq!(entries[0]["rejected"], 1);
    assert_eq!(entries[0]["items"], 3);
    assert_eq!(entries[1]["outcome"], "confirmed");
    assert_eq!(entries[1]["attempts"], 2, "one retry after UNAVAILABLE");
    assert_eq!(entries[1]["items"], 4);
    assert_eq!(entries[1]["digest"].as_str().unwrap().len(), 8);
    assert!(!ledger.to_string().contains("sk_test_123"));
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_file_is_picked_up() {
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("api-key");
    std::fs::write(&key, "first-key\n").unwrap();
    let exporter = format!(
        "    endpoint: http://{}\n    insecure: true\n    protocol: http\n    api_key_file: {}\n    api_key_header: x-api-key",
        sink.http,
        key.display()
    );
    let agent = start_agent(&yaml(&exporter, dir.path())).await;
    send(&agent, 0, 1).await;
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 1).await);
    assert_eq!(header(&sink, "x-api-key").as_deref(), Some("first-key"));
    // Kubernetes swaps the mounted file; the mtime moves.
    std::fs::write(&key, "second-key").unwrap();
    let file = std::fs::File::options().write(true).open(&key).unwrap();
    file.set_modified(std::time::SystemTime::now() + Duration::from_secs(10))
        .unwrap();
    send(&agent, 1, 1).await;
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 2).await);
    assert_eq!(header(&sink, "x-api-key").as_deref(), Some("second-key"));
    agent.shutdown().await;
}

#[derive(Default)]
struct TokenServer {
    issued: Mutex<u32>,
    last_form: Mutex<String>,
    last_auth: Mutex<String>,
}

async fn token(State(server): State<Arc<TokenServer>>, headers: HeaderMap, form: String) -> String {
    let mut issued = server.issued.lock().unwrap();
    *issued += 1;
    *server.last_form.lock().unwrap() = form;
    *server.last_auth.lock().unwrap() = headers["authorization"].to_str().unwrap().to_owned();
    format!(r#"{{"access_token":"token-{issued}","token_type":"Bearer","expires_in":3600}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_token_is_cached_and_refreshed_once_on_401() {
    let server = Arc::new(TokenServer::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token_url = format!("http://{}/oauth/token", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/oauth/token", post(token))
        .with_state(server.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    for protocol in ["grpc", "http"] {
        let sink = Sink::start().await;
        let dir = tempfile::tempdir().unwrap();
        let endpoint = if protocol == "grpc" {
            sink.grpc
        } else {
            sink.http
        };
        let exporter = format!(
            "    endpoint: http://{endpoint}\n    insecure: true\n    protocol: {protocol}\n    oauth2:\n      token_url: {token_url}\n      client_id: agent\n      client_secret: s3cret\n      scopes: [ingest:write]"
        );
        let agent = start_agent(&yaml(&exporter, dir.path())).await;
        let issued_before = *server.issued.lock().unwrap();
        send(&agent, 0, 2).await;
        let state = sink.state.clone();
        assert!(
            wait_until(Duration::from_secs(5), || state.items::<Traces>() == 2).await,
            "{protocol}"
        );
        send(&agent, 2, 2).await;
        assert!(
            wait_until(Duration::from_secs(5), || state.items::<Traces>() == 4).await,
            "{protocol}"
        );
        assert_eq!(
            *server.issued.lock().unwrap(),
            issued_before + 1,
            "{protocol}: the token is cached"
        );
        let first_token = header(&sink, "authorization").unwrap();
        assert_eq!(first_token, format!("Bearer token-{}", issued_before + 1));

        // The destination says the token is no longer good: one refresh, one retry.
        sink.script([match protocol {
            "grpc" => Reply::Grpc(tonic::Status::unauthenticated("token expired")),
            _ => Reply::Http(401, None),
        }]);
        send(&agent, 4, 2).await;
        assert!(
            wait_until(Duration::from_secs(5), || state.items::<Traces>() == 6).await,
            "{protocol}"
        );
        assert_eq!(
            *server.issued.lock().unwrap(),
            issued_before + 2,
            "{protocol}"
        );
        assert_eq!(
            header(&sink, "authorization").unwrap(),
            format!("Bearer token-{}", issued_before + 2)
        );
        assert_eq!(agent.metrics.total("ignis_exporter_dropped_items", &[]), 0);
        agent.shutdown().await;
    }
    // Client credentials by basic auth, the grant type and the scopes in the form.
    assert_eq!(*server.last_auth.lock().unwrap(), "Basic YWdlbnQ6czNjcmV0");
    assert_eq!(
        *server.last_form.lock().unwrap(),
        "grant_type=client_credentials&scope=ingest%3Awrite"
    );
}

#[test]
fn plaintext_needs_insecure_and_one_credential_kind() {
    let load = |exporter: &str| {
        ignis_agent::components::load_str(
            &yaml(exporter, std::path::Path::new("/tmp/q")),
            "a.yaml",
            &|_| None,
        )
        .map_err(|e| e.to_string())
    };
    let err = load("    endpoint: http://ingest.example:4317").unwrap_err();
    assert!(err.contains("TLS only"), "{err}");
    let err =
        load("    endpoint: https://ingest.example:4317\n    api_key: a\n    api_key_file: /k")
            .unwrap_err();
    assert!(err.contains("one of api_key"), "{err}");
    load("    endpoint: ingest.example:4317\n    api_key: a").expect("TLS by default");
}

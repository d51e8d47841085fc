//! Failures that speak: an exporter that cannot deliver says so once at
//! WARN (what, why, when it retries), shows it in `/metrics` and
//! `/api/status`, and says when it recovers. Run with the binary, whose
//! logs are what an operator reads.

use crate::common;

use bytes::Bytes;
use common::client::{grpc_export, spans};
use common::process::{spawn_agent_logging, terminate, write_config};
use common::sink::Sink;
use common::wait_until;
use ignis_agent::signal::Traces;
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn get(url: String) -> String {
    reqwest::blocking::get(url)
        .expect("admin answers")
        .text()
        .unwrap()
}

fn lines(log: &Arc<Mutex<Vec<String>>>, words: &str) -> Vec<serde_json::Value> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(words))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn admin(log: &Arc<Mutex<Vec<String>>>) -> String {
    lines(log, "\"admin\"")
        .iter()
        .find_map(|l| l["address"].as_str().map(str::to_owned))
        .expect("the admin endpoint is logged")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_destination_is_said_once_then_its_recovery() {
    let port = crate::common::closed_port();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        &format!(
            r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }}
exporters:
  otlp_grpc:
    endpoint: http://127.0.0.1:{port}
    batch: {{ flush_timeout: 10ms }}
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 100ms, max_elapsed_time: 0 }}
service:
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp_grpc] }}
  telemetry: {{ logs: {{ level: info, format: json }} }}
"#
        ),
    );
    let (child, grpc, log) = spawn_agent_logging(&config);
    grpc_export::<Traces>(grpc, Bytes::from(spans(0, 5).encode_to_vec()), None)
        .await
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || !lines(&log, "cannot deliver")
            .is_empty())
        .await,
        "{:?}",
        log.lock().unwrap()
    );
    // Retries every 100 ms, but a second line only after 30 s.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let warned = lines(&log, "cannot deliver");
    assert_eq!(warned.len(), 1, "{warned:?}");
    let warning = &warned[0];
    assert_eq!(warning["level"], "WARN");
    assert_eq!(warning["exporter"], "otlp_grpc");
    assert_eq!(warning["signal"], "traces");
    assert_eq!(warning["attempt"], 1);
    assert_eq!(warning["batch_items"], 5);
    assert!(warning["retry_in_ms"].as_u64().is_some(), "{warning}");
    assert!(
        warning["error"].as_str().unwrap().contains("Unavailable"),
        "{warning}"
    );
    assert!(lines(&log, "still cannot deliver").is_empty());

    let admin = admin(&log);
    let (metrics, status) = {
        let admin = admin.clone();
        tokio::task::spawn_blocking(move || {
            (
                get(format!("http://{admin}/metrics")),
                get(format!("http://{admin}/api/status")),
            )
        })
        .await
        .unwrap()
    };
    assert!(
        metrics
            .contains("ignis_exporter_destination_up{exporter=\"otlp_grpc\",signal=\"traces\"} 0"),
        "{metrics}"
    );
    assert!(metrics.contains("ignis_exporter_retries{exporter=\"otlp_grpc\",signal=\"traces\"}"));
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let exporter = &status["exporters"][0];
    assert_eq!(exporter["exporter"], "otlp_grpc");
    assert_eq!(exporter["up"], false);
    assert!(exporter["last_error"]
        .as_str()
        .unwrap()
        .contains("Unavailable"));
    assert!(exporter["failing_since_unix_ms"].as_u64().is_some());

    // The destination comes back: one INFO line, and up again.
    let sink = Sink::start_at(port).await;
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 5).await);
    assert!(
        wait_until(Duration::from_secs(5), || !lines(
            &log,
            "delivery recovered"
        )
        .is_empty())
        .await
    );
    let recovered = &lines(&log, "delivery recovered")[0];
    assert_eq!(recovered["level"], "INFO");
    assert!(recovered["failed_attempts"].as_u64().unwrap() >= 1);
    let metrics = tokio::task::spawn_blocking(move || get(format!("http://{admin}/metrics")))
        .await
        .unwrap();
    assert!(metrics
        .contains("ignis_exporter_destination_up{exporter=\"otlp_grpc\",signal=\"traces\"} 1"));
    assert_eq!(terminate(child, Duration::from_secs(10)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_api_key_file_is_said_plainly() {
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("api-key");
    let config = write_config(
        &dir,
        &format!(
            r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }}
exporters:
  ignis:
    endpoint: http://{}
    insecure: true
    api_key_file: {}
    sending_queue: {{ storage: memory }}
    batch: {{ flush_timeout: 10ms }}
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 100ms }}
service:
  admin: {{ endpoint: "" }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [ignis] }}
  telemetry: {{ logs: {{ level: info, format: json }} }}
"#,
            sink.grpc,
            missing.display()
        ),
    );
    let (child, grpc, log) = spawn_agent_logging(&config);
    grpc_export::<Traces>(grpc, Bytes::from(spans(0, 1).encode_to_vec()), None)
        .await
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || !lines(&log, "cannot deliver")
            .is_empty())
        .await
    );
    let error = lines(&log, "cannot deliver")[0]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains(&format!("api_key_file {}", missing.display()))
            && error.contains("No such file"),
        "{error}"
    );
    // The key appears: delivered, with nothing lost.
    std::fs::write(&missing, "sk_test_key\n").unwrap();
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 1).await);
    assert_eq!(terminate(child, Duration::from_secs(10)).await, Some(0));
}

//! The status page in a real browser: Debian's chromium, headless, driven by
//! playwright-core (`interop/node/status_page.js`), against an agent under
//! load with one destination up and one refusing. The page draws its
//! charts, its figures move while the load runs, it asks nothing of any
//! host but the agent, and the console stays clean. The screenshot is left
//! at `target/status-page.png` (CI keeps it).

use crate::common;

use bytes::Bytes;
use common::client::{grpc_export, spans};
use common::python::node_script;
use common::sink::{Reply, Sink};
use common::{addr, start_agent, wait_until};
use ignis_agent::proto::common::v1::{any_value::Value, AnyValue, KeyValue};
use ignis_agent::signal::Traces;
use prost::Message;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Spans carrying an e-mail address, so the redaction chart has a line.
fn load(first: u64) -> Bytes {
    let mut request = spans(first, 20);
    for resource in &mut request.resource_spans {
        for scope in &mut resource.scope_spans {
            for span in &mut scope.spans {
                span.attributes.push(KeyValue {
                    key: "user.email".into(),
                    value: Some(AnyValue {
                        value: Some(Value::StringValue("jane.doe@example.com".into())),
                    }),
                    ..Default::default()
                });
            }
        }
    }
    Bytes::from(request.encode_to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_charts_live_figures_in_chromium() {
    let _alone = common::exclusive().await;
    assert!(
        Path::new(CHROMIUM).exists(),
        "Debian's chromium is needed for this test (apt-get install chromium)"
    );
    let up = Sink::start().await;
    let down = Sink::start().await;
    down.script(std::iter::repeat_n(
        Reply::Grpc(tonic::Status::unavailable("maintenance window")),
        100_000,
    ));
    let queue = tempfile::tempdir().unwrap();
    let agent = start_agent(&format!(
        r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }}
processors:
  memory_limiter: {{ limit_mib: 4096 }}
  redaction: {{}}
exporters:
  ignis:
    endpoint: http://{}
    insecure: true
    api_key: sk_test_page
    sending_queue: {{ directory: {} }}
    batch: {{ flush_timeout: 50ms }}
  otlp_grpc/backup:
    endpoint: http://{}
    batch: {{ flush_timeout: 50ms }}
    retry_on_failure: {{ initial_interval: 200ms, max_interval: 1s }}
service:
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [memory_limiter, redaction], exporters: [ignis, otlp_grpc/backup] }}
"#,
        up.grpc,
        queue.path().display(),
        down.grpc
    ))
    .await;
    let grpc = addr(&agent, "otlp/grpc");
    let admin = addr(&agent, "admin");

    // A steady load for as long as the browser looks: 200 spans/s.
    let running = Arc::new(AtomicBool::new(true));
    let sender = tokio::spawn({
        let running = Arc::clone(&running);
        async move {
            let mut first = 0;
            while running.load(Ordering::Relaxed) {
                grpc_export::<Traces>(grpc, load(first), None)
                    .await
                    .unwrap();
                first += 20;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let state = up.state.clone();
    assert!(wait_until(Duration::from_secs(10), || state.items::<Traces>() > 0).await);

    let screenshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/status-page.png");
    let url = format!("http://{admin}/");
    let shot = screenshot.to_str().unwrap().to_owned();
    let output = tokio::task::spawn_blocking(move || node_script("status_page.js", &[&url, &shot]))
        .await
        .unwrap();
    running.store(false, Ordering::Relaxed);
    sender.await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");

    // Nothing but the agent was asked for anything; nothing failed or
    // complained.
    assert_eq!(report["foreign"], serde_json::json!([]), "{report}");
    assert_eq!(report["failed"], serde_json::json!([]), "{report}");
    assert_eq!(report["console_errors"], serde_json::json!([]), "{report}");
    assert_eq!(report["page_errors"], serde_json::json!([]), "{report}");
    assert!(
        report["updated"].as_str().unwrap().starts_with("updated"),
        "{report}"
    );
    assert_eq!(report["ready"], "ready");

    // Every chart is drawn; those the load feeds have lines with points.
    let charts = report["charts"].as_array().unwrap();
    let ids: Vec<&str> = charts.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "received",
            "delivered",
            "lost",
            "queue_items",
            "queue_bytes",
            "queue_age",
            "retries",
            "latency",
            "memory",
            "redactions"
        ]
    );
    let line = |chart: &str, name: &str| -> u64 {
        let chart = charts.iter().find(|c| c["id"] == chart).unwrap();
        chart["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .map_or(0, |l| l["points"].as_u64().unwrap())
    };
    for (chart, name) in [
        ("received", "traces"),
        ("delivered", "traces"),
        ("queue_items", "ignis/traces"),
        ("queue_items", "otlp_grpc/backup/traces"),
        ("queue_age", "otlp_grpc/backup/traces"),
        ("retries", "otlp_grpc/backup/traces"),
        ("latency", "p50 ignis/traces"),
        ("latency", "p99 otlp_grpc/backup/traces"),
        ("memory", "resident"),
        ("redactions", "email"),
    ] {
        assert!(
            line(chart, name) >= 2,
            "{chart}: {name} not drawn: {report}"
        );
    }
    // The figures move while the load runs: over the four seconds the
    // browser watched, the received line was redrawn with new points.
    let before = &report["received_before"]["paths"];
    let after = &report["received_after"]["paths"];
    assert!(before.as_array().is_some_and(|p| !p.is_empty()), "{report}");
    assert_ne!(before, after, "{report}");

    // One destination up, one failing with what it said; the ledger shows
    // the ignis exporter's last batches.
    let destinations: Vec<&str> = report["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(
        destinations
            .iter()
            .any(|d| d.starts_with("ignis/traces") && d.contains("up")),
        "{destinations:?}"
    );
    assert!(
        destinations
            .iter()
            .any(|d| d.starts_with("otlp_grpc/backup/traces")
                && d.contains("failing since")
                && d.contains("maintenance window")),
        "{destinations:?}"
    );
    assert!(
        report["ledger_rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("confirmed")),
        "{report}"
    );
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000);
    agent.shutdown().await;
}

//! `threshold_alerts` over real sockets: spans in over OTLP/gRPC, an error
//! rate above its threshold for two windows, a firing log record out
//! through the logs pipeline to a destination, `ignis_alert_active` in
//! `/metrics`; the errors stop, and a resolved record follows.

use crate::common;

use common::client::{grpc_export, spans};
use common::sink::Sink;
use common::{addr, start_agent, wait_until};
use ignis_agent::proto::common::v1::any_value::Value;
use ignis_agent::proto::logs::v1::LogRecord;
use ignis_agent::proto::trace::v1::Status;
use ignis_agent::signal::{Logs, Traces};
use prost::Message;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// 10 spans of service `loadgen`, half failed while `failing`.
fn request(first: u64, failing: bool) -> bytes::Bytes {
    let mut request = spans(first, 10);
    for (i, span) in request.resource_spans[0].scope_spans[0]
        .spans
        .iter_mut()
        .enumerate()
    {
        let failed = failing && i % 2 == 0;
        span.status = Some(Status {
            code: if failed { 2 } else { 1 },
            message: String::new(),
        });
    }
    request.encode_to_vec().into()
}

fn records(logs: &[Logs]) -> Vec<LogRecord> {
    logs.iter()
        .flat_map(|l| &l.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| s.log_records.clone())
        .collect()
}

fn attribute(record: &LogRecord, key: &str) -> Option<Value> {
    record
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone()?.value)
}

fn metrics_text(admin: std::net::SocketAddr) -> String {
    reqwest::blocking::get(format!("http://{admin}/metrics"))
        .unwrap()
        .text()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_rate_fires_and_resolves_as_log_records() {
    let sink = Sink::start().await;
    let agent = start_agent(&format!(
        r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }}
connectors:
  threshold_alerts:
    window: 300ms
    rules:
      - name: checkout-errors
        measure: error_rate
        above: 0.05
        fire_after: 2
        resolve_after: 2
        severity: error
exporters:
  otlp_grpc:
    endpoint: http://{}
    batch: {{ flush_timeout: 20ms }}
service:
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [threshold_alerts] }}
    logs: {{ receivers: [threshold_alerts], exporters: [otlp_grpc] }}
"#,
        sink.grpc
    ))
    .await;
    let grpc = addr(&agent, "otlp/grpc");
    let admin = addr(&agent, "admin");
    let failing = Arc::new(AtomicBool::new(true));
    let running = Arc::new(AtomicBool::new(true));
    let sender = tokio::spawn({
        let (failing, running) = (Arc::clone(&failing), Arc::clone(&running));
        async move {
            let mut first = 0;
            while running.load(Ordering::Relaxed) {
                let body = request(first, failing.load(Ordering::Relaxed));
                grpc_export::<Traces>(grpc, body, None).await.unwrap();
                first += 10;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
    });

    let state = sink.state.clone();
    let states = || -> Vec<String> {
        records(&state.requests::<Logs>())
            .iter()
            .filter_map(|r| match attribute(r, "state") {
                Some(Value::StringValue(s)) => Some(s),
                _ => None,
            })
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(10), || !states().is_empty()).await,
        "no alert record"
    );
    let fired = records(&state.requests::<Logs>())[0].clone();
    assert_eq!(
        attribute(&fired, "state"),
        Some(Value::StringValue("firing".into()))
    );
    assert_eq!(fired.severity_number, 17);
    assert_eq!(fired.severity_text, "ERROR");
    assert_eq!(
        attribute(&fired, "rule"),
        Some(Value::StringValue("checkout-errors".into()))
    );
    assert_eq!(
        attribute(&fired, "service"),
        Some(Value::StringValue("loadgen".into()))
    );
    assert_eq!(
        attribute(&fired, "threshold"),
        Some(Value::DoubleValue(0.05))
    );
    assert_eq!(attribute(&fired, "window"), Some(Value::DoubleValue(0.3)));
    assert_eq!(attribute(&fired, "value"), Some(Value::DoubleValue(0.5)));
    let logs = state.requests::<Logs>();
    let resource = logs[0].resource_logs[0].resource.as_ref().unwrap();
    assert_eq!(resource.attributes[0].key, "service.name");
    let text = tokio::task::spawn_blocking(move || metrics_text(admin))
        .await
        .unwrap();
    assert!(
        text.contains(
            "ignis_alert_active{connector=\"threshold_alerts\",rule=\"checkout-errors\"} 1"
        ),
        "{text}"
    );

    // The errors stop: two good windows resolve it, once.
    failing.store(false, Ordering::Relaxed);
    assert!(
        wait_until(Duration::from_secs(10), || states()
            == ["firing", "resolved"])
        .await,
        "{:?}",
        states()
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(states(), ["firing", "resolved"]);
    let text = tokio::task::spawn_blocking(move || metrics_text(admin))
        .await
        .unwrap();
    assert!(
        text.contains(
            "ignis_alert_active{connector=\"threshold_alerts\",rule=\"checkout-errors\"} 0"
        ),
        "{text}"
    );
    running.store(false, Ordering::Relaxed);
    sender.await.unwrap();
    agent.shutdown().await;
}

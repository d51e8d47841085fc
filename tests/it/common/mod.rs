//! Shared by the integration tests: a real OTLP sink server, an agent started
//! on free ports, and OTLP clients from the official Rust SDK.
#![allow(dead_code)]

pub mod client;
pub mod process;
pub mod python;
pub mod sdk;
pub mod sink;

use ignis_agent::agent::Agent;
use ignis_agent::components;
use std::net::SocketAddr;
use std::time::Duration;

/// Starts an agent from YAML text (no environment lookups).
pub async fn start_agent(yaml: &str) -> Agent {
    let config =
        components::load_str(yaml, "test.yaml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    Agent::start(&config).await.expect("agent starts")
}

/// A local port nothing listens on: a destination that is down. The port
/// stays bound (not listening: connections are refused) for as long as this
/// lives, so no other test's socket takes it before `Sink::start_at` brings
/// the destination up on it. Displays as the port number.
pub struct ReservedPort {
    socket: tokio::net::TcpSocket,
    pub port: u16,
}

impl ReservedPort {
    /// Starts listening on the reserved port.
    pub fn listen(self) -> tokio::net::TcpListener {
        self.socket
            .listen(1024)
            .expect("listen on the reserved port")
    }
}

impl std::fmt::Display for ReservedPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.port)
    }
}

pub fn closed_port() -> ReservedPort {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    ReservedPort { socket, port }
}

pub fn addr(agent: &Agent, key: &str) -> SocketAddr {
    *agent
        .listening
        .get(key)
        .unwrap_or_else(|| panic!("{key} not listening"))
}

/// Held by a test that loads the machine for a while (a browser) and by a
/// test that measures how fast the agent recovers: on two cores the one
/// would time the other.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// Polls `check` until it holds or `timeout` passes; returns whether it held.
pub async fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An agent config receiving on free ports and exporting to `exporter_yaml`
/// (the body of an exporter named `out`, of type `kind`).
pub fn agent_yaml(kind: &str, exporter_yaml: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0" }}
      http: {{ endpoint: "127.0.0.1:0" }}
processors:
  # Several agents, the SDK and the sink share this test process: the
  # default limit (sized for one agent) would count all of them.
  memory_limiter: {{ limit_mib: 4096 }}
exporters:
  {kind}/out:
{exporter_yaml}
service:
  grace_period: 5s
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [memory_limiter], exporters: [{kind}/out] }}
    metrics: {{ receivers: [otlp], processors: [memory_limiter], exporters: [{kind}/out] }}
    logs: {{ receivers: [otlp], processors: [memory_limiter], exporters: [{kind}/out] }}
"#
    )
}

/// Exporter settings that flush fast and retry fast, for tests.
pub fn fast_delivery() -> &'static str {
    "    batch: { flush_timeout: 50ms }\n    retry_on_failure: { initial_interval: 50ms, max_interval: 200ms }\n"
}

//! Clients that hold resources without using them: a thousand idle
//! connections, headers trickled a byte at a time, a body never finished.
//! None of them blocks other clients, and each is let go in bounded time.

use crate::common;

use bytes::Bytes;
use common::client::{grpc_export, spans};
use common::process::{spawn_agent_logging, terminate, write_config};
use common::sink::Sink;
use common::wait_until;
use ignis_agent::signal::Traces;
use prost::Message;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Whether the server closed `stream` (a read gets end-of-file or a reset).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut byte = [0u8; 1024];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => return true,
            Ok(_) => continue, // an answer (408): read on to the close
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_do_not_block_others_and_are_let_go() {
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0", idle_timeout: 2s }}
      http: {{ endpoint: "127.0.0.1:0", read_header_timeout: 1s, read_timeout: 1s, idle_timeout: 2s }}
exporters:
  otlp_grpc:
    endpoint: http://{}
    batch: {{ flush_timeout: 10ms }}
service:
  admin: {{ endpoint: "" }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp_grpc] }}
  telemetry: {{ logs: {{ level: info, format: json }} }}
"#,
            sink.grpc
        ),
    );
    let (child, grpc, log) = spawn_agent_logging(&config);
    let http_address = || -> Option<SocketAddr> {
        log.lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["receiver"] == "otlp/http")
            .and_then(|l| l["address"].as_str()?.parse().ok())
    };
    assert!(wait_until(Duration::from_secs(5), || http_address().is_some()).await);
    let http = http_address().unwrap();

    // A thousand connections that never send a byte.
    let mut idle: Vec<TcpStream> = (0..1000)
        .map(|i| TcpStream::connect(if i % 2 == 0 { http } else { grpc }).unwrap())
        .collect();
    // Headers trickled a byte at a time, and a body that never ends.
    let mut trickle = TcpStream::connect(http).unwrap();
    let mut unfinished = TcpStream::connect(http).unwrap();
    unfinished
        .write_all(b"POST /v1/traces HTTP/1.1\r\nHost: agent\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100000\r\n\r\npartial")
        .unwrap();
    let trickler = std::thread::spawn(move || {
        let head =
            b"POST /v1/traces HTTP/1.1\r\nHost: agent\r\nContent-Type: application/x-protobuf\r\n";
        let started = Instant::now();
        for byte in head {
            if trickle.write_all(&[*byte]).is_err() {
                return Some(started.elapsed()); // cut off
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    });

    // Meanwhile, other clients are served at once, over both protocols.
    for n in 0..5u64 {
        let started = Instant::now();
        grpc_export::<Traces>(grpc, Bytes::from(spans(n * 10, 10).encode_to_vec()), None)
            .await
            .expect("served");
        let url = format!("http://{http}/v1/traces");
        let body = spans(100 + n * 10, 10).encode_to_vec();
        let status = tokio::task::spawn_blocking(move || {
            reqwest::blocking::Client::new()
                .post(url)
                .header("content-type", "application/x-protobuf")
                .body(body)
                .send()
                .unwrap()
                .status()
        })
        .await
        .unwrap();
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "slowed: {:?}",
            started.elapsed()
        );
    }
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 100).await);

    // The unfinished body is answered 408 after read_timeout.
    let mut answer = String::new();
    unfinished
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = unfinished.read(&mut buf).unwrap_or(0);
    answer.push_str(&String::from_utf8_lossy(&buf[..n]));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // The trickler is cut off after read_header_timeout (1 s), well before
    // its ~9 s of headers are through.
    let cut = tokio::task::spawn_blocking(move || trickler.join().unwrap())
        .await
        .unwrap();
    let cut = cut.expect("the trickling client was cut off");
    assert!(cut < Duration::from_secs(5), "cut after {cut:?}");

    // The idle ones are closed after idle_timeout (2 s).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let still_open = idle
        .iter_mut()
        .map(closed_by_server)
        .filter(|closed| !closed)
        .count();
    assert_eq!(still_open, 0, "{still_open} idle connections still open");
    assert_eq!(terminate(child, Duration::from_secs(10)).await, Some(0));
}

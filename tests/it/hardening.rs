//! Clients that hold resources without using them: a thousand idle
//! connections, headers trickled a byte at a time, a body never finished,
//! answers never read, pings by the hundred. None of them blocks other
//! clients or holds memory, and each is let go in bounded time. gRPC
//! connections are aged out without a call failing.

use crate::common;

use bytes::Bytes;
use common::client::{grpc_export, spans};
use common::process::{logged_address, memory_mib, spawn_agent_logging, terminate, write_config};
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

/// A client that pipelines small requests on one connection and never
/// reads; returns how long until the agent closed the connection on it.
fn deaf_client(http: SocketAddr) -> std::thread::JoinHandle<Duration> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let stream = runtime.block_on(socket.connect(http)).unwrap();
        let mut stream = stream.into_std().unwrap();
        stream.set_nonblocking(false).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let request = b"POST /v1/traces HTTP/1.1\r\nHost: agent\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n";
        let started = Instant::now();
        let mut stalled_at: Option<Instant> = None;
        loop {
            let before = Instant::now();
            match stream.write_all(request) {
                Ok(()) if before.elapsed() > Duration::from_millis(200) => {
                    stalled_at.get_or_insert(before);
                }
                Ok(()) => {}
                Err(e) => {
                    assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "never closed");
                    assert_ne!(e.kind(), std::io::ErrorKind::TimedOut, "never closed");
                    // From when the agent could no longer send.
                    return stalled_at.unwrap_or(started).elapsed();
                }
            }
        }
    })
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
      http: {{ endpoint: "127.0.0.1:0", read_header_timeout: 1s, read_timeout: 1s, idle_timeout: 2s, write_timeout: 1s }}
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
    let http = logged_address(&log, "otlp/http").await;

    // Warm: one request over each protocol, so what is measured next is
    // what the slow clients hold.
    grpc_export::<Traces>(grpc, Bytes::from(spans(1000, 1).encode_to_vec()), None)
        .await
        .expect("served");
    let rss_before = memory_mib(child.id(), "VmRSS");

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

    // One that sends requests without ever reading an answer: once its
    // answers fill the socket, the agent's write stalls and the connection
    // is closed after write_timeout (1 s). Its writes then fail.
    let deaf = deaf_client(http);

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
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 101).await);

    // All those connections hold little: hyper's buffers, no request bodies.
    let rss_during = memory_mib(child.id(), "VmRSS");
    assert!(
        rss_during < rss_before + 24,
        "{rss_before} MiB before, {rss_during} MiB with 1,000 idle and 3 slow clients"
    );

    let cut = tokio::task::spawn_blocking(move || deaf.join().unwrap())
        .await
        .unwrap();
    assert!(
        cut < Duration::from_secs(6),
        "the client that does not read was let go after {cut:?}"
    );

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

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An HTTP/2 frame: 24-bit length, type, flags, stream 0.
fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags, 0, 0, 0, 0];
    f.extend_from_slice(payload);
    f
}

/// An HTTP/2 connection opened by hand: preface and empty SETTINGS.
fn open_h2(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(PREFACE).unwrap();
    stream.write_all(&frame(0x4, 0, &[])).unwrap();
    stream
}

/// Whether the server sends a GOAWAY frame on `stream` within `within`.
fn goaway_within(stream: &mut TcpStream, within: Duration) -> bool {
    const GOAWAY: u8 = 0x7;
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let deadline = Instant::now() + within;
    let mut buf = Vec::new();
    while Instant::now() < deadline {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return false,
        }
        let mut at = 0;
        while buf.len() >= at + 9 {
            if buf[at + 3] == GOAWAY {
                return true;
            }
            let len = u32::from_be_bytes([0, buf[at], buf[at + 1], buf[at + 2]]) as usize;
            if buf.len() < at + 9 + len {
                break;
            }
            at += 9 + len;
        }
        buf.drain(..at);
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_keepalive_sends_ping_floods_away_and_ages_connections_without_failing_a_call() {
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: "127.0.0.1:0"
        keepalive:
          server_parameters: {{ max_connection_age: 1s, max_connection_age_grace: 5s }}
          enforcement_policy: {{ min_time: 10s }}
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
    let (child, grpc) = common::process::spawn_agent(&config);

    // Pings back to back, 10 s apart expected: the fourth is one too many.
    let flood = tokio::task::spawn_blocking(move || {
        let mut flood = open_h2(grpc);
        for i in 0..5u8 {
            flood.write_all(&frame(0x6, 0, &[i; 8])).unwrap();
        }
        goaway_within(&mut flood, Duration::from_millis(700))
    });
    // One ping is fine; the connection is asked to go away at its age (1 s).
    let calm = tokio::task::spawn_blocking(move || {
        let mut calm = open_h2(grpc);
        calm.write_all(&frame(0x6, 0, &[9; 8])).unwrap();
        let early = goaway_within(&mut calm, Duration::from_millis(600));
        let aged = goaway_within(&mut calm, Duration::from_secs(3));
        (early, aged)
    });
    assert!(flood.await.unwrap(), "a ping flood was not sent away");
    assert_eq!(calm.await.unwrap(), (false, true), "(early, at its age)");

    // A real client calling across several ages of its connection: every
    // call is answered, every span delivered.
    let mut client = common::client::connect(grpc).await.unwrap();
    for n in 0..12u64 {
        let body = Bytes::from(spans(n * 10, 10).encode_to_vec());
        common::client::export_on::<Traces>(&mut client, body, None)
            .await
            .unwrap_or_else(|e| panic!("call {n} failed across a connection's age: {e}"));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 120).await);
    assert_eq!(terminate(child, Duration::from_secs(10)).await, Some(0));
}

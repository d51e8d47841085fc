//! The `ignis-agent` binary: validate, start, SIGTERM drain, start errors.

use crate::common;

use bytes::Bytes;
use common::client::{grpc_export, span_numbers, spans};
use common::process::{
    spawn_agent, spawn_agent_logging, spawn_agent_on_one_cpu, spawn_agent_watching, terminate,
    write_config, BIN,
};
use common::sink::{Reply, Sink};
use common::wait_until;
use ignis_agent::signal::Traces;
use prost::Message;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn version_and_help() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("validate") && help.contains("--config"),
        "{help}"
    );
}

#[test]
fn validate_reports_every_error_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_config(
        &dir,
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml")).unwrap(),
    );
    let out = Command::new(BIN)
        .args(["validate", "--config"])
        .arg(&good)
        .env("IGNIS_API_KEY", "sk_live_TOPSECRET")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("TOPSECRET"));

    let bad = write_config(
        &dir,
        r#"receivers:
  otlp: { protocols: { grpc: { max_recv_msg_size_mib: "${env:IGNIS_API_KEY}" } } }
exporters:
  otlp:
    endpoint: http://127.0.0.1:1
    timeot: 5s
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [otlp, nope] }
"#,
    );
    let out = Command::new(BIN)
        .args(["validate", "--config"])
        .arg(&bad)
        .env("IGNIS_API_KEY", "sk_live_TOPSECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("agent.yaml:"))
        .collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(lines[0].contains("agent.yaml:2:"), "{stderr}");
    assert!(
        lines[1].contains("agent.yaml:6:5:") && lines[1].contains("timeot"),
        "{stderr}"
    );
    assert!(
        lines[2].contains("agent.yaml:9:") && lines[2].contains("`nope`"),
        "{stderr}"
    );
    assert!(!stderr.contains("TOPSECRET"), "secret printed: {stderr}");
}

fn agent_config(sink: &Sink, flush_timeout: &str) -> String {
    format!(
        r#"receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }}
exporters:
  otlp_grpc:
    endpoint: http://{}
    batch: {{ flush_timeout: {flush_timeout} }}
    retry_on_failure: {{ initial_interval: 200ms, max_interval: 200ms }}
service:
  grace_period: 10s
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp_grpc] }}
  telemetry: {{ logs: {{ level: info, format: json }} }}
"#,
        sink.grpc
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_delivers_what_is_queued_and_exits_zero() {
    let sink = Sink::start().await;
    // The destination refuses a few times, so data is still queued at SIGTERM.
    sink.script([
        Reply::Grpc(tonic::Status::unavailable("warming up")),
        Reply::Grpc(tonic::Status::unavailable("warming up")),
        Reply::Grpc(tonic::Status::unavailable("warming up")),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &agent_config(&sink, "10ms"));
    let (child, grpc) = spawn_agent(&config);
    for i in 0..5u64 {
        grpc_export::<Traces>(grpc, Bytes::from(spans(i * 10, 10).encode_to_vec()), None)
            .await
            .expect("acknowledged");
    }
    assert!(sink.state.items::<Traces>() < 50, "still queued");
    assert_eq!(terminate(child, Duration::from_secs(15)).await, Some(0));
    assert_eq!(
        span_numbers(&sink.state.requests::<Traces>()),
        (0..50).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_the_destination_down_exits_zero_and_says_what_stayed() {
    // Nothing listens on the destination port; one exporter queues on
    // disk, one in memory. The grace period runs out with both holding data.
    let dir = tempfile::tempdir().unwrap();
    let port = crate::common::closed_port();
    let config = write_config(
        &dir,
        &format!(
            r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }}
exporters:
  otlp_grpc/disk:
    endpoint: http://127.0.0.1:{port}
    sending_queue: {{ storage: disk, directory: "{}" }}
    retry_on_failure: {{ initial_interval: 50ms, max_elapsed_time: 0 }}
  otlp_grpc/memory:
    endpoint: http://127.0.0.1:{port}
    retry_on_failure: {{ initial_interval: 50ms, max_elapsed_time: 0 }}
  # Its senders end at once: the others' are still retrying at the deadline.
  debug:
service:
  grace_period: 1s
  admin: {{ endpoint: "" }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [debug, otlp_grpc/disk, otlp_grpc/memory] }}
  telemetry: {{ logs: {{ level: info, format: json }} }}
"#,
            dir.path().join("queue").display()
        ),
    );
    let (child, grpc, log) = spawn_agent_logging(&config);
    grpc_export::<Traces>(grpc, Bytes::from(spans(0, 10).encode_to_vec()), None)
        .await
        .expect("acknowledged");
    assert_eq!(terminate(child, Duration::from_secs(10)).await, Some(0));
    let log = log.lock().unwrap().join("\n");
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        log.contains("left in the disk queue") && log.contains(r#""items":10"#),
        "says what the disk queue kept: {log}"
    );
    assert!(
        log.contains(r#""left_on_disk":10"#) && log.contains(r#""dropped":10"#),
        "the last line counts what stayed and what was dropped: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_a_partial_batch_at_once() {
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A batch would wait a minute to fill; shutdown must not.
    let config = write_config(&dir, &agent_config(&sink, "60s"));
    let (child, grpc) = spawn_agent(&config);
    grpc_export::<Traces>(grpc, Bytes::from(spans(0, 7).encode_to_vec()), None)
        .await
        .unwrap();
    let state = sink.state.clone();
    assert!(!wait_until(Duration::from_millis(300), || state.items::<Traces>() > 0).await);
    let started = Instant::now();
    assert_eq!(terminate(child, Duration::from_secs(10)).await, Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(state.items::<Traces>(), 7);
}

#[test]
fn a_taken_port_is_a_clear_start_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        &format!(
            "receivers:\n  otlp: {{ protocols: {{ grpc: {{ endpoint: \"127.0.0.1:{port}\" }} }} }}\nexporters:\n  debug:\nservice:\n  admin: {{ endpoint: \"127.0.0.1:0\" }}\n  pipelines:\n    logs: {{ receivers: [otlp], exporters: [debug] }}\n"
        ),
    );
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot listen on 127.0.0.1:") && stderr.contains(&port.to_string()),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_a_good_config_and_refuses_a_bad_one() {
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let with_header = |tenant: &str| {
        agent_config(&sink, "10ms").replace(
            "    batch: {",
            &format!("    headers: {{ x-tenant: {tenant} }}\n    batch: {{"),
        )
    };
    let config = write_config(&dir, &with_header("first"));
    let (child, addresses) = spawn_agent_watching(&config);
    let grpc = addresses.recv_timeout(Duration::from_secs(10)).unwrap();
    grpc_export::<Traces>(grpc, Bytes::from(spans(0, 1).encode_to_vec()), None)
        .await
        .unwrap();
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 1).await);
    let tenant = || {
        state.last_headers.lock().unwrap()["x-tenant"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(tenant(), "first");

    // A broken config is refused; the agent keeps serving with the old one.
    std::fs::write(&config, "receivers: [not, a, mapping]\n").unwrap();
    common::process::signal(&child, "-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    grpc_export::<Traces>(grpc, Bytes::from(spans(1, 1).encode_to_vec()), None)
        .await
        .expect("still serving");
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 2).await);

    // A good one takes over (the receiver's port changes: it is 0 in the config).
    std::fs::write(&config, with_header("second")).unwrap();
    common::process::signal(&child, "-HUP");
    let grpc = tokio::task::spawn_blocking(move || addresses.recv_timeout(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("the new receiver's address");
    grpc_export::<Traces>(grpc, Bytes::from(spans(2, 1).encode_to_vec()), None)
        .await
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 3).await);
    assert_eq!(tenant(), "second", "the new exporter settings are in force");
    assert_eq!(terminate(child, Duration::from_secs(10)).await, Some(0));
}

/// On one CPU the agent runs a current-thread runtime: a reload must still
/// close its listeners before binding the same (fixed) addresses again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_one_cpu_a_reload_rebinds_the_same_ports() {
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (grpc_port, admin_port) = (free_port(), free_port());
    let config = agent_config(&sink, "10ms")
        .replace(
            r#"grpc: { endpoint: "127.0.0.1:0" }"#,
            &format!(r#"grpc: {{ endpoint: "127.0.0.1:{grpc_port}" }}"#),
        )
        .replace(
            r#"admin: { endpoint: "127.0.0.1:0" }"#,
            &format!(r#"admin: {{ endpoint: "127.0.0.1:{admin_port}" }}"#),
        );
    assert!(config.contains(&grpc_port.to_string()) && config.contains(&admin_port.to_string()));
    let config = write_config(&dir, &config);
    let Some((child, addresses)) = spawn_agent_on_one_cpu(&config) else {
        eprintln!("taskset is not available; skipped");
        return;
    };
    let grpc = addresses.recv_timeout(Duration::from_secs(10)).unwrap();
    grpc_export::<Traces>(grpc, Bytes::from(spans(0, 1).encode_to_vec()), None)
        .await
        .unwrap();
    common::process::signal(&child, "-HUP");
    let again =
        tokio::task::spawn_blocking(move || addresses.recv_timeout(Duration::from_secs(10)))
            .await
            .unwrap()
            .expect("the receiver listens again after the reload");
    assert_eq!(again, grpc);
    grpc_export::<Traces>(grpc, Bytes::from(spans(1, 1).encode_to_vec()), None)
        .await
        .unwrap();
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(5), || state.items::<Traces>() == 2).await);
    assert_eq!(terminate(child, Duration::from_secs(10)).await, Some(0));
}

/// Streams requests through the agent while it reloads `reloads` times
/// (alternating a processor setting, exporters and receivers unchanged);
/// returns the slowest call. Every call must succeed.
async fn stream_through_reloads(
    child: &std::process::Child,
    config: &std::path::Path,
    grpc: std::net::SocketAddr,
    yaml: &str,
    reloads: usize,
) -> Duration {
    stream_through(child, config, grpc, yaml, reloads, false).await
}

/// As `stream_through_reloads`; with `change_exporter`, each reload also
/// changes the exporter's settings (a header), so it is replaced.
async fn stream_through(
    child: &std::process::Child,
    config: &std::path::Path,
    grpc: std::net::SocketAddr,
    yaml: &str,
    reloads: usize,
    change_exporter: bool,
) -> Duration {
    let variant = |n: usize| {
        let yaml = if change_exporter {
            yaml.replace(
                "    batch: {",
                &format!("    headers: {{ x-reload: \"{n}\" }}\n    batch: {{"),
            )
        } else {
            yaml.to_owned()
        };
        yaml.replace(
            "exporters:\n",
            &format!("processors:\n  resource: {{ actions: [{{ key: reload, action: upsert, value: \"{n}\" }}] }}\nexporters:\n"),
        )
        .replace(
            "traces: { receivers: [otlp], exporters",
            "traces: { receivers: [otlp], processors: [resource], exporters",
        )
    };
    let mut slowest = Duration::ZERO;
    let mut next = 0u64;
    for reload in 0..=reloads {
        if reload > 0 {
            std::fs::write(config, variant(reload)).unwrap();
            common::process::signal(child, "-HUP");
        }
        // Keep sending across the reload: 25 calls, 20 ms apart.
        for _ in 0..25 {
            let started = Instant::now();
            grpc_export::<Traces>(grpc, Bytes::from(spans(next, 10).encode_to_vec()), None)
                .await
                .unwrap_or_else(|e| panic!("refused during reload {reload}: {e:?}"));
            slowest = slowest.max(started.elapsed());
            next += 10;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    slowest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_streaming_through_reloads_sees_no_gap_and_loses_nothing() {
    // The destination up: everything arrives as it goes.
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = agent_config(&sink, "10ms");
    let config = write_config(&dir, &yaml);
    let (child, grpc) = spawn_agent(&config);
    let slowest = stream_through_reloads(&child, &config, grpc, &yaml, 3).await;
    assert!(slowest < Duration::from_secs(1), "a call took {slowest:?}");
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(10), || state.items::<Traces>() == 1000).await);
    assert_eq!(
        span_numbers(&state.requests::<Traces>()),
        (0..1000).collect::<Vec<_>>()
    );
    assert_eq!(terminate(child, Duration::from_secs(10)).await, Some(0));

    // The exporter's settings change at every reload: it is replaced, the
    // old one delivering what it held; still no refusal, nothing lost.
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = agent_config(&sink, "10ms");
    let config = write_config(&dir, &yaml);
    let (child, grpc) = spawn_agent(&config);
    let slowest = stream_through(&child, &config, grpc, &yaml, 3, true).await;
    assert!(slowest < Duration::from_secs(1), "a call took {slowest:?}");
    let state = sink.state.clone();
    assert!(wait_until(Duration::from_secs(10), || state.items::<Traces>() >= 1000).await);
    let mut delivered = span_numbers(&state.requests::<Traces>());
    delivered.dedup();
    assert_eq!(delivered, (0..1000).collect::<Vec<_>>());
    assert_eq!(
        state.last_headers.lock().unwrap()["x-reload"]
            .to_str()
            .unwrap(),
        "3",
        "the last exporter settings are in force"
    );
    assert_eq!(terminate(child, Duration::from_secs(10)).await, Some(0));

    // The destination down: the kept queue holds everything through the
    // reloads, and delivers it all once the destination is back.
    let port = crate::common::closed_port();
    let mut sink_yaml = agent_config(&sink, "10ms");
    sink_yaml = sink_yaml.replace(&sink.grpc.to_string(), &format!("127.0.0.1:{port}"));
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &sink_yaml);
    let (child, grpc) = spawn_agent(&config);
    let slowest = stream_through_reloads(&child, &config, grpc, &sink_yaml, 3).await;
    assert!(slowest < Duration::from_secs(1), "a call took {slowest:?}");
    let back = Sink::start_at(port).await;
    let state = back.state.clone();
    assert!(
        wait_until(Duration::from_secs(15), || state.items::<Traces>() >= 1000).await,
        "delivered {} of 1000 after the destination came back",
        state.items::<Traces>()
    );
    let mut delivered = span_numbers(&state.requests::<Traces>());
    delivered.dedup();
    assert_eq!(delivered, (0..1000).collect::<Vec<_>>());
    assert_eq!(terminate(child, Duration::from_secs(10)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_level_and_format_reload() {
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = agent_config(&sink, "10ms");
    let config = write_config(&dir, &yaml);
    let (child, _grpc, log) = spawn_agent_logging(&config);
    let reloaded = |log: &Vec<String>| log.iter().filter(|l| l.contains("reloaded")).count();

    std::fs::write(&config, yaml.replace("level: info", "level: warn")).unwrap();
    common::process::signal(&child, "-HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(reloaded(&log.lock().unwrap()), 0, "info is off at warn");

    std::fs::write(&config, yaml.replace("format: json", "format: text")).unwrap();
    common::process::signal(&child, "-HUP");
    let text = wait_until(Duration::from_secs(5), || {
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("reloaded") && !l.starts_with('{'))
    })
    .await;
    assert!(text, "info is back, as text: {:?}", log.lock().unwrap());
    assert!(
        log.lock().unwrap().iter().all(|l| !l.contains('\u{1b}')),
        "no colour codes into a pipe"
    );
    assert_eq!(terminate(child, Duration::from_secs(10)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_inspect_export_and_replay_what_kill_9_left() {
    let port = crate::common::closed_port();
    let dir = tempfile::tempdir().unwrap();
    let queue_dir = dir.path().join("queue");
    let config = write_config(
        &dir,
        &format!(
            r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }}
exporters:
  otlp_grpc/backup:
    endpoint: http://127.0.0.1:{port}
    sending_queue: {{ storage: disk, directory: "{}" }}
service:
  admin: {{ endpoint: "" }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp_grpc/backup] }}
  telemetry: {{ logs: {{ level: info, format: json }} }}
"#,
            queue_dir.display()
        ),
    );
    let (mut child, grpc) = spawn_agent(&config);
    for n in 0..4u64 {
        grpc_export::<Traces>(grpc, Bytes::from(spans(n * 10, 10).encode_to_vec()), None)
            .await
            .expect("acknowledged once on disk");
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let queue = |args: &[&str]| {
        let out = Command::new(BIN).arg("queue").args(args).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let dir_arg = queue_dir.display().to_string();
    let (inspected, _) = queue(&["inspect", "--dir", &dir_arg]);
    assert!(
        inspected.contains("otlp_grpc_backup/traces: 4 records, 40 items"),
        "{inspected}"
    );

    let out = dir.path().join("export.jsonl");
    let out_arg = out.display().to_string();
    let (_, said) = queue(&[
        "export",
        "--dir",
        &dir_arg,
        "--exporter",
        "otlp_grpc/backup",
        "--out",
        &out_arg,
    ]);
    assert!(
        said.contains("exported 4 requests (40 items); skipped 0"),
        "{said}"
    );
    let exported: Vec<Traces> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("OTLP/JSON"))
        .collect();
    assert_eq!(span_numbers(&exported), (0..40).collect::<Vec<_>>());

    // Damage one record: it is skipped and counted, the others exported;
    // nothing is removed.
    let segment = std::fs::read_dir(queue_dir.join("otlp_grpc_backup/traces"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 0xff;
    std::fs::write(&segment, &bytes).unwrap();
    let (_, said) = queue(&["export", "--dir", &dir_arg, "--out", "-"]);
    assert!(
        said.contains("exported 3 requests (30 items); skipped 1"),
        "{said}"
    );
    let (inspected, _) = queue(&["inspect", "--dir", &dir_arg]);
    assert!(
        inspected.contains("3 records, 30 items") && inspected.contains("1 damaged"),
        "{inspected}"
    );

    // Replay to a destination that takes one request, then is unavailable:
    // what it took is removed, the rest stays, and the command says why it
    // stopped (exit 1).
    let destination = Sink::start().await;
    destination.script([Reply::Ok, Reply::Http(503, None)]);
    let to = format!("http://{}", destination.http);
    let replay = Command::new(BIN)
        .args(["queue", "replay", "--dir", &dir_arg, "--to", &to])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&replay.stderr);
    assert_eq!(replay.status.code(), Some(1), "{said}");
    assert!(
        said.contains("replayed 1 requests (10 items)") && said.contains("stopped"),
        "{said}"
    );
    let (inspected, _) = queue(&["inspect", "--dir", &dir_arg]);
    assert!(inspected.contains("2 records, 20 items"), "{inspected}");
    // Again, the destination back: the rest goes, the queue is empty.
    let (_, said) = queue(&["replay", "--dir", &dir_arg, "--to", &to]);
    assert!(
        said.contains("replayed 2 requests (20 items); 0 left"),
        "{said}"
    );
    let delivered = destination.state.requests::<Traces>();
    let mut numbers = span_numbers(&delivered);
    numbers.sort_unstable();
    assert_eq!(numbers.len(), 30, "the three undamaged requests, once each");
    let (inspected, _) = queue(&["inspect", "--dir", &dir_arg]);
    assert!(inspected.contains("0 records"), "{inspected}");
}

/// README's first run, as a newcomer does it: no config (the built-in
/// default on its fixed localhost ports), the README's own curl payload,
/// then what README says to watch: the batch line, the OTLP/JSON file and
/// the status page. The log goes to a pipe here: no colour codes in it.
#[test]
fn the_readme_first_run_prints_writes_and_serves_the_page() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let payload = readme
        .split("-d '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("README's curl payload");
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Command::new(BIN)
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let log = log.clone();
        let stderr = agent.stderr.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        })
    };
    let logged = |text: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if log.lock().unwrap().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    };
    assert!(
        logged("the status page is at http://127.0.0.1:13133/"),
        "{}",
        log.lock().unwrap()
    );
    let client = reqwest::blocking::Client::new();
    let sent = client
        .post("http://127.0.0.1:4318/v1/logs")
        .header("content-type", "application/json")
        .body(payload.to_owned())
        .send()
        .unwrap();
    assert_eq!(sent.status(), 200);
    assert!(
        logged("INFO batch exporter=debug signal=\"logs\" items=1"),
        "{}",
        log.lock().unwrap()
    );
    let page = client
        .get("http://127.0.0.1:13133/")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("<title>ignis-agent</title>"));
    common::process::sigterm(&agent);
    assert_eq!(agent.wait().unwrap().code(), Some(0));
    reader.join().unwrap();
    let written = std::fs::read_to_string(dir.path().join("ignis-agent-telemetry.jsonl")).unwrap();
    assert!(written.contains("hello, ignis-agent"), "{written}");
    let log = log.lock().unwrap();
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a piped log: {log}"
    );
}

/// `ignis-agent redact`: OTLP/JSON lines in (as the `file` exporter writes
/// them), the same lines redacted out, the findings on standard error; a
/// line that is not OTLP/JSON is left out and named, with exit status 1.
#[test]
fn redact_runs_the_configs_redaction_over_otlp_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:0" } } }
processors:
  redaction: { detector_actions: { ipv4: report } }
exporters:
  debug: {}
service:
  pipelines:
    logs: { receivers: [otlp], processors: [redaction], exporters: [debug] }
"#,
    );
    let line = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"login passwd=hunter2xyz from 203.0.113.9 card 4111 1111 1111 1111"}}]}]}]}"#;
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, format!("{line}\nnot json\n{line}\n")).unwrap();
    let out = Command::new(BIN)
        .args(["redact", "--config"])
        .arg(&config)
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for line in lines {
        assert!(
            !line.contains("hunter2xyz") && !line.contains("4111 1111"),
            "{line}"
        );
        // `report`: found, counted, left as it was.
        assert!(line.contains("203.0.113.9"), "{line}");
        let _: serde_json::Value = serde_json::from_str(line).unwrap();
    }
    assert!(stderr.contains("line 2:"), "{stderr}");
    assert!(stderr.contains("redacted"), "{stderr}");
    assert!(
        stderr.contains("found") && stderr.contains("ipv4 (network) in log.body"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2xyz") && !stderr.contains("203.0.113.9"),
        "{stderr}"
    );
}

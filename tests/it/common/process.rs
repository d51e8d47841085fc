//! Running the agent binary: start it, find its port, signal it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_ignis-agent");

pub fn write_config(dir: &tempfile::TempDir, yaml: &str) -> std::path::PathBuf {
    let path = dir.path().join("agent.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// Starts the binary; returns it and the gRPC address it logged.
pub fn spawn_agent(config: &std::path::Path) -> (Child, SocketAddr) {
    let (child, addresses) = spawn_agent_watching(config);
    let addr = addresses
        .recv_timeout(Duration::from_secs(10))
        .expect("agent logs its address");
    (child, addr)
}

/// Starts the binary; every gRPC address it logs (again after a reload)
/// arrives on the channel.
pub fn spawn_agent_watching(
    config: &std::path::Path,
) -> (Child, std::sync::mpsc::Receiver<SocketAddr>) {
    spawn_agent_watching_in(Command::new(BIN), config)
}

/// As `spawn_agent_watching`, pinned to one CPU with `taskset` (so the
/// agent runs its single-CPU runtime); `None` without taskset.
pub fn spawn_agent_on_one_cpu(
    config: &std::path::Path,
) -> Option<(Child, std::sync::mpsc::Receiver<SocketAddr>)> {
    let available = Command::new("taskset")
        .args(["-c", "0", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        return None;
    }
    let mut command = Command::new("taskset");
    command.args(["-c", "0", BIN]);
    Some(spawn_agent_watching_in(command, config))
}

/// As `spawn_agent`, also keeping every line the agent logs.
pub fn spawn_agent_logging(
    config: &std::path::Path,
) -> (
    Child,
    SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (child, addresses) = spawn_agent_in(Command::new(BIN), config, Some(log.clone()));
    let addr = addresses
        .recv_timeout(Duration::from_secs(10))
        .expect("agent logs its address");
    (child, addr, log)
}

/// The address `receiver` (`otlp/http`, `admin`, ..) listens on, read
/// from the log of `spawn_agent_logging`; waits up to 5 s for it.
pub async fn logged_address(log: &std::sync::Mutex<Vec<String>>, receiver: &str) -> SocketAddr {
    let find = || -> Option<SocketAddr> {
        log.lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["receiver"] == receiver)
            .and_then(|l| l["address"].as_str()?.parse().ok())
    };
    assert!(
        super::wait_until(Duration::from_secs(5), || find().is_some()).await,
        "{receiver} logged no address"
    );
    find().unwrap()
}

fn spawn_agent_watching_in(
    command: Command,
    config: &std::path::Path,
) -> (Child, std::sync::mpsc::Receiver<SocketAddr>) {
    spawn_agent_in(command, config, None)
}

fn spawn_agent_in(
    mut command: Command,
    config: &std::path::Path,
    log: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
) -> (Child, std::sync::mpsc::Receiver<SocketAddr>) {
    let mut child = command
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(log) = &log {
                log.lock().unwrap().push(line.clone());
            }
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if v["receiver"] == "otlp/grpc" {
                    let _ = tx.send(
                        v["address"]
                            .as_str()
                            .unwrap()
                            .parse::<SocketAddr>()
                            .unwrap(),
                    );
                }
            }
        }
    });
    (child, rx)
}

pub fn sigterm(child: &Child) {
    signal(child, "-TERM");
}

/// Sends `which` (`-TERM`, `-HUP`, ...) to `child` with kill(1).
pub fn signal(child: &Child, which: &str) {
    let status = Command::new("kill")
        .args([which, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

/// SIGTERM, then the exit code once the process has exited (`None` if it
/// did not within `timeout`: it is then killed).
pub async fn terminate(mut child: Child, timeout: Duration) -> Option<i32> {
    sigterm(&child);
    tokio::task::spawn_blocking(move || wait_exit(&mut child, timeout))
        .await
        .unwrap()
        .and_then(|status| status.code())
}

/// A figure of the process's memory from `/proc/<pid>/status` (`VmRSS`,
/// `VmHWM`: the peak), in MiB.
pub fn memory_mib(pid: u32, figure: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(figure) && l[figure.len()..].starts_with(':'))
        .unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

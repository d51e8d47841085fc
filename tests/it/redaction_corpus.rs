//! The redaction corpus, on data we did not write: `interop/redaction_corpus.py`
//! generates ≥ 3,000 secrets and ≥ 3,000 look-alikes from the published
//! formats (validity from python-stdnum and libphonenumber, tokens from the
//! vendors' documented shapes), plants each in every location and text
//! shape, and encodes the requests with the official opentelemetry-proto
//! package. They go through an agent with `redaction: {}` over OTLP/gRPC
//! (protobuf) and OTLP/HTTP (JSON): no secret may reach the destination,
//! at most 0.5 % of the look-alikes may be changed. Then audit mode must
//! change nothing and report what it would have redacted.

use crate::common;
use bytes::Bytes;
use common::client::grpc_export;
use common::sink::Sink;
use common::{addr, start_agent, wait_until};
use ignis_agent::proto::common::v1::any_value::Value;
use ignis_agent::proto::common::v1::{AnyValue, KeyValue};
use ignis_agent::signal::{Logs, Metrics, Traces};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(serde::Deserialize, Clone)]
struct Placement {
    id: i64,
    kind: String,
    family: String,
    detector: String,
    location: String,
    shape: String,
    text: String,
    needle: String,
}

/// Generates the corpus (deterministic, seeded) under `target/`, once
/// per version of the generator.
fn corpus() -> PathBuf {
    use std::hash::{Hash, Hasher};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("interop/redaction_corpus.py");
    let dir = root.join("target/redaction-corpus");
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::fs::read(&script).unwrap().hash(&mut hasher);
    std::fs::read(root.join("interop/requirements.txt"))
        .unwrap()
        .hash(&mut hasher);
    let stamp = format!("{:x}", hasher.finish());
    let stamp_file = dir.join("generated-by");
    if std::fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp) {
        return dir;
    }
    let status = std::process::Command::new(common::python::python())
        .arg(&script)
        .arg(&dir)
        .status()
        .expect("python runs");
    assert!(status.success(), "the corpus generator failed");
    std::fs::write(stamp_file, stamp).unwrap();
    dir
}

fn placements(dir: &Path) -> Vec<Placement> {
    std::fs::read_to_string(dir.join("placements.jsonl"))
        .expect("placements.jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a placement"))
        .collect()
}

/// The corpus's request files of `signal` with this extension, in order.
fn files(dir: &Path, signal: &str, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&format!("{signal}-")) && name.ends_with(extension)
        })
        .collect();
    files.sort();
    files
}

fn yaml(sink: &Sink, settings: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0" }}
      http: {{ endpoint: "127.0.0.1:0" }}
processors:
  memory_limiter: {{ limit_mib: 4096 }}
  redaction: {settings}
exporters:
  otlp_grpc/out:
    endpoint: "http://{}"
    batch: {{ flush_timeout: 50ms }}
service:
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [memory_limiter, redaction], exporters: [otlp_grpc/out] }}
    metrics: {{ receivers: [otlp], processors: [memory_limiter, redaction], exporters: [otlp_grpc/out] }}
    logs: {{ receivers: [otlp], processors: [memory_limiter, redaction], exporters: [otlp_grpc/out] }}
"#,
        sink.grpc
    )
}

fn corpus_id(attributes: &[KeyValue]) -> Option<i64> {
    attributes
        .iter()
        .find(|kv| kv.key == "corpus.id")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::IntValue(id) => Some(*id),
            _ => None,
        })
}

fn value_strings(value: &AnyValue, out: &mut Vec<String>) {
    match &value.value {
        Some(Value::StringValue(s)) => out.push(s.clone()),
        Some(Value::ArrayValue(a)) => a.values.iter().for_each(|v| value_strings(v, out)),
        Some(Value::KvlistValue(l)) => attribute_strings(&l.values, out),
        _ => {}
    }
}

fn attribute_strings(attributes: &[KeyValue], out: &mut Vec<String>) {
    for kv in attributes {
        out.push(kv.key.clone());
        if let Some(v) = &kv.value {
            value_strings(v, out);
        }
    }
}

/// Every string that arrived, by the `corpus.id` of the item (or the
/// resource) holding it.
fn arrived(sink: &Sink) -> HashMap<i64, Vec<String>> {
    let mut by_id: HashMap<i64, Vec<String>> = HashMap::new();
    for request in sink.state.requests::<Traces>() {
        for rs in &request.resource_spans {
            let resource = rs
                .resource
                .as_ref()
                .map(|r| &r.attributes[..])
                .unwrap_or(&[]);
            let rid = corpus_id(resource);
            if let Some(rid) = rid {
                attribute_strings(resource, by_id.entry(rid).or_default());
            }
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                let Some(id) = corpus_id(&span.attributes).or(rid) else {
                    continue;
                };
                let out = by_id.entry(id).or_default();
                out.push(span.name.clone());
                attribute_strings(&span.attributes, out);
                for event in &span.events {
                    out.push(event.name.clone());
                    attribute_strings(&event.attributes, out);
                }
                for link in &span.links {
                    attribute_strings(&link.attributes, out);
                }
                if let Some(status) = &span.status {
                    out.push(status.message.clone());
                }
            }
        }
    }
    for request in sink.state.requests::<Logs>() {
        for rl in &request.resource_logs {
            for record in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                let Some(id) = corpus_id(&record.attributes) else {
                    continue;
                };
                let out = by_id.entry(id).or_default();
                out.push(record.event_name.clone());
                attribute_strings(&record.attributes, out);
                if let Some(body) = &record.body {
                    value_strings(body, out);
                }
            }
        }
    }
    for request in sink.state.requests::<Metrics>() {
        use ignis_agent::proto::metrics::v1::metric::Data;
        for rm in &request.resource_metrics {
            for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                let points: Vec<&[KeyValue]> = match &metric.data {
                    Some(Data::Gauge(g)) => {
                        g.data_points.iter().map(|p| &p.attributes[..]).collect()
                    }
                    Some(Data::Sum(s)) => s.data_points.iter().map(|p| &p.attributes[..]).collect(),
                    _ => Vec::new(),
                };
                for attributes in points {
                    if let Some(id) = corpus_id(attributes) {
                        attribute_strings(attributes, by_id.entry(id).or_default());
                    }
                }
            }
        }
    }
    by_id
}

/// Leaks, damage and losses of one pass, by family and location.
#[derive(Default)]
struct Tally {
    secrets: u64,
    leaked: u64,
    lookalikes: u64,
    damaged: u64,
    missing: u64,
}

struct Outcome {
    table: BTreeMap<(String, String), Tally>,
    /// Per leaking or damaged detector: how many, and two examples.
    failures: BTreeMap<String, (u64, Vec<String>)>,
}

fn judge(placements: &[Placement], arrived: &HashMap<i64, Vec<String>>) -> Outcome {
    let mut table: BTreeMap<(String, String), Tally> = BTreeMap::new();
    let mut failures: BTreeMap<String, (u64, Vec<String>)> = BTreeMap::new();
    let mut fail = |what: &str, p: &Placement, arrived: &str| {
        let entry = failures
            .entry(format!("{what} {}/{}", p.family, p.detector))
            .or_default();
        entry.0 += 1;
        if entry.1.len() < 2 {
            entry.1.push(format!(
                "{}/{}: {:?} → {arrived:?}",
                p.location, p.shape, p.text
            ));
        }
    };
    for p in placements {
        let tally = table
            .entry((p.family.clone(), p.location.clone()))
            .or_default();
        let Some(strings) = arrived.get(&p.id) else {
            tally.missing += 1;
            continue;
        };
        if p.kind == "secret" {
            tally.secrets += 1;
            if let Some(s) = strings.iter().find(|s| s.contains(&p.needle)) {
                tally.leaked += 1;
                fail("LEAK", p, s);
            }
        } else {
            tally.lookalikes += 1;
            if !strings.iter().any(|s| s.contains(&p.text)) {
                tally.damaged += 1;
                let changed = strings
                    .iter()
                    .find(|s| s.contains("<redacted") || s.contains('*') || s.contains('?'))
                    .map_or("", |s| s.as_str());
                fail("DAMAGE", p, changed);
            }
        }
    }
    Outcome { table, failures }
}

fn report(title: &str, outcome: &Outcome) -> (u64, u64, u64, u64, u64) {
    let mut by_family: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut by_location: BTreeMap<&str, Tally> = BTreeMap::new();
    for ((family, location), t) in &outcome.table {
        for tally in [
            by_family.entry(family).or_default(),
            by_location.entry(location).or_default(),
        ] {
            tally.secrets += t.secrets;
            tally.leaked += t.leaked;
            tally.lookalikes += t.lookalikes;
            tally.damaged += t.damaged;
            tally.missing += t.missing;
        }
    }
    let mut text = format!("\n{title}\n| family or location | secrets | leaked | look-alikes | damaged | missing |\n|---|---|---|---|---|---|\n");
    for (name, t) in by_family.iter().chain(by_location.iter()) {
        text += &format!(
            "| {name} | {} | {} | {} | {} | {} |\n",
            t.secrets, t.leaked, t.lookalikes, t.damaged, t.missing
        );
    }
    let total = by_family.values().fold((0, 0, 0, 0, 0), |a, t| {
        (
            a.0 + t.secrets,
            a.1 + t.leaked,
            a.2 + t.lookalikes,
            a.3 + t.damaged,
            a.4 + t.missing,
        )
    });
    text += &format!(
        "| **all** | {} | {} | {} | {} ({:.2} %) | {} |\n",
        total.0,
        total.1,
        total.2,
        total.3,
        100.0 * total.3 as f64 / total.2.max(1) as f64,
        total.4
    );
    for (what, (count, examples)) in &outcome.failures {
        text += &format!("{what}: {count}\n");
        for example in examples {
            text += &format!("    {example}\n");
        }
    }
    println!("{text}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/redaction-corpus");
    let name = if title.contains("JSON") {
        "json"
    } else {
        "grpc"
    };
    std::fs::write(out.join(format!("report-{name}.md")), &text).unwrap();
    total
}

/// Waits until the sink holds every item sent (a placement per item, a
/// resource-level placement's span included).
async fn await_items(sink: &Sink, placements: &[Placement]) {
    let want = |signal: &str| placements.iter().filter(|p| signal_of(p) == signal).count();
    let (traces, logs, metrics) = (want("traces"), want("logs"), want("metrics"));
    let arrived = wait_until(Duration::from_secs(120), || {
        sink.state.items::<Traces>() >= traces
            && sink.state.items::<Logs>() >= logs
            && sink.state.items::<Metrics>() >= metrics
    })
    .await;
    assert!(
        arrived,
        "delivered {} of {traces} spans, {} of {logs} logs, {} of {metrics} points",
        sink.state.items::<Traces>(),
        sink.state.items::<Logs>(),
        sink.state.items::<Metrics>()
    );
}

fn signal_of(p: &Placement) -> &'static str {
    if p.location.starts_with("log") {
        "logs"
    } else if p.location.starts_with("datapoint") {
        "metrics"
    } else {
        "traces"
    }
}

async fn send_protobuf(dir: &Path, agent: &ignis_agent::agent::Agent) {
    let grpc = addr(agent, "otlp/grpc");
    for path in files(dir, "traces", ".pb") {
        grpc_export::<Traces>(grpc, Bytes::from(std::fs::read(path).unwrap()), None)
            .await
            .expect("traces taken");
    }
    for path in files(dir, "logs", ".pb") {
        grpc_export::<Logs>(grpc, Bytes::from(std::fs::read(path).unwrap()), None)
            .await
            .expect("logs taken");
    }
    for path in files(dir, "metrics", ".pb") {
        grpc_export::<Metrics>(grpc, Bytes::from(std::fs::read(path).unwrap()), None)
            .await
            .expect("metrics taken");
    }
}

fn send_json(dir: &Path, agent: &ignis_agent::agent::Agent) {
    let base = format!("http://{}", addr(agent, "otlp/http"));
    let client = reqwest::blocking::Client::new();
    for signal in ["traces", "logs", "metrics"] {
        for path in files(dir, signal, ".json") {
            let response = client
                .post(format!("{base}/v1/{signal}"))
                .header("content-type", "application/json")
                .body(std::fs::read(path).unwrap())
                .send()
                .expect("agent answers");
            assert_eq!(response.status().as_u16(), 200, "{signal} JSON refused");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus_leaks_nothing_and_damages_almost_nothing() {
    let _alone = common::exclusive().await;
    let dir = corpus();
    let placements = placements(&dir);
    let secrets = placements.iter().filter(|p| p.kind == "secret").count();
    assert!(secrets >= 3000 && placements.len() - secrets >= 3000);

    let sink = Sink::start().await;
    let agent = start_agent(&yaml(&sink, "{}")).await;
    send_protobuf(&dir, &agent).await;
    await_items(&sink, &placements).await;
    let grpc = report("OTLP/gRPC (protobuf)", &judge(&placements, &arrived(&sink)));

    sink.state.traces.lock().unwrap().clear();
    sink.state.logs.lock().unwrap().clear();
    sink.state.metrics.lock().unwrap().clear();
    let json_dir = dir.clone();
    let json_agent = &agent;
    tokio::task::block_in_place(|| send_json(&json_dir, json_agent));
    await_items(&sink, &placements).await;
    let json = report("OTLP/HTTP (JSON)", &judge(&placements, &arrived(&sink)));
    agent.shutdown().await;

    for (name, (_, leaked, lookalikes, damaged, missing)) in [("gRPC", grpc), ("JSON", json)] {
        assert_eq!(missing, 0, "{name}: placements lost");
        assert_eq!(leaked, 0, "{name}: secrets reached the destination");
        assert!(
            damaged as f64 <= 0.005 * lookalikes as f64,
            "{name}: {damaged} of {lookalikes} look-alikes damaged"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_mode_changes_nothing_and_reports_what_it_would_redact() {
    let _alone = common::exclusive().await;
    let dir = corpus();
    let placements = placements(&dir);
    let sink = Sink::start().await;
    let agent = start_agent(&yaml(&sink, "{ mode: audit }")).await;
    send_protobuf(&dir, &agent).await;
    await_items(&sink, &placements).await;
    let arrived = arrived(&sink);
    let changed = placements
        .iter()
        .filter(|p| !arrived[&p.id].iter().any(|s| s.contains(&p.text)))
        .count();
    assert_eq!(changed, 0, "audit mode changed data");

    let admin = addr(&agent, "admin");
    let findings: serde_json::Value = tokio::task::block_in_place(|| {
        let body = reqwest::blocking::get(format!("http://{admin}/api/redaction"))
            .unwrap()
            .text()
            .unwrap();
        serde_json::from_str(&body).unwrap()
    });
    let reported = findings["processors"][0]["reported"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut by_family: BTreeMap<String, u64> = BTreeMap::new();
    for f in &reported {
        *by_family
            .entry(f["family"].as_str().unwrap().to_owned())
            .or_default() += f["count"].as_u64().unwrap();
        // Never the value: detector, location, key and a count.
        let fields: Vec<&String> = f.as_object().unwrap().keys().collect();
        assert_eq!(fields, ["detector", "family", "location", "key", "count"]);
    }
    println!("audit findings by family: {by_family:?}");
    for family in [
        "personal",
        "national_id",
        "financial",
        "crypto",
        "network",
        "token",
        "cloud",
        "credentials",
        "key",
    ] {
        assert!(
            by_family.get(family).copied().unwrap_or(0) > 0,
            "nothing reported for {family}: {by_family:?}"
        );
    }
    let text = serde_json::to_string(&findings).unwrap();
    for p in placements.iter().filter(|p| p.kind == "secret").take(500) {
        assert!(!text.contains(&p.needle), "a finding holds a secret");
    }
    agent.shutdown().await;
}

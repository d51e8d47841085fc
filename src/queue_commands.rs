//! What `ignis-agent queue inspect`, `export` and `replay` do with the disk
//! queues under a directory (one per exporter and signal, as the agent lays
//! them out: `<dir>/<exporter>/<signal>/`). `inspect` and `export` read
//! without changing anything, so an agent may be running on them; `replay`
//! removes what it delivered, so the agent must be stopped (nothing locks
//! the directory: the operator's word is the lock).

use crate::queue::disk::scan::scan;
use crate::queue::now_ms;
use crate::signal::{Logs, Metrics, Signal, Traces};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What one exporter's queue for one signal holds.
#[derive(Debug, Default)]
pub struct Held {
    /// The exporter's directory name (`otlp_grpc_backup` for `otlp_grpc/backup`).
    pub exporter: String,
    pub signal: String,
    pub records: usize,
    pub items: u64,
    pub bytes: u64,
    pub oldest_age_ms: Option<u64>,
    pub newest_age_ms: Option<u64>,
    pub damaged: u64,
}

/// Every `<exporter>/<signal>` queue under `base`, by name.
fn queues(base: &Path, exporter: Option<&str>) -> std::io::Result<Vec<(String, String, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(base)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if exporter.is_some_and(|e| e.replace('/', "_") != name) || !entry.path().is_dir() {
            continue;
        }
        for signal in ["traces", "metrics", "logs"] {
            let dir = entry.path().join(signal);
            if dir.is_dir() {
                found.push((name.clone(), signal.to_owned(), dir));
            }
        }
    }
    found.sort();
    Ok(found)
}

pub fn inspect(base: &Path) -> std::io::Result<Vec<Held>> {
    let now = now_ms();
    let mut out = Vec::new();
    for (exporter, signal, dir) in queues(base, None)? {
        let scanned = scan(&dir)?;
        let ages = scanned
            .records
            .iter()
            .map(|r| now.saturating_sub(r.enqueued_ms));
        out.push(Held {
            exporter,
            signal,
            records: scanned.records.len(),
            items: scanned.records.iter().map(|r| r.items as u64).sum(),
            bytes: scanned.records.iter().map(|r| r.payload.len() as u64).sum(),
            oldest_age_ms: ages.clone().max(),
            newest_age_ms: ages.min(),
            damaged: scanned.damaged,
        });
    }
    Ok(out)
}

/// What an export wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Exported {
    pub requests: u64,
    pub items: u64,
    /// Damaged records, and records that do not decode as their signal.
    pub skipped: u64,
}

/// Writes every request the queues hold as one OTLP/JSON line each (the
/// `file` exporter's format), oldest first per queue.
pub fn export(
    base: &Path,
    exporter: Option<&str>,
    out: &mut dyn Write,
) -> std::io::Result<Exported> {
    let mut exported = Exported::default();
    for (_, signal, dir) in queues(base, exporter)? {
        let scanned = scan(&dir)?;
        exported.skipped += scanned.damaged;
        for record in scanned.records {
            let line = match signal.as_str() {
                "traces" => json::<Traces>(&record.payload),
                "metrics" => json::<Metrics>(&record.payload),
                _ => json::<Logs>(&record.payload),
            };
            match line {
                Some(line) => {
                    out.write_all(line.as_bytes())?;
                    out.write_all(b"\n")?;
                    exported.requests += 1;
                    exported.items += record.items as u64;
                }
                None => exported.skipped += 1,
            }
        }
    }
    Ok(exported)
}

fn json<S: Signal>(payload: &[u8]) -> Option<String> {
    let request = S::decode(payload).ok()?;
    serde_json::to_string(&request).ok()
}

/// What a replay delivered.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    pub requests: u64,
    pub items: u64,
    /// Requests still queued: the destination did not take them.
    pub left: u64,
    /// Why it stopped early, if it did.
    pub stopped: Option<String>,
}

/// Sends what the queues under `base` hold to `to` (OTLP/HTTP, protobuf,
/// gzip), oldest first, and removes from the queue only what the
/// destination acknowledged. No agent may be running on the queues.
pub async fn replay(base: &Path, to: &str) -> std::io::Result<Replayed> {
    use crate::exporters::http::HttpTransport;
    use crate::exporters::otlp::OtlpExporterConfig;
    use crate::exporters::{Batch, Outcome, Transport};
    use crate::queue::disk::{DiskCounters, DiskOptions, DiskQueue, Fsync};
    use crate::queue::WhenFull;
    let config: OtlpExporterConfig = serde_json::from_value(serde_json::json!({ "endpoint": to }))
        .map_err(std::io::Error::other)?;
    config
        .check(true)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let transport = HttpTransport::new(&config).map_err(std::io::Error::other)?;
    let mut replayed = Replayed::default();
    for (_, signal, dir) in queues(base, None)? {
        let options = DiskOptions {
            dir,
            capacity: u64::MAX,
            segment_size: 8 << 20,
            when_full: WhenFull::Block,
            block_timeout: std::time::Duration::ZERO,
            fsync: Fsync::Always,
            max_age: None,
        };
        let queue = DiskQueue::<()>::open(options, DiskCounters::default())?;
        while let Some(entry) = queue.pop_until(tokio::time::Instant::now()).await {
            let batch = Batch {
                data: entry.data.clone(),
                items: entry.items,
            };
            let outcome = match signal.as_str() {
                "traces" => <HttpTransport as Transport<Traces>>::send(&transport, &batch).await,
                "metrics" => <HttpTransport as Transport<Metrics>>::send(&transport, &batch).await,
                _ => <HttpTransport as Transport<Logs>>::send(&transport, &batch).await,
            };
            match outcome {
                Outcome::Sent { .. } => {
                    queue.ack(&entry.position.into_iter().collect::<Vec<_>>());
                    replayed.requests += 1;
                    replayed.items += entry.items as u64;
                }
                Outcome::Retry { reason, .. }
                | Outcome::TooLarge { reason }
                | Outcome::Permanent { reason } => {
                    replayed.stopped = Some(reason);
                    break;
                }
            }
        }
        replayed.left += queue.usage().0 as u64;
        queue.close();
        queue.finish().await?;
        if replayed.stopped.is_some() {
            break;
        }
    }
    Ok(replayed)
}

//! `file`: one OTLP/JSON request per line, rotated by size, for local use.

use super::delivery::{DeliveryConfig, Exporter, Senders, SpawnError};
use super::{Batch, Outcome, Transport};
use crate::config::component::{required, Context};
use crate::config::de::DeError;
use crate::config::node::{Located, Node};
use crate::exporters::batch::BatchConfig;
use crate::exporters::retry::RetryConfig;
use crate::queue::QueueConfig;
use crate::signal::Signal;
use serde::Deserialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileExporterConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub rotation: RotationConfig,
    #[serde(default)]
    pub sending_queue: QueueConfig,
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    #[serde(default)]
    pub batch: BatchConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RotationConfig {
    pub max_megabytes: u64,
    pub max_backups: usize,
}

impl Default for RotationConfig {
    fn default() -> Self {
        RotationConfig {
            max_megabytes: 100,
            max_backups: 3,
        }
    }
}

pub struct FileTransport {
    state: Arc<Mutex<FileState>>,
}

struct FileState {
    path: PathBuf,
    max_bytes: u64,
    max_backups: usize,
    file: Option<(File, u64)>,
}

impl FileTransport {
    pub fn new(config: &FileExporterConfig) -> Self {
        FileTransport {
            state: Arc::new(Mutex::new(FileState {
                path: config.path.clone(),
                max_bytes: config.rotation.max_megabytes.max(1) << 20,
                max_backups: config.rotation.max_backups,
                file: None,
            })),
        }
    }
}

impl FileState {
    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        if let Some((_, size)) = &self.file {
            if *size > 0 && size + line.len() as u64 > self.max_bytes {
                self.file = None;
                rotate(&self.path, self.max_backups)?;
            }
        }
        if self.file.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            let size = file.metadata()?.len();
            self.file = Some((file, size));
        }
        let (file, size) = self.file.as_mut().expect("opened above");
        file.write_all(line)?;
        *size += line.len() as u64;
        Ok(())
    }
}

/// `path` → `path.1` → `path.2` ..., keeping `max_backups` old files.
fn rotate(path: &Path, max_backups: usize) -> std::io::Result<()> {
    let numbered = |n: usize| PathBuf::from(format!("{}.{n}", path.display()));
    if max_backups == 0 {
        return std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(numbered(max_backups));
    for n in (1..max_backups).rev() {
        let from = numbered(n);
        if from.exists() {
            std::fs::rename(from, numbered(n + 1))?;
        }
    }
    std::fs::rename(path, numbered(1))
}

impl<S: Signal> Transport<S> for FileTransport {
    async fn send(&self, batch: &Batch) -> Outcome {
        let decoded = match S::decode(batch.data.clone()) {
            Ok(decoded) => decoded,
            Err(e) => {
                return Outcome::Permanent {
                    reason: format!("undecodable batch: {e}"),
                }
            }
        };
        let mut line = match serde_json::to_vec(&decoded) {
            Ok(line) => line,
            Err(e) => {
                return Outcome::Permanent {
                    reason: format!("cannot write as JSON: {e}"),
                }
            }
        };
        line.push(b'\n');
        let state = Arc::clone(&self.state);
        let written = tokio::task::spawn_blocking(move || {
            state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .write_line(&line)
        })
        .await;
        match written {
            Ok(Ok(())) => Outcome::Sent {
                rejected: 0,
                message: String::new(),
            },
            // A full disk may have room later: retry rather than drop.
            Ok(Err(e)) => Outcome::Retry {
                after: None,
                reason: format!("writing the file: {e}"),
            },
            Err(e) => Outcome::Retry {
                after: None,
                reason: format!("writer task: {e}"),
            },
        }
    }
}

/// A built `file` exporter.
pub struct FileExporter {
    config: FileExporterConfig,
    delivery: DeliveryConfig,
}

pub fn read(node: &Located<Node>, _: &Context) -> Result<Arc<dyn Exporter>, DeError> {
    let config: FileExporterConfig = required(node)?;
    let delivery = DeliveryConfig::new(
        &config.sending_queue,
        &config.retry_on_failure,
        &config.batch,
    );
    delivery.check().map_err(|e| e.locate(node))?;
    Ok(Arc::new(FileExporter { config, delivery }))
}

impl Exporter for FileExporter {
    fn delivery(&self) -> &DeliveryConfig {
        &self.delivery
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn spawn(&self, senders: Senders<'_>) -> Result<Vec<JoinHandle<()>>, SpawnError> {
        Ok(senders.spawn(FileTransport::new(&self.config), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut state = FileState {
            path: path.clone(),
            max_bytes: 100,
            max_backups: 2,
            file: None,
        };
        for i in 0..10 {
            state.write_line(format!("{i:060}\n").as_bytes()).unwrap();
        }
        assert!(path.exists());
        assert!(dir.path().join("out.jsonl.1").exists());
        assert!(dir.path().join("out.jsonl.2").exists());
        assert!(!dir.path().join("out.jsonl.3").exists());
        let newest = std::fs::read_to_string(&path).unwrap();
        assert!(newest.ends_with(&format!("{:060}\n", 9)));
    }
}

//! `ignis-agent redact --config FILE [--input F.jsonl]`: the config's
//! redaction processors over OTLP/JSON lines (the `file` exporter's and
//! `queue export`'s format), written redacted, and what they found — so
//! an operator can try a config on captured data before it runs on live
//! traffic.

use crate::components::Config;
use crate::processors::redaction::findings_json;
use crate::processors::{apply, Processor};
use crate::signal::{Logs, Metrics, Signal, Traces};
use std::io::{BufRead, Write};
use std::sync::Arc;

/// What one run did.
#[derive(Debug, Default)]
pub struct Redacted {
    pub lines: u64,
    /// Lines that were not an OTLP/JSON request, with why (at most ten).
    pub refused: Vec<String>,
    pub refused_count: u64,
    /// `ignis_redaction_findings` and `ignis_redacted_values`, grouped.
    pub findings: serde_json::Value,
}

/// The config's `redaction` processors, in the order of their names.
fn redactions(config: &Config) -> Vec<&Arc<dyn Processor>> {
    config
        .processors
        .iter()
        .filter(|(id, _)| id.kind == "redaction")
        .map(|(_, p)| p)
        .collect()
}

/// Whether `config` has something for `redact` to run.
pub fn has_redaction(config: &Config) -> bool {
    !redactions(config).is_empty()
}

fn redact_line<S: Signal>(
    line: &str,
    processors: &[&Arc<dyn Processor>],
) -> Result<String, String> {
    let mut request: S = serde_json::from_str(line).map_err(|e| e.to_string())?;
    for processor in processors {
        apply(&***processor, &mut request);
    }
    serde_json::to_string(&request).map_err(|e| e.to_string())
}

/// Reads OTLP/JSON lines from `input`, writes each redacted to `out`.
/// A line that is not an OTLP/JSON request is not written (it could not be
/// redacted): it is counted with its line number and reason.
pub fn run(
    config: &Config,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> std::io::Result<Redacted> {
    let processors = redactions(config);
    let mut done = Redacted::default();
    for (number, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        done.lines += 1;
        let redacted = if line.contains("\"resourceSpans\"") {
            redact_line::<Traces>(&line, &processors)
        } else if line.contains("\"resourceLogs\"") {
            redact_line::<Logs>(&line, &processors)
        } else if line.contains("\"resourceMetrics\"") {
            redact_line::<Metrics>(&line, &processors)
        } else {
            Err("no resourceSpans, resourceLogs or resourceMetrics".to_owned())
        };
        match redacted {
            Ok(text) => writeln!(out, "{text}")?,
            Err(why) => {
                done.refused_count += 1;
                if done.refused.len() < 10 {
                    done.refused.push(format!("line {}: {why}", number + 1));
                }
            }
        }
    }
    done.findings = findings_json(&config.metrics);
    Ok(done)
}

/// The findings as a table for a terminal.
pub fn summary(done: &Redacted) -> String {
    let mut text = format!("{} lines\n", done.lines);
    for processor in done.findings["processors"].as_array().into_iter().flatten() {
        let name = processor["processor"].as_str().unwrap_or_default();
        for found in processor["redacted"].as_array().into_iter().flatten() {
            text += &format!(
                "{name}: redacted {:>8}  {}\n",
                found["count"],
                found["rule"].as_str().unwrap_or_default()
            );
        }
        for found in processor["reported"].as_array().into_iter().flatten() {
            text += &format!(
                "{name}: found    {:>8}  {} ({}) in {} {}\n",
                found["count"],
                found["detector"].as_str().unwrap_or_default(),
                found["family"].as_str().unwrap_or_default(),
                found["location"].as_str().unwrap_or_default(),
                found["key"].as_str().unwrap_or_default(),
            );
        }
    }
    for why in &done.refused {
        text += &format!("not OTLP/JSON, left out: {why}\n");
    }
    if done.refused_count > done.refused.len() as u64 {
        text += &format!(
            "... and {} more lines not OTLP/JSON\n",
            done.refused_count - done.refused.len() as u64
        );
    }
    text
}

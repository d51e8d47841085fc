//! ignis-agent: an OpenTelemetry sidecar that receives OTLP, processes it and
//! delivers it to OTLP destinations. See ARCHITECTURE.md for the map.
#![forbid(unsafe_code)]

pub mod admin;
pub mod agent;
pub mod budget;
pub mod components;
pub mod compression;
pub mod config;
pub mod connectors;
pub mod exporters;
pub mod inject;
pub mod metrics;
pub mod pipeline;
pub mod processors;
pub mod proto;
pub mod queue;
pub mod queue_commands;
pub mod receivers;
pub mod redact_command;
pub mod signal;
pub mod telemetry;

/// The `tracing` target of the spans the agent exports as its own traces
/// (an export attempt, a reload, a refusal burst): `telemetry` sends them
/// over OTLP when configured and keeps them out of the log lines.
pub const SELF_SPANS: &str = "ignis_self";

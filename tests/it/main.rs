//! The integration tests, one binary so that two cores link once: each
//! module talks to the agent (library or binary) over real sockets.

mod admin;
mod alerts;
mod bad_input;
mod cli;
mod common;
mod config;
mod config_rules;
mod crash;
mod delivery;
mod deploy;
mod disk_queue_model;
mod filter_and_sampling;
mod hardening;
mod health;
mod ignis;
mod inject;
mod interop;
mod overload;
mod own_telemetry;
mod processors;
mod redaction;
mod redaction_corpus;
mod sdk_end_to_end;
mod secrets;
mod status_page;
mod tls;
mod wire_validation;

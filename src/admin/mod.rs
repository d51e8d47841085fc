//! The admin endpoint: health, readiness, metrics, the status page and its JSON API.

pub mod history;
pub mod server;

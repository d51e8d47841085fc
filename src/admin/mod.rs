//! The admin side: the agent's own metrics and the health endpoints.

pub mod metrics;
pub mod server;

//! The admin side: the agent's own metrics (and, later, health and status).

pub mod metrics;

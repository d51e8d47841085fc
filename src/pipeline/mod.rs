//! Building the running graph from the config: receivers → pipelines →
//! exporter queues → senders, and tearing it down in order.

mod build;
mod fanout;
pub mod memory_limiter;

pub use build::Agent;
pub use fanout::{Fanout, Pipeline, QueueHandle, Valid};

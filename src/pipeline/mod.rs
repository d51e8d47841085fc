//! What runs between a receiver and the exporter queues: the fan-out to
//! every pipeline of a receiver and signal, each pipeline's processors, and
//! admission on the process's memory.

mod fanout;
pub mod memory_limiter;
mod refusal_bursts;
mod switch;

pub use fanout::{Fanout, Malformed, Pipeline, QueueHandle, Valid};
pub use switch::Switch;

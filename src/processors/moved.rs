//! Processor kinds that became something else: each says where it went, so
//! an old config fails with directions instead of "unknown type".

use super::Processor;
use crate::config::component::{Context, Invalid};
use crate::config::de::DeError;
use crate::config::node::{Located, Node};
use std::sync::Arc;

/// `span_metrics` is a connector since 0.2.
pub fn span_metrics(node: &Located<Node>, _: &Context) -> Result<Arc<dyn Processor>, DeError> {
    Err(Invalid::new(
        "span_metrics is a connector now: define it under `connectors:`, list it in a traces pipeline's exporters and in a metrics pipeline's receivers",
    )
    .locate(node))
}

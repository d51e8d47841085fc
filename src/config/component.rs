//! What every component's reader uses: its settings deserialized with
//! positions, a broken rule reported at the key that broke it, and the
//! `Kind` a registry lists it under.

use super::de::{from_node, DeError};
use super::model::ComponentId;
use super::node::{Located, Node, Pos};
use crate::metrics::Registry;
use serde::Deserialize;
use std::sync::Arc;

/// What a component is built with besides its settings.
pub struct Context<'a> {
    pub id: &'a ComponentId,
    /// The agent's own metrics, where the component registers its counters
    /// (an `Arc`: a component may register more as it runs).
    pub metrics: &'a Arc<Registry>,
}

impl Context<'_> {
    /// The component's name in metrics and logs: `type` or `type/name`.
    pub fn name(&self) -> String {
        self.id.to_string()
    }
}

/// Reads one component: deserialize, check every rule, construct. Runs for
/// `validate` as for `run`, so both refuse the same settings; nothing here
/// opens a socket.
pub type Read<T> = fn(&Located<Node>, &Context) -> Result<T, DeError>;

/// One component kind in a registry: its name in the config and its reader.
pub struct Kind<T: 'static> {
    pub name: &'static str,
    pub read: Read<T>,
}

/// A rule that a component's settings break.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// The key the error points at (the component's own position if none).
    pub key: Option<&'static str>,
    pub message: String,
}

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Invalid {
            key: None,
            message: message.into(),
        }
    }

    pub fn at(key: &'static str, message: impl Into<String>) -> Self {
        Invalid {
            key: Some(key),
            message: message.into(),
        }
    }

    /// Located in the component's node.
    pub fn locate(self, node: &Located<Node>) -> DeError {
        let pos = self.key.map_or(node.pos, |key| pos_of(node, key));
        DeError {
            message: self.message,
            pos: Some(pos),
        }
    }
}

/// Settings that may be left empty (`debug:`): null reads as the defaults.
pub fn settings<'a, T: Deserialize<'a> + Default>(node: &'a Located<Node>) -> Result<T, DeError> {
    match node.value {
        Node::Null => Ok(T::default()),
        _ => from_node(node),
    }
}

/// Settings with required keys.
pub fn required<'a, T: Deserialize<'a>>(node: &'a Located<Node>) -> Result<T, DeError> {
    from_node(node)
}

/// Position of `key` inside `node`, or the node's own.
pub fn pos_of(node: &Located<Node>, key: &str) -> Pos {
    node.get(key).map_or(node.pos, |n| n.pos)
}

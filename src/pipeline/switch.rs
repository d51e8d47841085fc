//! What a receiver feeds, swappable: a reload installs new pipelines behind
//! a running server, so its listener stays bound and no client is refused.

use super::Fanout;
use std::sync::{Arc, RwLock};

/// The fan-out a receiver hands requests to, replaced on reload. A request
/// already inside the old one finishes there.
pub struct Switch<S>(RwLock<Arc<Fanout<S>>>);

impl<S> Switch<S> {
    pub fn new(fanout: Arc<Fanout<S>>) -> Arc<Self> {
        Arc::new(Switch(RwLock::new(fanout)))
    }

    /// The fan-out in force now.
    pub fn current(&self) -> Arc<Fanout<S>> {
        Arc::clone(&self.0.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn set(&self, fanout: Arc<Fanout<S>>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = fanout;
    }
}

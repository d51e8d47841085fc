//! `memory_limiter`: its settings. The limiter itself is global and acts in
//! the receivers before a request is read (`pipeline/memory_limiter.rs`);
//! listing this processor in any pipeline sets its limits.

use super::Processor;
use crate::config::component::{required, Context, Invalid};
use crate::config::de::DeError;
use crate::config::node::{Located, Node};
use crate::config::units::Dur;
use crate::signal::AnyRequest;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// The Collector's `memory_limiter`. In ignis-agent it is global: receivers
/// refuse before decoding while the process is over `limit - spike_limit`.
/// Listing it in any pipeline turns it on with these settings; without it a
/// default applies (see `components::Config::memory_limit`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryLimiterConfig {
    #[serde(default = "default_check_interval")]
    pub check_interval: Dur,
    pub limit_mib: u64,
    /// Headroom for spikes between checks; default 20% of the limit.
    #[serde(default)]
    pub spike_limit_mib: Option<u64>,
}

fn default_check_interval() -> Dur {
    Dur(Duration::from_millis(100))
}

pub fn read(node: &Located<Node>, _: &Context) -> Result<Arc<dyn Processor>, DeError> {
    let config: MemoryLimiterConfig = required(node)?;
    if config.limit_mib == 0
        || config
            .spike_limit_mib
            .is_some_and(|s| s >= config.limit_mib)
    {
        return Err(
            Invalid::new("limit_mib must be more than 0 and more than spike_limit_mib")
                .locate(node),
        );
    }
    Ok(Arc::new(config))
}

impl Processor for MemoryLimiterConfig {
    fn process(&self, _: AnyRequest<'_>) {}

    fn memory_limit(&self) -> Option<&MemoryLimiterConfig> {
        Some(self)
    }
}

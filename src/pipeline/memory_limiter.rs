//! The backstop under the memory budget (`budget.rs`): receivers refuse new
//! requests at once (with a retryable answer) while the resident set is
//! over it, before reading them. The budget counts what the agent holds
//! exactly and slows senders first; this catches what it cannot see.
//!
//! Like the Collector's `memory_limiter`, it samples the process's memory
//! every `check_interval` (here the RSS from /proc/self/statm).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct MemoryLimiter {
    limit: u64,
    rss: AtomicU64,
    refusing: AtomicBool,
}

impl MemoryLimiter {
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(MemoryLimiter {
            limit,
            rss: AtomicU64::new(0),
            refusing: AtomicBool::new(false),
        })
    }

    /// Whether a new request must be refused now.
    pub fn refuses(&self) -> bool {
        self.refusing.load(Ordering::Relaxed)
    }

    pub fn rss(&self) -> u64 {
        self.rss.load(Ordering::Relaxed)
    }

    fn update(&self, rss: u64) {
        self.rss.store(rss, Ordering::Relaxed);
        let over = rss > self.limit;
        if self.refusing.swap(over, Ordering::Relaxed) != over {
            if over {
                tracing::warn!(
                    rss_mib = rss >> 20,
                    limit_mib = self.limit >> 20,
                    "resident memory over the limit: refusing new data until it drops"
                );
            } else {
                tracing::info!(
                    rss_mib = rss >> 20,
                    "resident memory back under the limit: accepting data"
                );
            }
        }
    }

    /// Samples the RSS every `interval` until the process ends.
    pub async fn run(self: Arc<Self>, interval: Duration) {
        loop {
            if let Some(rss) = resident_bytes() {
                self.update(rss);
            }
            tokio::time::sleep(interval).await;
        }
    }
}

/// This process's resident set size.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_over_the_limit_only() {
        let limiter = MemoryLimiter::new(80 << 20);
        limiter.update(70 << 20);
        assert!(!limiter.refuses());
        limiter.update(81 << 20);
        assert!(limiter.refuses());
        limiter.update(60 << 20);
        assert!(!limiter.refuses());
    }

    #[test]
    fn reads_its_own_rss() {
        let rss = resident_bytes().expect("linux");
        assert!(rss > 1 << 20);
    }
}

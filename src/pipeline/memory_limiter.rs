//! Admission control on the process's memory: receivers refuse new requests
//! (with a retryable answer) while the resident set is over the soft limit,
//! before reading or decoding them. So under any overload the agent answers
//! "retry later" instead of growing.
//!
//! Like the Collector's `memory_limiter`, it samples the process's memory
//! every `check_interval` (here the RSS from /proc/self/statm) and refuses
//! above `limit - spike_limit`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct MemoryLimiter {
    soft_limit: u64,
    rss: AtomicU64,
    refusing: AtomicBool,
}

impl MemoryLimiter {
    pub fn new(limit: u64, spike: u64) -> Arc<Self> {
        Arc::new(MemoryLimiter {
            soft_limit: limit.saturating_sub(spike),
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
        let over = rss > self.soft_limit;
        if self.refusing.swap(over, Ordering::Relaxed) != over {
            if over {
                tracing::warn!(
                    rss_mib = rss >> 20,
                    soft_limit_mib = self.soft_limit >> 20,
                    "memory over the soft limit: refusing new data until it drops"
                );
            } else {
                tracing::info!(
                    rss_mib = rss >> 20,
                    "memory back under the soft limit: accepting data"
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
    fn refuses_over_the_soft_limit_only() {
        let limiter = MemoryLimiter::new(100 << 20, 20 << 20);
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

//! The agent's memory budget: every byte of telemetry the agent holds is
//! counted here, at the moment it is held, against one limit.
//!
//! Receivers reserve a request's bytes before reading its body (the HTTP
//! `Content-Length`, the gRPC frame length), waiting for room when the
//! budget is spent; the inflated body and each processed copy are held
//! while the request is handled; a memory queue holds its contents until a
//! sender takes them, and a sender holds its batch until it is delivered or
//! dropped. Releasing wakes one waiter, so freed room is handed on in the
//! order requests waited, one at a time, without waking them all.
//!
//! The resident set (`pipeline/memory_limiter.rs`) is only a backstop: what
//! the budget does not see (the allocator's overhead, HTTP/2 buffers) is
//! bounded by the receivers' stream and window limits.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::time::Instant;

pub struct Budget {
    limit: AtomicUsize,
    used: AtomicUsize,
    /// Woken once per release while someone waits.
    room: Notify,
    waiting: AtomicUsize,
}

/// Bytes counted against the budget until dropped.
#[must_use = "the bytes are released when this is dropped"]
pub struct Held {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Budget {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Budget {
            limit: AtomicUsize::new(limit),
            used: AtomicUsize::new(0),
            room: Notify::new(),
            waiting: AtomicUsize::new(0),
        })
    }

    /// A reload may change the limit; what is held stays held.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
        self.room.notify_one();
    }

    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Requests waiting for room now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Takes `bytes` if they fit. When nothing is held, anything fits: a
    /// request larger than the whole budget is slow, never refused forever.
    pub fn try_reserve(self: &Arc<Self>, bytes: usize) -> Option<Held> {
        let limit = self.limit();
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used == 0 || used + bytes <= limit).then_some(used + bytes)
            })
            .ok()?;
        Some(Held {
            budget: Arc::clone(self),
            bytes,
        })
    }

    /// Takes `bytes`, waiting for room until `deadline`; `None` past it.
    /// Arrivals queue behind those already waiting.
    pub async fn reserve(self: &Arc<Self>, bytes: usize, deadline: Instant) -> Option<Held> {
        if self.waiting() == 0 {
            if let Some(held) = self.try_reserve(bytes) {
                return Some(held);
            }
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waited = Waited(&self.waiting);
        loop {
            // Registered before trying, so a release in between is not missed.
            let freed = self.room.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(held) = self.try_reserve(bytes) {
                if self.used() < self.limit() {
                    // Room is left: the next waiter may fit too.
                    self.room.notify_one();
                }
                return Some(held);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return None;
            }
        }
    }

    /// Counts bytes the agent holds already (an inflated body, a processed
    /// copy): never refused, since refusing would not free them.
    pub fn hold(self: &Arc<Self>, bytes: usize) -> Held {
        self.charge(bytes);
        Held {
            budget: Arc::clone(self),
            bytes,
        }
    }

    /// `hold` for an owner that tracks its own total (a memory queue).
    pub fn charge(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::AcqRel);
    }

    /// Gives back what `charge` counted.
    pub fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        self.used.fetch_sub(bytes, Ordering::AcqRel);
        if self.waiting() > 0 {
            self.room.notify_one();
        }
    }
}

impl Held {
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Counts `bytes` more under this hold.
    pub fn grow(&mut self, bytes: usize) {
        self.budget.charge(bytes);
        self.bytes += bytes;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

/// Counts a waiter out however its wait ends (room, deadline, or the
/// client going away).
struct Waited<'a>(&'a AtomicUsize);

impl Drop for Waited<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The memory limit of this process's cgroup (v2, then v1), if it has one.
pub fn cgroup_memory_limit() -> Option<u64> {
    let v2 = std::fs::read_to_string("/sys/fs/cgroup/memory.max");
    let v1 = || std::fs::read_to_string("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    let text = v2.or_else(|_| v1()).ok()?;
    // "max" (v2) or a huge number (v1: no limit) mean none.
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|&limit| limit < 1 << 50)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn holds_until_dropped() {
        let budget = Budget::new(100);
        let a = budget.try_reserve(60).unwrap();
        assert!(budget.try_reserve(60).is_none());
        let mut b = budget.try_reserve(40).unwrap();
        b.grow(10);
        assert_eq!(budget.used(), 110);
        drop(a);
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn anything_fits_an_empty_budget() {
        let budget = Budget::new(10);
        let big = budget.try_reserve(1000).unwrap();
        assert!(budget.try_reserve(1).is_none());
        drop(big);
        assert!(budget.try_reserve(1).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn waits_for_room_then_gives_up_at_the_deadline() {
        let budget = Budget::new(100);
        let held = budget.try_reserve(100).unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        let waiter = {
            let budget = Arc::clone(&budget);
            tokio::spawn(async move { budget.reserve(50, deadline).await.map(|h| h.bytes()) })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(budget.waiting(), 1);
        drop(held);
        assert_eq!(waiter.await.unwrap(), Some(50));

        let _full = budget.try_reserve(100).unwrap();
        let started = Instant::now();
        let late = budget
            .reserve(1, started + Duration::from_millis(300))
            .await;
        assert!(late.is_none());
        assert_eq!(started.elapsed(), Duration::from_millis(300));
        assert_eq!(budget.waiting(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn one_release_can_admit_several_small_waiters() {
        let budget = Budget::new(100);
        let held = budget.try_reserve(100).unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let budget = Arc::clone(&budget);
                tokio::spawn(async move { budget.reserve(25, deadline).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(held);
        let mut admitted = Vec::new();
        for waiter in waiters {
            admitted.push(waiter.await.unwrap().expect("room for all four"));
        }
        assert_eq!(budget.used(), 100);
    }
}

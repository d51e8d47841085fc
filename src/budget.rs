//! The agent's memory budget: every byte of telemetry the agent holds is
//! counted here, at the moment it is held, against one limit.
//!
//! Receivers reserve a request's bytes before reading its body (the HTTP
//! `Content-Length`, the gRPC frame length), waiting for room when the
//! budget is spent; the inflated body and each processed copy are held
//! while the request is handled; a memory queue holds its contents until a
//! sender takes them, and a sender holds its batch until it is delivered or
//! dropped. Releasing wakes one waiter, so freed room is handed on in the
//! order requests waited (a fair semaphore), without waking them all.
//!
//! The resident set (`pipeline/memory_limiter.rs`) is only a backstop: what
//! the budget does not see (the allocator's overhead, HTTP/2 buffers) is
//! bounded by the receivers' stream and window limits.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Free room is the permits of a fair semaphore (one per byte): waiters are
/// served strictly in the order they came, so under a long overload none
/// waits past the deadline while later ones get in.
pub struct Budget {
    room: Semaphore,
    /// The limit and the bytes counted past it (held by force, see
    /// `charge`): changed together, under this lock.
    books: Mutex<Books>,
    waiting: AtomicUsize,
}

struct Books {
    limit: usize,
    /// Bytes charged when no room was left: repaid before room is freed.
    debt: usize,
}

/// Bytes counted against the budget until dropped.
#[must_use = "the bytes are released when this is dropped"]
pub struct Held {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Budget {
    pub fn new(limit: usize) -> Arc<Self> {
        let limit = limit.min(Semaphore::MAX_PERMITS);
        Arc::new(Budget {
            room: Semaphore::new(limit),
            books: Mutex::new(Books { limit, debt: 0 }),
            waiting: AtomicUsize::new(0),
        })
    }

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        // A few integer updates per critical section: never torn.
        self.books.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A reload may change the limit; what is held stays held.
    pub fn set_limit(&self, limit: usize) {
        let limit = limit.min(Semaphore::MAX_PERMITS);
        let mut books = self.books();
        if limit > books.limit {
            let more = limit - books.limit;
            let repaid = more.min(books.debt);
            books.debt -= repaid;
            self.room.add_permits(more - repaid);
        } else {
            let less = books.limit - limit;
            books.debt += less - self.room.forget_permits(less);
        }
        books.limit = limit;
    }

    pub fn limit(&self) -> usize {
        self.books().limit
    }

    /// Bytes counted now.
    pub fn used(&self) -> usize {
        let books = self.books();
        books.limit - self.room.available_permits().min(books.limit) + books.debt
    }

    /// Requests waiting for room now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Takes `bytes` if they fit now. A request larger than the whole
    /// budget asks for all of it: slow, never refused forever.
    pub fn try_reserve(self: &Arc<Self>, bytes: usize) -> Option<Held> {
        let asked = self.asked(bytes)?;
        self.room.try_acquire_many(asked).ok()?.forget();
        Some(self.held_over(asked, bytes))
    }

    /// Takes `bytes`, waiting for room (after those who waited first) until
    /// `deadline`; `None` past it.
    pub async fn reserve(self: &Arc<Self>, bytes: usize, deadline: Instant) -> Option<Held> {
        if let Some(held) = self.try_reserve(bytes) {
            return Some(held);
        }
        let asked = self.asked(bytes)?;
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waited = Waited(&self.waiting);
        let acquired = tokio::time::timeout_at(deadline, self.room.acquire_many(asked)).await;
        // The semaphore is never closed.
        acquired.ok()?.ok()?.forget();
        Some(self.held_over(asked, bytes))
    }

    /// What to acquire for `bytes`: at most the whole limit (and what one
    /// acquisition can ask).
    fn asked(&self, bytes: usize) -> Option<u32> {
        let limit = self.limit().max(1);
        u32::try_from(bytes.min(limit)).ok()
    }

    /// A hold of `bytes` of which `acquired` were taken from the room.
    fn held_over(self: &Arc<Self>, acquired: u32, bytes: usize) -> Held {
        let mut held = Held {
            budget: Arc::clone(self),
            bytes: acquired as usize,
        };
        held.grow(bytes - acquired as usize);
        held
    }

    /// Counts bytes the agent holds already (an inflated body, a processed
    /// copy): never refused, since refusing would not free them.
    pub fn hold(self: &Arc<Self>, bytes: usize) -> Held {
        self.held_over(0, bytes)
    }

    /// `hold` for an owner that tracks its own total (a memory queue): takes
    /// the room there is, and counts the rest as debt.
    pub fn charge(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let mut books = self.books();
        let taken = self.room.forget_permits(bytes);
        books.debt += bytes - taken;
    }

    /// Gives back what `charge` counted: debt first, then room.
    pub fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let mut books = self.books();
        let repaid = bytes.min(books.debt);
        books.debt -= repaid;
        self.room.add_permits(bytes - repaid);
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
        assert_eq!(budget.used(), 1000);
        assert!(budget.try_reserve(1).is_none());
        drop(big);
        assert_eq!(budget.used(), 0);
        assert!(budget.try_reserve(1).is_some());
    }

    #[test]
    fn held_past_the_limit_is_repaid_before_room_frees() {
        let budget = Budget::new(100);
        budget.charge(150);
        assert_eq!(budget.used(), 150);
        budget.release(60);
        assert_eq!(budget.used(), 90);
        assert!(budget.try_reserve(11).is_none());
        budget.release(90);
        assert_eq!(budget.used(), 0);
        assert!(budget.try_reserve(100).is_some());
    }

    #[test]
    fn a_lower_limit_keeps_what_is_held() {
        let budget = Budget::new(100);
        let held = budget.try_reserve(80).unwrap();
        budget.set_limit(50);
        assert_eq!((budget.used(), budget.limit()), (80, 50));
        drop(held);
        assert_eq!(budget.used(), 0);
        let _all = budget.try_reserve(50).unwrap();
        assert!(budget.try_reserve(1).is_none());
        budget.set_limit(200);
        let _rest = budget.try_reserve(150).unwrap();
        assert!(budget.try_reserve(1).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_are_served_in_order() {
        let budget = Budget::new(100);
        let held = budget.try_reserve(100).unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        let big = {
            let budget = Arc::clone(&budget);
            tokio::spawn(async move { budget.reserve(100, deadline).await })
        };
        tokio::time::sleep(Duration::from_millis(1)).await;
        // Comes later and would fit sooner: it waits its turn.
        let small = {
            let budget = Arc::clone(&budget);
            tokio::spawn(async move { budget.reserve(10, deadline).await })
        };
        tokio::time::sleep(Duration::from_millis(1)).await;
        drop(held);
        let big = big.await.unwrap().expect("first in line");
        assert_eq!(budget.waiting(), 1);
        drop(big);
        assert!(small.await.unwrap().is_some());
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

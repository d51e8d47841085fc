//! An in-memory queue bounded in bytes.

use super::{now_ms, WhenFull};
use super::{Entry, PushError};
use crate::budget::Budget;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// `S` keeps queues of different signals from being mixed up.
pub struct MemoryQueue<S> {
    state: Mutex<State>,
    /// Woken when an entry arrives or the queue closes.
    not_empty: Notify,
    /// Woken when room is freed.
    not_full: Notify,
    /// Woken once per entry taken, for the receiver whose turn it is to
    /// wait for room (`has_room`): one leaves, one comes in.
    admission: Notify,
    /// Whose turn it is (`Queue::wait_for_room`).
    turn: tokio::sync::Mutex<()>,
    capacity: usize,
    /// What it holds is counted there, from push to pop.
    budget: Option<Arc<Budget>>,
    when_full: WhenFull,
    block_timeout: Duration,
    signal: PhantomData<fn() -> S>,
}

struct State {
    entries: VecDeque<Entry>,
    /// When each entry came (Unix ms), in step with `entries`.
    enqueued: VecDeque<u64>,
    bytes: usize,
    items: usize,
    closed: bool,
}

/// What a push did besides queuing, for the caller to count.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Evicted {
    /// Items dropped from the head to make room (`when_full: drop_oldest`).
    pub items: usize,
}

impl<S> MemoryQueue<S> {
    pub fn new(capacity: usize, when_full: WhenFull, block_timeout: Duration) -> Self {
        MemoryQueue {
            state: Mutex::new(State {
                entries: VecDeque::new(),
                enqueued: VecDeque::new(),
                bytes: 0,
                items: 0,
                closed: false,
            }),
            not_empty: Notify::new(),
            not_full: Notify::new(),
            admission: Notify::new(),
            turn: tokio::sync::Mutex::new(()),
            capacity,
            budget: None,
            when_full,
            block_timeout,
            signal: PhantomData,
        }
    }

    /// Counts what it holds against `budget`.
    pub fn with_budget(mut self, budget: Arc<Budget>) -> Self {
        self.budget = Some(budget);
        self
    }

    fn charge(&self, bytes: usize) {
        if let Some(budget) = &self.budget {
            budget.charge(bytes);
        }
    }

    fn release(&self, bytes: usize) {
        if let Some(budget) = &self.budget {
            budget.release(bytes);
        }
    }

    /// Whether `bytes` more would be taken now without waiting.
    pub fn has_room(&self, bytes: usize) -> bool {
        let state = self.lock();
        state.closed
            || self.when_full != WhenFull::Block
            || state.entries.is_empty()
            || state.bytes + bytes <= self.capacity
    }

    /// Woken when an entry is taken (see `has_room`), and whose turn it is.
    pub fn admission(&self) -> (&Notify, &tokio::sync::Mutex<()>) {
        (&self.admission, &self.turn)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state torn: every
        // critical section is a few field updates. Keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `entry`, waiting up to `block_timeout` for room when full and
    /// `when_full` is `block`. An entry larger than the whole queue is taken
    /// when the queue is empty, so it can never be refused forever.
    pub async fn push(&self, entry: Entry) -> Result<Evicted, PushError> {
        super::admit(self.when_full, self.block_timeout, &self.not_full, || {
            self.try_push(&entry)
        })
        .await
    }

    fn try_push(&self, entry: &Entry) -> Result<Evicted, PushError> {
        let mut state = self.lock();
        if state.closed {
            return Err(PushError::Closed);
        }
        let bytes = entry.bytes();
        let mut evicted = Evicted::default();
        let mut evicted_bytes = 0;
        if self.when_full == WhenFull::DropOldest {
            while state.bytes + bytes > self.capacity {
                let Some(old) = state.entries.pop_front() else {
                    break;
                };
                state.enqueued.pop_front();
                state.bytes -= old.bytes();
                state.items -= old.items;
                evicted.items += old.items;
                evicted_bytes += old.bytes();
            }
        }
        let fits = state.bytes + bytes <= self.capacity || state.entries.is_empty();
        if !fits {
            return Err(PushError::Full);
        }
        let entry = entry.clone();
        state.bytes += entry.bytes();
        state.items += entry.items;
        state.entries.push_back(entry);
        state.enqueued.push_back(now_ms());
        drop(state);
        self.charge(bytes);
        self.release(evicted_bytes);
        self.not_empty.notify_one();
        Ok(evicted)
    }

    /// The next entry, waiting for one; `None` once closed and drained.
    pub async fn pop(&self) -> Option<Entry> {
        loop {
            let arrived = self.not_empty.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            match self.try_pop() {
                Ok(entry) => return entry,
                Err(()) => arrived.await,
            }
        }
    }

    /// The next entry if one arrives before `deadline`.
    pub async fn pop_until(&self, deadline: Instant) -> Option<Entry> {
        loop {
            let arrived = self.not_empty.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            match self.try_pop() {
                Ok(entry) => return entry,
                Err(()) => {
                    if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    /// `Ok(Some)` an entry, `Ok(None)` closed and empty, `Err` empty and open.
    fn try_pop(&self) -> Result<Option<Entry>, ()> {
        let mut state = self.lock();
        match state.entries.pop_front() {
            Some(entry) => {
                state.enqueued.pop_front();
                state.bytes -= entry.bytes();
                state.items -= entry.items;
                let more = !state.entries.is_empty();
                drop(state);
                self.release(entry.bytes());
                self.not_full.notify_waiters();
                self.admission.notify_one();
                if more {
                    // Another consumer may be waiting too.
                    self.not_empty.notify_one();
                }
                Ok(Some(entry))
            }
            None if state.closed => Ok(None),
            None => Err(()),
        }
    }

    /// Refuses new entries; consumers drain what is queued, then get `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.not_empty.notify_waiters();
        self.not_full.notify_waiters();
        self.admission.notify_waiters();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// (entries, bytes, items) queued now.
    pub fn usage(&self) -> (usize, usize, usize) {
        let state = self.lock();
        (state.entries.len(), state.bytes, state.items)
    }

    /// When the entry at the head came (Unix ms).
    pub fn oldest_enqueued_ms(&self) -> Option<u64> {
        self.lock().enqueued.front().copied()
    }
}

impl<S> Drop for MemoryQueue<S> {
    /// A queue dropped with entries (a retired exporter's, at the hard
    /// stop) gives their room back.
    fn drop(&mut self) {
        let bytes = self.lock().bytes;
        self.release(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(bytes: usize) -> Entry {
        Entry {
            data: vec![bytes as u8; bytes].into(),
            items: 1,
            position: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn block_refuses_after_the_timeout() {
        let q = MemoryQueue::<()>::new(10, WhenFull::Block, Duration::from_millis(100));
        q.push(entry(8)).await.unwrap();
        let started = Instant::now();
        assert_eq!(q.push(entry(8)).await.unwrap_err(), PushError::Full);
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn block_waits_for_room() {
        let q = std::sync::Arc::new(MemoryQueue::<()>::new(
            10,
            WhenFull::Block,
            Duration::from_secs(5),
        ));
        q.push(entry(8)).await.unwrap();
        let consumer = {
            let q = q.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                q.pop().await.unwrap()
            })
        };
        q.push(entry(8)).await.unwrap();
        assert_eq!(consumer.await.unwrap().bytes(), 8);
        assert_eq!(q.usage(), (1, 8, 1));
    }

    #[tokio::test]
    async fn drop_newest_refuses_at_once_and_drop_oldest_evicts() {
        let q = MemoryQueue::<()>::new(10, WhenFull::DropNewest, Duration::from_secs(5));
        q.push(entry(6)).await.unwrap();
        assert_eq!(q.push(entry(6)).await.unwrap_err(), PushError::Full);

        let q = MemoryQueue::<()>::new(10, WhenFull::DropOldest, Duration::from_secs(5));
        q.push(entry(6)).await.unwrap();
        assert_eq!(q.push(entry(7)).await.unwrap(), Evicted { items: 1 });
        assert_eq!(q.pop().await.unwrap().bytes(), 7);
    }

    #[tokio::test]
    async fn oversize_entry_is_taken_when_empty() {
        let q = MemoryQueue::<()>::new(10, WhenFull::Block, Duration::from_millis(1));
        q.push(entry(100)).await.unwrap();
        assert_eq!(q.usage().1, 100);
    }

    #[tokio::test]
    async fn close_drains_then_ends() {
        let q = MemoryQueue::<()>::new(100, WhenFull::Block, Duration::from_millis(1));
        q.push(entry(1)).await.unwrap();
        q.close();
        assert_eq!(q.push(entry(1)).await.unwrap_err(), PushError::Closed);
        assert!(q.pop().await.is_some());
        assert!(q.pop().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn pop_until_times_out() {
        let q: MemoryQueue<()> = MemoryQueue::new(100, WhenFull::Block, Duration::ZERO);
        let deadline = Instant::now() + Duration::from_millis(10);
        assert!(q.pop_until(deadline).await.is_none());
    }
}

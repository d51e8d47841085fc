//! The disk queue: a write-ahead log of segment files (`format.rs`), split
//! by role: `recovery.rs` opens what a previous run left, `writer.rs`
//! appends and rotates, `reader.rs` hands records out in order,
//! `checkpoint.rs` acknowledges them and persists the read checkpoint.
//!
//! A push returns once the record is written (and, with `fsync: always`,
//! synced: concurrent pushes share one fsync). A record's space is released
//! when the sender acknowledges it, and the checkpoint (the first
//! unacknowledged record) is persisted before any segment is deleted. After
//! a crash the queue replays from the checkpoint: records may be delivered
//! twice, never zero times.
//!
//! The state sits behind one mutex that is never held across an fsync: every
//! sync, checkpoint write and segment deletion runs on a blocking thread, so
//! the runtime's threads never wait on the disk.

mod checkpoint;
mod format;
mod reader;
mod recovery;
pub mod scan;
mod writer;

pub use checkpoint::Position;

use super::{now_ms, Entry, Evicted, PushError, WhenFull};
use crate::metrics::Counter;
use format::HEADER_LEN;
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use writer::{SyncJob, Writer};

/// When appended records reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Before the push returns (the client's answer waits for it).
    Always,
    /// Every interval, in the background; a push returns once written.
    Interval(Duration),
    /// When the OS decides; a push returns once written.
    Never,
}

#[derive(Debug, Clone)]
pub struct DiskOptions {
    pub dir: PathBuf,
    pub capacity: u64,
    pub segment_size: u64,
    pub when_full: WhenFull,
    pub block_timeout: Duration,
    pub fsync: Fsync,
    /// Records older than this are dropped when read (`None`: kept forever).
    pub max_age: Option<Duration>,
}

/// Counters the queue reports into.
#[derive(Clone, Default)]
pub struct DiskCounters {
    pub corrupt_records: Counter,
    pub expired_items: Counter,
}

pub struct DiskQueue<S> {
    inner: Arc<Inner>,
    signal: PhantomData<fn() -> S>,
}

struct Inner {
    options: DiskOptions,
    counters: DiskCounters,
    state: Mutex<State>,
    not_empty: Notify,
    not_full: Notify,
    /// Woken once per record acknowledged, for the receiver whose turn it
    /// is to wait for room (`has_room`).
    admission: Notify,
    /// Whose turn it is (`Queue::wait_for_room`).
    turn: tokio::sync::Mutex<()>,
    /// A sync job ended.
    synced: Notify,
    /// A checkpoint job ended.
    checkpointed: Notify,
}

/// A record handed out, until it is acknowledged.
struct InFlight {
    start: Position,
    next: Position,
    bytes: u64,
    items: u64,
    acked: bool,
    /// When it was written (Unix ms).
    enqueued_ms: u64,
}

struct State {
    /// Segment number → bytes of it that hold records (its length).
    segments: BTreeMap<u64, u64>,
    writer: Writer,
    read: Position,
    /// The first record not yet acknowledged: what the checkpoint records.
    acked: Position,
    in_flight: VecDeque<InFlight>,
    live_bytes: u64,
    live_items: u64,
    live_entries: u64,
    /// The segment being read, open.
    reader: Option<(u64, File)>,
    closed: bool,
    checkpointed: Position,
    checkpointing: bool,
    last_checkpoint: Instant,
}

impl State {
    /// A record is acknowledged (delivered, dropped or expired): its space
    /// is free, whatever the records before it are doing.
    fn release(&mut self, bytes: u64, items: u64) {
        self.live_bytes = self.live_bytes.saturating_sub(bytes);
        self.live_items = self.live_items.saturating_sub(items);
        if bytes > 0 {
            self.live_entries = self.live_entries.saturating_sub(1);
        }
    }
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:020}.seg"))
}

impl<S> DiskQueue<S> {
    /// Opens (or creates) the queue in `options.dir`, recovering what a
    /// previous run left. Blocking: call it before serving.
    pub fn open(options: DiskOptions, counters: DiskCounters) -> std::io::Result<Self> {
        let dir = &options.dir;
        let recovered = recovery::recover(dir, &counters.corrupt_records)?;
        let mut segments = recovered.segments;
        let last = segments.keys().next_back().copied();
        let writer = Writer::open(dir, last, options.fsync != Fsync::Never)?;
        segments.insert(writer.segment, HEADER_LEN);
        let start = recovered
            .start
            .or_else(|| recovery::first(&segments, 0))
            .expect("the write segment exists");
        Ok(DiskQueue {
            inner: Arc::new(Inner {
                counters,
                state: Mutex::new(State {
                    segments,
                    writer,
                    read: start,
                    acked: start,
                    in_flight: VecDeque::new(),
                    live_bytes: recovered.live_bytes,
                    live_items: recovered.live_items,
                    live_entries: recovered.live_entries,
                    reader: None,
                    closed: false,
                    checkpointed: start,
                    checkpointing: false,
                    last_checkpoint: Instant::now(),
                }),
                options,
                not_empty: Notify::new(),
                not_full: Notify::new(),
                admission: Notify::new(),
                turn: tokio::sync::Mutex::new(()),
                synced: Notify::new(),
                checkpointed: Notify::new(),
            }),
            signal: PhantomData,
        })
    }

    #[cfg(test)]
    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock()
    }

    /// Appends `entry`; returns once it is as durable as `fsync` asks.
    pub async fn push(&self, entry: Entry) -> Result<Evicted, PushError> {
        let options = &self.inner.options;
        // Encoded once: a blocked push retries on every wake-up.
        let record = format::encode_record(entry.items as u32, now_ms(), &entry.data);
        let (write, evicted) = super::admit(
            options.when_full,
            options.block_timeout,
            &self.inner.not_full,
            || self.try_push(&record, entry.items),
        )
        .await?;
        self.wait_durable(write).await?;
        Ok(evicted)
    }

    /// Appends an encoded record of `items` if it fits (making room first
    /// with `drop_oldest`); returns its write number for `wait_durable`.
    fn try_push(&self, record: &[u8], items: usize) -> Result<(u64, Evicted), PushError> {
        let inner = &self.inner;
        let mut state = inner.lock();
        if state.closed {
            return Err(PushError::Closed);
        }
        let len = record.len() as u64;
        let mut evicted = Evicted::default();
        let mut checkpoint = false;
        // Records handed to senders are being delivered: they are not
        // evicted, so evicting only helps when the rest can make room.
        let evictable = || {
            let sending: u64 = state
                .in_flight
                .iter()
                .filter(|f| !f.acked)
                .map(|f| f.bytes)
                .sum();
            sending + len <= inner.options.capacity || sending == 0
        };
        if inner.options.when_full == WhenFull::DropOldest && evictable() {
            while state.live_bytes + len > inner.options.capacity {
                let Some(read) =
                    state.read_next(&inner.options.dir, &inner.counters, inner.options.max_age)
                else {
                    break;
                };
                evicted.items += read.entry.items;
                state.release(read.bytes, read.entry.items as u64);
                state.in_flight.push_back(InFlight {
                    start: read.start,
                    next: read.next,
                    bytes: read.bytes,
                    items: read.entry.items as u64,
                    acked: true,
                    enqueued_ms: read.enqueued_ms,
                });
                checkpoint |= state.advance();
            }
        }
        if state.live_bytes + len > inner.options.capacity && state.live_entries > 0 {
            drop(state);
            if checkpoint {
                Inner::checkpoint(inner);
            }
            return Err(PushError::Full);
        }
        let appended = {
            let state = &mut *state;
            state
                .writer
                .append(record, inner.options.segment_size, &mut state.segments)
        };
        let write = match appended {
            Ok(write) => write,
            Err(e) => {
                drop(state);
                if checkpoint {
                    Inner::checkpoint(inner);
                }
                return Err(storage(e));
            }
        };
        state.live_bytes += len;
        state.live_items += items as u64;
        state.live_entries += 1;
        drop(state);
        if checkpoint {
            Inner::checkpoint(inner);
        }
        inner.not_empty.notify_waiters();
        Ok((write, evicted))
    }

    /// With `fsync: always`, waits until write number `write` is synced.
    /// The first waiter syncs for everyone written so far (group commit).
    async fn wait_durable(&self, write: u64) -> Result<(), PushError> {
        if self.inner.options.fsync != Fsync::Always {
            return Ok(());
        }
        loop {
            let synced = self.inner.synced.notified();
            tokio::pin!(synced);
            synced.as_mut().enable();
            {
                let mut state = self.inner.lock();
                if state.writer.synced >= write {
                    return Ok(());
                }
                if let Some(error) = &state.writer.failed {
                    return Err(PushError::Storage(error.clone()));
                }
                if !state.writer.syncing {
                    if let Some(job) = state.writer.sync_job().map_err(storage)? {
                        state.writer.syncing = true;
                        // The sync is its own task: a waiter that goes away
                        // (its client hung up) does not leave it half done.
                        let inner = Arc::clone(&self.inner);
                        tokio::spawn(async move { inner.sync(job).await });
                    }
                }
            }
            synced.await;
        }
    }

    /// Syncs what was written every `interval` while open (`fsync: interval`).
    pub async fn run_syncer(&self, interval: Duration) {
        loop {
            tokio::time::sleep(interval).await;
            let job = {
                let mut state = self.inner.lock();
                if state.closed {
                    return;
                }
                if state.writer.syncing {
                    continue;
                }
                match state.writer.sync_job() {
                    Ok(Some(job)) => {
                        state.writer.syncing = true;
                        job
                    }
                    _ => continue,
                }
            };
            let _ = self.inner.sync(job).await;
        }
    }

    /// The next record in order, waiting for one; `None` once closed (what
    /// is on disk then waits for the next start).
    pub async fn pop(&self) -> Option<Entry> {
        self.pop_until(None).await
    }

    /// The next record if one comes before `deadline` (`None`: no deadline).
    pub async fn pop_until(&self, deadline: impl Into<Option<Instant>>) -> Option<Entry> {
        let deadline = deadline.into();
        let inner = &self.inner;
        loop {
            let arrived = inner.not_empty.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let checkpoint = {
                let mut state = inner.lock();
                if state.closed {
                    return None;
                }
                let read =
                    state.read_next(&inner.options.dir, &inner.counters, inner.options.max_age);
                if let Some(read) = read {
                    state.in_flight.push_back(InFlight {
                        start: read.start,
                        next: read.next,
                        bytes: read.bytes,
                        items: read.entry.items as u64,
                        acked: false,
                        enqueued_ms: read.enqueued_ms,
                    });
                    return Some(read.entry);
                }
                // Expired and corrupt records read on the way are acknowledged already.
                state.advance()
            };
            inner.not_full.notify_waiters();
            if checkpoint {
                Inner::checkpoint(inner);
            }
            match deadline {
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                        return None;
                    }
                }
                None => arrived.await,
            }
        }
    }

    /// Marks delivered (or dropped) records and releases their space at
    /// once; the checkpoint moves past them once every record before them
    /// is acknowledged too (persisted in the background).
    pub fn ack(&self, positions: &[Position]) {
        let checkpoint = {
            let mut state = self.inner.lock();
            for position in positions {
                let Some(f) = state.in_flight.iter_mut().find(|f| f.start == *position) else {
                    continue;
                };
                if !f.acked {
                    f.acked = true;
                    let (bytes, items) = (f.bytes, f.items);
                    state.release(bytes, items);
                }
            }
            state.advance()
        };
        self.inner.not_full.notify_waiters();
        for _ in positions {
            self.inner.admission.notify_one();
        }
        if checkpoint {
            Inner::checkpoint(&self.inner);
        }
    }

    /// Whether about `bytes` more would be taken now without waiting.
    pub fn has_room(&self, bytes: usize) -> bool {
        let state = self.inner.lock();
        state.closed
            || self.inner.options.when_full != WhenFull::Block
            || state.live_entries == 0
            || state.live_bytes + bytes as u64 <= self.inner.options.capacity
    }

    /// Woken when a record is acknowledged (see `has_room`), and whose
    /// turn it is.
    pub fn admission(&self) -> (&Notify, &tokio::sync::Mutex<()>) {
        (&self.inner.admission, &self.inner.turn)
    }

    /// Stops handing out records; what remains stays on disk for the next start.
    pub fn close(&self) {
        self.inner.lock().closed = true;
        self.inner.not_empty.notify_waiters();
        self.inner.not_full.notify_waiters();
        self.inner.admission.notify_waiters();
    }

    pub fn is_closed(&self) -> bool {
        self.inner.lock().closed
    }

    /// After the senders have stopped: sync what was written and persist
    /// the checkpoint, off the runtime's threads.
    pub async fn finish(&self) -> std::io::Result<()> {
        self.settled().await;
        let job = self.inner.lock().writer.sync_job()?;
        if let Some(job) = job {
            self.inner.lock().writer.syncing = true;
            self.inner
                .sync(job)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        let job = self.inner.lock().checkpoint_job(&self.inner.options.dir);
        if let Some(job) = job {
            let (job, result) = blocking(move || {
                let result = job.run();
                (job, result)
            })
            .await?;
            self.inner.lock().checkpointed(&job, result.is_ok());
            result?;
        }
        Ok(())
    }

    /// Waits until no checkpoint job is out (tests that crash a queue use it
    /// so that a job of the old instance does not race the new one).
    pub async fn settled(&self) {
        loop {
            let done = self.inner.checkpointed.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if !self.inner.lock().checkpointing {
                return;
            }
            done.await;
        }
    }

    /// (entries, bytes, items) not yet delivered.
    pub fn usage(&self) -> (usize, usize, usize) {
        let state = self.inner.lock();
        (
            state.live_entries as usize,
            state.live_bytes as usize,
            state.live_items as usize,
        )
    }

    /// When the oldest record being delivered was written (Unix ms): the
    /// queue is read in order, so it is the oldest the queue holds.
    pub fn oldest_enqueued_ms(&self) -> Option<u64> {
        let state = self.inner.lock();
        state
            .in_flight
            .iter()
            .filter(|f| !f.acked)
            .map(|f| f.enqueued_ms)
            .min()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a sync job on a blocking thread and records what it made durable.
    /// A failed fsync is final: Linux may have dropped the pages it could
    /// not write, so a later fsync that succeeds proves nothing. Every
    /// write after it is refused until a restart replays the files.
    async fn sync(&self, job: SyncJob) -> Result<(), PushError> {
        let outcome = blocking(move || job.run()).await;
        let mut state = self.lock();
        state.writer.syncing = false;
        let result = match outcome {
            Ok(Ok(target)) => {
                state.writer.settle(target);
                Ok(())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = &result {
            tracing::error!(dir = %self.options.dir.display(), %error, "fsync failed: the disk queue refuses new data until the agent restarts");
            state.writer.failed = Some(format!("fsync failed: {error}"));
        }
        drop(state);
        self.synced.notify_waiters();
        result.map_err(PushError::Storage)
    }

    /// Persists the checkpoint on a blocking thread unless a job is out;
    /// chains another when more was acknowledged meanwhile.
    fn checkpoint(this: &Arc<Inner>) {
        let Some(mut job) = this.lock().checkpoint_job(&this.options.dir) else {
            return;
        };
        let inner = Arc::clone(this);
        tokio::task::spawn_blocking(move || loop {
            let ok = job.run().is_ok();
            let next = {
                let mut state = inner.lock();
                let again = state.checkpointed(&job, ok);
                again
                    .then(|| state.checkpoint_job(&inner.options.dir))
                    .flatten()
            };
            inner.checkpointed.notify_waiters();
            match next {
                Some(more) => job = more,
                None => break,
            }
        });
    }
}

/// Runs `work` on the runtime's blocking threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(std::io::Error::other)
}

fn storage(e: std::io::Error) -> PushError {
    PushError::Storage(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::format::RECORD_HEAD;
    use super::*;
    use std::fs;

    fn options(dir: &Path) -> DiskOptions {
        DiskOptions {
            dir: dir.to_path_buf(),
            capacity: 1 << 20,
            segment_size: 4096,
            when_full: WhenFull::Block,
            block_timeout: Duration::from_millis(50),
            fsync: Fsync::Always,
            max_age: None,
        }
    }

    fn open(options: &DiskOptions) -> (DiskQueue<()>, DiskCounters) {
        let counters = DiskCounters::default();
        (
            DiskQueue::open(options.clone(), counters.clone()).unwrap(),
            counters,
        )
    }

    fn entry(n: u32) -> Entry {
        Entry {
            data: format!("record {n:04} {}", "x".repeat(300))
                .into_bytes()
                .into(),
            items: n as usize % 7 + 1,
            position: None,
        }
    }

    fn number(e: &Entry) -> u32 {
        std::str::from_utf8(&e.data[7..11])
            .unwrap()
            .parse()
            .unwrap()
    }

    async fn drain(q: &DiskQueue<()>) -> Vec<Entry> {
        let mut out = Vec::new();
        while let Some(e) = q.pop_until(Instant::now()).await {
            out.push(e);
        }
        out
    }

    fn segment_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "seg"))
            .collect();
        files.sort();
        files
    }

    #[tokio::test]
    async fn delivers_in_order_and_frees_acknowledged_segments() {
        let dir = tempfile::tempdir().unwrap();
        let (q, _) = open(&options(dir.path()));
        for n in 0..40 {
            q.push(entry(n)).await.unwrap();
        }
        assert!(segment_files(dir.path()).len() > 3, "small segments rotate");
        let got = drain(&q).await;
        assert_eq!(
            got.iter().map(number).collect::<Vec<_>>(),
            (0..40).collect::<Vec<_>>()
        );
        assert_eq!(got[3].items, 4);
        let positions: Vec<Position> = got.iter().map(|e| e.position.unwrap()).collect();
        q.ack(&positions);
        assert_eq!(q.usage(), (0, 0, 0), "space is released at once");
        // The checkpoint is persisted, then the segments it passed deleted,
        // off the runtime's threads.
        q.settled().await;
        assert_eq!(
            segment_files(dir.path()).len(),
            1,
            "only the active segment is left"
        );
    }

    #[tokio::test]
    async fn a_crash_replays_what_was_not_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(dir.path());
        {
            let (q, _) = open(&opts);
            for n in 0..30 {
                q.push(entry(n)).await.unwrap();
            }
            let got = drain(&q).await;
            // Delivered the first 20; 20..30 were handed out but not delivered.
            let delivered: Vec<Position> = got[..20].iter().map(|e| e.position.unwrap()).collect();
            q.ack(&delivered);
            q.finish().await.unwrap();
            // Dropped without close: what kill -9 leaves.
        }
        let (q, _) = open(&opts);
        let replayed: Vec<u32> = drain(&q).await.iter().map(number).collect();
        assert_eq!(replayed, (20..30).collect::<Vec<_>>());
        // New data goes after the old.
        q.push(entry(99)).await.unwrap();
        assert_eq!(
            drain(&q).await.iter().map(number).collect::<Vec<_>>(),
            vec![99]
        );
    }

    #[tokio::test]
    async fn without_a_checkpoint_everything_is_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(dir.path());
        {
            let (q, _) = open(&opts);
            for n in 0..5 {
                q.push(entry(n)).await.unwrap();
            }
        }
        fs::remove_file(dir.path().join("checkpoint")).ok();
        let (q, _) = open(&opts);
        assert_eq!(drain(&q).await.len(), 5);
    }

    #[tokio::test]
    async fn corrupt_records_are_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let opts = DiskOptions {
            segment_size: 1 << 20,
            ..options(dir.path())
        };
        {
            let (q, _) = open(&opts);
            for n in 0..10 {
                q.push(entry(n)).await.unwrap();
            }
        }
        let file = segment_files(dir.path())[0].clone();
        let mut bytes = fs::read(&file).unwrap();
        let record = RECORD_HEAD + entry(0).data.len();
        // Flip a payload byte of record 2 and the magic of record 5.
        bytes[HEADER_LEN as usize + 2 * record + RECORD_HEAD + 3] ^= 0x55;
        bytes[HEADER_LEN as usize + 5 * record] ^= 0xff;
        // And tear the last record in half.
        bytes.truncate(bytes.len() - record / 2);
        fs::write(&file, &bytes).unwrap();
        let (q, counters) = open(&opts);
        let got: Vec<u32> = drain(&q).await.iter().map(number).collect();
        assert_eq!(got, vec![0, 1, 3, 4, 6, 7, 8]);
        assert_eq!(counters.corrupt_records.get(), 2);
        // The torn tail was cut off on open.
        assert_eq!(
            fs::metadata(&file).unwrap().len() as usize,
            HEADER_LEN as usize + 9 * record
        );
    }

    #[tokio::test]
    async fn a_missing_segment_or_bad_header_does_not_stop_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(dir.path());
        {
            let (q, _) = open(&opts);
            for n in 0..40 {
                q.push(entry(n)).await.unwrap();
            }
        }
        let files = segment_files(dir.path());
        let record = (RECORD_HEAD + entry(0).data.len()) as u64;
        let records_in = |f: &PathBuf| (fs::metadata(f).unwrap().len() - HEADER_LEN) / record;
        let lost = records_in(&files[1]) + records_in(&files[2]);
        fs::remove_file(&files[1]).unwrap();
        fs::write(&files[2], b"not a segment").unwrap();
        let (q, counters) = open(&opts);
        let got: Vec<u32> = drain(&q).await.iter().map(number).collect();
        assert_eq!(got.len() as u64, 40 - lost, "{got:?}");
        assert!(got.windows(2).all(|w| w[0] < w[1]), "in order: {got:?}");
        assert_eq!(got[0], 0);
        assert_eq!(got.last(), Some(&39));
        assert_eq!(counters.corrupt_records.get(), 1, "the bad header");
    }

    #[tokio::test]
    async fn full_queue_blocks_then_refuses_and_acks_make_room() {
        let dir = tempfile::tempdir().unwrap();
        let record = (RECORD_HEAD + entry(0).data.len()) as u64;
        let opts = DiskOptions {
            capacity: 3 * record,
            ..options(dir.path())
        };
        let (q, _) = open(&opts);
        for n in 0..3 {
            q.push(entry(n)).await.unwrap();
        }
        assert_eq!(q.push(entry(3)).await.unwrap_err(), PushError::Full);
        let first = q.pop().await.unwrap();
        q.ack(&[first.position.unwrap()]);
        q.push(entry(3)).await.unwrap();
    }

    #[tokio::test]
    async fn drop_oldest_and_max_age_count_what_they_drop() {
        let dir = tempfile::tempdir().unwrap();
        let record = (RECORD_HEAD + entry(0).data.len()) as u64;
        let opts = DiskOptions {
            capacity: 3 * record,
            when_full: WhenFull::DropOldest,
            ..options(dir.path())
        };
        let (q, _) = open(&opts);
        let mut evicted = 0;
        for n in 0..5 {
            evicted += q.push(entry(n)).await.unwrap().items;
        }
        assert_eq!(evicted, entry(0).items + entry(1).items);
        assert_eq!(
            drain(&q).await.iter().map(number).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );

        let dir = tempfile::tempdir().unwrap();
        let opts = DiskOptions {
            max_age: Some(Duration::from_millis(30)),
            ..options(dir.path())
        };
        let (q, counters) = open(&opts);
        q.push(entry(1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        q.push(entry(2)).await.unwrap();
        assert_eq!(
            drain(&q).await.iter().map(number).collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(counters.expired_items.get(), entry(1).items as u64);
    }

    #[tokio::test]
    async fn drop_oldest_evicts_around_a_record_being_sent() {
        let dir = tempfile::tempdir().unwrap();
        let record = (RECORD_HEAD + entry(0).data.len()) as u64;
        let opts = DiskOptions {
            capacity: 3 * record,
            when_full: WhenFull::DropOldest,
            ..options(dir.path())
        };
        let (q, _) = open(&opts);
        for n in 0..3 {
            q.push(entry(n)).await.unwrap();
        }
        // Record 0 is with a sender (retrying, say) when the queue fills.
        let sending = q.pop().await.unwrap();
        let evicted = q.push(entry(3)).await.unwrap();
        assert_eq!(
            evicted.items,
            entry(1).items,
            "only the oldest waiting one goes"
        );
        assert_eq!(q.usage().0, 3);
        assert_eq!(
            drain(&q).await.iter().map(number).collect::<Vec<_>>(),
            vec![2, 3]
        );
        // The one being sent is never evicted: with no room besides it, Full.
        let dir = tempfile::tempdir().unwrap();
        let opts = DiskOptions {
            capacity: record,
            when_full: WhenFull::DropOldest,
            ..options(dir.path())
        };
        let (q, _) = open(&opts);
        q.push(entry(0)).await.unwrap();
        let held = q.pop().await.unwrap();
        assert_eq!(q.push(entry(1)).await.unwrap_err(), PushError::Full);
        q.ack(&[held.position.unwrap()]);
        q.push(entry(1)).await.unwrap();
        drop(sending);
    }

    #[tokio::test]
    async fn concurrent_pushes_share_fsyncs() {
        let dir = tempfile::tempdir().unwrap();
        let opts = DiskOptions {
            segment_size: 1 << 20,
            capacity: 64 << 20,
            ..options(dir.path())
        };
        let (q, _) = open(&opts);
        let q = std::sync::Arc::new(q);
        let tasks: Vec<_> = (0..64)
            .map(|n| {
                let q = q.clone();
                tokio::spawn(async move { q.push(entry(n)).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let state = q.lock();
        assert_eq!(state.writer.writes, 64);
        assert!(state.writer.synced >= 64);
    }
}

//! The disk queue: a write-ahead log of segment files (`format.rs`) with a
//! read checkpoint (`checkpoint.rs`).
//!
//! A push returns once the record is written (and, with `fsync: always`,
//! synced: concurrent pushes share one fsync). Readers hand records out in
//! order; a record's space is released when the sender acknowledges it, and
//! the checkpoint (the first unacknowledged record) is persisted before any
//! segment is deleted. After a crash the queue replays from the checkpoint:
//! records may be delivered twice, never zero times.
//!
//! On open the queue never refuses its own files: a torn tail is truncated,
//! a bad segment header is skipped, a missing segment is stepped over, and
//! corrupt records are skipped and counted when the reader meets them.

mod checkpoint;
mod format;

pub use checkpoint::Position;

use super::{Entry, PushError};
use crate::metrics::Counter;
use crate::queue::WhenFull;
use format::{Found, HEADER_LEN, RECORD_HEAD};
use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::marker::PhantomData;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;
use tokio::time::Instant;

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
    options: DiskOptions,
    counters: DiskCounters,
    state: Mutex<State>,
    not_empty: Notify,
    not_full: Notify,
    synced: Notify,
    signal: PhantomData<fn() -> S>,
}

struct InFlight {
    start: Position,
    next: Position,
    bytes: u64,
    items: u64,
    acked: bool,
}

struct State {
    /// Segment number → bytes of it that hold records (its length).
    segments: BTreeMap<u64, u64>,
    write_segment: u64,
    write_file: File,
    read: Position,
    /// The first record not yet acknowledged: what the checkpoint records.
    acked: Position,
    in_flight: VecDeque<InFlight>,
    live_bytes: u64,
    live_items: u64,
    live_entries: u64,
    reader: Option<(u64, File)>,
    closed: bool,
    writes: u64,
    synced: u64,
    syncing: bool,
    checkpointed: Position,
    last_checkpoint: Instant,
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:020}.seg"))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How often the checkpoint is persisted while records are acknowledged;
/// what a crash may replay is at most this much delivery.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

impl<S> DiskQueue<S> {
    /// Opens (or creates) the queue in `options.dir`, recovering what a
    /// previous run left.
    pub fn open(options: DiskOptions, counters: DiskCounters) -> std::io::Result<Self> {
        let dir = &options.dir;
        fs::create_dir_all(dir)?;
        let mut segments: BTreeMap<u64, u64> = BTreeMap::new();
        for item in fs::read_dir(dir)? {
            let name = item?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name
                .strip_suffix(".seg")
                .and_then(|n| n.parse::<u64>().ok())
            {
                segments.insert(n, 0);
            }
        }
        let first = |segments: &BTreeMap<u64, u64>, from: u64| {
            segments.range(from..).next().map(|(&s, _)| Position {
                segment: s,
                offset: HEADER_LEN,
            })
        };
        let start = match checkpoint::read(dir) {
            Some(p) if segments.contains_key(&p.segment) => Some(p),
            Some(p) => first(&segments, p.segment),
            None => first(&segments, 0),
        };
        let (mut live_bytes, mut live_items, mut live_entries) = (0, 0, 0);
        let last = segments.keys().next_back().copied();
        for (&segment, length) in segments.iter_mut() {
            let path = segment_path(dir, segment);
            if start.is_none_or(|s| segment < s.segment) {
                // Consumed before the checkpoint was written: delete.
                let _ = fs::remove_file(&path);
                *length = 0;
                continue;
            }
            let data = format::read_file(&path)?.unwrap_or_default();
            if !format::header_ok(&data) {
                counters.corrupt_records.add(1);
                let _ = fs::remove_file(&path);
                *length = 0;
                continue;
            }
            let mut offset = match start {
                Some(s) if s.segment == segment => s.offset,
                _ => HEADER_LEN,
            };
            loop {
                match format::read_record(data.get(offset as usize..).unwrap_or_default()) {
                    Found::Record(record, len) => {
                        live_bytes += len;
                        live_items += record.items as u64;
                        live_entries += 1;
                        offset += len;
                    }
                    // The reader counts corrupt records when it meets them.
                    Found::Corrupt { skip: Some(skip) } => offset += skip,
                    Found::Corrupt { skip: None } => {
                        offset = data.len() as u64;
                        break;
                    }
                    Found::Torn => {
                        // In the last segment, a write a crash cut short (it
                        // was never acknowledged); anywhere else, damage.
                        if Some(segment) != last {
                            counters.corrupt_records.add(1);
                        }
                        OpenOptions::new()
                            .write(true)
                            .open(&path)?
                            .set_len(offset)?;
                        break;
                    }
                    Found::End => break,
                }
            }
            *length = offset.max(HEADER_LEN);
        }
        segments.retain(|_, length| *length > 0);
        let write_segment = segments.keys().next_back().map_or(1, |last| last + 1);
        let write_file = create_segment(dir, write_segment)?;
        segments.insert(write_segment, HEADER_LEN);
        let start = start
            .filter(|s| segments.contains_key(&s.segment))
            .or_else(|| first(&segments, 0))
            .expect("the write segment exists");
        Ok(DiskQueue {
            counters,
            state: Mutex::new(State {
                segments,
                write_segment,
                write_file,
                read: start,
                acked: start,
                in_flight: VecDeque::new(),
                live_bytes,
                live_items,
                live_entries,
                reader: None,
                closed: false,
                writes: 0,
                synced: 0,
                syncing: false,
                checkpointed: start,
                last_checkpoint: Instant::now(),
            }),
            options,
            not_empty: Notify::new(),
            not_full: Notify::new(),
            synced: Notify::new(),
            signal: PhantomData,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `entry`; returns once it is as durable as `fsync` asks.
    pub async fn push(&self, entry: Entry) -> Result<super::Evicted, PushError> {
        let record = format::encode_record(entry.items as u32, now_ms(), &entry.data);
        let deadline = Instant::now() + self.options.block_timeout;
        loop {
            let room = self.not_full.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.append(&record, entry.items) {
                Ok((write, evicted)) => {
                    self.not_empty.notify_waiters();
                    self.wait_durable(write).await?;
                    return Ok(evicted);
                }
                Err(PushError::Full) if self.options.when_full == WhenFull::Block => {
                    if tokio::time::timeout_at(deadline, room).await.is_err() {
                        return Err(PushError::Full);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn append(&self, record: &[u8], items: usize) -> Result<(u64, super::Evicted), PushError> {
        let mut state = self.lock();
        if state.closed {
            return Err(PushError::Closed);
        }
        let len = record.len() as u64;
        let mut evicted = super::Evicted::default();
        if self.options.when_full == WhenFull::DropOldest {
            while state.live_bytes + len > self.options.capacity {
                match self.read_next(&mut state) {
                    Some((entry, start, next, bytes)) => {
                        evicted.items += entry.items;
                        state.in_flight.push_back(InFlight {
                            start,
                            next,
                            bytes,
                            items: entry.items as u64,
                            acked: true,
                        });
                        self.advance(&mut state);
                    }
                    None => break,
                }
            }
        }
        if state.live_bytes + len > self.options.capacity && state.live_entries > 0 {
            return Err(PushError::Full);
        }
        let state = &mut *state;
        let mut write_len = state.segments[&state.write_segment];
        if write_len + len > self.options.segment_size && write_len > HEADER_LEN {
            if self.options.fsync != Fsync::Never {
                state.write_file.sync_data().map_err(storage)?;
            }
            state.write_segment += 1;
            state.write_file =
                create_segment(&self.options.dir, state.write_segment).map_err(storage)?;
            state.segments.insert(state.write_segment, HEADER_LEN);
            write_len = HEADER_LEN;
        }
        state.write_file.write_all(record).map_err(storage)?;
        state.segments.insert(state.write_segment, write_len + len);
        state.live_bytes += len;
        state.live_items += items as u64;
        state.live_entries += 1;
        state.writes += 1;
        Ok((state.writes, evicted))
    }

    /// With `fsync: always`, waits until write number `write` is synced.
    /// The first waiter syncs for everyone written so far (group commit).
    async fn wait_durable(&self, write: u64) -> Result<(), PushError> {
        if self.options.fsync != Fsync::Always {
            return Ok(());
        }
        loop {
            let synced = self.synced.notified();
            tokio::pin!(synced);
            synced.as_mut().enable();
            let (file, target) = {
                let mut state = self.lock();
                if state.synced >= write {
                    return Ok(());
                }
                if state.syncing {
                    (None, 0)
                } else {
                    state.syncing = true;
                    (
                        Some(state.write_file.try_clone().map_err(storage)?),
                        state.writes,
                    )
                }
            };
            let Some(file) = file else {
                synced.await;
                continue;
            };
            let result = tokio::task::spawn_blocking(move || file.sync_data()).await;
            let mut state = self.lock();
            state.syncing = false;
            if matches!(result, Ok(Ok(()))) {
                state.synced = state.synced.max(target);
            }
            drop(state);
            self.synced.notify_waiters();
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(storage(e)),
                Err(e) => return Err(PushError::Storage(e.to_string())),
            }
        }
    }

    /// Syncs the active segment every `interval` while open (`fsync: interval`).
    pub async fn run_syncer(&self, interval: Duration) {
        loop {
            tokio::time::sleep(interval).await;
            let (file, target) = {
                let state = self.lock();
                if state.closed {
                    return;
                }
                if state.synced >= state.writes {
                    continue;
                }
                match state.write_file.try_clone() {
                    Ok(file) => (file, state.writes),
                    Err(_) => continue,
                }
            };
            if tokio::task::spawn_blocking(move || file.sync_data())
                .await
                .is_ok()
            {
                let mut state = self.lock();
                state.synced = state.synced.max(target);
            }
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
        loop {
            let arrived = self.not_empty.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            {
                let mut state = self.lock();
                if state.closed {
                    return None;
                }
                if let Some((entry, start, next, bytes)) = self.read_next(&mut state) {
                    state.in_flight.push_back(InFlight {
                        start,
                        next,
                        bytes,
                        items: entry.items as u64,
                        acked: false,
                    });
                    return Some(entry);
                }
                // Expired records read on the way are acknowledged already.
                self.advance(&mut state);
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

    /// Reads the record at the read position and moves past it: the entry,
    /// where it starts and where the next begins. Skips (and counts) corrupt
    /// and expired records.
    fn read_next(&self, state: &mut State) -> Option<(Entry, Position, Position, u64)> {
        loop {
            let at = state.read;
            let Some(&length) = state.segments.get(&at.segment) else {
                // The segment is gone: step to the next one.
                let next = state.segments.range(at.segment..).next().map(|(&s, _)| s)?;
                state.read = Position {
                    segment: next,
                    offset: HEADER_LEN,
                };
                continue;
            };
            if at.offset >= length {
                if at.segment >= state.write_segment {
                    return None;
                }
                let next = state
                    .segments
                    .range(at.segment + 1..)
                    .next()
                    .map(|(&s, _)| s)?;
                state.read = Position {
                    segment: next,
                    offset: HEADER_LEN,
                };
                continue;
            }
            let data = match self.read_bytes(state, at, length) {
                Ok(data) => data,
                Err(_) => {
                    // Unreadable: count it and move to the next segment.
                    self.counters.corrupt_records.add(1);
                    state.read = Position {
                        segment: at.segment,
                        offset: length,
                    };
                    continue;
                }
            };
            match format::read_record(&data) {
                Found::Record(record, len) => {
                    let next = Position {
                        segment: at.segment,
                        offset: at.offset + len,
                    };
                    state.read = next;
                    let expired = self.options.max_age.is_some_and(|max| {
                        now_ms().saturating_sub(record.enqueued_ms) > max.as_millis() as u64
                    });
                    if expired {
                        self.counters.expired_items.add(record.items as u64);
                        state.in_flight.push_back(InFlight {
                            start: at,
                            next,
                            bytes: len,
                            items: record.items as u64,
                            acked: true,
                        });
                        continue;
                    }
                    let entry = Entry {
                        data: record.payload.into(),
                        items: record.items as usize,
                        position: Some(at),
                    };
                    return Some((entry, at, next, len));
                }
                Found::Corrupt { .. } | Found::Torn => self.skip_corrupt(state, at, length),
                Found::End => return None,
            }
        }
    }

    /// Counts a corrupt record and moves the reader to the next record magic
    /// in the rest of the segment (or its end).
    fn skip_corrupt(&self, state: &mut State, at: Position, length: u64) {
        self.counters.corrupt_records.add(1);
        let skip =
            self.read_rest(state, at, length).ok().and_then(|rest| {
                match format::read_record(&rest) {
                    Found::Corrupt { skip } => skip,
                    _ => None,
                }
            });
        let next = Position {
            segment: at.segment,
            offset: skip.map_or(length, |s| at.offset + s),
        };
        state.read = next;
        state.in_flight.push_back(InFlight {
            start: at,
            next,
            bytes: 0,
            items: 0,
            acked: true,
        });
    }

    fn read_rest(&self, state: &mut State, at: Position, length: u64) -> std::io::Result<Vec<u8>> {
        let (_, file) = state.reader.as_ref().expect("opened by read_bytes");
        let mut rest = vec![0u8; (length - at.offset) as usize];
        file.read_exact_at(&mut rest, at.offset)?;
        Ok(rest)
    }

    /// The bytes from `at` to the end of its record, or to the segment end
    /// when the head can't be trusted.
    fn read_bytes(&self, state: &mut State, at: Position, length: u64) -> std::io::Result<Vec<u8>> {
        if state.reader.as_ref().is_none_or(|(s, _)| *s != at.segment) {
            let file = File::open(segment_path(&self.options.dir, at.segment))?;
            state.reader = Some((at.segment, file));
        }
        let (_, file) = state.reader.as_ref().expect("opened above");
        let available = (length - at.offset) as usize;
        let mut head = vec![0u8; RECORD_HEAD.min(available)];
        file.read_exact_at(&mut head, at.offset)?;
        let want = if head.len() == RECORD_HEAD && head[..4] == format::RECORD_MAGIC.to_le_bytes() {
            let len = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes")) as usize;
            (RECORD_HEAD + len).min(available)
        } else {
            available
        };
        let mut data = vec![0u8; want];
        file.read_exact_at(&mut data, at.offset)?;
        Ok(data)
    }

    /// Marks delivered (or dropped) records, releases their space and moves
    /// the checkpoint.
    pub fn ack(&self, positions: &[Position]) {
        let mut state = self.lock();
        for position in positions {
            if let Some(f) = state.in_flight.iter_mut().find(|f| f.start == *position) {
                f.acked = true;
            }
        }
        self.advance(&mut state);
    }

    fn advance(&self, state: &mut State) {
        let mut moved = false;
        while state.in_flight.front().is_some_and(|f| f.acked) {
            let done = state.in_flight.pop_front().expect("checked");
            state.acked = done.next;
            state.live_bytes = state.live_bytes.saturating_sub(done.bytes);
            state.live_items = state.live_items.saturating_sub(done.items);
            if done.bytes > 0 {
                state.live_entries = state.live_entries.saturating_sub(1);
            }
            moved = true;
        }
        if !moved {
            return;
        }
        // The end of a finished segment is the start of the next.
        while state.acked.segment < state.write_segment
            && state.acked.offset
                >= state
                    .segments
                    .get(&state.acked.segment)
                    .copied()
                    .unwrap_or(0)
        {
            match state.segments.range(state.acked.segment + 1..).next() {
                Some((&next, _)) => {
                    state.acked = Position {
                        segment: next,
                        offset: HEADER_LEN,
                    }
                }
                None => break,
            }
        }
        let finished: Vec<u64> = state
            .segments
            .range(..state.acked.segment)
            .map(|(&s, _)| s)
            .collect();
        if !finished.is_empty() || state.last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
            // Persist the checkpoint before deleting what it has passed.
            if self.write_checkpoint(state).is_ok() {
                for segment in finished {
                    state.segments.remove(&segment);
                    let _ = fs::remove_file(segment_path(&self.options.dir, segment));
                }
            }
        }
        self.not_full.notify_waiters();
    }

    fn write_checkpoint(&self, state: &mut State) -> std::io::Result<()> {
        if state.checkpointed == state.acked {
            return Ok(());
        }
        checkpoint::write(&self.options.dir, state.acked)?;
        state.checkpointed = state.acked;
        state.last_checkpoint = Instant::now();
        Ok(())
    }

    /// Stops handing out records; what remains stays on disk for the next start.
    pub fn close(&self) {
        self.lock().closed = true;
        self.not_empty.notify_waiters();
        self.not_full.notify_waiters();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// After the senders have stopped: persist the checkpoint and sync.
    pub fn finish(&self) -> std::io::Result<()> {
        let mut state = self.lock();
        state.write_file.sync_data()?;
        self.write_checkpoint(&mut state)
    }

    /// (entries, bytes, items) not yet delivered.
    pub fn usage(&self) -> (usize, usize, usize) {
        let state = self.lock();
        (
            state.live_entries as usize,
            state.live_bytes as usize,
            state.live_items as usize,
        )
    }
}

fn storage(e: std::io::Error) -> PushError {
    PushError::Storage(e.to_string())
}

fn create_segment(dir: &Path, segment: u64) -> std::io::Result<File> {
    let path = segment_path(dir, segment);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    file.write_all(&format::header())?;
    file.sync_data()?;
    File::open(dir)?.sync_all()?;
    // Append mode from here on: every write goes to the end.
    OpenOptions::new().append(true).open(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(q.usage(), (0, 0, 0));
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
            q.finish().unwrap();
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
        assert_eq!(state.writes, 64);
        assert!(state.synced >= 64);
    }
}

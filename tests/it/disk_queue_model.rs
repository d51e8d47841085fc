//! A model-based property test of the disk queue: random pushes, pops,
//! acknowledgements and crashes (the queue dropped without a clean close,
//! then reopened from its files). Whatever happens, every record pushed and
//! not acknowledged is delivered again, in order; only acknowledged records
//! may be replayed (duplicates, never loss).

use ignis_agent::queue::disk::{DiskCounters, DiskOptions, DiskQueue, Fsync};
use ignis_agent::queue::WhenFull;
use ignis_agent::queue::{Entry, Position};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    Push(usize),
    Pop,
    /// Acknowledge the n-th (modulo) entry handed out and not yet acknowledged.
    Ack(usize),
    /// Drop the queue without closing it (kill -9), optionally after a clean
    /// checkpoint (SIGTERM), and reopen it.
    Crash {
        clean: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..600).prop_map(Op::Push),
        4 => Just(Op::Pop),
        3 => (0usize..8).prop_map(Op::Ack),
        1 => any::<bool>().prop_map(|clean| Op::Crash { clean }),
    ]
}

fn options(dir: &std::path::Path) -> DiskOptions {
    DiskOptions {
        dir: dir.to_path_buf(),
        capacity: 64 << 20,
        segment_size: 4096,
        when_full: WhenFull::Block,
        block_timeout: Duration::from_millis(10),
        fsync: Fsync::Never,
        max_age: None,
    }
}

fn id_of(entry: &Entry) -> u32 {
    u32::from_le_bytes(entry.data[..4].try_into().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn nothing_unacknowledged_is_lost(ops in proptest::collection::vec(op(), 1..80)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let dir = tempfile::tempdir().unwrap();
            let open = || DiskQueue::<()>::open(options(dir.path()), DiskCounters::default()).unwrap();
            let mut queue = open();
            let mut next_id = 0u32;
            let mut unacked: BTreeSet<u32> = BTreeSet::new();
            // Handed out since the last open and not acknowledged.
            let mut handed: Vec<(u32, Position)> = Vec::new();
            // The id the next pop must return; unknown right after a reopen.
            let mut cursor: Option<u32> = Some(0);
            for op in ops {
                match op {
                    Op::Push(size) => {
                        let mut data = next_id.to_le_bytes().to_vec();
                        data.resize(4 + size, 0xab);
                        let entry = Entry { data: data.into(), items: 1, position: None };
                        queue.push(entry).await.unwrap();
                        unacked.insert(next_id);
                        next_id += 1;
                    }
                    Op::Pop => match queue.pop_until(tokio::time::Instant::now()).await {
                        Some(entry) => {
                            let id = id_of(&entry);
                            match cursor {
                                Some(expected) => prop_assert_eq!(id, expected, "out of order"),
                                None => {
                                    let oldest = unacked.first().copied().unwrap_or(next_id);
                                    prop_assert!(id <= oldest, "replay starts at {} past unacked {}", id, oldest);
                                }
                            }
                            cursor = Some(id + 1);
                            handed.push((id, entry.position.unwrap()));
                        }
                        None => match cursor {
                            Some(expected) => prop_assert_eq!(expected, next_id, "records missing"),
                            None => prop_assert!(unacked.is_empty(), "lost {:?}", unacked),
                        },
                    },
                    Op::Ack(n) if !handed.is_empty() => {
                        let (id, position) = handed.remove(n % handed.len());
                        queue.ack(&[position]);
                        unacked.remove(&id);
                    }
                    Op::Ack(_) => {}
                    Op::Crash { clean } => {
                        if clean {
                            queue.close();
                            queue.finish().await.unwrap();
                        } else {
                            // kill -9 stops a checkpoint job anywhere; this
                            // crash comes after it, not during the reopen.
                            queue.settled().await;
                        }
                        drop(queue);
                        queue = open();
                        handed.clear();
                        cursor = None;
                    }
                }
            }
            // Finally everything not acknowledged is still there, in order.
            queue.settled().await;
            drop(queue);
            let queue = open();
            let mut rest = Vec::new();
            while let Some(entry) = queue.pop_until(tokio::time::Instant::now()).await {
                rest.push(id_of(&entry));
            }
            prop_assert!(rest.windows(2).all(|w| w[1] == w[0] + 1), "not consecutive: {:?}", rest);
            for id in &unacked {
                prop_assert!(rest.contains(id), "lost {} (got {:?})", id, rest);
            }
            Ok(())
        })?;
    }
}

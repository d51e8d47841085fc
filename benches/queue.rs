//! Disk queue throughput: append (push until durable, per fsync policy) and
//! read (pop + acknowledge), in MB/s of 64 KB records, the size of one
//! request of the shared workload.
//!
//!     cargo bench --bench queue

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ignis_agent::queue::disk::{DiskCounters, DiskOptions, DiskQueue, Fsync};
use ignis_agent::queue::Entry;
use ignis_agent::queue::WhenFull;
use std::time::Duration;

const RECORD: usize = 64 * 1024;
const BATCH: usize = 64;

fn options(dir: &std::path::Path, fsync: Fsync) -> DiskOptions {
    DiskOptions {
        dir: dir.to_path_buf(),
        capacity: 1 << 40,
        segment_size: 8 << 20,
        when_full: WhenFull::Block,
        block_timeout: Duration::from_secs(1),
        fsync,
        max_age: None,
    }
}

fn entry() -> Entry {
    Entry {
        data: vec![0x5a; RECORD].into(),
        items: 100,
        position: None,
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("disk_queue");
    group.throughput(Throughput::Bytes((RECORD * BATCH) as u64));
    group.sample_size(20);
    for (name, fsync) in [
        ("always", Fsync::Always),
        ("interval", Fsync::Interval(Duration::from_secs(1))),
        ("never", Fsync::Never),
    ] {
        // 64 concurrent pushes, as from 64 client requests: `always` shares fsyncs.
        group.bench_function(BenchmarkId::new("append", name), |b| {
            let dir = tempfile::tempdir().unwrap();
            let queue = std::sync::Arc::new(
                DiskQueue::<()>::open(options(dir.path(), fsync), DiskCounters::default()).unwrap(),
            );
            b.to_async(&runtime).iter(|| {
                let queue = queue.clone();
                async move {
                    let pushes: Vec<_> = (0..BATCH)
                        .map(|_| {
                            let queue = queue.clone();
                            tokio::spawn(async move { queue.push(entry()).await.unwrap() })
                        })
                        .collect();
                    for push in pushes {
                        push.await.unwrap();
                    }
                }
            });
        });
    }
    group.bench_function("read_and_ack", |b| {
        let dir = tempfile::tempdir().unwrap();
        let queue =
            DiskQueue::<()>::open(options(dir.path(), Fsync::Never), DiskCounters::default())
                .unwrap();
        b.to_async(&runtime).iter_custom(|iterations| {
            let queue = &queue;
            async move {
                for _ in 0..iterations * BATCH as u64 {
                    queue.push(entry()).await.unwrap();
                }
                let started = std::time::Instant::now();
                for _ in 0..iterations * BATCH as u64 {
                    let e = queue.pop().await.unwrap();
                    queue.ack(&[e.position.unwrap()]);
                }
                started.elapsed()
            }
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

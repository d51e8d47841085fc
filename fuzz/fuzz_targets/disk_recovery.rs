//! Disk-queue recovery from arbitrary files (`queue/disk/recovery.rs`,
//! `reader.rs`): a segment and a checkpoint of any content open without a
//! panic, and reading never hands out more than the files hold. The last 24
//! bytes are the checkpoint file, the rest the first segment.
#![no_main]

use ignis_agent::queue::disk::{DiskCounters, DiskOptions, DiskQueue, Fsync};
use ignis_agent::queue::WhenFull;
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let split = data.len().saturating_sub(24);
    let (segment, checkpoint) = data.split_at(split);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("00000000000000000001.seg"), segment).unwrap();
    if checkpoint.len() == 24 {
        std::fs::write(dir.path().join("checkpoint"), checkpoint).unwrap();
    }
    let options = DiskOptions {
        dir: dir.path().to_path_buf(),
        capacity: 1 << 20,
        segment_size: 1 << 20,
        when_full: WhenFull::Block,
        block_timeout: Duration::ZERO,
        fsync: Fsync::Never,
        max_age: None,
    };
    let Ok(queue) = DiskQueue::<()>::open(options, DiskCounters::default()) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut bytes = 0;
        while let Some(entry) = queue.pop_until(tokio::time::Instant::now()).await {
            bytes += entry.data.len();
            queue.ack(&[entry.position.unwrap()]);
        }
        assert!(bytes <= segment.len());
    });
});

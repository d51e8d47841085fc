//! The delivery ledger: what happened to each recent batch an exporter sent
//! (bounded, in memory), for operators to check delivery at `/api/ledger`.

use crate::metrics::{Counter, Registry};
use crate::queue::now_ms;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum LedgerOutcome {
    Confirmed,
    PartiallyRejected { rejected: i64, message: String },
    Failed { reason: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct LedgerEntry {
    pub id: u64,
    pub signal: &'static str,
    pub items: usize,
    pub bytes: usize,
    /// CRC32C of the batch as sent (before compression), in hex.
    pub digest: String,
    pub attempts: u32,
    #[serde(flatten)]
    pub outcome: LedgerOutcome,
    pub first_attempt_unix_ms: u64,
    pub settled_unix_ms: u64,
}

/// The ledgers of a running agent by `exporter/signal`, served at /api/ledger.
pub type Ledgers = Mutex<Vec<(String, Arc<Ledger>)>>;

pub struct Ledger {
    entries: Mutex<VecDeque<LedgerEntry>>,
    capacity: usize,
    next_id: AtomicU64,
    confirmed: Counter,
    partially_rejected: Counter,
    failed: Counter,
}

/// What the sender knows of a settled batch.
pub struct Settled<'a> {
    pub signal: &'static str,
    pub data: &'a [u8],
    pub items: usize,
    pub attempts: u32,
    pub first_attempt_unix_ms: u64,
    pub outcome: LedgerOutcome,
}

impl Ledger {
    pub fn new(capacity: usize, registry: &Registry, exporter: &str) -> Self {
        let counter = |outcome| {
            registry.counter(
                "ignis_ledger_batches",
                &[("exporter", exporter), ("outcome", outcome)],
            )
        };
        Ledger {
            entries: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            capacity: capacity.max(1),
            next_id: AtomicU64::new(1),
            confirmed: counter("confirmed"),
            partially_rejected: counter("partially_rejected"),
            failed: counter("failed"),
        }
    }

    pub fn record(&self, settled: Settled<'_>) {
        match settled.outcome {
            LedgerOutcome::Confirmed => self.confirmed.add(1),
            LedgerOutcome::PartiallyRejected { .. } => self.partially_rejected.add(1),
            LedgerOutcome::Failed { .. } => self.failed.add(1),
        }
        let entry = LedgerEntry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            signal: settled.signal,
            items: settled.items,
            bytes: settled.data.len(),
            digest: format!("{:08x}", crc32c::crc32c(settled.data)),
            attempts: settled.attempts,
            outcome: settled.outcome,
            first_attempt_unix_ms: settled.first_attempt_unix_ms,
            settled_unix_ms: now_ms(),
        };
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() == self.capacity {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The newest `limit` entries, newest first.
    pub fn recent(&self, limit: usize) -> Vec<LedgerEntry> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.iter().rev().take(limit).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_counts_outcomes() {
        let registry = Registry::default();
        let ledger = Ledger::new(2, &registry, "ignis");
        for (i, outcome) in [
            LedgerOutcome::Confirmed,
            LedgerOutcome::Failed { reason: "x".into() },
            LedgerOutcome::PartiallyRejected {
                rejected: 2,
                message: "old".into(),
            },
        ]
        .into_iter()
        .enumerate()
        {
            ledger.record(Settled {
                signal: "traces",
                data: &[i as u8; 10],
                items: 5,
                attempts: 1,
                first_attempt_unix_ms: 0,
                outcome,
            });
        }
        let recent = ledger.recent(10);
        assert_eq!(recent.len(), 2);
        assert_eq!(recent[0].id, 3);
        assert!(matches!(
            recent[0].outcome,
            LedgerOutcome::PartiallyRejected { rejected: 2, .. }
        ));
        assert_eq!(
            registry.total("ignis_ledger_batches", &[("outcome", "confirmed")]),
            1
        );
        let json = serde_json::to_value(&recent[1]).unwrap();
        assert_eq!(json["outcome"], "failed");
        assert_eq!(json["reason"], "x");
        assert_eq!(json["digest"].as_str().unwrap().len(), 8);
    }
}

//! Internal metrics of one connector's runtime: what it received, how each command ended, how often the
//! broker pushed back. Plain atomics, read by the operations listener and by tests; the Prometheus
//! rendering lives with the listener.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::Mutex;

use super::error::ErrorCode;

#[derive(Debug, Default)]
pub struct ConnectorMetrics {
    received_by_type: Mutex<HashMap<String, u64>>,
    pub completed: AtomicU64,
    failed_by_code: [AtomicU64; ErrorCode::ALL.len()],
    /// Retry copies sent to a delay queue.
    pub retried: AtomicU64,
    /// Messages parked in the dead-letter queue by the runtime.
    pub dead_lettered: AtomicU64,
    /// Publishes that had to be tried again (broker down, blocked, unroutable).
    pub publish_retries: AtomicU64,
    /// Acks the broker never saw because the channel died; those messages come back.
    pub acks_lost: AtomicU64,
    pub in_flight: AtomicI64,
    /// Sum of handling time in microseconds, with `handled` for the mean.
    pub handling_micros: AtomicU64,
    pub handled: AtomicU64,
}

impl ConnectorMetrics {
    pub fn record_received(&self, kind: &str) {
        let mut map = self.received_by_type.lock();
        match map.get_mut(kind) {
            Some(n) => *n += 1,
            None => {
                // Types come from outside: cap the label set so a flood of made-up types cannot grow it
                // without bound.
                let key = if map.len() < 256 { kind } else { "other" };
                *map.entry(key.to_owned()).or_default() += 1;
            }
        }
    }

    pub fn record_failed(&self, code: ErrorCode) {
        self.failed_by_code[code_index(code)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn failed(&self, code: ErrorCode) -> u64 {
        self.failed_by_code[code_index(code)].load(Ordering::Relaxed)
    }

    pub fn received_by_type(&self) -> Vec<(String, u64)> {
        let mut v: Vec<_> = self
            .received_by_type
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        v.sort();
        v
    }

    pub fn received(&self) -> u64 {
        self.received_by_type.lock().values().sum()
    }
}

fn code_index(code: ErrorCode) -> usize {
    ErrorCode::ALL
        .iter()
        .position(|c| *c == code)
        .expect("ALL lists every code")
}

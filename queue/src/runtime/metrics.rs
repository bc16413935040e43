//! Internal metrics of one connector's runtime: what it received, how each command ended (per message
//! type), how long handling took, how often the broker pushed back. Plain atomics, read by the operations
//! listener and by tests; the Prometheus rendering lives with the listener.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use super::error::ErrorCode;

/// Upper bounds, in seconds, of the latency histograms: from a local ping (milliseconds) to a platform
/// that answers at its SLA limit (pagoPA waits 15 s) and the slowest ANPR bulk operations.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Message types come from outside: the label set is capped so that a flood of made-up types cannot
/// grow it without bound. Types past the cap are counted under [`OTHER_TYPE`].
pub const MAX_TYPES: usize = 256;
pub const OTHER_TYPE: &str = "other";

/// A Prometheus-style histogram of durations with the fixed [`LATENCY_BUCKETS`].
#[derive(Debug, Default)]
pub struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// A consistent-enough copy of a [`Histogram`] for rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Cumulative counts for each bound of [`LATENCY_BUCKETS`], then `+Inf` (= `count`).
    pub cumulative: Vec<u64>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let slot = LATENCY_BUCKETS
            .iter()
            .position(|bound| secs <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0;
        let cumulative: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| {
                running += b.load(Ordering::Relaxed);
                running
            })
            .collect();
        HistogramSnapshot {
            count: running,
            cumulative,
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// How the commands of one message type ended on one connector.
#[derive(Debug, Default)]
pub struct TypeMetrics {
    pub received: AtomicU64,
    pub completed: AtomicU64,
    /// Retry copies sent to a delay queue.
    pub retried: AtomicU64,
    /// Parked in the dead-letter queue (every failure is).
    pub dead_lettered: AtomicU64,
    failed_by_code: [AtomicU64; ErrorCode::ALL.len()],
    /// From delivery to acknowledgement, whatever the outcome.
    pub handling: Histogram,
}

impl TypeMetrics {
    pub fn failed(&self, code: ErrorCode) -> u64 {
        self.failed_by_code[code_index(code)].load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub struct ConnectorMetrics {
    by_type: Mutex<HashMap<String, Arc<TypeMetrics>>>,
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
    /// Redeliveries of attempts already settled (their outcome confirmed, their ack lost), acknowledged
    /// without being handled again.
    pub already_settled: AtomicU64,
    /// Times the settled-attempts ledger could not be read or written; those deliveries were handled
    /// as if it had no record (at-least-once).
    pub settled_ledger_unavailable: AtomicU64,
    pub in_flight: AtomicI64,
    /// Sum of handling time in microseconds, with `handled` for the mean.
    pub handling_micros: AtomicU64,
    pub handled: AtomicU64,
    /// Set while the runtime holds a consumer on its queue (`/readyz`).
    pub consuming: AtomicBool,
}

impl ConnectorMetrics {
    /// The metrics of one message type, created on first use (capped at [`MAX_TYPES`]).
    pub fn for_type(&self, kind: &str) -> Arc<TypeMetrics> {
        let mut map = self.by_type.lock();
        if let Some(m) = map.get(kind) {
            return m.clone();
        }
        let key = if map.len() < MAX_TYPES { kind } else { OTHER_TYPE };
        map.entry(key.to_owned()).or_default().clone()
    }

    pub fn record_received(&self, kind: &str) {
        self.for_type(kind).received.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_failed(&self, code: ErrorCode) {
        self.failed_by_code[code_index(code)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn failed(&self, code: ErrorCode) -> u64 {
        self.failed_by_code[code_index(code)].load(Ordering::Relaxed)
    }

    /// Every type seen, sorted by name.
    pub fn types(&self) -> Vec<(String, Arc<TypeMetrics>)> {
        let mut v: Vec<_> = self
            .by_type
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn received_by_type(&self) -> Vec<(String, u64)> {
        self.types()
            .into_iter()
            .map(|(k, m)| (k, m.received.load(Ordering::Relaxed)))
            .collect()
    }

    pub fn received(&self) -> u64 {
        self.received_by_type().iter().map(|(_, n)| n).sum()
    }
}

impl TypeMetrics {
    pub(super) fn record_failed(&self, code: ErrorCode) {
        self.failed_by_code[code_index(code)].fetch_add(1, Ordering::Relaxed);
    }
}

fn code_index(code: ErrorCode) -> usize {
    ErrorCode::ALL
        .iter()
        .position(|c| *c == code)
        .expect("ALL lists every code")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_the_count() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(120));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.cumulative[0], 1, "0.5 ms is within 1 ms");
        assert_eq!(s.cumulative[3], 1, "30 ms is above 25 ms");
        assert_eq!(s.cumulative[4], 2, "30 ms is within 50 ms");
        assert_eq!(s.cumulative[LATENCY_BUCKETS.len() - 1], 2);
        assert_eq!(*s.cumulative.last().unwrap(), 3);
        assert!((s.sum_seconds - 120.0305).abs() < 1e-9, "{}", s.sum_seconds);
    }

    #[test]
    fn the_type_label_set_is_capped() {
        let m = ConnectorMetrics::default();
        for i in 0..MAX_TYPES + 10 {
            m.record_received(&format!("x.y.z{i}"));
        }
        let types = m.types();
        assert_eq!(types.len(), MAX_TYPES + 1);
        let other = types.iter().find(|(k, _)| k == OTHER_TYPE).unwrap();
        assert_eq!(other.1.received.load(Ordering::Relaxed), 10);
        assert_eq!(m.received(), (MAX_TYPES + 10) as u64);
    }
}

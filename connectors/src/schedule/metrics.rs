//! Counters of one feed's scheduler, read by tests and rendered for `/metrics` in the Prometheus text format
//! of the operations listener (`snodo_feed_*{feed}`).

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct FeedMetrics {
    /// Polls this instance made.
    pub polls: AtomicU64,
    /// Items whose event the broker confirmed.
    pub items: AtomicU64,
    /// Failed cycles: the platform, the broker or the store.
    pub errors: AtomicU64,
    /// 1 while this instance holds the feed's lease.
    pub lease_held: AtomicU64,
    /// Times this instance took the lease.
    pub lease_acquired: AtomicU64,
    /// Times this instance found its lease gone.
    pub lease_lost: AtomicU64,
}

impl FeedMetrics {
    pub fn holds_lease(&self) -> bool {
        self.lease_held.load(Ordering::SeqCst) == 1
    }
}

type Read = fn(&FeedMetrics) -> u64;

const FAMILIES: [(&str, &str, &str, Read); 6] = [
    (
        "snodo_feed_polls_total",
        "counter",
        "Polls of a feed by this instance.",
        |m| m.polls.load(Ordering::Relaxed),
    ),
    (
        "snodo_feed_items_total",
        "counter",
        "Feed items whose event the broker confirmed.",
        |m| m.items.load(Ordering::Relaxed),
    ),
    (
        "snodo_feed_errors_total",
        "counter",
        "Failed poll cycles (platform, broker or store).",
        |m| m.errors.load(Ordering::Relaxed),
    ),
    (
        "snodo_feed_lease_held",
        "gauge",
        "1 while this instance is the feed's poller.",
        |m| m.lease_held.load(Ordering::Relaxed),
    ),
    (
        "snodo_feed_lease_acquired_total",
        "counter",
        "Times this instance became the feed's poller.",
        |m| m.lease_acquired.load(Ordering::Relaxed),
    ),
    (
        "snodo_feed_lease_lost_total",
        "counter",
        "Times this instance lost the feed's lease.",
        |m| m.lease_lost.load(Ordering::Relaxed),
    ),
];

/// Appends the feeds' metrics to a Prometheus text exposition.
pub fn render(out: &mut String, feeds: &[(String, Arc<FeedMetrics>)]) {
    for (name, kind, help, read) in FAMILIES {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (feed, m) in feeds {
            // Feed names are checked store names (letters, digits, `_`, `-`, `.`): nothing to escape.
            let _ = writeln!(out, "{name}{{feed=\"{feed}\"}} {}", read(m));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_per_feed() {
        let m = Arc::new(FeedMetrics::default());
        m.polls.store(3, Ordering::Relaxed);
        m.lease_held.store(1, Ordering::Relaxed);
        let mut out = String::new();
        render(&mut out, &[("anpr-notifications.015146".into(), m)]);
        assert!(
            out.contains("snodo_feed_polls_total{feed=\"anpr-notifications.015146\"} 3\n"),
            "{out}"
        );
        assert!(
            out.contains("snodo_feed_lease_held{feed=\"anpr-notifications.015146\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("# TYPE snodo_feed_lease_held gauge\n"), "{out}");
    }
}

//! The settled-attempts ledger: which attempts of which commands already had their outcome confirmed.
//!
//! The runtime publishes what settles an attempt (a retry copy, an outcome event, a dead letter), waits
//! for the broker's confirm, then acknowledges the delivery. If the ack is lost between the two (the
//! broker restarted, the channel closed), the broker redelivers an attempt whose outcome is already out:
//! handling it again would start a second retry chain or publish a second, possibly different, outcome.
//! So the runtime records `(message_id, attempt)` here after the confirms and before the ack, and a
//! delivery whose attempt is already recorded is acknowledged without being handled.
//!
//! The ledger is an optimisation of exactly-once on top of at-least-once, never a condition of progress:
//! when it cannot be reached the runtime handles the delivery (at-least-once, as without a ledger) and
//! counts it. Production shares one ledger among instances (Redis, `snodo_connectors::state`); the
//! embedded mode and tests use [`MemoryLedger`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::time::Instant;
use uuid::Uuid;

/// How long a settled attempt is remembered by default: longer than the default retry schedule (about
/// 73 minutes) and than a broker outage anyone would sit through, short enough to keep the store small.
pub const DEFAULT_SETTLED_RETENTION: Duration = Duration::from_secs(3 * 24 * 3600);

/// The ledger could not answer; nothing was decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the settled-attempts ledger is unavailable: {reason}")]
pub struct LedgerUnavailable {
    pub reason: String,
}

/// Where settled attempts are recorded. Implementations must make a recorded attempt visible to every
/// instance that consumes the same queues.
#[async_trait]
pub trait SettledLedger: Send + Sync + 'static {
    /// Which implementation this is, for logs (`redis`, `in-process`).
    fn kind(&self) -> &'static str;

    /// Whether attempt `attempt` of `message_id` was recorded as settled within the retention.
    async fn is_settled(&self, message_id: Uuid, attempt: u32) -> Result<bool, LedgerUnavailable>;

    /// Records attempt `attempt` of `message_id` as settled, for the retention.
    async fn record_settled(&self, message_id: Uuid, attempt: u32) -> Result<(), LedgerUnavailable>;
}

pub type SharedLedger = Arc<dyn SettledLedger>;

/// Writes between two sweeps of expired entries.
const SWEEP_EVERY: u32 = 4096;

/// The in-process ledger: one process, nothing kept across a restart (the embedded mode keeps nothing
/// across a restart either). Time is tokio's clock, so tests that pause time see entries expire.
pub struct MemoryLedger {
    retention: Duration,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    settled: HashMap<(Uuid, u32), Instant>,
    writes_since_sweep: u32,
}

impl MemoryLedger {
    pub fn new(retention: Duration) -> MemoryLedger {
        MemoryLedger {
            retention,
            entries: Mutex::default(),
        }
    }
}

impl Default for MemoryLedger {
    fn default() -> Self {
        MemoryLedger::new(DEFAULT_SETTLED_RETENTION)
    }
}

#[async_trait]
impl SettledLedger for MemoryLedger {
    fn kind(&self) -> &'static str {
        "in-process"
    }

    async fn is_settled(&self, message_id: Uuid, attempt: u32) -> Result<bool, LedgerUnavailable> {
        let now = Instant::now();
        let entries = self.entries.lock();
        Ok(entries
            .settled
            .get(&(message_id, attempt))
            .is_some_and(|expires| *expires > now))
    }

    async fn record_settled(&self, message_id: Uuid, attempt: u32) -> Result<(), LedgerUnavailable> {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        entries
            .settled
            .insert((message_id, attempt), now + self.retention);
        entries.writes_since_sweep += 1;
        if entries.writes_since_sweep >= SWEEP_EVERY {
            entries.writes_since_sweep = 0;
            entries.settled.retain(|_, expires| *expires > now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn remembers_an_attempt_for_the_retention_only() {
        let ledger = MemoryLedger::new(Duration::from_millis(20));
        let id = Uuid::new_v4();
        assert!(!ledger.is_settled(id, 1).await.unwrap());
        ledger.record_settled(id, 1).await.unwrap();
        assert!(ledger.is_settled(id, 1).await.unwrap());
        assert!(!ledger.is_settled(id, 2).await.unwrap(), "attempts are distinct");
        assert!(!ledger.is_settled(Uuid::new_v4(), 1).await.unwrap());
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(
            !ledger.is_settled(id, 1).await.unwrap(),
            "forgotten after the retention"
        );
    }
}

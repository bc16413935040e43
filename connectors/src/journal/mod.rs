//! The journal's index of dead letters: what operators list, show, replay and purge
//! (`snodo ops dlq`, the `/ops` page) without touching the dead-letter queues.
//!
//! Why an index and not the queues themselves: a quorum queue cannot be browsed — getting and
//! requeueing reorders messages, raises their delivery count and races between operators. A RabbitMQ
//! stream as the dead-letter target could be read without consuming, but it can neither mark one entry
//! replayed nor erase one person's entry (a stream only truncates by age or size), and the embedded
//! transport has no streams. So each `snodo.<connector>.dead` queue is drained by an indexer
//! (`ops::dlq::Indexer`) into this store — the entry stored first, the message acknowledged after — and
//! the queue stays the durable inbox while no instance runs. The store is the coordination store's
//! backend: Redis (with persistence, DESIGN §1) when configured, in-process otherwise, with a retention
//! after which entries expire.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

pub mod record;
pub mod redis_index;
mod redis_space;
pub mod redis_trace;
pub mod trace;
pub mod writer;

pub use record::{DeadLetter, DeadLetterFilter, Replay};
pub use trace::{RecordKind, TraceRecord, TraceStore};
pub use writer::{InboundRecord, Journal, JournalSettings, JournalWriter};

/// How long a dead letter stays listed by default: long enough for a holiday weekend and a fix.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("the journal store is unavailable: {0}")]
    Unavailable(String),
    #[error("no dead letter {0} in the journal (never indexed, purged, or past its retention)")]
    NotFound(String),
    #[error("dead letter {id} was already replayed by {by} at {at}")]
    AlreadyReplayed {
        id: String,
        by: String,
        at: DateTime<Utc>,
    },
    #[error("dead letter {0} is being replayed by another operator right now")]
    Busy(String),
    #[error("a journal entry could not be read: {0}")]
    Corrupt(String),
}

/// Where dead letters are indexed. Implementations agree on semantics; the in-process one is the
/// embedded transport's equivalent of the Redis one.
#[async_trait]
pub trait DeadLetterIndex: Send + Sync + 'static {
    /// Stores `entry` (keyed by its id) for the retention period.
    async fn put(&self, entry: &DeadLetter) -> Result<(), JournalError>;
    async fn get(&self, id: &str) -> Result<DeadLetter, JournalError>;
    /// Entries matching `filter`, oldest first.
    async fn list(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>, JournalError>;
    /// Takes the right to replay `id`: of several concurrent callers one gets it; refused when it was
    /// replayed already. The claim lapses after a minute if the caller never marks the entry.
    async fn claim(&self, id: &str) -> Result<DeadLetter, JournalError>;
    /// Gives a claim up after a failed replay, so that it can be tried again at once.
    async fn release(&self, id: &str) -> Result<(), JournalError>;
    /// Records the replay on the entry (it stays listed, marked, until purged or expired).
    async fn mark_replayed(&self, id: &str, replay: Replay) -> Result<(), JournalError>;
    async fn remove(&self, id: &str) -> Result<bool, JournalError>;
}

pub type SharedDeadLetterIndex = Arc<dyn DeadLetterIndex>;

/// The index of `snodo up`: Redis when `redis_url` is set, in-process otherwise.
pub async fn connect(
    redis_url: Option<&str>,
    prefix: &str,
    retention: Duration,
) -> Result<SharedDeadLetterIndex, JournalError> {
    Ok(match redis_url {
        Some(url) => Arc::new(redis_index::RedisDeadLetters::connect(url, prefix, retention).await?),
        None => Arc::new(MemoryDeadLetters::new(retention)),
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Slot {
    entry: DeadLetter,
    expires: DateTime<Utc>,
    claimed_until: Option<DateTime<Utc>>,
}

/// The in-process index: a map under one lock, expiry checked on every read.
pub struct MemoryDeadLetters {
    retention: Duration,
    entries: Mutex<BTreeMap<String, Slot>>,
}

impl MemoryDeadLetters {
    pub fn new(retention: Duration) -> Self {
        MemoryDeadLetters {
            retention,
            entries: Mutex::new(BTreeMap::new()),
        }
    }

    fn live(&self) -> parking_lot::MutexGuard<'_, BTreeMap<String, Slot>> {
        let now = Utc::now();
        let mut entries = self.entries.lock();
        entries.retain(|_, slot| slot.expires > now);
        entries
    }
}

pub(crate) const CLAIM_TTL: Duration = Duration::from_secs(60);

#[async_trait]
impl DeadLetterIndex for MemoryDeadLetters {
    async fn put(&self, entry: &DeadLetter) -> Result<(), JournalError> {
        let expires =
            Utc::now() + chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::MAX);
        self.live().insert(
            entry.id.clone(),
            Slot {
                entry: entry.clone(),
                expires,
                claimed_until: None,
            },
        );
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<DeadLetter, JournalError> {
        self.live()
            .get(id)
            .map(|s| s.entry.clone())
            .ok_or_else(|| JournalError::NotFound(id.to_owned()))
    }

    async fn list(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>, JournalError> {
        let mut v: Vec<DeadLetter> = self
            .live()
            .values()
            .map(|s| s.entry.clone())
            .filter(|e| filter.matches(e))
            .collect();
        v.sort_by(|a, b| (a.failed_at, &a.id).cmp(&(b.failed_at, &b.id)));
        Ok(v)
    }

    async fn claim(&self, id: &str) -> Result<DeadLetter, JournalError> {
        let now = Utc::now();
        let mut entries = self.live();
        let slot = entries
            .get_mut(id)
            .ok_or_else(|| JournalError::NotFound(id.to_owned()))?;
        if let Some(r) = &slot.entry.replayed {
            return Err(JournalError::AlreadyReplayed {
                id: id.to_owned(),
                by: r.by.clone(),
                at: r.at,
            });
        }
        if slot.claimed_until.is_some_and(|until| until > now) {
            return Err(JournalError::Busy(id.to_owned()));
        }
        slot.claimed_until = Some(now + chrono::Duration::from_std(CLAIM_TTL).expect("a minute fits"));
        Ok(slot.entry.clone())
    }

    async fn release(&self, id: &str) -> Result<(), JournalError> {
        if let Some(slot) = self.live().get_mut(id) {
            slot.claimed_until = None;
        }
        Ok(())
    }

    async fn mark_replayed(&self, id: &str, replay: Replay) -> Result<(), JournalError> {
        let mut entries = self.live();
        let slot = entries
            .get_mut(id)
            .ok_or_else(|| JournalError::NotFound(id.to_owned()))?;
        slot.entry.replayed = Some(replay);
        Ok(())
    }

    async fn remove(&self, id: &str) -> Result<bool, JournalError> {
        Ok(self.live().remove(id).is_some())
    }
}

//! One-time use of assertions: the replay cache.
//!
//! The Regole Tecniche (`single-sign-on.rst`, spid-and-cie-id.md §1.3 item 15) require an SP to accept
//! an assertion once: someone who captured a Response (a proxy log, a shared computer's history)
//! must not be able to post it again while it is still within its validity window. The cache keeps
//! each accepted Assertion ID until the assertion expires; in production it lives in Redis (DESIGN §1,
//! shared by every Snodo process: `SET id NX PX until-now`), here in memory for one process and tests.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// Whether an ID was seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First use: now remembered until its expiry.
    First,
    /// Already used and not yet expired: a replay.
    Before,
}

/// The cache could not answer; the Response is then refused (fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayCacheError {
    #[error("the replay cache is full ({capacity} unexpired entries)")]
    Full { capacity: usize },
    #[error("the replay cache is unavailable: {reason}")]
    Unavailable { reason: String },
}

/// Remembers used IDs until they expire. Implementations must make the check and the insertion one
/// atomic step, or two concurrent posts of the same Response could both pass.
pub trait ReplayCache: Send + Sync {
    /// Records `id` as used until `until` and says whether it had been used before. `now` is the
    /// verifier's clock (the same one that judged the assertion's validity), so entries can expire
    /// consistently and a store with relative expiry (Redis `PX`) can compute it.
    fn check_and_remember(
        &self,
        id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Seen, ReplayCacheError>;
}

/// A replay cache in this process's memory, bounded in size.
#[derive(Debug)]
pub struct InMemoryReplayCache {
    capacity: usize,
    entries: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl InMemoryReplayCache {
    /// A cache holding at most `capacity` unexpired IDs; beyond that it refuses (it never forgets an
    /// unexpired ID to make room, which would reopen the replay window).
    pub fn new(capacity: usize) -> InMemoryReplayCache {
        InMemoryReplayCache {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Number of IDs held, expired ones not yet purged included.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, DateTime<Utc>>> {
        // A panic elsewhere while holding the lock cannot leave the map half-updated (each
        // operation is one insert or retain), so a poisoned lock is still a consistent map.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for InMemoryReplayCache {
    /// Room for 100,000 assertions: a few minutes of logins of a large city.
    fn default() -> Self {
        InMemoryReplayCache::new(100_000)
    }
}

impl ReplayCache for InMemoryReplayCache {
    fn check_and_remember(
        &self,
        id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Seen, ReplayCacheError> {
        let mut entries = self.lock();
        if let Some(&expiry) = entries.get(id)
            && expiry > now
        {
            return Ok(Seen::Before);
        }
        if entries.len() >= self.capacity && !entries.contains_key(id) {
            // Purging only when full keeps the common path O(1); the bound keeps memory fixed.
            entries.retain(|_, &mut expiry| expiry > now);
            if entries.len() >= self.capacity {
                return Err(ReplayCacheError::Full {
                    capacity: self.capacity,
                });
            }
        }
        entries.insert(id.to_owned(), until);
        Ok(Seen::First)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn second_use_before_expiry_is_a_replay() {
        let cache = InMemoryReplayCache::new(10);
        let now = DateTime::UNIX_EPOCH;
        let until = now + TimeDelta::minutes(5);
        assert_eq!(cache.check_and_remember("_a", until, now), Ok(Seen::First));
        assert_eq!(
            cache.check_and_remember("_a", until, now + TimeDelta::minutes(4)),
            Ok(Seen::Before)
        );
        assert_eq!(cache.check_and_remember("_b", until, now), Ok(Seen::First));
        // Expired entries are forgotten (the assertion itself is refused as expired by then).
        assert_eq!(
            cache.check_and_remember("_a", until + TimeDelta::minutes(5), until),
            Ok(Seen::First)
        );
    }

    #[test]
    fn full_cache_purges_expired_entries_then_fails_closed() {
        let cache = InMemoryReplayCache::new(2);
        let now = DateTime::UNIX_EPOCH;
        let soon = now + TimeDelta::seconds(1);
        let later = now + TimeDelta::minutes(5);
        cache.check_and_remember("_a", soon, now).expect("room");
        cache.check_and_remember("_b", later, now).expect("room");
        assert_eq!(cache.check_and_remember("_c", later, soon), Ok(Seen::First));
        assert_eq!(cache.len(), 2);
        assert_eq!(
            cache.check_and_remember("_d", later, soon),
            Err(ReplayCacheError::Full { capacity: 2 })
        );
        assert_eq!(cache.check_and_remember("_b", later, soon), Ok(Seen::Before));
    }
}

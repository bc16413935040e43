//! The in-process coordination store of the embedded development mode: one mutex over a few maps, with the
//! semantics of the Redis store (the conformance suite runs against both) and nothing kept across a
//! restart — which is why DESIGN §4 keeps production tenants off the embedded mode.
//!
//! Time is tokio's clock, so tests that pause time see leases and tokens expire when they advance it.
//! Expired entries are dropped when touched and by a full sweep every few thousand writes, so a process
//! that issues many tokens nobody takes does not grow without bound.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::time::Instant;
use uuid::Uuid;

use super::{
    Lease, MAX_ID_LEN, StateError, StateSettings, StateStore, check_len, check_name, check_ttl, replay_ttl,
};

/// Writes between two full sweeps of expired entries.
const SWEEP_EVERY: u32 = 4096;

#[derive(Default)]
struct Maps {
    counters: HashMap<(String, String), u64>,
    allocations: HashMap<(String, String, Uuid), (u64, Instant)>,
    tokens: HashMap<(String, String), (Bytes, Instant)>,
    seen: HashMap<(String, String), Instant>,
    cursors: HashMap<String, String>,
    leases: HashMap<String, LeaseRecord>,
    /// The last fencing token of each lease name; never forgotten, so tokens only grow.
    fences: HashMap<String, u64>,
    writes_since_sweep: u32,
}

struct LeaseRecord {
    holder: String,
    fence: u64,
    expires: Instant,
}

impl Maps {
    fn wrote(&mut self, now: Instant) {
        self.writes_since_sweep += 1;
        if self.writes_since_sweep >= SWEEP_EVERY {
            self.writes_since_sweep = 0;
            self.allocations.retain(|_, (_, expires)| *expires > now);
            self.tokens.retain(|_, (_, expires)| *expires > now);
            self.seen.retain(|_, expires| *expires > now);
            self.leases.retain(|_, l| l.expires > now);
        }
    }

    /// The live lease record of `name`, dropping it when it has expired.
    fn live_lease(&mut self, name: &str, now: Instant) -> Option<&mut LeaseRecord> {
        if self.leases.get(name).is_some_and(|l| l.expires <= now) {
            self.leases.remove(name);
        }
        self.leases.get_mut(name)
    }

    fn holds(&mut self, lease: &Lease, now: Instant) -> bool {
        self.live_lease(&lease.name, now)
            .is_some_and(|l| l.holder == lease.holder && l.fence == lease.fence)
    }
}

/// The in-process store. Share one value (in an `Arc`) between everything in the process that must agree.
pub struct MemoryStore {
    settings: StateSettings,
    maps: Mutex<Maps>,
}

impl MemoryStore {
    pub fn new(settings: StateSettings) -> MemoryStore {
        MemoryStore {
            settings,
            maps: Mutex::new(Maps::default()),
        }
    }

    fn check_value(&self, what: &'static str, value: &[u8]) -> Result<(), StateError> {
        check_len(what, value, self.settings.max_value_len, true)
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    fn kind(&self) -> &'static str {
        "in-process"
    }

    async fn allocate(&self, counter: &str, tenant: &str, message_id: Uuid) -> Result<u64, StateError> {
        check_name("counter", counter)?;
        check_name("tenant", tenant)?;
        let retention = self.settings.allocation_retention;
        check_ttl("allocation retention", retention)?;
        let now = Instant::now();
        let mut maps = self.maps.lock();
        let key = (counter.to_owned(), tenant.to_owned(), message_id);
        if let Some((n, expires)) = maps.allocations.get(&key)
            && *expires > now
        {
            return Ok(*n);
        }
        let next = maps
            .counters
            .entry((counter.to_owned(), tenant.to_owned()))
            .or_insert(0);
        *next += 1;
        let n = *next;
        maps.allocations.insert(key, (n, now + retention));
        maps.wrote(now);
        Ok(n)
    }

    async fn put_token(
        &self,
        kind: &str,
        token: &str,
        value: Bytes,
        ttl: Duration,
    ) -> Result<(), StateError> {
        check_name("token kind", kind)?;
        check_len("token", token.as_bytes(), MAX_ID_LEN, false)?;
        self.check_value("token value", &value)?;
        check_ttl("a token", ttl)?;
        let now = Instant::now();
        let mut maps = self.maps.lock();
        let key = (kind.to_owned(), token.to_owned());
        if maps.tokens.get(&key).is_some_and(|(_, expires)| *expires > now) {
            return Err(StateError::TokenExists {
                kind: kind.to_owned(),
            });
        }
        maps.tokens.insert(key, (value, now + ttl));
        maps.wrote(now);
        Ok(())
    }

    async fn take_token(&self, kind: &str, token: &str) -> Result<Option<Bytes>, StateError> {
        check_name("token kind", kind)?;
        check_len("token", token.as_bytes(), MAX_ID_LEN, false)?;
        let now = Instant::now();
        let mut maps = self.maps.lock();
        Ok(maps
            .tokens
            .remove(&(kind.to_owned(), token.to_owned()))
            .filter(|(_, expires)| *expires > now)
            .map(|(value, _)| value))
    }

    async fn remember_once(&self, kind: &str, id: &str, until: DateTime<Utc>) -> Result<bool, StateError> {
        check_name("replay kind", kind)?;
        check_len("replay id", id.as_bytes(), MAX_ID_LEN, false)?;
        let now = Instant::now();
        let expires = now + replay_ttl(until);
        let mut maps = self.maps.lock();
        let key = (kind.to_owned(), id.to_owned());
        if maps.seen.get(&key).is_some_and(|e| *e > now) {
            return Ok(false);
        }
        maps.seen.insert(key, expires);
        maps.wrote(now);
        Ok(true)
    }

    async fn cursor(&self, name: &str) -> Result<Option<String>, StateError> {
        check_name("cursor", name)?;
        Ok(self.maps.lock().cursors.get(name).cloned())
    }

    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StateError> {
        check_name("cursor", name)?;
        self.check_value("cursor value", value.as_bytes())?;
        self.maps.lock().cursors.insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    async fn compare_and_set_cursor(
        &self,
        name: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StateError> {
        check_name("cursor", name)?;
        self.check_value("cursor value", value.as_bytes())?;
        let mut maps = self.maps.lock();
        if maps.cursors.get(name).map(String::as_str) != expected {
            return Ok(false);
        }
        maps.cursors.insert(name.to_owned(), value.to_owned());
        Ok(true)
    }

    async fn set_cursor_fenced(&self, name: &str, value: &str, lease: &Lease) -> Result<(), StateError> {
        check_name("cursor", name)?;
        check_name("lease", &lease.name)?;
        self.check_value("cursor value", value.as_bytes())?;
        let now = Instant::now();
        let mut maps = self.maps.lock();
        if !maps.holds(lease, now) {
            return Err(StateError::LeaseLost {
                name: lease.name.clone(),
                fence: lease.fence,
            });
        }
        maps.cursors.insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>, StateError> {
        check_name("lease", name)?;
        check_len("lease holder", holder.as_bytes(), MAX_ID_LEN, false)?;
        check_ttl("a lease", ttl)?;
        let now = Instant::now();
        let mut maps = self.maps.lock();
        if let Some(current) = maps.live_lease(name, now) {
            if current.holder != holder {
                return Ok(None);
            }
            current.expires = now + ttl;
            let fence = current.fence;
            return Ok(Some(Lease {
                name: name.to_owned(),
                holder: holder.to_owned(),
                fence,
            }));
        }
        let fence = maps.fences.entry(name.to_owned()).or_insert(0);
        *fence += 1;
        let fence = *fence;
        maps.leases.insert(
            name.to_owned(),
            LeaseRecord {
                holder: holder.to_owned(),
                fence,
                expires: now + ttl,
            },
        );
        maps.wrote(now);
        Ok(Some(Lease {
            name: name.to_owned(),
            holder: holder.to_owned(),
            fence,
        }))
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StateError> {
        check_name("lease", &lease.name)?;
        check_ttl("a lease", ttl)?;
        let now = Instant::now();
        let mut maps = self.maps.lock();
        if !maps.holds(lease, now) {
            return Ok(false);
        }
        if let Some(record) = maps.leases.get_mut(&lease.name) {
            record.expires = now + ttl;
        }
        Ok(true)
    }

    async fn release(&self, lease: &Lease) -> Result<bool, StateError> {
        check_name("lease", &lease.name)?;
        let now = Instant::now();
        let mut maps = self.maps.lock();
        if !maps.holds(lease, now) {
            return Ok(false);
        }
        maps.leases.remove(&lease.name);
        Ok(true)
    }
}

//! The coordination state of DESIGN §1: the little that cannot live in RabbitMQ because several Snodo
//! instances must agree on it — per-tenant counters (the ANPR `idOperazioneComune`), one-time tokens
//! (pending SAML requests, login tickets), replay caches (assertion ids), polling cursors and the lease that
//! makes one instance the poller of a feed.
//!
//! One small interface, [`StateStore`], with two implementations of identical semantics: Redis
//! ([`RedisStore`], production: every instance shares it) and in-process ([`MemoryStore`], the embedded
//! development mode: one process, nothing kept across a restart). Both pass the same conformance suite
//! (`conformance`, behind the `testing` feature). Errors tell "unavailable, try again" apart from logic
//! errors, because the consumer runtime retries the first (`unavailable`) and must not retry the second.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use uuid::Uuid;

mod memory;
mod redis_store;
mod settled;

#[cfg(feature = "testing")]
pub mod conformance;
#[cfg(feature = "testing")]
pub mod testing;

pub use memory::MemoryStore;
pub use redis_store::RedisStore;
pub use settled::connect_with_ledger;

/// The store as the rest of Snodo holds it.
pub type SharedStore = Arc<dyn StateStore>;

/// Longest counter, kind, tenant, cursor or lease name: these are chosen by Snodo's code, not by callers
/// from outside, and short keys keep Redis memory predictable.
pub const MAX_NAME_LEN: usize = 64;
/// Longest token, replay id or lease holder. These may come from outside (a SAML `ID`, a `RelayState`);
/// bounding them stops a hostile peer from filling the store with huge keys.
pub const MAX_ID_LEN: usize = 512;
/// The shortest time a replay id is remembered, even when its `until` has already passed: a caller that
/// accepts an assertion within its clock-skew allowance must still see an immediate replay.
pub const MIN_REPLAY_TTL: Duration = Duration::from_secs(1);

/// What both implementations are configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSettings {
    /// Namespace of every key: the transport prefix (`snodo`), so that several Snodo deployments (or
    /// parallel tests) can share one Redis.
    pub prefix: String,
    /// How long the record "this message_id got this number" is kept. A redelivered or retried command
    /// within this time gets its number again; the counter itself never expires.
    pub allocation_retention: Duration,
    /// Largest token value or cursor, in bytes.
    pub max_value_len: usize,
    /// How long the consumer runtime's record "attempt n of this message_id was settled" is kept
    /// (`connect_with_ledger`): a redelivery of a settled attempt within this time is not handled again.
    pub settled_retention: Duration,
}

impl Default for StateSettings {
    fn default() -> Self {
        StateSettings {
            prefix: "snodo".into(),
            // Longer than the default retry schedule (about 73 minutes) with a wide margin: replays of
            // dead letters days later carry the number in `x-snodo-external-key` and need no record.
            allocation_retention: Duration::from_secs(7 * 24 * 3600),
            max_value_len: 64 * 1024,
            settled_retention: snodo_queue::runtime::settled::DEFAULT_SETTLED_RETENTION,
        }
    }
}

impl StateSettings {
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        StateSettings {
            prefix: prefix.into(),
            ..StateSettings::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The store cannot be reached or is not serving now (connection refused or dropped, timeout, Redis
    /// loading its data set or failing over). Retry later; nothing was decided.
    #[error("the coordination store is unavailable, try again: {reason}")]
    Unavailable { reason: String },
    #[error(
        "{what} {value:?} is not a valid name: 1 to {MAX_NAME_LEN} characters of a-z, A-Z, 0-9, '_', '-' or '.'"
    )]
    InvalidName { what: &'static str, value: String },
    /// Tokens and replay ids may be personal data or attacker-chosen: only the length is reported.
    #[error("{what} is {len} bytes long; it must be 1 to {max} bytes")]
    InvalidLength {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("a {kind} token with this value is already stored; one-time tokens must be unique")]
    TokenExists { kind: String },
    #[error("a time-to-live of {ttl:?} is not allowed for {what}: it must be at least one millisecond")]
    InvalidTtl { what: &'static str, ttl: Duration },
    /// A fenced write came from a lease that is no longer held (expired, taken over, released).
    #[error("lease {name} is no longer held by this holder with fencing token {fence}")]
    LeaseLost { name: String, fence: u64 },
    /// The store answered something this code never writes (a key changed by hand, another program
    /// sharing the prefix) or refused a command (wrong credentials, a read-only replica).
    #[error("the coordination store answered unexpectedly at {key}: {reason}")]
    Store { key: String, reason: String },
}

impl StateError {
    /// Whether trying again later may succeed (DESIGN §5 `unavailable`).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StateError::Unavailable { .. })
    }
}

/// A held lease. Only the holder that acquired it can renew or release it; `fence` grows with every new
/// holder, so a write guarded by it (see [`StateStore::set_cursor_fenced`]) is refused once another
/// instance has taken over, however late the old holder's write arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub fence: u64,
}

/// The coordination state. Every operation is atomic on its own; implementations have identical
/// semantics, checked by the conformance suite.
#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    /// Which implementation this is, for logs (`redis`, `in-process`).
    fn kind(&self) -> &'static str;

    /// The number for `message_id` from the per-tenant counter `counter`: the number this message_id got
    /// before, if within the allocation retention, or else the next value of the counter, recorded
    /// against `message_id` before it is returned. Numbers start at 1 and strictly increase in the order
    /// of allocation. Concurrent callers never get the same number and leave no gaps; a gap appears only
    /// when a caller allocates and never uses its number (a command that fails before sending), which
    /// platforms accept because they ask for uniqueness, not contiguity.
    async fn allocate(&self, counter: &str, tenant: &str, message_id: Uuid) -> Result<u64, StateError>;

    /// Stores a one-time token of `kind` for `ttl`. A token already stored is [`StateError::TokenExists`]:
    /// tokens are random, so a clash is a bug or an attack, never something to overwrite.
    async fn put_token(&self, kind: &str, token: &str, value: Bytes, ttl: Duration)
    -> Result<(), StateError>;

    /// The value of the token and its removal, in one step: of several concurrent callers exactly one gets
    /// it. `None` when it never existed, expired or was taken.
    async fn take_token(&self, kind: &str, token: &str) -> Result<Option<Bytes>, StateError>;

    /// Remembers `id` of `kind` until `until` (at least [`MIN_REPLAY_TTL`]); `false` when it was already
    /// remembered, i.e. this is a replay.
    async fn remember_once(&self, kind: &str, id: &str, until: DateTime<Utc>) -> Result<bool, StateError>;

    async fn cursor(&self, name: &str) -> Result<Option<String>, StateError>;

    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StateError>;

    /// Sets the cursor only when it currently is `expected` (`None`: not set); returns whether it did.
    async fn compare_and_set_cursor(
        &self,
        name: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StateError>;

    /// Sets the cursor only while `lease` is still held with its fencing token; otherwise
    /// [`StateError::LeaseLost`] and the cursor is unchanged. Checked and written in one atomic step.
    async fn set_cursor_fenced(&self, name: &str, value: &str, lease: &Lease) -> Result<(), StateError>;

    /// Takes the lease `name` for `holder` for `ttl` when it is free or expired (a new, greater fencing
    /// token), or extends it when `holder` already holds it (the same token). `None` while another holder
    /// has it.
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>, StateError>;

    /// Extends `lease` by `ttl` from now; `false` when it is no longer held by its holder with its token.
    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StateError>;

    /// Gives `lease` up so another instance can take it at once; `false` when it was not held any more.
    async fn release(&self, lease: &Lease) -> Result<bool, StateError>;
}

/// The store of `snodo up`: Redis when `redis_url` is set, in-process otherwise.
pub async fn connect(redis_url: Option<&str>, settings: StateSettings) -> Result<SharedStore, StateError> {
    match redis_url {
        Some(url) => Ok(Arc::new(RedisStore::connect(url, settings).await?)),
        None => Ok(Arc::new(MemoryStore::new(settings))),
    }
}

// ------------------------------------------------------------------------------ checks both stores share

pub(crate) fn check_name(what: &'static str, value: &str) -> Result<(), StateError> {
    let valid = !value.is_empty()
        && value.len() <= MAX_NAME_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(StateError::InvalidName {
            what,
            value: value.chars().take(MAX_NAME_LEN + 8).collect(),
        })
    }
}

pub(crate) fn check_len(
    what: &'static str,
    value: &[u8],
    max: usize,
    allow_empty: bool,
) -> Result<(), StateError> {
    if value.len() > max || (value.is_empty() && !allow_empty) {
        Err(StateError::InvalidLength {
            what,
            len: value.len(),
            max,
        })
    } else {
        Ok(())
    }
}

pub(crate) fn check_ttl(what: &'static str, ttl: Duration) -> Result<u64, StateError> {
    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        Err(StateError::InvalidTtl { what, ttl })
    } else {
        Ok(ms)
    }
}

/// How long from now until `until`, never less than [`MIN_REPLAY_TTL`].
pub(crate) fn replay_ttl(until: DateTime<Utc>) -> Duration {
    (until - Utc::now())
        .to_std()
        .unwrap_or_default()
        .max(MIN_REPLAY_TTL)
}

//! The scheduler of polling feeds: ANPR notifications, pagoPA reporting flows, the CIE booking change feed
//! and IdP metadata refreshes each implement [`Feed`] (`poll(cursor) -> (items, next cursor)`), and a
//! [`Scheduler`] runs it on every Snodo instance with these guarantees:
//!
//! - **one poller**: only the holder of the feed's lease (coordination store, [`crate::state`]) polls; it
//!   renews the lease before every poll and while a poll runs, and stops before its next poll once the
//!   lease is lost; the others try to take it over when it expires;
//! - **nothing lost**: the cursor lives in the store and moves only after every item's event has been
//!   confirmed by the broker, with a write fenced by the lease, so a poller that lost its lease while
//!   blocked can never move the cursor back or past items it did not publish;
//! - **duplicates only with one id**: each item becomes one event whose `message_id` derives from the
//!   item's platform id ([`item_message_id`]), so a re-poll after a failover publishes the same ids again
//!   and consumers de-duplicate them (DESIGN §4).
//!
//! Errors (the platform, the broker, the store) back off exponentially and never stop the scheduler.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use snodo_queue::envelope::MessageType;
use snodo_queue::{Names, SharedTransport};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

mod event;
pub mod metrics;
mod poller;

pub use event::{item_event, item_message_id};
pub use metrics::FeedMetrics;

use crate::state::{SharedStore, StateError, check_name};

/// One thing a feed reported: it becomes one event.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedItem {
    /// The platform's own identifier of the item (an ANPR notification id, a pagoPA flow id with its
    /// date). It must identify the item for good within its `kind` and tenant: the event's `message_id`
    /// derives from it.
    pub platform_id: String,
    /// The event type, e.g. `anpr.notification.received`.
    pub kind: MessageType,
    /// The tenant (ISTAT code) the item belongs to, if any.
    pub tenant: Option<String>,
    /// The event body.
    pub body: serde_json::Value,
}

/// What one poll returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Poll {
    /// In the platform's order; events are published in this order.
    pub items: Vec<FeedItem>,
    /// Where the next poll starts: stored once every item is confirmed.
    pub next_cursor: String,
    /// The platform has more ready now (a full page): poll again without waiting for the interval.
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The platform could not be asked (connection, timeout, 5xx): the scheduler backs off and retries.
    #[error("the platform is unavailable: {0}")]
    Unavailable(String),
    /// The platform answered something the feed cannot use. Retried too (the cursor has not moved), but
    /// logged as an error: it needs a person.
    #[error("the platform's answer is unusable: {0}")]
    Invalid(String),
}

/// A source of items polled with a cursor.
#[async_trait]
pub trait Feed: Send + Sync + 'static {
    /// Names the feed's lease and cursor in the store, e.g. `anpr-notifications.015146`: letters, digits,
    /// `_`, `-` and `.`, at most 64 characters.
    fn name(&self) -> &str;

    /// The items after `cursor` (`None`: the feed has never been polled) and the cursor after them.
    async fn poll(&self, cursor: Option<&str>) -> Result<Poll, FeedError>;
}

/// How a scheduler polls and holds its lease.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    pub names: Names,
    /// `app_id` of the events.
    pub app_id: String,
    /// This instance, as the lease holder; unique per process (see [`default_holder`]).
    pub holder: String,
    /// Between two polls that found nothing more.
    pub interval: Duration,
    /// How long a lease lasts without renewal: how long a crashed poller blocks the feed.
    pub lease_ttl: Duration,
    /// How often the poller renews its lease; well under `lease_ttl`.
    pub renew_every: Duration,
    /// How often an instance without the lease tries to take it.
    pub acquire_every: Duration,
    /// First and longest wait after a failed poll.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl SchedulerSettings {
    /// Production defaults: a poll every 30 s, a lease of 30 s renewed every 10 s, takeover tried every
    /// 5 s, backoff from 1 s to 5 minutes.
    pub fn new(names: Names) -> SchedulerSettings {
        SchedulerSettings {
            names,
            app_id: "snodo".into(),
            holder: default_holder(),
            interval: Duration::from_secs(30),
            lease_ttl: Duration::from_secs(30),
            renew_every: Duration::from_secs(10),
            acquire_every: Duration::from_secs(5),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
        }
    }
}

/// `<host>-<pid>-<random>`: unique even for two schedulers in one process, readable in Redis.
pub fn default_holder() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "snodo".into());
    let host: String = host.chars().take(64).collect();
    format!(
        "{host}-{}-{}",
        std::process::id(),
        &Uuid::new_v4().simple().to_string()[..8]
    )
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("feed name: {0}")]
    FeedName(#[source] StateError),
    #[error("scheduler settings for feed {feed}: {reason}")]
    Settings { feed: String, reason: String },
}

/// Runs one feed on this instance; see the module documentation.
pub struct Scheduler {
    pub(crate) feed: Arc<dyn Feed>,
    pub(crate) store: SharedStore,
    pub(crate) transport: SharedTransport,
    pub(crate) settings: SchedulerSettings,
    pub(crate) metrics: Arc<FeedMetrics>,
}

impl Scheduler {
    pub fn new(
        feed: Arc<dyn Feed>,
        store: SharedStore,
        transport: SharedTransport,
        settings: SchedulerSettings,
    ) -> Result<Scheduler, ScheduleError> {
        check_name("feed", feed.name()).map_err(ScheduleError::FeedName)?;
        let invalid = |reason: &str| ScheduleError::Settings {
            feed: feed.name().to_owned(),
            reason: reason.to_owned(),
        };
        if settings.renew_every.is_zero() || settings.renew_every >= settings.lease_ttl {
            return Err(invalid("renew_every must be above zero and below lease_ttl"));
        }
        if settings.lease_ttl < Duration::from_millis(1) {
            return Err(invalid("lease_ttl must be at least a millisecond"));
        }
        if settings.acquire_every.is_zero() || settings.backoff_min.is_zero() {
            return Err(invalid("acquire_every and backoff_min must be above zero"));
        }
        if settings.backoff_max < settings.backoff_min {
            return Err(invalid("backoff_max must not be below backoff_min"));
        }
        Ok(Scheduler {
            feed,
            store,
            transport,
            settings,
            metrics: Arc::new(FeedMetrics::default()),
        })
    }

    pub fn feed_name(&self) -> &str {
        self.feed.name()
    }

    pub fn metrics(&self) -> Arc<FeedMetrics> {
        self.metrics.clone()
    }

    /// Polls while this instance holds the feed's lease, waits for it otherwise, until `shutdown`; then
    /// gives the lease up so another instance takes over at once.
    pub async fn run(self, shutdown: CancellationToken) {
        poller::run(self, shutdown).await;
    }
}

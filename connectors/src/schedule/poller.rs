//! The loop of one [`Scheduler`]: wait for the feed's lease, then poll on the interval while renewing it,
//! until the lease is lost or shutdown.
//!
//! The lease is renewed right before each poll and on schedule while a poll runs; a poll starts only
//! with a renewal just confirmed, so an instance that lost the lease (expired while it was cut off from
//! the store, taken over) stops before its next poll. What a lost holder may still be doing when it finds
//! out — a poll in progress — can at worst publish duplicates with the same ids: its cursor write is
//! fenced and refused.

use std::sync::atomic::Ordering;

use snodo_queue::privacy::mask_personal_data;
use snodo_queue::{Publish, PublishError};
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use super::{FeedError, Scheduler, item_event};
use crate::state::{Lease, StateError};

enum Ended {
    Shutdown,
    Lost,
}

enum Renewal {
    Renewed,
    /// The store did not answer; the lease may still be ours until `valid_until`.
    Unconfirmed,
    Lost,
}

#[derive(Debug, thiserror::Error)]
enum CycleError {
    #[error("the coordination store failed: {0}")]
    Store(#[source] StateError),
    #[error("polling failed: {0}")]
    Feed(#[source] FeedError),
    #[error("publishing an event failed: {0}")]
    Publish(#[source] PublishError),
    #[error("the lease was lost before the cursor could move")]
    LeaseLost,
}

/// The lease as this instance knows it.
struct Held {
    lease: Lease,
    /// Until when the lease is ours for sure: the start of the last confirmed renewal plus the TTL.
    valid_until: Instant,
    next_renew: Instant,
}

pub(super) async fn run(s: Scheduler, shutdown: CancellationToken) {
    loop {
        let (lease, asked_at) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            acquired = acquire(&s) => acquired,
        };
        if let Ended::Shutdown = lead(&s, lease, asked_at, &shutdown).await {
            return;
        }
    }
}

/// Tries to take the lease every `acquire_every` until it gets it; returns it with the instant it was
/// asked for, from which its TTL runs.
async fn acquire(s: &Scheduler) -> (Lease, Instant) {
    loop {
        let asked_at = Instant::now();
        match s
            .store
            .acquire(s.feed.name(), &s.settings.holder, s.settings.lease_ttl)
            .await
        {
            Ok(Some(lease)) => return (lease, asked_at),
            Ok(None) => {}
            Err(e) => tracing::warn!(feed = %s.feed.name(), error = %e, "Cannot ask for the feed's lease."),
        }
        sleep(s.settings.acquire_every).await;
    }
}

async fn lead(s: &Scheduler, lease: Lease, asked_at: Instant, shutdown: &CancellationToken) -> Ended {
    let feed = s.feed.name();
    tracing::info!(feed = %feed, fence = lease.fence, holder = %lease.holder, "Polling the feed: this instance holds its lease.");
    s.metrics.lease_held.store(1, Ordering::SeqCst);
    s.metrics.lease_acquired.fetch_add(1, Ordering::Relaxed);
    let mut held = Held {
        lease,
        valid_until: asked_at + s.settings.lease_ttl,
        next_renew: asked_at + s.settings.renew_every,
    };
    let ended = poll_while_held(s, &mut held, shutdown).await;
    s.metrics.lease_held.store(0, Ordering::SeqCst);
    match ended {
        Ended::Shutdown => match s.store.release(&held.lease).await {
            Ok(_) => tracing::info!(feed = %feed, "Stopped polling; lease released."),
            Err(e) => tracing::warn!(feed = %feed, error = %e,
                "Stopped polling; the lease could not be released and expires by itself."),
        },
        Ended::Lost => {
            s.metrics.lease_lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(feed = %feed, fence = held.lease.fence, "Lost the feed's lease; stopped polling.");
        }
    }
    ended
}

async fn poll_while_held(s: &Scheduler, held: &mut Held, shutdown: &CancellationToken) -> Ended {
    let mut next_poll = Instant::now();
    let mut backoff = s.settings.backoff_min;
    loop {
        while Instant::now() < next_poll {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ended::Shutdown,
                _ = sleep_until(next_poll.min(held.next_renew)) => {}
            }
            if Instant::now() >= held.next_renew
                && let Renewal::Lost = renew(s, held).await
            {
                return Ended::Lost;
            }
        }
        match renew(s, held).await {
            Renewal::Renewed => {}
            Renewal::Lost => return Ended::Lost,
            Renewal::Unconfirmed => {
                // Not sure the lease is still ours: do not poll; try again soon.
                next_poll = Instant::now() + backoff;
                continue;
            }
        }
        let lease = held.lease.clone();
        let cycle = cycle(s, &lease);
        tokio::pin!(cycle);
        let result = loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ended::Shutdown,
                result = &mut cycle => break result,
                _ = sleep_until(held.next_renew) => {
                    if let Renewal::Lost = renew(s, held).await {
                        return Ended::Lost;
                    }
                }
            }
        };
        match result {
            Ok(more) => {
                backoff = s.settings.backoff_min;
                next_poll = if more {
                    Instant::now()
                } else {
                    Instant::now() + s.settings.interval
                };
            }
            Err(CycleError::LeaseLost) => return Ended::Lost,
            Err(e) => {
                s.metrics.errors.fetch_add(1, Ordering::Relaxed);
                let error = mask_personal_data(&e.to_string());
                if matches!(e, CycleError::Feed(FeedError::Invalid(_))) {
                    tracing::error!(feed = %s.feed.name(), error = %error, retry_in = ?backoff, "Feed poll failed.");
                } else {
                    tracing::warn!(feed = %s.feed.name(), error = %error, retry_in = ?backoff, "Feed poll failed.");
                }
                next_poll = Instant::now() + backoff;
                backoff = (backoff * 2).min(s.settings.backoff_max);
            }
        }
    }
}

async fn renew(s: &Scheduler, held: &mut Held) -> Renewal {
    let asked_at = Instant::now();
    match s.store.renew(&held.lease, s.settings.lease_ttl).await {
        Ok(true) => {
            held.valid_until = asked_at + s.settings.lease_ttl;
            held.next_renew = asked_at + s.settings.renew_every;
            Renewal::Renewed
        }
        Ok(false) => Renewal::Lost,
        Err(e) => {
            let now = Instant::now();
            if now >= held.valid_until {
                tracing::warn!(feed = %s.feed.name(), error = %e, "Cannot renew the feed's lease, and it has run out.");
                return Renewal::Lost;
            }
            tracing::warn!(feed = %s.feed.name(), error = %e, "Cannot renew the feed's lease; trying again.");
            held.next_renew = now + s.settings.renew_every / 4;
            Renewal::Unconfirmed
        }
    }
}

/// One poll: read the cursor, poll, publish every item's event with confirms in the feed's order, then
/// move the cursor (fenced by the lease). Returns whether the feed has more ready now.
async fn cycle(s: &Scheduler, lease: &Lease) -> Result<bool, CycleError> {
    let name = s.feed.name();
    let cursor = s.store.cursor(name).await.map_err(CycleError::Store)?;
    s.metrics.polls.fetch_add(1, Ordering::Relaxed);
    let poll = s.feed.poll(cursor.as_deref()).await.map_err(CycleError::Feed)?;
    let exchange = s.settings.names.events_exchange();
    // One at a time: consumers see the platform's order, and an item's event is confirmed before the next
    // is sent. Feeds are low-rate; ordering is worth more than throughput here.
    for item in &poll.items {
        let message = item_event(item, &s.settings.app_id);
        let (body, started) = (message.body.clone(), std::time::Instant::now());
        s.transport
            .publish(Publish::new(exchange.clone(), item.kind.as_str(), message))
            .await
            .map_err(CycleError::Publish)?;
        crate::inbound::record_feed_event(&s.settings.app_id, item, body, started.elapsed());
        s.metrics.items.fetch_add(1, Ordering::Relaxed);
    }
    if cursor.as_deref() != Some(poll.next_cursor.as_str()) {
        match s.store.set_cursor_fenced(name, &poll.next_cursor, lease).await {
            Ok(()) => {}
            Err(StateError::LeaseLost { .. }) => return Err(CycleError::LeaseLost),
            Err(e) => return Err(CycleError::Store(e)),
        }
    }
    Ok(poll.more && !poll.items.is_empty())
}

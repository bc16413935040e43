//! Message expiry for one queue: a Tokio timer task per queue that sleeps until the head message's
//! deadline, so TTL queues (Snodo's retry delay queues) dead-letter on time without any consumer, as
//! RabbitMQ's `x-message-ttl` and `expiration` do.
//!
//! Like RabbitMQ, only the head expires: a message behind a longer-lived one waits for it. The timer is
//! woken only when the head's deadline moves earlier than what it sleeps until, which keeps the hot path
//! (publish, dispatch, ack) free of timer traffic.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{DeadLetters, DeathReason, Inner, Queue};

impl Queue {
    /// Starts the expiry timer once: at declaration for TTL queues, on the first message with an
    /// `expiration` otherwise. Without a runtime (not expected: callers are async) expiry still happens
    /// when a consumer or `get` meets an expired head.
    pub(in crate::embedded) fn ensure_timer(self: &Arc<Self>) {
        if self.timer_started.load(Ordering::Acquire) || self.timer_started.swap(true, Ordering::AcqRel) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(expiry_loop(Arc::downgrade(self), self.timer.clone()));
            }
            Err(_) => self.timer_started.store(false, Ordering::Release),
        }
    }

    /// Expires the head while it is due; returns the next deadline, or `None` once the queue is deleted.
    pub(super) fn expire_due(&self) -> Option<Option<Instant>> {
        let mut dead = DeadLetters::new();
        let next = {
            let mut inner = self.inner.lock();
            if inner.deleted {
                return None;
            }
            let now = Instant::now();
            while inner
                .head()
                .and_then(|entry| entry.expires_at)
                .is_some_and(|at| at <= now)
            {
                if let Some(entry) = inner.pop_head() {
                    dead.push((entry, DeathReason::Expired));
                }
            }
            let next = inner.head().and_then(|entry| entry.expires_at);
            inner.timer_deadline = next;
            next
        };
        self.flush(dead);
        Some(next)
    }

    /// Wakes the timer when the head now expires earlier than what it sleeps until.
    pub(super) fn rearm_timer(&self, inner: &mut Inner) {
        if !self.timer_started.load(Ordering::Relaxed) {
            return;
        }
        let Some(at) = inner.head().and_then(|entry| entry.expires_at) else {
            return;
        };
        if inner.timer_deadline.is_none_or(|deadline| at < deadline) {
            inner.timer_deadline = Some(at);
            self.timer.notify_one();
        }
    }
}

/// Expires messages without waiting for a consumer, as RabbitMQ's TTL does. Holds the queue weakly so a
/// deleted queue's timer ends.
async fn expiry_loop(queue: Weak<Queue>, notify: Arc<Notify>) {
    loop {
        let next = match queue.upgrade().and_then(|queue| queue.expire_due()) {
            Some(next) => next,
            None => return,
        };
        match next {
            Some(deadline) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => {}
                    _ = notify.notified() => {}
                }
            }
            None => notify.notified().await,
        }
    }
}

//! Inbound calls from a platform — a pagoPA `paSendRT`, an ANPR notification, a SAML login — become
//! events, and the platform is answered positively only once the broker has confirmed the event
//! into a durable queue (DESIGN §4). Every inbound endpoint goes through [`InboundPublisher`], so that
//! rule is implemented once and proved once, by the inbound compliance suite
//! (`snodo_queue::testing::inbound`).
//!
//! Two constraints shape it. The platform waits only so long (pagoPA: 7 s, 15 s for some primitives),
//! so storing has a deadline, after which the endpoint answers the platform's retryable error rather
//! than nothing — the platform then calls again. And the platform may call twice for one fact, so the
//! event's `message_id` is a UUIDv5 of the platform's own identifier ([`item_message_id`], shared with
//! the polling scheduler, so a pushed and a polled copy of one item carry one id).
//!
//! Every event stored here, or given up on, is journaled (issue 9) against the command or the inbound
//! call it belongs to; the inbound call itself is recorded by [`record::record_calls`].

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use snodo_queue::envelope::{Envelope, MessageType};
use snodo_queue::runtime::journal::{EventRecord, record_event};
use snodo_queue::topology::Names;
use snodo_queue::transport::{Publish, PublishError, SharedTransport};
use tokio::time::Instant;
use uuid::Uuid;

pub use crate::schedule::item_message_id;

pub mod record;

/// One fact a platform told us.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundEvent {
    /// The event type, e.g. `pagopa.receipt.received`.
    pub kind: MessageType,
    /// The tenant (ISTAT code) the call was for.
    pub tenant: Option<String>,
    /// The platform's identifier of the fact (e.g. receipt id, notification id): the idempotency key.
    pub platform_id: String,
    /// The JSON body, per the contract of `kind`.
    pub body: serde_json::Value,
}

impl InboundEvent {
    /// The event's `message_id`: the same for every call about the same fact.
    pub fn message_id(&self) -> Uuid {
        item_message_id(&self.kind, self.tenant.as_deref(), &self.platform_id)
    }
}

/// Journals one feed item's event once the broker confirmed it (the polling scheduler's publishes do
/// not go through [`InboundPublisher`], whose deadline they do not need).
pub fn record_feed_event(app_id: &str, item: &crate::schedule::FeedItem, body: Bytes, elapsed: Duration) {
    record_event(EventRecord {
        publisher: app_id.to_owned(),
        message_id: item_message_id(&item.kind, item.tenant.as_deref(), &item.platform_id).to_string(),
        kind: item.kind.as_str().to_owned(),
        tenant: item.tenant.clone(),
        platform_id: Some(item.platform_id.clone()),
        outcome: Ok(()),
        elapsed,
        body: Some(body),
    });
}

/// Why an event could not be stored before the platform's deadline: the endpoint answers the
/// platform's retryable error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {message_id} not stored within {within:?}: {reason}")]
pub struct NotStored {
    pub message_id: Uuid,
    pub within: Duration,
    pub reason: String,
}

/// Publishes inbound events on `snodo.events` with publisher confirms, within a deadline.
#[derive(Clone)]
pub struct InboundPublisher {
    transport: SharedTransport,
    exchange: String,
    app_id: String,
}

impl std::fmt::Debug for InboundPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundPublisher")
            .field("exchange", &self.exchange)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl InboundPublisher {
    /// `app_id` names the endpoint in the events it publishes (`pagopa`, `anpr`, `identity`).
    pub fn new(transport: SharedTransport, names: &Names, app_id: impl Into<String>) -> InboundPublisher {
        InboundPublisher {
            transport,
            exchange: names.events_exchange(),
            app_id: app_id.into(),
        }
    }

    /// Stores `event` — published with `mandatory`, confirmed by the broker — or gives up when
    /// `within` has passed. Transient failures (a lost channel, a nack) are retried inside the
    /// deadline; `Ok` means a durable queue holds the event (the events exchange's alternate
    /// exchange makes sure some queue always does).
    pub async fn store(&self, event: &InboundEvent, within: Duration) -> Result<Uuid, NotStored> {
        self.store_with_id(event, event.message_id(), within).await
    }

    /// [`store`](Self::store) under a `message_id` the platform's contract fixes instead (the pagoPA
    /// receipt id of (idPA, fiscal code, IUV, receiptId)); it must be as deterministic as
    /// [`InboundEvent::message_id`].
    pub async fn store_with_id(
        &self,
        event: &InboundEvent,
        message_id: Uuid,
        within: Duration,
    ) -> Result<Uuid, NotStored> {
        let started = Instant::now();
        let body = Bytes::from(serde_json::to_vec(&event.body).expect("a JSON value always serializes"));
        let outcome = self.publish(event, message_id, body.clone(), within).await;
        let stored = outcome.as_ref().map(|_| ()).map_err(|e| e.reason.clone());
        record::note_event(
            message_id.to_string(),
            event.kind.as_str().to_owned(),
            event.tenant.clone(),
            stored.is_ok(),
        );
        record_event(EventRecord {
            publisher: self.app_id.clone(),
            message_id: message_id.to_string(),
            kind: event.kind.as_str().to_owned(),
            tenant: event.tenant.clone(),
            platform_id: Some(event.platform_id.clone()),
            outcome: stored,
            elapsed: started.elapsed(),
            body: Some(body),
        });
        outcome
    }

    async fn publish(
        &self,
        event: &InboundEvent,
        message_id: Uuid,
        body: Bytes,
        within: Duration,
    ) -> Result<Uuid, NotStored> {
        let deadline = Instant::now() + within;
        let message = Envelope {
            message_id,
            correlation_id: None,
            kind: event.kind.clone(),
            schema: 1,
            tenant: event.tenant.clone(),
            deadline: None,
            attempt: 1,
            external_key: Some(event.platform_id.clone()),
            reply_to: None,
            app_id: Some(self.app_id.clone()),
            timestamp: Some(Utc::now().timestamp().max(0) as u64),
        }
        .to_message(body);
        let not_stored = |reason: String| NotStored {
            message_id,
            within,
            reason,
        };
        let mut pause = Duration::from_millis(20);
        loop {
            let publish = Publish::new(self.exchange.clone(), event.kind.as_str(), message.clone());
            let outcome = tokio::time::timeout_at(deadline, self.transport.publish(publish)).await;
            let error = match outcome {
                Ok(Ok(())) => return Ok(message_id),
                Err(_) => {
                    return Err(not_stored(
                        "no confirm from the broker before the deadline".into(),
                    ));
                }
                Ok(Err(e)) => e,
            };
            let retryable = matches!(error, PublishError::Nacked { .. } | PublishError::Transport(_));
            tracing::warn!(error = %error, %message_id, kind = %event.kind, "Inbound event not stored yet.");
            if !retryable || Instant::now() + pause >= deadline {
                return Err(not_stored(error.to_string()));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }
}

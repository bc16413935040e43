//! The answer a login request is about to get, kept in the coordination store from just before its
//! event is published until the answer is handed to the browser, so that the instance that answers
//! can die at any moment in between without the login being lost.
//!
//! Why: the answer — the 303 with its ticket, or the courtesy page of a refusal — may only be given
//! once its event is confirmed (DESIGN §4), and the instance waiting for that confirmation may die
//! before the browser reads the answer, or before the confirmation even reaches it while the broker
//! already holds the event. The browser (or the balancer) then posts the same form to another
//! instance, whose request is gone. That instance finds the record here, publishes its event again —
//! the same `message_id` and body: a copy consumers de-duplicate, never a second event, since whether
//! the broker got the first one is unknown — and, once that is confirmed, gives the very same answer.
//!
//! The record is taken away right before the answer is returned: from then on the login is answered,
//! and any later post of it is a replay, refused as before (SPID technical rules, single-sign-on:
//! a Response is used once; `snodo certify spid-sp` case `replay`). Replay protection stays strict
//! in the window too: the record answers only a post whose Response and RelayState are byte-identical
//! to the one it was made for (a SHA-256 digest of both); any other Response for that request is
//! refused and publishes nothing.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::acs::{PendingLogin, give_back};
use super::pages::html_page;
use super::{IdentityService, OUTCOME_KIND};
use crate::inbound::InboundEvent;
use crate::state::StateError;

/// What the browser is answered once the request's event is confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Answer {
    /// 303 to the return URL with the ticket.
    Redirect { location: String },
    /// The courtesy page of a refused login, as it was rendered.
    Refusal { status: u16, page: String },
}

impl Answer {
    pub(crate) fn into_response(self) -> Response {
        match self {
            Answer::Redirect { location } => (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, location),
                    (header::CACHE_CONTROL, "no-store".into()),
                ],
            )
                .into_response(),
            Answer::Refusal { status, page } => html_page(
                StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
                page,
            ),
        }
    }
}

/// The digest a re-post must match: the decoded Response and the RelayState, each length-prefixed
/// so that no two different pairs hash the same bytes.
pub(crate) fn response_digest(xml: &[u8], relay_state: Option<&str>) -> String {
    let mut hasher = openssl::sha::Sha256::new();
    hasher.update(&(xml.len() as u64).to_be_bytes());
    hasher.update(xml);
    match relay_state {
        Some(relay) => {
            hasher.update(&[1]);
            hasher.update(&(relay.len() as u64).to_be_bytes());
            hasher.update(relay.as_bytes());
        }
        None => hasher.update(&[0]),
    }
    hasher.finish().iter().map(|b| format!("{b:02x}")).collect()
}

/// The event the answer waits for, as it is (re)published.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredEvent {
    kind: String,
    tenant: Option<String>,
    platform_id: String,
    body: serde_json::Value,
}

impl StoredEvent {
    fn of(event: &InboundEvent) -> StoredEvent {
        StoredEvent {
            kind: event.kind.as_str().to_owned(),
            tenant: event.tenant.clone(),
            platform_id: event.platform_id.clone(),
            body: event.body.clone(),
        }
    }

    fn event(&self) -> Option<InboundEvent> {
        Some(InboundEvent {
            kind: self.kind.parse().ok()?,
            tenant: self.tenant.clone(),
            platform_id: self.platform_id.clone(),
            body: self.body.clone(),
        })
    }
}

/// What the store keeps under the request ID while the answer is on its way.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Unanswered {
    /// The tenant whose ACS was posted to.
    tenant: String,
    response_digest: String,
    answer: Answer,
    event: StoredEvent,
    /// When the request would have expired: the record goes with it.
    expires_at: DateTime<Utc>,
}

/// Why a request's answer cannot be given yet: its event was not confirmed, or the store did not
/// keep what a re-post would need. The request has been given back; the browser is told to try
/// again (503).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unconfirmed {
    #[error("the answer could not be recorded: {0}")]
    Store(#[from] StateError),
    #[error("the event could not be stored: {0}")]
    Event(#[from] crate::inbound::NotStored),
}

/// How long the record lives: what is left of its request's life, but at least through the publish
/// it waits for (a request about to expire must still be answerable on the re-post that follows).
fn time_to_live(service: &IdentityService, expires_at: DateTime<Utc>) -> std::time::Duration {
    (expires_at - (service.clock)())
        .to_std()
        .unwrap_or_default()
        .max(service.settings.store_budget)
}

/// Stores the record, replacing one an earlier attempt at the same request left behind (an attempt
/// given back after a failure, stopped before it could remove its record).
async fn put(service: &IdentityService, request_id: &str, record: &Unanswered) -> Result<(), StateError> {
    let value: bytes::Bytes = serde_json::to_vec(record)
        .expect("an unanswered outcome serializes")
        .into();
    let ttl = time_to_live(service, record.expires_at);
    match service
        .store
        .put_token(OUTCOME_KIND, request_id, value.clone(), ttl)
        .await
    {
        Err(StateError::TokenExists { .. }) => {
            service.store.take_token(OUTCOME_KIND, request_id).await?;
            service
                .store
                .put_token(OUTCOME_KIND, request_id, value, ttl)
                .await
        }
        other => other,
    }
}

async fn take(service: &IdentityService, request_id: &str) -> Result<Option<Unanswered>, StateError> {
    let Some(bytes) = service.store.take_token(OUTCOME_KIND, request_id).await? else {
        return Ok(None);
    };
    match serde_json::from_slice(&bytes) {
        Ok(record) => Ok(Some(record)),
        Err(e) => {
            // Written by nothing of ours (a key changed by hand): as if absent.
            tracing::warn!(error = %e, "an unanswered login outcome does not parse; dropped");
            Ok(None)
        }
    }
}

/// Marks the request answered: from now on a post of it is a replay. Failing to only leaves the
/// record to expire, and a re-post meanwhile publishes a copy of the event and gets the same answer.
async fn answered(service: &IdentityService, request_id: &str) {
    if let Err(e) = service.store.take_token(OUTCOME_KIND, request_id).await {
        tracing::warn!(error = %e, "an answered login's record could not be removed; it expires with its request");
    }
}

/// The last step of every concluded request, its success or its refusal: records `answer` for the
/// Response with `digest`, publishes `event` and waits for the broker's confirmation. On any
/// failure the request is given back (with `verified_assertion`, the Assertion already in the replay
/// cache, allowed once more for it) so that the re-post can conclude it, and the browser is to be
/// told "try again". `Ok`: the caller returns `answer` at once.
pub(crate) async fn conclude(
    service: &IdentityService,
    tenant: &str,
    pending: &PendingLogin,
    digest: &str,
    answer: &Answer,
    event: &InboundEvent,
    verified_assertion: Option<&str>,
) -> Result<(), Unconfirmed> {
    let record = Unanswered {
        tenant: tenant.to_owned(),
        response_digest: digest.to_owned(),
        answer: answer.clone(),
        event: StoredEvent::of(event),
        expires_at: pending.issue_instant + service.settings.request_ttl,
    };
    if let Err(e) = put(service, &pending.request_id, &record).await {
        give_back(service, pending, verified_assertion).await;
        return Err(e.into());
    }
    if let Err(e) = service
        .publisher
        .store(event, service.settings.store_budget)
        .await
    {
        // The request first, then the record: stopped in between, both remain, and the re-post
        // takes the request and concludes it anew, replacing the record.
        give_back(service, pending, verified_assertion).await;
        answered(service, &pending.request_id).await;
        return Err(e.into());
    }
    answered(service, &pending.request_id).await;
    Ok(())
}

/// What a post whose request is gone finds.
pub(crate) enum Recalled {
    /// The answer the request was to get, its event now confirmed: give it.
    Answer(Answer),
    /// The request is being answered for another Response (or on another tenant's ACS).
    Other,
    /// Nothing: the request never existed, expired, or was answered.
    Nothing,
    /// The store, or the broker, is unavailable.
    Unavailable(String),
}

/// Finishes, for a post with `digest` on `tenant`'s ACS, the answer of request `request_id` if its
/// instance did not get to give it. Taking the record and putting it back (on a mismatch or a
/// failure) is not atomic: a concurrent re-post in between finds nothing, as it would have before.
pub(crate) async fn recall(
    service: &IdentityService,
    tenant: &str,
    request_id: &str,
    digest: &str,
) -> Recalled {
    let record = match take(service, request_id).await {
        Err(e) => return Recalled::Unavailable(e.to_string()),
        Ok(None) => return Recalled::Nothing,
        Ok(Some(record)) => record,
    };
    if record.tenant != tenant || record.response_digest != digest {
        put_back(service, request_id, &record).await;
        return Recalled::Other;
    }
    let Some(event) = record.event.event() else {
        tracing::warn!("an unanswered login's event has an invalid type; dropped");
        return Recalled::Nothing;
    };
    // Whether the broker got it the first time is unknown: the same message_id and body again.
    match service
        .publisher
        .store(&event, service.settings.store_budget)
        .await
    {
        Ok(_) => Recalled::Answer(record.answer),
        Err(e) => {
            put_back(service, request_id, &record).await;
            Recalled::Unavailable(e.to_string())
        }
    }
}

/// Puts a record taken for a look back, for what remains of its life.
async fn put_back(service: &IdentityService, request_id: &str, record: &Unanswered) {
    if record.expires_at <= (service.clock)() {
        return;
    }
    if let Err(e) = put(service, request_id, record).await {
        tracing::warn!(error = %e, "an unanswered login's record could not be put back");
    }
}

//! The scheduled notification pull (issue 5's primary path): per tenant, a [`Feed`] on the shared
//! scheduler that asks ANPR's service 3003 for the notifications ready in a period and publishes each
//! as `anpr.notification.received`. Its `platform_id` is the notification's
//! [`NotificationReceived::platform_key`] — the one the push endpoint uses — so a notification both
//! pushed and pulled is one `message_id`.
//!
//! The cursor (JSON) remembers where the last pull ended and which notifications it already
//! published. Each pull reaches back [`OVERLAP`] before that end, because a notification can become
//! readable after the instant ANPR dates it (and the two clocks differ); what the overlap finds again is
//! skipped by the remembered keys, so a quiet mailbox does not re-publish its last notifications at
//! every poll. A key is forgotten once its first sighting falls before the period asked, since the
//! notification is dated no later than that sighting and cannot be listed again.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use snodo_mappings::anpr::notification::{self, NotificationReceived};
use snodo_mappings::anpr::notification_pull::{self, PullQuery};
use uuid::Uuid;

use super::config::AnprTenant;
use super::soap::{allocate, exchange};
use crate::schedule::{Feed, FeedError, FeedItem, Poll};
use crate::state::SharedStore;

/// How far back ANPR lets a pull reach (changelog.md, ANPR05): the first pull asks for all of it.
pub const PULL_WINDOW: TimeDelta = TimeDelta::days(180);

/// How much of the previous period each pull asks again.
pub const OVERLAP: TimeDelta = TimeDelta::minutes(10);

/// What the feed's cursor remembers between polls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Progress {
    /// The end of the period of the last pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pulled_to: Option<DateTime<Utc>>,
    /// Platform key → the end of the pull that first published it.
    #[serde(default)]
    published: BTreeMap<String, DateTime<Utc>>,
}

/// The 3003 notification pull of one tenant.
pub struct NotificationFeed {
    name: String,
    tenant: Arc<AnprTenant>,
    store: SharedStore,
}

impl NotificationFeed {
    pub fn new(tenant: Arc<AnprTenant>, store: SharedStore) -> NotificationFeed {
        NotificationFeed {
            name: format!("anpr-notifications.{}", tenant.istat),
            tenant,
            store,
        }
    }

    async fn pull(&self, query: &PullQuery) -> Result<Vec<NotificationReceived>, FeedError> {
        // A read: a fresh number for every pull, never reused (a repeat would replay an old answer).
        let key = Uuid::new_v4();
        let id = allocate(&self.tenant, &self.store, key)
            .await
            .map_err(|e| FeedError::Unavailable(e.message))?;
        let answer = exchange(
            &self.tenant,
            &self.store,
            notification_pull::SERVICE,
            key,
            id,
            |ctx| notification_pull::write_request(query, ctx),
            notification_pull::read_response,
        )
        .await
        .map_err(|e| FeedError::Unavailable(e.message))?;
        let pulled = answer.map_err(|r| {
            FeedError::Invalid(format!(
                "ANPR refused the 3003 notification pull: {} {}",
                r.platform_code().unwrap_or("KO"),
                r.platform_message().unwrap_or("")
            ))
        })?;
        if pulled.unidentified > 0 {
            // Publishing them under an invented id would break de-duplication with the push.
            tracing::error!(
                tenant = %self.tenant.istat,
                count = pulled.unidentified,
                "ANPR listed notifications whose XML names no idOperazioneANPR; they were not published."
            );
        }
        Ok(pulled.notifications)
    }
}

/// `Utc` as the offset the mapping writes.
fn utc(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.with_timezone(&FixedOffset::east_opt(0).expect("UTC is an offset"))
}

/// A pulled notification as the scheduler's item: same `platform_id` as the pushed copy's.
pub fn notification_item(tenant: &str, n: &NotificationReceived) -> FeedItem {
    FeedItem {
        platform_id: n.platform_key(),
        kind: notification::EVENT.parse().expect("a well-formed event type"),
        tenant: Some(tenant.to_owned()),
        body: serde_json::to_value(n).expect("contract types always serialize"),
    }
}

#[async_trait]
impl Feed for NotificationFeed {
    fn name(&self) -> &str {
        &self.name
    }

    async fn poll(&self, cursor: Option<&str>) -> Result<Poll, FeedError> {
        let mut progress: Progress = match cursor {
            None => Progress::default(),
            Some(text) => serde_json::from_str(text)
                .map_err(|e| FeedError::Invalid(format!("the feed's cursor is not its JSON: {e}")))?,
        };
        let now = Utc::now();
        let oldest = now - PULL_WINDOW;
        let from = progress
            .pulled_to
            .map_or(oldest, |to| (to - OVERLAP).max(oldest))
            .min(now);
        let query = PullQuery {
            kind: None,
            from: utc(from),
            to: utc(now),
        };
        let notifications = self.pull(&query).await?;
        progress.published.retain(|_, first_seen| *first_seen >= from);
        let mut items = Vec::new();
        for n in &notifications {
            let key = n.platform_key();
            if progress.published.contains_key(&key) {
                continue;
            }
            items.push(notification_item(&self.tenant.istat, n));
            progress.published.insert(key, now);
        }
        progress.pulled_to = Some(now);
        Ok(Poll {
            items,
            next_cursor: serde_json::to_string(&progress).expect("progress always serializes"),
            more: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_an_empty_one_starts_from_the_whole_window() {
        let at: DateTime<Utc> = "2025-03-14T10:00:00Z".parse().unwrap();
        let progress = Progress {
            pulled_to: Some(at),
            published: [("anpr:N010:1".to_owned(), at)].into_iter().collect(),
        };
        let text = serde_json::to_string(&progress).unwrap();
        assert_eq!(serde_json::from_str::<Progress>(&text).unwrap(), progress);
        assert_eq!(
            serde_json::from_str::<Progress>("{}").unwrap(),
            Progress::default()
        );
    }

    #[test]
    fn a_pulled_item_has_the_pushed_copys_identity() {
        let n = NotificationReceived {
            schema: snodo_mappings::anpr::SchemaV1,
            notification_id: "9000001".into(),
            kind: "N010".into(),
            state: Some(1),
            content_base64: None,
        };
        let item = notification_item("015146", &n);
        assert_eq!(item.platform_id, "anpr:N010:9000001");
        assert_eq!(item.tenant.as_deref(), Some("015146"));
        assert_eq!(item.kind.as_str(), notification::EVENT);
    }
}

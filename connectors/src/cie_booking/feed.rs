//! The booking system's change feed (automatic cancellations, clearances, office closures, outcomes)
//! polled by the shared scheduler, one feed per tenant: each change becomes one
//! `cie_booking.appointment.changed` event whose `message_id` derives from the change's id, so a
//! change read twice (after a failover) is the same event.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use snodo_mappings::cie_booking::changes::CHANGED_EVENT;
use snodo_mappings::cie_booking::{ErrorCode, OperationId};
use uuid::Uuid;

use super::NAME;
use super::adapter::{AdapterError, BookingAdapter};
use crate::platform::{Background, PlatformContext, PlatformError};
use crate::schedule::{Feed, FeedError, FeedItem, Poll, Scheduler, SchedulerSettings};

/// Changes asked for per poll; a full page is followed at once by the next.
pub const PAGE: u16 = 100;

/// Between two polls that found nothing more.
pub const POLL_INTERVAL: Duration = Duration::from_secs(30);

pub struct ChangeFeed {
    adapter: Arc<dyn BookingAdapter>,
    tenant: String,
    name: String,
}

impl ChangeFeed {
    pub fn new(adapter: Arc<dyn BookingAdapter>, tenant: &str) -> ChangeFeed {
        ChangeFeed {
            adapter,
            tenant: tenant.to_owned(),
            name: format!("cie-booking-changes.{tenant}"),
        }
    }
}

#[async_trait]
impl Feed for ChangeFeed {
    fn name(&self) -> &str {
        &self.name
    }

    async fn poll(&self, cursor: Option<&str>) -> Result<Poll, FeedError> {
        // A read: a fresh id each poll (a repeated poll may see new changes).
        let id = OperationId::from_uuid(Uuid::new_v4()).expect("a v4 UUID is never nil");
        let page = match self.adapter.changes(&self.tenant, &id, cursor, PAGE).await {
            Ok(page) => page,
            Err(AdapterError::Rejected(r)) if r.is_transient() => {
                return Err(FeedError::Unavailable(r.platform_code().to_owned()));
            }
            Err(AdapterError::Rejected(r)) if *r.code() == ErrorCode::InvalidCursor => {
                return Err(FeedError::Invalid(
                    "the booking service no longer knows the stored cursor (CURSORE_NON_VALIDO): \
                     changes after it may be lost; reset the feed's cursor after checking"
                        .into(),
                ));
            }
            Err(AdapterError::Rejected(r)) => return Err(FeedError::Invalid(r.platform_code().to_owned())),
            Err(AdapterError::Invalid(e)) => return Err(FeedError::Invalid(e.to_string())),
            Err(AdapterError::Call(e)) if e.retryable => return Err(FeedError::Unavailable(e.message)),
            Err(AdapterError::Call(e)) => return Err(FeedError::Invalid(e.message)),
        };
        let kind = CHANGED_EVENT.parse().expect("a valid message type");
        let items = page
            .changes
            .into_iter()
            .map(|change| FeedItem {
                platform_id: change.change_id.clone(),
                kind: Clone::clone(&kind),
                tenant: Some(self.tenant.clone()),
                body: serde_json::to_value(&change).expect("contract types serialize"),
            })
            .collect();
        Ok(Poll {
            items,
            next_cursor: page.next_cursor,
            more: page.more,
        })
    }
}

/// A scheduler for the change feed of every tenant that uses CIE booking.
pub fn schedulers(
    context: &PlatformContext,
    adapter: &Arc<dyn BookingAdapter>,
    interval: Duration,
) -> Result<Vec<Background>, PlatformError> {
    let mut tasks: Vec<Background> = Vec::new();
    for tenant in context.tenants.all().iter().filter(|t| t.cie_booking.is_some()) {
        let mut settings = SchedulerSettings::new(context.names.clone());
        settings.app_id = NAME.into();
        settings.interval = interval;
        let scheduler = Scheduler::new(
            Arc::new(ChangeFeed::new(adapter.clone(), &tenant.istat)),
            context.store.clone(),
            context.transport.clone(),
            settings,
        )
        .map_err(|e| PlatformError::Configuration {
            platform: NAME.into(),
            reason: e.to_string(),
        })?;
        // On /metrics, so that operators (and tests/scale_out.rs) see which instance polls.
        context
            .telemetry
            .register_feed(scheduler.feed_name(), scheduler.metrics());
        let shutdown = context.shutdown.clone();
        tasks.push(Box::pin(async move {
            scheduler.run(shutdown).await;
            Ok(())
        }));
    }
    Ok(tasks)
}

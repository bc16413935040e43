//! The ANPR connector (issue 5): the `anpr.*` commands of the municipal backends performed against
//! ANPR's SOAP services — signed with WS-Security over mutual TLS — and ANPR's asynchronous results
//! and notifications brought back as events.
//!
//! | file | what |
//! |---|---|
//! | `config.rs` | per tenant: certificate, WS-Security signer, SOAP clients per service, `tipoInvio` |
//! | `soap.rs` | one operation: `idOperazioneComune`, call, answer, classification |
//! | `send_order.rs` | the comune's line: lowest `idOperazioneComune` first, a bounded number in flight |
//! | `handler.rs` | the command handler: 3002, 6001, 4002, 5005, 1001, 2001, PDND |
//! | `bulk.rs` | bulk jobs in the coordination store and the 4005 poller on the scheduler |
//! | `notifications.rs` | the scheduled 3003 notification pull, the primary path |
//! | `inbound.rs` | `/anpr/{tenant}/notifications`, answered only once the event is confirmed |
//! | `pdnd.rs`, `modi.rs` | the PDND e-services: voucher, ModI headers signed with OpenSSL |
//!
//! The JSON contract and the XML mappings are `snodo_mappings::anpr`; the ANPR simulator is
//! `snodo_simulators::anpr` on port 9441 (DESIGN §6).

use std::sync::Arc;
use std::time::Duration;

mod bulk;
mod config;
mod handler;
mod inbound;
pub mod modi;
mod notifications;
mod pdnd;
pub mod send_order;
pub mod soap;

pub use bulk::{BulkJobs, BulkResultsFeed, COMPLETED_EVENT, Job, JobChunk, RESULT_EVENT, notification_items};
pub use config::{AnprConfigError, AnprTenant, SERVICE_PATHS};
pub use handler::{AnprConnector, BulkLookupAccepted, CHUNK_SUBMITTED, NAME};
pub use inbound::{NOTIFICATION_NAMESPACE, NotificationEndpoint, PUSH_DEADLINE, notification_router};
pub use notifications::{NotificationFeed, OVERLAP, PULL_WINDOW, notification_item};
pub use pdnd::{PdndClient, PdndConfig};
pub use send_order::DEFAULT_SENDS_IN_FLIGHT;

use crate::inbound::InboundPublisher;
use crate::platform::{PlatformContext, PlatformError, PlatformParts, PlatformRegistration};
use crate::schedule::{Scheduler, SchedulerSettings};

/// The ANPR simulator's default port (DESIGN §6).
pub const SIMULATOR_PORT: u16 = 9441;

/// How long one call to ANPR may take, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The connector's line in [`crate::platform::PLATFORMS`].
pub const REGISTRATION: PlatformRegistration = PlatformRegistration {
    name: NAME,
    families: &["anpr"],
    build,
};

fn build(ctx: &PlatformContext) -> Result<PlatformParts, PlatformError> {
    let configuration = |reason: String| PlatformError::Configuration {
        platform: NAME.into(),
        reason,
    };
    let uses_anpr = ctx.tenants.all().iter().any(|t| t.anpr.is_some());
    if !uses_anpr {
        return Ok(PlatformParts::default());
    }
    let endpoint = ctx.endpoint(NAME, SIMULATOR_PORT)?;
    let mut tenants = Vec::new();
    for t in ctx.tenants.all() {
        let tenant = AnprTenant::from_config(
            t,
            &endpoint.url,
            endpoint.trusted.clone(),
            ctx.development_pki.as_ref(),
            CALL_TIMEOUT,
        )
        .map_err(|e| configuration(e.to_string()))?;
        tenants.extend(tenant);
    }
    let events = InboundPublisher::new(ctx.transport.clone(), &ctx.names, NAME);
    let mut background: Vec<crate::platform::Background> = Vec::new();
    for tenant in &tenants {
        let tenant = Arc::new(tenant.clone());
        // The bulk results (4005) and the notification pull (3003), each on its own lease and cursor.
        let feeds: [Arc<dyn crate::schedule::Feed>; 2] = [
            Arc::new(BulkResultsFeed::new(tenant.clone(), ctx.store.clone())),
            Arc::new(NotificationFeed::new(tenant, ctx.store.clone())),
        ];
        for feed in feeds {
            let mut settings = SchedulerSettings::new(ctx.names.clone());
            settings.app_id = NAME.into();
            let scheduler = Scheduler::new(feed, ctx.store.clone(), ctx.transport.clone(), settings)
                .map_err(|e| configuration(e.to_string()))?;
            // On /metrics, so that operators (and tests/scale_out.rs) see which instance polls.
            ctx.telemetry
                .register_feed(scheduler.feed_name(), scheduler.metrics());
            let shutdown = ctx.shutdown.clone();
            background.push(Box::pin(async move {
                scheduler.run(shutdown).await;
                Ok(())
            }));
        }
    }
    let inbound = notification_router(ctx.tenants.clone(), events.clone(), PUSH_DEADLINE);
    let handler = AnprConnector::new(tenants, ctx.store.clone(), events);
    Ok(PlatformParts {
        handler: Some(Arc::new(handler)),
        inbound: Some(inbound),
        background,
    })
}

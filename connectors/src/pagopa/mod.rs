//! The pagoPA connector, creditor-institution side (issue 6; facts in pagopa.md): Snodo answers the
//! Nodo dei Pagamenti for each tenant's stations and talks to the node's APIs for it.
//!
//! - [`endpoint`]: the EC SOAP endpoint `/pagopa/{station}` (paVerifyPaymentNotice, paGetPayment[V2],
//!   paDemandPaymentNotice answered from the backend's position, [`positions`]; paSendRT[V2] stored as
//!   events, [`receipts`]);
//! - [`aca`]: the `pagopa.position.publish` command, loading positions into ACA (`paCreatePosition`)
//!   so that Stand-In can collect while the EC is unreachable;
//! - [`reporting`]: reporting flows polled from the node by the shared scheduler into
//!   `pagopa.reporting.flow` events: REST FdR, or the legacy SOAP primitives ([`reporting_soap`])
//!   with `[pagopa.reporting] api = "soap"`.
//!
//! The XML and JSON shapes are all `snodo_mappings::pagopa`; this module is the I/O around them.

pub mod aca;
pub mod config;
pub mod endpoint;
pub mod positions;
pub mod receipts;
pub mod reporting;
pub mod reporting_soap;

use std::sync::Arc;

use crate::inbound::InboundPublisher;
use crate::platform::{PlatformContext, PlatformError, PlatformParts, PlatformRegistration};

/// The connector's name: `snodo.pagopa.commands`, `[connectors.pagopa]`.
pub const NAME: &str = "pagopa";

/// A secret of the instance's `[pagopa]` settings (`key` names it in errors): read from `path`, or —
/// only when every tenant is a development one — the simulator's `development_default`.
fn instance_secret(
    context: &PlatformContext,
    key: &'static str,
    path: Option<&std::path::Path>,
    development_default: &'static str,
) -> Result<String, PlatformError> {
    let development = context
        .config
        .tenants
        .iter()
        .all(|t| t.environment == crate::config::Environment::Development);
    config::read_secret(key, path, development.then_some(development_default)).map_err(|e| {
        PlatformError::Configuration {
            platform: NAME.into(),
            reason: e.to_string(),
        }
    })
}
/// The node simulator's default port (DESIGN §6).
pub const SIMULATOR_PORT: u16 = 9442;

/// The line in [`crate::platform::PLATFORMS`].
pub const REGISTRATION: PlatformRegistration = PlatformRegistration {
    name: NAME,
    families: &["pagopa"],
    build,
};

fn build(context: &PlatformContext) -> Result<PlatformParts, PlatformError> {
    let settings = &context.config.pagopa;
    let publisher = InboundPublisher::new(context.transport.clone(), &context.names, NAME);
    let endpoint = endpoint::EcEndpoint {
        tenants: context.tenants.clone(),
        positions: positions::PositionSource::new(
            context.requester.clone(),
            &context.names,
            publisher.clone(),
            settings.position_timeout,
        ),
        receipts: receipts::ReceiptSink::new(publisher, settings.receipt_timeout),
    };
    let node = aca::NodeApi::from_context(context)?;
    let handler = Arc::new(aca::PublishHandler::new(node.clone(), context.tenants.clone()));
    let background = reporting::schedulers(context, &node)?;
    Ok(PlatformParts {
        handler: Some(handler),
        inbound: Some(endpoint.router(settings.node_client.clone())),
        background,
    })
}

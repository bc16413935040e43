//! The CIE appointment booking connector (issue 8): `cie_booking.*` commands to the Ministry's
//! booking system and its change feed into `cie_booking.appointment.changed` events. The contract,
//! states, rules and codes are `mappings/contracts/cie-booking/README.md`; the JSON and XML shapes
//! are `snodo_mappings::cie_booking`.
//!
//! - [`adapter`]: the trait between commands and protocol — the Ministry's machine interface is not
//!   public, so our SOAP contract ([`soap`]) is the first implementation of it;
//! - [`handler`]: the command handler (strict parsing, codici fiscali checked before sending, the
//!   operation id from `message_id`, reused by every retry);
//! - [`feed`]: the change feed on the shared scheduler, one per tenant;
//! - [`offices`]: the tenant's offices (`[tenants.cie_booking] offices`) and the cap on searches.
//!
//! Where the service is: `[platforms.cie_booking] url` (its base URL; the contract's path
//! `/cie-booking/v1` is appended), or in development the booking simulator on port 9444.

pub mod adapter;
pub mod feed;
pub mod handler;
pub mod offices;
pub mod soap;

use std::sync::Arc;

use snodo_security::tls::{TlsClientConfig, build_client};

use crate::ops::SharedTelemetry;
use crate::platform::{PlatformContext, PlatformError, PlatformParts, PlatformRegistration};
use crate::soap::{SoapClient, SoapClientConfig};

pub use adapter::{AdapterError, BookingAdapter};
pub use feed::ChangeFeed;
pub use handler::BookingHandler;
pub use offices::{MAX_SEARCH_SLOTS, OfficeScope};
pub use soap::{SERVICE_PATH, SoapBookingAdapter};

/// The connector's name: `snodo.cie_booking.commands`, `[connectors.cie_booking]`, the command
/// family.
pub const NAME: &str = "cie_booking";
/// The booking simulator's default port (DESIGN §6).
pub const SIMULATOR_PORT: u16 = 9444;

/// The line in [`crate::platform::PLATFORMS`].
pub const REGISTRATION: PlatformRegistration = PlatformRegistration {
    name: NAME,
    families: &[NAME],
    build,
};

/// The SOAP adapter towards the service at `base_url` with `http` (TLS already set up).
pub fn soap_adapter(http: reqwest::Client, base_url: &str) -> Arc<dyn BookingAdapter> {
    Arc::new(SoapBookingAdapter::new(soap_client(http, base_url)))
}

/// [`soap_adapter`] reporting every call to `telemetry` (`/metrics`, the journal), as `snodo up`
/// builds it.
pub fn recorded_soap_adapter(
    http: reqwest::Client,
    base_url: &str,
    telemetry: SharedTelemetry,
) -> Arc<dyn BookingAdapter> {
    Arc::new(SoapBookingAdapter::new(
        soap_client(http, base_url).with_recording(telemetry, NAME),
    ))
}

fn soap_client(http: reqwest::Client, base_url: &str) -> SoapClient {
    let url = format!("{}{SERVICE_PATH}", base_url.trim_end_matches('/'));
    SoapClient::new(http, url, SoapClientConfig::default())
}

fn build(context: &PlatformContext) -> Result<PlatformParts, PlatformError> {
    let endpoint = context.endpoint(NAME, SIMULATOR_PORT)?;
    let http =
        build_client(&TlsClientConfig::new(endpoint.trusted)).map_err(|e| PlatformError::Configuration {
            platform: NAME.into(),
            reason: e.to_string(),
        })?;
    let adapter = recorded_soap_adapter(http, &endpoint.url, context.telemetry.clone());
    Ok(PlatformParts {
        handler: Some(Arc::new(BookingHandler::new(
            adapter.clone(),
            context.tenants.clone(),
        ))),
        inbound: None,
        background: feed::schedulers(context, &adapter, feed::POLL_INTERVAL)?,
    })
}

//! Snodo's connectors and what runs them: the configuration, the built-in `core` connector (`snodo.ping`
//! and the answer to commands nobody handles) and the operations listener. Platform connectors (ANPR,
//! pagoPA, SPID/CIE, CIE booking) live in one module each, on the consumer runtime of `snodo-queue`.

pub mod anpr;
pub mod cie_booking;
pub mod config;
pub mod core;
pub mod identity;
pub mod inbound;
pub mod journal;
pub mod ops;
pub mod pagopa;
pub mod platform;
pub mod schedule;
pub mod soap;
pub mod state;
pub mod tenants;

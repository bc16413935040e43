//! The internal JSON contract and the pure JSON⇄XML mappings of each platform — and the SOAP
//! envelope every SOAP mapping is wrapped in. No I/O here: everything is a function of its input,
//! tested on the platforms' official examples.

pub mod anpr;
pub mod cie_booking;
pub mod codice_fiscale;
mod json_contract;
pub mod pagopa;
mod payload_xml;
pub mod places;
pub mod soap;

//! The pagoPA EC endpoint after the SOAP layer: dispatch, the XSD-strict read, KO answers, station
//! checks, receipt semantics and event body. Body: `inbound/bodies.rs`.
#![no_main]

#[path = "../inbound/bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::pagopa_request_target(data));

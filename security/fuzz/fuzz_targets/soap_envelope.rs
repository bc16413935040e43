//! The SOAP layer of the inbound endpoints (pagoPA EC, ANPR notification push): envelope reading,
//! mustUnderstand, the payload and what the ANPR push reads of it. Body: `inbound/bodies.rs`.
#![no_main]

#[path = "../inbound/bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::soap_envelope_target(data));

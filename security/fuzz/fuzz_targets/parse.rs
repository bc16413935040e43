//! `xml::parse` with the default limits on arbitrary bytes: the first thing every message from
//! outside meets. Body: `snodo_security::testing::fuzz::parse_target`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| snodo_security::testing::fuzz::parse_target(data));

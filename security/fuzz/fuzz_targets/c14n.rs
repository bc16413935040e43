//! Every canonicalization algorithm on whatever parses, each output checked to be a fixed point.
//! Body: `snodo_security::testing::fuzz::canonicalization_target`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| snodo_security::testing::fuzz::canonicalization_target(data));

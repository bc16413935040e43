//! Signature verification of mutated signed documents (seeded with the SPID fixture Responses and a
//! detached WS-Security signature), with the keys those seeds were signed with as the trusted ones,
//! so that mutations outside SignedInfo reach the digests. Body:
//! `snodo_security::testing::fuzz::SignatureTarget`.
#![no_main]

use std::sync::LazyLock;

use snodo_security::testing::fuzz::SignatureTarget;

/// shared/ sits beside the repository (as in CI); the detached seed's certificate is committed here.
static TARGET: LazyLock<SignatureTarget> = LazyLock::new(|| {
    SignatureTarget::new(&[
        include_bytes!("../../../../shared/specs/spid/fixtures/fixture-idp-cert.pem"),
        include_bytes!("../seeds/verify-trusted.pem"),
    ])
    .expect("the seeds' certificates are usable")
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| TARGET.run(data));

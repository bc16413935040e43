//! The SAML ACS's verification of a decoded Response, against the SPID fixtures' request, SP, IdP
//! and clock with the fixture IdP's key, so that mutated fixture Responses reach the deep checks.
//! Body: `inbound/bodies.rs`.
#![no_main]

use std::sync::LazyLock;

#[path = "../inbound/bodies.rs"]
mod bodies;

/// shared/ sits beside the repository (as in CI).
static TARGET: LazyLock<bodies::SamlTarget> = LazyLock::new(|| {
    bodies::SamlTarget::new(include_bytes!(
        "../../../../shared/specs/spid/fixtures/fixture-idp-cert.pem"
    ))
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| TARGET.run(data));

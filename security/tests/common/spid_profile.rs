//! The SPID fixtures' exchange (spid-and-cie-id.md §2.6) as `ResponseExpectations`: the SP
//! `https://comune.example.it/spid`, its ACS, the AuthnRequest `_fixture-authnrequest-0001`
//! (SpidL2, minimum) and the IdP `https://localhost:8443`, at the fixtures' fixed clock; and
//! `error_kind`, the name of a refusal with its field, which the tables of expected outcomes use.

use super::*;
use chrono::{DateTime, Utc};
use snodo_security::dsig::TrustedKeys;
use snodo_security::saml::{
    Comparison, InMemoryReplayCache, PendingRequest, ResponseError, ResponseExpectations, SpidLevel,
    VerifiedAssertion, parse_instant, verify_response_xml,
};

pub const SP_ENTITY_ID: &str = "https://comune.example.it/spid";
pub const ACS_URL: &str = "https://comune.example.it/spid/acs";
pub const IDP_ENTITY_ID: &str = "https://localhost:8443";
pub const REQUEST_ID: &str = "_fixture-authnrequest-0001";

pub fn instant(text: &str) -> DateTime<Utc> {
    parse_instant(text).unwrap_or_else(|| panic!("{text} is an instant"))
}

/// The fixtures' clock: 5 s after the request.
pub fn fixture_now() -> DateTime<Utc> {
    instant("2026-12-01T10:00:05Z")
}

pub fn fixture_request() -> PendingRequest {
    PendingRequest {
        id: REQUEST_ID.to_owned(),
        issue_instant: instant("2026-12-01T10:00:00Z"),
        level: SpidLevel::L2,
        comparison: Comparison::Minimum,
    }
}

/// Verifies `xml` as the fixtures' SP would, with `keys` and a fresh replay cache.
pub fn verify_fixture(xml: &[u8], keys: &TrustedKeys) -> Result<VerifiedAssertion, ResponseError> {
    verify_with(xml, keys, &fixture_request(), fixture_now())
}

pub fn verify_with(
    xml: &[u8],
    keys: &TrustedKeys,
    request: &PendingRequest,
    now: DateTime<Utc>,
) -> Result<VerifiedAssertion, ResponseError> {
    let expectations = ResponseExpectations::spid(SP_ENTITY_ID, ACS_URL, request, IDP_ENTITY_ID, keys, now);
    verify_response_xml(xml, &expectations, &InMemoryReplayCache::default())
}

/// `Variant(field)` or `Variant`, e.g. `Missing(Response/@ID)`, `Signature(Assertion: BadSignatureValue)`.
pub fn error_kind(error: &ResponseError) -> String {
    let debug = format!("{error:?}");
    let variant = debug.split([' ', '{', '(']).next().unwrap_or_default().to_owned();
    match (error, error.field()) {
        (ResponseError::Signature { source, .. }, Some(field)) => {
            let inner = format!("{source:?}");
            let inner = inner.split([' ', '{', '(']).next().unwrap_or_default().to_owned();
            format!("{variant}({field}: {inner})")
        }
        (_, Some(field)) => format!("{variant}({field})"),
        (_, None) => variant,
    }
}

/// The ID of the Response in `response-1.xml`.
pub const FIXTURE_RESPONSE_ID: &str = "_ehehgfcc-hekb-oftv-djzf-rtruktrximot";
/// The ID of its Assertion.
pub const FIXTURE_ASSERTION_ID: &str = "_ssdqlroa-xxij-fnbm-tkfj-pdeqmukvvmfg";

/// `response-1.xml` without its two signatures (the fixture IdP's private key was not kept), with
/// `edit` applied to the text, then its Assertion signed by `identity` and, with `sign_response`,
/// the Response too: a valid SPID Response of the fixtures' exchange that the tests can vary and
/// sign with a key they hold.
pub fn resigned(edit: impl Fn(String) -> String, sign_response: bool, identity: &TestIdentity) -> String {
    use super::saml::{remove, sign_id, span, spid_options};
    let mut text = std::fs::read_to_string(spid_fixtures_dir().join("responses/response-1.xml"))
        .expect("response-1.xml is readable");
    text = text.replacen("<?xml version=\"1.0\"?>\n", "", 1);
    for _ in 0..2 {
        let signature = span(&text, "<ds:Signature>", "</ds:Signature>");
        text = remove(&text, signature);
    }
    assert!(!text.contains("ds:Signature"), "both signatures removed");
    let text = edit(text);
    let signed = sign_id(&text, FIXTURE_ASSERTION_ID, &spid_options(), identity);
    if sign_response {
        sign_id(&signed, FIXTURE_RESPONSE_ID, &spid_options(), identity)
    } else {
        signed
    }
}

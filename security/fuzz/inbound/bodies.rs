//! Bodies of the inbound fuzz targets: what Snodo's inbound HTTPS endpoints do with a request body
//! before anything reaches the broker — the pagoPA EC endpoint (`/pagopa/{station}`), the ANPR
//! notification push (`/anpr/{tenant}/notifications`) and the SAML Assertion Consumer Service.
//!
//! One file, included with `#[path]` by the cargo-fuzz targets (`fuzz_targets/soap_envelope.rs`,
//! `pagopa_request.rs`, `saml_response.rs`) and by the corpus replay in the main test suite
//! (`tests/inbound_fuzz_replay.rs`), so that `cargo test` runs exactly what libFuzzer ran, on stable.
//! It only calls the public API of `snodo-mappings` and `snodo-security`: the same functions the
//! endpoints call, in the same order, with the same limits.
//!
//! Besides "no panic", each body checks what the endpoint relies on where it would otherwise panic
//! or answer wrongly:
//! - a pagoPA request that names a `paForNode` operation but cannot be read always has a KO answer
//!   (the endpoint `expect`s one), and every answer the endpoint could send re-parses as a SOAP
//!   envelope whose payload is the operation's response;
//! - a receipt that reads serializes to JSON (the endpoint `expect`s that too);
//! - a SAML Response that verifies cannot verify twice with the same replay cache.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use snodo_mappings::pagopa::{
    FaultBean, PaFaultCode, PaRequest, RequestError, Station, ko, read_request, receipt_ok,
};
use snodo_mappings::soap::{EnvelopeBuilder, QName, read_envelope};
use snodo_security::dsig::TrustedKeys;
use snodo_security::saml::{
    Comparison, InMemoryReplayCache, PendingRequest, ResponseExpectations, SpidLevel, parse_instant,
    verify_response_xml,
};
use snodo_security::xml::Limits;

/// The station, EC and broker the pagoPA body checks requests against (the development tenant's).
pub const STATION: &str = "01199250158_01";
pub const EC_FISCAL_CODE: &str = "01199250158";

/// The SOAP layer every inbound SOAP endpoint shares: read the envelope under the default limits,
/// enforce `mustUnderstand` with nothing understood, read the payload's name and any Fault; then
/// what the ANPR push endpoint reads of a `RichiestaN000`.
pub fn soap_envelope_target(data: &[u8]) {
    let Ok(envelope) = read_envelope(data, &Limits::default()) else {
        return;
    };
    let _ = envelope.check_must_understand(&[]);
    let _ = envelope.check_must_understand(&[QName::new(
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
        "Security",
    )]);
    std::hint::black_box(envelope.payload_name());
    std::hint::black_box(envelope.fault());
    std::hint::black_box(envelope.fault_detail());
    for block in envelope.header_blocks() {
        std::hint::black_box(envelope.document().text_content(block));
    }
    anpr_notification_fields(&envelope);
}

/// The fields the ANPR push endpoint reads, by local name, as it reads them.
fn anpr_notification_fields(envelope: &snodo_mappings::soap::Envelope) {
    let doc = envelope.document();
    let payload = envelope.payload();
    for child in doc.child_elements(payload) {
        let Some(element) = doc.element(child) else {
            continue;
        };
        let text = doc.text_content(child);
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        if element.name().local_name() == "testataNotifica" {
            for field in doc.child_elements(child) {
                std::hint::black_box(doc.text_content(field).trim().to_ascii_uppercase());
            }
        }
        std::hint::black_box(compact);
    }
}

/// The pagoPA EC endpoint after the SOAP layer: dispatch on the payload, the XSD-strict read, the
/// KO for what cannot be read, the station checks and, for a receipt, its semantics and its event
/// body. Every answer is checked to be a well-formed envelope around the operation's response.
pub fn pagopa_request_target(data: &[u8]) {
    let Ok(envelope) = read_envelope(data, &Limits::default()) else {
        return;
    };
    let request = match read_request(&envelope) {
        Ok(request) => request,
        Err(RequestError::UnknownOperation(_)) => return,
        Err(error) => {
            let answer = error
                .ko_response(EC_FISCAL_CODE)
                .expect("the endpoint answers every readable operation's refusal with a KO");
            assert_answer(&answer, "a refusal");
            return;
        }
    };
    let fiscal_codes = [EC_FISCAL_CODE];
    let station = Station {
        fiscal_codes: &fiscal_codes,
        broker_id: EC_FISCAL_CODE,
        station_id: STATION,
    };
    if let Err(answer) = request.check_station(&station) {
        assert_answer(&answer, "a station refusal");
        return;
    }
    let operation = request.operation();
    std::hint::black_box(request.header());
    if let PaRequest::SendRt(receipt) = &request {
        match receipt.check_semantics() {
            Err(error) => {
                let answer = ko(
                    operation,
                    &FaultBean::new(PaFaultCode::Semantica, receipt.id_pa.clone())
                        .with_description(error.to_string()),
                );
                assert_answer(&answer, "a semantic refusal");
            }
            Ok(()) => {
                serde_json::to_value(receipt).expect("a receipt that reads serializes to its event body");
                assert_answer(&receipt_ok(operation), "a receipt's OK");
            }
        }
    }
}

/// What the endpoint sends must be one SOAP envelope whose payload is a pagoPA response.
fn assert_answer(answer: &str, what: &str) {
    let envelope = read_envelope(answer.as_bytes(), &Limits::default())
        .unwrap_or_else(|e| panic!("{what} is not a SOAP envelope ({e}): {answer}"));
    let name = envelope.payload_name();
    assert!(
        name.local_name().starts_with("pa") && name.local_name().ends_with("Res")
            || name.local_name().ends_with("Response"),
        "{what} answers with {name:?}: {answer}"
    );
    // The frame the endpoint cuts the payload out of is the one EnvelopeBuilder writes.
    let frame = EnvelopeBuilder::new().body("\u{0}");
    let (head, tail) = frame.split_once('\u{0}').expect("the marker is in the frame");
    assert!(
        answer.starts_with(head) && answer.ends_with(tail),
        "{what} is not in EnvelopeBuilder's frame: {answer}"
    );
}

/// The SAML ACS after the form and base64: the unverified `InResponseTo` lookup, then every check of
/// the checklist against the SPID fixtures' request, SP, IdP and clock, with the fixture IdP's key.
pub struct SamlTarget {
    keys: TrustedKeys,
    request: PendingRequest,
    now: DateTime<Utc>,
}

pub const SAML_SP_ENTITY_ID: &str = "https://comune.example.it/spid";
pub const SAML_ACS_URL: &str = "https://comune.example.it/spid/acs";
pub const SAML_IDP_ENTITY_ID: &str = "https://localhost:8443";

impl SamlTarget {
    /// `idp_certificate_pem`: the SPID fixtures' `fixture-idp-cert.pem`.
    pub fn new(idp_certificate_pem: &[u8]) -> SamlTarget {
        let instant = |text: &str| parse_instant(text).expect("a valid instant");
        SamlTarget {
            keys: TrustedKeys::from_pem(idp_certificate_pem).expect("a usable certificate"),
            request: PendingRequest {
                id: "_fixture-authnrequest-0001".to_owned(),
                issue_instant: instant("2026-12-01T10:00:00Z"),
                level: SpidLevel::L2,
                comparison: Comparison::Minimum,
            },
            now: instant("2026-12-01T10:00:05Z"),
        }
    }

    pub fn run(&self, data: &[u8]) {
        // The ACS reads InResponseTo before verifying, as a lookup key only.
        if let Ok(doc) = snodo_security::xml::parse(data, &Limits::default()) {
            let root = doc.document_element();
            std::hint::black_box(doc.element(root).and_then(|e| e.attribute(None, "InResponseTo")));
        }
        let expectations = ResponseExpectations::spid(
            SAML_SP_ENTITY_ID,
            SAML_ACS_URL,
            &self.request,
            SAML_IDP_ENTITY_ID,
            &self.keys,
            self.now,
        );
        let replay = InMemoryReplayCache::default();
        if let Ok(verified) = verify_response_xml(data, &expectations, &replay) {
            std::hint::black_box(&verified);
            assert!(
                verify_response_xml(data, &expectations, &replay).is_err(),
                "a verified Response verified a second time with the same replay cache"
            );
        }
    }
}

//! What the ANPR simulator refuses before reading a request, each answered as ANPR does (platform
//! notes §1.6): no or a broken WS-Security header, a signer that is not a trusted comune, an altered
//! Body, the wrong TLS client certificate, a payload the official XSD rejects, a sender that is not
//! the signing comune.

mod anpr_common;

use std::time::{Duration, SystemTime};

use anpr_common::*;
use snodo_mappings::anpr::lookup::{self, LookupKey, LookupResident, Section};
use snodo_mappings::anpr::{RequestContext, SchemaV1};
use snodo_mappings::soap::EnvelopeBuilder;
use snodo_security::devpki::{LeafProfile, Validity, cached_key};
use snodo_security::dsig::SigningKey;
use snodo_simulators::anpr::population;

fn code() -> String {
    population()
        .iter()
        .find(|p| p.is_resident() && p.death_date.is_none())
        .expect("a resident")
        .codice_fiscale
        .to_string()
}

fn lookup_payload(ctx: &RequestContext) -> String {
    lookup::write_request(
        &LookupResident {
            schema: SchemaV1,
            by: LookupKey::CodiceFiscale(code()),
            sections: vec![Section::PersonalData],
            reference_date: None,
            nationwide: false,
        },
        ctx,
    )
    .unwrap()
}

fn assert_fault(answer: &Answer, string: &str, reason: &str) {
    assert_eq!(answer.status, 500, "{}", answer.text);
    assert_eq!(answer.fault_string().as_deref(), Some(string), "{}", answer.text);
    assert!(
        answer.text.contains(reason),
        "detail names {reason:?}: {}",
        answer.text
    );
}

#[tokio::test]
async fn an_unsigned_request_is_an_internal_error_from_client() {
    let h = start().await;
    let unsigned = EnvelopeBuilder::new().body(&lookup_payload(&h.context(&h.next_id())));
    let answer = h.post_raw(&h.client, LOOKUP_PATH, unsigned).await;
    assert_fault(&answer, "Internal Error (from client)", "no wsse:Security header");
}

#[tokio::test]
async fn an_altered_body_fails_the_signature() {
    let h = start().await;
    let signed = h.signed(&lookup_payload(&h.context(&h.next_id())));
    let altered = signed.replacen("<datiAnagraficiRichiesti>2<", "<datiAnagraficiRichiesti>10<", 1);
    assert_ne!(signed, altered);
    let answer = h.post_raw(&h.client, LOOKUP_PATH, altered).await;
    assert_fault(&answer, "Internal Error (from client)", "message signature");
}

#[tokio::test]
async fn a_certificate_of_the_ca_that_is_no_trusted_comune_is_refused() {
    let h = start().await;
    let key = cached_key("anpr-simulator-test-impostor", 2048).unwrap();
    let certificate = pki()
        .ca()
        .issue(
            &LeafProfile::AnprMunicipality {
                istat: ISTAT.into(),
                name: "Comune impostore".into(),
            },
            &key,
            Validity::days_from(SystemTime::now(), 2),
        )
        .unwrap();
    let impostor = signer_with(SigningKey::new(key, Some(certificate)));
    let envelope = EnvelopeBuilder::new().body(&lookup_payload(&h.context(&h.next_id())));
    let signed = impostor.sign(envelope.as_bytes(), SystemTime::now()).unwrap();
    let answer = h.post_raw(&h.client, LOOKUP_PATH, signed).await;
    assert_fault(
        &answer,
        "Internal Error (from client)",
        "not a trusted certificate",
    );
}

#[tokio::test]
async fn an_expired_timestamp_is_refused() {
    let h = start().await;
    let envelope = EnvelopeBuilder::new().body(&lookup_payload(&h.context(&h.next_id())));
    let old = SystemTime::now() - Duration::from_secs(10 * 60);
    let signed = h.signer.sign(envelope.as_bytes(), old).unwrap();
    let answer = h.post_raw(&h.client, LOOKUP_PATH, signed).await;
    assert_fault(&answer, "Internal Error (from client)", "expired");
}

#[tokio::test]
async fn a_tls_client_certificate_that_is_not_the_comunes_is_refused() {
    let h = start().await;
    let other = client_with(pki().tls_client().identity.clone());
    let signed = h.signed(&lookup_payload(&h.context(&h.next_id())));
    let answer = h.post_raw(&other, LOOKUP_PATH, signed).await;
    assert_fault(
        &answer,
        "Postazione certificate does not seem to carry a valid CN name (from client)",
        "not the certificate of the comune",
    );
}

#[tokio::test]
async fn no_tls_client_certificate_is_refused() {
    let h = start().await;
    let anonymous =
        snodo_security::tls::build_client(&snodo_security::tls::TlsClientConfig::new(pki().trust_anchors()))
            .unwrap();
    let signed = h.signed(&lookup_payload(&h.context(&h.next_id())));
    let answer = h.post_raw(&anonymous, LOOKUP_PATH, signed).await;
    assert_fault(
        &answer,
        "Postazione certificate does not seem to carry a valid CN name (from client)",
        "no TLS client certificate",
    );
}

#[tokio::test]
async fn a_payload_the_official_xsd_rejects_is_malformed_content() {
    let h = start().await;
    let id = h.next_id();
    let payload = lookup_payload(&h.context(&id)).replacen(
        &format!("<idOperazioneComune>{id}<"),
        &format!("<idOperazioneComune>{id}-1<"),
        1,
    );
    let answer = h.call(LOOKUP_PATH, &payload).await;
    assert_fault(&answer, "Malformed content (from client)", "idOperazioneComune");
}

#[tokio::test]
async fn a_request_for_another_environment_is_rejected_by_policy() {
    let h = start().await;
    let payload = lookup_payload(&h.context(&h.next_id())).replacen(
        "<tipoInvio>TEST</tipoInvio>",
        "<tipoInvio>PROD</tipoInvio>",
        1,
    );
    let answer = h.call(LOOKUP_PATH, &payload).await;
    assert_fault(&answer, "Rejected by policy", "tipoInvio");
}

#[tokio::test]
async fn a_sender_other_than_the_signing_comune_is_en167() {
    let h = start().await;
    let mut ctx = h.context(&h.next_id());
    ctx.istat_code = "058091".into();
    let answer = h.call(LOOKUP_PATH, &lookup_payload(&ctx)).await;
    let refused = lookup::read_response(answer.envelope.document(), answer.envelope.payload()).unwrap();
    assert_eq!(refused.unwrap_err().platform_code(), Some("EN167"));
}

#[tokio::test]
async fn an_unknown_payload_is_rejected_by_policy() {
    let h = start().await;
    let answer = h
        .call(
            LOOKUP_PATH,
            "<x:Richiesta9999 xmlns:x=\"http://sogei.it/ANPR/3000consultazione\"/>",
        )
        .await;
    assert_fault(&answer, "Rejected by policy", "Richiesta9999");
}

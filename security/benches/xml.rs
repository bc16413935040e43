//! Criterion benchmarks of the XML security path, per document: parse, exclusive canonicalization,
//! signing and verification of a SPID Response (the fixtures; enveloped signatures) and of an ANPR
//! SOAP request (`testing::samples`: a detached WS-Security signature over the Body, made in set-up).
//! `snodo bench xml` measures the same operations in one run beside the `xmlsec1` CLI; these give
//! criterion's statistics and regression tracking:
//!
//! ```text
//! cargo bench -p snodo-security --bench xml
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use common::{SAML, children_named, spid_fixture_keys, spid_fixtures_dir};
use criterion::{Criterion, criterion_group, criterion_main};
use snodo_security::c14n::{Algorithm, Canonicalization};
use snodo_security::dsig::{
    SignaturePlacement, SignaturePolicy, SigningKey, TrustedKeys, sign_enveloped, signature_children,
    verify_detached_signature, verify_enveloped_signature,
};
use snodo_security::testing::samples::{
    anpr_signature, anpr_soap_request, sign_anpr_soap_request, signed_anpr_soap_request,
};
use snodo_security::xml::{Document, Limits, NodeId, parse};

/// The SAML Response's signatures: the Response's own and the Assertion's.
fn spid_signatures(doc: &Document) -> Vec<NodeId> {
    let root = doc.document_element();
    let mut signatures = signature_children(doc, root);
    for assertion in children_named(doc, root, SAML, "Assertion") {
        signatures.extend(signature_children(doc, assertion));
    }
    signatures
}

fn spid(c: &mut Criterion) {
    let signed = std::fs::read(spid_fixtures_dir().join("responses/response-1.xml")).expect("fixture");
    let unsigned = std::fs::read(spid_fixtures_dir().join("responses/response-2.xml")).expect("fixture");
    let keys = spid_fixture_keys();
    let policy = SignaturePolicy::spid();
    let identity = common::rsa_identity("Snodo bench IdP", 2048);
    let key = identity.signing_key();
    let options = policy.signing_options().expect("SPID signs");
    let limits = Limits::default();

    let mut group = c.benchmark_group("spid_response");
    group.bench_function("parse", |b| {
        b.iter(|| parse(black_box(&signed), &limits).expect("parses"))
    });
    let doc = parse(&signed, &limits).expect("parses");
    let exclusive = Canonicalization::new(Algorithm::Exclusive);
    group.bench_function("exc_c14n", |b| {
        b.iter(|| exclusive.document(black_box(&doc), &[]).expect("canonicalizes"))
    });
    let unsigned_doc = parse(&unsigned, &limits).expect("parses");
    let assertion = children_named(&unsigned_doc, unsigned_doc.document_element(), SAML, "Assertion")[0];
    let issuer = children_named(&unsigned_doc, assertion, SAML, "Issuer")[0];
    group.bench_function("sign_assertion", |b| {
        b.iter(|| {
            sign_enveloped(
                black_box(&unsigned_doc),
                assertion,
                SignaturePlacement::After(issuer),
                &options,
                &key,
            )
            .expect("signs")
        })
    });
    group.bench_function("parse_and_verify_both_signatures", |b| {
        b.iter(|| verify_spid(black_box(&signed), &policy, &keys))
    });
    group.finish();
}

fn verify_spid(bytes: &[u8], policy: &SignaturePolicy, keys: &TrustedKeys) {
    let doc = parse(bytes, &Limits::default()).expect("parses");
    let signatures = spid_signatures(&doc);
    assert_eq!(signatures.len(), 2);
    for signature in signatures {
        verify_enveloped_signature(&doc, signature, policy, keys).expect("verifies");
    }
}

fn anpr(c: &mut Criterion) {
    let payload = std::fs::read_to_string(
        spid_fixtures_dir().join("../../anpr/soap-client-example/requests/3002_888002_FREE.xml"),
    )
    .expect("ANPR example request");
    let identity = common::rsa_identity("Snodo bench comune", 2048);
    let key: SigningKey = identity.signing_key();
    let keys = identity.trusted();
    let policy = SignaturePolicy::anpr_ws_security();
    let signed = signed_anpr_soap_request(&payload, &key)
        .expect("signs")
        .into_bytes();
    let limits = Limits::default();

    let mut group = c.benchmark_group("anpr_request");
    group.bench_function("parse", |b| {
        b.iter(|| parse(black_box(&signed), &limits).expect("parses"))
    });
    let doc = parse(&signed, &limits).expect("parses");
    let exclusive = Canonicalization::new(Algorithm::Exclusive);
    group.bench_function("exc_c14n", |b| {
        b.iter(|| exclusive.document(black_box(&doc), &[]).expect("canonicalizes"))
    });
    let unsigned = parse(anpr_soap_request(&payload).as_bytes(), &limits).expect("parses");
    group.bench_function("sign_body_detached", |b| {
        b.iter(|| sign_anpr_soap_request(black_box(&unsigned), &key).expect("signs"))
    });
    group.bench_function("parse_and_verify", |b| {
        b.iter(|| {
            let doc = parse(black_box(&signed), &limits).expect("parses");
            let signature = anpr_signature(&doc).expect("signed");
            verify_detached_signature(&doc, signature, &policy, &keys).expect("verifies")
        })
    });
    group.finish();
}

criterion_group!(benches, spid, anpr);
criterion_main!(benches);

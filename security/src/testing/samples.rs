//! Sample documents for the benchmarks that are not fixtures already: an ANPR SOAP request, built
//! around one of the payloads ANPR publishes (`specs/anpr/soap-client-example/requests/`), and its
//! signed form.
//!
//! ANPR signs requests with WS-Security (`anpr_ws_security()`: RSA-SHA1, SHA-1, exclusive c14n).
//! The sample is signed enveloped over the SOAP Body, which costs what a detached signature over the
//! Body costs (one Reference, the same canonicalization and digest): the benchmarks measure
//! canonicalization and signature work, not the WS-Security header layout.

use crate::dsig::{
    SignatureError, SignaturePlacement, SignaturePolicy, SigningKey, WSU_NAMESPACE, sign_enveloped,
};
use crate::xml::{Limits, parse_str};

/// SOAP 1.1, as ANPR's services use it.
pub const SOAP_ENVELOPE_NAMESPACE: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The `wsu:Id` the sample gives the Body.
pub const BODY_ID: &str = "Body-1";

/// `payload` (an ANPR request element, with or without an XML declaration) in a SOAP envelope whose
/// Body carries `wsu:Id="Body-1"`.
pub fn anpr_soap_request(payload: &str) -> String {
    let payload = payload.trim_start_matches('\u{feff}').trim_start();
    let payload = match payload.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(rest, |(_, after)| after),
        None => payload,
    };
    format!(
        "<soapenv:Envelope xmlns:soapenv=\"{SOAP_ENVELOPE_NAMESPACE}\" xmlns:wsu=\"{WSU_NAMESPACE}\">\n\
         <soapenv:Header/>\n<soapenv:Body wsu:Id=\"{BODY_ID}\">{}</soapenv:Body>\n</soapenv:Envelope>",
        payload.trim()
    )
}

/// The request signed with `key` under [`SignaturePolicy::anpr_ws_security`], the Signature the last
/// child of the Body.
pub fn signed_anpr_soap_request(payload: &str, key: &SigningKey) -> Result<String, SignatureError> {
    let text = anpr_soap_request(payload);
    let doc = parse_str(&text, &Limits::default())?;
    let body = doc
        .child_elements(doc.document_element())
        .find(|&c| {
            doc.element(c)
                .is_some_and(|e| e.name().is(Some(SOAP_ENVELOPE_NAMESPACE), "Body"))
        })
        .expect("the envelope written above has a Body");
    let options = SignaturePolicy::anpr_ws_security()
        .signing_options()
        .expect("the ANPR policy allows a signature method, a digest and a canonicalization");
    sign_enveloped(&doc, body, SignaturePlacement::LastChild, &options, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsig::{TrustedKeys, signature_children, verify_enveloped_signature};

    #[test]
    fn the_signed_request_verifies_under_the_anpr_policy_and_covers_the_payload() {
        let rsa = openssl::rsa::Rsa::generate(2048).expect("RSA key");
        let key = openssl::pkey::PKey::from_rsa(rsa).expect("PKey");
        let public = openssl::pkey::PKey::public_key_from_pem(&key.public_key_to_pem().expect("PEM"))
            .expect("public key");
        let payload = "<?xml version=\"1.0\"?>\n<ns2:Richiesta3002 xmlns:ns2=\"http://sogei.it/ANPR/3000consultazione\"><a>1</a></ns2:Richiesta3002>";
        let signed = signed_anpr_soap_request(payload, &SigningKey::new(key.clone(), None)).expect("signs");
        let doc = parse_str(&signed, &Limits::default()).expect("parses");
        let body = doc.child_elements(doc.document_element()).nth(1).expect("Body");
        let [signature] = signature_children(&doc, body)[..] else {
            panic!("one Signature in the Body: {signed}");
        };
        let mut certificate = openssl::x509::X509Builder::new().expect("builder");
        certificate.set_pubkey(&public).expect("public key");
        certificate
            .sign(&key, openssl::hash::MessageDigest::sha256())
            .expect("self-sign");
        let keys = TrustedKeys::from_certificates([certificate.build()]).expect("usable certificate");
        let verified =
            verify_enveloped_signature(&doc, signature, &SignaturePolicy::anpr_ws_security(), &keys)
                .expect("verifies");
        assert_eq!(verified.signed_element(), body);
        assert_eq!(verified.references()[0].id(), BODY_ID);
    }
}

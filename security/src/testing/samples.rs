//! Sample documents for the benchmarks that are not fixtures already: an ANPR SOAP request, built
//! around one of the payloads ANPR publishes (`specs/anpr/soap-client-example/requests/`), and its
//! signed form.
//!
//! ANPR signs requests with WS-Security (`anpr_ws_security()`: RSA-SHA1, SHA-1, exclusive c14n): a
//! detached signature in the `wsse:Security` header over the Body by `wsu:Id`. The sample carries
//! exactly that signature (no Timestamp or token: the benchmarks measure canonicalization and
//! signature work, which the WS-Security layer's extra References add to linearly).

use crate::dsig::{
    DSIG_NAMESPACE, DetachedPlacement, SignatureError, SignaturePolicy, SigningKey, WSU_NAMESPACE,
    sign_detached,
};
use crate::xml::{Document, Limits, NodeId, parse_str};

/// SOAP 1.1, as ANPR's services use it.
pub const SOAP_ENVELOPE_NAMESPACE: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// OASIS WSS 1.0 `wsse:` namespace.
pub const WSSE_NAMESPACE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// The `wsu:Id` the sample gives the Body.
pub const BODY_ID: &str = "Body-1";

/// `payload` (an ANPR request element, with or without an XML declaration) in a SOAP envelope with
/// an empty `wsse:Security` header and a Body carrying `wsu:Id="Body-1"`.
pub fn anpr_soap_request(payload: &str) -> String {
    let payload = payload.trim_start_matches('\u{feff}').trim_start();
    let payload = match payload.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(rest, |(_, after)| after),
        None => payload,
    };
    format!(
        "<soapenv:Envelope xmlns:soapenv=\"{SOAP_ENVELOPE_NAMESPACE}\" xmlns:wsu=\"{WSU_NAMESPACE}\">\n\
         <soapenv:Header><wsse:Security xmlns:wsse=\"{WSSE_NAMESPACE}\" soapenv:mustUnderstand=\"1\">\
         </wsse:Security></soapenv:Header>\n<soapenv:Body wsu:Id=\"{BODY_ID}\">{}</soapenv:Body>\n\
         </soapenv:Envelope>",
        payload.trim()
    )
}

/// The request signed with `key` under [`SignaturePolicy::anpr_ws_security`].
pub fn signed_anpr_soap_request(payload: &str, key: &SigningKey) -> Result<String, SignatureError> {
    let doc = parse_str(&anpr_soap_request(payload), &Limits::default())?;
    sign_anpr_soap_request(&doc, key)
}

/// Signs the Body of a parsed [`anpr_soap_request`] with a detached signature in its Security header.
pub fn sign_anpr_soap_request(doc: &Document, key: &SigningKey) -> Result<String, SignatureError> {
    let (security, body) = security_and_body(doc).ok_or(SignatureError::MissingElement {
        parent: "soapenv:Envelope",
        element: "wsse:Security header and soapenv:Body",
    })?;
    let options = SignaturePolicy::anpr_ws_security()
        .signing_options()
        .expect("the ANPR policy allows a signature method, a digest and a canonicalization");
    let placement = DetachedPlacement {
        parent: security,
        before: None,
        signature_id: None,
        key_info_id: None,
        key_info: None,
    };
    sign_detached(doc, &[body], &placement, &options, key)
}

/// The `ds:Signature` in the request's Security header, the one [`sign_anpr_soap_request`] writes.
pub fn anpr_signature(doc: &Document) -> Option<NodeId> {
    let (security, _) = security_and_body(doc)?;
    child(doc, security, DSIG_NAMESPACE, "Signature")
}

/// The request's `soapenv:Body`.
pub fn anpr_body(doc: &Document) -> Option<NodeId> {
    security_and_body(doc).map(|(_, body)| body)
}

fn security_and_body(doc: &Document) -> Option<(NodeId, NodeId)> {
    let envelope = doc.document_element();
    let header = child(doc, envelope, SOAP_ENVELOPE_NAMESPACE, "Header")?;
    let security = child(doc, header, WSSE_NAMESPACE, "Security")?;
    let body = child(doc, envelope, SOAP_ENVELOPE_NAMESPACE, "Body")?;
    Some((security, body))
}

fn child(doc: &Document, parent: NodeId, namespace: &str, local: &str) -> Option<NodeId> {
    doc.child_elements(parent).find(|&c| {
        doc.element(c)
            .is_some_and(|e| e.name().is(Some(namespace), local))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsig::{TrustedKeys, verify_detached_signature};

    #[test]
    fn the_signed_request_verifies_under_the_anpr_policy_and_covers_the_body() {
        let rsa = openssl::rsa::Rsa::generate(2048).expect("RSA key");
        let key = openssl::pkey::PKey::from_rsa(rsa).expect("PKey");
        let mut certificate = openssl::x509::X509Builder::new().expect("builder");
        certificate.set_pubkey(&key).expect("public key");
        certificate
            .sign(&key, openssl::hash::MessageDigest::sha256())
            .expect("self-sign");
        let certificate = certificate.build();
        let payload = "<?xml version=\"1.0\"?>\n<ns2:Richiesta3002 xmlns:ns2=\"http://sogei.it/ANPR/3000consultazione\"><a>1</a></ns2:Richiesta3002>";
        let signing_key = SigningKey::new(key, Some(certificate.clone()));
        let signed = signed_anpr_soap_request(payload, &signing_key).expect("signs");
        let doc = parse_str(&signed, &Limits::default()).expect("parses");
        let signature = anpr_signature(&doc).expect("a Signature in the Security header");
        let keys = TrustedKeys::from_certificates([certificate]).expect("usable certificate");
        let verified =
            verify_detached_signature(&doc, signature, &SignaturePolicy::anpr_ws_security(), &keys)
                .expect("verifies");
        assert_eq!(
            verified.covered_elements().collect::<Vec<_>>(),
            [anpr_body(&doc).expect("Body")]
        );
        assert_eq!(verified.references()[0].id(), BODY_ID);
    }
}

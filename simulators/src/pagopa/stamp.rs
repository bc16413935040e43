//! @e.bollo, the digital revenue stamp (marca da bollo digitale, pagopa.md §2.2): when the EC answers
//! `paGetPaymentV2` with a transfer asking for a stamp (`richiestaMarcaDaBollo`: the SHA-256 of the
//! document to stamp, the stamp type, the province), the PSP sells the stamp and the receipt carries,
//! instead of that transfer's IBAN, an `MBDAttachment`: the base64 of a `marcaDaBollo` document
//! (`MarcaDaBollo.xsd`) signed with an enveloped XML-DSig signature by the seller.
//!
//! The simulator plays the seller with a self-signed certificate of its own (generated once per
//! process; [`seller_certificate_pem`] gives it to whoever wants to verify). The signature covers the
//! whole document (`Reference URI=""`, enveloped-signature and exclusive c14n transforms, RSA-SHA256)
//! — what `xmlsec1 --verify` checks in the tests; the stamp carries no ID attribute to point at, the
//! schema has none.

use std::sync::OnceLock;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use openssl::base64::encode_block;
use openssl::hash::{MessageDigest, hash};
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use openssl::x509::X509;
use snodo_mappings::pagopa::Amount;
use snodo_security::c14n::{Algorithm, Canonicalization};
use snodo_security::devpki::{Authority, Validity, cached_key};
use snodo_security::dsig::DSIG_NAMESPACE;
use snodo_security::xml::{Document, Limits, NodeId, parse_str};

use super::settings::PspIdentity;

/// `MarcaDaBollo.xsd`'s namespace (qualified throughout).
pub const STAMP_NAMESPACE: &str = "http://www.agenziaentrate.gov.it/2014/MarcaDaBollo";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// Stands for the signature value until SignedInfo is signed.
const PENDING: &str = "PENDING-SIGNATURE-VALUE";

#[derive(Debug, thiserror::Error)]
pub enum StampError {
    #[error("the stamp seller's key or certificate: {0}")]
    Seller(String),
    #[error("the stamp document: {0}")]
    Document(String),
}

struct Seller {
    key: PKey<Private>,
    certificate: X509,
}

fn seller() -> Result<&'static Seller, StampError> {
    static SELLER: OnceLock<Result<Seller, String>> = OnceLock::new();
    SELLER
        .get_or_init(|| {
            let key = cached_key("pagopa-stamp-seller", 2048).map_err(|e| e.to_string())?;
            let authority = Authority::self_signed(
                "Rivenditore marca da bollo simulato",
                &key,
                Validity::days_from(SystemTime::now(), 3650),
                &[],
            )
            .map_err(|e| e.to_string())?;
            Ok(Seller {
                key,
                certificate: authority.certificate().clone(),
            })
        })
        .as_ref()
        .map_err(|e| StampError::Seller(e.clone()))
}

/// The seller's certificate, PEM: what a verifier of the stamps trusts.
pub fn seller_certificate_pem() -> Result<String, StampError> {
    let pem = seller()?
        .certificate
        .to_pem()
        .map_err(|e| StampError::Seller(e.to_string()))?;
    String::from_utf8(pem).map_err(|e| StampError::Seller(e.to_string()))
}

/// What one stamp is.
#[derive(Debug, Clone)]
pub struct StampSale<'a> {
    pub psp: &'a PspIdentity,
    /// The stamp's unique id (IUBD).
    pub iubd: &'a str,
    pub bought_at: DateTime<Utc>,
    pub amount: Amount,
    /// `tipoBollo`, `01`.
    pub stamp_type: &'a str,
    /// `hashDocumento`: base64 SHA-256 of the stamped document.
    pub document_hash: &'a str,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The signed `marcaDaBollo` document, base64-encoded as `MBDAttachment` carries it.
pub fn issue(sale: &StampSale<'_>) -> Result<String, StampError> {
    let seller = seller()?;
    let body = format!(
        "<PSP><CodiceFiscale>{}</CodiceFiscale><Denominazione>{}</Denominazione></PSP>\
         <IUBD>{}</IUBD><OraAcquisto>{}</OraAcquisto><Importo>{}</Importo><TipoBollo>{}</TipoBollo>\
         <ImprontaDocumento><DigestMethod Algorithm=\"{SHA256}\"/><ds:DigestValue>{}</ds:DigestValue></ImprontaDocumento>",
        escape(&sale.psp.fiscal_code),
        escape(&sale.psp.company_name),
        escape(sale.iubd),
        sale.bought_at.format("%Y-%m-%dT%H:%M:%S"),
        sale.amount,
        escape(sale.stamp_type),
        escape(sale.document_hash),
    );
    let root = |signature: &str| {
        format!(
            "<marcaDaBollo xmlns=\"{STAMP_NAMESPACE}\" xmlns:ds=\"{DSIG_NAMESPACE}\">{body}{signature}</marcaDaBollo>"
        )
    };
    let document_error = |e: String| StampError::Document(e);

    // The Reference: the document without its Signature (the enveloped transform), exclusive c14n.
    let unsigned = parse_str(&root(""), &Limits::default()).map_err(|e| document_error(e.to_string()))?;
    let canonical = Canonicalization::new(Algorithm::Exclusive)
        .subtree(&unsigned, unsigned.document_element(), &[])
        .map_err(|e| document_error(e.to_string()))?;
    let digest = hash(MessageDigest::sha256(), &canonical).map_err(|e| document_error(e.to_string()))?;
    let b64 = encode_block;
    let certificate = seller
        .certificate
        .to_der()
        .map_err(|e| StampError::Seller(e.to_string()))?;
    let signature = format!(
        "<ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{EXC_C14N}\"/>\
         <ds:SignatureMethod Algorithm=\"{RSA_SHA256}\"/><ds:Reference URI=\"\"><ds:Transforms>\
         <ds:Transform Algorithm=\"{ENVELOPED}\"/><ds:Transform Algorithm=\"{EXC_C14N}\"/></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"{SHA256}\"/><ds:DigestValue>{}</ds:DigestValue></ds:Reference>\
         </ds:SignedInfo><ds:SignatureValue>{PENDING}</ds:SignatureValue><ds:KeyInfo><ds:X509Data>\
         <ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>",
        b64(&digest),
        b64(&certificate),
    );
    let template = root(&signature);

    // SignedInfo canonicalized from the document as a verifier will read it, namespaces in scope.
    let parsed = parse_str(&template, &Limits::default()).map_err(|e| document_error(e.to_string()))?;
    let signed_info = find(&parsed, parsed.document_element(), &["Signature", "SignedInfo"])
        .ok_or_else(|| document_error("no SignedInfo in the template".into()))?;
    let signed_bytes = Canonicalization::new(Algorithm::Exclusive)
        .subtree(&parsed, signed_info, &[])
        .map_err(|e| document_error(e.to_string()))?;
    let mut signer =
        Signer::new(MessageDigest::sha256(), &seller.key).map_err(|e| StampError::Seller(e.to_string()))?;
    let value = signer
        .sign_oneshot_to_vec(&signed_bytes)
        .map_err(|e| StampError::Seller(e.to_string()))?;
    let signed = template.replacen(PENDING, &b64(&value), 1);
    Ok(b64(signed.as_bytes()))
}

/// The element reached from `from` by the DSig-namespaced local names of `path`.
fn find(doc: &Document, from: NodeId, path: &[&str]) -> Option<NodeId> {
    let mut at = from;
    for local in path {
        at = doc.child_elements(at).find(|c| {
            doc.element(*c)
                .is_some_and(|e| e.name().is(Some(DSIG_NAMESPACE), local))
        })?;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::base64::decode_block;

    #[test]
    fn a_stamp_is_a_marca_da_bollo_document_with_the_requested_hash() {
        let psp = PspIdentity::default();
        let attachment = issue(&StampSale {
            psp: &psp,
            iubd: "01234567890123",
            bought_at: Utc::now(),
            amount: Amount::from_cents(1600).unwrap(),
            stamp_type: "01",
            document_hash: "cXVlc3RvIMOoIHVuIGhhc2ggZGkgcHJvdmEgZGkgMzIgYnl0ZQ==",
        })
        .unwrap();
        let xml = String::from_utf8(decode_block(&attachment).unwrap()).unwrap();
        assert!(
            xml.starts_with("<marcaDaBollo xmlns=\"http://www.agenziaentrate.gov.it/2014/MarcaDaBollo\"")
        );
        assert!(xml.contains("<Importo>16.00</Importo>"));
        assert!(xml.contains("cXVlc3RvIMOoIHVuIGhhc2ggZGkgcHJvdmEgZGkgMzIgYnl0ZQ=="));
        assert!(!xml.contains(PENDING));
        assert!(
            seller_certificate_pem()
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
    }
}

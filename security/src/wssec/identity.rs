//! Who is calling ANPR: the attributes the comune asserts in its SAML assertion, and
//! `IdPostazioneFirmato`, the workstation id signed as CMS.
//!
//! anpr-and-cie-booking.md §1.6: `IdSede` is the comune's ISTAT code, `IdPostazione` the workstation,
//! `IdPostazioneFirmato` a CMS SignedData (SHA256withRSA, content attached) of the `IdPostazione`
//! string made with the workstation key, `IdApplicazione` the application; the Subject NameID is the
//! operator (ID_OPERATORE, in practice a codice fiscale: personal data, masked in `Debug`).

use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::stack::Stack;
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;

use super::WsSecurityError;
use crate::dsig::SigningKey;

/// The identity a comune asserts on every ANPR request.
#[derive(Clone, PartialEq, Eq)]
pub struct AnprIdentity {
    /// `IdSede`: the ISTAT code of the comune (6 digits, e.g. `015146`).
    pub id_sede: String,
    /// The Subject NameID: the operator's user id (ID_OPERATORE), usually a codice fiscale.
    pub id_operatore: String,
    /// `IdPostazione`: the workstation id (e.g. `015146-CO-0001`, the CN of its certificate).
    pub id_postazione: String,
    /// `IdApplicazione`: the calling application.
    pub id_applicazione: String,
    /// `SubjectLocality Address`: the caller's IP address.
    pub ip_address: String,
}

impl std::fmt::Debug for AnprIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnprIdentity")
            .field("id_sede", &self.id_sede)
            .field("id_operatore", &"<masked>")
            .field("id_postazione", &self.id_postazione)
            .field("id_applicazione", &self.id_applicazione)
            .field("ip_address", &self.ip_address)
            .finish()
    }
}

/// What a verified assertion says, read from the verified Assertion element only.
#[derive(Clone, PartialEq, Eq)]
pub struct AnprAttributes {
    /// The assertion's Issuer (`XS` in ANPR's example client).
    pub issuer: String,
    /// The Subject NameID (personal data: masked in `Debug`).
    pub id_operatore: String,
    pub id_sede: String,
    pub id_postazione: String,
    /// Base64 CMS SignedData, as sent.
    pub id_postazione_firmato: String,
    pub id_applicazione: String,
    /// `SubjectLocality Address`, when present.
    pub ip_address: Option<String>,
}

impl std::fmt::Debug for AnprAttributes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnprAttributes")
            .field("issuer", &self.issuer)
            .field("id_operatore", &"<masked>")
            .field("id_sede", &self.id_sede)
            .field("id_postazione", &self.id_postazione)
            .field("id_applicazione", &self.id_applicazione)
            .field("ip_address", &self.ip_address)
            .finish_non_exhaustive()
    }
}

/// `IdPostazioneFirmato`: CMS SignedData of `id_postazione` (content attached, DER, base64), signed
/// with the workstation key and carrying its certificate. OpenSSL's default digest for an RSA signer
/// is SHA-256, which makes the SignerInfo SHA256withRSA (checked by the tests with `openssl cms`).
pub fn sign_workstation_id(id_postazione: &str, workstation: &SigningKey) -> Result<String, WsSecurityError> {
    let certificate = workstation.certificate().ok_or(WsSecurityError::Configuration {
        reason: "the workstation key has no certificate to put in IdPostazioneFirmato",
    })?;
    let cms = CmsContentInfo::sign(
        Some(certificate),
        Some(workstation.private_key()),
        None,
        Some(id_postazione.as_bytes()),
        CMSOptions::BINARY,
    )
    .map_err(WsSecurityError::crypto("signing IdPostazioneFirmato (CMS)"))?;
    let der = cms
        .to_der()
        .map_err(WsSecurityError::crypto("encoding IdPostazioneFirmato"))?;
    Ok(openssl::base64::encode_block(&der))
}

/// Checks `IdPostazioneFirmato` against `id_postazione`: a CMS SignedData whose signer is one of
/// `workstations` (certificates in the message select, never add: `NOINTERN`) and whose attached
/// content is exactly the workstation id.
pub fn verify_workstation_id(
    id_postazione_firmato: &str,
    id_postazione: &str,
    workstations: &[X509],
) -> Result<(), WsSecurityError> {
    let malformed = |reason| WsSecurityError::AssertionMalformed { reason };
    let compact: String = id_postazione_firmato
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = openssl::base64::decode_block(&compact)
        .map_err(|_| malformed("IdPostazioneFirmato is not base64"))?;
    let mut cms = CmsContentInfo::from_der(&der)
        .map_err(|_| malformed("IdPostazioneFirmato is not a CMS structure"))?;
    let mut certificates = Stack::new().map_err(WsSecurityError::crypto("allocating a stack"))?;
    for c in workstations {
        certificates
            .push(c.clone())
            .map_err(WsSecurityError::crypto("collecting workstation certificates"))?;
    }
    // Trust comes from the configured list itself (NOINTERN: only those may be the signer), so
    // chain building to a CA is skipped.
    let store = X509StoreBuilder::new()
        .map_err(WsSecurityError::crypto("allocating a store"))?
        .build();
    let mut content = Vec::new();
    cms.verify(
        Some(&certificates),
        Some(&store),
        None,
        Some(&mut content),
        CMSOptions::NOINTERN | CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::BINARY,
    )
    .map_err(|_| malformed("IdPostazioneFirmato is not signed by a configured workstation certificate"))?;
    if content != id_postazione.as_bytes() {
        return Err(malformed(
            "IdPostazioneFirmato does not sign the IdPostazione attribute",
        ));
    }
    Ok(())
}

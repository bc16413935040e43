//! The Service Provider's metadata, one signed document per federation (spid-and-cie-id.md §1.2 and
//! §4.1): SPID wants a public SP's `ContactPerson contactType="other"` with `spid:IPACode` and
//! `spid:Public`, CIE ID an `administrative` contact with `cie:` extensions and the municipality; the
//! validators of each refuse the other's form, so the two cannot share a document.
//!
//! What spid-sp-test checks is built in: one `SPSSODescriptor` with `AuthnRequestsSigned` and
//! `WantAssertionsSigned`, a signing `KeyDescriptor`, SLO for Redirect and POST, the transient
//! `NameIDFormat`, one ACS (`index="0"`, `isDefault="true"`, HTTP-POST), one
//! `AttributeConsumingService` of SPID attribute names, an `Organization` in Italian, and the enveloped
//! signature as the first child of `EntityDescriptor` (schema order), RSA-SHA256 over exclusive c14n.

use super::attributes::SpidAttribute;
use super::authn_request::new_message_id;
use super::response::Federation;
use super::{HTTP_POST_BINDING, TRANSIENT_FORMAT};
use crate::dsig::{SignatureError, SignaturePlacement, SignaturePolicy, SigningKey, sign_enveloped};
use crate::xml::{Limits, XmlError, parse_str};

/// SAML 2.0 metadata namespace (`md:`).
pub const METADATA_NAMESPACE: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
/// The HTTP-Redirect binding.
pub const HTTP_REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// Namespace of the SPID metadata extensions (Avviso 29 v3).
pub const SPID_EXTENSIONS_NAMESPACE: &str = "https://spid.gov.it/saml-extensions";
/// Namespace of the CIE ID metadata extensions.
pub const CIE_EXTENSIONS_NAMESPACE: &str = "https://www.cartaidentita.interno.gov.it/saml-extensions";

/// The attributes CIE ID releases: the eIDAS minimum dataset (spid-and-cie-id.md §4.1).
pub const CIE_ATTRIBUTES: [SpidAttribute; 4] = [
    SpidAttribute::Name,
    SpidAttribute::FamilyName,
    SpidAttribute::DateOfBirth,
    SpidAttribute::FiscalNumber,
];

/// What goes into one federation's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpMetadata {
    pub federation: Federation,
    pub entity_id: String,
    /// Assertion Consumer Service (HTTP-POST), index 0.
    pub acs_url: String,
    /// Single Logout endpoint, declared for HTTP-Redirect and HTTP-POST.
    pub slo_url: String,
    /// The full legal name (as in the certificate's organizationName): `OrganizationName`, `Company`.
    pub organization_name: String,
    /// What the IdP shows the citizen.
    pub organization_display_name: String,
    pub organization_url: String,
    /// Codice IPA (IndicePA) of the administration.
    pub ipa_code: String,
    /// An institutional (not personal) address.
    pub contact_email: String,
    /// Codice catastale (Belfiore) of the municipality: `cie:Municipality`.
    pub municipality: String,
    /// `ServiceName` of the attribute set, in Italian.
    pub service_name: String,
    /// The attributes requested (AttributeConsumingService index 0).
    pub attributes: Vec<SpidAttribute>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpMetadataError {
    #[error("SP metadata: {field} is empty")]
    Empty { field: &'static str },
    #[error("SP metadata: no attribute is requested; SPID requires at least one RequestedAttribute")]
    NoAttributes,
    #[error(
        "SP metadata: attribute {name} is outside the eIDAS minimum dataset CIE ID releases (name, familyName, dateOfBirth, fiscalNumber)"
    )]
    NotCieAttribute { name: &'static str },
    #[error("SP metadata: the signing key has no certificate to publish in KeyDescriptor")]
    NoCertificate,
    #[error("SP metadata: the document written is not well-formed XML: {0}")]
    Xml(#[from] XmlError),
    #[error("SP metadata: signing failed: {0}")]
    Signature(#[from] SignatureError),
}

impl SpMetadata {
    /// The unsigned document, with `certificate_der` in the signing KeyDescriptor.
    pub fn to_xml(&self, certificate_der: &[u8]) -> Result<String, SpMetadataError> {
        for (field, value) in [
            ("entityID", &self.entity_id),
            ("AssertionConsumerService Location", &self.acs_url),
            ("SingleLogoutService Location", &self.slo_url),
            ("OrganizationName", &self.organization_name),
            ("OrganizationDisplayName", &self.organization_display_name),
            ("OrganizationURL", &self.organization_url),
            ("IPACode", &self.ipa_code),
            ("EmailAddress", &self.contact_email),
            ("ServiceName", &self.service_name),
        ] {
            if value.trim().is_empty() {
                return Err(SpMetadataError::Empty { field });
            }
        }
        if self.federation == Federation::CieId && self.municipality.trim().is_empty() {
            return Err(SpMetadataError::Empty {
                field: "cie:Municipality",
            });
        }
        if self.attributes.is_empty() {
            return Err(SpMetadataError::NoAttributes);
        }
        if self.federation == Federation::CieId
            && let Some(a) = self.attributes.iter().find(|a| !CIE_ATTRIBUTES.contains(a))
        {
            return Err(SpMetadataError::NotCieAttribute { name: a.name() });
        }
        let certificate = openssl::base64::encode_block(certificate_der);
        let (extension_ns, prefix) = match self.federation {
            Federation::Spid => (SPID_EXTENSIONS_NAMESPACE, "spid"),
            Federation::CieId => (CIE_EXTENSIONS_NAMESPACE, "cie"),
        };
        let mut xml = format!(
            concat!(
                r#"<md:EntityDescriptor xmlns:md="{md}" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:{prefix}="{ext}" entityID="{entity}" ID="{id}">"#,
                r#"<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" AuthnRequestsSigned="true" WantAssertionsSigned="true">"#,
                r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
                r#"<md:SingleLogoutService Binding="{redirect}" Location="{slo}"/>"#,
                r#"<md:SingleLogoutService Binding="{post}" Location="{slo}"/>"#,
                r#"<md:NameIDFormat>{transient}</md:NameIDFormat>"#,
                r#"<md:AssertionConsumerService Binding="{post}" Location="{acs}" index="0" isDefault="true"/>"#,
                r#"<md:AttributeConsumingService index="0"><md:ServiceName xml:lang="it">{service}</md:ServiceName>"#,
            ),
            md = METADATA_NAMESPACE,
            prefix = prefix,
            ext = extension_ns,
            entity = escape(&self.entity_id),
            id = new_message_id(),
            certificate = certificate,
            redirect = HTTP_REDIRECT_BINDING,
            post = HTTP_POST_BINDING,
            slo = escape(&self.slo_url),
            transient = TRANSIENT_FORMAT,
            acs = escape(&self.acs_url),
            service = escape(&self.service_name),
        );
        for attribute in &self.attributes {
            xml.push_str(&format!(
                r#"<md:RequestedAttribute Name="{}"/>"#,
                attribute.name()
            ));
        }
        xml.push_str("</md:AttributeConsumingService></md:SPSSODescriptor>");
        xml.push_str(&format!(
            concat!(
                r#"<md:Organization><md:OrganizationName xml:lang="it">{name}</md:OrganizationName>"#,
                r#"<md:OrganizationDisplayName xml:lang="it">{display}</md:OrganizationDisplayName>"#,
                r#"<md:OrganizationURL xml:lang="it">{url}</md:OrganizationURL></md:Organization>"#,
            ),
            name = escape(&self.organization_name),
            display = escape(&self.organization_display_name),
            url = escape(&self.organization_url),
        ));
        match self.federation {
            // Avviso 29 v3: a public SP has exactly one `other` contact with IPACode and an empty
            // spid:Public; Company, when present, must equal OrganizationName, so it is left out.
            Federation::Spid => xml.push_str(&format!(
                concat!(
                    r#"<md:ContactPerson contactType="other"><md:Extensions>"#,
                    r#"<spid:IPACode>{ipa}</spid:IPACode><spid:Public/></md:Extensions>"#,
                    r#"<md:EmailAddress>{email}</md:EmailAddress></md:ContactPerson>"#,
                ),
                ipa = escape(&self.ipa_code),
                email = escape(&self.contact_email),
            )),
            // CIE federation: `administrative` contact, cie:Public, IPACode, Municipality, and a
            // mandatory Company equal to OrganizationName.
            Federation::CieId => xml.push_str(&format!(
                concat!(
                    r#"<md:ContactPerson contactType="administrative"><md:Extensions>"#,
                    r#"<cie:Public/><cie:IPACode>{ipa}</cie:IPACode><cie:Municipality>{municipality}</cie:Municipality></md:Extensions>"#,
                    r#"<md:Company>{company}</md:Company><md:EmailAddress>{email}</md:EmailAddress></md:ContactPerson>"#,
                ),
                ipa = escape(&self.ipa_code),
                municipality = escape(&self.municipality),
                company = escape(&self.organization_name),
                email = escape(&self.contact_email),
            )),
        }
        xml.push_str("</md:EntityDescriptor>");
        parse_str(&xml, &Limits::default())?;
        Ok(xml)
    }

    /// The signed document: enveloped signature as the first child of `EntityDescriptor`, the
    /// signing certificate in KeyInfo and in the KeyDescriptor.
    pub fn sign(&self, key: &SigningKey) -> Result<String, SpMetadataError> {
        let certificate = key.certificate().ok_or(SpMetadataError::NoCertificate)?;
        let der = certificate
            .to_der()
            .map_err(SignatureError::crypto("encoding the SP certificate"))?;
        let xml = self.to_xml(&der)?;
        let doc = parse_str(&xml, &Limits::default())?;
        let options = SignaturePolicy::spid()
            .signing_options()
            .expect("the SPID policy allows signing");
        let signed = sign_enveloped(
            &doc,
            doc.document_element(),
            SignaturePlacement::FirstChild,
            &options,
            key,
        )?;
        Ok(format!(r#"<?xml version="1.0" encoding="UTF-8"?>{signed}"#))
    }
}

/// XML escaping for attribute values and text written by this module and the logout messages.
pub(super) fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

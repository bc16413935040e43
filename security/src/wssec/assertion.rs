//! The SAML 2.0 assertion a comune issues about itself in every ANPR request (anpr-and-cie-booking.md
//! §1.6, item 2): written and signed here for the connector, read back (from the verified element
//! only) for the simulator.

use openssl::rand::rand_bytes;

use super::envelope::{is, only_child};
use super::identity::{AnprAttributes, AnprIdentity};
use super::time::{Millis, format, parse};
use super::{SAML2_NAMESPACE, WsSecurityError};
use crate::dsig::{SignaturePlacement, SigningKey, SigningOptions, sign_enveloped};
use crate::xml::{Document, Limits, NodeId, parse_str};

/// The Issuer ANPR's example client writes (`SAML2CallbackHandler`: `setIssuer("XS")`).
pub const ANPR_ASSERTION_ISSUER: &str = "XS";

const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const UNSPECIFIED_NAME_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified";
const UNSPECIFIED_AUTHN_CONTEXT: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified";
const XSD: &str = "http://www.w3.org/2001/XMLSchema";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// A fresh identifier: `prefix` and 128 random bits in UUID layout, unique per message.
pub(crate) fn fresh_id(prefix: &str) -> Result<String, WsSecurityError> {
    let mut b = [0u8; 16];
    rand_bytes(&mut b).map_err(WsSecurityError::crypto("drawing a random identifier"))?;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{prefix}{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The signed assertion as a standalone element (no XML declaration), valid from `now` for
/// `lifetime_ms`, signed enveloped with `options` after its Issuer. Exclusive canonicalization makes
/// the signature independent of where the element is later placed.
pub(crate) fn signed_assertion(
    identity: &AnprIdentity,
    id_postazione_firmato: &str,
    now: Millis,
    lifetime_ms: Millis,
    options: &SigningOptions,
    key: &SigningKey,
) -> Result<String, WsSecurityError> {
    let id = fresh_id("_")?;
    let (from, until) = (format(now), format(now + lifetime_ms));
    let attribute = |name: &str, value: &str| {
        format!(
            "<saml2:Attribute Name=\"{name}\" NameFormat=\"{UNSPECIFIED_NAME_FORMAT}\">\
             <saml2:AttributeValue xsi:type=\"xsd:string\">{}</saml2:AttributeValue></saml2:Attribute>",
            escape(value)
        )
    };
    let text = format!(
        "<saml2:Assertion xmlns:saml2=\"{SAML2_NAMESPACE}\" xmlns:xsd=\"{XSD}\" xmlns:xsi=\"{XSI}\" \
         ID=\"{id}\" IssueInstant=\"{from}\" Version=\"2.0\" xsi:type=\"saml2:AssertionType\">\
         <saml2:Issuer>{ANPR_ASSERTION_ISSUER}</saml2:Issuer>\
         <saml2:Subject><saml2:NameID>{}</saml2:NameID>\
         <saml2:SubjectConfirmation Method=\"{BEARER}\">\
         <saml2:SubjectConfirmationData NotBefore=\"{from}\" NotOnOrAfter=\"{until}\"/>\
         </saml2:SubjectConfirmation></saml2:Subject>\
         <saml2:AuthnStatement AuthnInstant=\"{from}\" SessionNotOnOrAfter=\"{until}\">\
         <saml2:SubjectLocality Address=\"{}\"/>\
         <saml2:AuthnContext><saml2:AuthnContextClassRef>{UNSPECIFIED_AUTHN_CONTEXT}</saml2:AuthnContextClassRef>\
         </saml2:AuthnContext></saml2:AuthnStatement>\
         <saml2:AttributeStatement>{}{}{}{}</saml2:AttributeStatement></saml2:Assertion>",
        escape(&identity.id_operatore),
        escape(&identity.ip_address),
        attribute("IdSede", &identity.id_sede),
        attribute("IdPostazione", &identity.id_postazione),
        attribute("IdPostazioneFirmato", id_postazione_firmato),
        attribute("IdApplicazione", &identity.id_applicazione),
    );
    let doc = parse_str(&text, &Limits::default())?;
    let root = doc.document_element();
    let issuer = only_child(&doc, root, SAML2_NAMESPACE, "Issuer").ok_or(WsSecurityError::Configuration {
        reason: "assertion template lost its Issuer",
    })?;
    sign_enveloped(&doc, root, SignaturePlacement::After(issuer), options, key)
        .map_err(WsSecurityError::Signing)
}

/// Reads the attributes of a verified assertion by absolute path under it, and checks its validity
/// window against `now` with `skew_ms` tolerance.
pub(crate) fn read_assertion(
    doc: &Document,
    assertion: NodeId,
    now: Millis,
    skew_ms: Millis,
) -> Result<AnprAttributes, WsSecurityError> {
    let malformed = |reason| WsSecurityError::AssertionMalformed { reason };
    let element = doc.element(assertion).ok_or(malformed("not an element"))?;
    if element.attribute(None, "Version") != Some("2.0") {
        return Err(malformed("Version is not 2.0"));
    }
    let issuer =
        only_child(doc, assertion, SAML2_NAMESPACE, "Issuer").ok_or(malformed("no single Issuer"))?;
    let subject =
        only_child(doc, assertion, SAML2_NAMESPACE, "Subject").ok_or(malformed("no single Subject"))?;
    let name_id = only_child(doc, subject, SAML2_NAMESPACE, "NameID")
        .ok_or(malformed("Subject has no single NameID"))?;
    let confirmation = only_child(doc, subject, SAML2_NAMESPACE, "SubjectConfirmation")
        .ok_or(malformed("Subject has no single SubjectConfirmation"))?;
    if doc
        .element(confirmation)
        .and_then(|e| e.attribute(None, "Method"))
        != Some(BEARER)
    {
        return Err(malformed("SubjectConfirmation Method is not bearer"));
    }
    if let Some(data) = only_child(doc, confirmation, SAML2_NAMESPACE, "SubjectConfirmationData") {
        let e = doc.element(data).ok_or(malformed("not an element"))?;
        let instant = |name| -> Result<Option<Millis>, WsSecurityError> {
            e.attribute(None, name)
                .map(|v| parse(v).ok_or(malformed("SubjectConfirmationData instant is not an xs:dateTime")))
                .transpose()
        };
        if instant("NotBefore")?.is_some_and(|t| t > now + skew_ms) {
            return Err(WsSecurityError::AssertionNotValidNow {
                reason: "SubjectConfirmationData NotBefore is in the future",
            });
        }
        if instant("NotOnOrAfter")?.is_some_and(|t| t <= now - skew_ms) {
            return Err(WsSecurityError::AssertionNotValidNow {
                reason: "SubjectConfirmationData NotOnOrAfter has passed",
            });
        }
    }
    let ip_address = only_child(doc, assertion, SAML2_NAMESPACE, "AuthnStatement")
        .and_then(|s| only_child(doc, s, SAML2_NAMESPACE, "SubjectLocality"))
        .and_then(|l| doc.element(l)?.attribute(None, "Address").map(str::to_owned));
    let statement = only_child(doc, assertion, SAML2_NAMESPACE, "AttributeStatement")
        .ok_or(malformed("no single AttributeStatement"))?;
    let attribute = |name: &'static str| -> Result<String, WsSecurityError> {
        let mut values = doc
            .child_elements(statement)
            .filter(|&a| {
                is(doc, a, SAML2_NAMESPACE, "Attribute")
                    && doc.element(a).and_then(|e| e.attribute(None, "Name")) == Some(name)
            })
            .map(|a| {
                only_child(doc, a, SAML2_NAMESPACE, "AttributeValue")
                    .map(|v| doc.text_content(v))
                    .ok_or(WsSecurityError::AssertionAttribute { name })
            });
        match (values.next(), values.next()) {
            (Some(value), None) => value,
            _ => Err(WsSecurityError::AssertionAttribute { name }),
        }
    };
    Ok(AnprAttributes {
        issuer: doc.text_content(issuer),
        id_operatore: doc.text_content(name_id),
        id_sede: attribute("IdSede")?,
        id_postazione: attribute("IdPostazione")?,
        id_postazione_firmato: attribute("IdPostazioneFirmato")?,
        id_applicazione: attribute("IdApplicazione")?,
        ip_address,
    })
}

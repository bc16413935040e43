//! The SP's AuthnRequest (spid-and-cie-id.md §1.1), built for the HTTP-POST binding (enveloped
//! signature after the Issuer) or, unsigned, for the HTTP-Redirect binding ([`super::redirect`]
//! signs the query string instead).
//!
//! What spid-sp-test checks is built in: `Version` 2.0, `IssueInstant` in UTC with milliseconds,
//! `ForceAuthn="true"` for L2/L3, `AttributeConsumingServiceIndex` always, the ACS by index
//! (preferred) or by URL with the HTTP-POST `ProtocolBinding`, an Issuer with `Format` entity and
//! `NameQualifier` equal to the entity ID (spid-sp-test writes the Audience from it), a transient
//! NameIDPolicy without `AllowCreate`, one RequestedAuthnContext ClassRef, no `IsPassive`, and the
//! schema's element order. [`PendingRequest`] is what the SP must keep to verify the answer.

use chrono::{DateTime, Utc};

use super::level::{Comparison, SpidLevel};
use super::{
    ASSERTION_NAMESPACE, ENTITY_FORMAT, HTTP_POST_BINDING, PROTOCOL_NAMESPACE, TRANSIENT_FORMAT,
    format_instant,
};
use crate::dsig::{
    DSIG_NAMESPACE, SignatureError, SignatureMethod, SignaturePlacement, SignaturePolicy, SigningKey,
    sign_enveloped,
};
use crate::xml::{Limits, XmlError, parse_str};

/// Where the IdP must post the Response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssertionConsumerService {
    /// `AssertionConsumerServiceIndex`: an index of our metadata (preferred by the Regole Tecniche).
    Index(u16),
    /// `AssertionConsumerServiceURL` with `ProtocolBinding` HTTP-POST: must equal a metadata Location.
    Url(String),
}

/// An AuthnRequest to one IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnRequest {
    /// `ID`: an NCName, unique ([`new_message_id`]).
    pub id: String,
    pub issue_instant: DateTime<Utc>,
    /// The IdP's SSO Location for the binding used (CIE ID requires it; SPID accepts it).
    pub destination: String,
    /// Our entity ID: Issuer text and NameQualifier.
    pub sp_entity_id: String,
    pub assertion_consumer_service: AssertionConsumerService,
    /// `AttributeConsumingServiceIndex`: the attribute set of our metadata (mandatory for SPID).
    pub attribute_consuming_service_index: u16,
    pub level: SpidLevel,
    pub comparison: Comparison,
    /// `ForceAuthn`: required for L2/L3 by SPID and always by CIE ID; [`AuthnRequest::new`] sets it
    /// from the level.
    pub force_authn: bool,
}

/// What the SP keeps of a request it sent, to verify the Response (in Redis in production, bound to
/// the browser session; consumed once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    pub id: String,
    pub issue_instant: DateTime<Utc>,
    pub level: SpidLevel,
    pub comparison: Comparison,
}

/// An AuthnRequest that cannot be built or signed.
#[derive(Debug, thiserror::Error)]
pub enum AuthnRequestError {
    #[error("request ID {id:?} is not an NCName (SAML IDs are xs:ID: no leading digit, no colon)")]
    InvalidId { id: String },
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{level} requires ForceAuthn=\"true\" (Regole Tecniche, AuthnRequest)")]
    ForceAuthnRequired { level: SpidLevel },
    #[error("the AuthnRequest written is not well-formed XML (a value holds a character XML forbids): {0}")]
    Xml(#[from] XmlError),
    #[error("signing the AuthnRequest failed: {0}")]
    Signature(#[from] SignatureError),
}

/// A fresh SAML message ID: `_` and 128 random bits in hex (an NCName, as xs:ID requires).
pub fn new_message_id() -> String {
    let mut bytes = [0u8; 16];
    openssl::rand::rand_bytes(&mut bytes).expect("the OpenSSL random generator is available");
    let mut id = String::with_capacity(33);
    id.push('_');
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

impl AuthnRequest {
    /// A request with a fresh ID, Comparison `minimum` and ForceAuthn as the level requires.
    pub fn new(
        sp_entity_id: &str,
        destination: &str,
        assertion_consumer_service: AssertionConsumerService,
        attribute_consuming_service_index: u16,
        level: SpidLevel,
        now: DateTime<Utc>,
    ) -> AuthnRequest {
        AuthnRequest {
            id: new_message_id(),
            issue_instant: now,
            destination: destination.to_owned(),
            sp_entity_id: sp_entity_id.to_owned(),
            assertion_consumer_service,
            attribute_consuming_service_index,
            level,
            comparison: Comparison::Minimum,
            force_authn: level.requires_force_authn(),
        }
    }

    /// What to keep until the Response arrives.
    pub fn pending(&self) -> PendingRequest {
        PendingRequest {
            id: self.id.clone(),
            issue_instant: self.issue_instant,
            level: self.level,
            comparison: self.comparison,
        }
    }

    /// The unsigned request (for the HTTP-Redirect binding), checked to parse.
    pub fn to_xml(&self) -> Result<String, AuthnRequestError> {
        if !crate::xml::chars::is_ncname(&self.id) {
            return Err(AuthnRequestError::InvalidId { id: self.id.clone() });
        }
        for (field, value) in [
            ("Destination", &self.destination),
            ("Issuer (SP entity ID)", &self.sp_entity_id),
        ] {
            if value.trim().is_empty() {
                return Err(AuthnRequestError::Empty { field });
            }
        }
        if self.level.requires_force_authn() && !self.force_authn {
            return Err(AuthnRequestError::ForceAuthnRequired { level: self.level });
        }
        let mut xml = format!(
            r#"<samlp:AuthnRequest xmlns:samlp="{PROTOCOL_NAMESPACE}" xmlns:saml="{ASSERTION_NAMESPACE}" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{destination}""#,
            id = escape(&self.id),
            instant = format_instant(self.issue_instant),
            destination = escape(&self.destination),
        );
        if self.force_authn {
            xml.push_str(r#" ForceAuthn="true""#);
        }
        match &self.assertion_consumer_service {
            AssertionConsumerService::Index(i) => {
                xml.push_str(&format!(r#" AssertionConsumerServiceIndex="{i}""#));
            }
            AssertionConsumerService::Url(url) => {
                if url.trim().is_empty() {
                    return Err(AuthnRequestError::Empty {
                        field: "AssertionConsumerServiceURL",
                    });
                }
                xml.push_str(&format!(
                    r#" AssertionConsumerServiceURL="{}" ProtocolBinding="{HTTP_POST_BINDING}""#,
                    escape(url)
                ));
            }
        }
        let entity = escape(&self.sp_entity_id);
        xml.push_str(&format!(
            concat!(
                r#" AttributeConsumingServiceIndex="{acs}">"#,
                r#"<saml:Issuer NameQualifier="{entity}" Format="{ENTITY_FORMAT}">{entity}</saml:Issuer>"#,
                r#"<samlp:NameIDPolicy Format="{TRANSIENT_FORMAT}"/>"#,
                r#"<samlp:RequestedAuthnContext Comparison="{comparison}">"#,
                r#"<saml:AuthnContextClassRef>{level}</saml:AuthnContextClassRef>"#,
                r#"</samlp:RequestedAuthnContext></samlp:AuthnRequest>"#
            ),
            acs = self.attribute_consuming_service_index,
            entity = entity,
            ENTITY_FORMAT = ENTITY_FORMAT,
            TRANSIENT_FORMAT = TRANSIENT_FORMAT,
            comparison = self.comparison.as_str(),
            level = self.level.uri(),
        ));
        // The parser is the judge of well-formedness: a value with a character XML 1.0 forbids
        // (escaping cannot help there) fails here, not at the IdP.
        parse_str(&xml, &Limits::default())?;
        Ok(xml)
    }

    /// The request signed for the HTTP-POST binding: an enveloped signature right after the Issuer
    /// (SAML schema order), RSA-SHA256 or ECDSA-SHA256 by key type, SHA-256, exclusive c14n, our
    /// certificate in KeyInfo.
    pub fn sign(&self, key: &SigningKey) -> Result<String, AuthnRequestError> {
        let xml = self.to_xml()?;
        let doc = parse_str(&xml, &Limits::default())?;
        let root = doc.document_element();
        let issuer = doc
            .child_elements(root)
            .next()
            .expect("to_xml writes the Issuer first");
        let mut options = SignaturePolicy::spid()
            .signing_options()
            .expect("the SPID policy allows signing");
        if key.private_key().id() == openssl::pkey::Id::EC {
            options = options.with_signature_method(SignatureMethod::EcdsaSha256);
        }
        let signed = sign_enveloped(&doc, root, SignaturePlacement::After(issuer), &options, key)?;
        debug_assert!(signed.contains(DSIG_NAMESPACE));
        Ok(signed)
    }
}

/// XML escaping for attribute values and text. Tab, CR and LF become references so that attribute
/// value normalization cannot change them.
fn escape(value: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn request(level: SpidLevel) -> AuthnRequest {
        AuthnRequest::new(
            "https://comune.example.it/spid",
            "https://idp.example.it/samlsso",
            AssertionConsumerService::Index(0),
            0,
            level,
            DateTime::UNIX_EPOCH,
        )
    }

    #[test]
    fn message_ids_are_ncnames_and_differ() {
        let (a, b) = (new_message_id(), new_message_id());
        assert!(crate::xml::chars::is_ncname(&a), "{a}");
        assert_eq!(a.len(), 33);
        assert_ne!(a, b);
    }

    #[test]
    fn spid_rule_force_authn_for_l2_and_l3_only() {
        assert!(
            request(SpidLevel::L1)
                .to_xml()
                .expect("builds")
                .find("ForceAuthn")
                .is_none()
        );
        assert!(
            request(SpidLevel::L2)
                .to_xml()
                .expect("builds")
                .contains(r#"ForceAuthn="true""#)
        );
        let mut weak = request(SpidLevel::L3);
        weak.force_authn = false;
        assert!(matches!(
            weak.to_xml(),
            Err(AuthnRequestError::ForceAuthnRequired { level: SpidLevel::L3 })
        ));
    }

    #[test]
    fn values_are_escaped_and_forbidden_characters_refused() {
        let mut r = request(SpidLevel::L1);
        r.destination = "https://idp.example.it/sso?a=1&b=\"2\"".to_owned();
        let xml = r.to_xml().expect("escaped");
        assert!(xml.contains("sso?a=1&amp;b=&quot;2&quot;"), "{xml}");
        r.destination = "https://idp.example.it/\u{1}".to_owned();
        assert!(matches!(r.to_xml(), Err(AuthnRequestError::Xml(_))));
        r.id = "1abc".to_owned();
        assert!(matches!(r.to_xml(), Err(AuthnRequestError::InvalidId { .. })));
    }
}

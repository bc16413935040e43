//! The IdP's answers to an AuthnRequest: the signed Response with its Assertion and the SPID
//! attributes of the person who logged in, the SPID/CIE ID error Responses (`ErrorCode nrNN`), and
//! any case of the conformance catalogue ([`super::catalogue`]) built from the valid one.
//!
//! The valid Response has the shape spid-sp-test's case 1 has (spid-and-cie-id.md §0, §1.3): Response
//! and Assertion both signed enveloped right after their Issuer (RSA-SHA256, SHA-256, exclusive
//! c14n, `snodo_security::dsig::sign_enveloped`), the Assertion first so that the Response signature
//! covers the signed Assertion; transient NameID qualified by the IdP; bearer confirmation with
//! Recipient = ACS and a five-minute NotOnOrAfter; Audience = SP entity ID; SessionIndex for SpidL1
//! only (no IdP session for L2/L3); attributes with `NameFormat` basic and `xsi:type`.
//! CIE ID differs in the Response Issuer, which has no `Format` (§4.1).

use chrono::{DateTime, TimeDelta, Utc};
use snodo_security::dsig::{SignaturePlacement, SignaturePolicy, SigningKey, sign_enveloped};
use snodo_security::saml::{
    ASSERTION_NAMESPACE, BEARER_METHOD, ENTITY_FORMAT, PROTOCOL_NAMESPACE, STATUS_SUCCESS, SpidLevel,
    TRANSIENT_FORMAT, format_instant, new_message_id,
};
use snodo_security::xml::{Limits, parse_str};

use super::Profile;
use super::request::AcceptedRequest;
use super::tree::El;

/// How long an Assertion is valid (spid-sp-test's valid Response: now + 5 minutes).
pub const VALIDITY: TimeDelta = TimeDelta::minutes(5);
const BASIC_NAME_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";
const XSI_NAMESPACE: &str = "http://www.w3.org/2001/XMLSchema-instance";
const XS_NAMESPACE: &str = "http://www.w3.org/2001/XMLSchema";
const RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
const AUTHN_FAILED: &str = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed";

/// One attribute released: SPID name, value, and whether it is an `xs:date`.
#[derive(Clone, PartialEq, Eq)]
pub struct Released {
    pub name: &'static str,
    pub value: String,
    pub date: bool,
}

impl std::fmt::Debug for Released {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}=<{} chars>", self.name, self.value.chars().count())
    }
}

/// Everything a Response says beyond the request it answers.
#[derive(Debug, Clone)]
pub struct Login {
    pub profile: Profile,
    pub idp_entity_id: String,
    pub level: SpidLevel,
    pub attributes: Vec<Released>,
    pub name_id: String,
    pub session_index: Option<String>,
    pub now: DateTime<Utc>,
}

/// The IDs a Response was built with (a catalogue case may change them afterwards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    pub response: String,
    pub assertion: String,
}

/// The valid Response as a tree, with its IDs.
pub fn success(request: &AcceptedRequest, login: &Login) -> (El, Ids) {
    let ids = Ids {
        response: new_message_id(),
        assertion: new_message_id(),
    };
    let now = format_instant(login.now);
    let until = format_instant(login.now + VALIDITY);
    let subject_confirmation_data = El::new("saml:SubjectConfirmationData")
        .attr("InResponseTo", &request.id)
        .attr("NotOnOrAfter", &until)
        .attr("Recipient", &request.acs_url);
    let mut authn_statement = El::new("saml:AuthnStatement").attr("AuthnInstant", &now);
    if let Some(session) = &login.session_index {
        authn_statement.set_attr("SessionIndex", session);
    }
    let authn_statement = authn_statement.child(
        El::new("saml:AuthnContext").child(El::new("saml:AuthnContextClassRef").text(login.level.uri())),
    );
    let mut assertion = El::new("saml:Assertion")
        .attr("xmlns:xs", XS_NAMESPACE)
        .attr("xmlns:xsi", XSI_NAMESPACE)
        .attr("ID", &ids.assertion)
        .attr("Version", "2.0")
        .attr("IssueInstant", &now)
        .child(
            El::new("saml:Issuer")
                .attr("Format", ENTITY_FORMAT)
                .text(&login.idp_entity_id),
        )
        .child(
            El::new("saml:Subject")
                .child(
                    El::new("saml:NameID")
                        .attr("Format", TRANSIENT_FORMAT)
                        .attr("NameQualifier", &login.idp_entity_id)
                        .text(&login.name_id),
                )
                .child(
                    El::new("saml:SubjectConfirmation")
                        .attr("Method", BEARER_METHOD)
                        .child(subject_confirmation_data),
                ),
        )
        .child(
            El::new("saml:Conditions")
                .attr("NotBefore", &now)
                .attr("NotOnOrAfter", &until)
                .child(
                    El::new("saml:AudienceRestriction")
                        .child(El::new("saml:Audience").text(&request.sp_entity_id)),
                ),
        )
        .child(authn_statement);
    if !login.attributes.is_empty() {
        let mut statement = El::new("saml:AttributeStatement");
        for a in &login.attributes {
            statement = statement.child(
                El::new("saml:Attribute")
                    .attr("Name", a.name)
                    .attr("NameFormat", BASIC_NAME_FORMAT)
                    .child(
                        El::new("saml:AttributeValue")
                            .attr("xsi:type", if a.date { "xs:date" } else { "xs:string" })
                            .text(&a.value),
                    ),
            );
        }
        assertion = assertion.child(statement);
    }
    let response = response_shell(request, login, &ids.response, &now)
        .child(El::new("samlp:Status").child(El::new("samlp:StatusCode").attr("Value", STATUS_SUCCESS)))
        .child(assertion);
    (response, ids)
}

/// An error Response: `Responder` / `AuthnFailed` with `ErrorCode nrNN` (messaggi-errore.rst,
/// spid-and-cie-id.md §1.4); no Assertion.
pub fn error(request: &AcceptedRequest, login: &Login, code: u8) -> (El, Ids) {
    let ids = Ids {
        response: new_message_id(),
        assertion: String::new(),
    };
    let now = format_instant(login.now);
    let response = response_shell(request, login, &ids.response, &now).child(
        El::new("samlp:Status")
            .child(
                El::new("samlp:StatusCode")
                    .attr("Value", RESPONDER)
                    .child(El::new("samlp:StatusCode").attr("Value", AUTHN_FAILED)),
            )
            .child(El::new("samlp:StatusMessage").text(format!("ErrorCode nr{code:02}"))),
    );
    (response, ids)
}

fn response_shell(request: &AcceptedRequest, login: &Login, id: &str, now: &str) -> El {
    let mut issuer = El::new("saml:Issuer");
    // CIE ID: the Response Issuer has no Format (cie-eid-saml-docs protocolli.rst).
    if login.profile == Profile::Spid {
        issuer.set_attr("Format", ENTITY_FORMAT);
    }
    El::new("samlp:Response")
        .attr("xmlns:samlp", PROTOCOL_NAMESPACE)
        .attr("xmlns:saml", ASSERTION_NAMESPACE)
        .attr("ID", id)
        .attr("Version", "2.0")
        .attr("IssueInstant", now)
        .attr("InResponseTo", &request.id)
        .attr("Destination", &request.acs_url)
        .child(issuer.text(&login.idp_entity_id))
}

/// Which signatures a Response gets, and with which keys.
pub struct Signing<'k> {
    pub assertion: Option<&'k SigningKey>,
    pub response: Option<&'k SigningKey>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the Response written does not parse again: {0}")]
    Xml(#[from] snodo_security::xml::XmlError),
    #[error("signing the Response failed: {0}")]
    Signature(#[from] snodo_security::dsig::SignatureError),
}

/// Renders `response` and signs it: the Assertion first (its signature after its Issuer), then the
/// Response over the signed Assertion.
pub fn sign(response: &El, signing: &Signing<'_>) -> Result<String, BuildError> {
    let mut text = response.render();
    let options = SignaturePolicy::spid()
        .signing_options()
        .expect("the SPID policy allows signing");
    if let Some(key) = signing.assertion {
        let doc = parse_str(&text, &Limits::default())?;
        let root = doc.document_element();
        let assertion = doc.child_elements(root).find(|&c| {
            doc.element(c)
                .is_some_and(|e| e.name().is(Some(ASSERTION_NAMESPACE), "Assertion"))
        });
        if let Some(assertion) = assertion {
            let placement = issuer_placement(&doc, assertion);
            text = sign_enveloped(&doc, assertion, placement, &options, key)?;
        }
    }
    if let Some(key) = signing.response {
        let doc = parse_str(&text, &Limits::default())?;
        let root = doc.document_element();
        let placement = issuer_placement(&doc, root);
        text = sign_enveloped(&doc, root, placement, &options, key)?;
    }
    Ok(text)
}

/// SAML's order: the Signature right after the Issuer, or first when there is none.
fn issuer_placement(
    doc: &snodo_security::xml::Document,
    parent: snodo_security::xml::NodeId,
) -> SignaturePlacement {
    match doc.child_elements(parent).next() {
        Some(first)
            if doc
                .element(first)
                .is_some_and(|e| e.name().is(Some(ASSERTION_NAMESPACE), "Issuer")) =>
        {
            SignaturePlacement::After(first)
        }
        _ => SignaturePlacement::FirstChild,
    }
}

/// The HTML page that posts `SAMLResponse` (and `RelayState`) to the SP, as the HTTP-POST binding
/// prescribes: a form submitted by script, with a button for browsers without it. Every value is
/// HTML-escaped (an SP's ACS URL or RelayState must not inject markup).
pub fn post_form(action: &str, field: &str, message: &str, relay_state: Option<&str>, title: &str) -> String {
    let encoded = openssl::base64::encode_block(message.as_bytes());
    let relay = relay_state
        .map(|r| {
            format!(
                r#"<input type="hidden" name="RelayState" value="{}"/>"#,
                super::page::escape(r)
            )
        })
        .unwrap_or_default();
    format!(
        r#"<!DOCTYPE html>
<html lang="it"><head><meta charset="utf-8"><title>{title}</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{action}">
<input type="hidden" name="{field}" value="{encoded}"/>
{relay}
<noscript><p>JavaScript è disattivato: premi il pulsante per continuare.</p></noscript>
<button type="submit">Continua</button>
</form>
</body></html>
"#,
        title = super::page::escape(title),
        action = super::page::escape(action),
    )
}

//! Single Logout messages (SAML Core §3.7, SPID `single-logout.rst`, spid-and-cie-id.md §1.6): the
//! SP's LogoutRequest and LogoutResponse, and reading what an IdP sends.
//!
//! SPID requires the SP to answer an IdP's LogoutRequest with a LogoutResponse even when it keeps no
//! session for that user, so reading a request never depends on local state. Both directions are
//! signed: by [`super::redirect`] over the query string for HTTP-Redirect, by an enveloped signature
//! after the Issuer for HTTP-POST ([`sign_after_issuer`]). Received messages are read from one
//! parsed [`Document`] whose signature the caller verified (query signature or enveloped, with the
//! IdP's metadata keys): this module reads the fields, it does not decide trust.

use chrono::{DateTime, Utc};

use super::error::{Field, ResponseError};
use super::read::{attribute, child, text};
use super::sp_metadata::escape;
use super::{
    ASSERTION_NAMESPACE, ENTITY_FORMAT, PROTOCOL_NAMESPACE, STATUS_SUCCESS, TRANSIENT_FORMAT, format_instant,
    new_message_id,
};
use crate::dsig::{SignatureError, SignaturePlacement, SignaturePolicy, SigningKey, sign_enveloped};
use crate::xml::{Document, Limits, NodeId, XmlError, parse_str};

/// A LogoutRequest from the SP to the IdP that authenticated the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub id: String,
    pub issue_instant: DateTime<Utc>,
    /// The IdP's SingleLogoutService Location for the binding used.
    pub destination: String,
    pub sp_entity_id: String,
    /// The NameID of the Assertion, with the IdP's NameQualifier.
    pub name_id: String,
    pub name_qualifier: String,
    /// The Assertion's SessionIndex, when it had one (SPID L1 only).
    pub session_index: Option<String>,
}

/// A LogoutResponse from the SP, answering an IdP's LogoutRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutResponse {
    pub id: String,
    pub issue_instant: DateTime<Utc>,
    pub destination: String,
    pub in_response_to: String,
    pub sp_entity_id: String,
    /// The top-level StatusCode; Success unless the SP could not log the user out.
    pub status: String,
}

/// A LogoutRequest or LogoutResponse an IdP sent, read after its signature was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceivedLogout {
    Request {
        id: String,
        issuer: String,
        destination: Option<String>,
        name_id: String,
        session_index: Option<String>,
    },
    Response {
        id: String,
        issuer: String,
        in_response_to: String,
        destination: Option<String>,
        status: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error("the logout message written is not well-formed XML: {0}")]
    Xml(#[from] XmlError),
    #[error("signing the logout message failed: {0}")]
    Signature(#[from] SignatureError),
    #[error("the document element is not samlp:LogoutRequest or samlp:LogoutResponse")]
    NotALogoutMessage,
    #[error("logout message: {0}")]
    Field(#[from] ResponseError),
}

impl LogoutRequest {
    /// A request with a fresh ID.
    pub fn new(
        sp_entity_id: &str,
        destination: &str,
        name_id: &str,
        name_qualifier: &str,
        session_index: Option<&str>,
        now: DateTime<Utc>,
    ) -> LogoutRequest {
        LogoutRequest {
            id: new_message_id(),
            issue_instant: now,
            destination: destination.to_owned(),
            sp_entity_id: sp_entity_id.to_owned(),
            name_id: name_id.to_owned(),
            name_qualifier: name_qualifier.to_owned(),
            session_index: session_index.map(str::to_owned),
        }
    }

    /// The unsigned request (HTTP-Redirect signs the query instead).
    pub fn to_xml(&self) -> Result<String, LogoutError> {
        let entity = escape(&self.sp_entity_id);
        let mut xml = format!(
            concat!(
                r#"<samlp:LogoutRequest xmlns:samlp="{p}" xmlns:saml="{a}" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{destination}">"#,
                r#"<saml:Issuer NameQualifier="{entity}" Format="{entity_format}">{entity}</saml:Issuer>"#,
                r#"<saml:NameID NameQualifier="{qualifier}" Format="{transient}">{name_id}</saml:NameID>"#,
            ),
            p = PROTOCOL_NAMESPACE,
            a = ASSERTION_NAMESPACE,
            id = escape(&self.id),
            instant = format_instant(self.issue_instant),
            destination = escape(&self.destination),
            entity = entity,
            entity_format = ENTITY_FORMAT,
            qualifier = escape(&self.name_qualifier),
            transient = TRANSIENT_FORMAT,
            name_id = escape(&self.name_id),
        );
        if let Some(index) = &self.session_index {
            xml.push_str(&format!(
                "<samlp:SessionIndex>{}</samlp:SessionIndex>",
                escape(index)
            ));
        }
        xml.push_str("</samlp:LogoutRequest>");
        parse_str(&xml, &Limits::default())?;
        Ok(xml)
    }

    /// Signed for the HTTP-POST binding.
    pub fn sign(&self, key: &SigningKey) -> Result<String, LogoutError> {
        sign_after_issuer(&self.to_xml()?, key)
    }
}

impl LogoutResponse {
    /// A Success answer to the request `in_response_to`.
    pub fn success(
        sp_entity_id: &str,
        destination: &str,
        in_response_to: &str,
        now: DateTime<Utc>,
    ) -> LogoutResponse {
        LogoutResponse {
            id: new_message_id(),
            issue_instant: now,
            destination: destination.to_owned(),
            in_response_to: in_response_to.to_owned(),
            sp_entity_id: sp_entity_id.to_owned(),
            status: STATUS_SUCCESS.to_owned(),
        }
    }

    pub fn to_xml(&self) -> Result<String, LogoutError> {
        let entity = escape(&self.sp_entity_id);
        let xml = format!(
            concat!(
                r#"<samlp:LogoutResponse xmlns:samlp="{p}" xmlns:saml="{a}" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{destination}" InResponseTo="{irt}">"#,
                r#"<saml:Issuer NameQualifier="{entity}" Format="{entity_format}">{entity}</saml:Issuer>"#,
                r#"<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status></samlp:LogoutResponse>"#,
            ),
            p = PROTOCOL_NAMESPACE,
            a = ASSERTION_NAMESPACE,
            id = escape(&self.id),
            instant = format_instant(self.issue_instant),
            destination = escape(&self.destination),
            irt = escape(&self.in_response_to),
            entity = entity,
            entity_format = ENTITY_FORMAT,
            status = escape(&self.status),
        );
        parse_str(&xml, &Limits::default())?;
        Ok(xml)
    }

    /// Signed for the HTTP-POST binding.
    pub fn sign(&self, key: &SigningKey) -> Result<String, LogoutError> {
        sign_after_issuer(&self.to_xml()?, key)
    }
}

/// Signs a SAML protocol message enveloped, after its Issuer (its first child).
fn sign_after_issuer(xml: &str, key: &SigningKey) -> Result<String, LogoutError> {
    let doc = parse_str(xml, &Limits::default())?;
    let root = doc.document_element();
    let issuer = doc
        .child_elements(root)
        .next()
        .expect("the logout messages are written with the Issuer first");
    let options = SignaturePolicy::spid()
        .signing_options()
        .expect("the SPID policy allows signing");
    Ok(sign_enveloped(
        &doc,
        root,
        SignaturePlacement::After(issuer),
        &options,
        key,
    )?)
}

/// Reads a LogoutRequest or LogoutResponse from `doc`, whose signature the caller has verified.
pub fn read_logout(doc: &Document) -> Result<ReceivedLogout, LogoutError> {
    let root = doc.document_element();
    let name = doc
        .element(root)
        .expect("the document element is an element")
        .name();
    let issuer = |doc: &Document, root: NodeId| -> Result<String, LogoutError> {
        let node = child(doc, root, ASSERTION_NAMESPACE, "Issuer", Field::ResponseIssuer)?.ok_or(
            ResponseError::Missing {
                field: Field::ResponseIssuer,
            },
        )?;
        Ok(text(doc, node, Field::ResponseIssuer)?)
    };
    let destination = doc
        .element(root)
        .and_then(|e| e.attribute(None, "Destination"))
        .map(str::to_owned);
    if name.is(Some(PROTOCOL_NAMESPACE), "LogoutRequest") {
        let id = attribute(doc, root, "ID", Field::ResponseId)?.to_owned();
        let issuer = issuer(doc, root)?;
        let name_id = child(doc, root, ASSERTION_NAMESPACE, "NameID", Field::NameId)?
            .ok_or(ResponseError::Missing { field: Field::NameId })?;
        let name_id = text(doc, name_id, Field::NameId)?;
        let session_index = match child(doc, root, PROTOCOL_NAMESPACE, "SessionIndex", Field::SessionIndex)? {
            Some(node) => Some(text(doc, node, Field::SessionIndex)?),
            None => None,
        };
        Ok(ReceivedLogout::Request {
            id,
            issuer,
            destination,
            name_id,
            session_index,
        })
    } else if name.is(Some(PROTOCOL_NAMESPACE), "LogoutResponse") {
        let id = attribute(doc, root, "ID", Field::ResponseId)?.to_owned();
        let in_response_to = attribute(doc, root, "InResponseTo", Field::ResponseInResponseTo)?.to_owned();
        let issuer = issuer(doc, root)?;
        let status = child(doc, root, PROTOCOL_NAMESPACE, "Status", Field::Status)?
            .ok_or(ResponseError::Missing { field: Field::Status })?;
        let code = child(doc, status, PROTOCOL_NAMESPACE, "StatusCode", Field::StatusCode)?.ok_or(
            ResponseError::Missing {
                field: Field::StatusCode,
            },
        )?;
        let status = attribute(doc, code, "Value", Field::StatusCode)?.to_owned();
        Ok(ReceivedLogout::Response {
            id,
            issuer,
            in_response_to,
            destination,
            status,
        })
    } else {
        Err(LogoutError::NotALogoutMessage)
    }
}

//! The connector's side: every ANPR request leaves with the WS-Security header ANPR requires
//! (anpr-and-cie-booking.md §1.6; `soap-client-example/wsdl/policy-X509v3.xml`).
//!
//! Layout, in the order of the example client's traces (italia/anpr#1903, #2504) and the policy's
//! Strict layout (a token before the signature that uses it):
//!
//! ```text
//! wsse:Security  soap:mustUnderstand="1"
//!   wsu:Timestamp wsu:Id=TS-…           Created = now, Expires = now + 5 min (UTC, ms, Z)
//!   saml2:Assertion ID=_…               Issuer XS, NameID operator, bearer, attributes; enveloped
//!                                       signature with the comune's key (X509Certificate in KeyInfo)
//!   wsse:BinarySecurityToken wsu:Id=X509-…   the comune's certificate (IncludeToken AlwaysToRecipient)
//!   ds:Signature Id=SIG-…               over #TS-… and the Body's #id-…, exclusive c14n;
//!                                       KeyInfo/SecurityTokenReference/Reference URI=#X509-…
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::assertion::{escape, fresh_id, signed_assertion};
use super::envelope::{SOAP11_NAMESPACE, envelope_parts, security_headers};
use super::identity::{AnprIdentity, sign_workstation_id};
use super::time::{Millis, duration_millis, format, to_millis};
use super::{BASE64_ENCODING_TYPE, WSSE_NAMESPACE, WsSecurityError, X509V3_VALUE_TYPE};
use crate::dsig::serialize::{Insertion, write_with_insertion};
use crate::dsig::{
    DetachedPlacement, IdAttribute, SignaturePolicy, SigningKey, SigningOptions, WSU_NAMESPACE, sign_detached,
};
use crate::xml::{Document, Limits, NodeId, parse, parse_str};

/// ANPR's Timestamp and assertion validity (`SAML2CallbackHandler`: `now.plusMinutes(5)`).
pub const ANPR_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// Signs ANPR requests for one comune and workstation. Build once from configuration; `sign` is
/// called for every request.
#[derive(Debug, Clone)]
pub struct RequestSigner {
    message_options: SigningOptions,
    assertion_options: SigningOptions,
    comune: SigningKey,
    comune_der: Vec<u8>,
    workstation: SigningKey,
    identity: AnprIdentity,
    lifetime: Duration,
    limits: Limits,
    /// `IdPostazioneFirmato` and when it was made: it signs the same workstation id every time, so
    /// one CMS signature serves every request for one lifetime (its signing time never older than
    /// the assertion's own validity) instead of an RSA signature per request.
    firmato: Arc<Mutex<Option<(Millis, String)>>>,
}

impl RequestSigner {
    /// `policy` gives the algorithms (normally [`SignaturePolicy::anpr_ws_security`]: RSA-SHA1,
    /// SHA-1, exclusive c14n); `comune` signs the message and the assertion and must carry its
    /// certificate (it becomes the BinarySecurityToken); `workstation` signs `IdPostazioneFirmato`.
    pub fn new(
        policy: &SignaturePolicy,
        comune: SigningKey,
        workstation: SigningKey,
        identity: AnprIdentity,
    ) -> Result<RequestSigner, WsSecurityError> {
        let options = policy.signing_options().ok_or(WsSecurityError::Configuration {
            reason: "the signature policy allows no signature method, digest or canonicalization",
        })?;
        if !options_canonicalization_is_exclusive(policy) {
            // The assertion is signed on its own and then placed in the header: only exclusive
            // c14n makes its signature independent of the namespaces around it.
            return Err(WsSecurityError::Configuration {
                reason: "WS-Security signing needs exclusive canonicalization",
            });
        }
        let certificate = comune.certificate().ok_or(WsSecurityError::Configuration {
            reason: "the comune key has no certificate for the BinarySecurityToken",
        })?;
        let comune_der = certificate
            .to_der()
            .map_err(WsSecurityError::crypto("encoding the comune certificate"))?;
        if workstation.certificate().is_none() {
            return Err(WsSecurityError::Configuration {
                reason: "the workstation key has no certificate to put in IdPostazioneFirmato",
            });
        }
        Ok(RequestSigner {
            message_options: options.clone().with_certificate(false),
            assertion_options: options.with_certificate(true),
            comune,
            comune_der,
            workstation,
            identity,
            lifetime: ANPR_LIFETIME,
            limits: Limits::default(),
            firmato: Default::default(),
        })
    }

    /// `IdPostazioneFirmato` for a request signed at `now`: the one made within the last lifetime,
    /// or a new one.
    fn workstation_signature(&self, now: Millis, lifetime: Millis) -> Result<String, WsSecurityError> {
        // A poisoned lock only means another signing panicked; the cached value is still whole.
        let mut cached = self.firmato.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((made, firmato)) = cached.as_ref()
            && *made <= now
            && now - *made < lifetime
        {
            return Ok(firmato.clone());
        }
        let firmato = sign_workstation_id(&self.identity.id_postazione, &self.workstation)?;
        *cached = Some((now, firmato.clone()));
        Ok(firmato)
    }

    /// Another validity for the Timestamp and the assertion than ANPR's 5 minutes.
    pub fn with_lifetime(mut self, lifetime: Duration) -> RequestSigner {
        self.lifetime = lifetime;
        self
    }

    /// Parsing limits for the envelope handed to [`RequestSigner::sign`].
    pub fn with_limits(mut self, limits: Limits) -> RequestSigner {
        self.limits = limits;
        self
    }

    pub fn identity(&self) -> &AnprIdentity {
        &self.identity
    }

    /// The SOAP 1.1 `envelope` (Body written, no Security header yet) with the WS-Security header
    /// added and signed at `now`. The Body keeps its `wsu:Id` if it has one, or gets a fresh one.
    pub fn sign(&self, envelope: &[u8], now: SystemTime) -> Result<String, WsSecurityError> {
        let now = to_millis(now);
        let lifetime = duration_millis(self.lifetime);
        let doc = parse(envelope, &self.limits)?;
        let parts = envelope_parts(&doc)?;
        if let Some(header) = parts.header
            && !security_headers(&doc, header).is_empty()
        {
            return Err(WsSecurityError::Configuration {
                reason: "the envelope already carries a wsse:Security header",
            });
        }

        // 1. The Body gets its wsu:Id (the serializer writes the start tag's `>` right before the
        //    point where a first child would be inserted).
        let doc = match body_id(&doc, parts.body) {
            Some(Some(_)) => doc,
            Some(None) => {
                return Err(WsSecurityError::Configuration {
                    reason: "the Body's wsu:Id is not an NCName",
                });
            }
            None => {
                let (mut text, at) = write_with_insertion(
                    &doc,
                    &Insertion {
                        parent: parts.body,
                        before: doc.first_child(parts.body),
                        fragment: "",
                    },
                );
                let id = fresh_id("id-")?;
                text.insert_str(at - 1, &format!(" xmlns:wsu=\"{WSU_NAMESPACE}\" wsu:Id=\"{id}\""));
                parse_str(&text, &self.limits_for(&doc))?
            }
        };

        // 2. The Security header with Timestamp, signed assertion and token.
        let timestamp_id = fresh_id("TS-")?;
        let token_id = fresh_id("X509-")?;
        let firmato = self.workstation_signature(now, lifetime)?;
        let assertion = signed_assertion(
            &self.identity,
            &firmato,
            now,
            lifetime,
            &self.assertion_options,
            &self.comune,
        )?;
        let parts = envelope_parts(&doc)?;
        let soap = soap_prefix(&doc, parts.header.unwrap_or(parts.envelope));
        let (declare_soap, soap_prefix) = match soap {
            Some(p) => (String::new(), p),
            None => (format!(" xmlns:S11=\"{SOAP11_NAMESPACE}\""), "S11".to_owned()),
        };
        let security = format!(
            "<wsse:Security xmlns:wsse=\"{WSSE_NAMESPACE}\" xmlns:wsu=\"{WSU_NAMESPACE}\"{declare_soap} \
             {soap_prefix}:mustUnderstand=\"1\">\
             <wsu:Timestamp wsu:Id=\"{timestamp_id}\"><wsu:Created>{}</wsu:Created><wsu:Expires>{}</wsu:Expires>\
             </wsu:Timestamp>{assertion}\
             <wsse:BinarySecurityToken EncodingType=\"{BASE64_ENCODING_TYPE}\" ValueType=\"{X509V3_VALUE_TYPE}\" \
             wsu:Id=\"{token_id}\">{}</wsse:BinarySecurityToken></wsse:Security>",
            format(now),
            format(now + lifetime),
            openssl::base64::encode_block(&self.comune_der),
        );
        let (text, _) = match parts.header {
            Some(header) => write_with_insertion(
                &doc,
                &Insertion {
                    parent: header,
                    before: doc.first_child(header),
                    fragment: &security,
                },
            ),
            None => {
                let header = format!("<{soap_prefix}:Header{declare_soap}>{security}</{soap_prefix}:Header>");
                write_with_insertion(
                    &doc,
                    &Insertion {
                        parent: parts.envelope,
                        before: Some(parts.body),
                        fragment: &header,
                    },
                )
            }
        };
        let doc = parse_str(&text, &self.limits_for(&doc))?;

        // 3. The message signature over Timestamp and Body, appended to the Security header.
        let parts = envelope_parts(&doc)?;
        let header = parts.header.ok_or(WsSecurityError::MissingSecurityHeader)?;
        let security = *security_headers(&doc, header)
            .first()
            .ok_or(WsSecurityError::MissingSecurityHeader)?;
        let timestamp = doc
            .child_elements(security)
            .next()
            .ok_or(WsSecurityError::MissingSecurityHeader)?;
        let signature_id = fresh_id("SIG-")?;
        let key_info_id = fresh_id("KI-")?;
        let key_info = format!(
            "<wsse:SecurityTokenReference wsu:Id=\"{}\"><wsse:Reference URI=\"#{token_id}\" \
             ValueType=\"{X509V3_VALUE_TYPE}\"/></wsse:SecurityTokenReference>",
            escape(&fresh_id("STR-")?)
        );
        sign_detached(
            &doc,
            &[timestamp, parts.body],
            &DetachedPlacement {
                parent: security,
                before: None,
                signature_id: Some(&signature_id),
                key_info_id: Some(&key_info_id),
                key_info: Some(&key_info),
            },
            &self.message_options,
            &self.comune,
        )
        .map_err(WsSecurityError::Signing)
    }

    /// Our own intermediate texts grow by the header: the caller's limits, with room for it.
    fn limits_for(&self, doc: &Document) -> Limits {
        Limits {
            max_document_bytes: self.limits.max_document_bytes.saturating_add(64 << 10),
            max_nodes: self.limits.max_nodes.max(doc.len()).saturating_add(256),
            ..self.limits
        }
    }
}

fn options_canonicalization_is_exclusive(policy: &SignaturePolicy) -> bool {
    policy
        .canonicalization_methods()
        .first()
        .is_some_and(|a| a.is_exclusive())
}

/// The Body's `wsu:Id`: `None` when absent, `Some(None)` when present but unusable.
fn body_id(doc: &Document, body: NodeId) -> Option<Option<&str>> {
    let id = doc
        .element(body)?
        .attribute(IdAttribute::WSU_ID.namespace(), IdAttribute::WSU_ID.local_name())?;
    Some(Some(id).filter(|id| crate::xml::chars::is_ncname(id)))
}

/// A prefix bound to the SOAP 1.1 namespace at `node`, for `mustUnderstand`.
fn soap_prefix(doc: &Document, node: NodeId) -> Option<String> {
    let envelope = doc.element(doc.document_element())?;
    let prefix = envelope.name().prefix()?;
    (doc.lookup_namespace(node, Some(prefix)) == Some(SOAP11_NAMESPACE)).then(|| prefix.to_owned())
}

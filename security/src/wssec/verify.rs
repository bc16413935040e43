//! The simulator's side: what ANPR checks before it reads a request.
//!
//! Order: the SOAP frame and the one Security header (by absolute path), the Timestamp's freshness
//! (cheap, and refuses replays before any cryptography), the message signature with the key its
//! SecurityTokenReference selects among the trusted ones, that the signature covers *the* Body and
//! *the* Timestamp (node identity, so a signed copy moved elsewhere does not count), then the SAML
//! assertion's enveloped signature and its attributes, read from the verified element only.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use openssl::x509::X509;

use super::assertion::read_assertion;
use super::envelope::{element_children, envelope_parts, is, only_child, security_headers};
use super::identity::{AnprAttributes, verify_workstation_id};
use super::time::{Millis, duration_millis, format, from_millis, parse, to_millis};
use super::token::resolve_token;
use super::{SAML2_NAMESPACE, WSSE_NAMESPACE, WsSecurityError};
use crate::dsig::{
    DSIG_NAMESPACE, SignaturePolicy, TrustedKeys, WSU_NAMESPACE, signature_children,
    verify_detached_signature, verify_enveloped_signature,
};
use crate::xml::{Document, Limits, NodeId};

/// How a request is verified: policy, trusted keys, clock tolerance. Build once, share.
#[derive(Debug, Clone)]
pub struct RequestVerifier {
    policy: SignaturePolicy,
    message_keys: TrustedKeys,
    assertion_keys: TrustedKeys,
    workstations: Option<Vec<X509>>,
    /// `(IdPostazioneFirmato, IdPostazione)` pairs that verified against `workstations`. A client
    /// sends the same CMS for many requests (it signs a constant), and decoding and checking it
    /// again each time costs more than the rest of the header; the answer cannot change while the
    /// workstations stay the same, so a pair verified once is accepted as verified. Bounded by
    /// [`VERIFIED_WORKSTATION_IDS`], forgotten when full.
    /// Keyed by the CMS, so that a request's lookup borrows its strings instead of copying them.
    verified_workstation_ids: Arc<Mutex<HashMap<String, HashSet<String>>>>,
    max_skew: Duration,
    max_lifetime: Duration,
    limits: Limits,
}

/// How many verified `IdPostazioneFirmato` a verifier remembers: several per workstation (one per
/// signer lifetime), for far more workstations than one simulator serves.
const VERIFIED_WORKSTATION_IDS: usize = 1024;

/// A request whose WS-Security header verified: the nodes of the caller's [`Document`] that were
/// signed, and what the assertion says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    body: NodeId,
    timestamp: NodeId,
    assertion: NodeId,
    created: SystemTime,
    expires: SystemTime,
    message_key: usize,
    assertion_key: usize,
    attributes: AnprAttributes,
}

impl VerifiedRequest {
    /// The Envelope's Body, covered by the message signature: the only node to read the request from.
    pub fn body(&self) -> NodeId {
        self.body
    }
    /// The Security header's Timestamp, covered by the message signature.
    pub fn timestamp(&self) -> NodeId {
        self.timestamp
    }
    /// The SAML assertion, covered by its own signature.
    pub fn assertion(&self) -> NodeId {
        self.assertion
    }
    pub fn created(&self) -> SystemTime {
        self.created
    }
    pub fn expires(&self) -> SystemTime {
        self.expires
    }
    /// Index, in the message keys, of the certificate that signed the message.
    pub fn message_key(&self) -> usize {
        self.message_key
    }
    /// Index, in the assertion keys, of the certificate that signed the assertion.
    pub fn assertion_key(&self) -> usize {
        self.assertion_key
    }
    pub fn attributes(&self) -> &AnprAttributes {
        &self.attributes
    }
}

impl RequestVerifier {
    /// Messages signed with one of `message_keys`, assertions with one of `assertion_keys` (for ANPR
    /// both are the comuni's certificates), algorithms as `policy` allows (normally
    /// [`SignaturePolicy::anpr_ws_security`]). Clock skew 60 s, Timestamp lifetime at most 5 min.
    pub fn new(
        policy: SignaturePolicy,
        message_keys: TrustedKeys,
        assertion_keys: TrustedKeys,
    ) -> RequestVerifier {
        RequestVerifier {
            policy,
            message_keys,
            assertion_keys,
            workstations: None,
            verified_workstation_ids: Default::default(),
            max_skew: Duration::from_secs(60),
            max_lifetime: super::sign::ANPR_LIFETIME,
            limits: Limits::default(),
        }
    }

    /// Also checks `IdPostazioneFirmato`: signed by one of these workstation certificates, over the
    /// `IdPostazione` attribute.
    pub fn with_workstations(mut self, certificates: Vec<X509>) -> RequestVerifier {
        self.workstations = Some(certificates);
        // What verified against other certificates proves nothing against these.
        self.verified_workstation_ids = Default::default();
        self
    }

    pub fn with_max_skew(mut self, skew: Duration) -> RequestVerifier {
        self.max_skew = skew;
        self
    }

    pub fn with_max_lifetime(mut self, lifetime: Duration) -> RequestVerifier {
        self.max_lifetime = lifetime;
        self
    }

    pub fn with_limits(mut self, limits: Limits) -> RequestVerifier {
        self.limits = limits;
        self
    }

    /// Parses `bytes` with the crate's screening parser and verifies them; the Document is returned
    /// so the caller reads the request from the verified Body of this very tree.
    pub fn parse_and_verify(
        &self,
        bytes: &[u8],
        now: SystemTime,
    ) -> Result<(Document, VerifiedRequest), WsSecurityError> {
        let doc = crate::xml::parse(bytes, &self.limits)?;
        let verified = self.verify(&doc, now)?;
        Ok((doc, verified))
    }

    /// Verifies the WS-Security header of a parsed request at `now`.
    pub fn verify(&self, doc: &Document, now: SystemTime) -> Result<VerifiedRequest, WsSecurityError> {
        let now = to_millis(now);
        let skew = duration_millis(self.max_skew);
        let parts = envelope_parts(doc)?;
        let header = parts.header.ok_or(WsSecurityError::MissingSecurityHeader)?;
        let security = match security_headers(doc, header)[..] {
            [one] => one,
            [] => return Err(WsSecurityError::MissingSecurityHeader),
            ref many => return Err(WsSecurityError::DuplicateSecurityHeader { count: many.len() }),
        };
        let content = SecurityContent::read(doc, security)?;

        let (created, expires) = self.check_timestamp(doc, content.timestamp, now, skew)?;

        let message_key = resolve_token(doc, security, content.signature, &self.message_keys)?;
        let selected = self
            .message_keys
            .get(message_key)
            .map(|k| TrustedKeys::from_certificates([k.certificate().clone()]))
            .ok_or(WsSecurityError::MissingTokenReference)?
            .map_err(WsSecurityError::MessageSignature)?;
        let verified = verify_detached_signature(doc, content.signature, &self.policy, &selected)
            .map_err(WsSecurityError::MessageSignature)?;
        let covers = |node| verified.references().iter().any(|r| r.element() == node);
        if !covers(parts.body) {
            return Err(WsSecurityError::BodyNotSigned);
        }
        if !covers(content.timestamp) {
            return Err(WsSecurityError::TimestampNotSigned);
        }
        // Tokens of this header may be signed too (some stacks sign the BinarySecurityToken);
        // nothing else is part of the request.
        if let Some(other) = verified.references().iter().find(|r| {
            let element = r.element();
            element != parts.body && element != content.timestamp && doc.parent(element) != Some(security)
        }) {
            return Err(WsSecurityError::UnexpectedReference {
                reference: format!("#{}", crate::dsig::shown(other.id())),
            });
        }

        let assertion_signature = match signature_children(doc, content.assertion)[..] {
            [one] => one,
            ref other => return Err(WsSecurityError::AssertionSignatureCount { count: other.len() }),
        };
        let assertion_verified =
            verify_enveloped_signature(doc, assertion_signature, &self.policy, &self.assertion_keys)
                .map_err(WsSecurityError::AssertionSignature)?;
        let attributes = read_assertion(doc, assertion_verified.signed_element(), now, skew)?;
        if let Some(workstations) = &self.workstations {
            self.verify_workstation_id_once(
                &attributes.id_postazione_firmato,
                &attributes.id_postazione,
                workstations,
            )?;
        }

        Ok(VerifiedRequest {
            body: parts.body,
            timestamp: content.timestamp,
            assertion: content.assertion,
            created: from_millis(created),
            expires: from_millis(expires),
            message_key,
            assertion_key: assertion_verified.trusted_key(),
            attributes,
        })
    }

    /// [`verify_workstation_id`], unless this very pair verified before.
    fn verify_workstation_id_once(
        &self,
        firmato: &str,
        id_postazione: &str,
        workstations: &[X509],
    ) -> Result<(), WsSecurityError> {
        // A poisoned lock only means another verification panicked; the map is still whole.
        if self
            .verified_workstation_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(firmato)
            .is_some_and(|ids| ids.contains(id_postazione))
        {
            return Ok(());
        }
        verify_workstation_id(firmato, id_postazione, workstations)?;
        let mut verified = self
            .verified_workstation_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_WORKSTATION_IDS {
            verified.clear();
        }
        verified
            .entry(firmato.to_owned())
            .or_default()
            .insert(id_postazione.to_owned());
        Ok(())
    }

    /// WSS 1.0 §10: Created and Expires, each once, with a time zone; Created ≤ now + skew,
    /// Expires > now − skew, and a lifetime within the configured bound.
    fn check_timestamp(
        &self,
        doc: &Document,
        timestamp: NodeId,
        now: Millis,
        skew: Millis,
    ) -> Result<(Millis, Millis), WsSecurityError> {
        let malformed = |reason| WsSecurityError::TimestampMalformed { reason };
        let children =
            element_children(doc, timestamp).ok_or(malformed("character data between elements"))?;
        let created =
            only_child(doc, timestamp, WSU_NAMESPACE, "Created").ok_or(malformed("no single Created"))?;
        let expires =
            only_child(doc, timestamp, WSU_NAMESPACE, "Expires").ok_or(malformed("no single Expires"))?;
        if children != [created, expires] {
            return Err(malformed("children must be exactly Created then Expires"));
        }
        let created = parse(&doc.text_content(created))
            .ok_or(malformed("Created is not an xs:dateTime with a time zone"))?;
        let expires = parse(&doc.text_content(expires))
            .ok_or(malformed("Expires is not an xs:dateTime with a time zone"))?;
        if created > now + skew {
            return Err(WsSecurityError::TimestampInFuture {
                created: format(created),
                now: format(now),
                skew_ms: skew,
            });
        }
        if expires <= now - skew {
            return Err(WsSecurityError::TimestampExpired {
                expires: format(expires),
                now: format(now),
                skew_ms: skew,
            });
        }
        let max = duration_millis(self.max_lifetime);
        if expires <= created || expires - created > max {
            return Err(WsSecurityError::TimestampLifetime {
                lifetime_ms: expires - created,
                max_ms: max,
            });
        }
        Ok((created, expires))
    }
}

/// The Security header's children, each kind counted: exactly one Timestamp, Assertion and
/// Signature; any number of BinarySecurityTokens; nothing else.
struct SecurityContent {
    timestamp: NodeId,
    assertion: NodeId,
    signature: NodeId,
}

impl SecurityContent {
    fn read(doc: &Document, security: NodeId) -> Result<SecurityContent, WsSecurityError> {
        let children = element_children(doc, security).ok_or(WsSecurityError::UnexpectedSecurityElement {
            element: "character data".to_owned(),
        })?;
        let (mut timestamps, mut assertions, mut signatures) = (Vec::new(), Vec::new(), Vec::new());
        for child in children {
            if is(doc, child, WSU_NAMESPACE, "Timestamp") {
                timestamps.push(child);
            } else if is(doc, child, SAML2_NAMESPACE, "Assertion") {
                assertions.push(child);
            } else if is(doc, child, DSIG_NAMESPACE, "Signature") {
                signatures.push(child);
            } else if !is(doc, child, WSSE_NAMESPACE, "BinarySecurityToken") {
                return Err(WsSecurityError::UnexpectedSecurityElement {
                    element: doc
                        .element(child)
                        .map(|e| e.name().qualified())
                        .unwrap_or_default(),
                });
            }
        }
        let one = |found: Vec<NodeId>, element| match found[..] {
            [one] => Ok(one),
            _ => Err(WsSecurityError::SecurityElementCount {
                element,
                count: found.len(),
            }),
        };
        Ok(SecurityContent {
            timestamp: one(timestamps, "wsu:Timestamp")?,
            assertion: one(assertions, "saml2:Assertion")?,
            signature: one(signatures, "ds:Signature")?,
        })
    }
}

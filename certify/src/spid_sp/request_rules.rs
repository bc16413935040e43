//! The AuthnRequest of a login judged rule by rule, one case each: what the SPID technical rules (and
//! their Avvisi) and CIE ID's variant ask of the request an SP sends its IdP (spid-and-cie-id.md §1.1,
//! §4.1). The IdP simulator's own judge refuses a request at its signature and lists the other
//! problems in one line; a vendor fixing an SP needs each rule passed or failed on its own, and every
//! rule judged even when the signature is wrong. So the message is read here without trusting it (it
//! is the SP's own output under test, never acted upon), the signature is one case among the others,
//! and each rule reads only what it is about: a defect fails exactly its case.

use chrono::{DateTime, TimeDelta, Utc};
use snodo_security::dsig::{SignaturePolicy, signature_children, verify_enveloped_signature};
use snodo_security::saml::redirect::{self, RedirectLimits};
use snodo_security::saml::{
    ASSERTION_NAMESPACE, ENTITY_FORMAT, HTTP_POST_BINDING, PROTOCOL_NAMESPACE, SpidLevel, TRANSIENT_FORMAT,
    parse_instant,
};
use snodo_security::xml::{Document, Limits, NodeId, parse};
use snodo_simulators::identity::request::{decode_base64, order_problem};
use snodo_simulators::identity::xsd::ProtocolSchema;
use snodo_simulators::identity::{Binding, Profile, ServiceProvider};

use super::target::CaughtRequest;
use crate::case::CaseInfo;
use crate::outcome::Outcome;

pub const SIGNATURE: &str = "authn-request-signature";
pub const ID: &str = "authn-request-id";
pub const VERSION: &str = "authn-request-version";
pub const ISSUE_INSTANT: &str = "authn-request-issue-instant";
pub const DESTINATION: &str = "authn-request-destination";
pub const ISSUER: &str = "authn-request-issuer";
pub const FORCE_AUTHN: &str = "authn-request-force-authn";
pub const ACS: &str = "authn-request-acs";
pub const ATTRIBUTE_CONSUMING_SERVICE: &str = "authn-request-attribute-consuming-service";
pub const NAME_ID_POLICY: &str = "authn-request-name-id-policy";
pub const AUTHN_CONTEXT: &str = "authn-request-authn-context";
pub const OPTIONAL_PARTS: &str = "authn-request-optional-parts";
pub const RELAY_STATE: &str = "authn-request-relay-state";
pub const SCHEMA: &str = "authn-request-schema";

/// How far IssueInstant may be from the suite's clock: the IdP simulator's window, spid-testenv2's.
const ISSUE_WINDOW: TimeDelta = TimeDelta::minutes(2);
/// SAML core §1.3.4: a unique identifier carries at least 128 bits; no encoding packs those in
/// fewer than 16 characters.
const MIN_ID_CHARS: usize = 16;
const UNSPECIFIED_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

const RULES: &str = "SPID technical rules, AuthnRequest (spid-and-cie-id.md §1.1)";
const CIE_RULES: &str = "CIE ID: spid-and-cie-id.md §4.1";

/// The catalogue's AuthnRequest rule cases, in the order a request is read.
pub fn cases() -> Vec<CaseInfo> {
    let case = |id: &str, description: &str, rule: &str, source: String| {
        CaseInfo::new(id, description, rule, source)
    };
    vec![
        case(
            SIGNATURE,
            "the AuthnRequest is signed with the certificate of the SP metadata",
            "HTTP-Redirect: SigAlg (RSA-SHA256/384/512 or ECDSA-SHA256, never SHA-1) and Signature over \
             SAMLRequest, RelayState and SigAlg as received; HTTP-POST: exactly one enveloped ds:Signature \
             covering the AuthnRequest (SHA-256 or better); in both, verifying with a KeyDescriptor \
             certificate of the SP metadata",
            format!("{RULES}, Signature; SAML bindings §3.4.4.1; spid-sp-test authn_request.py"),
        ),
        case(
            ID,
            "ID is an xs:ID long enough to be unique",
            "present, an NCName (no leading digit, no colon) of at least 16 characters (128 random bits)",
            format!("{RULES}, ID; SAML core §1.3.4; saml-schema-protocol-2.0.xsd"),
        ),
        case(
            VERSION,
            "Version is 2.0",
            "Version=\"2.0\"",
            format!("{RULES}, Version"),
        ),
        case(
            ISSUE_INSTANT,
            "IssueInstant is a fresh UTC instant",
            "a UTC xs:dateTime (…Z), within 2 minutes of the IdP's clock",
            format!("{RULES}, IssueInstant; spid-testenv2 (±2 minutes)"),
        ),
        case(
            DESTINATION,
            "Destination names the IdP the request is sent to",
            "SPID: the IdP's SSO Location or its entity ID (Avviso 11); CIE ID: the SSO Location of the binding \
             used",
            format!("{RULES}, Destination; {CIE_RULES}"),
        ),
        case(
            ISSUER,
            "Issuer is the SP entity ID, with Format entity and NameQualifier",
            "exactly one saml:Issuer whose text is the metadata's entityID; SPID: Format \
             urn:oasis:names:tc:SAML:2.0:nameid-format:entity and NameQualifier the entity ID; CIE ID: both \
             optional, those values when present",
            format!("{RULES}, Issuer; {CIE_RULES}"),
        ),
        case(
            FORCE_AUTHN,
            "ForceAuthn is true when the level asked is above SpidL1",
            "SPID: ForceAuthn=\"true\" (or 1) with SpidL2 and SpidL3; CIE ID: always",
            format!("{RULES}, ForceAuthn; {CIE_RULES}"),
        ),
        case(
            ACS,
            "the Response's destination is one AssertionConsumerService of the metadata",
            "AssertionConsumerServiceIndex naming an HTTP-POST AssertionConsumerService of the metadata, or \
             (discouraged) AssertionConsumerServiceURL equal to one's Location with ProtocolBinding HTTP-POST; \
             not both",
            format!("{RULES}, AssertionConsumerServiceIndex/URL"),
        ),
        case(
            ATTRIBUTE_CONSUMING_SERVICE,
            "AttributeConsumingServiceIndex names an attribute set of the metadata",
            "present, the index of an AttributeConsumingService of the SP metadata",
            format!("{RULES}, AttributeConsumingServiceIndex; spid-sp-test (mandatory)"),
        ),
        case(
            NAME_ID_POLICY,
            "NameIDPolicy asks a transient NameID without AllowCreate",
            "one samlp:NameIDPolicy with Format urn:oasis:names:tc:SAML:2.0:nameid-format:transient and no \
             AllowCreate",
            format!("{RULES}, NameIDPolicy; Avviso SPID n.5 (AllowCreate)"),
        ),
        case(
            AUTHN_CONTEXT,
            "RequestedAuthnContext asks one SPID level with an allowed Comparison",
            "exactly one RequestedAuthnContext with Comparison present (SPID: exact, minimum, better or maximum; \
             CIE ID: exact for SpidL3, minimum) and exactly one AuthnContextClassRef \
             https://www.spid.gov.it/SpidL1, SpidL2 or SpidL3",
            format!("{RULES}, RequestedAuthnContext; {CIE_RULES}"),
        ),
        case(
            OPTIONAL_PARTS,
            "no IsPassive, no Scoping; Subject and Conditions in SPID's form when present",
            "IsPassive and Scoping absent; a Subject holds one NameID with Format \
             urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified and a NameQualifier; Conditions have \
             NotBefore and NotOnOrAfter as UTC instants",
            format!("{RULES}, IsPassive, Subject, Conditions, Scoping"),
        ),
        case(
            RELAY_STATE,
            "RelayState is present and does not reveal the resource asked",
            "a RelayState travels with the request and contains no URL",
            format!("{RULES}, RelayState (\"non immediatamente intelligibile\"); spid-sp-test (mandatory)"),
        ),
        case(
            SCHEMA,
            "the AuthnRequest is valid against the SAML protocol schema",
            "a samlp:AuthnRequest valid against saml-schema-protocol-2.0.xsd, children in the schema's order \
             (Issuer, Signature, Extensions, Subject, NameIDPolicy, Conditions, RequestedAuthnContext, Scoping)",
            "saml-schema-protocol-2.0.xsd; spid-sp-test authn_request.py (XSD)".to_owned(),
        ),
    ]
}

/// The AuthnRequest of one login as the suite caught it: read, not trusted.
pub struct ReadRequest {
    binding: Binding,
    /// The message, or why it is no XML message.
    document: Result<Document, String>,
    relay_state: Option<String>,
    /// What verified the signature, or why it did not.
    signature: Result<String, String>,
}

/// What the rules compare the request with.
pub struct Judging<'a> {
    pub profile: Profile,
    pub idp_entity_id: &'a str,
    /// The suite IdP's SSO Location of the binding the request used.
    pub sso_url: &'a str,
    pub now: DateTime<Utc>,
    /// The SP as its metadata registers it, or why the metadata was refused.
    pub sp: Result<&'a ServiceProvider, &'a str>,
    pub schema: &'a ProtocolSchema,
}

impl ReadRequest {
    /// Decodes the caught request and verifies its signature with the metadata's keys (when the
    /// metadata was accepted).
    pub fn read(caught: &CaughtRequest, sp: Result<&ServiceProvider, &str>) -> ReadRequest {
        let limits = RedirectLimits::default();
        match caught {
            CaughtRequest::Redirect { query } => {
                let parameter = |name: &str| {
                    query
                        .split('&')
                        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
                };
                let document = parameter("SAMLRequest")
                    .ok_or_else(|| "the redirect's query has no SAMLRequest".to_owned())
                    .and_then(|raw| {
                        let base64 = redirect::url_decode(raw, "SAMLRequest").map_err(|e| e.to_string())?;
                        let deflated = decode_base64(&base64).ok_or("SAMLRequest is not base64")?;
                        let xml = redirect::inflate(&deflated, limits.max_inflated_bytes, "SAMLRequest")
                            .map_err(|e| e.to_string())?;
                        parse(&xml, &limits.xml).map_err(|e| format!("SAMLRequest is no XML message: {e}"))
                    });
                let relay_state = parameter("RelayState")
                    .map(|r| redirect::url_decode(r, "RelayState").unwrap_or_else(|_| r.to_owned()));
                let signature = sp.map_err(metadata_refused).and_then(|sp| {
                    redirect::verify(query, &redirect::spid_sig_algs(), &sp.keys, &limits)
                        .map(|message| {
                            format!(
                                "query signature {} verified with the SP metadata's certificate",
                                message.signature_method.name()
                            )
                        })
                        .map_err(|e| format!("the HTTP-Redirect query signature is refused: {e}"))
                });
                ReadRequest {
                    binding: Binding::Redirect,
                    document,
                    relay_state,
                    signature,
                }
            }
            CaughtRequest::Post {
                saml_request,
                relay_state,
            } => {
                let document = decode_base64(saml_request)
                    .ok_or_else(|| "SAMLRequest is not base64".to_owned())
                    .and_then(|xml| {
                        parse(&xml, &Limits::default())
                            .map_err(|e| format!("SAMLRequest is no XML message: {e}"))
                    });
                let signature = match (&document, sp) {
                    (Err(e), _) => Err(format!("no signature can be read: {e}")),
                    (Ok(_), Err(e)) => Err(metadata_refused(e)),
                    (Ok(doc), Ok(sp)) => enveloped_signature(doc, sp),
                };
                ReadRequest {
                    binding: Binding::Post,
                    document,
                    relay_state: relay_state.clone(),
                    signature,
                }
            }
        }
    }

    pub fn binding(&self) -> Binding {
        self.binding
    }

    /// The request's ID, when the message is an XML document with a non-empty one.
    pub fn id(&self) -> Option<String> {
        let doc = self.document.as_ref().ok()?;
        let id = doc.element(doc.document_element())?.attribute(None, "ID")?;
        (!id.is_empty()).then(|| id.to_owned())
    }

    /// The outcome of rule case `id`.
    pub fn judge(&self, id: &str, judging: &Judging<'_>) -> Outcome {
        if id == SIGNATURE {
            return match &self.signature {
                Ok(observed) => Outcome::pass(observed.clone()),
                Err(reason) if judging.sp.is_err() => Outcome::error(reason.clone()),
                Err(reason) => Outcome::fail(reason.clone()),
            };
        }
        if id == RELAY_STATE {
            return relay_state(self.relay_state.as_deref());
        }
        let doc = match &self.document {
            Ok(doc) => doc,
            // The schema case is the one a message that is no XML breaks; the others cannot be judged.
            Err(e) if id == SCHEMA => return Outcome::fail(e.clone()),
            Err(e) => return Outcome::error(format!("the AuthnRequest could not be read: {e}")),
        };
        let root = doc.document_element();
        if id == SCHEMA {
            return schema(doc, judging.schema);
        }
        if !is(doc, root, PROTOCOL_NAMESPACE, "AuthnRequest") {
            return Outcome::error(format!("the message is not a samlp:AuthnRequest (see {SCHEMA})"));
        }
        let request = Request { doc, root };
        let cie = judging.profile == Profile::Cie;
        match id {
            ID => request.id(),
            VERSION => request.version(),
            ISSUE_INSTANT => request.issue_instant(judging.now),
            DESTINATION => request.destination(judging, cie),
            ISSUER | ACS | ATTRIBUTE_CONSUMING_SERVICE => {
                let sp = match judging.sp {
                    Ok(sp) => sp,
                    Err(e) => return Outcome::error(metadata_refused(e)),
                };
                match id {
                    ISSUER => request.issuer(sp, cie),
                    ACS => request.acs(sp),
                    _ => request.attribute_consuming_service(sp),
                }
            }
            FORCE_AUTHN => request.force_authn(cie),
            NAME_ID_POLICY => request.name_id_policy(),
            AUTHN_CONTEXT => request.authn_context(cie),
            OPTIONAL_PARTS => request.optional_parts(),
            _ => Outcome::error(format!("no AuthnRequest rule is named {id}")),
        }
    }
}

fn metadata_refused(reason: &str) -> String {
    format!("the SP metadata was refused, so the request cannot be compared with it: {reason}")
}

fn enveloped_signature(doc: &Document, sp: &ServiceProvider) -> Result<String, String> {
    let root = doc.document_element();
    let [signature] = signature_children(doc, root)[..] else {
        return Err(format!(
            "an HTTP-POST AuthnRequest carries exactly one enveloped ds:Signature, found {}",
            signature_children(doc, root).len()
        ));
    };
    let verified = verify_enveloped_signature(doc, signature, &SignaturePolicy::spid(), &sp.keys)
        .map_err(|e| format!("the enveloped signature is refused with the SP metadata's certificate: {e}"))?;
    if verified.signed_element() != root {
        return Err("the enveloped signature does not cover the AuthnRequest".into());
    }
    Ok(format!(
        "enveloped {} signature over the AuthnRequest verified with the SP metadata's certificate",
        verified.signature_method().name()
    ))
}

fn relay_state(relay_state: Option<&str>) -> Outcome {
    match relay_state {
        None => Outcome::fail("no RelayState travels with the request"),
        Some("") => Outcome::fail("the RelayState is empty"),
        Some(r) if r.to_ascii_lowercase().contains("http") => Outcome::fail(format!(
            "the RelayState {r:?} contains a URL: it must not make the requested resource evident"
        )),
        Some(r) => Outcome::pass(format!("RelayState of {} characters, no URL", r.chars().count())),
    }
}

/// The protocol schema, then the children's order (which names the misplaced element plainly).
fn schema(doc: &Document, schema: &ProtocolSchema) -> Outcome {
    let root = doc.document_element();
    if !is(doc, root, PROTOCOL_NAMESPACE, "AuthnRequest") {
        let name = doc
            .element(root)
            .map(|e| e.name().qualified())
            .unwrap_or_default();
        return Outcome::fail(format!("the message is a {name}, not a samlp:AuthnRequest"));
    }
    let mut problems: Vec<String> = schema.problems(doc).into_iter().map(|p| p.detail).collect();
    if let Some(order) = order_problem(doc, root) {
        problems.push(order);
    }
    if problems.is_empty() {
        Outcome::pass("valid against saml-schema-protocol-2.0.xsd, children in the schema's order")
    } else {
        Outcome::fail(problems.join("; "))
    }
}

/// The request's document element and the readers the rules share.
struct Request<'d> {
    doc: &'d Document,
    root: NodeId,
}

impl<'d> Request<'d> {
    fn attr(&self, node: NodeId, name: &str) -> Option<&'d str> {
        self.doc.element(node).and_then(|e| e.attribute(None, name))
    }

    fn children(&self, parent: NodeId, namespace: &'d str, local: &'d str) -> Vec<NodeId> {
        self.doc
            .child_elements(parent)
            .filter(|&c| is(self.doc, c, namespace, local))
            .collect()
    }

    /// The level the request asks, when it is readable.
    fn level(&self) -> Option<SpidLevel> {
        let [context] = self.children(self.root, PROTOCOL_NAMESPACE, "RequestedAuthnContext")[..] else {
            return None;
        };
        let [class] = self.children(context, ASSERTION_NAMESPACE, "AuthnContextClassRef")[..] else {
            return None;
        };
        SpidLevel::from_uri(self.doc.text_content(class).trim())
    }

    fn id(&self) -> Outcome {
        match self.attr(self.root, "ID") {
            None | Some("") => Outcome::fail("ID is missing or empty"),
            Some(id) if !is_ncname(id) => Outcome::fail(format!(
                "ID {id:?} is not an NCName (xs:ID: a letter or _ first, no colon)"
            )),
            Some(id) if id.chars().count() < MIN_ID_CHARS => Outcome::fail(format!(
                "ID {id:?} has {} characters: too few to carry the 128 random bits that keep it unique \
                 (at least {MIN_ID_CHARS})",
                id.chars().count()
            )),
            Some(id) => Outcome::pass(format!("ID {id}")),
        }
    }

    fn version(&self) -> Outcome {
        match self.attr(self.root, "Version") {
            Some("2.0") => Outcome::pass("Version 2.0"),
            Some(v) => Outcome::fail(format!("Version is {v:?}, not \"2.0\"")),
            None => Outcome::fail("Version is missing"),
        }
    }

    fn issue_instant(&self, now: DateTime<Utc>) -> Outcome {
        let Some(text) = self.attr(self.root, "IssueInstant") else {
            return Outcome::fail("IssueInstant is missing");
        };
        let Some(instant) = parse_instant(text) else {
            return Outcome::fail(format!(
                "IssueInstant {text:?} is not a UTC xs:dateTime (2026-12-01T10:00:00.000Z)"
            ));
        };
        let distance = instant - now;
        if distance.abs() > ISSUE_WINDOW {
            let how = if distance > TimeDelta::zero() {
                "ahead of"
            } else {
                "behind"
            };
            return Outcome::fail(format!(
                "IssueInstant {text} is {} s {how} the IdP's clock ({now}); at most {} minutes are allowed",
                distance.num_seconds().abs(),
                ISSUE_WINDOW.num_minutes()
            ));
        }
        Outcome::pass(format!(
            "IssueInstant {text}, {:.1} s from the IdP's clock",
            distance.num_milliseconds().abs() as f64 / 1000.0
        ))
    }

    fn destination(&self, judging: &Judging<'_>, cie: bool) -> Outcome {
        let sso = judging.sso_url;
        match self.attr(self.root, "Destination") {
            None | Some("") => Outcome::fail("Destination is missing or empty"),
            Some(d) if d == sso => Outcome::pass(format!("Destination {d} (the SSO Location)")),
            Some(d) if !cie && d == judging.idp_entity_id => {
                Outcome::pass(format!("Destination {d} (the IdP entity ID)"))
            }
            Some(d) if cie => Outcome::fail(format!(
                "Destination {d:?} is not the SSO Location of the binding used, {sso:?} (CIE ID follows SAML here)"
            )),
            Some(d) => Outcome::fail(format!(
                "Destination {d:?} is neither the IdP's SSO Location {sso:?} nor its entity ID {:?}",
                judging.idp_entity_id
            )),
        }
    }

    fn issuer(&self, sp: &ServiceProvider, cie: bool) -> Outcome {
        let issuers = self.children(self.root, ASSERTION_NAMESPACE, "Issuer");
        let [issuer] = issuers[..] else {
            return Outcome::fail(format!(
                "exactly one saml:Issuer is required, found {}",
                issuers.len()
            ));
        };
        let mut problems = Vec::new();
        let text = self.doc.text_content(issuer);
        if text.trim() != sp.entity_id {
            problems.push(format!(
                "Issuer {:?} is not the metadata's entityID {:?}",
                text.trim(),
                sp.entity_id
            ));
        }
        match self.attr(issuer, "Format") {
            Some(ENTITY_FORMAT) => {}
            None if cie => {}
            None => problems.push(format!("Format is missing: SPID requires {ENTITY_FORMAT:?}")),
            Some(f) => problems.push(format!("Format {f:?} is not {ENTITY_FORMAT:?}")),
        }
        match self.attr(issuer, "NameQualifier") {
            Some(q) if q == sp.entity_id => {}
            None if cie => {}
            None => problems.push("NameQualifier is missing: SPID requires the SP entity ID".to_owned()),
            Some(q) => problems.push(format!(
                "NameQualifier {q:?} is not the SP entity ID {:?}",
                sp.entity_id
            )),
        }
        if problems.is_empty() {
            Outcome::pass(format!(
                "Issuer {} with its Format and NameQualifier",
                sp.entity_id
            ))
        } else {
            Outcome::fail(problems.join("; "))
        }
    }

    fn force_authn(&self, cie: bool) -> Outcome {
        let value = self.attr(self.root, "ForceAuthn");
        let forced = matches!(value, Some("true" | "1"));
        let shown = value.map_or("absent".to_owned(), |v| format!("{v:?}"));
        if cie {
            return if forced {
                Outcome::pass(format!("ForceAuthn {shown}"))
            } else {
                Outcome::fail(format!(
                    "ForceAuthn is {shown}: CIE ID requires ForceAuthn=\"true\" always"
                ))
            };
        }
        match (self.level(), forced) {
            (_, true) => Outcome::pass(format!("ForceAuthn {shown}")),
            (Some(level), false) if level.requires_force_authn() => Outcome::fail(format!(
                "ForceAuthn is {shown} but {level} requires ForceAuthn=\"true\""
            )),
            (Some(level), false) => Outcome::pass(format!("ForceAuthn {shown}, allowed for {level}")),
            (None, false) => Outcome::error(format!(
                "ForceAuthn is {shown} and the level asked cannot be read (see {AUTHN_CONTEXT})"
            )),
        }
    }

    fn acs(&self, sp: &ServiceProvider) -> Outcome {
        let index = self.attr(self.root, "AssertionConsumerServiceIndex");
        let url = self.attr(self.root, "AssertionConsumerServiceURL");
        match (index, url) {
            (Some(_), Some(_)) => Outcome::fail(
                "both AssertionConsumerServiceIndex and AssertionConsumerServiceURL are given: give one",
            ),
            (Some(i), None) => match i.parse::<u16>().ok().and_then(|n| sp.consumer_service(n)) {
                Some(acs) if acs.binding == HTTP_POST_BINDING => {
                    Outcome::pass(format!("AssertionConsumerServiceIndex {i}: {}", acs.location))
                }
                Some(acs) => Outcome::fail(format!(
                    "AssertionConsumerServiceIndex {i} names an AssertionConsumerService with binding {:?}; the \
                     Response travels by HTTP-POST",
                    acs.binding
                )),
                None => Outcome::fail(format!(
                    "AssertionConsumerServiceIndex {i:?} is not an index of the SP metadata's \
                     AssertionConsumerServices"
                )),
            },
            (None, Some(u)) => {
                let binding = self.attr(self.root, "ProtocolBinding");
                if binding != Some(HTTP_POST_BINDING) {
                    Outcome::fail(format!(
                        "AssertionConsumerServiceURL needs ProtocolBinding {HTTP_POST_BINDING:?}, found {binding:?}"
                    ))
                } else if !sp.has_consumer_url(u) {
                    Outcome::fail(format!(
                        "AssertionConsumerServiceURL {u:?} is not an AssertionConsumerService Location of the SP metadata"
                    ))
                } else {
                    Outcome::pass(format!(
                        "AssertionConsumerServiceURL {u} with ProtocolBinding HTTP-POST"
                    ))
                }
            }
            (None, None) => Outcome::fail(
                "neither AssertionConsumerServiceIndex (preferred) nor AssertionConsumerServiceURL with \
                 ProtocolBinding is given",
            ),
        }
    }

    fn attribute_consuming_service(&self, sp: &ServiceProvider) -> Outcome {
        match self.attr(self.root, "AttributeConsumingServiceIndex") {
            None => Outcome::fail("AttributeConsumingServiceIndex is missing"),
            Some(i) => match i.parse::<u16>().ok().and_then(|n| sp.attribute_sets.get(&n)) {
                Some(names) => Outcome::pass(format!(
                    "AttributeConsumingServiceIndex {i}: {}",
                    names.join(", ")
                )),
                None => Outcome::fail(format!(
                    "AttributeConsumingServiceIndex {i:?} is not an AttributeConsumingService of the SP metadata"
                )),
            },
        }
    }

    fn name_id_policy(&self) -> Outcome {
        let policies = self.children(self.root, PROTOCOL_NAMESPACE, "NameIDPolicy");
        let [policy] = policies[..] else {
            return Outcome::fail(format!(
                "exactly one NameIDPolicy is required, found {}",
                policies.len()
            ));
        };
        let mut problems = Vec::new();
        match self.attr(policy, "Format") {
            Some(TRANSIENT_FORMAT) => {}
            Some(f) => problems.push(format!("Format {f:?} is not {TRANSIENT_FORMAT:?}")),
            None => problems.push(format!("Format is missing: it must be {TRANSIENT_FORMAT:?}")),
        }
        if let Some(allow) = self.attr(policy, "AllowCreate") {
            problems.push(format!(
                "AllowCreate={allow:?} must not be present (Avviso SPID n.5)"
            ));
        }
        if problems.is_empty() {
            Outcome::pass("NameIDPolicy Format transient, no AllowCreate")
        } else {
            Outcome::fail(problems.join("; "))
        }
    }

    fn authn_context(&self, cie: bool) -> Outcome {
        let contexts = self.children(self.root, PROTOCOL_NAMESPACE, "RequestedAuthnContext");
        let [context] = contexts[..] else {
            return Outcome::fail(format!(
                "exactly one RequestedAuthnContext is required, found {}",
                contexts.len()
            ));
        };
        let mut problems = Vec::new();
        let classes = self.children(context, ASSERTION_NAMESPACE, "AuthnContextClassRef");
        let level = match classes[..] {
            [class] => {
                let uri = self.doc.text_content(class);
                let level = SpidLevel::from_uri(uri.trim());
                if level.is_none() {
                    problems.push(format!(
                        "AuthnContextClassRef {:?} is not https://www.spid.gov.it/SpidL1, SpidL2 or SpidL3",
                        uri.trim()
                    ));
                }
                level
            }
            _ => {
                problems.push(format!(
                    "exactly one AuthnContextClassRef is required, found {}",
                    classes.len()
                ));
                None
            }
        };
        let comparison = self.attr(context, "Comparison");
        match (comparison, cie) {
            (None, _) => problems.push(
                "Comparison is missing (the schema's default, exact, is not what SPID asks an SP to rely on)"
                    .to_owned(),
            ),
            (Some("exact" | "minimum" | "better" | "maximum"), false) => {}
            (Some("minimum"), true) => {}
            (Some("exact"), true) if level == Some(SpidLevel::L3) || level.is_none() => {}
            (Some("exact"), true) => problems.push(format!(
                "CIE ID asks {} only with Comparison \"minimum\" (exact is for SpidL3)",
                level.map(|l| l.to_string()).unwrap_or_default()
            )),
            (Some(c), _) => problems.push(format!(
                "Comparison {c:?} is not allowed ({})",
                if cie {
                    "CIE ID: exact or minimum"
                } else {
                    "exact, minimum, better or maximum"
                }
            )),
        }
        match (problems.is_empty(), level, comparison) {
            (true, Some(level), Some(comparison)) => {
                Outcome::pass(format!("{level}, Comparison {comparison}"))
            }
            _ => Outcome::fail(problems.join("; ")),
        }
    }

    fn optional_parts(&self) -> Outcome {
        let mut problems = Vec::new();
        if let Some(passive) = self.attr(self.root, "IsPassive") {
            problems.push(format!("IsPassive={passive:?} must not be present"));
        }
        if !self.children(self.root, PROTOCOL_NAMESPACE, "Scoping").is_empty() {
            problems.push("Scoping (and RequesterID) must not be used".to_owned());
        }
        let mut seen = Vec::new();
        for subject in self.children(self.root, ASSERTION_NAMESPACE, "Subject") {
            seen.push("Subject");
            let ids = self.children(subject, ASSERTION_NAMESPACE, "NameID");
            let right = matches!(ids[..], [id] if self.attr(id, "Format") == Some(UNSPECIFIED_FORMAT)
                && self.attr(id, "NameQualifier").is_some_and(|q| !q.is_empty()));
            if !right {
                problems.push(format!(
                    "the Subject must hold one NameID with Format {UNSPECIFIED_FORMAT:?} and a NameQualifier"
                ));
            }
        }
        for conditions in self.children(self.root, ASSERTION_NAMESPACE, "Conditions") {
            seen.push("Conditions");
            for name in ["NotBefore", "NotOnOrAfter"] {
                if self.attr(conditions, name).and_then(parse_instant).is_none() {
                    problems.push(format!("Conditions/@{name} is missing or not a UTC instant"));
                }
            }
        }
        if !problems.is_empty() {
            return Outcome::fail(problems.join("; "));
        }
        if seen.is_empty() {
            Outcome::pass("no IsPassive, Scoping, Subject or Conditions")
        } else {
            Outcome::pass(format!(
                "no IsPassive or Scoping; {} in SPID's form",
                seen.join(" and ")
            ))
        }
    }
}

fn is(doc: &Document, node: NodeId, namespace: &str, local: &str) -> bool {
    doc.element(node)
        .is_some_and(|e| e.name().is(Some(namespace), local))
}

/// xs:NCName, as far as SAML IDs go: a letter or `_` first, then letters, digits, `_`, `-`, `.`.
fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

//! Reading and judging an AuthnRequest as the national IdPs and validators do: the signature first
//! (with the SP metadata's certificate only), then every SPID rule of spid-and-cie-id.md §1.1, or the
//! CIE ID variant of §4.1, and the SAML protocol schema (`xsd`), each violation reported on its own so
//! that an integrator sees all of them at once with the rule it breaks.
//!
//! The HTTP-Redirect message is inflated and parsed once *before* its signature is checked, only to
//! learn which SP sent it (the signature is over the query string, and which keys to use is written
//! inside the message); that read goes through the same bounded inflater and screening parser as the
//! verified one, and nothing from it is used before `redirect::verify` has accepted the query.

use chrono::{DateTime, TimeDelta, Utc};
use snodo_security::dsig::{SignaturePolicy, signature_children, verify_enveloped_signature};
use snodo_security::saml::redirect::{self, RedirectLimits};
use snodo_security::saml::{
    ASSERTION_NAMESPACE, Comparison, ENTITY_FORMAT, HTTP_POST_BINDING, PROTOCOL_NAMESPACE, SpidLevel,
    TRANSIENT_FORMAT, parse_instant,
};
use snodo_security::xml::{Document, Limits, NodeId, parse};

use super::Profile;
use super::sp::ServiceProvider;
use super::xsd::ProtocolSchema;

const UNSPECIFIED_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
/// How far an AuthnRequest's IssueInstant may be from the IdP's clock (spid-testenv2 uses ±2 min).
const ISSUE_WINDOW: TimeDelta = TimeDelta::minutes(2);

/// How the request arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    Redirect,
    Post,
}

impl Binding {
    pub fn uri(self) -> &'static str {
        match self {
            Binding::Redirect => "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
            Binding::Post => HTTP_POST_BINDING,
        }
    }
}

/// One violated rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The element or attribute concerned, as a path (`AuthnRequest/@ForceAuthn`).
    pub rule: &'static str,
    pub detail: String,
}

impl Problem {
    pub fn new(rule: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            rule,
            detail: detail.into(),
        }
    }
}

fn problem(rule: &'static str, detail: impl Into<String>) -> Problem {
    Problem::new(rule, detail)
}

/// A request the IdP accepted: what the login and the Response need.
#[derive(Debug, Clone)]
pub struct AcceptedRequest {
    pub id: String,
    pub issue_instant: DateTime<Utc>,
    pub sp_entity_id: String,
    pub acs_url: String,
    pub level: SpidLevel,
    pub comparison: Comparison,
    /// The attribute names of the AttributeConsumingService asked for.
    pub attributes: Vec<String>,
    pub relay_state: Option<String>,
    pub binding: Binding,
}

/// What the IdP needs to judge a request.
pub struct Context<'a> {
    pub profile: Profile,
    pub binding: Binding,
    pub idp_entity_id: &'a str,
    /// The SSO Location of the binding used.
    pub sso_url: &'a str,
    pub now: DateTime<Utc>,
    pub find_sp: &'a dyn Fn(&str) -> Option<ServiceProvider>,
    pub schema: &'a ProtocolSchema,
}

/// Reads, verifies and judges a request: `query` is the raw query string (Redirect), `form` the
/// decoded `SAMLRequest` and `RelayState` fields (POST).
pub fn judge(
    context: &Context<'_>,
    query: Option<&str>,
    form: Option<(&str, Option<&str>)>,
) -> Result<AcceptedRequest, Vec<Problem>> {
    let (doc, sp, relay_state) = match (context.binding, query, form) {
        (Binding::Redirect, Some(query), _) => read_redirect(context, query)?,
        (Binding::Post, _, Some((saml_request, relay_state))) => {
            let (doc, sp) = read_post(context, saml_request)?;
            (doc, sp, relay_state.map(str::to_owned))
        }
        _ => return Err(vec![problem("SAMLRequest", "no SAMLRequest in the request")]),
    };
    // The schema and the rules are both reported, so that one round trip shows everything to fix.
    let mut problems = context.schema.problems(&doc);
    match check_rules(context, &doc, &sp, relay_state) {
        Ok(accepted) if problems.is_empty() => Ok(accepted),
        Ok(_) => Err(problems),
        Err(rules) => {
            problems.extend(rules);
            Err(problems)
        }
    }
}

fn read_redirect(
    context: &Context<'_>,
    query: &str,
) -> Result<(Document, ServiceProvider, Option<String>), Vec<Problem>> {
    let limits = RedirectLimits::default();
    let raw = query
        .split('&')
        .find_map(|p| p.strip_prefix("SAMLRequest="))
        .ok_or_else(|| vec![problem("SAMLRequest", "the query has no SAMLRequest parameter")])?;
    let peek = redirect::url_decode(raw, "SAMLRequest")
        .ok()
        .and_then(|b64| decode_base64(&b64))
        .ok_or_else(|| vec![problem("SAMLRequest", "not URL-encoded base64")])?;
    let xml = redirect::inflate(&peek, limits.max_inflated_bytes, "SAMLRequest")
        .map_err(|e| vec![problem("SAMLRequest", e.to_string())])?;
    let unverified = parse(&xml, &limits.xml).map_err(|e| vec![problem("SAMLRequest", e.to_string())])?;
    let sp = service_provider(context, &unverified)?;
    let message = redirect::verify(query, &redirect::spid_sig_algs(), &sp.keys, &limits).map_err(|e| {
        vec![problem(
            "Signature",
            format!("the HTTP-Redirect query signature was refused (SigAlg and Signature over SAMLRequest, RelayState, SigAlg; key from the SP metadata): {e}"),
        )]
    })?;
    Ok((message.document, sp, message.relay_state))
}

fn read_post(context: &Context<'_>, saml_request: &str) -> Result<(Document, ServiceProvider), Vec<Problem>> {
    let xml = decode_base64(saml_request).ok_or_else(|| vec![problem("SAMLRequest", "not base64")])?;
    let doc = parse(&xml, &Limits::default()).map_err(|e| vec![problem("SAMLRequest", e.to_string())])?;
    let sp = service_provider(context, &doc)?;
    let root = doc.document_element();
    let [signature] = signature_children(&doc, root)[..] else {
        return Err(vec![problem(
            "AuthnRequest/Signature",
            "an HTTP-POST AuthnRequest must carry exactly one enveloped ds:Signature after its Issuer",
        )]);
    };
    let verified =
        verify_enveloped_signature(&doc, signature, &SignaturePolicy::spid(), &sp.keys).map_err(|e| {
            vec![problem(
                "AuthnRequest/Signature",
                format!("refused with the SP metadata's certificate: {e}"),
            )]
        })?;
    if verified.signed_element() != root {
        return Err(vec![problem(
            "AuthnRequest/Signature",
            "the signature does not cover the AuthnRequest",
        )]);
    }
    Ok((doc, sp))
}

/// The SP named by the request's Issuer, which must be registered.
fn service_provider(context: &Context<'_>, doc: &Document) -> Result<ServiceProvider, Vec<Problem>> {
    let root = doc.document_element();
    if !is(doc, root, PROTOCOL_NAMESPACE, "AuthnRequest") {
        return Err(vec![problem(
            "AuthnRequest",
            "the message is not a samlp:AuthnRequest",
        )]);
    }
    let issuers: Vec<NodeId> = children(doc, root, ASSERTION_NAMESPACE, "Issuer").collect();
    let [issuer] = issuers[..] else {
        return Err(vec![problem(
            "AuthnRequest/Issuer",
            format!("exactly one Issuer is required, found {}", issuers.len()),
        )]);
    };
    let entity_id = doc.text_content(issuer).trim().to_owned();
    (context.find_sp)(&entity_id).ok_or_else(|| {
        vec![problem(
            "AuthnRequest/Issuer",
            format!(
                "no SP with entity ID {entity_id:?} is registered for {}: post its signed metadata to /{}/sp-metadata or name the file in SNODO_IDP_SP_METADATA",
                context.profile.label(),
                context.profile.path()
            ),
        )]
    })
}

fn check_rules(
    context: &Context<'_>,
    doc: &Document,
    sp: &ServiceProvider,
    relay_state: Option<String>,
) -> Result<AcceptedRequest, Vec<Problem>> {
    let cie = context.profile == Profile::Cie;
    let mut problems = Vec::new();
    let root = doc.document_element();
    let attr = |node: NodeId, name: &str| doc.element(node).and_then(|e| e.attribute(None, name));

    let id = attr(root, "ID").unwrap_or_default().to_owned();
    if !is_ncname(&id) {
        problems.push(problem(
            "AuthnRequest/@ID",
            "missing, empty or not an NCName (xs:ID: no leading digit, no colon)",
        ));
    }
    if attr(root, "Version") != Some("2.0") {
        problems.push(problem("AuthnRequest/@Version", "must be 2.0"));
    }
    let issue_instant = match attr(root, "IssueInstant").map(parse_instant) {
        None => {
            problems.push(problem("AuthnRequest/@IssueInstant", "missing"));
            None
        }
        Some(None) => {
            problems.push(problem(
                "AuthnRequest/@IssueInstant",
                "not a UTC xs:dateTime (2026-12-01T10:00:00.000Z)",
            ));
            None
        }
        Some(Some(t)) if (t - context.now).abs() > ISSUE_WINDOW => {
            problems.push(problem(
                "AuthnRequest/@IssueInstant",
                format!(
                    "{t} is more than {} minutes from the IdP's clock ({})",
                    ISSUE_WINDOW.num_minutes(),
                    context.now
                ),
            ));
            None
        }
        Some(Some(t)) => Some(t),
    };
    match attr(root, "Destination") {
        None | Some("") => problems.push(problem("AuthnRequest/@Destination", "missing or empty")),
        // CIE ID: "according to SAML, not to the SPID rules": the SSO Location of this binding.
        Some(d) if cie && d != context.sso_url => problems.push(problem(
            "AuthnRequest/@Destination",
            format!(
                "CIE ID requires the SSO Location of the binding used, {:?}",
                context.sso_url
            ),
        )),
        // SPID accepts the SSO Location or the IdP entity ID (Avviso 11).
        Some(d) if !cie && d != context.sso_url && d != context.idp_entity_id => problems.push(problem(
            "AuthnRequest/@Destination",
            format!(
                "must be the SSO Location {:?} or the IdP entity ID {:?}",
                context.sso_url, context.idp_entity_id
            ),
        )),
        Some(_) => {}
    }
    if attr(root, "IsPassive").is_some() {
        problems.push(problem("AuthnRequest/@IsPassive", "must not be present"));
    }

    // Issuer.
    if let Some(issuer) = children(doc, root, ASSERTION_NAMESPACE, "Issuer").next() {
        match attr(issuer, "Format") {
            Some(ENTITY_FORMAT) => {}
            None if cie => {}
            None => problems.push(problem(
                "AuthnRequest/Issuer/@Format",
                format!("SPID requires Format={ENTITY_FORMAT:?}"),
            )),
            Some(_) => problems.push(problem(
                "AuthnRequest/Issuer/@Format",
                format!("must be {ENTITY_FORMAT:?}"),
            )),
        }
        match attr(issuer, "NameQualifier") {
            Some(q) if q == sp.entity_id => {}
            None if cie => {}
            None | Some("") => problems.push(problem(
                "AuthnRequest/Issuer/@NameQualifier",
                "SPID requires it: the SP entity ID",
            )),
            Some(_) => problems.push(problem(
                "AuthnRequest/Issuer/@NameQualifier",
                "must equal the SP entity ID",
            )),
        }
    }

    // Where the Response goes.
    let index = attr(root, "AssertionConsumerServiceIndex");
    let url = attr(root, "AssertionConsumerServiceURL");
    let acs_url = match (index, url) {
        (Some(_), Some(_)) => {
            problems.push(problem(
                "AuthnRequest/@AssertionConsumerServiceIndex",
                "give the index or the URL, not both",
            ));
            None
        }
        (Some(i), None) => match i.parse::<u16>().ok().and_then(|i| sp.consumer_service(i)) {
            Some(acs) => Some(acs.location.clone()),
            None => {
                problems.push(problem(
                    "AuthnRequest/@AssertionConsumerServiceIndex",
                    format!("{i:?} is not an index of the SP metadata"),
                ));
                None
            }
        },
        (None, Some(u)) => {
            if attr(root, "ProtocolBinding") != Some(HTTP_POST_BINDING) {
                problems.push(problem(
                    "AuthnRequest/@ProtocolBinding",
                    format!("required with the URL, and must be {HTTP_POST_BINDING:?}"),
                ));
            }
            if sp.has_consumer_url(u) {
                Some(u.to_owned())
            } else {
                problems.push(problem(
                    "AuthnRequest/@AssertionConsumerServiceURL",
                    "is not an AssertionConsumerService Location of the SP metadata",
                ));
                None
            }
        }
        (None, None) => {
            problems.push(problem(
                "AuthnRequest/@AssertionConsumerServiceIndex",
                "give AssertionConsumerServiceIndex (preferred) or AssertionConsumerServiceURL with ProtocolBinding",
            ));
            None
        }
    };
    let attributes = match attr(root, "AttributeConsumingServiceIndex") {
        None => {
            problems.push(problem(
                "AuthnRequest/@AttributeConsumingServiceIndex",
                "must be present",
            ));
            Vec::new()
        }
        Some(i) => match i.parse::<u16>().ok().and_then(|i| sp.attribute_sets.get(&i)) {
            Some(names) => names.clone(),
            None => {
                problems.push(problem(
                    "AuthnRequest/@AttributeConsumingServiceIndex",
                    format!("{i:?} is not an AttributeConsumingService of the SP metadata"),
                ));
                Vec::new()
            }
        },
    };

    // NameIDPolicy.
    match children(doc, root, PROTOCOL_NAMESPACE, "NameIDPolicy").next() {
        None => problems.push(problem("AuthnRequest/NameIDPolicy", "must be present")),
        Some(policy) => {
            if attr(policy, "Format") != Some(TRANSIENT_FORMAT) {
                problems.push(problem(
                    "AuthnRequest/NameIDPolicy/@Format",
                    format!("must be {TRANSIENT_FORMAT:?}"),
                ));
            }
            if attr(policy, "AllowCreate").is_some() {
                problems.push(problem(
                    "AuthnRequest/NameIDPolicy/@AllowCreate",
                    "must not be present (Avviso SPID n.5)",
                ));
            }
        }
    }

    // RequestedAuthnContext.
    let contexts: Vec<NodeId> = children(doc, root, PROTOCOL_NAMESPACE, "RequestedAuthnContext").collect();
    let mut level_and_comparison = None;
    match contexts[..] {
        [context_node] => {
            let comparison = match attr(context_node, "Comparison") {
                Some("exact") => Some(Comparison::Exact),
                Some("minimum") => Some(Comparison::Minimum),
                Some("better") if !cie => Some(Comparison::Better),
                Some("maximum") if !cie => Some(Comparison::Maximum),
                Some(c) => {
                    problems.push(problem(
                        "AuthnRequest/RequestedAuthnContext/@Comparison",
                        format!(
                            "{c:?} is not allowed ({})",
                            if cie {
                                "CIE ID: exact or minimum"
                            } else {
                                "exact, minimum, better or maximum"
                            }
                        ),
                    ));
                    None
                }
                None => {
                    problems.push(problem(
                        "AuthnRequest/RequestedAuthnContext/@Comparison",
                        "must be present",
                    ));
                    None
                }
            };
            let refs: Vec<NodeId> =
                children(doc, context_node, ASSERTION_NAMESPACE, "AuthnContextClassRef").collect();
            let level = match refs[..] {
                [r] => {
                    let uri = doc.text_content(r);
                    let level = SpidLevel::from_uri(uri.trim());
                    if level.is_none() {
                        problems.push(problem(
                            "AuthnRequest/RequestedAuthnContext/AuthnContextClassRef",
                            "must be https://www.spid.gov.it/SpidL1, SpidL2 or SpidL3",
                        ));
                    }
                    level
                }
                _ => {
                    problems.push(problem(
                        "AuthnRequest/RequestedAuthnContext/AuthnContextClassRef",
                        "exactly one is required",
                    ));
                    None
                }
            };
            if let (Some(level), Some(comparison)) = (level, comparison) {
                level_and_comparison = Some((level, comparison));
            }
        }
        _ => problems.push(problem(
            "AuthnRequest/RequestedAuthnContext",
            "exactly one is required",
        )),
    }
    // CIE ID's levels (protocolli.rst): SpidL3 exact or minimum, SpidL1 and SpidL2 only as a minimum.
    if let Some((level, Comparison::Exact)) = level_and_comparison
        && cie
        && level != SpidLevel::L3
    {
        problems.push(problem(
            "AuthnRequest/RequestedAuthnContext/@Comparison",
            format!("CIE ID asks {level} only with Comparison=\"minimum\" (exact is for SpidL3)"),
        ));
    }
    let force_authn = matches!(attr(root, "ForceAuthn"), Some("true" | "1"));
    match level_and_comparison {
        Some(_) if cie && !force_authn => {
            problems.push(problem(
                "AuthnRequest/@ForceAuthn",
                "CIE ID requires ForceAuthn=\"true\" always",
            ));
        }
        Some((level, _)) if level.requires_force_authn() && !force_authn => {
            problems.push(problem(
                "AuthnRequest/@ForceAuthn",
                format!("{level} requires ForceAuthn=\"true\""),
            ));
        }
        _ => {}
    }

    // Optional parts and the schema's order.
    if let Some(subject) = children(doc, root, ASSERTION_NAMESPACE, "Subject").next() {
        match children(doc, subject, ASSERTION_NAMESPACE, "NameID").next() {
            Some(n)
                if attr(n, "Format") == Some(UNSPECIFIED_FORMAT) && attr(n, "NameQualifier").is_some() => {}
            _ => problems.push(problem(
                "AuthnRequest/Subject/NameID",
                format!("one NameID with Format={UNSPECIFIED_FORMAT:?} and a NameQualifier"),
            )),
        }
    }
    if let Some(conditions) = children(doc, root, ASSERTION_NAMESPACE, "Conditions").next() {
        for name in ["NotBefore", "NotOnOrAfter"] {
            if attr(conditions, name).and_then(parse_instant).is_none() {
                problems.push(problem(
                    "AuthnRequest/Conditions",
                    format!("@{name} missing or not a UTC instant"),
                ));
            }
        }
    }
    if children(doc, root, PROTOCOL_NAMESPACE, "Scoping")
        .next()
        .is_some()
    {
        problems.push(problem(
            "AuthnRequest/Scoping",
            "must not be used (nor RequesterID)",
        ));
    }
    if let Some(order) = order_problem(doc, root) {
        problems.push(problem("AuthnRequest", order));
    }

    match relay_state.as_deref() {
        None => problems.push(problem(
            "RelayState",
            "must be present (spid-sp-test requires it)",
        )),
        Some(r) if r.contains("http") => {
            problems.push(problem(
                "RelayState",
                "must not make the requested resource evident (it contains a URL)",
            ));
        }
        Some(_) => {}
    }

    match (issue_instant, acs_url, level_and_comparison) {
        (Some(issue_instant), Some(acs_url), Some((level, comparison))) if problems.is_empty() => {
            Ok(AcceptedRequest {
                id,
                issue_instant,
                sp_entity_id: sp.entity_id.clone(),
                acs_url,
                level,
                comparison,
                attributes,
                relay_state,
                binding: context.binding,
            })
        }
        _ => Err(problems),
    }
}

/// saml-schema-protocol-2.0.xsd's children of an AuthnRequest, in the schema's order; nothing else may
/// appear.
pub const AUTHN_REQUEST_CHILDREN: [&str; 8] = [
    "Issuer",
    "Signature",
    "Extensions",
    "Subject",
    "NameIDPolicy",
    "Conditions",
    "RequestedAuthnContext",
    "Scoping",
];

/// The first child of the AuthnRequest `root` out of [`AUTHN_REQUEST_CHILDREN`]'s order, or not among
/// them, named plainly (the XSD validator's text for the same fault names only what it expected);
/// `None` when the children follow the schema. Shared with the SP certification, which must judge the
/// order exactly as this IdP refuses it.
pub fn order_problem(doc: &Document, root: NodeId) -> Option<String> {
    let mut last = 0;
    for name in doc
        .child_elements(root)
        .filter_map(|child| doc.element(child).map(|e| e.name()))
    {
        match AUTHN_REQUEST_CHILDREN
            .iter()
            .position(|n| *n == name.local_name())
        {
            Some(position) if position >= last => last = position,
            Some(_) => {
                return Some(format!(
                    "{} comes after {}: the schema's order is {}",
                    name.local_name(),
                    AUTHN_REQUEST_CHILDREN[last],
                    AUTHN_REQUEST_CHILDREN.join(", ")
                ));
            }
            None => return Some(format!("unexpected child element {}", name.qualified())),
        }
    }
    None
}

fn is(doc: &Document, node: NodeId, namespace: &str, local: &str) -> bool {
    doc.element(node)
        .is_some_and(|e| e.name().is(Some(namespace), local))
}

fn children<'d>(
    doc: &'d Document,
    parent: NodeId,
    namespace: &'d str,
    local: &'d str,
) -> impl Iterator<Item = NodeId> + 'd {
    doc.child_elements(parent)
        .filter(move |&c| is(doc, c, namespace, local))
}

fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Base64 with line breaks allowed, strict otherwise.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.split_whitespace().collect();
    if compact.is_empty() {
        return None;
    }
    openssl::base64::decode_block(&compact).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_of(children: &str) -> Option<String> {
        let xml = format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">{children}</samlp:AuthnRequest>"#
        );
        let doc = parse(xml.as_bytes(), &Limits::default()).unwrap();
        order_problem(&doc, doc.document_element())
    }

    #[test]
    fn children_are_judged_by_the_protocol_schemas_order() {
        assert_eq!(
            order_of("<saml:Issuer/><samlp:NameIDPolicy/><samlp:RequestedAuthnContext/>"),
            None
        );
        assert_eq!(
            order_of("<saml:Issuer/><samlp:RequestedAuthnContext/><samlp:NameIDPolicy/>").unwrap(),
            "NameIDPolicy comes after RequestedAuthnContext: the schema's order is Issuer, Signature, \
             Extensions, Subject, NameIDPolicy, Conditions, RequestedAuthnContext, Scoping"
        );
        assert_eq!(
            order_of("<saml:Issuer/><samlp:Extra/>").unwrap(),
            "unexpected child element samlp:Extra"
        );
    }
}

//! The SP metadata rules: what AgID's registry and the CIE federation require of a public-sector SP's
//! metadata (spid-and-cie-id.md §1.2, Avviso SPID n.29 v3, the CIE SAML technical rules), one case
//! each, every violation of a case listed in its reason.
//!
//! The signature rule is the IdP simulator's own ([`ServiceProvider::from_metadata`]): the metadata
//! an IdP trusts is exactly what the simulator would register.

use openssl::nid::Nid;
use openssl::x509::X509;
use snodo_security::saml::sp_metadata::{
    CIE_ATTRIBUTES, CIE_EXTENSIONS_NAMESPACE, METADATA_NAMESPACE, SPID_EXTENSIONS_NAMESPACE,
};
use snodo_security::saml::{HTTP_POST_BINDING, SpidAttribute};
use snodo_security::xml::{Document, Limits, NodeId, parse};
use snodo_simulators::identity::{Profile, ServiceProvider};

use crate::outcome::Outcome;

const DSIG_NAMESPACE: &str = "http://www.w3.org/2000/09/xmldsig#";
const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";
const SAML2_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// Avviso SPID n.29 v3: RSA keys of at least 2048 bits.
const MIN_RSA_BITS: u32 = 2048;

/// The metadata rule cases, by id: (id, description, rule, source).
pub const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "metadata-signature",
        "SP metadata signed with its own signing certificate",
        "md:EntityDescriptor carries an enveloped XML-DSig signature (RSA-SHA256, SHA-256) that verifies with a signing certificate of its own KeyDescriptor",
        "Avviso SPID n.29 v3; SPID technical rules, metadata; the IdP simulator's registration",
    ),
    (
        "metadata-descriptor",
        "EntityDescriptor and SPSSODescriptor attributes",
        "entityID present; one SPSSODescriptor with protocolSupportEnumeration naming SAML 2.0, AuthnRequestsSigned=\"true\", WantAssertionsSigned=\"true\"",
        "SPID technical rules, metadata SP (spid-and-cie-id.md §1.2); spid-sp-test metadata checks",
    ),
    (
        "metadata-certificate",
        "Signing certificate: RSA ≥ 2048 bits, not expired, not signed with SHA-1 or MD5",
        "every signing KeyDescriptor holds an X509Certificate with an RSA key of at least 2048 bits, valid now, signed with SHA-256 or better",
        "Avviso SPID n.29 v3 (certificates of public SPs); spid-sp-test metadata checks",
    ),
    (
        "metadata-acs",
        "AssertionConsumerService: index 0, default, HTTP-POST, https",
        "an AssertionConsumerService with index=\"0\" and isDefault=\"true\"; every one with the HTTP-POST binding and an https Location",
        "SPID technical rules, metadata SP; spid-sp-test metadata checks",
    ),
    (
        "metadata-slo",
        "SingleLogoutService present, https",
        "at least one SingleLogoutService, each with a Binding and an https Location",
        "SPID technical rules, metadata SP; spid-sp-test metadata checks",
    ),
    (
        "metadata-attributes",
        "AttributeConsumingService: ServiceName and known attributes",
        "at least one AttributeConsumingService, each with an index, a ServiceName and RequestedAttributes named as SPID defines them (CIE ID: name, familyName, dateOfBirth, fiscalNumber only)",
        "SPID technical rules, attributes table; CIE ID SAML rules (eIDAS minimum dataset)",
    ),
    (
        "metadata-organization",
        "Organization: name, display name and URL, in Italian",
        "md:Organization with OrganizationName, OrganizationDisplayName and OrganizationURL, each non-empty with xml:lang=\"it\" among them",
        "SPID technical rules, metadata SP; Avviso SPID n.29 v3",
    ),
    (
        "metadata-contact",
        "ContactPerson of a public SP with its extensions",
        "SPID: a ContactPerson contactType=\"other\" whose Extensions hold spid:IPACode and spid:Public, with an EmailAddress; CIE ID: contactType=\"administrative\" with cie:Public, cie:IPACode, cie:Municipality, Company and EmailAddress",
        "Avviso SPID n.29 v3; CIE ID SAML rules (metadata, ContactPerson)",
    ),
];

/// Judges metadata case `id` on `bytes` for `profile`.
pub fn judge(id: &str, bytes: &[u8], profile: Profile) -> Outcome {
    if id == "metadata-signature" {
        return match ServiceProvider::from_metadata(bytes) {
            Ok(sp) => Outcome::pass(format!("signed; entity {}", sp.entity_id)),
            Err(e) => Outcome::fail(e.to_string()),
        };
    }
    let doc = match parse(bytes, &Limits::default()) {
        Ok(doc) => doc,
        Err(e) => return Outcome::fail(format!("the metadata is not acceptable XML: {e}")),
    };
    let reader = Reader { doc: &doc };
    let root = doc.document_element();
    if !reader.is(root, METADATA_NAMESPACE, "EntityDescriptor") {
        return Outcome::fail("the document element is not md:EntityDescriptor");
    }
    let descriptor = reader.md_children(root, "SPSSODescriptor").next();
    let mut problems = Vec::new();
    let observed = match (id, descriptor) {
        ("metadata-descriptor", _) => descriptor_rules(&reader, root, &mut problems),
        (_, None) => return Outcome::fail("no md:SPSSODescriptor"),
        ("metadata-certificate", Some(d)) => certificate_rules(&reader, d, &mut problems),
        ("metadata-acs", Some(d)) => acs_rules(&reader, d, &mut problems),
        ("metadata-slo", Some(d)) => slo_rules(&reader, d, &mut problems),
        ("metadata-attributes", Some(d)) => attribute_rules(&reader, d, profile, &mut problems),
        ("metadata-organization", _) => organization_rules(&reader, root, &mut problems),
        ("metadata-contact", _) => contact_rules(&reader, root, profile, &mut problems),
        _ => return Outcome::error(format!("no metadata rule is named {id}")),
    };
    if problems.is_empty() {
        Outcome::pass(observed)
    } else {
        Outcome::fail(problems.join("; "))
    }
}

struct Reader<'d> {
    doc: &'d Document,
}

impl<'d> Reader<'d> {
    fn is(&self, node: NodeId, namespace: &str, local: &str) -> bool {
        self.doc
            .element(node)
            .is_some_and(|e| e.name().is(Some(namespace), local))
    }

    fn children(
        &self,
        parent: NodeId,
        namespace: &'d str,
        local: &'d str,
    ) -> impl Iterator<Item = NodeId> + 'd {
        let doc = self.doc;
        doc.child_elements(parent).filter(move |&c| {
            doc.element(c)
                .is_some_and(|e| e.name().is(Some(namespace), local))
        })
    }

    fn md_children(&self, parent: NodeId, local: &'d str) -> impl Iterator<Item = NodeId> + 'd {
        self.children(parent, METADATA_NAMESPACE, local)
    }

    fn attr(&self, node: NodeId, name: &str) -> Option<&'d str> {
        self.doc.element(node).and_then(|e| e.attribute(None, name))
    }

    fn text(&self, node: NodeId) -> String {
        self.doc.text_content(node).trim().to_owned()
    }

    /// Elements named `{namespace}local` anywhere below `root`.
    fn descendants(&self, root: NodeId, namespace: &str, local: &str) -> Vec<NodeId> {
        let mut found = Vec::new();
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            for child in self.doc.child_elements(node) {
                if self.is(child, namespace, local) {
                    found.push(child);
                }
                stack.push(child);
            }
        }
        found
    }
}

fn descriptor_rules(r: &Reader<'_>, root: NodeId, problems: &mut Vec<String>) -> String {
    let entity_id = r.attr(root, "entityID").unwrap_or_default();
    if entity_id.trim().is_empty() {
        problems.push("EntityDescriptor/@entityID is missing or empty".into());
    }
    let descriptors: Vec<NodeId> = r.md_children(root, "SPSSODescriptor").collect();
    let [descriptor] = descriptors[..] else {
        problems.push(format!(
            "exactly one SPSSODescriptor is required, found {}",
            descriptors.len()
        ));
        return String::new();
    };
    if !r
        .attr(descriptor, "protocolSupportEnumeration")
        .is_some_and(|p| p.split_whitespace().any(|p| p == SAML2_PROTOCOL))
    {
        problems.push(format!(
            "SPSSODescriptor/@protocolSupportEnumeration must name {SAML2_PROTOCOL}"
        ));
    }
    for name in ["AuthnRequestsSigned", "WantAssertionsSigned"] {
        match r.attr(descriptor, name) {
            Some("true") => {}
            other => problems.push(format!("SPSSODescriptor/@{name} must be \"true\", is {other:?}")),
        }
    }
    format!("entity {entity_id}")
}

fn certificate_rules(r: &Reader<'_>, descriptor: NodeId, problems: &mut Vec<String>) -> String {
    let mut checked = 0;
    let now = openssl::asn1::Asn1Time::days_from_now(0).expect("OpenSSL reads the clock");
    for key_descriptor in r.md_children(descriptor, "KeyDescriptor") {
        if !matches!(r.attr(key_descriptor, "use"), None | Some("signing")) {
            continue;
        }
        for node in r.descendants(key_descriptor, DSIG_NAMESPACE, "X509Certificate") {
            checked += 1;
            let text: String = r.text(node).chars().filter(|c| !c.is_whitespace()).collect();
            let certificate = match openssl::base64::decode_block(&text)
                .ok()
                .and_then(|der| X509::from_der(&der).ok())
            {
                Some(c) => c,
                None => {
                    problems.push("a signing X509Certificate is not a base64 DER certificate".into());
                    continue;
                }
            };
            match certificate.public_key().ok().and_then(|k| k.rsa().ok()) {
                Some(rsa) if rsa.size() * 8 >= MIN_RSA_BITS => {}
                Some(rsa) => problems.push(format!(
                    "the signing key has {} bits, fewer than {MIN_RSA_BITS}",
                    rsa.size() * 8
                )),
                None => problems.push("the signing key is not RSA".into()),
            }
            if certificate.not_after() < now {
                problems.push(format!(
                    "the signing certificate expired on {}",
                    certificate.not_after()
                ));
            }
            if certificate.not_before() > now {
                problems.push(format!(
                    "the signing certificate is not valid before {}",
                    certificate.not_before()
                ));
            }
            let algorithm = certificate.signature_algorithm().object().nid();
            if [
                Nid::SHA1WITHRSAENCRYPTION,
                Nid::MD5WITHRSAENCRYPTION,
                Nid::ECDSA_WITH_SHA1,
                Nid::DSAWITHSHA1,
            ]
            .contains(&algorithm)
            {
                problems.push(format!(
                    "the signing certificate is signed with {}",
                    algorithm.long_name().unwrap_or("a weak algorithm")
                ));
            }
        }
    }
    if checked == 0 {
        problems.push("no signing KeyDescriptor with an X509Certificate".into());
    }
    format!("{checked} signing certificate(s)")
}

fn acs_rules(r: &Reader<'_>, descriptor: NodeId, problems: &mut Vec<String>) -> String {
    let services: Vec<NodeId> = r.md_children(descriptor, "AssertionConsumerService").collect();
    if services.is_empty() {
        problems.push("no AssertionConsumerService".into());
    }
    let mut default_zero = false;
    for &service in &services {
        let index = r.attr(service, "index").unwrap_or_default();
        if r.attr(service, "Binding") != Some(HTTP_POST_BINDING) {
            problems.push(format!(
                "AssertionConsumerService index {index:?}: Binding must be HTTP-POST"
            ));
        }
        if !r
            .attr(service, "Location")
            .is_some_and(|l| l.starts_with("https://"))
        {
            problems.push(format!(
                "AssertionConsumerService index {index:?}: Location must be an https URL"
            ));
        }
        if index == "0" && matches!(r.attr(service, "isDefault"), Some("true" | "1")) {
            default_zero = true;
        }
    }
    if !services.is_empty() && !default_zero {
        problems.push("no AssertionConsumerService with index=\"0\" and isDefault=\"true\"".into());
    }
    format!("{} AssertionConsumerService(s)", services.len())
}

fn slo_rules(r: &Reader<'_>, descriptor: NodeId, problems: &mut Vec<String>) -> String {
    let services: Vec<NodeId> = r.md_children(descriptor, "SingleLogoutService").collect();
    if services.is_empty() {
        problems.push("no SingleLogoutService".into());
    }
    for &service in &services {
        if r.attr(service, "Binding").is_none_or(str::is_empty) {
            problems.push("a SingleLogoutService has no Binding".into());
        }
        if !r
            .attr(service, "Location")
            .is_some_and(|l| l.starts_with("https://"))
        {
            problems.push("a SingleLogoutService Location is not an https URL".into());
        }
    }
    format!("{} SingleLogoutService(s)", services.len())
}

fn attribute_rules(
    r: &Reader<'_>,
    descriptor: NodeId,
    profile: Profile,
    problems: &mut Vec<String>,
) -> String {
    let services: Vec<NodeId> = r.md_children(descriptor, "AttributeConsumingService").collect();
    if services.is_empty() {
        problems.push("no AttributeConsumingService".into());
    }
    let mut requested = 0;
    for &service in &services {
        let index = r.attr(service, "index").unwrap_or_default();
        if index.parse::<u16>().is_err() {
            problems.push(format!(
                "AttributeConsumingService index {index:?} is not a number"
            ));
        }
        if !r
            .md_children(service, "ServiceName")
            .any(|n| !r.text(n).is_empty())
        {
            problems.push(format!("AttributeConsumingService {index}: no ServiceName"));
        }
        let attributes: Vec<NodeId> = r.md_children(service, "RequestedAttribute").collect();
        if attributes.is_empty() {
            problems.push(format!(
                "AttributeConsumingService {index}: no RequestedAttribute"
            ));
        }
        for attribute in attributes {
            requested += 1;
            let name = r.attr(attribute, "Name").unwrap_or_default();
            match SpidAttribute::from_name(name) {
                None => problems.push(format!(
                    "AttributeConsumingService {index}: {name:?} is not a SPID attribute name"
                )),
                Some(a) if profile == Profile::Cie && !CIE_ATTRIBUTES.contains(&a) => problems.push(format!(
                    "AttributeConsumingService {index}: CIE ID does not release {name}"
                )),
                Some(_) => {}
            }
        }
    }
    format!(
        "{} service(s), {requested} attribute(s) requested",
        services.len()
    )
}

fn organization_rules(r: &Reader<'_>, root: NodeId, problems: &mut Vec<String>) -> String {
    let Some(organization) = r.md_children(root, "Organization").next() else {
        problems.push("no md:Organization".into());
        return String::new();
    };
    for name in ["OrganizationName", "OrganizationDisplayName", "OrganizationURL"] {
        let values: Vec<NodeId> = r.md_children(organization, name).collect();
        if values.is_empty() || values.iter().any(|&v| r.text(v).is_empty()) {
            problems.push(format!("Organization/{name} is missing or empty"));
            continue;
        }
        if !values.iter().any(|&v| {
            r.doc
                .element(v)
                .and_then(|e| e.attribute(Some(XML_NAMESPACE), "lang"))
                == Some("it")
        }) {
            problems.push(format!("Organization/{name} has no xml:lang=\"it\" value"));
        }
    }
    let name = r
        .md_children(organization, "OrganizationDisplayName")
        .next()
        .map(|n| r.text(n))
        .unwrap_or_default();
    format!("organization {name}")
}

fn contact_rules(r: &Reader<'_>, root: NodeId, profile: Profile, problems: &mut Vec<String>) -> String {
    let (contact_type, namespace, prefix, required): (&str, &str, &str, &[&str]) = match profile {
        Profile::Spid => ("other", SPID_EXTENSIONS_NAMESPACE, "spid", &["IPACode", "Public"]),
        Profile::Cie => (
            "administrative",
            CIE_EXTENSIONS_NAMESPACE,
            "cie",
            &["Public", "IPACode", "Municipality"],
        ),
    };
    let contacts: Vec<NodeId> = r
        .md_children(root, "ContactPerson")
        .filter(|&c| r.attr(c, "contactType") == Some(contact_type))
        .collect();
    let [contact] = contacts[..] else {
        problems.push(format!(
            "exactly one ContactPerson contactType=\"{contact_type}\" is required, found {}",
            contacts.len()
        ));
        return String::new();
    };
    let extensions = r.md_children(contact, "Extensions").next();
    let mut ipa_code = String::new();
    for name in required {
        let found = extensions.and_then(|e| r.children(e, namespace, name).next());
        match found {
            None => problems.push(format!("ContactPerson/Extensions has no {prefix}:{name}")),
            Some(node) if *name == "IPACode" => {
                ipa_code = r.text(node);
                if ipa_code.is_empty() {
                    problems.push(format!("{prefix}:IPACode is empty"));
                }
            }
            Some(node) if *name == "Municipality" && r.text(node).is_empty() => {
                problems.push(format!("{prefix}:Municipality is empty"));
            }
            Some(_) => {}
        }
    }
    if profile == Profile::Cie && r.md_children(contact, "Company").all(|c| r.text(c).is_empty()) {
        problems.push("ContactPerson/Company is missing or empty (CIE ID requires it)".into());
    }
    if r.md_children(contact, "EmailAddress")
        .all(|c| r.text(c).is_empty())
    {
        problems.push("ContactPerson/EmailAddress is missing or empty".into());
    }
    format!("contact {contact_type}, IPA code {ipa_code}")
}

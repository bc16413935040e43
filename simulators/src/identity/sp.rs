//! The Service Providers the simulated IdP knows, from their signed metadata.
//!
//! A real SPID IdP receives SP metadata from AgID's registry and a CIE ID one through the federation
//! portal; it never takes an SP's word from the request. The simulator is told the same way: metadata
//! files named in `SNODO_IDP_SP_METADATA` (comma-separated paths) at start, or posted to
//! `/{spid,cie}/sp-metadata` by a test or an integrator. Either way the document must carry an
//! enveloped signature that verifies with a signing certificate of its own KeyDescriptor (the self
//! signature Avviso 29 asks for); that certificate is then the only key an AuthnRequest from that SP
//! is verified with (spid-and-cie-id.md §1.1, "verified with the metadata signing cert").

use std::collections::BTreeMap;

use openssl::x509::X509;
use snodo_security::dsig::{SignaturePolicy, TrustedKeys, signature_children, verify_enveloped_signature};
use snodo_security::saml::HTTP_POST_BINDING;
use snodo_security::xml::{Document, Limits, NodeId, parse};

pub const METADATA_NAMESPACE: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DSIG_NAMESPACE: &str = "http://www.w3.org/2000/09/xmldsig#";

/// One AssertionConsumerService of the metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerService {
    pub index: u16,
    pub location: String,
    pub binding: String,
    pub is_default: bool,
}

/// One SingleLogoutService.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutService {
    pub binding: String,
    pub location: String,
}

/// What the IdP keeps of an SP's metadata.
#[derive(Debug, Clone)]
pub struct ServiceProvider {
    pub entity_id: String,
    pub keys: TrustedKeys,
    pub consumer_services: Vec<ConsumerService>,
    /// AttributeConsumingService index → requested attribute names.
    pub attribute_sets: BTreeMap<u16, Vec<String>>,
    pub logout_services: Vec<LogoutService>,
    /// OrganizationDisplayName (Italian first), shown on the login page.
    pub display_name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("SP metadata is not acceptable XML: {0}")]
    Xml(#[from] snodo_security::xml::XmlError),
    #[error("SP metadata: the root is {found}, not md:EntityDescriptor")]
    NotEntityDescriptor { found: String },
    #[error("SP metadata: {0} is missing or empty")]
    Missing(&'static str),
    #[error("SP metadata: {what} is not valid: {reason}")]
    Invalid { what: &'static str, reason: String },
    #[error(
        "SP metadata is not signed: SPID and CIE ID require an enveloped signature on the \
         EntityDescriptor, made with a KeyDescriptor signing certificate"
    )]
    Unsigned,
    #[error("SP metadata signature does not verify with its own signing certificate: {0}")]
    Signature(#[from] snodo_security::dsig::SignatureError),
    #[error("SP metadata file {path}: {reason}")]
    File { path: String, reason: String },
}

impl ServiceProvider {
    /// Reads and checks signed SP metadata.
    pub fn from_metadata(xml: &[u8]) -> Result<ServiceProvider, MetadataError> {
        let doc = parse(xml, &Limits::default())?;
        let root = doc.document_element();
        let name = doc
            .element(root)
            .expect("the document element is an element")
            .name();
        if !name.is(Some(METADATA_NAMESPACE), "EntityDescriptor") {
            return Err(MetadataError::NotEntityDescriptor {
                found: name.qualified(),
            });
        }
        let entity_id =
            attribute(&doc, root, "entityID").ok_or(MetadataError::Missing("EntityDescriptor/@entityID"))?;
        let descriptor =
            md_child(&doc, root, "SPSSODescriptor").ok_or(MetadataError::Missing("SPSSODescriptor"))?;

        let mut certificates = Vec::new();
        for key in md_children(&doc, descriptor, "KeyDescriptor") {
            if attribute(&doc, key, "use").is_some_and(|u| u != "signing") {
                continue;
            }
            for text in descendants_named(&doc, key, DSIG_NAMESPACE, "X509Certificate") {
                let b64: String = doc.text_content(text).split_whitespace().collect();
                let der = openssl::base64::decode_block(&b64).map_err(|e| MetadataError::Invalid {
                    what: "KeyDescriptor X509Certificate",
                    reason: format!("not base64: {e}"),
                })?;
                certificates.push(X509::from_der(&der).map_err(|e| MetadataError::Invalid {
                    what: "KeyDescriptor X509Certificate",
                    reason: format!("not a DER certificate: {e}"),
                })?);
            }
        }
        if certificates.is_empty() {
            return Err(MetadataError::Missing(
                "KeyDescriptor use=\"signing\" X509Certificate",
            ));
        }
        let keys = TrustedKeys::from_certificates(certificates)?;
        let [signature] = signature_children(&doc, root)[..] else {
            return Err(MetadataError::Unsigned);
        };
        let verified = verify_enveloped_signature(&doc, signature, &SignaturePolicy::spid(), &keys)?;
        if verified.signed_element() != root {
            return Err(MetadataError::Unsigned);
        }

        let mut consumer_services = Vec::new();
        for acs in md_children(&doc, descriptor, "AssertionConsumerService") {
            let index =
                attribute(&doc, acs, "index")
                    .and_then(|i| i.parse().ok())
                    .ok_or(MetadataError::Invalid {
                        what: "AssertionConsumerService/@index",
                        reason: "missing or not a number".to_owned(),
                    })?;
            consumer_services.push(ConsumerService {
                index,
                location: attribute(&doc, acs, "Location")
                    .ok_or(MetadataError::Missing("AssertionConsumerService/@Location"))?,
                binding: attribute(&doc, acs, "Binding").unwrap_or_else(|| HTTP_POST_BINDING.to_owned()),
                is_default: attribute(&doc, acs, "isDefault").is_some_and(|d| d == "true" || d == "1"),
            });
        }
        if consumer_services.is_empty() {
            return Err(MetadataError::Missing("AssertionConsumerService"));
        }
        let mut attribute_sets = BTreeMap::new();
        for set in md_children(&doc, descriptor, "AttributeConsumingService") {
            let index =
                attribute(&doc, set, "index")
                    .and_then(|i| i.parse().ok())
                    .ok_or(MetadataError::Invalid {
                        what: "AttributeConsumingService/@index",
                        reason: "missing or not a number".to_owned(),
                    })?;
            let names = md_children(&doc, set, "RequestedAttribute")
                .filter_map(|a| attribute(&doc, a, "Name"))
                .collect();
            attribute_sets.insert(index, names);
        }
        let logout_services = md_children(&doc, descriptor, "SingleLogoutService")
            .filter_map(|s| {
                Some(LogoutService {
                    binding: attribute(&doc, s, "Binding")?,
                    location: attribute(&doc, s, "Location")?,
                })
            })
            .collect();
        let display_name = md_child(&doc, root, "Organization")
            .and_then(|o| md_child(&doc, o, "OrganizationDisplayName"))
            .map(|n| doc.text_content(n).trim().to_owned())
            .unwrap_or_else(|| entity_id.clone());
        Ok(ServiceProvider {
            entity_id,
            keys,
            consumer_services,
            attribute_sets,
            logout_services,
            display_name,
        })
    }

    /// Reads every file of a comma-separated list (the `SNODO_IDP_SP_METADATA` variable).
    pub fn from_files(list: &str) -> Result<Vec<ServiceProvider>, MetadataError> {
        list.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|path| {
                let bytes = std::fs::read(path).map_err(|e| MetadataError::File {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
                ServiceProvider::from_metadata(&bytes).map_err(|e| MetadataError::File {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    pub fn consumer_service(&self, index: u16) -> Option<&ConsumerService> {
        self.consumer_services.iter().find(|c| c.index == index)
    }

    pub fn has_consumer_url(&self, url: &str) -> bool {
        self.consumer_services.iter().any(|c| c.location == url)
    }

    /// The SLO endpoint the IdP answers a LogoutRequest on: HTTP-POST preferred (a signed form),
    /// then HTTP-Redirect.
    pub fn logout_service(&self) -> Option<&LogoutService> {
        self.logout_services
            .iter()
            .find(|s| s.binding == HTTP_POST_BINDING)
            .or_else(|| self.logout_services.first())
    }
}

fn attribute(doc: &Document, element: NodeId, name: &str) -> Option<String> {
    doc.element(element)?
        .attribute(None, name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn md_children<'d>(doc: &'d Document, parent: NodeId, local: &'d str) -> impl Iterator<Item = NodeId> + 'd {
    doc.child_elements(parent).filter(move |&c| {
        doc.element(c)
            .is_some_and(|e| e.name().is(Some(METADATA_NAMESPACE), local))
    })
}

fn md_child(doc: &Document, parent: NodeId, local: &str) -> Option<NodeId> {
    md_children(doc, parent, local).next()
}

fn descendants_named(doc: &Document, root: NodeId, namespace: &str, local: &str) -> Vec<NodeId> {
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if doc
            .element(node)
            .is_some_and(|e| e.name().is(Some(namespace), local))
        {
            found.push(node);
        }
        stack.extend(doc.child_elements(node));
    }
    found
}

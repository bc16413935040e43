//! The identity providers a tenant trusts, per federation, read from IdP metadata (SPID's registry
//! aggregate, CIE ID's Shibboleth document, the simulator's, the conformance tool's) — the only
//! place IdP keys come from (spid-and-cie-id.md §5, key confusion: never from the Response).
//!
//! A document may be one `EntityDescriptor` or an `EntitiesDescriptor` aggregate; every entity with
//! an `IDPSSODescriptor` becomes an [`IdentityProvider`]: its entity ID, SSO and SLO Locations per
//! binding, and the certificates of its `KeyDescriptor`s for signing (`use="signing"` or no `use`:
//! CIE's document separates signing from encryption, SPID's often omits `use`). When the source
//! names signers (AgID's certificate for the registry aggregate), the document's enveloped signature
//! must verify with them or the whole document is refused.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use serde::Serialize;
use snodo_security::dsig::{SignaturePolicy, TrustedKeys, signature_children, verify_enveloped_signature};
use snodo_security::saml::redirect::RedirectLimits;
use snodo_security::saml::sp_metadata::{HTTP_REDIRECT_BINDING, METADATA_NAMESPACE};
use snodo_security::saml::{Federation, HTTP_POST_BINDING};
use snodo_security::xml::{Document, Limits, NodeId, parse};

const DSIG_NAMESPACE: &str = "http://www.w3.org/2000/09/xmldsig#";

/// One identity provider, as its metadata describes it.
#[derive(Clone)]
pub struct IdentityProvider {
    pub entity_id: String,
    /// `OrganizationDisplayName` (Italian when there is one), for the backend's login button.
    pub display_name: Option<String>,
    pub sso_redirect: Option<String>,
    pub sso_post: Option<String>,
    pub slo_redirect: Option<String>,
    pub slo_post: Option<String>,
    pub keys: Arc<TrustedKeys>,
}

impl std::fmt::Debug for IdentityProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityProvider")
            .field("entity_id", &self.entity_id)
            .field("sso_redirect", &self.sso_redirect)
            .field("sso_post", &self.sso_post)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// How the backend's login page lists an IdP (`GET /identity/{tenant}/idps`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IdpListing {
    pub entity_id: String,
    pub name: Option<String>,
    pub federation: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("IdP metadata {source_name}: not well-formed or refused by the parser: {reason}")]
    Xml { source_name: String, reason: String },
    #[error(
        "IdP metadata {source_name}: the document element is not md:EntityDescriptor or md:EntitiesDescriptor"
    )]
    NotMetadata { source_name: String },
    #[error("IdP metadata {source_name}: signers are configured but the document is not signed")]
    Unsigned { source_name: String },
    #[error("IdP metadata {source_name}: signature refused: {reason}")]
    Signature { source_name: String, reason: String },
    #[error("IdP metadata {source_name}: entity {entity_id}: {reason}")]
    Entity {
        source_name: String,
        entity_id: String,
        reason: String,
    },
    #[error("IdP metadata {source_name}: no identity provider in the document")]
    Empty { source_name: String },
    #[error("IdP metadata {source_name}: cannot be read: {reason}")]
    Unreadable { source_name: String, reason: String },
}

/// Reads every identity provider of a metadata document. `signers`, when given, must verify the
/// document's own enveloped signature.
pub fn read_metadata(
    source_name: &str,
    bytes: &[u8],
    signers: Option<&TrustedKeys>,
) -> Result<Vec<IdentityProvider>, MetadataError> {
    // Aggregates are large (the SPID registry is ~200 KB with a dozen IdPs): a wider byte limit than
    // a Response, the parser's other limits unchanged.
    let limits = Limits {
        max_document_bytes: 16 << 20,
        max_nodes: 1 << 20,
        ..RedirectLimits::default().xml
    };
    let doc = parse(bytes, &limits).map_err(|e| MetadataError::Xml {
        source_name: source_name.to_owned(),
        reason: e.to_string(),
    })?;
    let root = doc.document_element();
    let root_name = doc.element(root).expect("the root is an element").name();
    if let Some(signers) = signers {
        let [signature] = signature_children(&doc, root)[..] else {
            return Err(MetadataError::Unsigned {
                source_name: source_name.to_owned(),
            });
        };
        verify_enveloped_signature(&doc, signature, &SignaturePolicy::spid(), signers).map_err(|e| {
            MetadataError::Signature {
                source_name: source_name.to_owned(),
                reason: e.to_string(),
            }
        })?;
    }
    let entities: Vec<NodeId> = if root_name.is(Some(METADATA_NAMESPACE), "EntityDescriptor") {
        vec![root]
    } else if root_name.is(Some(METADATA_NAMESPACE), "EntitiesDescriptor") {
        md_children(&doc, root, "EntityDescriptor").collect()
    } else {
        return Err(MetadataError::NotMetadata {
            source_name: source_name.to_owned(),
        });
    };
    let mut found = Vec::new();
    for entity in entities {
        let Some(entity_id) = doc
            .element(entity)
            .and_then(|e| e.attribute(None, "entityID"))
            .map(str::to_owned)
        else {
            continue;
        };
        let Some(idp) = md_children(&doc, entity, "IDPSSODescriptor").next() else {
            continue;
        };
        let fail = |reason: String| MetadataError::Entity {
            source_name: source_name.to_owned(),
            entity_id: entity_id.clone(),
            reason,
        };
        let mut keys = TrustedKeys::new();
        for descriptor in md_children(&doc, idp, "KeyDescriptor") {
            let usage = doc.element(descriptor).and_then(|e| e.attribute(None, "use"));
            if !matches!(usage, None | Some("signing")) {
                continue;
            }
            for certificate in descendants_named(&doc, descriptor, DSIG_NAMESPACE, "X509Certificate") {
                let text: String = doc
                    .text_content(certificate)
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                let der = openssl::base64::decode_block(&text)
                    .map_err(|_| fail("an X509Certificate is not base64".into()))?;
                let x509 = openssl::x509::X509::from_der(&der)
                    .map_err(|e| fail(format!("an X509Certificate is not DER: {e}")))?;
                keys.add_certificate(x509)
                    .map_err(|e| fail(format!("a signing certificate is unusable: {e}")))?;
            }
        }
        if keys.is_empty() {
            return Err(fail("no signing certificate in its KeyDescriptors".into()));
        }
        let location = |element: &str, binding: &str| {
            md_children(&doc, idp, element)
                .filter_map(|n| doc.element(n))
                .find(|e| e.attribute(None, "Binding") == Some(binding))
                .and_then(|e| e.attribute(None, "Location"))
                .map(str::to_owned)
        };
        let display_name = md_children(&doc, entity, "Organization").next().and_then(|org| {
            let names: Vec<NodeId> = md_children(&doc, org, "OrganizationDisplayName").collect();
            names
                .iter()
                .find(|n| {
                    doc.element(**n)
                        .and_then(|e| e.attribute(Some("http://www.w3.org/XML/1998/namespace"), "lang"))
                        == Some("it")
                })
                .or(names.first())
                .map(|n| doc.text_content(*n).trim().to_owned())
        });
        found.push(IdentityProvider {
            display_name,
            sso_redirect: location("SingleSignOnService", HTTP_REDIRECT_BINDING),
            sso_post: location("SingleSignOnService", HTTP_POST_BINDING),
            slo_redirect: location("SingleLogoutService", HTTP_REDIRECT_BINDING),
            slo_post: location("SingleLogoutService", HTTP_POST_BINDING),
            keys: Arc::new(keys),
            entity_id,
        });
    }
    if found.is_empty() {
        return Err(MetadataError::Empty {
            source_name: source_name.to_owned(),
        });
    }
    Ok(found)
}

fn md_children<'d>(doc: &'d Document, parent: NodeId, local: &'d str) -> impl Iterator<Item = NodeId> + 'd {
    doc.child_elements(parent).filter(move |n| {
        doc.element(*n)
            .is_some_and(|e| e.name().is(Some(METADATA_NAMESPACE), local))
    })
}

/// Elements named `{namespace}local` below `root`, in document order (iterative: metadata is trusted
/// less than it looks, its depth is bounded by the parser anyway).
fn descendants_named(doc: &Document, root: NodeId, namespace: &str, local: &str) -> Vec<NodeId> {
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        let children: Vec<NodeId> = doc.child_elements(node).collect();
        for child in children.into_iter().rev() {
            if doc
                .element(child)
                .is_some_and(|e| e.name().is(Some(namespace), local))
            {
                found.push(child);
            }
            stack.push(child);
        }
    }
    found
}

/// The identity providers of one tenant, per federation; replaced whole on each refresh.
#[derive(Debug, Default)]
pub struct IdpRegistry {
    federations: RwLock<BTreeMap<&'static str, Arc<Vec<IdentityProvider>>>>,
}

pub(crate) fn federation_name(federation: Federation) -> &'static str {
    match federation {
        Federation::Spid => "spid",
        Federation::CieId => "cie",
    }
}

impl IdpRegistry {
    pub fn new() -> IdpRegistry {
        IdpRegistry::default()
    }

    /// Replaces the IdPs of `federation`.
    pub fn replace(&self, federation: Federation, idps: Vec<IdentityProvider>) {
        self.federations
            .write()
            .insert(federation_name(federation), Arc::new(idps));
    }

    /// Adds IdPs to `federation` (an entity already present is replaced).
    pub fn extend(&self, federation: Federation, idps: Vec<IdentityProvider>) {
        let mut map = self.federations.write();
        let mut all: Vec<IdentityProvider> = map
            .get(federation_name(federation))
            .map(|v| v.as_ref().clone())
            .unwrap_or_default();
        for idp in idps {
            all.retain(|i| i.entity_id != idp.entity_id);
            all.push(idp);
        }
        map.insert(federation_name(federation), Arc::new(all));
    }

    pub fn find(&self, federation: Federation, entity_id: &str) -> Option<IdentityProvider> {
        self.federations
            .read()
            .get(federation_name(federation))
            .and_then(|v| v.iter().find(|i| i.entity_id == entity_id).cloned())
    }

    pub fn listing(&self) -> Vec<IdpListing> {
        let map = self.federations.read();
        map.iter()
            .flat_map(|(federation, idps)| {
                idps.iter().map(|i| IdpListing {
                    entity_id: i.entity_id.clone(),
                    name: i.display_name.clone(),
                    federation,
                })
            })
            .collect()
    }
}

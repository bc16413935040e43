//! The national validators check an AuthnRequest against the SAML 2.0 protocol schema before any
//! SPID rule, so the simulator does too: a request can satisfy every rule we test one by one and still
//! be refused by a real IdP for an element out of order or an attribute the schema does not know.
//! The schema is the official `saml-schema-protocol-2.0.xsd` (with the assertion and xmldsig schemas it
//! imports) from the SPID specs directory, compiled once on first use.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use snodo_security::schema::Schema;
use snodo_security::xml::Document;

use super::request::Problem;

/// Where the SPID schemas are (`xsd/spid/` under it); see [`default_specs_dir`].
pub const SPECS_VARIABLE: &str = "SNODO_IDP_SPECS";

/// The rule name a schema violation is reported under.
pub const XSD_RULE: &str = "XSD saml-schema-protocol-2.0.xsd";

/// The SPID specs: `SNODO_IDP_SPECS`, else the `shared/specs/spid` beside the source tree this was
/// built from (the schemas are OASIS's and AgID's files, not copied into the project).
pub fn default_specs_dir() -> PathBuf {
    std::env::var_os(SPECS_VARIABLE)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/specs/spid")))
}

/// The protocol schema of one specs directory, compiled lazily: a simulator started where the specs
/// are missing still serves metadata and logout, and says exactly why it refuses every AuthnRequest.
pub struct ProtocolSchema {
    path: PathBuf,
    compiled: OnceLock<Result<Schema, String>>,
}

impl ProtocolSchema {
    pub fn new(specs_dir: &Path) -> ProtocolSchema {
        ProtocolSchema {
            path: specs_dir.join("xsd/spid/saml-schema-protocol-2.0.xsd"),
            compiled: OnceLock::new(),
        }
    }

    /// Every schema violation of the document's root element, one [`Problem`] each.
    pub fn problems(&self, doc: &Document) -> Vec<Problem> {
        let schema = self.compiled.get_or_init(|| {
            Schema::compile(&self.path).map_err(|e| {
                format!(
                    "the simulator cannot validate AuthnRequests: {} does not compile ({e}); set {SPECS_VARIABLE} \
                     to the SPID specs directory",
                    self.path.display()
                )
            })
        });
        let schema = match schema {
            Ok(schema) => schema,
            Err(e) => return vec![Problem::new(XSD_RULE, e.clone())],
        };
        match schema.validate_element(doc, doc.document_element()) {
            Ok(()) => Vec::new(),
            Err(e) if e.problems().is_empty() => vec![Problem::new(XSD_RULE, e.to_string())],
            Err(e) => e
                .problems()
                .iter()
                .map(|p| Problem::new(XSD_RULE, p.to_string()))
                .collect(),
        }
    }
}

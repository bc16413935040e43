//! XML Schema (XSD 1.0) validation against the platforms' official schemas: what the pagoPA endpoint
//! answers with `PAA_SINTASSI_XSD`, how every simulator judges a request as its platform would, and what
//! the certification suites check.
//!
//! There is no mature XSD validator in Rust (one measured here rejected a valid pagoPA response whose
//! schema has unqualified local elements), so validation is libxml2's, the implementation behind
//! `xmllint --schema` that the platforms' own tooling uses — but it only ever sees documents that
//! this crate's screening parser ([`crate::xml::parse`]) has already accepted: no DOCTYPE, no entities,
//! bounded size, depth and node count. libxml2 then re-reads those bytes with the network off. Schemas
//! are trusted local files; their imports of W3C schemas by `http://` URL resolve to the local copy
//! of the same name beside them, and nothing is ever fetched. `security/README.md` records the
//! decision and the agreement tests against `xmllint`.

mod error;
mod ffi;
mod libxml;

use std::path::{Path, PathBuf};

pub use error::{Problem, SchemaError};

use crate::c14n::{Algorithm, Canonicalization};
use crate::xml::{Document, Limits, NodeId, parse};

/// One compiled schema (a root XSD and everything it includes or imports), shareable between threads.
pub struct Schema {
    compiled: libxml::CompiledSchema,
    path: PathBuf,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema").field("path", &self.path).finish()
    }
}

impl Schema {
    /// Compiles the schema at `path`. Relative `schemaLocation`s resolve against its directory.
    pub fn compile(path: impl AsRef<Path>) -> Result<Schema, SchemaError> {
        let path = path.as_ref();
        let canonical = path.canonicalize().map_err(|e| SchemaError::Unreadable {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let compiled = libxml::CompiledSchema::compile(&canonical)?;
        Ok(Schema {
            compiled,
            path: canonical,
        })
    }

    /// The root schema file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Screens `xml` with the crate's parser under `limits`, then validates the whole document.
    pub fn validate(&self, xml: &[u8], limits: &Limits) -> Result<(), SchemaError> {
        parse(xml, limits)?;
        self.compiled.validate_screened(xml, self.name())
    }

    /// Validates one element of an already parsed document as if it were a document of its own, with
    /// every namespace in scope: how a SOAP Body's payload is checked against the service's schema.
    pub fn validate_element(&self, doc: &Document, element: NodeId) -> Result<(), SchemaError> {
        // Inclusive canonicalization writes the subtree with all in-scope namespace declarations (and
        // inherited xml:* attributes) on its apex: a standalone document with the same infoset.
        let bytes = Canonicalization::new(Algorithm::Inclusive)
            .subtree(doc, element, &[])
            .map_err(|e| SchemaError::Serialization {
                reason: e.to_string(),
            })?;
        self.compiled.validate_screened(&bytes, self.name())
    }

    fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

//! The ID index of one document: every value of the configured ID attributes, each naming exactly one
//! element.
//!
//! Wrapping attacks (spid-and-cie-id.md §5, XSW1–XSW8) need a second element answering to the signed
//! ID, so that the verifier and the application find different ones; LightSAML's document-wide ID
//! lookup was one such hole. Building the index refuses the document if any value appears on two
//! elements, so a Reference resolves to one element or to none.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::SignatureError;
use super::policy::IdAttribute;
use crate::xml::{Document, NodeId};

/// IDs of one document under a set of ID attributes; built by [`IdIndex::build`].
#[derive(Debug, Clone)]
pub struct IdIndex<'d> {
    ids: HashMap<&'d str, NodeId>,
}

impl<'d> IdIndex<'d> {
    /// Indexes every element carrying one of `attributes`. Fails with
    /// [`SignatureError::DuplicateId`] when one value names two elements, whichever attributes carry
    /// it (an element may repeat its own ID in two attributes). Empty values are not IDs and cannot
    /// be referenced.
    pub fn build(doc: &'d Document, attributes: &[IdAttribute]) -> Result<IdIndex<'d>, SignatureError> {
        let mut ids = HashMap::new();
        // The arena holds nodes in document order, so this is a document-order walk without a stack.
        for index in 0..doc.len() {
            let node = NodeId(u32::try_from(index).expect("node count is bounded by Limits::max_nodes"));
            let Some(element) = doc.element(node) else {
                continue;
            };
            for attribute in element.attributes() {
                let name = attribute.name();
                let is_id = attributes.iter().any(|a| name.is(a.namespace(), a.local_name()));
                if !is_id || attribute.value().is_empty() {
                    continue;
                }
                match ids.entry(attribute.value()) {
                    Entry::Vacant(v) => {
                        v.insert(node);
                    }
                    Entry::Occupied(o) if *o.get() == node => {}
                    Entry::Occupied(o) => {
                        return Err(SignatureError::DuplicateId {
                            id: (*o.key()).to_owned(),
                        });
                    }
                }
            }
        }
        Ok(IdIndex { ids })
    }

    /// The element whose ID is `id`.
    pub fn get(&self, id: &str) -> Option<NodeId> {
        self.ids.get(id).copied()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

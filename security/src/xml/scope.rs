//! Namespace scopes as a hashed stack: constant-time prefix lookup whatever the nesting.
//!
//! Both the parser (resolving prefixes) and canonicalization (in-scope and rendered namespaces) keep
//! one. A plain list searched backwards, or a walk up the ancestors, costs O(depth × declarations) per
//! element, which a hostile document maximises (64 declarations on each of 64 nested elements, then
//! thousands of small elements inside): the cost of a message must stay linear in its size. A key is
//! allocated once per distinct prefix, not once per declaration, so ordinary documents stay cheap.

use std::collections::HashMap;

/// Bindings from prefixes (`""` is the default namespace) to values, with marks to undo every binding
/// made since.
pub(crate) struct Scopes<V> {
    slots: HashMap<Box<str>, usize>,
    /// Per slot, the values bound to its key, innermost last.
    values: Vec<Vec<V>>,
    /// The slot of every binding, in order, to undo them.
    log: Vec<usize>,
}

impl<V: Copy> Scopes<V> {
    pub(crate) fn new() -> Self {
        Scopes {
            slots: HashMap::new(),
            values: Vec::new(),
            log: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, key: &str, value: V) {
        let slot = match self.slots.get(key) {
            Some(&slot) => slot,
            None => {
                self.values.push(Vec::new());
                self.slots.insert(key.into(), self.values.len() - 1);
                self.values.len() - 1
            }
        };
        self.values[slot].push(value);
        self.log.push(slot);
    }

    /// The innermost value bound to `key`.
    pub(crate) fn get(&self, key: &str) -> Option<V> {
        self.slots
            .get(key)
            .and_then(|&slot| self.values[slot].last().copied())
    }

    /// A mark to return to with [`Scopes::truncate`].
    pub(crate) fn mark(&self) -> usize {
        self.log.len()
    }

    /// Undoes every binding made since `mark`.
    pub(crate) fn truncate(&mut self, mark: usize) {
        while self.log.len() > mark {
            let slot = self.log.pop().expect("log is longer than mark");
            self.values[slot].pop();
        }
    }

    /// Every key with a binding in scope, with its innermost value, in no particular order.
    pub(crate) fn in_scope(&self) -> impl Iterator<Item = (&str, V)> {
        self.slots
            .iter()
            .filter_map(|(key, &slot)| self.values[slot].last().map(|&v| (&**key, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::Scopes;

    #[test]
    fn inner_bindings_shadow_and_unwind() {
        let mut s: Scopes<&str> = Scopes::new();
        s.push("p", "urn:outer");
        let mark = s.mark();
        s.push("p", "urn:inner");
        s.push("", "urn:default");
        assert_eq!(s.get("p"), Some("urn:inner"));
        assert_eq!(s.in_scope().count(), 2);
        s.truncate(mark);
        assert_eq!(s.get("p"), Some("urn:outer"));
        assert_eq!(s.get(""), None);
        assert_eq!(s.in_scope().count(), 1);
    }
}

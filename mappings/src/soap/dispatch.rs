//! Dispatch on the payload's expanded name: the one routing rule of every SOAP endpoint and simulator.

use std::collections::BTreeMap;

use super::{Envelope, QName, SoapError};

/// Operations keyed by their request element.
#[derive(Debug, Clone)]
pub struct Dispatcher<T> {
    routes: BTreeMap<QName, T>,
}

impl<T> Default for Dispatcher<T> {
    fn default() -> Self {
        Dispatcher {
            routes: BTreeMap::new(),
        }
    }
}

impl<T> Dispatcher<T> {
    pub fn new() -> Dispatcher<T> {
        Dispatcher::default()
    }

    /// Routes requests whose payload is `request` to `operation`. Panics on a duplicate: two handlers
    /// for one element is a wiring bug found at start-up.
    pub fn route(mut self, request: QName, operation: T) -> Dispatcher<T> {
        let shown = request.to_string();
        assert!(
            self.routes.insert(request, operation).is_none(),
            "two operations for {shown}"
        );
        self
    }

    /// The operation for this envelope's payload.
    pub fn operation(&self, envelope: &Envelope) -> Result<&T, SoapError> {
        let payload = envelope.payload_name();
        self.routes
            .get(&payload)
            .ok_or(SoapError::UnknownOperation { payload })
    }

    /// The request elements routed, in order.
    pub fn requests(&self) -> impl Iterator<Item = &QName> {
        self.routes.keys()
    }
}

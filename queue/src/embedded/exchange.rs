//! Exchanges of the embedded broker: bindings, RabbitMQ's matching rules per exchange kind, alternate
//! exchanges, and the route cache.
//!
//! Routing is the hot path of every publish, while bindings change only on declaration. So the resolved
//! route — the queues a routing key reaches, alternate exchanges already followed — is cached per routing
//! key, and every topology change drops the whole cache (see `Objects::invalidate_routes`).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use super::Objects;
use super::queue::Queue;
use crate::topology::{ExchangeKind, ExchangeSpec, topic_matches};
use crate::transport::TransportError;

/// Bounds the cache when publishers use unbounded sets of routing keys (Snodo's are message types, a few
/// dozen): past it the cache starts over rather than growing without limit.
const MAX_CACHED_ROUTES: usize = 4096;

/// Longest alternate-exchange chain followed; RabbitMQ also stops at a loop, which `visited` catches.
const MAX_ALTERNATE_HOPS: usize = 16;

struct Binding {
    queue: String,
    pattern: String,
}

pub(super) struct Exchange {
    spec: ExchangeSpec,
    bindings: Vec<Binding>,
    routes: RwLock<HashMap<String, Arc<[Arc<Queue>]>>>,
}

impl Exchange {
    pub(super) fn new(spec: ExchangeSpec) -> Self {
        Exchange {
            spec,
            bindings: Vec::new(),
            routes: RwLock::new(HashMap::new()),
        }
    }

    /// RabbitMQ answers a redeclaration with other settings with a 406 naming the inequivalent argument.
    pub(super) fn check_equivalent(&self, requested: &ExchangeSpec) -> Result<(), TransportError> {
        let object = format!("exchange {}", requested.name);
        if self.spec.kind != requested.kind {
            return Err(TransportError::PreconditionFailed {
                object,
                reason: format!(
                    "inequivalent type: declared {}, current is {}",
                    requested.kind.as_str(),
                    self.spec.kind.as_str()
                ),
            });
        }
        if self.spec.alternate_exchange != requested.alternate_exchange {
            return Err(TransportError::PreconditionFailed {
                object,
                reason: format!(
                    "inequivalent alternate-exchange: declared {:?}, current is {:?}",
                    requested.alternate_exchange, self.spec.alternate_exchange
                ),
            });
        }
        Ok(())
    }

    /// Adds a binding; returns whether it is new (re-binding is idempotent, as in AMQP).
    pub(super) fn bind(&mut self, queue: &str, pattern: &str) -> bool {
        if self
            .bindings
            .iter()
            .any(|b| b.queue == queue && b.pattern == pattern)
        {
            return false;
        }
        self.bindings.push(Binding {
            queue: queue.to_owned(),
            pattern: pattern.to_owned(),
        });
        true
    }

    /// Removes every binding to `queue` (the queue was deleted); returns whether there was any.
    pub(super) fn unbind_queue(&mut self, queue: &str) -> bool {
        let before = self.bindings.len();
        self.bindings.retain(|b| b.queue != queue);
        before != self.bindings.len()
    }

    pub(super) fn invalidate(&self) {
        self.routes.write().clear();
    }

    /// The queues a message published here with `routing_key` reaches, alternate exchanges included.
    /// `objects` must be the topology this exchange belongs to, read-locked by the caller, which also
    /// guarantees that no invalidation races with filling the cache.
    pub(super) fn route(&self, objects: &Objects, routing_key: &str) -> Arc<[Arc<Queue>]> {
        if let Some(route) = self.routes.read().get(routing_key) {
            return route.clone();
        }
        let mut queues = Vec::new();
        let mut visited = vec![self.spec.name.as_str()];
        let mut exchange = self;
        loop {
            exchange.matching_queues(objects, routing_key, &mut queues);
            if !queues.is_empty() {
                break;
            }
            // Nothing matched: the alternate exchange gets the message, as if published there.
            let Some(alternate) = exchange.spec.alternate_exchange.as_deref() else {
                break;
            };
            if visited.contains(&alternate) || visited.len() > MAX_ALTERNATE_HOPS {
                tracing::warn!(
                    exchange = self.spec.name,
                    alternate,
                    "alternate-exchange loop: message unroutable"
                );
                break;
            }
            let Some(next) = objects.exchanges.get(alternate) else {
                // RabbitMQ only warns about a missing alternate exchange; the message is unroutable.
                break;
            };
            visited.push(alternate);
            exchange = next;
        }
        let route: Arc<[Arc<Queue>]> = queues.into();
        let mut routes = self.routes.write();
        if routes.len() >= MAX_CACHED_ROUTES {
            routes.clear();
        }
        routes.insert(routing_key.to_owned(), route.clone());
        route
    }

    fn matching_queues(&self, objects: &Objects, routing_key: &str, out: &mut Vec<Arc<Queue>>) {
        for binding in &self.bindings {
            let matches = match self.spec.kind {
                ExchangeKind::Fanout => true,
                ExchangeKind::Direct => binding.pattern == routing_key,
                ExchangeKind::Topic => topic_matches(&binding.pattern, routing_key),
            };
            if !matches {
                continue;
            }
            // A queue bound under several matching patterns still gets one copy.
            if let Some(queue) = objects.queues.get(&binding.queue)
                && !out.iter().any(|q| Arc::ptr_eq(q, queue))
            {
                out.push(queue.clone());
            }
        }
    }
}

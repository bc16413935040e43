//! Reusable test suites, behind the `testing` feature: the transport conformance suite (the same test code
//! against the embedded broker and RabbitMQ) and the helpers that give every test an isolated broker.
//!
//! A test binary picks a [`TestBroker`] and expands [`transport_conformance_tests!`]; each case then
//! runs against that broker. RabbitMQ brokers isolate tests by virtual host, so test binaries and the
//! tests inside them can run in parallel against one node.

use async_trait::async_trait;

use crate::transport::SharedTransport;

pub mod conformance;

/// An isolated broker for one test.
#[async_trait]
pub trait TestBroker: Send + Sync + 'static {
    /// A new connection to this broker. Two calls give two independent connections to the same broker
    /// (competing consumers, a publisher and a consumer that can die separately).
    async fn connect(&self) -> SharedTransport;

    /// Stops the broker and starts it again, keeping durable queues and their messages. Every connection
    /// drops; transports must recover by themselves.
    async fn restart(&self);

    /// Raises a resource alarm so the broker blocks publishers (`connection.blocked`).
    async fn block_publishers(&self);

    /// Clears the alarm raised by [`TestBroker::block_publishers`].
    async fn unblock_publishers(&self);
}

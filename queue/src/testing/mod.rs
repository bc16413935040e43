//! Reusable test suites, behind the `testing` feature: the transport conformance suite (the same test code
//! against the embedded broker and RabbitMQ) and the helpers that give every test an isolated broker.
//!
//! A test binary picks a [`TestBroker`] and expands [`transport_conformance_tests!`]; each case then
//! runs against that broker. RabbitMQ brokers isolate tests by virtual host, so test binaries and the
//! tests inside them can run in parallel against one node.

use async_trait::async_trait;

use crate::transport::SharedTransport;

pub mod compliance;
pub mod conformance;
pub mod embedded;
pub mod harness;
pub mod inbound;
pub mod lost_acks;
pub mod rabbit;
pub mod recording;
pub mod runtime_cases;
pub mod scripted;

/// An isolated broker for one test.
#[async_trait]
pub trait TestBroker: Send + Sync + 'static {
    /// A new connection to this broker. Two calls give two independent connections to the same broker
    /// (competing consumers, a publisher and a consumer that can die separately).
    async fn connect(&self) -> SharedTransport;

    /// Like [`TestBroker::connect`], with a publish timeout other than the default: the blocked-broker
    /// conformance case needs a publish to give up within a second. The default ignores the timeout, so
    /// a broker that does not override it fails that case.
    async fn connect_with_publish_timeout(&self, publish_timeout: std::time::Duration) -> SharedTransport {
        let _ = publish_timeout;
        self.connect().await
    }

    /// Stops the broker and starts it again, keeping durable queues and their messages. Every connection
    /// drops; transports must recover by themselves.
    async fn restart(&self);

    /// Raises a resource alarm so the broker blocks publishers (`connection.blocked`).
    async fn block_publishers(&self);

    /// Clears the alarm raised by [`TestBroker::block_publishers`].
    async fn unblock_publishers(&self);
}

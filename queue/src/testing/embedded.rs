//! The embedded broker as a [`TestBroker`]: a fresh in-process broker per test, with the restart and
//! resource-alarm faults simulated in memory, so every conformance case runs without RabbitMQ.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::TestBroker;
use crate::embedded::{ConnectionOptions, EmbeddedBroker};
use crate::transport::SharedTransport;

/// The reason reported while [`TestBroker::block_publishers`] is in force, like RabbitMQ's alarm text.
pub const TEST_ALARM: &str = "memory alarm raised by the test";

/// One embedded broker. Each test makes its own, so tests never share state.
pub struct EmbeddedTestBroker {
    broker: Arc<EmbeddedBroker>,
}

impl EmbeddedTestBroker {
    pub fn new() -> Self {
        EmbeddedTestBroker {
            broker: EmbeddedBroker::new(),
        }
    }

    /// The broker itself, for tests that need its hooks directly.
    pub fn broker(&self) -> &Arc<EmbeddedBroker> {
        &self.broker
    }
}

impl Default for EmbeddedTestBroker {
    fn default() -> Self {
        EmbeddedTestBroker::new()
    }
}

#[async_trait]
impl TestBroker for EmbeddedTestBroker {
    async fn connect(&self) -> SharedTransport {
        self.broker.connect()
    }

    async fn connect_with_publish_timeout(&self, publish_timeout: Duration) -> SharedTransport {
        self.broker.connect_with(ConnectionOptions { publish_timeout })
    }

    async fn restart(&self) {
        self.broker.simulate_restart().await;
    }

    async fn block_publishers(&self) {
        self.broker.set_blocked(Some(TEST_ALARM.to_owned()));
    }

    async fn unblock_publishers(&self) {
        self.broker.set_blocked(None);
    }
}

//! The consumer runtime's conformance cases and the connector compliance suite on RabbitMQ: the same code
//! as `runtime_embedded.rs`, each test in its own virtual host of the shared broker.

use snodo_queue::testing::compliance::{ScriptedSubject, assert_connector_compliance};
use snodo_queue::testing::rabbit::RabbitTestBroker;

snodo_queue::runtime_conformance_tests!(RabbitTestBroker::shared().await);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scripted_connector_is_compliant() {
    let broker = RabbitTestBroker::shared().await;
    assert_connector_compliance(&broker, &ScriptedSubject::new()).await;
}

// Outcome confirmed, ack lost, redelivered: one outcome per command with a settled-attempts ledger.
snodo_queue::lost_ack_tests!(RabbitTestBroker::shared().await);

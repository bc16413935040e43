//! The consumer runtime's conformance cases and the connector compliance suite on the embedded transport.

use snodo_queue::testing::compliance::{ScriptedSubject, assert_connector_compliance};
use snodo_queue::testing::embedded::EmbeddedTestBroker;

snodo_queue::runtime_conformance_tests!(EmbeddedTestBroker::new());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scripted_connector_is_compliant() {
    let broker = EmbeddedTestBroker::new();
    assert_connector_compliance(&broker, &ScriptedSubject::new()).await;
}

snodo_queue::runtime_fault_tests!(EmbeddedTestBroker::new());

// Outcome confirmed, ack lost, redelivered: one outcome per command with a settled-attempts ledger.
snodo_queue::lost_ack_tests!(EmbeddedTestBroker::new());

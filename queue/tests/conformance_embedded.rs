//! The transport conformance suite against the embedded in-process broker: the same cases RabbitMQ must
//! pass, so that `snodo up` without RabbitMQ and the unit tests see RabbitMQ's semantics.

use snodo_queue::testing::embedded::EmbeddedTestBroker;

snodo_queue::transport_conformance_tests!(EmbeddedTestBroker::new());
snodo_queue::transport_fault_tests!(EmbeddedTestBroker::new());

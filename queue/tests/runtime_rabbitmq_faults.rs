//! The runtime across a RabbitMQ restart and a publisher block, on the private node that the test script
//! starts (never the shared one). These tests restart that node: run them one at a time.

use snodo_queue::testing::rabbit::RabbitTestBroker;

snodo_queue::runtime_fault_tests!(RabbitTestBroker::private().await);

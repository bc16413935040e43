//! The CIE booking connector passes the connector compliance suite on both transports, in front of
//! the real booking simulator (its fault layer scripts the transient failures and the stall; its
//! recording gives the operation id of every call).

mod cie_booking_common;

use std::sync::Arc;
use std::time::Duration;

use cie_booking_common::{BookingService, start_service};
use serde_json::json;
use snodo_queue::runtime::SharedHandler;
use snodo_queue::testing::compliance::{ComplianceSubject, FakePlatform, assert_connector_compliance};
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_queue::testing::rabbit::RabbitTestBroker;
use snodo_simulators::framework::Fault;

struct Subject {
    service: BookingService,
}

impl ComplianceSubject for Subject {
    fn handler(&self) -> SharedHandler {
        self.service.handler()
    }

    fn valid_command(&self) -> (String, serde_json::Value) {
        ("cie_booking.offices.list".into(), json!({"schema": 1}))
    }

    fn invalid_command(&self) -> (String, serde_json::Value) {
        (
            "cie_booking.offices.list".into(),
            json!({"schema": 1, "unexpected": true}),
        )
    }

    fn platform(&self) -> Option<&dyn FakePlatform> {
        Some(self)
    }
}

impl FakePlatform for Subject {
    fn fail_transiently(&self, n: usize) {
        self.service.fault(
            None,
            n as u32,
            Fault::HttpStatus {
                status: 503,
                body: None,
                content_type: None,
            },
        );
    }

    fn stall_next(&self, d: Duration) {
        self.service.fault(
            None,
            1,
            Fault::Latency {
                ms: Some(d.as_millis() as u64),
                min_ms: None,
                max_ms: None,
            },
        );
    }

    fn idempotency_keys(&self) -> Vec<Option<String>> {
        self.service.operation_ids(None).into_iter().map(Some).collect()
    }

    fn calls(&self) -> usize {
        self.service.operation_ids(None).len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cie_booking_is_compliant_on_the_embedded_transport() {
    let subject = Arc::new(Subject {
        service: start_service().await,
    });
    assert_connector_compliance(&EmbeddedTestBroker::new(), subject.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cie_booking_is_compliant_on_rabbitmq() {
    let subject = Subject {
        service: start_service().await,
    };
    assert_connector_compliance(&RabbitTestBroker::shared().await, &subject).await;
}

//! paSendRT through the inbound compliance suite: OK only after the broker confirmed the receipt
//! event, one `message_id` per receipt, and with the broker unreachable or blocked a
//! `PAA_SYSTEM_ERROR` within the node's 15 s — then success on the node's retry, nothing lost. The
//! RabbitMQ variant (which blocks the private node) is in `inbound_faults`, run by the broker-fault
//! stage of `scripts/test`.

mod pagopa_common;

use std::time::Duration;

use async_trait::async_trait;
use pagopa_common::*;
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_queue::testing::inbound::{
    InboundAnswer, InboundEndpoint, InboundSubject, assert_inbound_compliance,
};
use snodo_queue::{Names, SharedTransport};

struct PaSendRt;

struct Running(Ec);

#[async_trait]
impl InboundEndpoint for Running {
    async fn call(&self, platform_id: &str) -> InboundAnswer {
        let answer = self
            .0
            .call(&send_rt(platform_id, "301000000000000144", &[(EC, 10050)], false))
            .await;
        match (answer.outcome(), answer.fault_code()) {
            (Some("OK"), _) => InboundAnswer::Stored,
            (Some("KO"), Some("PAA_SYSTEM_ERROR")) => InboundAnswer::RetryLater,
            _ => InboundAnswer::Other(answer.body),
        }
    }
}

#[async_trait]
impl InboundSubject for PaSendRt {
    async fn start(&self, transport: SharedTransport, names: &Names) -> Box<dyn InboundEndpoint> {
        let timeouts = Timeouts {
            position: Duration::from_secs(2),
            // Well inside the node's 15 s, short enough for the suite.
            receipt: Duration::from_secs(3),
        };
        Box::new(Running(Ec::start(transport, names.clone(), timeouts).await))
    }

    fn event_kind(&self) -> &str {
        "pagopa.receipt.received"
    }

    fn platform_timeout(&self) -> Duration {
        Duration::from_secs(15)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pa_send_rt_is_inbound_compliant_on_the_embedded_transport() {
    assert_inbound_compliance(&EmbeddedTestBroker::new(), &PaSendRt).await;
}

mod inbound_faults {
    use super::*;
    use snodo_queue::testing::rabbit::RabbitTestBroker;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pa_send_rt_is_inbound_compliant_on_rabbitmq() {
        let broker = RabbitTestBroker::private()
            .await
            .with_publish_timeout(Duration::from_secs(30));
        assert_inbound_compliance(&broker, &PaSendRt).await;
    }
}

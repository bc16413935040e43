//! The legacy SOAP reporting feed (`[pagopa.reporting] api = "soap"`) against the node simulator's
//! `nodeForPa` service: every flow the node lists for the EC becomes one `pagopa.reporting.flow`
//! item once, read from its `FlussoRiversamento` (validated against the official XSD), the cursor
//! forgets what the node no longer lists, a long list is taken over several polls, and the node's
//! refusals and absence are told apart (a person must act / try again).

use std::path::Path;
use std::sync::Arc;

use snodo_connectors::pagopa::aca::NodeApi;
use snodo_connectors::pagopa::reporting_soap::SoapFlowFeed;
use snodo_connectors::schedule::{Feed, FeedError};
use snodo_mappings::pagopa::FlowCaller;
use snodo_mappings::pagopa::contract::{FlowPayment, FlowSender, PaymentOutcome, ReportingFlow, SenderKind};
use snodo_security::schema::Schema;
use snodo_simulators::framework::{Instance, RunningSimulator, SimClock, Transport, serve};
use snodo_simulators::pagopa::archive::PublishedFlow;
use snodo_simulators::pagopa::{NodeCore, NodeSettings, PagopaNode};
use tokio_util::sync::CancellationToken;

const EC: &str = "01199250158";
const OTHER_EC: &str = "08911820960";
const STATION: &str = "01199250158_01";
const KEY: &str = "snodo-development-subscription-key";
const PASSWORD: &str = "snodo-dev-pwd";

struct Node {
    core: Arc<NodeCore>,
    simulator: RunningSimulator,
    stop: CancellationToken,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn node() -> Node {
    let clock = SimClock::new();
    let node = PagopaNode::new(clock.clone(), NodeSettings::default());
    let core = node.core().clone();
    let stop = CancellationToken::new();
    let simulator = serve(
        Arc::new(Instance::new(Arc::new(node), clock)),
        "127.0.0.1:0".parse().unwrap(),
        Transport::Http,
        stop.clone(),
    )
    .await
    .unwrap();
    Node {
        core,
        simulator,
        stop,
    }
}

fn schema() -> Arc<Schema> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/specs/pagopa/xsd-common/FlussoRiversamento_1_0_4.xsd");
    Arc::new(Schema::compile(path).expect("the flow XSD compiles"))
}

fn feed_at(url: &str, password: &str) -> SoapFlowFeed {
    let api = NodeApi::new(reqwest::Client::new(), url, KEY);
    let caller = FlowCaller {
        broker_id: EC.into(),
        station_id: STATION.into(),
        password: password.into(),
        domain_id: None,
        psp_id: None,
    };
    SoapFlowFeed::new(api, "015146", EC, caller, schema())
}

/// A flow of `receiver` produced at `at` with one payment per amount.
fn flow(receiver: &str, id: &str, at: &str, amounts: &[u64]) -> PublishedFlow {
    let payments: Vec<FlowPayment> = amounts
        .iter()
        .enumerate()
        .map(|(i, cents)| FlowPayment {
            iuv: format!("01000000000{:06}", i + 1),
            iur: format!("IUR{id}{i}")
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect(),
            transfer_index: Some(1),
            amount_cents: *cents,
            outcome: PaymentOutcome::Executed,
            date: "2025-07-03".into(),
        })
        .collect();
    PublishedFlow {
        flow: ReportingFlow {
            flow_id: id.into(),
            flow_date_time: at.into(),
            revision: Some(1),
            regulation_id: format!("TRN{}", id.len()),
            regulation_date: "2025-07-04".into(),
            sender: FlowSender {
                kind: SenderKind::BicCode,
                id: "SNODITM1XXX".into(),
                name: Some("PSP simulato Snodo".into()),
                psp_id: Some("SNODOPSP01".into()),
            },
            bic_pouring_bank: None,
            receiver_id: receiver.into(),
            receiver_name: Some("Comune di Milano".into()),
            total_payments: payments.len() as u64,
            total_amount_cents: amounts.iter().sum(),
            payments,
        },
        psp_id: "SNODOPSP01".into(),
        published: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn every_flow_the_node_lists_becomes_one_item_once() {
    let node = node().await;
    {
        let mut archive = node.core.archive.lock();
        archive.flows.push(flow(
            EC,
            "2025-07-04SNODOPSP01-0002",
            "2025-07-04T11:00:00",
            &[10_050, 45],
        ));
        archive.flows.push(flow(
            EC,
            "2025-07-04SNODOPSP01-0001",
            "2025-07-04T10:00:00",
            &[700],
        ));
        // Another EC's flow: never this tenant's event.
        archive.flows.push(flow(
            OTHER_EC,
            "2025-07-04SNODOPSP01-0003",
            "2025-07-04T09:00:00",
            &[100],
        ));
    }
    let feed = feed_at(&node.simulator.url(), PASSWORD);
    let first = feed.poll(None).await.unwrap();
    assert!(!first.more);
    let ids: Vec<&str> = first
        .items
        .iter()
        .map(|i| i.body["flow_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["2025-07-04SNODOPSP01-0001", "2025-07-04SNODOPSP01-0002"],
        "oldest first"
    );
    let second = &first.items[1];
    assert_eq!(second.kind.as_str(), "pagopa.reporting.flow");
    assert_eq!(second.tenant.as_deref(), Some("015146"));
    // The SOAP flow has no revision: the event id derives from the receiver and the flow id.
    assert_eq!(second.platform_id, format!("{EC}/2025-07-04SNODOPSP01-0002"));
    assert_eq!(second.body["total_amount_cents"], 10_095);
    assert_eq!(second.body["payments"][1]["amount_cents"], 45);
    assert_eq!(second.body["receiver_id"], EC);

    // Nothing new: nothing again.
    let again = feed.poll(Some(&first.next_cursor)).await.unwrap();
    assert!(again.items.is_empty(), "{:?}", again.items);

    // A new flow, and the node stops listing the oldest: one item, and the cursor forgets the id.
    {
        let mut archive = node.core.archive.lock();
        archive
            .flows
            .retain(|f| f.flow.flow_id != "2025-07-04SNODOPSP01-0001");
        archive.flows.push(flow(
            EC,
            "2025-07-05SNODOPSP01-0004",
            "2025-07-05T10:00:00",
            &[1_234],
        ));
    }
    let third = feed.poll(Some(&again.next_cursor)).await.unwrap();
    assert_eq!(third.items.len(), 1);
    assert_eq!(third.items[0].body["flow_id"], "2025-07-05SNODOPSP01-0004");
    assert!(
        !third.next_cursor.contains("SNODOPSP01-0001"),
        "{}",
        third.next_cursor
    );
    assert!(
        third.next_cursor.contains("SNODOPSP01-0002"),
        "{}",
        third.next_cursor
    );
}

#[tokio::test]
async fn a_long_list_is_taken_over_several_polls() {
    let node = node().await;
    {
        let mut archive = node.core.archive.lock();
        for i in 1..=25 {
            archive.flows.push(flow(
                EC,
                &format!("2025-07-04SNODOPSP01-{i:04}"),
                &format!("2025-07-04T10:00:{i:02}"),
                &[100 + i],
            ));
        }
    }
    let feed = feed_at(&node.simulator.url(), PASSWORD);
    let first = feed.poll(None).await.unwrap();
    assert_eq!(first.items.len(), 20);
    assert!(first.more);
    let second = feed.poll(Some(&first.next_cursor)).await.unwrap();
    assert_eq!(second.items.len(), 5);
    assert!(!second.more);
    assert_eq!(second.items[4].body["flow_id"], "2025-07-04SNODOPSP01-0025");
    let third = feed.poll(Some(&second.next_cursor)).await.unwrap();
    assert!(third.items.is_empty());
}

#[tokio::test]
async fn a_wrong_password_is_the_nodes_refusal_and_needs_a_person() {
    let node = node().await;
    let feed = feed_at(&node.simulator.url(), "not-the-pwd");
    match feed.poll(None).await {
        Err(FeedError::Invalid(reason)) => assert!(reason.contains("PPT_AUTENTICAZIONE"), "{reason}"),
        other => panic!("expected the node's refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_node_that_cannot_be_reached_is_an_outage_to_retry() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let feed = feed_at(&url, PASSWORD);
    assert!(matches!(feed.poll(None).await, Err(FeedError::Unavailable(_))));
}

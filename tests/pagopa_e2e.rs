//! The two halves of issue 6 against each other (`pagopa_common::world`): Snodo's pagoPA connector,
//! built as `snodo up` builds it, on RabbitMQ, the node simulator driving payments at it over mutual
//! TLS, and a test backend answering `pagopa.position.get` from its request queue as a Comune's
//! software would.
//!
//! What each scenario must end with is what the backend sees: `pagopa.receipt.received` events (the
//! same `message_id` for a duplicate), the ACA position in the node's archive, one
//! `pagopa.reporting.flow` per flow the node publishes. The node's verdicts are its own (XSD and
//! semantics of every answer), so a disagreement between the halves fails here.

mod pagopa_common;

use std::time::Duration;

use pagopa_common::world::{Options, World};
use pagopa_common::{Behaviour, EC, TEFA_EC, TENANT, payable};
use serde_json::json;
use snodo_connectors::pagopa::config::ReportingApi;
use snodo_mappings::pagopa::NoticeNumber;
use snodo_queue::testing::rabbit::RabbitTestBroker;

fn notice(base: u64) -> String {
    NoticeNumber::aux3(1, base).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_paid_at_the_node_reaches_the_backend_as_one_receipt_event() {
    let world = World::start().await;
    let n = notice(4_100_000_001);
    world
        .backend
        .set(&n, Behaviour::Answer(payable(&n, &[(EC, 12_350)])));
    let report = world.scenario("pay_notice", &n).await;
    let steps: Vec<&str> = report["payment"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ec_primitive"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(steps, ["paVerifyPaymentNotice", "paGetPaymentV2", "paSendRTV2"]);

    let receipts = world.events("pagopa.receipt.received", 1).await;
    let (envelope, body) = &receipts[0];
    assert_eq!(envelope.tenant.as_deref(), Some(TENANT));
    assert_eq!(body["notice_number"], n.as_str());
    assert_eq!(body["amount_cents"], 12_350);
    assert_eq!(body["stand_in"], false);
    assert_eq!(body["receipt_id"], report["payment"]["payment_token"]);
    // The backend was asked twice (verify, activation), with the tenant and an expiration.
    let questions = world.backend.questions();
    assert_eq!(questions.len(), 2, "{questions:?}");
    assert!(questions.iter().all(|q| q.kind == "pagopa.position.get"
        && q.tenant.as_deref() == Some(TENANT)
        && q.expiration.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_transfer_tari_tefa_notice_and_a_duplicate_receipt() {
    let world = World::start().await;
    let tari = notice(4_100_000_002);
    let transfers = [
        (EC, 10_000),
        (TEFA_EC, 500),
        (EC, 2_000),
        (TEFA_EC, 100),
        (EC, 1_234),
    ];
    world
        .backend
        .set(&tari, Behaviour::Answer(payable(&tari, &transfers)));
    world.scenario("pay_tari_tefa", &tari).await;
    let receipts = world.events("pagopa.receipt.received", 1).await;
    let body = &receipts[0].1;
    assert_eq!(body["amount_cents"], 13_834);
    let beneficiaries: Vec<&str> = body["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["fiscal_code"].as_str().unwrap())
        .collect();
    assert_eq!(beneficiaries, [EC, TEFA_EC, EC, TEFA_EC, EC]);

    // The same receipt twice (the node's retry, a broadcast copy): both stored, one message_id.
    let twice = notice(4_100_000_003);
    world
        .backend
        .set(&twice, Behaviour::Answer(payable(&twice, &[(EC, 4_200)])));
    let report = world.scenario("duplicate_receipt", &twice).await;
    assert_eq!(report["duplicate"]["delivered"], true, "{report:#}");
    let receipts = world.events("pagopa.receipt.received", 2).await;
    assert_eq!(receipts[0].0.message_id, receipts[1].0.message_id);
    assert_eq!(receipts[0].1, receipts[1].1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_published_to_aca_is_paid_in_stand_in_and_its_receipt_accepted() {
    let world = World::start().await;
    let n = notice(4_100_000_004);
    world.publish_to_aca(&n, 8_800).await;

    // The station declared down: the node pays from ACA without asking the EC, and the EC accepts
    // the receipt of a notice it never verified.
    let report = world.scenario("pay_with_stand_in", &n).await;
    assert_eq!(report["payment"]["stand_in"], true);
    let receipts = world.events("pagopa.receipt.received", 1).await;
    assert_eq!(receipts[0].1["stand_in"], true);
    assert_eq!(receipts[0].1["amount_cents"], 8_800);
    assert!(world.backend.questions().is_empty(), "Stand-In asks no backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reporting_flow_the_node_publishes_becomes_one_event() {
    let world = World::start().await;
    let n = notice(4_100_000_005);
    world
        .backend
        .set(&n, Behaviour::Answer(payable(&n, &[(EC, 5_000)])));
    world.scenario("pay_notice", &n).await;
    world.events("pagopa.receipt.received", 1).await;
    let published = world.admin_post("/pagopa/flows", json!({})).await;
    assert_eq!(published["published"], 1, "{published:#}");
    let flows = world.events("pagopa.reporting.flow", 1).await;
    let (envelope, flow) = &flows[0];
    assert_eq!(envelope.tenant.as_deref(), Some(TENANT));
    let text = flow.to_string();
    assert!(text.contains(&n[1..]), "the flow reports the IUV paid: {flow:#}");
}

/// The legacy path, `[pagopa.reporting] api = "soap"` with the development station password: the
/// same flow reaches the backend from `nodoChiediFlussoRendicontazione`, every payment line of a
/// two-beneficiary notice for this EC, the other beneficiary's line in its own flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reporting_flow_reaches_the_backend_over_the_legacy_soap_api_too() {
    let world = World::with(Options {
        reporting: ReportingApi::Soap,
        ..Options::default()
    })
    .await;
    let n = notice(4_100_000_007);
    world.backend.set(
        &n,
        Behaviour::Answer(payable(&n, &[(EC, 5_000), (TEFA_EC, 250), (EC, 1_000)])),
    );
    world.scenario("pay_notice", &n).await;
    world.events("pagopa.receipt.received", 1).await;
    let published = world.admin_post("/pagopa/flows", json!({})).await;
    assert_eq!(
        published["published"], 2,
        "one flow per beneficiary: {published:#}"
    );
    let flows = world.events("pagopa.reporting.flow", 1).await;
    let (envelope, flow) = &flows[0];
    assert_eq!(envelope.tenant.as_deref(), Some(TENANT));
    assert_eq!(flow["receiver_id"], EC);
    assert!(
        flow.get("revision").is_none(),
        "a SOAP flow has no revision: {flow:#}"
    );
    assert_eq!(flow["total_amount_cents"], 6_000);
    let lines: Vec<(u64, &str)> = flow["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["amount_cents"].as_u64().unwrap(), p["iuv"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [(5_000, &n[1..]), (1_000, &n[1..])]);
    let exchanges = world
        .admin_get("/exchanges?operation=nodoChiediFlussoRendicontazione")
        .await;
    assert!(
        !exchanges["exchanges"].as_array().unwrap().is_empty(),
        "the flow came over SOAP: {exchanges:#}"
    );
}

mod inbound_faults {
    use snodo_queue::testing::TestBroker;

    use super::*;

    /// The broker blocked (memory alarm) while the node sends paSendRT: the node hears
    /// `PAA_SYSTEM_ERROR` before its 15 s and queues the receipt; an hour later on its clock, with the
    /// broker back, the re-submission is accepted and the backend holds the receipt — nothing lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_receipt_refused_while_the_broker_is_blocked_arrives_on_the_nodes_retry() {
        let broker = RabbitTestBroker::private()
            .await
            .with_publish_timeout(Duration::from_secs(30));
        let world = World::with(Options {
            broker: Some(broker),
            receipt_timeout: Duration::from_secs(3),
            ..Options::default()
        })
        .await;
        let n = notice(4_100_000_006);
        world.publish_to_aca(&n, 7_700).await;
        // Stand-In: the node asks the EC nothing before the receipt, so only paSendRT meets the
        // blocked broker.
        world.broker.block_publishers().await;
        let started = std::time::Instant::now();
        let report = world
            .admin_post(
                "/pagopa/scenarios",
                json!({ "scenario": "pay_with_stand_in", "notice_number": n }),
            )
            .await;
        world.broker.unblock_publishers().await;
        let steps = report["payment"]["steps"].as_array().unwrap();
        let send = steps.last().unwrap();
        assert_eq!(report["payment"]["result"], "paid_receipt_pending", "{report:#}");
        assert_eq!(
            send["fault"]["original_fault_code"], "PAA_SYSTEM_ERROR",
            "{report:#}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );

        world.clock.advance(chrono::TimeDelta::hours(1)).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let payments = world.admin_get("/pagopa/payments").await;
            let delivery = &payments["payments"][0]["delivery"];
            if delivery["state"] == "sent" {
                assert_eq!(delivery["attempts"], 2, "{payments:#}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{payments:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // At least the retry's event; the blocked attempt's may land too once the alarm clears,
        // with the same message_id, which is what lets the backend de-duplicate.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let receipts = world.drain("pagopa.receipt.received").await;
        assert!(!receipts.is_empty());
        assert!(
            receipts
                .iter()
                .all(|(e, _)| e.message_id == receipts[0].0.message_id)
        );
        assert_eq!(receipts[0].1["notice_number"], n.as_str());
    }
}

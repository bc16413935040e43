//! The pagoPA EC endpoint end to end over RabbitMQ: the node (a test client on mutual TLS) calls
//! `/pagopa/{station}`, a test backend answers position questions from its request queue, receipts
//! land in the backend's inbox. Every answer Snodo produced is judged by `xmllint` against
//! `paForNode.xsd`; each rule of the issue has a test named after it.

mod pagopa_common;

use std::time::{Duration, Instant};

use pagopa_common::*;
use snodo_mappings::pagopa::contract::{PaymentPosition, receipt_message_id};
use snodo_queue::envelope::SNODO_ID_NAMESPACE;
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::harness::unique_names;
use snodo_queue::testing::rabbit::RabbitTestBroker;

const MONO: &str = "301000000000000144";
const MULTI: &str = "301000000000000245";

async fn ec(broker: &RabbitTestBroker) -> Ec {
    Ec::start(broker.connect().await, unique_names(), Timeouts::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_activate_and_receipt_for_mono_and_multi_beneficiary_notices() {
    let broker = RabbitTestBroker::shared().await;
    let ec = ec(&broker).await;
    ec.backend
        .set(MONO, Behaviour::Answer(payable(MONO, &[(EC, 10050)])));
    // TARI + TEFA: the province's 5% share goes to another EC.
    ec.backend.set(
        MULTI,
        Behaviour::Answer(payable(MULTI, &[(EC, 9500), (TEFA_EC, 475)])),
    );
    let mut answers = Vec::new();
    for (notice, transfers) in [
        (MONO, vec![(EC, 10050)]),
        (MULTI, vec![(EC, 9500), (TEFA_EC, 475)]),
    ] {
        let total: u64 = transfers.iter().map(|t| t.1).sum();
        let amount = format!("{}.{:02}", total / 100, total % 100);
        let verified = ec.call(&verify(notice)).await;
        verified.assert_ok();
        assert!(
            verified.body.contains(&format!("<amount>{amount}</amount>")),
            "{}",
            verified.body
        );
        for v2 in [false, true] {
            let got = ec.call(&get_payment(notice, v2, &amount)).await;
            got.assert_ok();
            assert_eq!(
                got.body.matches("<transfer>").count(),
                transfers.len(),
                "{}",
                got.body
            );
            assert!(got.body.contains(&format!(
                "<creditorReferenceId>{}</creditorReferenceId>",
                &notice[1..]
            )));
            answers.push(got);
        }
        let receipt = ec
            .call(&send_rt(&format!("token-{notice}"), notice, &transfers, false))
            .await;
        receipt.assert_ok();
        answers.push(verified);
        answers.push(receipt);
    }
    let receipts = ec.wait_events("pagopa.receipt.received", 2).await;
    let multi = receipts
        .iter()
        .find(|(_, body)| body["notice_number"] == MULTI)
        .expect("the multi-beneficiary receipt");
    assert_eq!(multi.1["transfers"].as_array().unwrap().len(), 2);
    assert_eq!(multi.0.tenant.as_deref(), Some(TENANT));
    // The backend was asked with the tenant, and with an expiration no longer than the deadline.
    let questions = ec.backend.questions();
    assert_eq!(questions.len(), 6);
    for q in &questions {
        assert_eq!(q.kind, "pagopa.position.get");
        assert_eq!(q.tenant.as_deref(), Some(TENANT));
        let expiration: u64 = q.expiration.as_deref().expect("an expiration").parse().unwrap();
        assert!(
            expiration <= 1500,
            "expiration {expiration} ms beyond the deadline"
        );
    }
    assert_eq!(questions[1].body["primitive"], "pa_get_payment");
    assert_eq!(questions[1].body["amount_cents"], 10050);
    xmllint_judges(&answers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_position_state_gets_its_paa_fault() {
    let broker = RabbitTestBroker::shared().await;
    let ec = ec(&broker).await;
    let cases = [
        (
            "301000000000000346",
            PaymentPosition::Unknown,
            "PAA_PAGAMENTO_SCONOSCIUTO",
        ),
        (
            "301000000000000447",
            PaymentPosition::Paid,
            "PAA_PAGAMENTO_DUPLICATO",
        ),
        (
            "301000000000000548",
            PaymentPosition::Expired,
            "PAA_PAGAMENTO_SCADUTO",
        ),
        (
            "301000000000000649",
            PaymentPosition::Cancelled,
            "PAA_PAGAMENTO_ANNULLATO",
        ),
    ];
    let mut answers = Vec::new();
    for (notice, position, code) in cases {
        ec.backend.set(notice, Behaviour::Answer(position));
        for request in [verify(notice), get_payment(notice, true, "10.00")] {
            let answer = ec.call(&request).await;
            answer.assert_ko(code);
            assert!(answer.body.contains(&format!("<id>{EC}</id>")), "{}", answer.body);
            answers.push(answer);
        }
    }
    xmllint_judges(&answers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_configuration_errors_get_their_paa_fault() {
    let broker = RabbitTestBroker::shared().await;
    let ec = ec(&broker).await;
    let cases = [
        (
            verify_ids("99999999999", EC, STATION, "99999999999", MONO),
            "PAA_ID_DOMINIO_ERRATO",
        ),
        (
            verify_ids(EC, EC, STATION, "99999999999", MONO),
            "PAA_ID_DOMINIO_ERRATO",
        ),
        (
            verify_ids(EC, "88888888888", STATION, EC, MONO),
            "PAA_ID_INTERMEDIARIO_ERRATO",
        ),
        (
            verify_ids(EC, EC, "01199250158_02", EC, MONO),
            "PAA_STAZIONE_INT_ERRATA",
        ),
    ];
    let mut answers = Vec::new();
    for (request, code) in cases {
        let answer = ec.call(&request).await;
        answer.assert_ko(code);
        answers.push(answer);
    }
    // A station the path names but no tenant has.
    let elsewhere = ec.url.replace(STATION, "77777777777_01");
    let answer = ec.call_at(&elsewhere, &verify(MONO), &reqwest_client(&ec)).await;
    answer.assert_ko("PAA_STAZIONE_INT_ERRATA");
    answers.push(answer);
    assert!(
        ec.backend.questions().is_empty(),
        "a refused call reached the backend"
    );
    xmllint_judges(&answers);
}

fn reqwest_client(_: &Ec) -> reqwest::Client {
    let pki = snodo_security::devpki::shared_for_tests();
    snodo_security::tls::build_client(
        &snodo_security::tls::TlsClientConfig::new(pki.trust_anchors())
            .with_identity(pki.tls_client().identity.clone()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_breaking_the_xsd_get_paa_sintassi() {
    let broker = RabbitTestBroker::shared().await;
    let ec = ec(&broker).await;
    let mut answers = Vec::new();
    // 17-digit notice number: XSD pattern.
    let answer = ec.call(&verify("30100000000000014")).await;
    answer.assert_ko("PAA_SINTASSI_XSD");
    answers.push(answer);
    // An amount with one decimal.
    let answer = ec.call(&get_payment(MONO, false, "10.5")).await;
    answer.assert_ko("PAA_SINTASSI_XSD");
    answers.push(answer);
    // A payload that is no paForNode operation: a SOAP Client fault, HTTP 500.
    let foreign = verify(MONO).replace("paVerifyPaymentNoticeReq", "somethingElse");
    let answer = ec.call(&foreign).await;
    assert_eq!(answer.status, 500, "{}", answer.body);
    assert!(answer.body.contains("Client"), "{}", answer.body);
    xmllint_judges(&answers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_silent_gets_paa_system_error_inside_the_deadline() {
    let broker = RabbitTestBroker::shared().await;
    let ec = ec(&broker).await;
    ec.backend.set(MONO, Behaviour::Silent);
    let started = Instant::now();
    let answer = ec.call(&verify(MONO)).await;
    let took = started.elapsed();
    answer.assert_ko("PAA_SYSTEM_ERROR");
    // The node waits 7 s; the position deadline of this endpoint is 1.5 s.
    assert!(took < Duration::from_secs(7), "answered after {took:?}");
    assert!(
        took >= Duration::from_millis(1500),
        "answered before the deadline: {took:?}"
    );
    xmllint_judges(&[answer]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_cannot_make_a_valid_response_is_a_system_error_and_an_event() {
    let broker = RabbitTestBroker::shared().await;
    let ec = ec(&broker).await;
    // Transfers that do not add up to the amount.
    let PaymentPosition::Payable(mut broken) = payable(MONO, &[(EC, 10050)]) else {
        unreachable!()
    };
    broken.amount_cents = 10051;
    ec.backend.set(
        MONO,
        Behaviour::Raw(serde_json::to_value(PaymentPosition::Payable(broken)).unwrap()),
    );
    // Six transfers: more than the node accepts.
    let six: Vec<(&str, u64)> = (0..6).map(|_| (EC, 100)).collect();
    ec.backend.set(MULTI, Behaviour::Answer(payable(MULTI, &six)));
    ec.backend
        .set("301000000000000750", Behaviour::Fail("database down".into()));
    let mut answers = Vec::new();
    for notice in [MONO, MULTI, "301000000000000750"] {
        let answer = ec.call(&get_payment(notice, true, "100.50")).await;
        answer.assert_ko("PAA_SYSTEM_ERROR");
        answers.push(answer);
    }
    let rejected = ec.wait_events("pagopa.position.rejected", 2).await;
    let reasons: Vec<String> = rejected
        .iter()
        .map(|(_, b)| b["reason"].as_str().unwrap().to_owned())
        .collect();
    assert!(reasons.iter().any(|r| r.contains("add up")), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("1 to 5 transfers")),
        "{reasons:?}"
    );
    xmllint_judges(&answers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_receipts_are_two_events_with_the_same_message_id() {
    let broker = RabbitTestBroker::shared().await;
    let ec = ec(&broker).await;
    let request = send_rt("pt-dup-1", MONO, &[(EC, 10050)], false);
    let first = ec.call(&request).await;
    let second = ec.call(&request).await;
    first.assert_ok();
    second.assert_ok();
    let events = ec.wait_events("pagopa.receipt.received", 2).await;
    let expected = receipt_message_id(&SNODO_ID_NAMESPACE, EC, EC, &MONO[1..], "pt-dup-1");
    assert_eq!(events[0].0.message_id, expected);
    assert_eq!(events[1].0.message_id, expected);
    xmllint_judges(&[first, second]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stand_in_receipt_without_a_previous_verify_is_accepted() {
    let broker = RabbitTestBroker::shared().await;
    let ec = ec(&broker).await;
    let answer = ec
        .call(&send_rt(
            "pt-standin-1",
            MULTI,
            &[(EC, 9500), (TEFA_EC, 475)],
            true,
        ))
        .await;
    answer.assert_ok();
    let events = ec.wait_events("pagopa.receipt.received", 1).await;
    assert_eq!(events[0].1["stand_in"], true);
    assert!(ec.backend.questions().is_empty(), "a receipt needs no position");
    xmllint_judges(&[answer]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_nodes_client_certificate_is_answered() {
    let broker = RabbitTestBroker::shared().await;
    let ec = ec(&broker).await;
    let answer = ec.call_at(&ec.url, &verify(MONO), &ec.anonymous_client()).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(ec.backend.questions().is_empty());
}

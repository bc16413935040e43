//! The pagoPA node simulator driving payments against an EC station of our own over real HTTPS with
//! mutual TLS: the whole payment, every PPT_* verdict the node gives on a bad answer, timeouts on the
//! sped-up simulator clock, the hourly paSendRT re-submission, Stand-In from ACA, duplicate receipts
//! and a 5-transfer TARI+TEFA notice.

mod pagopa_common;

use std::time::Duration;

use pagopa_common::*;
use serde_json::json;
use snodo_mappings::pagopa::contract::{PaymentPosition, ReceiptVersion};
use snodo_mappings::pagopa::{Operation, PaFaultCode};

#[tokio::test]
async fn a_notice_is_paid_end_to_end_over_mutual_tls() {
    let h = Harness::start().await;
    let n = notice(1);
    h.position(&n, payable(&n, &[9500, 550]));
    let report = h.scenario("pay_notice", &n).await;
    assert_eq!(report["passed"], true, "{}", json_pretty(&report));
    assert_eq!(outcomes(&report), ["OK", "OK", "OK"]);
    assert_eq!(report["payment"]["result"], "paid");
    // The EC saw the three primitives, each time from a client presenting a certificate.
    for op in ["paVerifyPaymentNotice", "paGetPaymentV2", "paSendRTV2"] {
        assert_eq!(h.stub.calls(op), 1, "{op}");
    }
    assert!(h.stub.0.lock().calls.iter().all(|(_, cert)| *cert));
    let receipts = h.stub.receipts();
    let r = &receipts[0];
    assert_eq!(r.version, ReceiptVersion::PaSendRtV2);
    assert_eq!(
        Some(r.receipt_id.as_str()),
        report["payment"]["payment_token"].as_str()
    );
    assert_eq!((r.amount_cents, r.transfers.len(), r.stand_in), (10050, 2, false));
    r.check_semantics().unwrap();
    let payments = h.admin_get("/pagopa/payments").await;
    assert_eq!(payments["payments"][0]["delivery"]["state"], "sent");

    // The node now knows the notice is paid: it answers the PSP itself.
    let again = h.scenario("pay_notice", &n).await;
    assert_eq!(outcomes(&again), ["PPT_PAGAMENTO_DUPLICATO"]);
    assert_eq!(h.stub.calls("paVerifyPaymentNotice"), 1);
}

#[tokio::test]
async fn v1_uses_pa_get_payment_and_pa_send_rt() {
    let h = Harness::start().await;
    let n = notice(2);
    h.position(&n, payable(&n, &[1000]));
    let report = h
        .admin(
            "/pagopa/scenarios",
            json!({ "scenario": "pay_notice", "notice_number": n, "version": "v1" }),
        )
        .await;
    assert_eq!(report["passed"], true, "{}", json_pretty(&report));
    assert_eq!((h.stub.calls("paGetPayment"), h.stub.calls("paSendRT")), (1, 1));
    assert_eq!(h.stub.receipts()[0].version, ReceiptVersion::PaSendRt);
}

/// Each way an EC answer goes wrong, and the node's verdict on the step that called it.
#[tokio::test]
async fn every_bad_answer_gets_the_node_verdict() {
    let cases: Vec<(&str, &'static str, Misbehaviour, &str)> = vec![
        (
            "transfers not adding up",
            "paGetPaymentV2",
            Misbehaviour::Edit {
                from: "<transferAmount>95.00</transferAmount>".into(),
                to: "<transferAmount>95.01</transferAmount>".into(),
            },
            "PPT_STAZIONE_INT_PA_ERRORE_RESPONSE",
        ),
        (
            "two payment options",
            "paVerifyPaymentNotice",
            Misbehaviour::Edit {
                from: "</paymentOptionDescription>".into(),
                to: "</paymentOptionDescription><paymentOptionDescription><amount>1.00</amount><options>EQ</options><allCCP>false</allCCP></paymentOptionDescription>".into(),
            },
            "PPT_STAZIONE_INT_PA_ERRORE_RESPONSE",
        ),
        (
            "text over its limit",
            "paGetPaymentV2",
            Misbehaviour::Edit {
                from: "<description>TARI 2025</description>".into(),
                to: format!("<description>{}</description>", "x".repeat(141)),
            },
            "PPT_STAZIONE_INT_PA_ERRORE_RESPONSE",
        ),
        (
            "amount with one decimal",
            "paVerifyPaymentNotice",
            Misbehaviour::Edit {
                from: "<amount>100.50</amount>".into(),
                to: "<amount>100.5</amount>".into(),
            },
            "PPT_STAZIONE_INT_PA_ERRORE_RESPONSE",
        ),
        (
            "KO without fault",
            "paVerifyPaymentNotice",
            Misbehaviour::Body(
                ko_body(Operation::VerifyPaymentNotice, PaFaultCode::SystemError)
                    .split("<fault>")
                    .next()
                    .unwrap()
                    .to_owned()
                    + "</pafn:paVerifyPaymentNoticeRes></soapenv:Body></soapenv:Envelope>",
            ),
            "PPT_STAZIONE_INT_PA_ERRORE_RESPONSE",
        ),
        (
            "HTTP 500",
            "paGetPaymentV2",
            Misbehaviour::Status(500),
            "PPT_STAZIONE_INT_PA_ERRORE_RESPONSE",
        ),
        (
            "not XML",
            "paVerifyPaymentNotice",
            Misbehaviour::Body("Service Unavailable".into()),
            "PPT_STAZIONE_INT_PA_ERRORE_RESPONSE",
        ),
        (
            "a valid KO",
            "paVerifyPaymentNotice",
            Misbehaviour::Body(ko_body(Operation::VerifyPaymentNotice, PaFaultCode::PagamentoScaduto)),
            "PPT_ERRORE_EMESSO_DA_PAA",
        ),
    ];
    let h = Harness::start().await;
    for (i, (name, operation, misbehaviour, expected)) in cases.into_iter().enumerate() {
        let n = notice(100 + i as u64);
        h.position(&n, payable(&n, &[9500, 550]));
        h.stub.0.lock().misbehave.clear();
        h.stub.misbehave(operation, misbehaviour);
        let report = h.scenario("pay_notice", &n).await;
        assert_eq!(report["passed"], false, "{name}");
        let step = if operation == "paVerifyPaymentNotice" {
            0
        } else {
            1
        };
        assert_eq!(
            outcomes(&report).get(step).map(String::as_str),
            Some(expected),
            "{name}: {}",
            json_pretty(&report)
        );
        assert_eq!(
            outcomes(&report).len(),
            step + 1,
            "{name}: the payment stops at the refused step"
        );
        if expected == "PPT_ERRORE_EMESSO_DA_PAA" {
            assert_eq!(
                report["payment"]["steps"][0]["fault"]["original_fault_code"],
                "PAA_PAGAMENTO_SCADUTO"
            );
        }
    }
    // An unknown notice is the EC's own KO, passed through.
    h.stub.0.lock().misbehave.clear();
    let report = h.scenario("pay_notice", &notice(999)).await;
    assert_eq!(
        report["payment"]["steps"][0]["fault"]["original_fault_code"],
        "PAA_PAGAMENTO_SCONOSCIUTO"
    );
}

#[tokio::test]
async fn a_slow_ec_times_out_on_the_sped_up_clock() {
    let h = Harness::start().await;
    // 7 s of simulated time pass in 7 ms: an EC answering after 5 s of real time is far too late.
    h.admin("/clock", json!({ "speed": 1000.0 })).await;
    let n = notice(3);
    h.position(&n, payable(&n, &[1000]));
    h.stub.misbehave(
        "paVerifyPaymentNotice",
        Misbehaviour::Delay(Duration::from_secs(5)),
    );
    let report = h.scenario("pay_notice", &n).await;
    // The notice is not in ACA, so Stand-In cannot pay it either.
    assert_eq!(
        outcomes(&report),
        ["PPT_STAZIONE_INT_PA_TIMEOUT", "PPT_PAGAMENTO_SCONOSCIUTO"],
        "{}",
        json_pretty(&report)
    );

    // paSendRT has 15 s of simulated time: an answer after 25 s is too late.
    h.admin("/clock", json!({ "speed": 1.0 })).await;
    h.stub.0.lock().misbehave.clear();
    // Ten times faster: verify and activation keep 700 ms of real time, ample for a loaded machine.
    h.admin("/clock", json!({ "speed": 10.0 })).await;
    let n = notice(4);
    h.position(&n, payable(&n, &[1000]));
    h.stub
        .misbehave("paSendRTV2", Misbehaviour::Delay(Duration::from_millis(2500)));
    let report = h.scenario("pay_notice", &n).await;
    assert_eq!(
        outcomes(&report)[2],
        "PPT_STAZIONE_INT_PA_TIMEOUT",
        "{}",
        json_pretty(&report)
    );
    assert_eq!(report["payment"]["result"], "paid_receipt_pending");
}

#[tokio::test]
async fn a_refused_receipt_is_resent_every_hour_until_accepted() {
    let h = Harness::start().await;
    let n = notice(5);
    h.position(&n, payable(&n, &[1000]));
    h.stub.0.lock().failing_receipts = 3;
    let report = h.scenario("pay_notice", &n).await;
    assert_eq!(report["payment"]["result"], "paid_receipt_pending");
    assert_eq!(outcomes(&report)[2], "PPT_ERRORE_EMESSO_DA_PAA");
    let pending = h.admin_get("/pagopa/payments").await;
    let first = &pending["payments"][0]["delivery"];
    assert_eq!(
        (first["state"].as_str(), first["attempts"].as_u64()),
        (Some("pending"), Some(1))
    );
    // One hour later, on the simulator clock.
    let next_at: chrono::DateTime<chrono::Utc> = first["next_at"].as_str().unwrap().parse().unwrap();
    let paid_at: chrono::DateTime<chrono::Utc> = pending["payments"][0]["paid_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!((next_at - paid_at).num_minutes(), 60);
    // Moving the clock by hours (not speeding it up, which would shrink the 15 s paSendRT timeout to
    // microseconds of real time) shows one re-submission per hour.
    h.admin("/clock", json!({ "advance": "59m" })).await;
    assert_eq!(h.stub.calls("paSendRTV2"), 1);
    for attempts in 2..=4 {
        h.admin("/clock", json!({ "advance": "1h" })).await;
        eventually(&h, "/pagopa/payments", |v| {
            v["payments"][0]["delivery"]["attempts"] == attempts
        })
        .await;
    }
    let done = h.admin_get("/pagopa/payments").await;
    assert_eq!(done["payments"][0]["delivery"]["state"], "sent");
    let receipts = h.stub.receipts();
    assert_eq!(receipts.len(), 4);
    assert!(receipts.iter().all(|r| r.receipt_id == receipts[0].receipt_id));
}

#[tokio::test]
async fn after_48_hourly_retries_a_receipt_stays_queued_until_resent() {
    let h = Harness::start().await;
    let n = notice(6);
    h.position(&n, payable(&n, &[1000]));
    h.stub.0.lock().failing_receipts = 1000;
    h.scenario("pay_notice", &n).await;
    for attempts in 2..=49 {
        h.admin("/clock", json!({ "advance": "1h" })).await;
        eventually(&h, "/pagopa/payments", |v| {
            v["payments"][0]["delivery"]["attempts"] == attempts
        })
        .await;
    }
    // The first send and 48 re-submissions; then nothing more, however long one waits.
    let done = h.admin_get("/pagopa/payments").await;
    assert_eq!(done["payments"][0]["delivery"]["state"], "exhausted");
    h.admin("/clock", json!({ "advance": "30days" })).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(h.stub.calls("paSendRTV2"), 49);
    h.stub.0.lock().failing_receipts = 0;
    let id = done["payments"][0]["receipt_id"].as_str().unwrap().to_owned();
    let resent = h.admin(&format!("/pagopa/receipts/{id}/resend"), json!({})).await;
    assert_eq!(resent["delivered"], true);
    assert_eq!(h.stub.calls("paSendRTV2"), 50);
}

#[tokio::test]
async fn the_same_receipt_twice_is_accepted_twice() {
    let h = Harness::start().await;
    let n = notice(7);
    h.position(&n, payable(&n, &[9500, 550]));
    let report = h.scenario("duplicate_receipt", &n).await;
    assert_eq!(report["passed"], true, "{}", json_pretty(&report));
    let receipts = h.stub.receipts();
    assert_eq!(receipts.len(), 2);
    assert_eq!(receipts[0], receipts[1]);
}

#[tokio::test]
async fn a_five_transfer_tari_tefa_notice_is_paid() {
    let h = Harness::start().await;
    let n = notice(8);
    h.position(&n, payable(&n, &[4000, 200, 3000, 150, 1000]));
    let report = h.scenario("pay_tari_tefa", &n).await;
    assert_eq!(report["passed"], true, "{}", json_pretty(&report));
    let r = &h.stub.receipts()[0];
    assert_eq!(r.transfers.len(), 5);
    assert_eq!(r.transfers.iter().filter(|t| t.fiscal_code == TEFA_EC).count(), 2);
    // A two-transfer notice does not pass this scenario.
    let n = notice(9);
    h.position(&n, payable(&n, &[100, 200]));
    assert_eq!(h.scenario("pay_tari_tefa", &n).await["passed"], false);
    // Nor does an expired one.
    let n = notice(10);
    h.position(&n, PaymentPosition::Expired);
    let report = h.scenario("pay_tari_tefa", &n).await;
    assert_eq!(
        report["payment"]["steps"][0]["fault"]["original_fault_code"],
        "PAA_PAGAMENTO_SCADUTO"
    );
}

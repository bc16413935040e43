//! The node-side APIs an EC calls, and Stand-In: ACA `paCreatePosition` behind the subscription-key
//! check, a notice paid from ACA when the EC is down (and its receipt marked Stand-In), and the
//! reporting flows generated from the payments made, read back through FdR REST and the legacy SOAP
//! primitives with the EC-side readers (the SOAP flow validated against FlussoRiversamento_1_0_4.xsd).

mod pagopa_common;

use pagopa_common::*;
use serde_json::json;
use snodo_mappings::pagopa::contract::{
    FdrFlow, FdrFlowsPage, FdrPaymentsPage, PaymentOutcome, ReportingFlow,
};
use snodo_mappings::pagopa::{FlowCaller, read_flow, read_get_flow_response, read_list_flows_response};
use snodo_mappings::soap::read_envelope;
use snodo_security::schema::Schema;
use snodo_security::xml::Limits;

fn aca_body(notice: &str, amount: u64) -> serde_json::Value {
    json!({
        "paFiscalCode": EC,
        "entityType": "F",
        "entityFiscalCode": "RSSMRA80A01F205X",
        "entityFullName": "Mario Rossi",
        "iuv": &notice[1..],
        "nav": notice,
        "amount": amount,
        "description": "TARI 2025",
        "expirationDate": "2030-12-31T23:59:59Z",
        "iban": "IT60X0542811101000000123456",
        "switchToExpired": false,
        "payStandIn": true,
    })
}

#[tokio::test]
async fn aca_needs_the_subscription_key() {
    let h = Harness::start().await;
    let url = format!("{}/aca/paCreatePosition", h.simulator.url());
    let body = aca_body(&notice(20), 1234);
    let missing = h.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let wrong = h
        .http
        .post(&url)
        .header("Ocp-Apim-Subscription-Key", "not-a-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let by_query = h
        .http
        .post(format!("{url}?subscription-key={KEY}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.status(), 200);
    let invalid = h
        .http
        .post(&url)
        .header("Ocp-Apim-Subscription-Key", KEY)
        .json(&json!({ "paFiscalCode": "123" }))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 400);
    let positions = h.admin_get("/pagopa/aca").await;
    assert_eq!(positions["positions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn stand_in_pays_from_aca_when_the_ec_does_not_answer() {
    let h = Harness::start().await;
    let n = notice(21);
    let loaded = h
        .http
        .post(format!("{}/aca/paCreatePosition", h.simulator.url()))
        .header("Ocp-Apim-Subscription-Key", KEY)
        .json(&aca_body(&n, 4321))
        .send()
        .await
        .unwrap();
    assert_eq!(loaded.status(), 200);

    // The EC is reachable but never in time: verify times out, the node pays from ACA.
    h.admin("/clock", json!({ "speed": 1000.0 })).await;
    h.stub.misbehave(
        "paVerifyPaymentNotice",
        Misbehaviour::Delay(std::time::Duration::from_secs(5)),
    );
    let report = h.scenario("pay_notice", &n).await;
    h.admin("/clock", json!({ "speed": 1.0 })).await;
    let steps = outcomes(&report);
    assert_eq!(
        steps[0],
        "PPT_STAZIONE_INT_PA_TIMEOUT",
        "{}",
        json_pretty(&report)
    );
    assert_eq!(steps[1], "OK");
    assert_eq!(report["payment"]["stand_in"], true);
    assert_eq!(h.stub.calls("paGetPaymentV2"), 0);

    // And when the station is declared in Stand-In, the EC is not asked at all.
    let m = notice(22);
    h.http
        .post(format!("{}/aca/paCreatePosition", h.simulator.url()))
        .header("Ocp-Apim-Subscription-Key", KEY)
        .json(&aca_body(&m, 999))
        .send()
        .await
        .unwrap();
    h.stub.0.lock().misbehave.clear();
    let report = h.scenario("pay_with_stand_in", &m).await;
    assert_eq!(report["passed"], true, "{}", json_pretty(&report));
    let receipts = h.stub.receipts();
    let r = receipts
        .iter()
        .find(|r| r.notice_number == m)
        .expect("the Stand-In receipt reached the EC");
    assert!(r.stand_in);
    assert_eq!((r.amount_cents, r.transfers.len()), (999, 1));
    r.check_semantics().unwrap();

    // A cancelled position (amount 0) is not paid in Stand-In.
    let c = notice(23);
    h.http
        .post(format!("{}/aca/paCreatePosition", h.simulator.url()))
        .header("Ocp-Apim-Subscription-Key", KEY)
        .json(&aca_body(&c, 0))
        .send()
        .await
        .unwrap();
    let report = h.scenario("pay_with_stand_in", &c).await;
    assert_eq!(report["passed"], false);
}

#[tokio::test]
async fn reporting_flows_match_the_payments_made() {
    let h = Harness::start().await;
    let a = notice(30);
    let b = notice(31);
    h.position(&a, payable(&a, &[9500, 550]));
    h.position(&b, payable(&b, &[1000]));
    for n in [&a, &b] {
        assert_eq!(h.scenario("pay_notice", n).await["passed"], true);
    }
    let published = h.admin("/pagopa/flows", json!({})).await;
    // One flow for the Comune (3 transfers) and one for the metropolitan city (TEFA).
    assert_eq!(published["published"], 2);

    // REST FdR, as the connector reads it.
    let base = format!("{}/fdr-org/service/v1/organizations/{EC}/fdrs", h.simulator.url());
    assert_eq!(h.http.get(&base).send().await.unwrap().status(), 401);
    let page: FdrFlowsPage = h
        .http
        .get(&base)
        .header("Ocp-Apim-Subscription-Key", KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page.data.len(), 1);
    let listed = &page.data[0];
    let flow_url = format!(
        "{base}/{}/revisions/{}/psps/{}",
        listed.fdr, listed.revision, listed.psp_id
    );
    let get = |url: String| {
        let http = h.http.clone();
        async move {
            http.get(url)
                .header("Ocp-Apim-Subscription-Key", KEY)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let flow: FdrFlow = serde_json::from_value(get(flow_url.clone()).await).unwrap();
    let payments: FdrPaymentsPage =
        serde_json::from_value(get(format!("{flow_url}/payments")).await).unwrap();
    let rest = ReportingFlow::from_fdr(&flow, &payments.data).unwrap();
    assert_eq!((rest.total_payments, rest.total_amount_cents), (2, 9500 + 1000));
    let receipts = h.stub.receipts();
    for p in &rest.payments {
        assert_eq!(p.outcome, PaymentOutcome::Executed);
        let receipt = receipts
            .iter()
            .find(|r| r.receipt_id == p.iur)
            .expect("each line is a payment made");
        assert_eq!(receipt.iuv, p.iuv);
    }
    // Published after the cursor: nothing new.
    let later: FdrFlowsPage = h
        .http
        .get(format!("{base}?publishedGt={}", listed.published))
        .header("Ocp-Apim-Subscription-Key", KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(later.data.is_empty());

    // The legacy SOAP path: the same flow, as FlussoRiversamento.
    let caller = FlowCaller {
        broker_id: EC.into(),
        station_id: STATION.into(),
        password: "snodo-dev-pwd".into(),
        domain_id: Some(EC.into()),
        psp_id: None,
    };
    let soap = |body: String| {
        let http = h.http.clone();
        let url = format!("{}/nodo-auth/node-for-pa/v1", h.simulator.url());
        async move {
            http.post(url)
                .header("Ocp-Apim-Subscription-Key", KEY)
                .header("Content-Type", "text/xml; charset=utf-8")
                .body(body)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        }
    };
    let answer = soap(caller.list_flows_request().unwrap()).await;
    let flows = read_list_flows_response(&read_envelope(&answer, &Limits::default()).unwrap()).unwrap();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].flow_id, rest.flow_id);
    let answer = soap(caller.get_flow_request(&rest.flow_id).unwrap()).await;
    let xml = read_get_flow_response(&read_envelope(&answer, &Limits::default()).unwrap()).unwrap();
    let schema = Schema::compile(specs().join("xsd-common/FlussoRiversamento_1_0_4.xsd")).unwrap();
    let legacy = read_flow(&xml, &schema, &Limits::default()).unwrap();
    assert_eq!(legacy.payments, rest.payments);
    assert_eq!(legacy.total_amount_cents, rest.total_amount_cents);

    // A wrong password is the node's fault, not a flow.
    let mut intruder = caller.clone();
    intruder.password = "wrong-password".into();
    let answer = soap(intruder.list_flows_request().unwrap()).await;
    let refused = read_list_flows_response(&read_envelope(&answer, &Limits::default()).unwrap());
    assert!(
        format!("{refused:?}").contains("PPT_AUTENTICAZIONE"),
        "{refused:?}"
    );
}

//! Fault rules observed the way an integrator's client sees them: every fault kind through reqwest
//! against a real listener serving the echo simulator, then scopes (operation, field), counts,
//! ordering and the atomicity of "next N calls" under concurrent requests.

mod framework_common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use framework_common::start;
use serde_json::json;
use snodo_mappings::soap::{FaultCode, read_envelope};

#[tokio::test]
async fn latency_delays_the_answer_past_a_client_timeout() {
    let sim = start(None).await;
    sim.add_faults(json!({"operation": "slow", "times": 1, "fault": {"kind": "latency", "ms": 2000}}))
        .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = impatient
        .post(sim.at("/echo"))
        .json(&json!({"operation": "slow"}))
        .send()
        .await
        .expect_err("the answer comes after the client's timeout");
    assert!(err.is_timeout(), "{err}");
    // The call is recorded even though the client gave up: when hyper notices the closed connection
    // (without a status), or when the latency has passed.
    let mut recorded = serde_json::Value::Null;
    for _ in 0..200 {
        let page = sim.get_json("/admin/exchanges?operation=slow").await;
        if let Some(first) = page["exchanges"].get(0) {
            recorded = first.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(recorded["fault"]["kind"], "latency");
    assert_eq!(recorded["fault"]["ms"], 2000);

    // A fixed latency is a lower bound: the answer, once it comes, is the normal one.
    sim.add_faults(json!({"operation": "slow", "times": 1, "fault": {"kind": "latency", "ms": 150}}))
        .await;
    let started = Instant::now();
    let response = sim.call("slow", json!({})).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["outcome"],
        "OK"
    );

    sim.add_faults(json!({"times": 1, "fault": {"kind": "latency", "min_ms": 50, "max_ms": 80}}))
        .await;
    let started = Instant::now();
    sim.call("ranged", json!({})).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[tokio::test]
async fn http_status_answers_without_the_handler() {
    let sim = start(None).await;
    sim.add_faults(json!({"fault": {"kind": "http_status", "status": 503, "body": "gateway busy"}}))
        .await;
    let response = sim.call("anything", json!({})).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(response.text().await.unwrap(), "gateway busy");
}

#[tokio::test]
async fn platform_error_is_rendered_by_the_simulator() {
    let sim = start(None).await;
    sim.add_faults(json!({
        "operation": "paVerifyPaymentNotice",
        "fault": {"kind": "platform_error", "code": "PAA_PAGAMENTO_SCADUTO", "message": "expired"}
    }))
    .await;
    let response = sim.call("paVerifyPaymentNotice", json!({})).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the echo simulator renders KO as HTTP 200"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"operation": "paVerifyPaymentNotice", "outcome": "KO", "code": "PAA_PAGAMENTO_SCADUTO", "message": "expired"})
    );
}

#[tokio::test]
async fn soap_fault_is_a_soap_1_1_fault_over_http_500() {
    let sim = start(None).await;
    sim.add_faults(json!({
        "operation": "getThing",
        "fault": {"kind": "soap_fault", "code": "Client.Authentication", "string": "Rejected by policy",
                  "detail": "<reason>no signature</reason>"}
    }))
    .await;
    let response = sim.soap("getThing", "").await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    let bytes = response.bytes().await.unwrap();
    let envelope = read_envelope(&bytes, &Default::default()).expect("a well-formed SOAP Fault");
    let fault = envelope.fault().expect("a Fault in the Body");
    assert!(fault.code.is_client(), "{:?}", fault.code);
    assert!(matches!(fault.code, FaultCode::Other(_)));
    assert_eq!(fault.string, "Rejected by policy");
    assert!(envelope.fault_detail().is_some());
}

#[tokio::test]
async fn drop_connection_closes_without_an_answer() {
    let sim = start(None).await;
    sim.add_faults(json!({"operation": "cut", "times": 1, "fault": {"kind": "drop_connection"}}))
        .await;
    let err = sim
        .call("cut", json!({}))
        .await
        .expect_err("no HTTP response at all");
    assert!(!err.is_timeout(), "closed at once, not left hanging: {err}");
    assert!(err.status().is_none());

    // Over a raw socket: the connection ends with not a single byte written.
    sim.add_faults(json!({"operation": "cut", "times": 1, "fault": {"kind": "drop_connection"}}))
        .await;
    let raw = raw_post(&sim.url, r#"{"operation":"cut"}"#).await;
    assert!(raw.is_empty(), "got {:?}", String::from_utf8_lossy(&raw));

    let page = sim.get_json("/admin/exchanges?operation=cut").await;
    let exchanges = page["exchanges"].as_array().unwrap();
    assert_eq!(exchanges.len(), 2);
    assert!(
        exchanges
            .iter()
            .all(|e| e["status"].is_null() && e["fault"]["kind"] == "drop_connection")
    );
    // The listener is fine afterwards.
    assert_eq!(sim.call("cut", json!({})).await.unwrap().status(), StatusCode::OK);
}

/// Writes one HTTP/1.1 POST on a fresh connection and returns every byte the server sent before closing.
async fn raw_post(base: &str, body: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!(
        "POST /echo HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received))
        .await
        .expect("the server closes the connection")
        .ok();
    received
}

#[tokio::test]
async fn malformed_reply_is_the_real_reply_cut_short() {
    let sim = start(None).await;
    let whole = sim.soap("getThing", "").await.unwrap().bytes().await.unwrap();
    read_envelope(&whole, &Default::default()).expect("the normal reply is well-formed");

    sim.add_faults(json!({"operation": "getThing", "times": 1, "fault": {"kind": "malformed_reply"}}))
        .await;
    let response = sim.soap("getThing", "").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cut = response.bytes().await.unwrap();
    assert!(
        cut.len() < whole.len() && !cut.is_empty(),
        "{} of {}",
        cut.len(),
        whole.len()
    );
    assert!(whole.starts_with(&cut), "a prefix of the real reply");
    assert!(read_envelope(&cut, &Default::default()).is_err());
}

#[tokio::test]
async fn hostile_replies_are_refused_by_a_screening_parser() {
    let sim = start(None).await;
    for payload in ["entity_bomb", "external_entity", "deep_nesting"] {
        sim.add_faults(json!({"times": 1, "fault": {"kind": "hostile_reply", "payload": payload}}))
            .await;
        let response = sim.soap("getThing", "").await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.bytes().await.unwrap();
        if payload != "deep_nesting" {
            assert!(String::from_utf8_lossy(&body).contains("<!DOCTYPE"), "{payload}");
        }
        let refused = snodo_security::xml::parse(&body, &Default::default());
        assert!(refused.is_err(), "{payload} was accepted");
    }
}

#[tokio::test]
async fn counted_rules_apply_to_the_next_n_calls_only() {
    let sim = start(None).await;
    let added = sim
        .add_faults(json!({"times": 2, "fault": {"kind": "http_status", "status": 429}}))
        .await;
    assert_eq!(added["rules"][0]["remaining"], 2);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(sim.call("x", json!({})).await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [429, 429, 200]);
    assert_eq!(sim.get_json("/admin/faults").await["rules"], json!([]));
}

#[tokio::test]
async fn a_count_is_consumed_exactly_once_under_concurrent_calls() {
    let sim = start(None).await;
    sim.add_faults(json!({"times": 5, "fault": {"kind": "http_status", "status": 503}}))
        .await;
    let calls = (0..24).map(|_| sim.call("x", json!({})));
    let statuses: Vec<u16> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 503).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 19);
}

#[tokio::test]
async fn field_matches_by_json_pointer_and_by_xml_local_name() {
    let sim = start(None).await;
    sim.add_faults(json!([
        {"field": {"path": "/payer/fiscalCode", "value": "RSSMRA80A01F205X"},
         "fault": {"kind": "platform_error", "code": "EN122", "message": "no result"}},
        {"field": {"path": "noticeNumber", "value": "302000000000000001"},
         "fault": {"kind": "soap_fault", "code": "Server", "string": "busy"}}
    ]))
    .await;
    let hit = sim
        .call("lookup", json!({"payer": {"fiscalCode": "RSSMRA80A01F205X"}}))
        .await
        .unwrap();
    assert_eq!(hit.json::<serde_json::Value>().await.unwrap()["code"], "EN122");
    let miss = sim
        .call("lookup", json!({"payer": {"fiscalCode": "VRDLGU80A01F205X"}}))
        .await
        .unwrap();
    assert_eq!(miss.json::<serde_json::Value>().await.unwrap()["outcome"], "OK");

    let hit = sim
        .soap("verify", "<noticeNumber>302000000000000001</noticeNumber>")
        .await
        .unwrap();
    assert_eq!(hit.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let miss = sim
        .soap("verify", "<noticeNumber>302000000000000002</noticeNumber>")
        .await
        .unwrap();
    assert_eq!(miss.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_first_matching_rule_wins_and_scopes_are_respected() {
    let sim = start(None).await;
    sim.add_faults(json!([
        {"operation": "pay", "times": 1, "fault": {"kind": "http_status", "status": 502}},
        {"operation": "pay", "fault": {"kind": "http_status", "status": 504}},
        {"fault": {"kind": "http_status", "status": 500}}
    ]))
    .await;
    let mut statuses = Vec::new();
    for op in ["pay", "pay", "pay", "verify"] {
        statuses.push(sim.call(op, json!({})).await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [502, 504, 504, 500]);

    let rules = sim.get_json("/admin/faults").await;
    let ids: Vec<u64> = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "the counted rule is used up: {rules}");
    assert_eq!(rules["rules"][0]["hits"], 2);

    // Removing one rule by id lets the next one apply.
    let removed = sim
        .client
        .delete(sim.at(&format!("/admin/faults/{}", ids[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::OK);
    assert_eq!(sim.call("pay", json!({})).await.unwrap().status().as_u16(), 500);
    let cleared = sim.client.delete(sim.at("/admin/faults")).send().await.unwrap();
    assert_eq!(cleared.status(), StatusCode::OK);
    assert_eq!(sim.call("pay", json!({})).await.unwrap().status().as_u16(), 200);
}

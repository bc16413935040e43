//! ANPR notifying a comune: pushed to its endpoint over mutual TLS with ANPR's retry policy — 5
//! attempts, 5 minutes apart on the simulator clock (sped up here through the clock, not by waiting)
//! — the same notification id on every attempt, and no attempt after the fifth — and kept for the
//! 3003 pull.

mod anpr_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anpr_common::*;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use parking_lot::Mutex;
use serde_json::json;
use snodo_security::tls::{ClientAuth, TlsServer, TlsServerConfig};
use tokio_util::sync::CancellationToken;

/// What the endpoint received: (tenant of the URL, body).
type Received = Vec<(String, String)>;

/// The comune's endpoint: fails the first `failures` pushes with 503, then stores them.
#[derive(Clone, Default)]
struct Endpoint(Arc<Mutex<(u32, Received)>>);

async fn receive(State(e): State<Endpoint>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let mut state = e.0.lock();
    state
        .1
        .push((tenant, String::from_utf8_lossy(&body).into_owned()));
    if state.1.len() as u32 <= state.0 {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    (
        [("content-type", "text/xml; charset=utf-8")],
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>\
         <n:RispostaN000 xmlns:n=\"http://sogei.it/ANPR/N000AnprService\"><codiceEsito>0</codiceEsito>\
         <esito>OK</esito></n:RispostaN000></soapenv:Body></soapenv:Envelope>",
    )
        .into_response()
}

async fn endpoint(failures: u32, shutdown: CancellationToken) -> (Endpoint, String) {
    let e = Endpoint(Arc::new(Mutex::new((failures, Vec::new()))));
    let router = Router::new()
        .route("/anpr/{tenant}/notifications", post(receive))
        .with_state(e.clone());
    let tls = TlsServer::new(TlsServerConfig::new(
        pki().tls_server().identity.clone(),
        ClientAuth::Required(pki().trust_anchors()),
    ))
    .unwrap();
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        tls.serve(listener, router, async move { shutdown.cancelled().await })
            .await
    });
    (e, url)
}

async fn attempts(h: &Harness, at_least: usize) -> Vec<serde_json::Value> {
    // Bounded so a broken push fails the test instead of hanging it; the clock runs 3,000 times
    // faster, so five attempts 5 minutes apart take well under a second.
    for _ in 0..300 {
        let pushes = h.admin(reqwest::Method::GET, "/anpr/pushes", None).await["pushes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if pushes.len() >= at_least {
            return pushes;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {at_least} push attempts were made");
}

fn minutes_between(a: &serde_json::Value, b: &serde_json::Value) -> i64 {
    let t = |v: &serde_json::Value| chrono::DateTime::parse_from_rfc3339(v["at"].as_str().unwrap()).unwrap();
    (t(b) - t(a)).num_minutes()
}

#[tokio::test]
async fn a_failed_push_is_retried_5_minutes_later_with_the_same_id_until_stored() {
    let stop = CancellationToken::new();
    let (received, url) = endpoint(2, stop.clone()).await;
    let h = start_with(settings(Some(url))).await;
    h.clock.set_speed(3_000.0).unwrap();
    let answer = h
        .admin(
            reqwest::Method::POST,
            "/anpr/notifications",
            Some(json!({"comune": ISTAT, "kind": "N010", "id_operazione_anpr": "88001"})),
        )
        .await;
    assert_eq!(answer["id_operazione_anpr"], "88001");
    let pushes = attempts(&h, 3).await;
    assert_eq!(pushes.len(), 3);
    assert_eq!(
        pushes
            .iter()
            .map(|p| p["delivered"].as_bool().unwrap())
            .collect::<Vec<_>>(),
        [false, false, true]
    );
    assert!(minutes_between(&pushes[0], &pushes[1]) >= 5);
    assert!(minutes_between(&pushes[1], &pushes[2]) >= 5);
    let bodies = received.0.lock().1.clone();
    assert_eq!(bodies.len(), 3);
    assert!(
        bodies
            .iter()
            .all(|(tenant, body)| tenant == ISTAT && body == &bodies[0].1)
    );
    assert!(bodies[0].1.contains("<idOperazioneANPR>88001</idOperazioneANPR>"));
    assert!(bodies[0].1.contains("<tipoNotifica>N010</tipoNotifica>"));
    stop.cancel();
}

#[tokio::test]
async fn a_push_is_attempted_five_times_then_abandoned() {
    let stop = CancellationToken::new();
    let (received, url) = endpoint(u32::MAX, stop.clone()).await;
    let h = start_with(settings(Some(url))).await;
    h.clock.set_speed(3_000.0).unwrap();
    h.admin(
        reqwest::Method::POST,
        "/anpr/notifications",
        Some(json!({"comune": ISTAT, "kind": "N015"})),
    )
    .await;
    let pushes = attempts(&h, 5).await;
    assert!(pushes.iter().all(|p| !p["delivered"].as_bool().unwrap()));
    // A sixth attempt would be due 5 simulated minutes (0.1 s) after the fifth: give it ten times that.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(attempts(&h, 5).await.len(), 5);
    assert_eq!(received.0.lock().1.len(), 5);
    stop.cancel();
}

#[tokio::test]
async fn a_bulk_lookup_is_announced_with_an_n030_push_when_ready() {
    use snodo_mappings::anpr::bulk::{self, Chunk};
    use snodo_mappings::anpr::lookup::Section;

    let stop = CancellationToken::new();
    let (received, url) = endpoint(0, stop.clone()).await;
    let h = start_with(settings(Some(url))).await;
    let code = snodo_simulators::anpr::population()
        .iter()
        .find(|p| p.is_resident())
        .unwrap()
        .codice_fiscale
        .to_string();
    let chunk = Chunk {
        codici_fiscali: vec![code],
        sections: vec![Section::PersonalData],
        reference_date: chrono::Utc::now().date_naive(),
    };
    let payload = bulk::write_request(&chunk, &h.context(&h.next_id())).unwrap();
    let answer = h.call(BULK_PATH, &payload).await;
    let job = bulk::read_response(answer.envelope.document(), answer.envelope.payload())
        .unwrap()
        .unwrap()
        .id_operazione_anpr;
    h.clock.set_speed(3_000.0).unwrap();
    let pushes = attempts(&h, 1).await;
    assert_eq!(pushes[0]["kind"], "N030");
    assert_eq!(pushes[0]["delivered"], true);
    let body = received.0.lock().1[0].1.clone();
    let content = body
        .split("<contenuto>")
        .nth(1)
        .and_then(|c| c.split("</contenuto>").next())
        .unwrap();
    let content = String::from_utf8(openssl::base64::decode_block(content).unwrap()).unwrap();
    assert!(content.contains(&job), "the N030 names the 4002 operation");
    stop.cancel();
}

fn pull_request(h: &Harness, kind: &str) -> String {
    format!(
        "<ns:Richiesta3003 xmlns:ns=\"http://sogei.it/ANPR/3000consultazione\"><testataRichiesta>\
         <idOperazioneComune>{}</idOperazioneComune><codMittente>{ISTAT}</codMittente>\
         <codDestinatario>ANPR05</codDestinatario><operazioneRichiesta>3003</operazioneRichiesta>\
         <dataOraRichiesta>{}</dataOraRichiesta><tipoOperazione>C</tipoOperazione><tipoInvio>TEST</tipoInvio>\
         </testataRichiesta><ricercaElenchiRichieste><statoLavorazione>1</statoLavorazione>\
         <operazioneRichiesta>{kind}</operazioneRichiesta></ricercaElenchiRichieste></ns:Richiesta3003>",
        h.next_id(),
        h.context("1")
            .requested_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
    )
}

#[tokio::test]
async fn notifications_are_also_pulled_with_3003() {
    let h = start().await;
    h.admin(
        reqwest::Method::POST,
        "/anpr/notifications",
        Some(json!({"comune": ISTAT, "kind": "N010", "id_operazione_anpr": "77001", "content": "<n010>moved</n010>"})),
    )
    .await;
    let schema = snodo_security::schema::Schema::compile(
        snodo_simulators::anpr::default_schema_dir().join("3000consultazione.xsd"),
    )
    .unwrap();
    let answer = h.call(LOOKUP_PATH, &pull_request(&h, "N010")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let (doc, payload) = (answer.envelope.document(), answer.envelope.payload());
    schema
        .validate_element(doc, payload)
        .unwrap_or_else(|e| panic!("{e}: {}", answer.text));
    assert!(
        answer.text.contains("<tipoOperazione>N010</tipoOperazione>"),
        "{}",
        answer.text
    );
    let content = answer
        .text
        .split("<xmlRisposta>")
        .nth(1)
        .and_then(|c| c.split("</xmlRisposta>").next())
        .unwrap();
    assert_eq!(
        openssl::base64::decode_block(content).unwrap(),
        b"<n010>moved</n010>"
    );

    let none = h.call(LOOKUP_PATH, &pull_request(&h, "N015")).await;
    schema
        .validate_element(none.envelope.document(), none.envelope.payload())
        .unwrap_or_else(|e| panic!("{e}: {}", none.text));
    assert!(
        none.text
            .contains("<codiceErroreAnomalia>EN122</codiceErroreAnomalia>"),
        "{}",
        none.text
    );
}

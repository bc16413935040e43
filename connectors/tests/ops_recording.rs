//! What connectors report through the shared recording code reaches both the journal and `/metrics`,
//! against a real RabbitMQ:
//!
//! - an inbound SOAP call served behind `inbound::record::record_calls` — a `paSendRT` whose handler
//!   stores an event with `InboundPublisher` — is traced by the IUV and by the event's id as the call
//!   then the event, with the route and operation, never the IUV in clear (unless raw bodies are on);
//!   a `KO` answer without an event is traced by the notice number it named; both are counted per
//!   endpoint and outcome;
//! - a command handler calling a SOAP platform through `SoapClient::call_recorded` and a REST one through
//!   `ops::calls::start`, on a runtime whose journal sink is the telemetry (as `snodo up` runs it), is
//!   traced by the booking code of its result as received, both attempts, completed; a SOAP Fault is
//!   recorded `rejected` with its code; `snodo_platform_calls_total` and the latency histogram count
//!   each call once;
//! - a call outside a command (a feed's poll) is counted always, journaled only when it failed (a
//!   call dropped unfinished counts as a timeout);
//! - `snodo_journal_dropped_total` counts reports the writer could not take.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};
use snodo_connectors::inbound::record::record_calls;
use snodo_connectors::inbound::{InboundEvent, InboundPublisher};
use snodo_connectors::journal::trace::MemoryTrace;
use snodo_connectors::journal::{Journal, TraceRecord};
use snodo_connectors::ops::metrics::{Scrape, render};
use snodo_connectors::ops::{SharedTelemetry, Telemetry, calls};
use snodo_connectors::soap::{SoapClient, SoapClientConfig, SoapEndpoint, SoapEndpointConfig};
use snodo_connectors::soap::{SoapHandler, SoapReply, SoapRequest};
use snodo_mappings::soap::{EnvelopeBuilder, Fault, FaultCode, SOAP11_CONTENT_TYPE};
use snodo_queue::envelope::MessageType;
use snodo_queue::runtime::journal::{CommandRecord, CommandStep, JournalSink};
use snodo_queue::runtime::{Command, CommandError, CommandHandler};
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::harness::{
    Running, command, declare_for, new_runtime, send, test_settings, unique_names,
};
use snodo_queue::testing::rabbit::RabbitTestBroker;
use snodo_queue::topology::{SubscriberQueue, Topology};
use tokio_util::sync::CancellationToken;

const IUV: &str = "01000000000000177";
const NOTICE: &str = "301000000000000177";
const UNKNOWN_NOTICE: &str = "399999999999999999";
const BOOKING_CODE: &str = "BK-7Q2X";
const KEY: &[u8] = b"a test key of 32 bytes, exactly!";

/// A pagoPA station: `paSendRT` stores the receipt event, anything else is answered `KO`.
struct Station {
    publisher: InboundPublisher,
}

#[async_trait]
impl SoapHandler for Station {
    async fn handle(&self, request: SoapRequest) -> SoapReply {
        let operation = request.envelope.payload_name().local_name().to_owned();
        if operation != "paSendRT" {
            return SoapReply::Payload(format!(
                "<{operation}Res><outcome>KO</outcome><fault><faultCode>PAA_PAGAMENTO_SCONOSCIUTO</faultCode></fault></{operation}Res>"
            ));
        }
        let event = InboundEvent {
            kind: "pagopa.receipt.received".parse::<MessageType>().unwrap(),
            tenant: Some("015146".into()),
            platform_id: "receipt-1".into(),
            body: json!({"iuv": IUV, "notice_number": NOTICE, "receipt_id": "receipt-1"}),
        };
        match self.publisher.store(&event, Duration::from_secs(10)).await {
            Ok(_) => SoapReply::Payload("<paSendRTRes><outcome>OK</outcome></paSendRTRes>".into()),
            Err(e) => SoapReply::Fault(Fault::new(FaultCode::Server, e.to_string())),
        }
    }
}

fn soap(payload: &str) -> String {
    EnvelopeBuilder::new().body(payload)
}

async fn post_soap(url: &str, payload: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", SOAP11_CONTENT_TYPE)
        .body(soap(payload))
        .send()
        .await
        .expect("the station answers");
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn serve(router: Router, stop: CancellationToken) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
            .unwrap()
    });
    format!("http://{addr}")
}

/// Traces `id` until `done` holds: the journal writes in the background.
async fn trace_until(journal: &Journal, id: &str, done: impl Fn(&[TraceRecord]) -> bool) -> Vec<TraceRecord> {
    let started = Instant::now();
    loop {
        let records = journal.trace(id).await.unwrap();
        if done(&records) {
            return records;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "trace of {id} never complete: {records:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn kinds(records: &[TraceRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| serde_json::to_value(r.kind).unwrap().as_str().unwrap().to_owned())
        .collect()
}

fn metrics(telemetry: &Telemetry, journal: &Journal) -> String {
    render(&Scrape {
        connectors: &[],
        queues: &[],
        telemetry,
        journal: Some(journal),
        now: std::time::SystemTime::now(),
    })
}

fn journal_with_telemetry(raw_bodies: bool, stop: &CancellationToken) -> (Arc<Journal>, SharedTelemetry) {
    let store = Arc::new(MemoryTrace::new(Duration::from_secs(3600), 10_000));
    let (journal, writer) = Journal::new(store, KEY.to_vec(), raw_bodies);
    tokio::spawn(writer.run(stop.clone()));
    let telemetry = Arc::new(Telemetry::with_journal(journal.clone()));
    (journal, telemetry)
}

async fn an_inbound_call_is_traced_by_its_business_ids(raw_bodies: bool) {
    let broker = RabbitTestBroker::shared().await;
    let transport = broker.connect().await;
    let names = unique_names();
    let tap = format!("{}.tap", names.prefix);
    let topology = Topology::snodo(
        &names,
        &[],
        &[SubscriberQueue {
            queue: tap.clone(),
            patterns: vec!["#".into()],
        }],
        &[],
    );
    transport.declare(&topology).await.unwrap();
    let stop = CancellationToken::new();
    let (journal, telemetry) = journal_with_telemetry(raw_bodies, &stop);
    let station = Station {
        publisher: InboundPublisher::new(transport.clone(), &names, "pagopa"),
    };
    let routes = SoapEndpoint::router(
        "/pagopa/{station}",
        Arc::new(station),
        SoapEndpointConfig::default(),
    );
    let base = serve(record_calls(routes, telemetry.clone()), stop.clone()).await;
    let url = format!("{base}/pagopa/STATION01");

    let (status, answer) = post_soap(
        &url,
        &format!(
            "<paSendRT><receipt><noticeNumber>{NOTICE}</noticeNumber>\
             <creditorReferenceId>{IUV}</creditorReferenceId></receipt></paSendRT>"
        ),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("<outcome>OK</outcome>"), "{answer}");
    let mut consumer = transport
        .consume(&tap, snodo_queue::transport::ConsumeOptions { prefetch: 16 })
        .await
        .unwrap();
    let delivered = tokio::time::timeout(Duration::from_secs(10), consumer.next())
        .await
        .expect("the receipt event reaches its subscriber")
        .unwrap();
    let event_id = delivered.message.properties.message_id.clone().unwrap();
    delivered.ack().await.unwrap();

    let story = trace_until(&journal, IUV, |r| r.len() >= 2).await;
    assert_eq!(kinds(&story), ["inbound_call", "event_published"], "{story:#?}");
    let (call, event) = (&story[0], &story[1]);
    assert_eq!(call.source, "pagopa");
    assert_eq!(call.operation.as_deref(), Some("pagopa.paSendRT"));
    assert_eq!(call.endpoint.as_deref(), Some("/pagopa/{station}"));
    assert_eq!(call.outcome.as_deref(), Some("ok"));
    assert_eq!(call.status, Some(200));
    assert_eq!(call.message_id.as_deref(), Some(event_id.as_str()));
    assert_eq!(event.message_id.as_deref(), Some(event_id.as_str()));
    assert_eq!(event.message_type.as_deref(), Some("pagopa.receipt.received"));
    assert_eq!(event.outcome.as_deref(), Some("ok"));
    assert_eq!(event.source, "pagopa");
    // The same story by the event's id and by the notice number.
    assert_eq!(trace_until(&journal, &event_id, |r| r.len() >= 2).await, story);
    assert_eq!(trace_until(&journal, NOTICE, |r| r.len() >= 2).await, story);
    let text = serde_json::to_string(&story).unwrap();
    if raw_bodies {
        assert!(call.request_body.as_deref().unwrap().contains(IUV));
        assert!(
            call.response_body
                .as_deref()
                .unwrap()
                .contains("<outcome>OK</outcome>")
        );
        assert!(event.request_body.as_deref().unwrap().contains(IUV));
    } else {
        assert!(
            !text.contains(IUV) && !text.contains(NOTICE),
            "a business id in clear: {text}"
        );
    }

    // A refusal produces no event; the call is still found by the notice it named.
    let (status, answer) = post_soap(
        &url,
        &format!("<paVerifyPaymentNotice><qrCode><noticeNumber>{UNKNOWN_NOTICE}</noticeNumber></qrCode></paVerifyPaymentNotice>"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let refused = trace_until(&journal, UNKNOWN_NOTICE, |r| !r.is_empty()).await;
    assert_eq!(kinds(&refused), ["inbound_call"]);
    assert_eq!(
        refused[0].operation.as_deref(),
        Some("pagopa.paVerifyPaymentNotice")
    );
    assert_eq!(refused[0].outcome.as_deref(), Some("ko"));
    assert_eq!(refused[0].message_id, None);

    let text = metrics(&telemetry, &journal);
    for line in [
        "snodo_inbound_calls_total{endpoint=\"pagopa.paSendRT\",outcome=\"ok\"} 1",
        "snodo_inbound_calls_total{endpoint=\"pagopa.paVerifyPaymentNotice\",outcome=\"ko\"} 1",
        "snodo_inbound_call_seconds_count{endpoint=\"pagopa.paSendRT\"} 1",
        "snodo_journal_dropped_total 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_call_and_its_event_are_traced_by_iuv_on_rabbitmq() {
    an_inbound_call_is_traced_by_its_business_ids(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_call_keeps_its_raw_bodies_only_when_configured() {
    an_inbound_call_is_traced_by_its_business_ids(true).await;
}

/// A booking platform: `Book` answers a booking code, `Cancel` a SOAP Client Fault; `/status` is a REST
/// call answered 503.
fn platform() -> Router {
    let xml = |status: StatusCode, body: String| (status, [("content-type", SOAP11_CONTENT_TYPE)], body);
    Router::new()
        .route(
            "/soap",
            post(move |body: String| async move {
                if body.contains("<Book") {
                    xml(
                        StatusCode::OK,
                        soap(&format!("<BookRes><code>{BOOKING_CODE}</code></BookRes>")),
                    )
                    .into_response()
                } else {
                    let fault = Fault::new(FaultCode::Client, "no such booking");
                    xml(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        EnvelopeBuilder::new().fault(&fault),
                    )
                    .into_response()
                }
            }),
        )
        .route("/status", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
}

struct Booking {
    client: SoapClient,
    status_url: String,
}

#[async_trait]
impl CommandHandler for Booking {
    fn name(&self) -> &str {
        "acme"
    }
    fn families(&self) -> Vec<String> {
        vec!["acme".into()]
    }
    async fn handle(&self, command: &Command) -> Result<Value, CommandError> {
        let operation = if command.envelope.kind.as_str() == "acme.book" {
            "Book"
        } else {
            "Cancel"
        };
        let (_, call) = self
            .client
            .call_recorded(operation, "", &format!("<{operation}/>"))
            .await
            .map_err(|e| e.to_command_error(true))?;
        call.succeeded();
        // A REST call through the helper, with no telemetry handle: the sink in scope records it.
        let mut status = calls::start("acme", "status", &self.status_url);
        match reqwest::get(&self.status_url).await {
            Ok(r) => {
                status.status(r.status().as_u16());
                status.finish_http();
            }
            Err(e) => status.transport_error(&e),
        }
        Ok(json!({"booking_code": BOOKING_CODE}))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_calls_reach_the_journal_and_the_metrics_once_each() {
    let broker = RabbitTestBroker::shared().await;
    let transport = broker.connect().await;
    let names = unique_names();
    let stop = CancellationToken::new();
    let (journal, telemetry) = journal_with_telemetry(false, &stop);
    let base = serve(platform(), stop.clone()).await;
    let client = SoapClient::new(
        reqwest::Client::new(),
        format!("{base}/soap"),
        SoapClientConfig::default(),
    )
    .with_recording(telemetry.clone(), "acme");
    let handler = Booking {
        client,
        status_url: format!("{base}/status"),
    };
    // As `snodo up` runs it: the telemetry is the runtime's journal sink.
    let runtime = new_runtime(&transport, Arc::new(handler), test_settings(&names, &[]))
        .with_journal(telemetry.clone());
    let mut tap = declare_for(&transport, &names, &runtime).await;
    let running = Running::start(runtime);

    let (book, message) = command("acme.book", json!({"slot": "S1"}));
    send(&transport, &names, message).await;
    let (cancel, message) = command("acme.cancel", json!({"booking_code": "BK-GONE"}));
    send(&transport, &names, message).await;
    let events = tap.take(2, Duration::from_secs(15)).await;
    let kinds_seen: Vec<String> = events.iter().map(|e| e.envelope.kind.to_string()).collect();
    assert!(
        kinds_seen.contains(&"acme.book.completed".to_owned()),
        "{kinds_seen:?}"
    );
    assert!(
        kinds_seen.contains(&"acme.cancel.failed".to_owned()),
        "{kinds_seen:?}"
    );

    let story = trace_until(&journal, BOOKING_CODE, |r| {
        kinds(r).contains(&"command_completed".to_owned())
    })
    .await;
    assert_eq!(
        kinds(&story),
        [
            "command_received",
            "platform_attempt",
            "platform_attempt",
            "command_completed"
        ],
        "{story:#?}"
    );
    let book_id = book.message_id.to_string();
    assert!(
        story
            .iter()
            .all(|r| r.message_id.as_deref() == Some(book_id.as_str()))
    );
    assert_eq!(story[1].operation.as_deref(), Some("Book"));
    assert_eq!(
        story[1].endpoint.as_deref(),
        Some(format!("{base}/soap").as_str())
    );
    assert_eq!(story[1].status, Some(200));
    assert_eq!(story[1].outcome.as_deref(), Some("ok"));
    assert_eq!(story[2].operation.as_deref(), Some("status"));
    assert_eq!(story[2].outcome.as_deref(), Some("unavailable"));
    assert_eq!(story[2].platform_code.as_deref(), Some("HTTP 503"));

    let failed = trace_until(&journal, &cancel.message_id.to_string(), |r| {
        kinds(r).contains(&"command_failed".to_owned())
    })
    .await;
    assert_eq!(
        kinds(&failed),
        ["command_received", "platform_attempt", "command_failed"]
    );
    assert_eq!(failed[1].operation.as_deref(), Some("Cancel"));
    assert_eq!(failed[1].outcome.as_deref(), Some("rejected"));
    assert_eq!(failed[1].status, Some(500));
    assert_eq!(failed[1].platform_code.as_deref(), Some("soap:Client"));

    let text = metrics(&telemetry, &journal);
    for line in [
        "snodo_platform_calls_total{platform=\"acme\",operation=\"Book\",outcome=\"ok\",platform_code=\"\"} 1",
        "snodo_platform_calls_total{platform=\"acme\",operation=\"Cancel\",outcome=\"rejected\",platform_code=\"soap:Client\"} 1",
        "snodo_platform_calls_total{platform=\"acme\",operation=\"status\",outcome=\"unavailable\",platform_code=\"HTTP 503\"} 1",
        "snodo_platform_call_seconds_count{platform=\"acme\",operation=\"Book\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
    running.stop().await;
    stop.cancel();
}

#[tokio::test]
async fn reports_the_writer_cannot_take_are_counted_on_metrics() {
    let store = Arc::new(MemoryTrace::new(Duration::from_secs(3600), 100));
    // No writer runs: the queue fills, then every report is dropped and counted.
    let (journal, _writer) = Journal::new(store, KEY.to_vec(), false);
    let report = || CommandRecord {
        step: CommandStep::Received,
        connector: "acme".into(),
        message_id: Some(uuid::Uuid::new_v4().to_string()),
        correlation_id: None,
        kind: Some("acme.book".into()),
        tenant: None,
        attempt: 1,
        external_key: None,
        body: None,
        result: None,
        error_code: None,
        error: None,
        platform_code: None,
        retry_in: None,
    };
    let telemetry = Telemetry::with_journal(journal.clone());
    let before = metrics(&telemetry, &journal);
    assert!(
        before.lines().any(|l| l == "snodo_journal_dropped_total 0"),
        "{before}"
    );
    let mut sent = 0u64;
    while journal.dropped() < 3 {
        telemetry.command(report());
        sent += 1;
        assert!(sent < 1_000_000, "the journal never dropped");
    }
    let text = metrics(&telemetry, &journal);
    assert!(
        text.contains("# TYPE snodo_journal_dropped_total counter"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "snodo_journal_dropped_total 3"),
        "{text}"
    );
}

#[tokio::test]
async fn calls_outside_a_command_are_counted_and_journaled_only_when_they_failed() {
    let stop = CancellationToken::new();
    let (journal, telemetry) = journal_with_telemetry(false, &stop);
    let mut polled = telemetry.start_call("acme", "changes", "https://acme.test/changes");
    polled.business_id("POLL-1").status(200);
    polled.succeeded();
    let mut failed = telemetry.start_call("acme", "changes", "https://acme.test/changes");
    failed.business_id("POLL-2").status(503);
    failed.finish_http();
    // Dropped unfinished, as a cancelled future drops it: recorded as a timeout.
    let mut abandoned = telemetry.start_call("acme", "changes", "https://acme.test/changes");
    abandoned.business_id("POLL-3");
    drop(abandoned);

    let records = trace_until(&journal, "POLL-2", |r| !r.is_empty()).await;
    assert_eq!(kinds(&records), ["platform_attempt"]);
    assert_eq!(records[0].outcome.as_deref(), Some("unavailable"));
    assert_eq!(records[0].message_id, None);
    let abandoned = trace_until(&journal, "POLL-3", |r| !r.is_empty()).await;
    assert_eq!(abandoned[0].outcome.as_deref(), Some("timeout"));
    assert!(journal.trace("POLL-1").await.unwrap().is_empty());
    let text = metrics(&telemetry, &journal);
    for line in [
        "snodo_platform_calls_total{platform=\"acme\",operation=\"changes\",outcome=\"ok\",platform_code=\"\"} 1",
        "snodo_platform_calls_total{platform=\"acme\",operation=\"changes\",outcome=\"unavailable\",platform_code=\"HTTP 503\"} 1",
        "snodo_platform_calls_total{platform=\"acme\",operation=\"changes\",outcome=\"timeout\",platform_code=\"\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
    stop.cancel();
}

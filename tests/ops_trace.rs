//! `snodo ops trace` and `snodo ops erase` against `snodo up` as a process: a command nobody handles
//! is found by its message id and by the codice fiscale in its body, printed in time order; erasing the
//! person asks first, then removes the records and the dead letter.
//!
//! And on RabbitMQ with the simulators: a pagoPA payment the node simulator makes at Snodo's station
//! is traced by its IUV and by its notice number as the node's calls (inbound, with their operation)
//! and the receipt event, no IUV in clear; a CIE booking is traced by its booking code as the command,
//! its attempt at the booking service and its completion; `/metrics` counts those inbound and platform
//! calls and exports the journal's dropped reports.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use snodo_queue::testing::rabbit::RabbitTestBroker;
use snodo_simulators::backend::pagopa::FINE_NOTICE;
use support::{SnodoUp, snodo};

const PERSON: &str = "RSSMRA85T10A562S";

fn trace_json(ops: &str, id: &str) -> Vec<Value> {
    let out = snodo(&["ops", "trace", id, "--json", "--ops", ops]).run();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

#[test]
fn a_story_is_traced_by_message_id_and_codice_fiscale_and_erased() {
    let up = SnodoUp::start(&["--no-simulators"], &[]);
    let ops = up.ops_url();
    let out = snodo(&["send", "nobody.person.get", "--ops", &ops])
        .stdin_json(&format!(r#"{{"codice_fiscale": "{PERSON}"}}"#));
    assert!(!out.status.success());
    let event: Value = serde_json::from_slice(&out.stdout).unwrap();
    let message_id = event["correlation_id"].as_str().unwrap().to_owned();

    let started = Instant::now();
    let story = loop {
        let story = trace_json(&ops, &message_id);
        if story.iter().any(|r| r["kind"] == "command_failed") {
            break story;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{story:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let kinds: Vec<&str> = story.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["command_received", "command_failed"]);
    assert_eq!(story[1]["outcome"], "unknown_type");
    assert_eq!(trace_json(&ops, &PERSON.to_lowercase()), story);

    let out = snodo(&["ops", "trace", &message_id, "--ops", &ops]).run();
    assert!(out.status.success(), "{}", out.stderr_text());
    let table = String::from_utf8_lossy(&out.stdout);
    let received = table.find("command_received").expect("a row per record");
    assert!(table[received..].contains("command_failed"), "{table}");
    assert!(!table.contains(PERSON), "{table}");

    // The dead letter reaches the index before the erasure can take it too.
    let started = Instant::now();
    loop {
        let out = snodo(&["ops", "dlq", "list", "--json", "--ops", &ops]).run();
        let entries: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        if !entries.is_empty() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = snodo(&["ops", "erase", PERSON, "--ops", &ops]).run();
    assert!(!out.status.success(), "no confirmation, nothing erased");
    assert_eq!(trace_json(&ops, PERSON).len(), 2);
    let out = snodo(&[
        "ops",
        "erase",
        PERSON,
        "--yes",
        "--by",
        "dpo@comune",
        "--ops",
        &ops,
    ])
    .run();
    assert!(out.status.success(), "{}", out.stderr_text());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "erased 2 journal records of 1 commands and 1 dead letters"
    );
    let out = snodo(&["ops", "trace", PERSON, "--ops", &ops]).run();
    assert!(!out.status.success(), "nothing left to trace");
    up.stop();
}

fn kinds(story: &[Value]) -> Vec<&str> {
    story.iter().map(|r| r["kind"].as_str().unwrap()).collect()
}

/// An offset at which `snodo up`'s inbound listener (7443) and the four simulators are free now: the
/// node simulator calls the station at the inbound listener's configured address.
fn free_offset() -> u16 {
    let start = 1000 + (std::process::id() % 300) as u16 * 70 + 7;
    (0..500u16)
        .map(|i| start.wrapping_add(i * 17) % 40_000 + 500)
        .find(|offset| {
            [7443u16, 9441, 9442, 9443, 9444]
                .iter()
                .all(|p| std::net::TcpListener::bind(("127.0.0.1", p + offset)).is_ok())
        })
        .expect("a free port offset")
}

/// Traces `id` until `done` holds (the journal writes in the background).
async fn trace_until(ops: &str, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let (ops_url, id_owned) = (ops.to_owned(), id.to_owned());
        let story = tokio::task::spawn_blocking(move || trace_json(&ops_url, &id_owned))
            .await
            .unwrap();
        if done(&story) {
            return story;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "trace of {id}: {story:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn send(url: &str, kind: &str, body: Value) -> Value {
    let (url, kind) = (url.to_owned(), kind.to_owned());
    tokio::task::spawn_blocking(move || {
        let out = snodo(&["send", &kind, "--amqp", &url]).stdin_json(&body.to_string());
        assert!(out.status.success(), "{kind}: {}", out.stderr_text());
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_and_a_booking_are_traced_with_their_inbound_and_platform_calls_on_rabbitmq() {
    let broker = RabbitTestBroker::shared().await;
    let url = broker.url().to_owned();
    let offset = free_offset().to_string();
    let up = {
        let (url, offset) = (url.clone(), offset.clone());
        tokio::task::spawn_blocking(move || {
            SnodoUp::start(
                &["--amqp", &url, "--listener-offset", &offset],
                &[("SNODO_LISTENERS__INBOUND", "127.0.0.1:7443")],
            )
        })
        .await
        .unwrap()
    };
    let ops = up.ops_url();
    let http = reqwest::Client::new();

    // The node simulator pays a notice at Snodo's station: paGetPayment, then paSendRT.
    let paid = http
        .post(format!("{ops}/demo/pagopa/pay"))
        .json(&json!({ "notice_number": FINE_NOTICE }))
        .send()
        .await
        .unwrap();
    let status = paid.status();
    let report: Value = paid.json().await.unwrap();
    assert!(status.is_success(), "{report:#}");
    let iuv = &FINE_NOTICE[1..];
    let by_iuv = trace_until(&ops, iuv, |s| {
        kinds(s).contains(&"inbound_call") && kinds(s).contains(&"event_published")
    })
    .await;
    let call = by_iuv.iter().find(|r| r["kind"] == "inbound_call").unwrap();
    assert!(
        call["operation"].as_str().unwrap().starts_with("pagopa.paSendRT"),
        "{by_iuv:#?}"
    );
    assert_eq!(call["endpoint"], "/pagopa/{station}");
    assert_eq!(call["outcome"], "ok");
    let event = by_iuv.iter().find(|r| r["kind"] == "event_published").unwrap();
    assert_eq!(event["type"], "pagopa.receipt.received");
    assert_eq!(event["outcome"], "ok");
    assert_eq!(
        call["message_id"], event["message_id"],
        "the call names the event it brought"
    );
    let at = |r: &Value| r["at"].as_str().unwrap().to_owned();
    assert!(at(call) <= at(event), "the call comes first: {by_iuv:#?}");
    let text = serde_json::to_string(&by_iuv).unwrap();
    assert!(
        !text.contains(iuv) && !text.contains(FINE_NOTICE),
        "in clear: {text}"
    );
    // By notice number: every call the node made about it, in time order, then the event.
    let by_notice = trace_until(&ops, FINE_NOTICE, |s| {
        s.iter().filter(|r| r["kind"] == "inbound_call").count() >= 2
    })
    .await;
    let operations: Vec<&str> = by_notice
        .iter()
        .filter(|r| r["kind"] == "inbound_call")
        .map(|r| r["operation"].as_str().unwrap())
        .collect();
    assert!(
        operations[0].starts_with("pagopa.paVerifyPaymentNotice"),
        "{operations:?}"
    );
    assert!(
        operations.iter().any(|o| o.starts_with("pagopa.paGetPayment")),
        "{operations:?}"
    );
    assert!(
        operations.last().unwrap().starts_with("pagopa.paSendRT"),
        "{operations:?}"
    );
    assert!(kinds(&by_notice).contains(&"event_published"));

    // A CIE booking through the booking simulator.
    let today = chrono::Utc::now().date_naive();
    let day = (7..14)
        .map(|d| today + chrono::Duration::days(d))
        .find(|d| chrono::Datelike::weekday(d) == chrono::Weekday::Wed)
        .unwrap();
    let found = send(
        &url,
        "cie_booking.availability.search",
        json!({"schema": 1, "office_id": "MI-ANAGRAFE-01", "from": day, "to": day, "reason": "first_document"}),
    )
    .await;
    assert_eq!(
        found["type"], "cie_booking.availability.search.completed",
        "{found:#}"
    );
    let slot = found["body"]["slots"][0]["slot_id"].as_str().unwrap().to_owned();
    let cf = snodo_simulators::cie_booking::population()
        .iter()
        .next()
        .unwrap()
        .codice_fiscale
        .as_str()
        .to_owned();
    let booked = send(
        &url,
        "cie_booking.appointment.book",
        json!({"schema": 1, "slot_id": slot, "reason": "first_document",
               "citizen": {"codice_fiscale": cf, "surname": "Rossi", "given_name": "Maria",
                           "email": "maria.rossi@example.it"}}),
    )
    .await;
    assert_eq!(
        booked["type"], "cie_booking.appointment.book.completed",
        "{booked:#}"
    );
    let code = booked["body"]["appointment"]["booking_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let story = trace_until(&ops, &code, |s| kinds(s).contains(&"command_completed")).await;
    assert_eq!(
        kinds(&story),
        ["command_received", "platform_attempt", "command_completed"],
        "{story:#?}"
    );
    assert_eq!(story[1]["source"], "cie_booking");
    assert_eq!(story[1]["outcome"], "ok");
    assert_eq!(story[1]["status"], 200);
    assert_eq!(story[1]["message_id"], story[0]["message_id"]);
    let booking_operation = story[1]["operation"].as_str().unwrap().to_owned();
    assert_eq!(trace_until(&ops, &cf, |s| s.len() >= 3).await.len(), 3);

    let metrics = http
        .get(format!("{ops}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let has = |prefix: &str| metrics.lines().any(|l| l.starts_with(prefix));
    assert!(
        has(&format!(
            "snodo_platform_calls_total{{platform=\"cie_booking\",operation=\"{booking_operation}\",outcome=\"ok\",platform_code=\"\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        has(&format!(
            "snodo_platform_call_seconds_count{{platform=\"cie_booking\",operation=\"{booking_operation}\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        metrics.lines().any(
            |l| l.starts_with("snodo_inbound_calls_total{endpoint=\"pagopa.paSendRT")
                && l.contains("outcome=\"ok\"")
        ),
        "{metrics}"
    );
    assert!(has("snodo_journal_dropped_total 0"), "{metrics}");
    tokio::task::spawn_blocking(move || up.stop()).await.unwrap();
}

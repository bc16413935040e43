//! The connector's own guards, end to end through RabbitMQ against the booking simulator: a tenant
//! limited to some offices (`[tenants.cie_booking] offices`) cannot search, book or reschedule at
//! another (`invalid_message` naming the field, nothing sent), and searches every listed office when
//! it names none; an answer that does not echo the `idOperazione` sent is never taken as the
//! command's (`unavailable`, retried, never `completed`); a search answers at most
//! `MAX_SEARCH_SLOTS` slots, cut at a day's boundary.

mod cie_booking_common;

use std::collections::BTreeSet;

use chrono::{Duration, Weekday};
use cie_booking_common::{book_body, flow, flow_with, next, people, slot, start_service};
use serde_json::json;
use snodo_connectors::cie_booking::MAX_SEARCH_SLOTS;
use snodo_connectors::config::{Config, TenantBooking};
use snodo_queue::testing::rabbit::RabbitTestBroker;
use snodo_simulators::framework::{ExchangeFilter, Fault};

fn limited_to(offices: &[&str]) -> Config {
    let mut config = Config::development();
    config.tenants[0].cie_booking = Some(TenantBooking {
        offices: offices.iter().map(|o| o.to_string()).collect(),
    });
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_limited_to_some_offices_books_only_there() {
    let broker = RabbitTestBroker::shared().await;
    let service = start_service().await;
    let handler = service.handler_for(&limited_to(&["MI-MUNICIPIO-4", "MI-OPENDAY"]));
    let mut f = flow_with(&broker, handler, 8).await;
    let who = people(2);
    let monday = next(service.today(), Weekday::Mon, 7);

    let listed = f
        .completed("cie_booking.offices.list", json!({"schema": 1}))
        .await;
    let ids: Vec<_> = listed["offices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["office_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["MI-MUNICIPIO-4", "MI-OPENDAY"]);

    // A week without an office named: each listed office searched, merged in time order.
    let week =
        json!({"schema": 1, "from": monday, "to": monday + Duration::days(6), "reason": "first_document"});
    let found = f.completed("cie_booking.availability.search", week).await;
    let slots = found["slots"].as_array().unwrap();
    let offices: BTreeSet<_> = slots.iter().map(|s| s["office_id"].as_str().unwrap()).collect();
    assert_eq!(offices, BTreeSet::from(["MI-MUNICIPIO-4", "MI-OPENDAY"]));
    // Municipio 4: 9 twenty-minute slots a weekday; the open day: 8 half hours on Saturday.
    assert_eq!(slots.len(), 5 * 9 + 8);
    let starts: Vec<_> = slots.iter().map(|s| s["starts_at"].as_str().unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "time order");
    let instant = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).expect("an RFC 3339 instant")
    };
    // The earliest free time of either office, from today on: not after the week searched.
    assert!(instant(&found["first_available"]) <= instant(&slots[0]["starts_at"]));

    let calls = service.operation_ids(None).len();
    let refused = f
        .run(
            "cie_booking.availability.search",
            json!({"schema": 1, "office_id": "MI-ANAGRAFE-01", "from": monday, "to": monday,
                   "reason": "first_document"}),
        )
        .await;
    assert_eq!(refused.body["code"], "invalid_message", "{}", refused.body);
    let message = refused.body["message"].as_str().unwrap();
    assert!(
        message.contains("`office_id`") && message.contains("MI-ANAGRAFE-01"),
        "{message}"
    );

    let refused = f
        .run(
            "cie_booking.appointment.book",
            book_body(&slot("MI-ANAGRAFE-01", monday, "0900"), &who[0]),
        )
        .await;
    assert_eq!(refused.body["code"], "invalid_message");
    let message = refused.body["message"].as_str().unwrap();
    assert!(
        message.contains("`slot_id`") && message.contains("MI-MUNICIPIO-4, MI-OPENDAY"),
        "{message}"
    );
    assert!(!message.contains(&who[0]));
    assert_eq!(service.operation_ids(None).len(), calls, "nothing was sent");

    let booked = f
        .completed(
            "cie_booking.appointment.book",
            book_body(&slot("MI-MUNICIPIO-4", monday, "0900"), &who[0]),
        )
        .await;
    let code = booked["appointment"]["booking_code"].as_str().unwrap();
    let refused = f
        .run(
            "cie_booking.appointment.reschedule",
            json!({"schema": 1, "booking_code": code, "codice_fiscale": who[0],
                   "new_slot_id": slot("MI-ANAGRAFE-01", monday, "1000")}),
        )
        .await;
    assert_eq!(refused.body["code"], "invalid_message");
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("`new_slot_id`")
    );
    let moved = f
        .completed(
            "cie_booking.appointment.reschedule",
            json!({"schema": 1, "booking_code": code, "codice_fiscale": who[0],
                   "new_slot_id": slot("MI-MUNICIPIO-4", monday, "1000")}),
        )
        .await;
    assert_eq!(moved["appointment"]["replaces"], code);
    f.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_does_not_echo_the_operation_id_is_never_a_success() {
    let broker = RabbitTestBroker::shared().await;
    let service = start_service().await;
    let mut f = flow(&broker, &service, 8).await;
    let who = people(2);
    let tuesday = next(service.today(), Weekday::Tue, 7);
    f.completed(
        "cie_booking.appointment.book",
        book_body(&slot("MI-ANAGRAFE-01", tuesday, "0900"), &who[0]),
    )
    .await;
    // The service's real answer to that booking, replayed to the next one: valid by the contract,
    // but carrying the first command's idOperazione.
    let recorded = service.instance.recorder().query(&ExchangeFilter {
        operation: Some("Prenota".into()),
        ..ExchangeFilter::default()
    });
    let first_answer = recorded.exchanges[0].response.as_ref().unwrap().text.clone();
    service.fault(
        Some("Prenota"),
        10,
        Fault::HttpStatus {
            status: 200,
            body: Some(first_answer),
            content_type: Some("text/xml; charset=utf-8".into()),
        },
    );
    let event = f
        .run(
            "cie_booking.appointment.book",
            book_body(&slot("MI-ANAGRAFE-01", tuesday, "0915"), &who[1]),
        )
        .await;
    assert_eq!(
        event.envelope.kind.as_str(),
        "cie_booking.appointment.book.failed",
        "{}",
        event.body
    );
    assert_eq!(event.body["code"], "unavailable");
    assert_eq!(event.body["attempts"], 3, "retried with the same id, then parked");
    assert!(event.body["message"].as_str().unwrap().contains("idOperazione"));
    let ids = service.operation_ids(Some("Prenota"));
    assert_eq!(ids.len(), 4);
    assert!(ids[1..].iter().all(|id| *id == ids[1]) && ids[1] != ids[0]);

    // A scripted refusal cannot echo the request (the fault layer answers before reading it): it
    // is not taken as this command's refusal either.
    service.instance.faults().clear();
    service.fault(
        Some("Prenota"),
        10,
        Fault::PlatformError {
            code: "SLOT_ESAURITO".into(),
            message: "pieno".into(),
        },
    );
    let event = f
        .run(
            "cie_booking.appointment.book",
            book_body(&slot("MI-ANAGRAFE-01", tuesday, "0930"), &who[1]),
        )
        .await;
    assert_eq!(event.body["code"], "unavailable", "{}", event.body);
    f.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_is_capped_at_whole_days_and_pages_by_date() {
    let broker = RabbitTestBroker::shared().await;
    let service = start_service().await;
    let mut f = flow(&broker, &service, 8).await;
    let from = next(service.today(), Weekday::Mon, 7);
    let to = from + Duration::days(60);
    let search =
        |from: chrono::NaiveDate| json!({"schema": 1, "from": from, "to": to, "reason": "first_document"});
    let first = f.completed("cie_booking.availability.search", search(from)).await;
    let slots = first["slots"].as_array().unwrap();
    assert!(
        slots.len() <= MAX_SEARCH_SLOTS && slots.len() > MAX_SEARCH_SLOTS - 50,
        "{}",
        slots.len()
    );
    let day = |s: &serde_json::Value| s["starts_at"].as_str().unwrap()[..10].to_owned();
    let last_day = day(slots.last().unwrap());
    // The last day is whole: a search of that day alone finds no more.
    let last: chrono::NaiveDate = last_day.parse().unwrap();
    let alone = f
        .completed(
            "cie_booking.availability.search",
            json!({"schema": 1, "from": last, "to": last, "reason": "first_document"}),
        )
        .await;
    let on_last_day = slots.iter().filter(|s| day(s) == last_day).count();
    assert_eq!(alone["slots"].as_array().unwrap().len(), on_last_day);
    // The next page starts the day after.
    let second = f
        .completed(
            "cie_booking.availability.search",
            search(last + Duration::days(1)),
        )
        .await;
    let next_first = second["slots"].as_array().unwrap().first().map(day).unwrap();
    assert!(next_first > last_day);
    f.running.stop().await;
}

//! The CIE booking connector end to end through RabbitMQ (each test its own virtual host): every
//! operation from command to completed event against the booking simulator; 200 simultaneous
//! bookings of a 20-place slot; a booking whose first answer was lost, retried without booking
//! twice; an automatic cancellation reaching the backend as an event.

mod cie_booking_common;

use std::collections::HashSet;
use std::time::Duration;

use chrono::Weekday;
use cie_booking_common::{WAIT, book_body, flow, next, people, slot, start_service};
use serde_json::json;
use snodo_connectors::schedule::item_message_id;
use snodo_queue::testing::harness::{TEST_TENANT, command, send};
use snodo_queue::testing::rabbit::RabbitTestBroker;
use snodo_simulators::framework::Fault;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_from_command_to_event() {
    let broker = RabbitTestBroker::shared().await;
    let service = start_service().await;
    let mut f = flow(&broker, &service, 8).await;
    let cf = people(1).remove(0);

    let offices = f
        .completed("cie_booking.offices.list", json!({"schema": 1}))
        .await;
    assert_eq!(offices["offices"].as_array().unwrap().len(), 4);

    let day = next(service.today(), Weekday::Wed, 7);
    let found = f
        .completed(
            "cie_booking.availability.search",
            json!({"schema": 1, "office_id": "MI-ANAGRAFE-01", "from": day, "to": day, "reason": "first_document"}),
        )
        .await;
    let slots = found["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 16);
    let first = slots[0]["slot_id"].as_str().unwrap().to_owned();

    let booked = f
        .completed("cie_booking.appointment.book", book_body(&first, &cf))
        .await;
    assert_eq!(booked["appointment"]["state"], "booked");
    let code = booked["appointment"]["booking_code"].as_str().unwrap().to_owned();

    let again = f
        .run(
            "cie_booking.appointment.book",
            book_body(slots[1]["slot_id"].as_str().unwrap(), &cf),
        )
        .await;
    assert_eq!(
        again.envelope.kind.as_str(),
        "cie_booking.appointment.book.failed"
    );
    assert_eq!(again.body["code"], "rejected");
    assert_eq!(again.body["platform_code"], "PRENOTAZIONE_ATTIVA_ESISTENTE");

    let key = json!({"schema": 1, "booking_code": code, "codice_fiscale": cf});
    let confirmed = f.completed("cie_booking.appointment.confirm", key.clone()).await;
    assert_eq!(confirmed["appointment"]["state"], "confirmed");

    let status = f
        .completed(
            "cie_booking.appointment.status",
            json!({"schema": 1, "by": {"booking_code": code}}),
        )
        .await;
    assert_eq!(status["appointments"][0]["state"], "confirmed");

    let new_slot = slot("MI-MUNICIPIO-4", next(service.today(), Weekday::Thu, 7), "1000");
    let moved = f
        .completed(
            "cie_booking.appointment.reschedule",
            json!({"schema": 1, "booking_code": code, "codice_fiscale": cf, "new_slot_id": new_slot}),
        )
        .await;
    assert_eq!(moved["appointment"]["replaces"], code.as_str());
    assert_eq!(moved["appointment"]["state"], "booked");
    let new_code = moved["appointment"]["booking_code"].as_str().unwrap().to_owned();

    let cancelled = f
        .completed(
            "cie_booking.appointment.cancel",
            json!({"schema": 1, "booking_code": new_code, "codice_fiscale": cf, "cancelled_by": "citizen"}),
        )
        .await;
    assert_eq!(cancelled["appointment"]["state"], "cancelled_by_citizen");

    let history = f
        .completed(
            "cie_booking.appointment.status",
            json!({"schema": 1, "by": {"codice_fiscale": cf}}),
        )
        .await;
    let codes: Vec<_> = history["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["booking_code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes, vec![new_code, code]);

    // A codice fiscale with a wrong check character never reaches the service.
    let calls = service.operation_ids(None).len();
    let mut wrong = cf.clone();
    wrong.replace_range(15..16, if cf.ends_with('A') { "B" } else { "A" });
    let refused = f
        .run("cie_booking.appointment.book", book_body(&first, &wrong))
        .await;
    assert_eq!(refused.body["code"], "invalid_message", "{}", refused.body);
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("citizen.codice_fiscale")
    );
    assert!(!refused.body["message"].as_str().unwrap().contains(&wrong));
    assert_eq!(service.operation_ids(None).len(), calls);
    f.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_simultaneous_bookings_of_twenty_places_book_exactly_twenty() {
    let broker = RabbitTestBroker::shared().await;
    let service = start_service().await;
    let mut f = flow(&broker, &service, 100).await;
    let open_day = slot("MI-OPENDAY", next(service.today(), Weekday::Sat, 7), "0930");
    let mut sent = HashSet::new();
    for cf in people(200) {
        let (envelope, message) = command("cie_booking.appointment.book", book_body(&open_day, &cf));
        sent.insert(envelope.message_id);
        send(&f.transport, &f.names, message).await;
    }
    let events = f.tap.take(200, Duration::from_secs(60)).await;
    let mut booked = 0;
    let mut full = 0;
    for e in &events {
        assert!(
            sent.remove(&e.envelope.correlation_id.unwrap()),
            "one event per command"
        );
        match e.envelope.kind.as_str() {
            "cie_booking.appointment.book.completed" => booked += 1,
            "cie_booking.appointment.book.failed" => {
                assert_eq!(e.body["code"], "rejected");
                assert_eq!(e.body["platform_code"], "SLOT_ESAURITO");
                full += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((booked, full), (20, 180));
    let engine_slots = service.operation_ids(Some("Prenota")).len();
    assert_eq!(engine_slots, 200, "each command called the service once");
    f.tap.assert_quiet(Duration::from_millis(300)).await;
    f.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_whose_answer_was_lost_is_retried_without_booking_twice() {
    let broker = RabbitTestBroker::shared().await;
    let service = start_service().await;
    let mut f = flow(&broker, &service, 8).await;
    // The service books, then its answer is cut in half on the way back.
    service.fault(Some("Prenota"), 1, Fault::MalformedReply {});
    let at = slot("MI-MUNICIPIO-4", next(service.today(), Weekday::Tue, 7), "0900");
    let cf = people(1).remove(0);
    let event = f.run("cie_booking.appointment.book", book_body(&at, &cf)).await;
    assert_eq!(
        event.envelope.kind.as_str(),
        "cie_booking.appointment.book.completed",
        "{}",
        event.body
    );
    assert_eq!(event.envelope.attempt, 2);
    let ids = service.operation_ids(Some("Prenota"));
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1], "the retry sent the same idOperazione");
    assert_eq!(
        ids[0],
        event.envelope.correlation_id.unwrap().simple().to_string()
    );
    // Municipio 4 has one counter: the one place is taken once, by this booking.
    let history = f
        .completed(
            "cie_booking.appointment.status",
            json!({"schema": 1, "by": {"codice_fiscale": cf}}),
        )
        .await;
    assert_eq!(history["appointments"].as_array().unwrap().len(), 1);
    assert_eq!(
        history["appointments"][0]["booking_code"],
        event.body["appointment"]["booking_code"]
    );
    let other = f
        .run("cie_booking.appointment.book", book_body(&at, &people(2)[1]))
        .await;
    assert_eq!(other.body["platform_code"], "SLOT_ESAURITO");
    f.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automatic_cancellation_reaches_the_backend_as_an_event() {
    let broker = RabbitTestBroker::shared().await;
    let service = start_service().await;
    let mut f = flow(&broker, &service, 8).await;
    let _feed = service.run_feed(&f.transport, &f.names, TEST_TENANT);
    let at = slot("MI-ANAGRAFE-01", next(service.today(), Weekday::Mon, 10), "1100");
    let booked = f
        .completed("cie_booking.appointment.book", book_body(&at, &people(1)[0]))
        .await;
    let code = booked["appointment"]["booking_code"].as_str().unwrap().to_owned();
    // Past the confirmation deadline (three days before a day 10 to 16 days away).
    service.advance_clock("20days").await;
    let event = loop {
        let e = f.tap.next(WAIT).await.expect("the change event");
        if e.envelope.kind.as_str() == "cie_booking.appointment.changed" {
            break e;
        }
    };
    assert_eq!(event.body["cause"], "not_confirmed");
    assert_eq!(event.body["appointment"]["booking_code"], code.as_str());
    assert_eq!(event.body["appointment"]["state"], "cancelled_automatically");
    assert_eq!(event.envelope.tenant.as_deref(), Some(TEST_TENANT));
    let change_id = event.body["change_id"].as_str().unwrap();
    assert_eq!(
        event.envelope.message_id,
        item_message_id(&event.envelope.kind, Some(TEST_TENANT), change_id)
    );
    f.running.stop().await;
}

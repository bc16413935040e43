//! What the Ministry's side does on its own reaches the backend: an office closed for a day, an
//! operator's cancellation and a refused clearance — triggered through the booking simulator's admin
//! API — each become a `cie_booking.appointment.changed` event through RabbitMQ, with the state the
//! contract gives it, while the closed day is no longer offered or bookable.

mod cie_booking_common;

use chrono::Weekday;
use cie_booking_common::{book_body, flow, next, people, slot, start_service};
use serde_json::json;
use snodo_connectors::schedule::item_message_id;
use snodo_queue::testing::harness::TEST_TENANT;
use snodo_queue::testing::rabbit::RabbitTestBroker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closures_operator_cancellations_and_refused_clearances_reach_the_backend() {
    let broker = RabbitTestBroker::shared().await;
    let service = start_service().await;
    let mut f = flow(&broker, &service, 8).await;
    let _feed = service.run_feed(&f.transport, &f.names, TEST_TENANT);
    let who = people(5);
    let day = next(service.today(), Weekday::Wed, 7);
    let mut code = Vec::new();
    for (cf, at) in [
        (&who[0], slot("MI-ANAGRAFE-01", day, "0900")),
        (&who[1], slot("MI-ANAGRAFE-01", day, "1000")),
        (&who[2], slot("MI-MUNICIPIO-4", day, "0900")),
    ] {
        let booked = f
            .completed("cie_booking.appointment.book", book_body(&at, cf))
            .await;
        code.push(booked["appointment"]["booking_code"].as_str().unwrap().to_owned());
    }
    let mut non_resident = book_body(&slot("MI-ANAGRAFE-01", day, "1100"), &who[3]);
    non_resident["residence_comune"] = json!("058091");
    let awaiting = f.completed("cie_booking.appointment.book", non_resident).await;
    assert_eq!(awaiting["appointment"]["state"], "awaiting_clearance");
    let awaiting_code = awaiting["appointment"]["booking_code"]
        .as_str()
        .unwrap()
        .to_owned();
    // The office closes that Wednesday: both its bookings of the day are cancelled (the one awaiting
    // clearance too), Municipio 4's is not.
    let (status, closed) = service
        .admin(
            "closures",
            json!({"office_id": "MI-ANAGRAFE-01", "from": day, "to": day}),
        )
        .await;
    assert_eq!(status, 200, "{closed}");
    let cancelled: Vec<_> = closed["cancelled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["booking_code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        cancelled,
        vec![code[0].clone(), code[1].clone(), awaiting_code.clone()]
    );

    let mut seen = Vec::new();
    for _ in 0..3 {
        let e = f.changed().await;
        assert_eq!(e.body["cause"], "office_closed", "{}", e.body);
        assert_eq!(e.body["appointment"]["state"], "cancelled_by_comune");
        assert_eq!(e.envelope.tenant.as_deref(), Some(TEST_TENANT));
        assert_eq!(
            e.envelope.message_id,
            item_message_id(
                &e.envelope.kind,
                Some(TEST_TENANT),
                e.body["change_id"].as_str().unwrap()
            )
        );
        seen.push(e.body["appointment"]["booking_code"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, cancelled);

    // The closed day is neither offered nor bookable; the next day is.
    let search = |d: chrono::NaiveDate| json!({"schema": 1, "office_id": "MI-ANAGRAFE-01", "from": d, "to": d, "reason": "first_document"});
    let found = f.completed("cie_booking.availability.search", search(day)).await;
    assert_eq!(found["slots"], json!([]));
    let after = f
        .completed("cie_booking.availability.search", search(day.succ_opt().unwrap()))
        .await;
    assert!(!after["slots"].as_array().unwrap().is_empty());
    let refused = f
        .run(
            "cie_booking.appointment.book",
            book_body(&slot("MI-ANAGRAFE-01", day, "0930"), &who[4]),
        )
        .await;
    assert_eq!(refused.body["code"], "rejected", "{}", refused.body);
    assert_eq!(refused.body["platform_code"], "SEDE_CHIUSA");

    // An operator cancels Municipio 4's booking in the Ministry's application.
    let (status, answer) = service
        .admin(&format!("bookings/{}/operator-cancellation", code[2]), json!({}))
        .await;
    assert_eq!(status, 200, "{answer}");
    let e = f.changed().await;
    assert_eq!(e.body["cause"], "cancelled_by_operator");
    assert_eq!(e.body["appointment"]["booking_code"], code[2].as_str());
    assert_eq!(e.body["appointment"]["state"], "cancelled_by_comune");
    let (status, again) = service
        .admin(&format!("bookings/{}/operator-cancellation", code[2]), json!({}))
        .await;
    assert_eq!(status, 409, "{again}");
    assert!(again["error"].as_str().unwrap().contains("ANNULLATA_COMUNE"));

    // A non-resident's comune of residence refuses the clearance.
    let other_day = next(service.today(), Weekday::Thu, 7);
    let mut non_resident = book_body(&slot("MI-MUNICIPIO-4", other_day, "1000"), &who[4]);
    non_resident["residence_comune"] = json!("058091");
    let booked = f.completed("cie_booking.appointment.book", non_resident).await;
    let pending = booked["appointment"]["booking_code"].as_str().unwrap().to_owned();
    let (status, answer) = service
        .admin(
            &format!("bookings/{pending}/clearance"),
            json!({"granted": false}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let e = f.changed().await;
    assert_eq!(e.body["cause"], "clearance_refused");
    assert_eq!(e.body["appointment"]["booking_code"], pending.as_str());
    assert_eq!(e.body["appointment"]["state"], "cancelled_by_comune");
    // Its place is free again.
    let free = f
        .completed(
            "cie_booking.availability.search",
            json!({"schema": 1, "office_id": "MI-MUNICIPIO-4", "from": other_day, "to": other_day,
                   "reason": "first_document"}),
        )
        .await;
    assert!(
        free["slots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["slot_id"] == slot("MI-MUNICIPIO-4", other_day, "1000").as_str())
    );

    // Mistakes in the admin calls say what is wrong.
    let (status, unknown) = service
        .admin(
            "closures",
            json!({"office_id": "MI-NOWHERE", "from": day, "to": day}),
        )
        .await;
    assert_eq!(status, 404);
    assert!(unknown["error"].as_str().unwrap().contains("MI-NOWHERE"));
    let (status, _) = service
        .admin(&format!("bookings/{pending}/clearance"), json!({"granted": true}))
        .await;
    assert_eq!(status, 409);
    f.tap.assert_quiet(std::time::Duration::from_millis(300)).await;
    f.running.stop().await;
}

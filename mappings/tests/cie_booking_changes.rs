//! The change feed: the request after a cursor (or from the start), pages of changes that round-trip,
//! each change becoming one `cie_booking.appointment.changed` event, and the page-size bounds.

mod cie_booking_common;

use cie_booking_common::samples::*;
use cie_booking_common::{assert_valid, parse_payload, request_header};
use snodo_mappings::cie_booking::changes::{AppointmentChanged, CHANGED_EVENT, ChangesQuery, MAX_PAGE};
use snodo_mappings::cie_booking::{
    AppointmentState, BookingError, ChangeCause, Operation, Request, Response, read_reply, read_request,
    write_reply, write_request,
};

#[test]
fn the_request_round_trips_with_and_without_a_cursor() {
    let header = request_header();
    for query in [
        changes_query(),
        ChangesQuery { cursor: None, max: 1 },
        ChangesQuery {
            cursor: None,
            max: MAX_PAGE,
        },
    ] {
        let request = Request::Changes(query);
        let xml = write_request(&header, &request).unwrap();
        let doc = assert_valid(&xml);
        assert_eq!(
            read_request(&doc, doc.document_element()).unwrap(),
            (header.clone(), request)
        );
    }
}

#[test]
fn the_page_size_is_1_to_500() {
    let header = request_header();
    for max in [0, MAX_PAGE + 1] {
        let err = write_request(&header, &Request::Changes(ChangesQuery { cursor: None, max })).unwrap_err();
        assert_eq!(
            err,
            BookingError::Field {
                field: "max".into(),
                reason: "must be 1 to 500".into()
            }
        );
    }
    let err = write_request(
        &header,
        &Request::Changes(ChangesQuery {
            cursor: Some("not a cursor".into()),
            max: 10,
        }),
    )
    .unwrap_err();
    assert!(
        matches!(err, BookingError::Field { ref field, .. } if field == "cursor"),
        "{err}"
    );
}

#[test]
fn a_page_round_trips_and_each_change_is_an_event() {
    let page = changes_page();
    let reply = ok(Response::Changes(page.clone()));
    let xml = write_reply(Operation::Changes, &reply).unwrap();
    let doc = assert_valid(&xml);
    let back = read_reply(&doc, doc.document_element(), Operation::Changes).unwrap();
    assert_eq!(back, reply);
    let Ok(Response::Changes(back)) = back.answer else {
        panic!("a page")
    };
    assert_eq!(back.next_cursor, "c-000047");
    assert!(back.more);
    assert_eq!(CHANGED_EVENT, "cie_booking.appointment.changed");
    let event = serde_json::to_value(&back.changes[0]).unwrap();
    assert_eq!(event["schema"], 1);
    assert_eq!(event["change_id"], "v-1001");
    assert_eq!(event["cause"], "not_confirmed");
    assert_eq!(event["appointment"]["state"], "cancelled_automatically");
    let office = serde_json::to_value(&back.changes[1]).unwrap();
    assert_eq!(office["cause"], "office_closed");
    assert_eq!(office["appointment"]["state"], "cancelled_by_comune");
}

#[test]
fn every_cause_is_written_as_its_code_and_read_back() {
    let mut page = changes_page();
    page.changes = ChangeCause::ALL
        .iter()
        .enumerate()
        .map(|(i, &cause)| changed(cause, AppointmentState::CancelledByComune, &format!("v-{i}")))
        .collect();
    let xml = write_reply(Operation::Changes, &ok(Response::Changes(page.clone()))).unwrap();
    for cause in ChangeCause::ALL {
        assert!(xml.contains(&format!("<causale>{}</causale>", cause.code())));
    }
    let doc = assert_valid(&xml);
    let back = read_reply(&doc, doc.document_element(), Operation::Changes).unwrap();
    assert_eq!(back.answer.unwrap(), Response::Changes(page));
}

#[test]
fn the_event_is_strict_and_reads_back() {
    let event = changed(
        ChangeCause::NotConfirmed,
        AppointmentState::CancelledAutomatically,
        "v-1",
    );
    let mut json = serde_json::to_value(&event).unwrap();
    assert_eq!(
        serde_json::from_value::<AppointmentChanged>(json.clone()).unwrap(),
        event
    );
    json["extra"] = serde_json::json!(true);
    assert!(serde_json::from_value::<AppointmentChanged>(json).is_err());
}

#[test]
fn a_change_id_the_contract_does_not_allow_is_not_written() {
    let mut page = changes_page();
    page.changes[2].change_id = "v 1003".into();
    let err = write_reply(Operation::Changes, &ok(Response::Changes(page))).unwrap_err();
    assert!(
        matches!(err, BookingError::Field { ref field, .. } if field == "changes[2].change_id"),
        "{err}"
    );
}

#[test]
fn a_page_without_its_cursor_is_refused_by_the_reader() {
    let xml = write_reply(Operation::Changes, &ok(Response::Changes(changes_page())))
        .unwrap()
        .replace("<cursoreSuccessivo>c-000047</cursoreSuccessivo>", "");
    let doc = parse_payload(&xml);
    let err = read_reply(&doc, doc.document_element(), Operation::Changes).unwrap_err();
    assert_eq!(
        err,
        BookingError::Missing {
            path: "ElencoVariazioniRisposta/ElencoVariazioniOK/cursoreSuccessivo".into()
        }
    );
}

//! Book, confirm, cancel, reschedule and status: requests written from commands validate against
//! `cieBooking.xsd` and read back as asked; every answer and refusal round-trips; the completed
//! events carry the appointment; the field rules name the JSON field.

mod cie_booking_common;

use cie_booking_common::samples::*;
use cie_booking_common::{assert_valid, parse_payload, request_header};
use snodo_mappings::cie_booking::appointment::{AppointmentKey, BookingRequest, StatusKey};
use snodo_mappings::cie_booking::{
    AppointmentState, BookingError, CancelledBy, Command, ErrorCode, Operation, Request, Response,
    read_reply, read_request, write_command, write_reply,
};

fn round_trip(cmd: &Command) -> Request {
    let header = request_header();
    let xml = write_command(cmd, &header).unwrap();
    let doc = assert_valid(&xml);
    let (back_header, request) = read_request(&doc, doc.document_element()).unwrap();
    assert_eq!(back_header, header);
    assert_eq!(request, cmd.to_request("015146").unwrap());
    request
}

fn key() -> AppointmentKey {
    AppointmentKey {
        booking_code: "CIE7K2M9Q4".into(),
        codice_fiscale: CF.into(),
    }
}

#[test]
fn a_booking_request_carries_the_citizen_escaped_and_the_residence_defaults_to_the_tenant() {
    let xml = write_command(&Command::Book(book()), &request_header()).unwrap();
    assert!(
        xml.contains("<cognome>Rossi D'Angelo &amp; &lt;Figli&gt;</cognome>"),
        "{xml}"
    );
    let request = round_trip(&Command::Book(book()));
    assert_eq!(
        request,
        Request::Book(BookingRequest {
            slot_id: "MI01-20250407-0900".into(),
            citizen: citizen(),
            reason: snodo_mappings::cie_booking::Reason::FirstDocument,
            residence_comune: "015146".into(),
        })
    );
}

#[test]
fn a_non_resident_booking_names_the_comune_of_residence() {
    let mut cmd = book();
    cmd.residence_comune = Some("058091".into());
    cmd.citizen.phone = None;
    let request = round_trip(&Command::Book(cmd));
    assert!(
        matches!(request, Request::Book(b) if b.residence_comune == "058091" && b.citizen.phone.is_none())
    );
}

#[test]
fn confirm_cancel_reschedule_and_status_round_trip() {
    assert_eq!(round_trip(&Command::Confirm(confirm())), Request::Confirm(key()));
    assert_eq!(
        round_trip(&Command::Cancel(cancel())),
        Request::Cancel {
            key: key(),
            cancelled_by: CancelledBy::Comune
        }
    );
    let mut by_citizen = cancel();
    by_citizen.cancelled_by = CancelledBy::Citizen;
    assert!(matches!(
        round_trip(&Command::Cancel(by_citizen)),
        Request::Cancel {
            cancelled_by: CancelledBy::Citizen,
            ..
        }
    ));
    assert_eq!(
        round_trip(&Command::Reschedule(reschedule())),
        Request::Reschedule {
            key: key(),
            new_slot_id: "MI01-20250409-1130".into()
        }
    );
    assert_eq!(
        round_trip(&Command::Status(status_by_code())),
        Request::Status(StatusKey::BookingCode("CIE7K2M9Q4".into()))
    );
    assert_eq!(
        round_trip(&Command::Status(status_by_cf())),
        Request::Status(StatusKey::CodiceFiscale(CF.into()))
    );
}

#[test]
fn every_answer_validates_and_reads_back_equal() {
    for response in responses() {
        let op = response.operation();
        let reply = ok(response);
        let xml = write_reply(op, &reply).unwrap();
        let doc = assert_valid(&xml);
        assert_eq!(
            read_reply(&doc, doc.document_element(), op).unwrap(),
            reply,
            "{xml}"
        );
    }
}

#[test]
fn every_state_is_written_as_its_code_and_read_back() {
    let found = found();
    let xml = write_reply(Operation::Status, &ok(Response::Status(found.clone()))).unwrap();
    for state in AppointmentState::ALL {
        assert!(xml.contains(&format!("<stato>{}</stato>", state.code())));
    }
    let doc = assert_valid(&xml);
    let back = read_reply(&doc, doc.document_element(), Operation::Status).unwrap();
    assert_eq!(back.answer.unwrap(), Response::Status(found));
}

#[test]
fn the_completed_events_carry_the_appointment() {
    let cases = [
        (
            Response::Book(completed(AppointmentState::Booked)),
            "cie_booking.appointment.book.completed",
        ),
        (
            Response::Confirm(completed(AppointmentState::Confirmed)),
            "cie_booking.appointment.confirm.completed",
        ),
        (
            Response::Cancel(completed(AppointmentState::CancelledByCitizen)),
            "cie_booking.appointment.cancel.completed",
        ),
        (
            Response::Reschedule(rescheduled()),
            "cie_booking.appointment.reschedule.completed",
        ),
        (
            Response::Status(found()),
            "cie_booking.appointment.status.completed",
        ),
    ];
    for (response, expected) in cases {
        let (kind, body) = response.completed_event().unwrap();
        assert_eq!(kind, expected);
        assert_eq!(body["schema"], 1);
    }
    let (_, body) = Response::Book(completed(AppointmentState::Booked))
        .completed_event()
        .unwrap();
    assert_eq!(body["appointment"]["state"], "booked");
    assert_eq!(body["appointment"]["reason"], "first_document");
    assert_eq!(body["appointment"]["confirm_by"], "2025-04-04T23:59:59+02:00");
    assert!(body["appointment"].get("application_number").is_none());
    let (_, body) = Response::Reschedule(rescheduled()).completed_event().unwrap();
    assert_eq!(body["appointment"]["replaces"], "CIE7K2M9Q4");
    assert_eq!(body["appointment"]["booking_code"], "CIE9X3B1W7");
    let (_, body) = Response::Status(found()).completed_event().unwrap();
    assert_eq!(body["appointments"][6]["state"], "fulfilled");
    assert_eq!(body["appointments"][6]["application_number"], "CA00012345AB");
    assert!(Response::Changes(changes_page()).completed_event().is_none());
}

#[test]
fn slot_full_is_a_rejection_with_the_stable_code_and_the_field() {
    let reply = ko(slot_full());
    let xml = write_reply(Operation::Book, &reply).unwrap();
    assert!(xml.contains("<codice>SLOT_ESAURITO</codice>"));
    assert!(xml.contains("<esito>KO</esito>"));
    let doc = assert_valid(&xml);
    let back = read_reply(&doc, doc.document_element(), Operation::Book).unwrap();
    assert_eq!(back, reply);
    let rejection = back.answer.unwrap_err();
    assert_eq!(rejection.code(), &ErrorCode::SlotFull);
    assert_eq!(rejection.platform_code(), "SLOT_ESAURITO");
    assert_eq!(
        rejection.platform_message(),
        "Lo slot richiesto non ha più posti disponibili"
    );
    assert_eq!(rejection.errors[0].field.as_deref(), Some("idSlot"));
    assert!(!rejection.is_transient());
}

#[test]
fn every_stable_code_round_trips_and_an_unknown_one_is_kept() {
    for op in Operation::ALL {
        let reply = ko(every_code());
        let xml = write_reply(op, &reply).unwrap();
        let doc = assert_valid(&xml);
        let back = read_reply(&doc, doc.document_element(), op).unwrap();
        assert_eq!(back, reply);
    }
    let codes: Vec<String> = every_code().errors.iter().map(|e| e.code.to_string()).collect();
    assert!(codes.contains(&"PRENOTAZIONE_ATTIVA_ESISTENTE".to_owned()));
    assert_eq!(
        ErrorCode::from_wire("CODICE_FUTURO_99"),
        ErrorCode::Other("CODICE_FUTURO_99".into())
    );
    assert!(ErrorCode::ServiceUnavailable.is_transient());
    assert_eq!(ErrorCode::known().filter(ErrorCode::is_transient).count(), 1);
}

#[test]
fn an_answer_of_another_operation_is_not_written() {
    let err = write_reply(
        Operation::Confirm,
        &ok(Response::Book(completed(AppointmentState::Booked))),
    )
    .unwrap_err();
    assert_eq!(
        err,
        BookingError::OperationMismatch {
            operation: "ConfermaPrenotazione",
            response: "Prenota"
        }
    );
    let xml = write_reply(
        Operation::Book,
        &ok(Response::Book(completed(AppointmentState::Booked))),
    )
    .unwrap();
    let doc = parse_payload(&xml);
    let err = read_reply(&doc, doc.document_element(), Operation::Confirm).unwrap_err();
    assert!(matches!(err, BookingError::UnexpectedElement { .. }), "{err}");
}

#[test]
fn field_rules_name_the_json_field_and_never_the_value() {
    let header = request_header();
    let cases: Vec<(Command, &str)> = vec![
        (
            Command::Book({
                let mut c = book();
                c.citizen.codice_fiscale = "rssmra80a01f205x".into();
                c
            }),
            "citizen.codice_fiscale",
        ),
        (
            Command::Book({
                let mut c = book();
                c.citizen.email = "mario.rossi@example".into();
                c
            }),
            "citizen.email",
        ),
        (
            Command::Book({
                let mut c = book();
                c.citizen.surname = "Rossi\u{7}".into();
                c
            }),
            "citizen.surname",
        ),
        (
            Command::Book({
                let mut c = book();
                c.citizen.given_name = String::new();
                c
            }),
            "citizen.given_name",
        ),
        (
            Command::Book({
                let mut c = book();
                c.citizen.phone = Some("333-1234567".into());
                c
            }),
            "citizen.phone",
        ),
        (
            Command::Book({
                let mut c = book();
                c.slot_id = "x".repeat(41);
                c
            }),
            "slot_id",
        ),
        (
            Command::Book({
                let mut c = book();
                c.residence_comune = Some("F205".into());
                c
            }),
            "residence_comune",
        ),
        (
            Command::Confirm({
                let mut c = confirm();
                c.booking_code = "cie7k2m9q4".into();
                c
            }),
            "booking_code",
        ),
        (
            Command::Reschedule({
                let mut c = reschedule();
                c.new_slot_id = String::new();
                c
            }),
            "new_slot_id",
        ),
        (
            Command::Status(snodo_mappings::cie_booking::appointment::AppointmentStatus {
                schema: snodo_mappings::cie_booking::SchemaV1,
                by: StatusKey::CodiceFiscale("RSSMRA80A01F205".into()),
            }),
            "by.codice_fiscale",
        ),
    ];
    for (cmd, field) in cases {
        let err = write_command(&cmd, &header).unwrap_err();
        assert!(
            matches!(&err, BookingError::Field { field: f, .. } if f == field),
            "{field}: {err}"
        );
        let text = err.to_string();
        for secret in [
            "rssmra",
            "Rossi",
            "example",
            "333",
            "cie7k2m9q4",
            "RSSMRA80A01F205",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

#[test]
fn omocodia_and_provisional_codici_fiscali_are_accepted() {
    for cf in ["RSSMRA80A01F20RX", "RSSMRALPAMMFNQRX", "12345678903"] {
        let mut cmd = book();
        cmd.citizen.codice_fiscale = cf.into();
        round_trip(&Command::Book(cmd));
    }
}

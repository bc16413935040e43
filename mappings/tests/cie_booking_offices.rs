//! `ElencoSedi` and `CercaDisponibilita`: requests written from commands validate against
//! `cieBooking.xsd` and read back as the request the command asked for (the tenant filled in where
//! the command leaves the comune out); answers round-trip; the date range rules.

mod cie_booking_common;

use cie_booking_common::samples::*;
use cie_booking_common::{assert_valid, request_header};
use snodo_mappings::cie_booking::offices::{AvailabilityQuery, OfficesQuery, SearchAvailability};
use snodo_mappings::cie_booking::{
    BookingError, Command, Operation, Request, Response, read_reply, read_request, write_command, write_reply,
};

fn round_trip(cmd: Command) -> Request {
    let header = request_header();
    let xml = write_command(&cmd, &header).unwrap();
    let doc = assert_valid(&xml);
    let (back_header, request) = read_request(&doc, doc.document_element()).unwrap();
    assert_eq!(back_header, header);
    assert_eq!(request, cmd.to_request("015146").unwrap());
    assert_eq!(request.operation(), cmd.operation());
    request
}

#[test]
fn offices_list_defaults_to_the_tenant() {
    let request = round_trip(Command::ListOffices(list_offices()));
    assert_eq!(
        request,
        Request::ListOffices(OfficesQuery {
            comune: "015146".into()
        })
    );
}

#[test]
fn offices_list_of_another_comune() {
    let mut cmd = list_offices();
    cmd.comune = Some("058091".into());
    let request = round_trip(Command::ListOffices(cmd));
    assert!(matches!(request, Request::ListOffices(q) if q.comune == "058091"));
}

#[test]
fn availability_search_round_trips_with_and_without_office() {
    let request = round_trip(Command::SearchAvailability(search()));
    assert_eq!(
        request,
        Request::SearchAvailability(AvailabilityQuery {
            comune: "015146".into(),
            office_id: Some("MI-ANAGRAFE-01".into()),
            from: day(2025, 4, 1),
            to: day(2025, 4, 30),
            reason: snodo_mappings::cie_booking::Reason::RenewalOnExpiry,
        })
    );
    let any_office = SearchAvailability {
        office_id: None,
        comune: None,
        ..search()
    };
    let request = round_trip(Command::SearchAvailability(any_office));
    assert!(
        matches!(request, Request::SearchAvailability(q) if q.office_id.is_none() && q.comune == "015146")
    );
}

#[test]
fn every_reason_is_written_as_its_code_and_read_back() {
    for &reason in snodo_mappings::cie_booking::Reason::ALL {
        let request = round_trip(Command::SearchAvailability(SearchAvailability {
            reason,
            ..search()
        }));
        assert!(matches!(request, Request::SearchAvailability(q) if q.reason == reason));
    }
}

#[test]
fn the_search_range_must_be_in_order_and_at_most_92_days() {
    let header = request_header();
    let reversed = SearchAvailability {
        from: day(2025, 4, 30),
        to: day(2025, 4, 1),
        ..search()
    };
    let err = write_command(&Command::SearchAvailability(reversed), &header).unwrap_err();
    assert_eq!(
        err,
        BookingError::Field {
            field: "to".into(),
            reason: "must not be before `from`".into()
        }
    );
    let longest = SearchAvailability {
        from: day(2025, 1, 1),
        to: day(2025, 4, 3),
        ..search()
    };
    write_command(&Command::SearchAvailability(longest), &header).unwrap();
    let too_long = SearchAvailability {
        from: day(2025, 1, 1),
        to: day(2025, 4, 4),
        ..search()
    };
    let err = write_command(&Command::SearchAvailability(too_long), &header).unwrap_err();
    assert!(
        matches!(err, BookingError::Field { ref field, .. } if field == "to"),
        "{err}"
    );
    let same_day = SearchAvailability {
        from: day(2025, 4, 1),
        to: day(2025, 4, 1),
        ..search()
    };
    write_command(&Command::SearchAvailability(same_day), &header).unwrap();
}

#[test]
fn a_reversed_range_on_the_wire_is_refused_by_the_reader() {
    // The XSD cannot relate two fields: such a request is schema-valid, and the reader (the
    // simulator's) names the element so it can answer RICHIESTA_NON_VALIDA with `campo`.
    let xml = write_command(&Command::SearchAvailability(search()), &request_header())
        .unwrap()
        .replace("<dataA>2025-04-30</dataA>", "<dataA>2025-03-01</dataA>");
    let doc = assert_valid(&xml);
    let err = read_request(&doc, doc.document_element()).unwrap_err();
    assert_eq!(
        err,
        BookingError::Invalid {
            path: "CercaDisponibilitaRichiesta/dataA".into(),
            reason: "must not be before `dataDa`".into()
        }
    );
}

#[test]
fn a_bad_comune_or_office_names_the_json_field() {
    let header = request_header();
    let mut cmd = search();
    cmd.comune = Some("15146".into());
    let err = write_command(&Command::SearchAvailability(cmd), &header).unwrap_err();
    assert!(
        matches!(err, BookingError::Field { ref field, .. } if field == "comune"),
        "{err}"
    );
    let mut cmd = search();
    cmd.office_id = Some("MI ANAGRAFE".into());
    let err = write_command(&Command::SearchAvailability(cmd), &header).unwrap_err();
    assert!(
        matches!(err, BookingError::Field { ref field, .. } if field == "office_id"),
        "{err}"
    );
}

#[test]
fn answers_validate_and_read_back_equal() {
    for response in [
        Response::ListOffices(offices()),
        Response::SearchAvailability(availability()),
    ] {
        let op = response.operation();
        let reply = ok(response);
        let xml = write_reply(op, &reply).unwrap();
        let doc = assert_valid(&xml);
        assert_eq!(read_reply(&doc, doc.document_element(), op).unwrap(), reply);
    }
}

#[test]
fn the_completed_events_are_the_answers() {
    let (kind, body) = Response::SearchAvailability(availability())
        .completed_event()
        .unwrap();
    assert_eq!(kind, "cie_booking.availability.search.completed");
    assert_eq!(body["schema"], 1);
    assert_eq!(body["first_available"], "2025-04-07T09:00:00+02:00");
    assert_eq!(body["slots"][1]["starts_at"], "2025-04-07T07:15:00.500Z");
    assert_eq!(body["slots"][0]["free_places"], 3);
    let (kind, body) = Response::ListOffices(offices()).completed_event().unwrap();
    assert_eq!(kind, "cie_booking.offices.list.completed");
    assert_eq!(body["offices"][1]["open"], false);
}

#[test]
fn a_slot_without_free_places_is_not_written() {
    let mut found = availability();
    found.slots[1].free_places = 0;
    let err = write_reply(
        Operation::SearchAvailability,
        &ok(Response::SearchAvailability(found)),
    )
    .unwrap_err();
    assert_eq!(
        err,
        BookingError::Field {
            field: "slots[1].free_places".into(),
            reason: "must be at least 1".into()
        }
    );
}

#[test]
fn a_refusal_reads_back_with_its_stable_code() {
    for op in [Operation::ListOffices, Operation::SearchAvailability] {
        let reply = ko(every_code());
        let xml = write_reply(op, &reply).unwrap();
        let doc = assert_valid(&xml);
        let back = read_reply(&doc, doc.document_element(), op).unwrap();
        assert_eq!(back, reply);
        let rejection = back.answer.unwrap_err();
        assert_eq!(rejection.platform_code(), "SLOT_ESAURITO");
    }
}

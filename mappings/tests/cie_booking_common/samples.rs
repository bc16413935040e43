//! One value of every command, request and answer of the contract, with the written payloads of
//! all of them (what the xmllint test judges).

use chrono::NaiveDate;
use snodo_mappings::cie_booking::appointment::{
    AppointmentCompleted, AppointmentStatus, AppointmentsFound, BookAppointment, CancelAppointment,
    ConfirmAppointment, RescheduleAppointment, StatusKey,
};
use snodo_mappings::cie_booking::changes::{AppointmentChanged, ChangesPage, ChangesQuery};
use snodo_mappings::cie_booking::offices::{
    AvailabilityFound, ListOffices, OfficesListed, SearchAvailability,
};
use snodo_mappings::cie_booking::{
    Appointment, AppointmentState, CancelledBy, ChangeCause, Citizen, Command, ErrorCode, Office, Operation,
    PlatformError, Reason, Rejection, Reply, Request, Response, SchemaV1, Slot, write_command, write_reply,
    write_request,
};

use super::{at, request_header, response_header};

pub const CF: &str = "RSSMRA80A01F205X";

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub fn list_offices() -> ListOffices {
    ListOffices {
        schema: SchemaV1,
        comune: None,
    }
}

pub fn search() -> SearchAvailability {
    SearchAvailability {
        schema: SchemaV1,
        comune: Some("015146".into()),
        office_id: Some("MI-ANAGRAFE-01".into()),
        from: day(2025, 4, 1),
        to: day(2025, 4, 30),
        reason: Reason::RenewalOnExpiry,
    }
}

pub fn citizen() -> Citizen {
    Citizen {
        codice_fiscale: CF.into(),
        surname: "Rossi D'Angelo & <Figli>".into(),
        given_name: "Mário".into(),
        email: "mario.rossi@example.it".into(),
        phone: Some("+393331234567".into()),
    }
}

pub fn book() -> BookAppointment {
    BookAppointment {
        schema: SchemaV1,
        slot_id: "MI01-20250407-0900".into(),
        citizen: citizen(),
        reason: Reason::FirstDocument,
        residence_comune: None,
    }
}

pub fn confirm() -> ConfirmAppointment {
    ConfirmAppointment {
        schema: SchemaV1,
        booking_code: "CIE7K2M9Q4".into(),
        codice_fiscale: CF.into(),
    }
}

pub fn cancel() -> CancelAppointment {
    CancelAppointment {
        schema: SchemaV1,
        booking_code: "CIE7K2M9Q4".into(),
        codice_fiscale: CF.into(),
        cancelled_by: CancelledBy::Comune,
    }
}

pub fn reschedule() -> RescheduleAppointment {
    RescheduleAppointment {
        schema: SchemaV1,
        booking_code: "CIE7K2M9Q4".into(),
        codice_fiscale: CF.into(),
        new_slot_id: "MI01-20250409-1130".into(),
    }
}

pub fn status_by_code() -> AppointmentStatus {
    AppointmentStatus {
        schema: SchemaV1,
        by: StatusKey::BookingCode("CIE7K2M9Q4".into()),
    }
}

pub fn status_by_cf() -> AppointmentStatus {
    AppointmentStatus {
        schema: SchemaV1,
        by: StatusKey::CodiceFiscale(CF.into()),
    }
}

pub fn commands() -> Vec<Command> {
    vec![
        Command::ListOffices(list_offices()),
        Command::ListOffices(ListOffices {
            schema: SchemaV1,
            comune: Some("058091".into()),
        }),
        Command::SearchAvailability(search()),
        Command::SearchAvailability(SearchAvailability {
            comune: None,
            office_id: None,
            ..search()
        }),
        Command::Book(book()),
        Command::Book(BookAppointment {
            residence_comune: Some("058091".into()),
            citizen: Citizen {
                phone: None,
                codice_fiscale: "12345678903".into(),
                ..citizen()
            },
            ..book()
        }),
        Command::Confirm(confirm()),
        Command::Cancel(cancel()),
        Command::Reschedule(reschedule()),
        Command::Status(status_by_code()),
        Command::Status(status_by_cf()),
    ]
}

pub fn changes_query() -> ChangesQuery {
    ChangesQuery {
        cursor: Some("c-000042".into()),
        max: 100,
    }
}

pub fn offices() -> OfficesListed {
    OfficesListed {
        schema: SchemaV1,
        offices: vec![
            Office {
                office_id: "MI-ANAGRAFE-01".into(),
                name: "Anagrafe centrale".into(),
                address: "Via Larga 12, 20122 Milano".into(),
                open: true,
            },
            Office {
                office_id: "MI-MUNICIPIO-9".into(),
                name: "Municipio 9 — sede di Niguarda".into(),
                address: "Via Guerzoni 38, 20158 Milano".into(),
                open: false,
            },
        ],
    }
}

pub fn availability() -> AvailabilityFound {
    AvailabilityFound {
        schema: SchemaV1,
        first_available: Some(at("2025-04-07T09:00:00+02:00")),
        slots: vec![
            Slot {
                slot_id: "MI01-20250407-0900".into(),
                office_id: "MI-ANAGRAFE-01".into(),
                starts_at: at("2025-04-07T09:00:00+02:00"),
                duration_minutes: 15,
                free_places: 3,
            },
            Slot {
                slot_id: "MI01-20250407-0915".into(),
                office_id: "MI-ANAGRAFE-01".into(),
                starts_at: at("2025-04-07T07:15:00.5Z"),
                duration_minutes: 15,
                free_places: 1,
            },
        ],
    }
}

pub fn appointment(state: AppointmentState) -> Appointment {
    Appointment {
        booking_code: "CIE7K2M9Q4".into(),
        state,
        codice_fiscale: CF.into(),
        reason: Reason::FirstDocument,
        office_id: "MI-ANAGRAFE-01".into(),
        slot_id: "MI01-20250407-0900".into(),
        starts_at: at("2025-04-07T09:00:00+02:00"),
        duration_minutes: 15,
        residence_comune: "015146".into(),
        confirm_by: (state == AppointmentState::Booked).then(|| at("2025-04-04T23:59:59+02:00")),
        application_number: (state == AppointmentState::Fulfilled).then(|| "CA00012345AB".into()),
        replaces: None,
        updated_at: at("2025-03-14T10:15:30.900+01:00"),
    }
}

pub fn completed(state: AppointmentState) -> AppointmentCompleted {
    AppointmentCompleted {
        schema: SchemaV1,
        appointment: appointment(state),
    }
}

pub fn rescheduled() -> AppointmentCompleted {
    let mut a = appointment(AppointmentState::Booked);
    a.booking_code = "CIE9X3B1W7".into();
    a.slot_id = "MI01-20250409-1130".into();
    a.starts_at = at("2025-04-09T11:30:00+02:00");
    a.replaces = Some("CIE7K2M9Q4".into());
    AppointmentCompleted {
        schema: SchemaV1,
        appointment: a,
    }
}

pub fn found() -> AppointmentsFound {
    AppointmentsFound {
        schema: SchemaV1,
        appointments: AppointmentState::ALL.iter().map(|&s| appointment(s)).collect(),
    }
}

pub fn changed(cause: ChangeCause, state: AppointmentState, id: &str) -> AppointmentChanged {
    AppointmentChanged {
        schema: SchemaV1,
        change_id: id.into(),
        changed_at: at("2025-04-05T00:00:05+02:00"),
        cause,
        appointment: appointment(state),
    }
}

pub fn changes_page() -> ChangesPage {
    ChangesPage {
        changes: vec![
            changed(
                ChangeCause::NotConfirmed,
                AppointmentState::CancelledAutomatically,
                "v-1001",
            ),
            changed(
                ChangeCause::OfficeClosed,
                AppointmentState::CancelledByComune,
                "v-1002",
            ),
            changed(ChangeCause::ClearanceGranted, AppointmentState::Booked, "v-1003"),
            changed(
                ChangeCause::ApplicationTaken,
                AppointmentState::Fulfilled,
                "v-1004",
            ),
            changed(ChangeCause::NoShow, AppointmentState::NoShow, "v-1005"),
        ],
        next_cursor: "c-000047".into(),
        more: true,
    }
}

/// One successful answer of every operation.
pub fn responses() -> Vec<Response> {
    vec![
        Response::ListOffices(offices()),
        Response::ListOffices(OfficesListed {
            schema: SchemaV1,
            offices: vec![],
        }),
        Response::SearchAvailability(availability()),
        Response::SearchAvailability(AvailabilityFound {
            schema: SchemaV1,
            first_available: None,
            slots: vec![],
        }),
        Response::Book(completed(AppointmentState::Booked)),
        Response::Book(completed(AppointmentState::AwaitingClearance)),
        Response::Confirm(completed(AppointmentState::Confirmed)),
        Response::Cancel(completed(AppointmentState::CancelledByCitizen)),
        Response::Reschedule(rescheduled()),
        Response::Status(found()),
        Response::Status(AppointmentsFound {
            schema: SchemaV1,
            appointments: vec![],
        }),
        Response::Changes(changes_page()),
        Response::Changes(ChangesPage {
            changes: vec![],
            next_cursor: "c-000047".into(),
            more: false,
        }),
    ]
}

pub fn slot_full() -> Rejection {
    Rejection::new(
        PlatformError::new(
            ErrorCode::SlotFull,
            "Lo slot richiesto non ha più posti disponibili",
        )
        .on_field("idSlot"),
    )
}

/// A refusal with every known code and one unknown.
pub fn every_code() -> Rejection {
    let mut errors: Vec<PlatformError> = ErrorCode::known()
        .map(|c| PlatformError::new(c, "Errore di prova"))
        .collect();
    errors.push(
        PlatformError::new(ErrorCode::Other("CODICE_FUTURO_99".into()), "Nuovo")
            .on_field("richiedente/email"),
    );
    Rejection { errors }
}

pub fn ok(response: Response) -> Reply {
    Reply {
        header: response_header(),
        answer: Ok(response),
    }
}

pub fn ko(rejection: Rejection) -> Reply {
    Reply {
        header: response_header(),
        answer: Err(rejection),
    }
}

/// Every payload these samples write, named: every command's request, the feed's request, every
/// answer, and a refusal of every operation.
pub fn written_documents() -> Vec<(String, String)> {
    let header = request_header();
    let mut docs = Vec::new();
    for (i, cmd) in commands().iter().enumerate() {
        docs.push((format!("command-{i}"), write_command(cmd, &header).unwrap()));
    }
    docs.push((
        "changes-request".into(),
        write_request(&header, &Request::Changes(changes_query())).unwrap(),
    ));
    docs.push((
        "changes-request-from-start".into(),
        write_request(
            &header,
            &Request::Changes(ChangesQuery {
                cursor: None,
                max: 500,
            }),
        )
        .unwrap(),
    ));
    for (i, response) in responses().into_iter().enumerate() {
        let op = response.operation();
        docs.push((format!("reply-{i}"), write_reply(op, &ok(response)).unwrap()));
    }
    for op in Operation::ALL {
        docs.push((
            format!("ko-{}", op.wsdl_name()),
            write_reply(op, &ko(every_code())).unwrap(),
        ));
    }
    docs
}

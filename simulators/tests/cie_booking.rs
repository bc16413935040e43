//! The CIE booking simulator over real HTTP: every rule of the contract README, each test named after
//! it, and the concurrency guarantee — 200 simultaneous bookings of a 20-place slot book it exactly
//! 20 times.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use snodo_mappings::cie_booking::appointment::{AppointmentKey, BookingRequest, StatusKey};
use snodo_mappings::cie_booking::changes::ChangesQuery;
use snodo_mappings::cie_booking::offices::{AvailabilityQuery, OfficesQuery};
use snodo_mappings::cie_booking::{
    Appointment, AppointmentState, CancelledBy, ChangeCause, Citizen, ErrorCode, Operation, OperationId,
    Reason, Reply, Request, RequestHeader, Response, read_reply, write_request,
};
use snodo_mappings::soap::{EnvelopeBuilder, SOAP11_CONTENT_TYPE, read_envelope};
use snodo_simulators::cie_booking::{CieBookingSimulator, PATH, in_rome, population};
use snodo_simulators::framework::{
    BuildContext, Instance, RunningSimulator, SimClock, Transport, registry, serve,
};
use snodo_simulators::population::Population;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

struct Sim {
    running: RunningSimulator,
    clock: SimClock,
    http: reqwest::Client,
    _stop: tokio_util::sync::DropGuard,
}

async fn start() -> Sim {
    let clock = SimClock::new();
    let simulator = CieBookingSimulator::new(clock.clone()).expect("simulator");
    let instance = Arc::new(Instance::new(Arc::new(simulator), clock.clone()));
    let stop = CancellationToken::new();
    let running = serve(
        instance,
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Transport::Http,
        stop.clone(),
    )
    .await
    .expect("serve");
    Sim {
        running,
        clock,
        http: reqwest::Client::new(),
        _stop: stop.drop_guard(),
    }
}

impl Sim {
    async fn post(&self, body: String) -> (u16, String) {
        let response = self
            .http
            .post(format!("{}{PATH}", self.running.url()))
            .header("content-type", SOAP11_CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .expect("the simulator answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    async fn call_as(&self, id: &OperationId, request: &Request) -> Reply {
        let header = RequestHeader::snodo(id.clone(), "015146", Utc::now().fixed_offset());
        let payload = write_request(&header, request).expect("a valid request");
        let (status, body) = self.post(EnvelopeBuilder::new().body(&payload)).await;
        assert_eq!(status, 200, "{body}");
        let envelope = read_envelope(body.as_bytes(), &Default::default()).expect("SOAP");
        read_reply(envelope.document(), envelope.payload(), request.operation()).expect("a contract reply")
    }

    async fn call(&self, request: &Request) -> Reply {
        self.call_as(&new_id(), request).await
    }

    async fn book(
        &self,
        slot: &str,
        cf: &str,
        reason: Reason,
        residence: &str,
    ) -> Result<Appointment, ErrorCode> {
        match self.call(&book_request(slot, cf, reason, residence)).await.answer {
            Ok(Response::Book(done)) => Ok(done.appointment),
            Ok(other) => panic!("unexpected answer {other:?}"),
            Err(rejection) => Err(rejection.code().clone()),
        }
    }

    fn today(&self) -> NaiveDate {
        in_rome(self.clock.now()).date_naive()
    }
}

fn new_id() -> OperationId {
    OperationId::from_uuid(Uuid::new_v4()).unwrap()
}

fn book_request(slot: &str, cf: &str, reason: Reason, residence: &str) -> Request {
    Request::Book(BookingRequest {
        slot_id: slot.into(),
        citizen: Citizen {
            codice_fiscale: cf.into(),
            surname: "Rossi".into(),
            given_name: "Maria".into(),
            email: "maria.rossi@example.it".into(),
            phone: None,
        },
        reason,
        residence_comune: residence.into(),
    })
}

/// The `n`th weekday `day` at least `after` days from `from`.
fn next(from: NaiveDate, day: Weekday, after: i64) -> NaiveDate {
    (from + Duration::days(after))
        .iter_days()
        .find(|d| d.weekday() == day)
        .unwrap()
}

fn slot(office: &str, day: NaiveDate, hhmm: &str) -> String {
    format!("{office}-{}-{hhmm}", day.format("%Y%m%d"))
}

/// Residents of the shared population, with valid codici fiscali.
fn people(n: usize) -> Vec<String> {
    population()
        .iter()
        .take(n)
        .map(|p| p.codice_fiscale.as_str().to_owned())
        .collect()
}

fn key(a: &Appointment) -> AppointmentKey {
    AppointmentKey {
        booking_code: a.booking_code.clone(),
        codice_fiscale: a.codice_fiscale.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_double_booking_200_simultaneous_requests_for_20_places() {
    let sim = Arc::new(start().await);
    let open_day = slot("MI-OPENDAY", next(sim.today(), Weekday::Sat, 7), "0900");
    let tasks: Vec<_> = people(200)
        .into_iter()
        .map(|cf| {
            let (sim, open_day) = (sim.clone(), open_day.clone());
            tokio::spawn(async move { sim.book(&open_day, &cf, Reason::FirstDocument, "015146").await })
        })
        .collect();
    let mut booked = 0;
    let mut full = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(a) => {
                assert_eq!(a.state, AppointmentState::Booked);
                booked += 1;
            }
            Err(ErrorCode::SlotFull) => full += 1,
            Err(other) => panic!("unexpected refusal {other}"),
        }
    }
    assert_eq!((booked, full), (20, 180));
    let recorded = sim
        .http
        .get(format!(
            "{}/exchanges?operation=Prenota&limit=1000",
            sim.running.admin_url()
        ))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(recorded["exchanges"].as_array().unwrap().len(), 200);
}

#[tokio::test]
async fn a_repeated_operation_id_repeats_the_first_answer_without_booking_again() {
    let sim = start().await;
    let cf = &people(1)[0];
    let at = slot("MI-ANAGRAFE-01", next(sim.today(), Weekday::Wed, 7), "0900");
    let id = new_id();
    let request = book_request(&at, cf, Reason::Loss, "015146");
    let first = sim.call_as(&id, &request).await;
    let again = sim.call_as(&id, &request).await;
    assert_eq!(first, again);
    let code = match &first.answer {
        Ok(Response::Book(done)) => done.appointment.booking_code.clone(),
        other => panic!("{other:?}"),
    };
    let status = sim
        .call(&Request::Status(StatusKey::CodiceFiscale(cf.clone())))
        .await;
    match status.answer {
        Ok(Response::Status(found)) => {
            assert_eq!(found.appointments.len(), 1);
            assert_eq!(found.appointments[0].booking_code, code);
        }
        other => panic!("{other:?}"),
    }
    let other = book_request(&at, &people(2)[1], Reason::Loss, "015146");
    let reused = sim.call_as(&id, &other).await;
    assert_eq!(reused.answer.unwrap_err().code(), &ErrorCode::OperationIdReused);
}

#[tokio::test]
async fn one_active_booking_per_codice_fiscale() {
    let sim = start().await;
    let cf = &people(1)[0];
    let day = next(sim.today(), Weekday::Wed, 7);
    let first = sim
        .book(&slot("MI-ANAGRAFE-01", day, "0900"), cf, Reason::Theft, "015146")
        .await
        .unwrap();
    let second = sim
        .book(&slot("MI-ANAGRAFE-01", day, "0915"), cf, Reason::Theft, "015146")
        .await;
    assert_eq!(second, Err(ErrorCode::ActiveBookingExists));
    let cancel = Request::Cancel {
        key: key(&first),
        cancelled_by: CancelledBy::Citizen,
    };
    match sim.call(&cancel).await.answer {
        Ok(Response::Cancel(done)) => {
            assert_eq!(done.appointment.state, AppointmentState::CancelledByCitizen)
        }
        other => panic!("{other:?}"),
    }
    assert!(
        sim.book(&slot("MI-ANAGRAFE-01", day, "0915"), cf, Reason::Theft, "015146")
            .await
            .is_ok()
    );
}

/// A resident with a card, and its expiry date.
fn card_holder(population: &Population) -> (String, NaiveDate) {
    population
        .iter()
        .find_map(|p| {
            p.identity_card
                .map(|c| (p.codice_fiscale.as_str().to_owned(), c.expires_on))
        })
        .expect("someone has a card")
}

#[tokio::test]
async fn renewal_on_expiry_only_from_180_days_before_the_card_expires() {
    let sim = start().await;
    let (cf, expiry) = card_holder(&population());
    let noon = |d: NaiveDate| d.and_hms_opt(11, 0, 0).unwrap().and_utc();
    sim.clock.set(noon(expiry - Duration::days(181))).unwrap();
    let at = slot("MI-ANAGRAFE-01", next(sim.today(), Weekday::Wed, 7), "0900");
    assert_eq!(
        sim.book(&at, &cf, Reason::RenewalOnExpiry, "015146").await,
        Err(ErrorCode::RenewalTooEarly)
    );
    sim.clock.set(noon(expiry - Duration::days(179))).unwrap();
    let at = slot("MI-ANAGRAFE-01", next(sim.today(), Weekday::Wed, 7), "0900");
    assert!(
        sim.book(&at, &cf, Reason::RenewalOnExpiry, "015146")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_unconfirmed_booking_is_cancelled_automatically_and_reported_in_the_change_feed() {
    let sim = start().await;
    let cf = &people(1)[0];
    let at = slot("MI-MUNICIPIO-4", next(sim.today(), Weekday::Mon, 10), "0900");
    let booked = sim.book(&at, cf, Reason::FirstDocument, "015146").await.unwrap();
    let deadline = booked.confirm_by.expect("booked appointments have a deadline");
    let page = |cursor: Option<String>| Request::Changes(ChangesQuery { cursor, max: 10 });
    let Ok(Response::Changes(empty)) = sim.call(&page(None)).await.answer else {
        panic!("feed");
    };
    assert!(empty.changes.is_empty());
    sim.clock
        .set(deadline.with_timezone(&Utc) + Duration::seconds(1))
        .unwrap();
    let Ok(Response::Changes(changed)) = sim.call(&page(Some(empty.next_cursor.clone()))).await.answer else {
        panic!("feed");
    };
    assert_eq!(changed.changes.len(), 1);
    let change = &changed.changes[0];
    assert_eq!(change.cause, ChangeCause::NotConfirmed);
    assert_eq!(change.appointment.booking_code, booked.booking_code);
    assert_eq!(change.appointment.state, AppointmentState::CancelledAutomatically);
    assert_eq!(change.changed_at, deadline);
    // Read again from the same cursor: the same change with the same id.
    let Ok(Response::Changes(again)) = sim.call(&page(Some(empty.next_cursor))).await.answer else {
        panic!("feed");
    };
    assert_eq!(again.changes[0].change_id, change.change_id);
    // After it: nothing, and the cursor stays.
    let Ok(Response::Changes(after)) = sim.call(&page(Some(changed.next_cursor.clone()))).await.answer else {
        panic!("feed");
    };
    assert!(after.changes.is_empty() && !after.more);
    assert_eq!(after.next_cursor, changed.next_cursor);
    let late = sim.call(&Request::Confirm(key(&booked))).await;
    assert_eq!(late.answer.unwrap_err().code(), &ErrorCode::DeadlinePassed);
    // The place is free again: Municipio 4 has one counter.
    assert!(
        sim.book(&at, &people(2)[1], Reason::FirstDocument, "015146")
            .await
            .is_ok()
    );
    let bad = sim.call(&page(Some("c999".into()))).await;
    assert_eq!(bad.answer.unwrap_err().code(), &ErrorCode::InvalidCursor);
}

#[tokio::test]
async fn rescheduling_is_atomic_a_full_slot_leaves_the_booking_as_it_was() {
    let sim = start().await;
    let who = people(2);
    let day = next(sim.today(), Weekday::Tue, 7);
    let mine = sim
        .book(
            &slot("MI-MUNICIPIO-4", day, "0900"),
            &who[0],
            Reason::Loss,
            "015146",
        )
        .await
        .unwrap();
    let full = slot("MI-MUNICIPIO-4", day, "0920");
    sim.book(&full, &who[1], Reason::Loss, "015146").await.unwrap();
    let move_to = |to: &str| Request::Reschedule {
        key: key(&mine),
        new_slot_id: to.into(),
    };
    let refused = sim.call(&move_to(&full)).await;
    assert_eq!(refused.answer.unwrap_err().code(), &ErrorCode::SlotFull);
    let Ok(Response::Status(still)) = sim
        .call(&Request::Status(StatusKey::BookingCode(
            mine.booking_code.clone(),
        )))
        .await
        .answer
    else {
        panic!("status");
    };
    assert_eq!(still.appointments[0].state, AppointmentState::Booked);
    let free = slot("MI-MUNICIPIO-4", day, "0940");
    let Ok(Response::Reschedule(moved)) = sim.call(&move_to(&free)).await.answer else {
        panic!("reschedule");
    };
    assert_eq!(
        moved.appointment.replaces.as_deref(),
        Some(mine.booking_code.as_str())
    );
    assert_eq!(moved.appointment.slot_id, free);
    assert_ne!(moved.appointment.booking_code, mine.booking_code);
    let Ok(Response::Status(old)) = sim
        .call(&Request::Status(StatusKey::BookingCode(
            mine.booking_code.clone(),
        )))
        .await
        .answer
    else {
        panic!("status");
    };
    assert_eq!(old.appointments[0].state, AppointmentState::CancelledByCitizen);
    // The old place was given back.
    assert!(
        sim.book(
            &slot("MI-MUNICIPIO-4", day, "0900"),
            &people(3)[2],
            Reason::Loss,
            "015146"
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn a_non_resident_waits_for_clearance_before_confirming() {
    let sim = start().await;
    let cf = &people(1)[0];
    let at = slot("MI-ANAGRAFE-01", next(sim.today(), Weekday::Fri, 14), "1000");
    let booked = sim.book(&at, cf, Reason::Deterioration, "058091").await.unwrap();
    assert_eq!(booked.state, AppointmentState::AwaitingClearance);
    assert_eq!(booked.confirm_by, None);
    let early = sim.call(&Request::Confirm(key(&booked))).await;
    assert_eq!(early.answer.unwrap_err().code(), &ErrorCode::AwaitingClearance);
    sim.clock.advance(Duration::hours(49)).unwrap();
    let Ok(Response::Changes(page)) = sim
        .call(&Request::Changes(ChangesQuery { cursor: None, max: 5 }))
        .await
        .answer
    else {
        panic!("feed");
    };
    assert_eq!(page.changes[0].cause, ChangeCause::ClearanceGranted);
    assert_eq!(page.changes[0].appointment.state, AppointmentState::Booked);
    let Ok(Response::Confirm(done)) = sim.call(&Request::Confirm(key(&booked))).await.answer else {
        panic!("confirm");
    };
    assert_eq!(done.appointment.state, AppointmentState::Confirmed);
}

#[tokio::test]
async fn offices_and_availability_reflect_taken_places() {
    let sim = start().await;
    let Ok(Response::ListOffices(listed)) = sim
        .call(&Request::ListOffices(OfficesQuery {
            comune: "015146".into(),
        }))
        .await
        .answer
    else {
        panic!("offices");
    };
    assert_eq!(listed.offices.len(), 4);
    assert!(listed.offices.iter().any(|o| !o.open));
    let day = next(sim.today(), Weekday::Wed, 7);
    let search = Request::SearchAvailability(AvailabilityQuery {
        comune: "015146".into(),
        office_id: Some("MI-ANAGRAFE-01".into()),
        from: day,
        to: day,
        reason: Reason::FirstDocument,
    });
    let Ok(Response::SearchAvailability(before)) = sim.call(&search).await.answer else {
        panic!("search");
    };
    assert_eq!(before.slots.len(), 16);
    assert!(before.first_available.unwrap() <= before.slots[0].starts_at);
    let first = before.slots[0].clone();
    assert_eq!(first.free_places, 3);
    sim.book(&first.slot_id, &people(1)[0], Reason::Theft, "015146")
        .await
        .unwrap();
    let Ok(Response::SearchAvailability(after)) = sim.call(&search).await.answer else {
        panic!("search");
    };
    assert_eq!(after.slots[0].free_places, 2);
    let elsewhere = sim
        .call(&Request::ListOffices(OfficesQuery {
            comune: "001272".into(),
        }))
        .await;
    assert_eq!(elsewhere.answer.unwrap_err().code(), &ErrorCode::ComuneNotEnabled);
    let closed = slot("MI-MUNICIPIO-9", day, "0900");
    assert_eq!(
        sim.book(&closed, &people(2)[1], Reason::Theft, "015146").await,
        Err(ErrorCode::OfficeClosed)
    );
    let past = slot("MI-ANAGRAFE-01", sim.today() - Duration::days(7), "0900");
    assert_eq!(
        sim.book(&past, &people(2)[1], Reason::Theft, "015146").await,
        Err(ErrorCode::SlotNotFound)
    );
}

#[tokio::test]
async fn requests_are_judged_by_the_schema_and_the_check_character() {
    let sim = start().await;
    let (status, body) = sim.post("not xml".into()).await;
    assert_eq!(status, 500);
    assert!(body.contains("faultcode"), "{body}");
    // A wrong check character: the shape passes the XSD, the service refuses the code.
    let mut cf = people(1)[0].clone();
    let last = if cf.ends_with('A') { "B" } else { "A" };
    cf.replace_range(15..16, last);
    let at = slot("MI-ANAGRAFE-01", next(sim.today(), Weekday::Wed, 7), "0900");
    let reply = sim.call(&book_request(&at, &cf, Reason::Theft, "015146")).await;
    let rejection = reply.answer.unwrap_err();
    assert_eq!(rejection.code(), &ErrorCode::InvalidRequest);
    assert_eq!(
        rejection.errors[0].field.as_deref(),
        Some("richiedente/codiceFiscale")
    );
    // Schema-invalid (an element the XSD does not have): refused with the request's id echoed.
    let id = new_id();
    let header = RequestHeader::snodo(id.clone(), "015146", Utc::now().fixed_offset());
    let payload = write_request(
        &header,
        &Request::ListOffices(OfficesQuery {
            comune: "015146".into(),
        }),
    )
    .unwrap()
    .replace("</codIstatComune>", "</codIstatComune><extra>1</extra>");
    let (status, body) = sim.post(EnvelopeBuilder::new().body(&payload)).await;
    assert_eq!(status, 200);
    let envelope = read_envelope(body.as_bytes(), &Default::default()).unwrap();
    let reply = read_reply(envelope.document(), envelope.payload(), Operation::ListOffices).unwrap();
    assert_eq!(reply.header.operation_id, id);
    assert_eq!(reply.answer.unwrap_err().code(), &ErrorCode::InvalidRequest);
}

#[test]
fn the_simulator_is_registered_for_snodo_simulate() {
    let registration = registry::find(registry::REGISTERED, "cie_booking").expect("registered");
    let simulator = (registration.build)(&BuildContext::standalone()).expect("built");
    assert_eq!(simulator.name(), "cie_booking");
    assert_eq!(simulator.default_port(), 9444);
}

//! The command generators of a no-loss run, one per connector. A new connector joins the fault test by
//! implementing [`Workload`] and adding itself to [`all`]: the harness publishes what it generates,
//! faults its simulator, and holds every command to the same proof (one terminal outcome, a dead
//! letter with its reason for every failure, one idempotency key across attempts).

use chrono::{Datelike, Duration as Days, NaiveDate, Utc, Weekday};
use serde_json::{Value, json};
use snodo_queue::envelope::{Envelope, HEADER_TENANT};
use snodo_queue::message::{HeaderValue, Message};
use uuid::Uuid;

pub const TENANT: &str = "015146";

/// What the proof expects of one published message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Exactly one terminal event, `completed` or `failed` (a failure also dead-lettered with its code).
    Outcome,
    /// A `failed` event with `invalid_message`, and the original dead-lettered with that reason.
    InvalidMessage,
    /// No event can name it (it has no `message_id`): one dead letter with `invalid_message`.
    InvalidWithoutId,
    /// A business refusal the platform answers whatever the faults: exactly one `failed` event with
    /// `rejected` and this platform code, dead-lettered, never retried into another outcome.
    Rejected { platform_code: &'static str },
}

/// One message to publish and what must become of it.
pub struct Planned {
    pub message: Message,
    pub expect: Expect,
}

impl Planned {
    /// A command the platform must refuse with `platform_code`.
    pub fn refused(kind: &str, body: Value, platform_code: &'static str) -> Planned {
        Planned {
            expect: Expect::Rejected { platform_code },
            ..Planned::command(kind, body)
        }
    }

    pub fn command(kind: &str, body: Value) -> Planned {
        let envelope = Envelope::command(kind.parse().expect("a valid command type")).with_tenant(TENANT);
        Planned {
            message: envelope.to_message(serde_json::to_vec(&body).expect("JSON serializes")),
            expect: Expect::Outcome,
        }
    }

    pub fn message_id(&self) -> Option<Uuid> {
        self.message
            .properties
            .message_id
            .as_deref()
            .and_then(|id| Uuid::parse_str(id).ok())
    }

    pub fn kind(&self) -> String {
        self.message.properties.kind.clone().unwrap_or_default()
    }
}

/// A fault the harness may inject into a workload's simulator for a window of time.
#[derive(Debug, Clone)]
pub struct FaultKind {
    pub label: &'static str,
    pub fault: Value,
    /// `Some(n)`: the next n calls only (platform refusals are permanent, so kept few).
    pub times: Option<u32>,
}

/// One connector's share of the command stream.
pub trait Workload: Send + Sync {
    /// The connector (command family) it exercises, or a named share of one: the row of the printed
    /// figures, and what the scale-out test picks workloads by.
    fn connector(&self) -> &'static str;
    /// Relative weight in the mix.
    fn weight(&self) -> u32;
    /// The `n`-th command of this workload (each workload counts its own).
    fn command(&self, n: u64) -> Planned;
    /// The `snodo simulate` system its commands reach, if any.
    fn simulator(&self) -> Option<&'static str> {
        None
    }
    /// The platform refusal its simulator can be told to answer.
    fn platform_error(&self) -> Option<FaultKind> {
        None
    }
    /// Commands that must have completed before the run starts, with no fault active: the platform
    /// state its refusals rely on (a slot already taken).
    fn setup(&self) -> Vec<Planned> {
        Vec::new()
    }
}

/// Faults every simulator takes (DESIGN §8): slow, 5xx, dropped connections.
pub fn transport_faults() -> Vec<FaultKind> {
    vec![
        FaultKind {
            label: "slow (1.5 s)",
            fault: json!({"kind": "latency", "ms": 1500}),
            times: None,
        },
        FaultKind {
            label: "HTTP 503",
            fault: json!({"kind": "http_status", "status": 503}),
            times: None,
        },
        FaultKind {
            label: "dropped connection",
            fault: json!({"kind": "drop_connection"}),
            times: None,
        },
    ]
}

/// Every workload, in the order the figures print.
pub fn all() -> Vec<Box<dyn Workload>> {
    vec![
        Box::new(Ping),
        Box::new(Anpr::new()),
        Box::new(CieBooking::new()),
        Box::new(PagopaPositions),
        Box::new(IdentityTickets),
        Box::new(Hostile),
        Box::new(CieBookingRefusals::new()),
        Box::new(PagopaRefusals),
    ]
}

/// `snodo.ping` on the built-in core connector: the cheapest round trip, most of the volume.
struct Ping;

impl Workload for Ping {
    fn connector(&self) -> &'static str {
        "core"
    }
    fn weight(&self) -> u32 {
        30
    }
    fn command(&self, n: u64) -> Planned {
        Planned::command("snodo.ping", json!({"n": n}))
    }
}

/// Signed ANPR 3002 lookups of living residents of the simulator's population.
struct Anpr {
    residents: Vec<String>,
}

impl Anpr {
    fn new() -> Anpr {
        let residents = snodo_simulators::anpr::population()
            .iter()
            .filter(|p| p.is_resident() && p.death_date.is_none())
            .take(2000)
            .map(|p| p.codice_fiscale.as_str().to_owned())
            .collect();
        Anpr { residents }
    }
}

impl Workload for Anpr {
    fn connector(&self) -> &'static str {
        "anpr"
    }
    fn weight(&self) -> u32 {
        8
    }
    fn command(&self, n: u64) -> Planned {
        let cf = &self.residents[n as usize % self.residents.len()];
        Planned::command(
            "anpr.resident.lookup",
            json!({"schema": 1, "by": {"codice_fiscale": cf}, "sections": ["personal_data"]}),
        )
    }
    fn simulator(&self) -> Option<&'static str> {
        Some("anpr")
    }
    fn platform_error(&self) -> Option<FaultKind> {
        Some(FaultKind {
            label: "ANPR EN122",
            fault: json!({"kind": "platform_error", "code": "EN122", "message": "Nessun soggetto trovato"}),
            times: Some(5),
        })
    }
}

/// How many citizens of the booking simulator's population [`CieBooking`] books for.
const CIE_BOOKING_CITIZENS: usize = 4000;

/// CIE booking: availability searches, bookings of distinct citizens into free places, status reads.
struct CieBooking {
    offices: Vec<String>,
    places: Vec<String>,
    citizens: Vec<(String, &'static str, &'static str)>,
    first_monday: NaiveDate,
}

impl CieBooking {
    fn new() -> CieBooking {
        let first_monday = first_monday_after_a_week();
        let open: Vec<_> = snodo_simulators::cie_booking::seeded_offices()
            .into_iter()
            .filter(|o| o.open)
            .collect();
        let mut places = Vec::new();
        for day in first_monday.iter_days().take(BOOKED_WEEKS as usize * 7) {
            for office in &open {
                for start in office.slot_starts(day) {
                    let slot = snodo_simulators::cie_booking::SlotRef {
                        office_id: office.office_id.clone(),
                        local_start: start,
                    }
                    .id();
                    places.extend(std::iter::repeat_n(slot, office.counters as usize));
                }
            }
        }
        let citizens = snodo_simulators::cie_booking::population()
            .iter()
            .take(CIE_BOOKING_CITIZENS)
            .map(|p| (p.codice_fiscale.as_str().to_owned(), p.surname, p.given_name))
            .collect();
        CieBooking {
            offices: open.into_iter().map(|o| o.office_id).collect(),
            places,
            citizens,
            first_monday,
        }
    }
}

impl Workload for CieBooking {
    fn connector(&self) -> &'static str {
        "cie_booking"
    }
    fn weight(&self) -> u32 {
        25
    }
    fn command(&self, n: u64) -> Planned {
        let i = n as usize;
        match n % 3 {
            0 => {
                let office = &self.offices[i % self.offices.len()];
                let from = self.first_monday + Days::weeks((i / 3) as i64 % BOOKED_WEEKS);
                Planned::command(
                    "cie_booking.availability.search",
                    json!({"schema": 1, "office_id": office, "from": from, "to": from + Days::days(6),
                           "reason": "first_document"}),
                )
            }
            1 => {
                // Each booking a citizen of its own into a place of its own: it must be accepted,
                // unless a fault window refused it — either way, one outcome.
                let k = i / 3;
                let (cf, surname, given_name) = &self.citizens[k % self.citizens.len()];
                Planned::command(
                    "cie_booking.appointment.book",
                    json!({"schema": 1, "slot_id": self.places[k % self.places.len()], "reason": "first_document",
                           "citizen": {"codice_fiscale": cf, "surname": surname, "given_name": given_name,
                                       "email": "cittadino@example.it"}}),
                )
            }
            _ => {
                let (cf, _, _) = &self.citizens[(i / 3) % self.citizens.len()];
                Planned::command(
                    "cie_booking.appointment.status",
                    json!({"schema": 1, "by": {"codice_fiscale": cf}}),
                )
            }
        }
    }
    fn simulator(&self) -> Option<&'static str> {
        Some("cie_booking")
    }
}

/// The first Monday at least a week away (Rome's date): the bookings' calendar starts there, well
/// clear of the booking deadlines.
fn first_monday_after_a_week() -> NaiveDate {
    let today = snodo_simulators::cie_booking::in_rome(Utc::now()).date_naive();
    (today + Days::days(7))
        .iter_days()
        .find(|d| d.weekday() == Weekday::Mon)
        .expect("a week has a Monday")
}

/// How many weeks from the first Monday [`CieBooking`] books into; the refusals' slots lie beyond.
const BOOKED_WEEKS: i64 = 8;

/// CIE booking refusals the Ministry's service answers whatever the faults: bookings into slots the
/// setup filled (`SLOT_ESAURITO`), and cancellations of bookings the citizen does not hold
/// (`PRENOTAZIONE_NON_TROVATA`). Its citizens are apart from [`CieBooking`]'s, and none of them
/// ever holds a booking but the setup's, so no other rule (one active booking each) can answer first.
struct CieBookingRefusals {
    /// Slots of a one-counter office, past the weeks [`CieBooking`] books into.
    full_slots: Vec<String>,
    /// The setup's citizens (one per full slot), then those whose bookings are refused.
    citizens: Vec<(String, &'static str, &'static str)>,
}

impl CieBookingRefusals {
    fn new() -> CieBookingRefusals {
        let office = snodo_simulators::cie_booking::seeded_offices()
            .into_iter()
            .filter(|o| o.open && o.counters == 1)
            .min_by(|a, b| a.office_id.cmp(&b.office_id))
            .expect("a seeded office with one counter");
        let day = (first_monday_after_a_week() + Days::weeks(BOOKED_WEEKS + 2))
            .iter_days()
            .find(|d| office.slot_starts(*d).next().is_some())
            .expect("the office opens within a week");
        let full_slots: Vec<String> = office
            .slot_starts(day)
            .take(4)
            .map(|start| {
                snodo_simulators::cie_booking::SlotRef {
                    office_id: office.office_id.clone(),
                    local_start: start,
                }
                .id()
            })
            .collect();
        let citizens = snodo_simulators::cie_booking::population()
            .iter()
            .skip(CIE_BOOKING_CITIZENS)
            .take(2000)
            .map(|p| (p.codice_fiscale.as_str().to_owned(), p.surname, p.given_name))
            .collect();
        CieBookingRefusals { full_slots, citizens }
    }

    /// A citizen who never holds a booking: past the setup's.
    fn refused_citizen(&self, n: u64) -> &(String, &'static str, &'static str) {
        let first = self.full_slots.len();
        &self.citizens[first + n as usize % (self.citizens.len() - first)]
    }
}

impl Workload for CieBookingRefusals {
    fn connector(&self) -> &'static str {
        // Its own row: these need the setup, which only the fault test runs.
        "cie_refusal"
    }
    fn weight(&self) -> u32 {
        2
    }
    fn setup(&self) -> Vec<Planned> {
        self.full_slots
            .iter()
            .zip(&self.citizens)
            .map(|(slot, (cf, surname, given_name))| {
                Planned::command(
                    "cie_booking.appointment.book",
                    json!({"schema": 1, "slot_id": slot, "reason": "first_document",
                           "citizen": {"codice_fiscale": cf, "surname": surname, "given_name": given_name,
                                       "email": "cittadino@example.it"}}),
                )
            })
            .collect()
    }
    fn command(&self, n: u64) -> Planned {
        let (cf, surname, given_name) = self.refused_citizen(n);
        if n.is_multiple_of(2) {
            let slot = &self.full_slots[(n / 2) as usize % self.full_slots.len()];
            Planned::refused(
                "cie_booking.appointment.book",
                json!({"schema": 1, "slot_id": slot, "reason": "first_document",
                       "citizen": {"codice_fiscale": cf, "surname": surname, "given_name": given_name,
                                   "email": "cittadino@example.it"}}),
                "SLOT_ESAURITO",
            )
        } else {
            Planned::refused(
                "cie_booking.appointment.cancel",
                json!({"schema": 1, "booking_code": format!("CIE{:08}", n), "codice_fiscale": cf,
                       "cancelled_by": "citizen"}),
                "PRENOTAZIONE_NON_TROVATA",
            )
        }
    }
    fn simulator(&self) -> Option<&'static str> {
        Some("cie_booking")
    }
}

/// pagoPA: positions loaded into ACA at the node (`paCreatePosition`), each a new IUV.
struct PagopaPositions;

impl Workload for PagopaPositions {
    fn connector(&self) -> &'static str {
        "pagopa"
    }
    fn weight(&self) -> u32 {
        15
    }
    fn command(&self, n: u64) -> Planned {
        // IUVs of 17 digits, apart from those any other test loads (they start 01 there).
        let iuv = format!("07{:015}", 900_000_000 + n);
        Planned::command(
            "pagopa.position.publish",
            json!({
                "fiscal_code": "01199250158",
                "debtor_type": "F",
                "debtor_fiscal_code": "RSSMRA80A01F205X",
                "debtor_full_name": "Mario Rossi",
                "iuv": iuv,
                "amount_cents": 1000 + n % 9000,
                "description": "TARI 2025",
                "expiration": "2030-12-31T23:59:59Z",
                "iban": "IT60X0542811101000000123456",
            }),
        )
    }
    fn simulator(&self) -> Option<&'static str> {
        Some("pagopa")
    }
}

/// pagoPA refusals: positions whose IUV is not 17 digits, sent without a notice number. The contract
/// allows such IUVs (the notice number then says which), but ACA cannot derive a notice number from
/// them and answers HTTP 400, a refusal no retry changes.
struct PagopaRefusals;

impl Workload for PagopaRefusals {
    fn connector(&self) -> &'static str {
        "pagopa_refusal"
    }
    fn weight(&self) -> u32 {
        2
    }
    fn command(&self, n: u64) -> Planned {
        Planned::refused(
            "pagopa.position.publish",
            json!({
                "fiscal_code": "01199250158",
                "debtor_type": "F",
                "debtor_fiscal_code": "RSSMRA80A01F205X",
                "debtor_full_name": "Mario Rossi",
                "iuv": format!("08{:013}", n),
                "amount_cents": 2500,
                "description": "TARI 2025",
                "expiration": "2030-12-31T23:59:59Z",
                "iban": "IT60X0542811101000000123456",
            }),
            "HTTP 400",
        )
    }
    fn simulator(&self) -> Option<&'static str> {
        Some("pagopa")
    }
}

/// Identity: a backend redeeming tickets nobody issued — each must end `rejected`, parked with its
/// reason. (Logins are inbound, not commands: `super::logins` walks them beside the command stream.)
struct IdentityTickets;

impl Workload for IdentityTickets {
    fn connector(&self) -> &'static str {
        "identity"
    }
    fn weight(&self) -> u32 {
        5
    }
    fn command(&self, _n: u64) -> Planned {
        Planned::command(
            "identity.ticket.redeem",
            json!({"ticket": Uuid::new_v4().simple().to_string()}),
        )
    }
}

/// Malformed and hostile messages in the command stream: each must be parked as `invalid_message`
/// and never stop a consumer.
struct Hostile;

impl Workload for Hostile {
    fn connector(&self) -> &'static str {
        "hostile"
    }
    fn weight(&self) -> u32 {
        3
    }
    fn command(&self, n: u64) -> Planned {
        let lookup = |body: Vec<u8>| {
            let envelope = Envelope::command("anpr.resident.lookup".parse().expect("a command type"))
                .with_tenant(TENANT);
            envelope.to_message(body)
        };
        let (message, expect) = match n % 7 {
            // No message_id at all.
            0 => {
                let mut m = Planned::command("snodo.ping", json!({})).message;
                m.properties.message_id = None;
                (m, Expect::InvalidWithoutId)
            }
            // Not JSON.
            1 => (lookup(b"\x00\xff<not json".to_vec()), Expect::InvalidMessage),
            // An XML entity bomb declared as XML.
            2 => {
                let mut m = lookup(
                    br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "bbbbbbbbbb"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><a>&c;</a>"#
                        .to_vec(),
                );
                m.properties.content_type = Some("application/xml".into());
                (m, Expect::InvalidMessage)
            }
            // JSON nested far deeper than any parser should follow.
            3 => (
                lookup(format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)).into_bytes()),
                Expect::InvalidMessage,
            ),
            // A field the contract does not have.
            4 => (
                lookup(
                    serde_json::to_vec(&json!({"schema": 1, "by": {"codice_fiscale": "RSSMRA80A01F205X"},
                                               "sections": ["personal_data"], "sql": "'; DROP TABLE x;--"}))
                    .expect("JSON"),
                ),
                Expect::InvalidMessage,
            ),
            // A tenant Snodo does not serve.
            5 => {
                let mut m = Planned::command("snodo.ping", json!({})).message;
                m.headers
                    .insert(HEADER_TENANT.into(), HeaderValue::from("999999"));
                (m, Expect::InvalidMessage)
            }
            // A codice fiscale carrying markup instead of a code.
            _ => (
                lookup(
                    serde_json::to_vec(
                        &json!({"schema": 1, "by": {"codice_fiscale": "<script>alert(1)</script>"},
                                               "sections": ["personal_data"]}),
                    )
                    .expect("JSON"),
                ),
                Expect::InvalidMessage,
            ),
        };
        Planned { message, expect }
    }
}

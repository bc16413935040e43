//! The simulator of the Ministry's CIE appointment booking system, speaking Snodo's own contract
//! (`mappings/contracts/cie-booking/`: the Ministry publishes no machine interface, notes §4.1) at
//! `POST /cie-booking/v1`, on the shared framework (admin API, faults, recorder, clock).
//!
//! - `calendar`: the offices of Milano with weekly hours, slot length and counters; the slots they
//!   make; Italian local time.
//! - `engine`: the state behind one lock (so a slot is never booked past its places, whatever the
//!   concurrency), idempotency by `idOperazione`, what falls due on the simulator clock (automatic
//!   cancellation, clearance, the appointment's outcome) and the change feed.
//! - `rules`: the contract's rules for each operation.
//! - `ministry` and `admin`: what the Ministry's side does on its own (office closures, operator
//!   cancellations, clearance decisions), triggered under `/admin/cie_booking/`.
//!
//! Every request is screened, validated against `cieBooking.xsd` (as the real service would judge
//! it) and read with the contract's mapping; a message that is not SOAP or names no operation is a
//! Client Fault, a schema-invalid request whose header is readable is `RICHIESTA_NON_VALIDA`.
//! Card expiry dates (renewal from 180 days before) come from the shared synthetic population.

mod admin;
mod calendar;
mod engine;
mod ministry;
mod rules;

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use snodo_mappings::cie_booking::{
    ErrorCode, Operation, OperationId, PlatformError as BookingPlatformError, Rejection, Reply,
    RequestHeader, ResponseHeader, read_request, write_reply,
};
use snodo_mappings::soap::{
    EnvelopeBuilder, Fault as SoapFault, FaultCode, SOAP11_CONTENT_TYPE, read_envelope,
};
use snodo_security::schema::Schema;
use snodo_security::xml::{Document, Limits, NodeId};

pub use admin::ADMIN_PREFIX;
pub use calendar::{OfficeSpec, SEEDED_COMUNE, SlotRef, in_rome, rome, seeded_offices};
pub use engine::{CLEARANCE_DELAY, Engine, OPERATION_RETENTION};
pub use ministry::{Closure, MinistryChange, MinistryError};
pub use rules::{RENEWAL_WINDOW_DAYS, confirm_deadline};

use crate::framework::{
    BuildContext, BuildError, PlatformError, Registration, RequestView, SimClock, Simulator,
};
use crate::population::{Population, PopulationConfig};

/// The system name (`snodo simulate cie_booking`).
pub const NAME: &str = "cie_booking";
/// DESIGN §6.
pub const DEFAULT_PORT: u16 = 9444;
/// The service path.
pub const PATH: &str = "/cie-booking/v1";

/// The line in [`crate::framework::registry::REGISTERED`].
pub const REGISTRATION: Registration = Registration {
    name: NAME,
    summary: "CIE appointment booking (Snodo's contract, /cie-booking/v1)",
    build: CieBookingSimulator::build,
};

/// The shared population the simulator reads card expiry dates from: the development city with
/// this seed and size (the other simulators use the same, so they agree about a person).
pub const POPULATION_SEED: u64 = crate::population::DEVELOPMENT_SEED;
pub const POPULATION_RESIDENTS: u32 = crate::population::DEVELOPMENT_RESIDENTS;

/// The development population, built once per process.
pub fn population() -> Arc<Population> {
    static POPULATION: OnceLock<Arc<Population>> = OnceLock::new();
    POPULATION
        .get_or_init(|| {
            Arc::new(
                Population::build(PopulationConfig::development(
                    POPULATION_SEED,
                    POPULATION_RESIDENTS,
                ))
                .expect("the development population builds"),
            )
        })
        .clone()
}

/// The contract's schema, embedded so that `snodo simulate` needs no source tree.
const XSD: &str = include_str!("../../../mappings/contracts/cie-booking/cieBooking.xsd");

#[derive(Debug, thiserror::Error)]
pub enum CieBookingError {
    #[error("cannot write the booking schema to {path}: {source}")]
    SchemaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the booking schema does not compile: {0}")]
    Schema(#[from] snodo_security::schema::SchemaError),
}

/// The compiled schema: libxml2 compiles from a file, so the embedded text is written once to a
/// directory named after its content (renamed into place, so concurrent processes never read half).
fn compile_schema() -> Result<Schema, CieBookingError> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    XSD.hash(&mut hasher);
    let dir = std::env::temp_dir().join(format!("snodo-cie-booking-{:016x}", hasher.finish()));
    let path = dir.join("cieBooking.xsd");
    let io = |source| CieBookingError::SchemaFile {
        path: path.clone(),
        source,
    };
    if std::fs::read_to_string(&path).ok().as_deref() != Some(XSD) {
        std::fs::create_dir_all(&dir).map_err(io)?;
        let partial = dir.join(format!("cieBooking.xsd.{}", std::process::id()));
        std::fs::write(&partial, XSD).map_err(io)?;
        std::fs::rename(&partial, &path).map_err(io)?;
    }
    Ok(Schema::compile(&path)?)
}

/// The booking simulator.
pub struct CieBookingSimulator {
    shared: Arc<Shared>,
}

struct Shared {
    engine: Engine,
    schema: Schema,
    clock: SimClock,
    limits: Limits,
}

impl CieBookingSimulator {
    /// The seeded offices of Milano and the development population.
    pub fn new(clock: SimClock) -> Result<CieBookingSimulator, CieBookingError> {
        CieBookingSimulator::with_offices(clock, seeded_offices())
    }

    pub fn with_offices(
        clock: SimClock,
        offices: Vec<OfficeSpec>,
    ) -> Result<CieBookingSimulator, CieBookingError> {
        Ok(CieBookingSimulator {
            shared: Arc::new(Shared {
                engine: Engine::new(offices, population()),
                schema: compile_schema()?,
                clock,
                limits: Limits {
                    max_document_bytes: 256 << 10,
                    ..Limits::default()
                },
            }),
        })
    }

    /// The state, for tests and the demo that inspect it directly.
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// For [`crate::framework::registry::REGISTERED`].
    pub fn build(context: &BuildContext) -> Result<Arc<dyn Simulator>, BuildError> {
        Ok(Arc::new(
            CieBookingSimulator::new(context.clock.clone()).map_err(BuildError::new)?,
        ))
    }
}

impl Simulator for CieBookingSimulator {
    fn name(&self) -> &str {
        NAME
    }

    fn default_port(&self) -> u16 {
        DEFAULT_PORT
    }

    fn router(&self) -> Router {
        Router::new()
            .route(PATH, post(serve))
            .with_state(self.shared.clone())
    }

    fn admin_router(&self) -> Option<Router> {
        Some(admin::router(self.shared.clone()))
    }

    fn reset(&self) {
        self.shared.engine.reset();
    }

    /// The WSDL operation (`Prenota`), which fault rules and recordings name.
    fn operation(&self, request: &RequestView<'_>) -> Option<String> {
        let envelope = request.soap()?;
        operation_of(&envelope.payload_name()).map(|op| op.wsdl_name().to_owned())
    }

    /// A `rispostaKO` with the fault's code. The fault layer answers before the request is read, so
    /// the header cannot echo the request's id: it carries the all-zero id and recipient.
    fn render_platform_error(&self, operation: Option<&str>, error: &PlatformError) -> Response {
        let Some(op) = Operation::ALL
            .into_iter()
            .find(|op| Some(op.wsdl_name()) == operation)
        else {
            return fault(FaultCode::Server, &error.message);
        };
        let reply = Reply {
            header: ResponseHeader {
                operation_id: OperationId::parse(&"0".repeat(32)).expect("32 hex digits"),
                recipient: "000000".into(),
                answered_at: in_rome(self.shared.clock.now()),
            },
            answer: Err(Rejection::new(BookingPlatformError::new(
                ErrorCode::from_wire(&error.code),
                &error.message,
            ))),
        };
        answer(op, &reply)
    }
}

fn operation_of(name: &snodo_mappings::soap::QName) -> Option<Operation> {
    Operation::ALL
        .into_iter()
        .find(|op| op.request_element() == *name)
}

async fn serve(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let envelope = match read_envelope(&body, &shared.limits) {
        Ok(envelope) => envelope,
        Err(e) => return fault(FaultCode::Client, &format!("not a SOAP 1.1 request: {e}")),
    };
    let Some(op) = operation_of(&envelope.payload_name()) else {
        return fault(
            FaultCode::Client,
            &format!("unknown operation {}", envelope.payload_name()),
        );
    };
    let doc = envelope.document();
    let payload = envelope.payload();
    let read = shared
        .schema
        .validate_element(doc, payload)
        .map_err(|e| e.to_string())
        .and_then(|()| read_request(doc, payload).map_err(|e| e.to_string()));
    let reply = match read {
        Ok((header, request)) => shared.engine.handle(&header, request, shared.clock.now()),
        Err(reason) => match readable_header(doc, payload) {
            Some(header) => Reply {
                header: ResponseHeader::answering(&header, in_rome(shared.clock.now())),
                answer: Err(Rejection::new(BookingPlatformError::new(
                    ErrorCode::InvalidRequest,
                    &clip(&format!("richiesta non valida: {reason}")),
                ))),
            },
            None => {
                return fault(
                    FaultCode::Client,
                    &format!("request not valid against cieBooking.xsd: {reason}"),
                );
            }
        },
    };
    answer(op, &reply)
}

/// The request's id and sender, when they can be read although the rest is invalid, so that the
/// refusal echoes them.
fn readable_header(doc: &Document, payload: NodeId) -> Option<RequestHeader> {
    let testata = doc.child_elements(payload).find(|&c| {
        doc.element(c)
            .is_some_and(|e| e.name().is(None, "testataRichiesta"))
    })?;
    let text = |local: &str| {
        doc.child_elements(testata)
            .find(|&c| doc.element(c).is_some_and(|e| e.name().is(None, local)))
            .map(|c| doc.text_content(c))
    };
    let sender = text("codMittente").filter(|s| s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()))?;
    Some(RequestHeader {
        operation_id: OperationId::parse(&text("idOperazione")?)?,
        sender,
        requested_at: chrono::Utc::now().fixed_offset(),
        application: String::new(),
        application_version: None,
    })
}

/// `tipoTesto` holds at most 240 characters.
fn clip(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(240).collect()
}

fn answer(op: Operation, reply: &Reply) -> Response {
    match write_reply(op, reply) {
        Ok(payload) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, SOAP11_CONTENT_TYPE)],
            EnvelopeBuilder::new().body(&payload),
        )
            .into_response(),
        // A value the simulator made up breaks the contract: its bug, said as a Server fault.
        Err(e) => fault(
            FaultCode::Server,
            &format!("the simulator could not write its answer: {e}"),
        ),
    }
}

fn fault(code: FaultCode, text: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, SOAP11_CONTENT_TYPE)],
        EnvelopeBuilder::new().fault(&SoapFault::new(code, text)),
    )
        .into_response()
}

//! The simulator framework: what every platform simulator (ANPR + PDND, the pagoPA node, the SPID/CIE
//! IdP, CIE booking) shares, so that each one is only its protocol and its seeded data (DESIGN §8).
//!
//! A platform simulator implements [`Simulator`] (name, default port, protocol [`Router`], reset hook,
//! how to name an operation and render a platform error). [`Instance`] wraps it with a [`SimClock`],
//! [`FaultRules`] and a [`Recorder`]; [`Instance::router`] is the whole application — the admin API
//! under `/admin/` and the protocol behind the fault layer ([`layer`]) — and [`serve`] runs it over
//! plain HTTP or HTTPS (the mutual-TLS loop of `snodo_security::tls`, which puts the verified client
//! certificate in request extensions; the recorder keeps its subject).
//!
//! # The admin API
//!
//! The same on every simulator, on the simulator's own listener; JSON in and out; every error is
//! `{"error": "<what is wrong>"}` with a 4xx status. Admin calls are neither faulted nor recorded.
//!
//! | call | does |
//! |---|---|
//! | `GET /admin/health` | `{"status": "ok", "simulator", "now", "rules", "exchanges"}` |
//! | `GET /admin/faults` | `{"rules": [rule…]}`, in evaluation order, each with `id`, `remaining` (null = always) and `hits` |
//! | `POST /admin/faults` | adds one rule or an array of rules (all or none) at the end; `201 {"rules": [added…]}` |
//! | `DELETE /admin/faults` | removes every rule; `DELETE /admin/faults/{id}` removes one |
//! | `GET /admin/exchanges?operation=&since=&limit=` | `{"exchanges": [oldest first…], "dropped", "capacity"}`; `since` is an RFC 3339 instant of the simulator clock, `limit` keeps the most recent |
//! | `DELETE /admin/exchanges` | forgets the recording (and the dropped count) |
//! | `GET /admin/clock` | `{"now", "real_now", "offset_ms", "speed"}` |
//! | `POST /admin/clock` | any of `{"set": "<RFC 3339>"}` or `{"offset_ms": <signed>}`, `{"speed": <0…1e6>}`, `{"advance": "36h"}` (humantime), applied in that order; answers the new clock |
//! | `POST /admin/reset` | back to the seeded state: the simulator's data, no rules, an empty recording, the clock at real time and speed |
//!
//! A rule: `{"operation"?: "<name>", "field"?: {"path", "value"}, "times"?: N, "fault": {"kind", …}}`.
//! Kinds: `latency` (`ms`, or `min_ms` and `max_ms`), `http_status` (`status`, `body`?, `content_type`?),
//! `platform_error` (`code`, `message`: the simulator renders it, e.g. pagoPA outcome KO), `soap_fault`
//! (`code`, `string`, `detail`?), `drop_connection`, `malformed_reply` (the real reply cut in half),
//! `hostile_reply` (`payload`: `entity_bomb`, `external_entity` or `deep_nesting`). The first rule
//! whose operation and field match applies; a rule with `times` disappears after that many calls.

mod admin;
pub mod clock;
mod context;
pub mod faults;
mod launch;
mod layer;
pub mod recorder;
pub mod registry;
mod replies;
pub mod request;
mod serve;

use std::sync::Arc;
use std::time::Instant as RealInstant;

use axum::Router;
use axum::response::Response;

pub use clock::{ClockError, ClockStatus, SimClock};
pub use context::{
    BuildContext, BuildError, DEV_PKI_DIR_VARIABLE, DEVELOPMENT_INBOUND_PORT, PortPastRange, default_pki_dir,
};
pub use faults::{
    AppliedFault, Fault, FaultRule, FaultRuleSpec, FaultRules, FieldMatch, HostilePayload, RuleError,
};
pub use launch::{LaunchError, LaunchOptions, Launched, TrustMaterial, launch};
pub use recorder::{Exchange, ExchangeFilter, ExchangePage, RecordedBody, Recorder};
pub use registry::{Registration, UnknownSimulator};
pub use request::RequestView;
pub use serve::{RunningSimulator, ServeError, Transport, serve};

/// Default largest request body a simulator accepts (the platforms' own limits are lower).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 16 << 20;

/// A platform's business error, as a `platform_error` fault carries it to the protocol layer, which
/// renders it the way the platform does (pagoPA: HTTP 200, outcome KO and a fault bean with
/// `faultCode` = `code`; ANPR: an error list entry with `codiceErroreAnomalia` = `code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformError {
    pub code: String,
    pub message: String,
}

/// What a platform simulator provides; the framework does the rest.
pub trait Simulator: Send + Sync + 'static {
    /// The system name `snodo simulate` knows it by (`anpr`, `pagopa`, `idp`, `cie-booking`).
    fn name(&self) -> &str;

    /// Its default port (DESIGN §6: 9441–9444).
    fn default_port(&self) -> u16;

    /// The protocol endpoints. Paths under `/admin/` are the framework's and never reach it.
    fn router(&self) -> Router;

    /// Back to the seeded state: called by `POST /admin/reset`.
    fn reset(&self);

    /// The operation a request calls (e.g. [`RequestView::soap_operation`]), for fault scopes and
    /// the recorder; `None` when the request names none (only unscoped rules then apply).
    fn operation(&self, request: &RequestView<'_>) -> Option<String>;

    /// Whether a rule's field match holds for this request; by default the generic check
    /// ([`RequestView::field_equals`]: a JSON pointer, or an XML element's local name).
    fn field_matches(&self, request: &RequestView<'_>, path: &str, value: &str) -> bool {
        request.field_equals(path, value)
    }

    /// Platform-specific admin calls (a scenario runner, seeded data), served under `/admin/<name>/`
    /// beside the framework's and, like them, neither faulted nor recorded; by default none.
    fn admin_router(&self) -> Option<Router> {
        None
    }

    /// The platform's own rendering of a business error for `operation`.
    fn render_platform_error(&self, operation: Option<&str>, error: &PlatformError) -> Response;

    /// A SOAP Fault reply; by default SOAP 1.1 through the shared envelope writer, HTTP 500.
    fn render_soap_fault(
        &self,
        operation: Option<&str>,
        code: &str,
        string: &str,
        detail: Option<&str>,
    ) -> Response {
        let _ = operation;
        replies::soap_fault_response(code, string, detail)
    }
}

/// One running simulator's shared parts: the simulator and its clock, rules and recording.
pub struct Instance {
    simulator: Arc<dyn Simulator>,
    clock: SimClock,
    faults: FaultRules,
    recorder: Recorder,
    max_request_bytes: usize,
    started: RealInstant,
}

impl Instance {
    /// `simulator` with `clock` (the one its components were built with), an empty rule list and a
    /// recorder of the default size.
    pub fn new(simulator: Arc<dyn Simulator>, clock: SimClock) -> Instance {
        Instance {
            simulator,
            clock,
            faults: FaultRules::default(),
            recorder: Recorder::default(),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            started: RealInstant::now(),
        }
    }

    pub fn with_recorder(mut self, recorder: Recorder) -> Instance {
        self.recorder = recorder;
        self
    }

    pub fn with_max_request_bytes(mut self, bytes: usize) -> Instance {
        self.max_request_bytes = bytes;
        self
    }

    pub fn simulator(&self) -> &Arc<dyn Simulator> {
        &self.simulator
    }
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }
    pub fn faults(&self) -> &FaultRules {
        &self.faults
    }
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Back to the seeded state (what `POST /admin/reset` does).
    pub fn reset(&self) {
        self.simulator.reset();
        self.faults.clear();
        self.recorder.clear();
        self.clock.reset();
    }

    /// The whole application: `/admin/…` and, for every other path, the protocol router behind the
    /// fault layer (so unknown paths are recorded too).
    pub fn router(self: &Arc<Self>) -> Router {
        let protocol = self
            .simulator
            .router()
            .layer(axum::middleware::from_fn_with_state(self.clone(), layer::apply));
        let mut admin = admin::router(self.clone());
        if let Some(extra) = self.simulator.admin_router() {
            admin = admin.merge(extra);
        }
        admin.fallback_service(protocol)
    }
}

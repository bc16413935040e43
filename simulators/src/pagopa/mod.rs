//! The pagoPA node simulator (issue 6; facts in pagopa.md): the Nodo dei Pagamenti as an EC meets
//! it, on the shared simulator framework (`snodo simulate pagopa`, port 9442).
//!
//! - Towards the EC it plays the node driving a payment for a PSP ([`payment`]): paVerifyPaymentNotice,
//!   paGetPayment[V2] with token and idempotency, paSendRT[V2], over mutual TLS with the node's client
//!   certificate ([`client`]), judging every answer as the node does ([`judge`]: XSD, semantics,
//!   7 s / 15 s timeouts on the simulator clock), re-submitting receipts hourly ×48 ([`node`]), and
//!   paying in Stand-In from its ACA archive when the EC does not answer ([`standin`]).
//! - It serves the APIs an EC calls ([`api`]): ACA `paCreatePosition`, FdR REST and the legacy SOAP
//!   reporting primitives, with flows generated from the payments it made, behind the
//!   subscription-key check; and the PSP's `nodeForPsp` primitives ([`psp`]: verify, activate,
//!   send the outcome), each driving the EC's as the node does.
//! - Receipts also go to the broadcast stations of a notice's other beneficiaries ([`broadcast`]);
//!   @e.bollo stamps are sold and signed into the receipt ([`stamp`]); `demandPaymentNotice` asks
//!   the EC for a new notice ([`demand`]).
//! - Its admin API adds, under `/admin/pagopa/`, the scenario runner and views of its archive
//!   ([`scenario`]); faults and recordings are the framework's, on the node-side APIs (operation names
//!   `paCreatePosition`, `fdrs`, `fdr`, `fdrPayments`, and the SOAP payload's local name).
//!
//! Every XML read or written goes through `snodo_mappings::pagopa` (the node's side is in its
//! `node_request`, `ec_answer` and `node_reporting` modules).

pub mod api;
pub mod archive;
pub mod broadcast;
pub mod client;
pub mod demand;
pub mod judge;
pub mod node;
pub mod payment;
pub mod psp;
pub mod scenario;
pub mod settings;
mod soap;
pub mod stamp;
pub mod standin;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use snodo_mappings::pagopa::{NodeFault, PspFault, PspOperation, node_fault_answer, psp_ko};
use snodo_mappings::soap::SOAP11_CONTENT_TYPE;

use crate::framework::{
    BuildContext, BuildError, PlatformError, Registration, RequestView, SimClock, Simulator,
};
pub use node::NodeCore;
pub use settings::NodeSettings;

pub const NAME: &str = "pagopa";
/// DESIGN §6.
pub const DEFAULT_PORT: u16 = 9442;

/// The simulator: the framework sees this; everything else lives in the shared [`NodeCore`].
pub struct PagopaNode {
    core: Arc<NodeCore>,
}

impl PagopaNode {
    pub fn new(clock: SimClock, settings: NodeSettings) -> PagopaNode {
        PagopaNode {
            core: NodeCore::new(clock, settings),
        }
    }

    pub fn core(&self) -> &Arc<NodeCore> {
        &self.core
    }
}

/// The entry of [`crate::framework::registry::REGISTERED`]: the development settings
/// ([`NodeSettings::for_launch`]).
pub const REGISTRATION: Registration = Registration {
    name: NAME,
    summary: "pagoPA node: drives payments against an EC station, ACA, FdR (REST and SOAP), Stand-In",
    build,
};

fn build(context: &BuildContext) -> Result<Arc<dyn Simulator>, BuildError> {
    let settings = NodeSettings::for_launch(context).map_err(BuildError::new)?;
    Ok(Arc::new(PagopaNode::new(context.clock.clone(), settings)))
}

impl Simulator for PagopaNode {
    fn name(&self) -> &str {
        NAME
    }

    fn default_port(&self) -> u16 {
        DEFAULT_PORT
    }

    fn router(&self) -> Router {
        api::router(self.core.clone()).merge(psp::router(self.core.clone()))
    }

    fn admin_router(&self) -> Option<Router> {
        Some(scenario::router(self.core.clone()))
    }

    fn reset(&self) {
        self.core.reset();
    }

    fn operation(&self, request: &RequestView<'_>) -> Option<String> {
        let path = request.uri.path();
        if path == api::ACA_PATH {
            return Some("paCreatePosition".into());
        }
        if let Some(rest) = path.strip_prefix(api::FDR_BASE) {
            let name = if rest.ends_with("/payments") {
                "fdrPayments"
            } else if rest.ends_with("/fdrs") {
                "fdrs"
            } else {
                "fdr"
            };
            return Some(name.into());
        }
        request.soap_operation()
    }

    /// `nodeForPa` answers carry the node's fault bean; the REST APIs a JSON problem.
    fn render_platform_error(&self, operation: Option<&str>, error: &PlatformError) -> Response {
        match operation {
            Some(op @ ("nodoChiediElencoFlussiRendicontazione" | "nodoChiediFlussoRendicontazione")) => {
                let fault = NodeFault {
                    fault_code: error.code.clone(),
                    fault_string: error.message.clone(),
                    id: "NodoDeiPagamentiSPC".into(),
                    description: None,
                };
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, SOAP11_CONTENT_TYPE)],
                    node_fault_answer(&format!("{op}Risposta"), &fault),
                )
                    .into_response()
            }
            Some(op)
                if let Some(psp_op) = PspOperation::ALL.into_iter().find(|p| p.request_element() == op) =>
            {
                let fault = PspFault {
                    fault_code: error.code.clone(),
                    fault_string: error.message.clone(),
                    description: None,
                    original_fault_code: None,
                    original_fault_string: None,
                };
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, SOAP11_CONTENT_TYPE)],
                    psp_ko(psp_op, &fault),
                )
                    .into_response()
            }
            _ => (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(serde_json::json!({
                    "title": error.code,
                    "status": 422,
                    "detail": error.message,
                })),
            )
                .into_response(),
        }
    }
}

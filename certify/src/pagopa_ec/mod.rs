//! `snodo certify pagopa-ec`: plays the Nodo dei Pagamenti against any creditor institution's
//! (EC's) SOAP station — Snodo's own `/pagopa/{station}` or a vendor's — and judges every answer as
//! the node does, reporting per case what the node would have told the PSP.
//!
//! - [`args`]: the station, its ids, the notices to pay, TLS, specs and timeouts;
//! - [`node`]: the node simulator's client and judge (`simulators/src/pagopa/{client,judge}.rs`):
//!   `paForNode.xsd` through the security crate's schema layer, then the node's semantic checks;
//! - [`catalogue`]: the cases, their rules and sources; [`cases`]: how each is run and judged;
//! - [`receipt`]: the receipt of a payment, as the node writes it.
//!
//! With `--demand-service`, `--demand-subject` and `--demand-data` it also asks the EC for new notices
//! of one of its catalogue services (paDemandPaymentNotice); without them the demand cases are "not
//! judged".
//!
//! The run pays the notices it is given (a notice each for V2, V1 and Stand-In): point it at a test
//! station.

mod args;
mod cases;
mod catalogue;
mod node;
mod receipt;

use async_trait::async_trait;
use snodo_mappings::pagopa::Operation;
use snodo_mappings::pagopa::contract::ReceiptVersion;

pub use args::PagopaEcArgs;
use args::Settings;
use cases::{Found, ReceiptKind, Slot, notice_for};
use catalogue::*;
use node::Node;

use crate::case::CaseInfo;
use crate::outcome::Outcome;
use crate::runner::{Suite, SuiteError};

/// The suite against one station.
pub struct PagopaEc {
    settings: Settings,
    node: Option<Node>,
    found: Found,
}

impl PagopaEc {
    pub fn new(args: &PagopaEcArgs) -> Result<PagopaEc, SuiteError> {
        Ok(PagopaEc {
            settings: args.settings()?,
            node: None,
            found: Found::default(),
        })
    }
}

#[async_trait(?Send)]
impl Suite for PagopaEc {
    const NAME: &'static str = "pagopa-ec";

    fn catalogue() -> Vec<CaseInfo> {
        catalogue::cases()
    }

    fn target(&self) -> String {
        let t = &self.settings.target;
        format!(
            "EC station {} (idPA {}, idBrokerPA {}, idStation {}), notices {}",
            t.url,
            t.id_pa,
            t.id_broker_pa,
            t.id_station,
            self.settings
                .notices
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    async fn prepare(&mut self) -> Result<(), SuiteError> {
        self.node = Some(Node::connect(&self.settings)?);
        Ok(())
    }

    async fn run_case(&mut self, case: &CaseInfo) -> Outcome {
        let Some(node) = &self.node else {
            return Outcome::error("the node's client was not prepared");
        };
        let notices = &self.settings.notices;
        let found = &mut self.found;
        let unknown = &self.settings.unknown_notice;
        let slot = |slot| notice_for(notices, slot);
        let v2 = ReceiptKind {
            version: ReceiptVersion::PaSendRtV2,
            stand_in: false,
        };
        let v1 = ReceiptKind {
            version: ReceiptVersion::PaSendRt,
            stand_in: false,
        };
        let stand_in = ReceiptKind {
            version: ReceiptVersion::PaSendRtV2,
            stand_in: true,
        };
        // The caller-configuration cases ask about the first notice with one id changed.
        let wrong = |change: &dyn Fn(&mut snodo_mappings::pagopa::RequestHeader)| {
            let header = cases::header_with(node, change);
            node.verify_envelope(&header, &notices[0])
        };
        let id_pa = node.header.id_pa.clone();
        match case.id.as_str() {
            VERIFY => cases::verify_all(node, found, notices).await,
            VERIFY_UNKNOWN_NOTICE => match node.verify_envelope(&node.header, unknown) {
                Ok(envelope) => {
                    cases::verify_expecting_ko(node, envelope, &["PAA_PAGAMENTO_SCONOSCIUTO"]).await
                }
                Err(e) => Outcome::error(e.to_string()),
            },
            VERIFY_WRONG_DOMAIN => match wrong(&|h| {
                h.id_pa = cases::other_id(&id_pa, "99999999999", "99999999998")
            }) {
                Ok(envelope) => cases::verify_expecting_ko(node, envelope, &["PAA_ID_DOMINIO_ERRATO"]).await,
                Err(e) => Outcome::error(e.to_string()),
            },
            VERIFY_WRONG_BROKER => match wrong(&|h| {
                h.id_broker_pa = cases::other_id(&h.id_broker_pa, "99999999999", "99999999998")
            }) {
                Ok(envelope) => {
                    cases::verify_expecting_ko(node, envelope, &["PAA_ID_INTERMEDIARIO_ERRATO"]).await
                }
                Err(e) => Outcome::error(e.to_string()),
            },
            VERIFY_WRONG_STATION => match wrong(&|h| {
                h.id_station = cases::other_id(&h.id_station, "99999999999_99", "99999999999_98")
            }) {
                Ok(envelope) => {
                    cases::verify_expecting_ko(node, envelope, &["PAA_STAZIONE_INT_ERRATA"]).await
                }
                Err(e) => Outcome::error(e.to_string()),
            },
            VERIFY_SYNTAX_ERROR => match cases::syntax_error_envelope(node, &notices[0]) {
                Ok(envelope) => {
                    cases::verify_expecting_ko(node, envelope, &["PAA_SINTASSI_XSD", "PAA_SINTASSI_EXTRAXSD"])
                        .await
                }
                Err(outcome) => outcome,
            },
            DEMAND => match cases::demand_settings(self.settings.demand.as_ref()) {
                Ok(demand) => cases::demand(node, found, demand).await,
                Err(outcome) => outcome,
            },
            DEMAND_UNKNOWN_SUBJECT => match cases::demand_settings(self.settings.demand.as_ref()) {
                Ok(demand) => cases::demand_unknown_subject(node, demand).await,
                Err(outcome) => outcome,
            },
            DEMAND_BAD_SERVICE_DATA => match cases::demand_settings(self.settings.demand.as_ref()) {
                Ok(demand) => cases::demand_bad_service_data(node, demand).await,
                Err(outcome) => outcome,
            },
            GET_PAYMENT_V2 => match slot(Slot::V2) {
                Ok(n) => cases::get_payment(node, found, Operation::GetPaymentV2, n).await,
                Err(outcome) => outcome,
            },
            GET_PAYMENT_V2_REPEAT => match slot(Slot::V2) {
                Ok(n) => cases::get_payment_again(node, found, n).await,
                Err(outcome) => outcome,
            },
            GET_PAYMENT_V2_UNKNOWN_NOTICE => cases::expect_ko(
                node.get_payment(Operation::GetPaymentV2, unknown, None).await,
                &["PAA_PAGAMENTO_SCONOSCIUTO"],
            ),
            GET_PAYMENT => match slot(Slot::V1) {
                Ok(n) => cases::get_payment(node, found, Operation::GetPayment, n).await,
                Err(outcome) => outcome,
            },
            SEND_RT_V2 => match slot(Slot::V2) {
                Ok(n) => cases::send_receipt(node, found, v2, n).await,
                Err(outcome) => outcome,
            },
            SEND_RT_V2_DUPLICATE => match slot(Slot::V2) {
                Ok(n) => cases::send_duplicate(node, found, v2, n).await,
                Err(outcome) => outcome,
            },
            SEND_RT => match slot(Slot::V1) {
                Ok(n) => cases::send_receipt(node, found, v1, n).await,
                Err(outcome) => outcome,
            },
            SEND_RT_DUPLICATE => match slot(Slot::V1) {
                Ok(n) => cases::send_duplicate(node, found, v1, n).await,
                Err(outcome) => outcome,
            },
            SEND_RT_V2_STAND_IN => match slot(Slot::StandIn) {
                Ok(n) => cases::send_receipt(node, found, stand_in, n).await,
                Err(outcome) => outcome,
            },
            other => Outcome::error(format!("no such case in pagopa-ec: {other}")),
        }
    }
}

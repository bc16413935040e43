//! pagoPA: Snodo as the creditor institution's (EC) endpoint for the Nodo dei Pagamenti — the pure
//! mappings between the node's SOAP messages and Snodo's JSON contract (pagopa.md in the platform
//! notes). No I/O: the connector (`connectors/src/pagopa/`) and the node simulator build on this.
//!
//! The flow of one call from the node:
//!
//! ```text
//! bytes ──read_envelope──▶ Envelope ──read_request──▶ PaRequest ──▶ header.check(station)
//!   Verify / GetPayment ──position_request()──▶ pagopa.position.get ──▶ backend ──▶ PaymentPosition
//!       payable ──request.ok(&payable)──▶ OK envelope      otherwise ──ko(op, fault)──▶ KO envelope
//!   SendRt ──▶ Receipt ──▶ pagopa.receipt.received (message_id = Receipt::message_id) ──▶ receipt_ok
//! ```
//!
//! Every answer is written by a builder that refuses what the node would reject (amounts, limits,
//! one payment option, 1–5 transfers adding up, IBAN or stamp), and every KO carries a complete
//! fault: tests validate each against `paForNode.xsd` with libxml2 and with `xmllint`.

pub mod contract;
mod demand;
mod ec_answer;
mod fault;
mod get_payment;
mod node_reporting;
mod node_request;
mod notice;
mod psp;
mod receipt;
mod reporting;
mod request;
mod response;
mod simple;
mod transfer;
mod verify;
mod xml;

pub use demand::DemandPaymentRequest;
pub use ec_answer::{
    AnswerError, AnsweredCredit, AnsweredTransfer, DemandAnswer, EcAnswer, EcFault, PaymentData,
    VerifyAnswer, read_demand_answer, read_get_payment_answer, read_send_rt_answer, read_verify_answer,
};
pub use fault::{FaultBean, PaFaultCode};
pub use get_payment::{GetPaymentRequest, IBAN_APPOGGIO};
pub use node_reporting::{
    NodeForPaRequest, NodeRequestError, get_flow_answer, list_flows_answer, node_fault_answer,
    read_node_for_pa_request, write_flow,
};
pub use node_request::ReceiptWriteError;
pub use notice::{NoticeError, NoticeNumber, NoticeQr, check_digits};
pub use psp::{
    NODE_FOR_PSP_NAMESPACE, PspCaller, PspFault, PspOperation, PspRequest, PspRequestError, activate_psp_ok,
    psp_ko, psp_ok, read_psp_request, verify_psp_ok,
};
pub use receipt::ReceiptSemanticError;
pub use reporting::{
    FlowCaller, FlowRef, NodeFault, ReportingError, read_flow, read_get_flow_response,
    read_list_flows_response,
};
pub use request::{Operation, QrCode, RequestHeader, Station};
pub use response::{ResponseError, ko, receipt_ok};
pub use simple::{Amount, MAX_AMOUNT_CENTS, XsdDate, XsdDateTime};
pub use transfer::TransferPa;
pub use verify::VerifyRequest;
pub use xml::{SyntaxError, SyntaxKind};

use contract::{PaymentPosition, Receipt};
use snodo_security::xml::Document;

use crate::soap::{Envelope, QName};

/// Namespace of the EC's service (`paForNode.xsd`): only the payload root is in it.
pub const PA_NAMESPACE: &str = "http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd";
/// Namespace of the node's service for ECs (`nodeForPa.xsd`).
pub const NODE_FOR_PA_NAMESPACE: &str = "http://ws.pagamenti.telematici.gov/";
/// Namespace of `FlussoRiversamento` (qualified throughout).
pub const FLOW_NAMESPACE: &str = "http://www.digitpa.gov.it/schemas/2011/Pagamenti/";
/// The prefix Snodo writes for [`PA_NAMESPACE`] (the node never matches on prefixes).
pub(crate) const PA_PREFIX: &str = "pafn";

/// A request from the node, read and checked against its XSD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaRequest {
    Verify(VerifyRequest),
    /// paGetPayment or paGetPaymentV2.
    GetPayment(GetPaymentRequest),
    /// paSendRT or paSendRTV2: the receipt, with the ids of the EC it was sent to.
    SendRt(Box<Receipt>),
    Demand(DemandPaymentRequest),
}

impl PaRequest {
    pub fn operation(&self) -> Operation {
        match self {
            PaRequest::Verify(_) => Operation::VerifyPaymentNotice,
            PaRequest::GetPayment(r) => r.operation,
            PaRequest::SendRt(r) => match r.version {
                contract::ReceiptVersion::PaSendRt => Operation::SendRt,
                contract::ReceiptVersion::PaSendRtV2 => Operation::SendRtV2,
            },
            PaRequest::Demand(_) => Operation::DemandPaymentNotice,
        }
    }

    /// `idPA`, `idBrokerPA`, `idStation`.
    pub fn header(&self) -> RequestHeader {
        match self {
            PaRequest::Verify(r) => r.header.clone(),
            PaRequest::GetPayment(r) => r.header.clone(),
            PaRequest::SendRt(r) => RequestHeader {
                id_pa: r.id_pa.clone(),
                id_broker_pa: r.id_broker_pa.clone(),
                id_station: r.id_station.clone(),
            },
            PaRequest::Demand(r) => r.header.clone(),
        }
    }

    /// The EC owning the notice, where the request names one (checked with the domain).
    pub fn notice_fiscal_code(&self) -> Option<&str> {
        match self {
            PaRequest::Verify(r) => Some(&r.qr_code.fiscal_code),
            PaRequest::GetPayment(r) => Some(&r.qr_code.fiscal_code),
            PaRequest::SendRt(_) | PaRequest::Demand(_) => None,
        }
    }

    /// The caller-configuration checks ([`RequestHeader::check`]) as a KO answer when they fail.
    pub fn check_station(&self, station: &Station<'_>) -> Result<(), String> {
        self.header()
            .check(station, self.notice_fiscal_code())
            .map_err(|fault| ko(self.operation(), &fault))
    }
}

/// Why a request could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not a `paForNode` request: the endpoint answers a SOAP Client fault (no pagoPA KO exists for it).
    #[error("no paForNode operation takes {0}")]
    UnknownOperation(QName),
    /// The request breaks its XSD or a rule beyond it: answered KO `PAA_SINTASSI_XSD`/`_EXTRAXSD`.
    #[error("{operation:?} request refused: {error}")]
    Syntax {
        operation: Operation,
        /// The request's `idPA` when it could be read, for the fault's `id`.
        id_pa: Option<String>,
        error: SyntaxError,
    },
}

impl RequestError {
    /// The KO envelope answering this error; `None` for an unknown operation. `fallback_id` (the
    /// broker's id) stands for the fault's `id` when the request's `idPA` could not be read.
    pub fn ko_response(&self, fallback_id: &str) -> Option<String> {
        match self {
            RequestError::UnknownOperation(_) => None,
            RequestError::Syntax {
                operation,
                id_pa,
                error,
            } => {
                let id = id_pa.as_deref().unwrap_or(fallback_id);
                Some(ko(*operation, &FaultBean::for_syntax(error, id)))
            }
        }
    }
}

/// Reads the node's request from a parsed envelope: dispatch on the payload's expanded name, then a
/// strict read of the operation's XSD sequence.
pub fn read_request(envelope: &Envelope) -> Result<PaRequest, RequestError> {
    let name = envelope.payload_name();
    let operation = Operation::ALL
        .into_iter()
        .find(|op| op.request_name() == name)
        .ok_or(RequestError::UnknownOperation(name))?;
    read_payload(envelope.document(), envelope.payload(), operation).map_err(|error| RequestError::Syntax {
        operation,
        id_pa: request::lenient_id_pa(envelope.document(), envelope.payload()),
        error,
    })
}

fn read_payload(
    doc: &Document,
    payload: snodo_security::xml::NodeId,
    operation: Operation,
) -> Result<PaRequest, SyntaxError> {
    let root = xml::Node::root(doc, payload)?;
    Ok(match operation {
        Operation::VerifyPaymentNotice => PaRequest::Verify(VerifyRequest::read(&root)?),
        Operation::GetPayment | Operation::GetPaymentV2 => {
            PaRequest::GetPayment(GetPaymentRequest::read(&root, operation)?)
        }
        Operation::SendRt | Operation::SendRtV2 => {
            PaRequest::SendRt(Box::new(receipt::read(&root, operation)?))
        }
        Operation::DemandPaymentNotice => PaRequest::Demand(DemandPaymentRequest::read(&root)?),
    })
}

/// The answer to a verify or get-payment request from the backend's position: OK for `payable`, the
/// state's fault otherwise, and a KO (`PAA_SEMANTICA` or `PAA_SYSTEM_ERROR`) when the position
/// cannot be written as a valid answer — never an invalid OK.
pub fn answer_position(request: &PaRequest, position: &PaymentPosition) -> String {
    let header = request.header();
    let operation = request.operation();
    let fault = |code: PaFaultCode| ko(operation, &FaultBean::new(code, header.id_pa.clone()));
    let PaymentPosition::Payable(payable) = position else {
        let fault = position
            .fault_bean(header.id_pa.clone())
            .expect("only payable has no fault");
        return ko(operation, &fault);
    };
    let written = match request {
        PaRequest::Verify(r) => r.ok(payable),
        PaRequest::GetPayment(r) => r.ok(payable),
        PaRequest::Demand(r) => r.ok(payable),
        PaRequest::SendRt(_) => return fault(PaFaultCode::Semantica),
    };
    written.unwrap_or_else(|e| {
        ko(
            operation,
            &FaultBean::new(e.fault_code(), header.id_pa.clone()).with_description(e.to_string()),
        )
    })
}

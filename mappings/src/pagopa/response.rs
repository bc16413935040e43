//! What every answer to the node shares: the payload root, the KO form with its complete fault, and
//! the errors that stop a builder from writing an answer the node would reject.

use super::contract::{ContractError, Payable};
use super::fault::{FaultBean, PaFaultCode};
use super::xml::XmlOut;
use super::{Operation, PA_NAMESPACE, PA_PREFIX};
use crate::soap::EnvelopeBuilder;

/// Why no OK answer could be written from a backend's position: the connector answers the fault of
/// [`ResponseError::fault_code`] instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("the position breaks a field rule: {0}")]
    Contract(#[from] ContractError),
    #[error("the amount is outside 0.01..999999999.99")]
    AmountOutOfRange,
    #[error("paGetPayment (V1) cannot carry a revenue stamp transfer; the node must use paGetPaymentV2")]
    RevenueStampInV1,
    #[error("the position's iuv is not the IUV of the requested notice number")]
    IuvMismatch,
    #[error("adding IBANAPPOGGIO to transfers[{0}] would exceed the 15 metadata entries")]
    TooMuchMetadata(usize),
    #[error("a paDemandPaymentNotice answer needs the new notice_number")]
    MissingNoticeNumber,
}

impl ResponseError {
    /// The fault answering the node: a V1 request for a stamp is a semantic error of the request
    /// (as gpd-payments answers); anything else is the backend's mistake, a system error.
    pub fn fault_code(&self) -> PaFaultCode {
        match self {
            ResponseError::RevenueStampInV1 => PaFaultCode::Semantica,
            _ => PaFaultCode::SystemError,
        }
    }
}

pub(crate) fn validated(position: &Payable) -> Result<(), ResponseError> {
    position.validate().map_err(ResponseError::from)
}

pub(crate) fn ok_root(operation: Operation) -> XmlOut {
    let mut out = XmlOut::root(PA_PREFIX, PA_NAMESPACE, operation.response_element());
    out.leaf("outcome", "OK");
    out
}

pub(crate) fn close(out: XmlOut) -> String {
    EnvelopeBuilder::new().body(&out.finish())
}

/// The KO answer to `operation`: `outcome` KO and the complete fault, in a SOAP envelope (HTTP 200).
pub fn ko(operation: Operation, fault: &FaultBean) -> String {
    let mut out = XmlOut::root(PA_PREFIX, PA_NAMESPACE, operation.response_element());
    out.leaf("outcome", "KO");
    fault.write(&mut out);
    close(out)
}

/// The OK answer of paSendRT / paSendRTV2 once the receipt is safely stored.
pub fn receipt_ok(operation: Operation) -> String {
    close(ok_root(operation))
}

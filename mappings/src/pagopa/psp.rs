//! The PSP's side of the node (`nodeForPsp`, pagopa.md §2.4): the primitives a PSP calls to verify,
//! activate and close a payment — `verifyPaymentNotice`, `activatePaymentNotice[V2]`,
//! `sendPaymentOutcome[V2]` — read by the node simulator, and the node's answers to them, written by
//! construction. Only the payload root is namespace-qualified (no `elementFormDefault`, as in
//! `paForNode`). The PSP's `details` of an outcome are not modelled: the simulator validates every
//! request against `nodeForPsp.xsd` first, and builds the receipt from what the node already holds.
//!
//! The writers of the requests are here too: the simulator's tests play the PSP with them.

use std::fmt;

use super::ec_answer::{AnsweredCredit, PaymentData, VerifyAnswer};
use super::request::QrCode;
use super::simple::{Amount, XsdDate};
use super::xml::{Node, SyntaxError, XmlOut};
use crate::soap::{Envelope, EnvelopeBuilder, QName};

/// Namespace of `nodeForPsp.xsd`.
pub const NODE_FOR_PSP_NAMESPACE: &str = "http://pagopa-api.pagopa.gov.it/node/nodeForPsp.xsd";
const PREFIX: &str = "nfp";

/// The `nodeForPsp` primitives the node simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PspOperation {
    VerifyPaymentNotice,
    ActivatePaymentNotice,
    ActivatePaymentNoticeV2,
    SendPaymentOutcome,
    SendPaymentOutcomeV2,
}

impl PspOperation {
    pub const ALL: [PspOperation; 5] = [
        PspOperation::VerifyPaymentNotice,
        PspOperation::ActivatePaymentNotice,
        PspOperation::ActivatePaymentNoticeV2,
        PspOperation::SendPaymentOutcome,
        PspOperation::SendPaymentOutcomeV2,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PspOperation::VerifyPaymentNotice => "verifyPaymentNotice",
            PspOperation::ActivatePaymentNotice => "activatePaymentNotice",
            PspOperation::ActivatePaymentNoticeV2 => "activatePaymentNoticeV2",
            PspOperation::SendPaymentOutcome => "sendPaymentOutcome",
            PspOperation::SendPaymentOutcomeV2 => "sendPaymentOutcomeV2",
        }
    }

    /// The request's root element (V1 `…Req`, V2 `…Request`, as in `paForNode`).
    pub fn request_element(self) -> &'static str {
        match self {
            PspOperation::VerifyPaymentNotice => "verifyPaymentNoticeReq",
            PspOperation::ActivatePaymentNotice => "activatePaymentNoticeReq",
            PspOperation::ActivatePaymentNoticeV2 => "activatePaymentNoticeV2Request",
            PspOperation::SendPaymentOutcome => "sendPaymentOutcomeReq",
            PspOperation::SendPaymentOutcomeV2 => "sendPaymentOutcomeV2Request",
        }
    }

    pub fn response_element(self) -> &'static str {
        match self {
            PspOperation::VerifyPaymentNotice => "verifyPaymentNoticeRes",
            PspOperation::ActivatePaymentNotice => "activatePaymentNoticeRes",
            PspOperation::ActivatePaymentNoticeV2 => "activatePaymentNoticeV2Response",
            PspOperation::SendPaymentOutcome => "sendPaymentOutcomeRes",
            PspOperation::SendPaymentOutcomeV2 => "sendPaymentOutcomeV2Response",
        }
    }

    fn v2(self) -> bool {
        matches!(
            self,
            PspOperation::ActivatePaymentNoticeV2 | PspOperation::SendPaymentOutcomeV2
        )
    }
}

/// Who calls: the PSP, its broker and channel, with the channel's password. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct PspCaller {
    pub id_psp: String,
    pub id_broker_psp: String,
    pub id_channel: String,
    pub password: String,
}

impl fmt::Debug for PspCaller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PspCaller")
            .field("id_psp", &self.id_psp)
            .field("id_broker_psp", &self.id_broker_psp)
            .field("id_channel", &self.id_channel)
            .field("password", &"…")
            .finish()
    }
}

/// A PSP's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PspRequest {
    Verify {
        caller: PspCaller,
        qr_code: QrCode,
    },
    Activate {
        caller: PspCaller,
        v2: bool,
        idempotency_key: Option<String>,
        qr_code: QrCode,
        /// `expirationTime` in milliseconds (at most 30 minutes).
        expiration_ms: Option<u64>,
        amount: Amount,
        due_date: Option<XsdDate>,
        payment_note: Option<String>,
    },
    SendOutcome {
        caller: PspCaller,
        v2: bool,
        idempotency_key: Option<String>,
        /// V1: exactly one; V2: one to five.
        payment_tokens: Vec<String>,
        /// `outcome`: OK (paid) or KO (the PSP could not collect).
        paid: bool,
    },
}

/// Why a PSP's request could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PspRequestError {
    #[error("no nodeForPsp operation the simulator serves takes {0}")]
    UnknownOperation(QName),
    #[error("{operation:?} request refused: {error}")]
    Syntax {
        operation: PspOperation,
        error: SyntaxError,
    },
}

impl PspRequest {
    pub fn operation(&self) -> PspOperation {
        match self {
            PspRequest::Verify { .. } => PspOperation::VerifyPaymentNotice,
            PspRequest::Activate { v2: false, .. } => PspOperation::ActivatePaymentNotice,
            PspRequest::Activate { v2: true, .. } => PspOperation::ActivatePaymentNoticeV2,
            PspRequest::SendOutcome { v2: false, .. } => PspOperation::SendPaymentOutcome,
            PspRequest::SendOutcome { v2: true, .. } => PspOperation::SendPaymentOutcomeV2,
        }
    }

    pub fn caller(&self) -> &PspCaller {
        match self {
            PspRequest::Verify { caller, .. }
            | PspRequest::Activate { caller, .. }
            | PspRequest::SendOutcome { caller, .. } => caller,
        }
    }

    /// The request envelope, as a PSP sends it.
    pub fn to_envelope(&self) -> String {
        let operation = self.operation();
        let mut out = XmlOut::root(PREFIX, NODE_FOR_PSP_NAMESPACE, operation.request_element());
        let caller = self.caller();
        out.leaf("idPSP", &caller.id_psp)
            .leaf("idBrokerPSP", &caller.id_broker_psp)
            .leaf("idChannel", &caller.id_channel)
            .leaf("password", &caller.password);
        match self {
            PspRequest::Verify { qr_code, .. } => qr_code.write(&mut out),
            PspRequest::Activate {
                idempotency_key,
                qr_code,
                expiration_ms,
                amount,
                due_date,
                payment_note,
                ..
            } => {
                out.opt_leaf("idempotencyKey", idempotency_key.as_deref());
                qr_code.write(&mut out);
                out.opt_leaf("expirationTime", *expiration_ms)
                    .leaf("amount", amount)
                    .opt_leaf("dueDate", due_date.as_ref())
                    .opt_leaf("paymentNote", payment_note.as_deref());
            }
            PspRequest::SendOutcome {
                v2,
                idempotency_key,
                payment_tokens,
                paid,
                ..
            } => {
                out.opt_leaf("idempotencyKey", idempotency_key.as_deref());
                if *v2 {
                    out.open("paymentTokens");
                    for token in payment_tokens {
                        out.leaf("paymentToken", token);
                    }
                    out.close("paymentTokens");
                } else {
                    out.leaf("paymentToken", payment_tokens.first().map_or("", String::as_str));
                }
                out.leaf("outcome", if *paid { "OK" } else { "KO" });
            }
        }
        EnvelopeBuilder::new().body(&out.finish())
    }
}

/// Reads a PSP's request: dispatch on the payload's expanded name, then its XSD sequence.
pub fn read_psp_request(envelope: &Envelope) -> Result<PspRequest, PspRequestError> {
    let name = envelope.payload_name();
    let operation = PspOperation::ALL
        .into_iter()
        .find(|op| QName::new(NODE_FOR_PSP_NAMESPACE, op.request_element()) == name)
        .ok_or(PspRequestError::UnknownOperation(name))?;
    read(envelope, operation).map_err(|error| PspRequestError::Syntax { operation, error })
}

fn read(envelope: &Envelope, operation: PspOperation) -> Result<PspRequest, SyntaxError> {
    let root = Node::root(envelope.document(), envelope.payload())?;
    let mut c = root.children()?;
    let caller = PspCaller {
        id_psp: c.required("idPSP")?.string(1, 35)?,
        id_broker_psp: c.required("idBrokerPSP")?.string(1, 35)?,
        id_channel: c.required("idChannel")?.string(1, 35)?,
        password: c.required("password")?.string(8, 15)?,
    };
    let request = match operation {
        PspOperation::VerifyPaymentNotice => {
            let qr_code = QrCode::read(&c.required("qrCode")?)?;
            PspRequest::Verify { caller, qr_code }
        }
        PspOperation::ActivatePaymentNotice | PspOperation::ActivatePaymentNoticeV2 => {
            let idempotency_key = c
                .optional("idempotencyKey")?
                .map(|n| n.string(13, 29))
                .transpose()?;
            let qr_code = QrCode::read(&c.required("qrCode")?)?;
            let expiration_ms = c
                .optional("expirationTime")?
                .map(|n| n.integer(0, 1_800_000))
                .transpose()?
                .map(|ms| ms as u64);
            let amount = c.required("amount")?.amount()?;
            let due_date = c.optional("dueDate")?.map(|n| n.date()).transpose()?;
            let payment_note = c.optional("paymentNote")?.map(|n| n.string(1, 210)).transpose()?;
            if operation.v2() {
                c.optional("paymentMethod")?;
                c.optional("touchPoint")?;
            }
            PspRequest::Activate {
                caller,
                v2: operation.v2(),
                idempotency_key,
                qr_code,
                expiration_ms,
                amount,
                due_date,
                payment_note,
            }
        }
        PspOperation::SendPaymentOutcome | PspOperation::SendPaymentOutcomeV2 => {
            let idempotency_key = c
                .optional("idempotencyKey")?
                .map(|n| n.string(13, 29))
                .transpose()?;
            let payment_tokens = if operation.v2() {
                let mut tokens = c.required("paymentTokens")?.children()?;
                let list = tokens
                    .repeated("paymentToken", 1, 5)?
                    .iter()
                    .map(|t| t.string(1, 35))
                    .collect::<Result<Vec<_>, _>>()?;
                tokens.end()?;
                list
            } else {
                vec![c.required("paymentToken")?.string(1, 35)?]
            };
            let paid = c.required("outcome")?.enumeration(&["OK", "KO"])? == "OK";
            // The PSP's details (payer, method, fee, dates): validated by the schema, not used.
            c.optional("details")?;
            PspRequest::SendOutcome {
                caller,
                v2: operation.v2(),
                idempotency_key,
                payment_tokens,
                paid,
            }
        }
    };
    c.end()?;
    Ok(request)
}

/// The node's fault towards the PSP (the extended fault bean: the EC's code when it sent one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PspFault {
    pub fault_code: String,
    pub fault_string: String,
    pub description: Option<String>,
    pub original_fault_code: Option<String>,
    pub original_fault_string: Option<String>,
}

fn root(operation: PspOperation, ok: bool) -> XmlOut {
    let mut out = XmlOut::root(PREFIX, NODE_FOR_PSP_NAMESPACE, operation.response_element());
    out.leaf("outcome", if ok { "OK" } else { "KO" });
    out
}

fn close(out: XmlOut) -> String {
    EnvelopeBuilder::new().body(&out.finish())
}

/// A KO answer to `operation` with the node's fault.
pub fn psp_ko(operation: PspOperation, fault: &PspFault) -> String {
    let mut out = root(operation, false);
    out.open("fault")
        .leaf("faultCode", &fault.fault_code)
        .leaf("faultString", &fault.fault_string)
        .leaf("id", "NodoDeiPagamentiSPC")
        .opt_leaf("description", fault.description.as_deref())
        .opt_leaf("originalFaultCode", fault.original_fault_code.as_deref())
        .opt_leaf("originalFaultString", fault.original_fault_string.as_deref())
        .close("fault");
    close(out)
}

/// An OK with nothing more (`sendPaymentOutcome[V2]`).
pub fn psp_ok(operation: PspOperation) -> String {
    close(root(operation, true))
}

/// `verifyPaymentNoticeRes` OK from what the EC (or ACA, in Stand-In) said of the notice.
pub fn verify_psp_ok(answer: &VerifyAnswer, stand_in: bool) -> String {
    let operation = PspOperation::VerifyPaymentNotice;
    let mut out = root(operation, true);
    out.open("paymentList")
        .open("paymentOptionDescription")
        .leaf("amount", answer.amount)
        .leaf("options", &answer.options)
        .opt_leaf("dueDate", answer.due_date.as_ref())
        .close("paymentOptionDescription")
        .close("paymentList")
        .leaf("paymentDescription", &answer.payment_description)
        .leaf("fiscalCodePA", &answer.fiscal_code_pa)
        .leaf("companyName", &answer.company_name)
        .opt_leaf("officeName", answer.office_name.as_deref())
        .leaf("standin", stand_in);
    close(out)
}

/// `activatePaymentNotice[V2]` OK: the token and the EC's transfers. V1 can only name accounts: a
/// stamp transfer is the caller's to refuse before (V1 activation of a stamp position fails at the
/// EC already).
pub fn activate_psp_ok(
    operation: PspOperation,
    data: &PaymentData,
    fiscal_code: &str,
    company_name: &str,
    payment_token: &str,
    stand_in: bool,
) -> String {
    let v2 = operation.v2();
    let mut out = root(operation, true);
    out.leaf("totalAmount", data.amount)
        .leaf("paymentDescription", &data.description)
        .leaf("fiscalCodePA", fiscal_code)
        .leaf("companyName", company_name)
        .opt_leaf("officeName", data.office_name.as_deref())
        .leaf("paymentToken", payment_token)
        .open("transferList");
    for t in &data.transfers {
        out.open("transfer")
            .leaf("idTransfer", t.id)
            .leaf("transferAmount", t.amount)
            .leaf("fiscalCodePA", &t.fiscal_code);
        if v2 {
            out.opt_leaf("companyName", t.company_name.as_deref());
        }
        match &t.credit {
            AnsweredCredit::Iban(iban) => {
                out.leaf("IBAN", iban);
            }
            AnsweredCredit::RevenueStamp {
                document_hash,
                stamp_type,
                province,
            } => {
                out.open("richiestaMarcaDaBollo")
                    .leaf("hashDocumento", document_hash)
                    .leaf("tipoBollo", stamp_type)
                    .leaf("provinciaResidenza", province)
                    .close("richiestaMarcaDaBollo");
            }
        }
        out.leaf("remittanceInformation", &t.remittance_information);
        if v2 {
            out.leaf("transferCategory", &t.category);
        }
        out.close("transfer");
    }
    out.close("transferList");
    out.leaf("creditorReferenceId", &data.iuv);
    out.leaf("standin", stand_in);
    close(out)
}

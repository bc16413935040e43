//! The node's reading of an EC's answers: `paVerifyPaymentNoticeRes`, `paGetPaymentRes` /
//! `paGetPaymentV2Response` and `paSendRTRes` / `paSendRTV2Response`, read strictly in XSD order and
//! then checked for what the node checks beyond the schema (pagopa.md §2.2, §3.2): an `outcome` KO
//! must carry a complete fault, an OK must carry its data, the transfers must add up to the amount
//! and be numbered once each, and verify's data the node needs in practice must be there.
//!
//! Whatever is wrong here is what the node reports to the PSP as
//! `PPT_STAZIONE_INT_PA_ERRORE_RESPONSE`; a well-formed KO is passed through as
//! `PPT_ERRORE_EMESSO_DA_PAA` with the EC's code as `originalFaultCode`.

use super::PA_NAMESPACE;
use super::contract::{MapEntry, Subject};
use super::request::{Operation, QrCode, read_metadata, read_subject};
use super::simple::{Amount, XsdDate};
use super::transfer::{TransferPa, read_transfer_list};
use super::xml::{Node, SyntaxError};
use crate::soap::{Envelope, QName};

/// A `ctFaultBean` an EC answered with; its code need not be one of the official `PAA_*` (the node
/// passes any code through).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcFault {
    pub fault_code: String,
    pub fault_string: String,
    pub id: String,
    pub description: Option<String>,
}

/// An EC's answer: the data of an OK, or the fault of a KO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcAnswer<T> {
    Ok(T),
    Ko(EcFault),
}

/// Why the node refuses an answer (`PPT_STAZIONE_INT_PA_ERRORE_RESPONSE`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("the answer's payload is {found}, expected {{{PA_NAMESPACE}}}{expected}")]
    WrongElement { expected: &'static str, found: QName },
    #[error("the answer breaks paForNode.xsd: {0}")]
    Syntax(#[from] SyntaxError),
    #[error("outcome is KO without a fault")]
    KoWithoutFault,
    #[error("outcome is OK without {0}")]
    OkWithout(&'static str),
    #[error("transferList amounts add up to {sum} cents, paymentAmount is {amount} cents")]
    TransfersDoNotAddUp { sum: u64, amount: u64 },
    #[error("transferList: idTransfer {0} appears more than once")]
    DuplicateTransferId(u8),
    #[error("creditorReferenceId is not the IUV of the notice number")]
    IuvMismatch,
}

/// `paVerifyPaymentNoticeRes` on OK: the one payment option and the notice's descriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyAnswer {
    pub amount: Amount,
    /// `options`: `EQ`, `LS`, `GT` or `ANY`.
    pub options: String,
    pub due_date: Option<XsdDate>,
    pub detail_description: Option<String>,
    pub all_ccp: bool,
    pub payment_description: String,
    pub fiscal_code_pa: String,
    pub company_name: String,
    pub office_name: Option<String>,
}

/// Where an answered transfer credits the money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnsweredCredit {
    Iban(String),
    /// V2 only: an @e.bollo request (`hashDocumento`, `tipoBollo`, `provinciaResidenza`).
    RevenueStamp {
        document_hash: String,
        stamp_type: String,
        province: String,
    },
}

/// One transfer of a `paGetPayment` answer.
pub type AnsweredTransfer = TransferPa<AnsweredCredit>;

/// `data` of a `paGetPayment[V2]` OK answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentData {
    pub iuv: String,
    pub amount: Amount,
    pub due_date: XsdDate,
    pub description: String,
    pub company_name: Option<String>,
    pub office_name: Option<String>,
    pub debtor: Subject,
    pub transfers: Vec<AnsweredTransfer>,
    pub metadata: Vec<MapEntry>,
}

/// Opens the answer to `operation`: the payload must be its response element; returns the
/// children after `outcome` and `fault`, or the KO.
fn open<'d>(
    envelope: &'d Envelope,
    operation: Operation,
) -> Result<Result<super::xml::Children<'d>, EcFault>, AnswerError> {
    let found = envelope.payload_name();
    let expected = operation.response_element();
    if found != QName::new(PA_NAMESPACE, expected) {
        return Err(AnswerError::WrongElement { expected, found });
    }
    let root = Node::root(envelope.document(), envelope.payload())?;
    let mut c = root.children()?;
    let outcome = c.required("outcome")?.enumeration(&["OK", "KO"])?;
    let fault = c.optional("fault")?.map(|f| read_fault(&f)).transpose()?;
    match (outcome, fault) {
        ("KO", Some(fault)) => {
            // The fault is the whole answer; anything after it is still checked against the XSD.
            drain(c)?;
            Ok(Err(fault))
        }
        ("KO", None) => Err(AnswerError::KoWithoutFault),
        // An OK with a fault is valid XSD; the node goes by the outcome.
        _ => Ok(Ok(c)),
    }
}

/// Reads what follows a KO's fault only to refuse what the schema would.
fn drain(mut c: super::xml::Children<'_>) -> Result<(), SyntaxError> {
    for name in [
        "paymentList",
        "paymentDescription",
        "fiscalCodePA",
        "companyName",
        "officeName",
        "data",
    ] {
        c.optional(name)?;
    }
    c.end()
}

fn read_fault(node: &Node<'_>) -> Result<EcFault, SyntaxError> {
    let mut f = node.children()?;
    let fault = EcFault {
        fault_code: f.required("faultCode")?.any_string()?,
        fault_string: f.required("faultString")?.any_string()?,
        id: f.required("id")?.any_string()?,
        description: f.optional("description")?.map(|n| n.any_string()).transpose()?,
    };
    f.optional("serial")?
        .map(|n| n.integer(i64::from(i32::MIN), i64::from(i32::MAX)))
        .transpose()?;
    for name in ["originalFaultCode", "originalFaultString", "originalDescription"] {
        f.optional(name)?.map(|n| n.any_string()).transpose()?;
    }
    f.end()?;
    Ok(fault)
}

/// Reads the answer to a `paVerifyPaymentNoticeReq`.
pub fn read_verify_answer(envelope: &Envelope) -> Result<EcAnswer<VerifyAnswer>, AnswerError> {
    let c = match open(envelope, Operation::VerifyPaymentNotice)? {
        Ok(c) => c,
        Err(fault) => return Ok(EcAnswer::Ko(fault)),
    };
    read_payment_option(c).map(EcAnswer::Ok)
}

/// `paDemandPaymentNoticeResponse` on OK: the new notice and its one payment option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemandAnswer {
    pub qr_code: QrCode,
    pub option: VerifyAnswer,
}

/// Reads the answer to a `paDemandPaymentNoticeRequest`: on OK, the notice the EC created (which must
/// be its own) and what verify would have said of it.
pub fn read_demand_answer(envelope: &Envelope) -> Result<EcAnswer<DemandAnswer>, AnswerError> {
    let mut c = match open(envelope, Operation::DemandPaymentNotice)? {
        Ok(c) => c,
        Err(fault) => return Ok(EcAnswer::Ko(fault)),
    };
    let qr_code = c
        .optional("qrCode")?
        .map(|n| QrCode::read(&n))
        .transpose()?
        .ok_or(AnswerError::OkWithout("qrCode"))?;
    let option = read_payment_option(c)?;
    if option.fiscal_code_pa != qr_code.fiscal_code {
        return Err(AnswerError::OkWithout(
            "a qrCode.fiscalCode equal to fiscalCodePA",
        ));
    }
    Ok(EcAnswer::Ok(DemandAnswer { qr_code, option }))
}

/// What verify and demand answers share after `outcome`: `paymentList` with exactly one option and
/// the notice's descriptions.
fn read_payment_option(mut c: super::xml::Children<'_>) -> Result<VerifyAnswer, AnswerError> {
    let list = c.optional("paymentList")?;
    let payment_description = c
        .optional("paymentDescription")?
        .map(|n| n.string(1, 140))
        .transpose()?;
    let fiscal_code_pa = c
        .optional("fiscalCodePA")?
        .map(|n| n.fiscal_code_pa())
        .transpose()?;
    let company_name = c.optional("companyName")?.map(|n| n.string(1, 140)).transpose()?;
    let office_name = c.optional("officeName")?.map(|n| n.string(1, 140)).transpose()?;
    c.end()?;
    let list = list.ok_or(AnswerError::OkWithout("paymentList"))?;
    let mut l = list.children()?;
    let option = l.required("paymentOptionDescription")?;
    l.end()?;
    let mut o = option.children()?;
    let amount = o.required("amount")?.amount_not_zero()?;
    let options = o
        .required("options")?
        .enumeration(&["EQ", "LS", "GT", "ANY"])?
        .to_owned();
    let due_date = o.optional("dueDate")?.map(|n| n.date()).transpose()?;
    let detail_description = o
        .optional("detailDescription")?
        .map(|n| n.string(1, 140))
        .transpose()?;
    let all_ccp = o.required("allCCP")?.boolean()?;
    o.end()?;
    // SANP: "officeName optional, all other tags mandatory" on an OK verify.
    Ok(VerifyAnswer {
        amount,
        options,
        due_date,
        detail_description,
        all_ccp,
        payment_description: payment_description.ok_or(AnswerError::OkWithout("paymentDescription"))?,
        fiscal_code_pa: fiscal_code_pa.ok_or(AnswerError::OkWithout("fiscalCodePA"))?,
        company_name: company_name.ok_or(AnswerError::OkWithout("companyName"))?,
        office_name,
    })
}

/// Reads the answer to a `paGetPaymentReq` or `paGetPaymentV2Request` for the notice whose IUV is
/// `iuv`.
pub fn read_get_payment_answer(
    envelope: &Envelope,
    operation: Operation,
    iuv: &str,
) -> Result<EcAnswer<PaymentData>, AnswerError> {
    let v2 = operation == Operation::GetPaymentV2;
    let mut c = match open(envelope, operation)? {
        Ok(c) => c,
        Err(fault) => return Ok(EcAnswer::Ko(fault)),
    };
    let data = c.optional("data")?.ok_or(AnswerError::OkWithout("data"))?;
    c.end()?;
    let mut d = data.children()?;
    let iuv_answered = d.required("creditorReferenceId")?.string(1, 35)?;
    let amount = d.required("paymentAmount")?.amount_not_zero()?;
    let due_date = d.required("dueDate")?.date()?;
    d.optional("retentionDate")?.map(|n| n.date_time()).transpose()?;
    // Ignored by the node (SANP), but still typed by the schema.
    d.optional("lastPayment")?.map(|n| n.boolean()).transpose()?;
    let description = d.required("description")?.string(1, 140)?;
    let company_name = if v2 {
        Some(d.required("companyName")?.string(1, 140)?)
    } else {
        d.optional("companyName")?.map(|n| n.string(1, 140)).transpose()?
    };
    let office_name = d.optional("officeName")?.map(|n| n.string(1, 140)).transpose()?;
    let debtor = read_subject(&d.required("debtor")?)?;
    let transfers = read_transfers(&d.required("transferList")?, v2)?;
    let metadata = read_metadata(d.optional("metadata")?)?;
    d.end()?;

    if iuv_answered != iuv {
        return Err(AnswerError::IuvMismatch);
    }
    let sum: u64 = transfers.iter().map(|t| t.amount.cents()).sum();
    if sum != amount.cents() {
        return Err(AnswerError::TransfersDoNotAddUp {
            sum,
            amount: amount.cents(),
        });
    }
    let mut seen = [false; 6];
    for t in &transfers {
        if std::mem::replace(&mut seen[usize::from(t.id)], true) {
            return Err(AnswerError::DuplicateTransferId(t.id));
        }
    }
    Ok(EcAnswer::Ok(PaymentData {
        iuv: iuv_answered,
        amount,
        due_date,
        description,
        company_name,
        office_name,
        debtor,
        transfers,
        metadata,
    }))
}

fn read_transfers(list: &Node<'_>, v2: bool) -> Result<Vec<AnsweredTransfer>, SyntaxError> {
    read_transfer_list(list, v2, AnsweredCredit::Iban, |f| {
        let mut s = f.required("richiestaMarcaDaBollo")?.children()?;
        let stamp = AnsweredCredit::RevenueStamp {
            document_hash: s.required("hashDocumento")?.string(4, 72)?,
            stamp_type: s.required("tipoBollo")?.enumeration(&["01"])?.to_owned(),
            province: s.required("provinciaResidenza")?.country()?,
        };
        s.end()?;
        Ok(stamp)
    })
}

/// Reads the answer to a `paSendRTReq` or `paSendRTV2Request`.
pub fn read_send_rt_answer(envelope: &Envelope, operation: Operation) -> Result<EcAnswer<()>, AnswerError> {
    match open(envelope, operation)? {
        Ok(c) => {
            c.end()?;
            Ok(EcAnswer::Ok(()))
        }
        Err(fault) => Ok(EcAnswer::Ko(fault)),
    }
}

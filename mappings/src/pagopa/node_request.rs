//! The node's side of `paForNode`: the requests the Nodo dei Pagamenti sends to an EC, written by
//! construction. The node simulator drives payments with them, and because the EC side reads them
//! with [`super::read_request`], a request written here and read there must come back unchanged
//! (tested both ways, and against `paForNode.xsd`).
//!
//! The node writes its own prefix for the payload root and leaves every child unqualified, as the
//! schemas (no `elementFormDefault`) require.

use super::contract::{ContractError, Receipt, ReceiptVersion, TransferCredit, TransferType};
use super::get_payment::GetPaymentRequest;
use super::request::{Operation, QrCode, RequestHeader, write_metadata, write_subject};
use super::simple::{Amount, XsdDate, XsdDateTime, is_digits, xsd_length};
use super::verify::VerifyRequest;
use super::xml::XmlOut;
use super::{PA_NAMESPACE, receipt::ReceiptSemanticError};
use crate::soap::EnvelopeBuilder;

/// The prefix the simulated node writes (the real node uses generated `ns2`…`ns7`).
const NODE_PREFIX: &str = "nfpa";

fn open(operation: Operation, header: &RequestHeader) -> XmlOut {
    let mut out = XmlOut::root(NODE_PREFIX, PA_NAMESPACE, operation.request_element());
    out.leaf("idPA", &header.id_pa)
        .leaf("idBrokerPA", &header.id_broker_pa)
        .leaf("idStation", &header.id_station);
    out
}

fn close(out: XmlOut) -> String {
    EnvelopeBuilder::new().body(&out.finish())
}

fn check_header(header: &RequestHeader) -> Result<(), ContractError> {
    for (field, value) in [
        ("id_pa", &header.id_pa),
        ("id_broker_pa", &header.id_broker_pa),
        ("id_station", &header.id_station),
    ] {
        let n = xsd_length(value);
        if !(1..=35).contains(&n) {
            return Err(ContractError::new(field, "must be 1 to 35 characters"));
        }
    }
    Ok(())
}

fn check_qr(qr: &QrCode) -> Result<(), ContractError> {
    if !is_digits(&qr.fiscal_code, 11) {
        return Err(ContractError::new("qr_code.fiscal_code", "must be 11 digits"));
    }
    if !is_digits(&qr.notice_number, 18) {
        return Err(ContractError::new("qr_code.notice_number", "must be 18 digits"));
    }
    Ok(())
}

impl VerifyRequest {
    /// The `paVerifyPaymentNoticeReq` envelope the node sends.
    pub fn to_envelope(&self) -> Result<String, ContractError> {
        check_header(&self.header)?;
        check_qr(&self.qr_code)?;
        let mut out = open(Operation::VerifyPaymentNotice, &self.header);
        self.qr_code.write(&mut out);
        Ok(close(out))
    }
}

impl GetPaymentRequest {
    /// The `paGetPaymentReq` or `paGetPaymentV2Request` envelope the node sends.
    pub fn to_envelope(&self) -> Result<String, ContractError> {
        if !matches!(self.operation, Operation::GetPayment | Operation::GetPaymentV2) {
            return Err(ContractError::new(
                "operation",
                "must be paGetPayment or paGetPaymentV2",
            ));
        }
        check_header(&self.header)?;
        check_qr(&self.qr_code)?;
        if let Some(note) = &self.payment_note
            && !(1..=210).contains(&xsd_length(note))
        {
            return Err(ContractError::new("payment_note", "must be 1 to 210 characters"));
        }
        let mut out = open(self.operation, &self.header);
        self.qr_code.write(&mut out);
        out.opt_leaf("amount", self.amount)
            .opt_leaf("paymentNote", self.payment_note.as_deref())
            .opt_leaf(
                "transferType",
                self.transfer_type.map(|t| match t {
                    TransferType::Postal => "POSTAL",
                    TransferType::Pagopa => "PAGOPA",
                }),
            )
            .opt_leaf("dueDate", self.due_date);
        Ok(close(out))
    }
}

impl super::DemandPaymentRequest {
    /// The `paDemandPaymentNoticeRequest` envelope the node sends: the service's data go base64, as
    /// the PSP gave them.
    pub fn to_envelope(&self) -> Result<String, ContractError> {
        use base64::Engine as _;
        check_header(&self.header)?;
        for (field, value) in [
            ("service_id", &self.service_id),
            ("service_subject_id", &self.service_subject_id),
        ] {
            if xsd_length(value) != 5 {
                return Err(ContractError::new(field, "must be exactly 5 characters"));
            }
        }
        if self.service_data_xml.is_empty() {
            return Err(ContractError::new("service_data_xml", "must not be empty"));
        }
        let mut out = open(Operation::DemandPaymentNotice, &self.header);
        out.leaf("idServizio", &self.service_id)
            .leaf("idSoggettoServizio", &self.service_subject_id)
            .leaf(
                "datiSpecificiServizioRequest",
                base64::engine::general_purpose::STANDARD.encode(self.service_data_xml.as_bytes()),
            );
        Ok(close(out))
    }
}

/// Why a receipt cannot be sent: a field the schema would refuse, or a receipt that is not a
/// successful payment's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptWriteError {
    #[error("receipt: {0}")]
    Field(#[from] ContractError),
    #[error("receipt: {0}")]
    Semantic(#[from] ReceiptSemanticError),
}

impl Receipt {
    /// The `paSendRTReq` or `paSendRTV2Request` envelope (by [`Receipt::version`]) carrying this
    /// receipt to the EC `id_pa` through station `id_station`.
    pub fn to_envelope(&self) -> Result<String, ReceiptWriteError> {
        self.check_semantics()?;
        let header = RequestHeader {
            id_pa: self.id_pa.clone(),
            id_broker_pa: self.id_broker_pa.clone(),
            id_station: self.id_station.clone(),
        };
        check_header(&header)?;
        check_qr(&QrCode {
            fiscal_code: self.fiscal_code.clone(),
            notice_number: self.notice_number.clone(),
        })?;
        self.check_fields()?;
        let v2 = self.version == ReceiptVersion::PaSendRtV2;
        let operation = if v2 {
            Operation::SendRtV2
        } else {
            Operation::SendRt
        };
        let amount = |field: &str, cents: u64| {
            Amount::from_cents(cents).ok_or_else(|| ContractError::new(field, "amount out of range"))
        };
        let mut out = open(operation, &header);
        out.open("receipt")
            .leaf("receiptId", &self.receipt_id)
            .leaf("noticeNumber", &self.notice_number)
            .leaf("fiscalCode", &self.fiscal_code)
            .leaf("outcome", &self.outcome)
            .leaf("creditorReferenceId", &self.iuv)
            .leaf("paymentAmount", amount("amount_cents", self.amount_cents)?)
            .leaf("description", &self.description)
            .leaf("companyName", &self.company_name)
            .opt_leaf("officeName", self.office_name.as_deref());
        write_subject(&mut out, "debtor", &self.debtor);
        out.open("transferList");
        for (i, t) in self.transfers.iter().enumerate() {
            out.open("transfer")
                .leaf("idTransfer", t.id)
                .leaf(
                    "transferAmount",
                    amount(&format!("transfers[{i}].amount_cents"), t.amount_cents)?,
                )
                .leaf("fiscalCodePA", &t.fiscal_code);
            if v2 {
                out.opt_leaf("companyName", t.company_name.as_deref());
            }
            match &t.credit {
                TransferCredit::Iban(iban) => out.leaf("IBAN", iban),
                TransferCredit::RevenueStampAttachment(b64) if v2 => out.leaf("MBDAttachment", b64),
                TransferCredit::RevenueStampAttachment(_) => {
                    return Err(ContractError::new(
                        format!("transfers[{i}].credit"),
                        "a revenue stamp travels only in paSendRTV2",
                    )
                    .into());
                }
            };
            out.leaf("remittanceInformation", &t.remittance_information)
                .leaf("transferCategory", &t.category);
            write_metadata(&mut out, &t.metadata);
            out.close("transfer");
        }
        out.close("transferList")
            .leaf("idPSP", &self.psp.id)
            .opt_leaf("pspFiscalCode", self.psp.fiscal_code.as_deref())
            .opt_leaf("pspPartitaIVA", self.psp.vat_number.as_deref())
            .leaf("PSPCompanyName", &self.psp.company_name)
            .leaf("idChannel", &self.psp.channel_id)
            .leaf("channelDescription", &self.psp.channel_description);
        if let Some(payer) = &self.payer {
            write_subject(&mut out, "payer", payer);
        }
        out.opt_leaf("paymentMethod", self.payment_method.as_deref());
        if v2 {
            out.opt_leaf("paymentNote", self.payment_note.as_deref());
        }
        out.opt_leaf("fee", self.fee_cents.map(|c| amount("fee_cents", c)).transpose()?);
        if v2 {
            out.opt_leaf(
                "primaryCiIncurredFee",
                self.primary_ci_incurred_fee_cents
                    .map(|c| amount("primary_ci_incurred_fee_cents", c))
                    .transpose()?,
            )
            .opt_leaf("idBundle", self.id_bundle.as_deref())
            .opt_leaf("idCiBundle", self.id_ci_bundle.as_deref());
        }
        out.opt_leaf("paymentDateTime", self.payment_date_time.as_deref())
            .opt_leaf("applicationDate", self.application_date.as_deref())
            .opt_leaf("transferDate", self.transfer_date.as_deref());
        write_metadata(&mut out, &self.metadata);
        if self.stand_in {
            out.leaf("standIn", true);
        }
        out.close("receipt");
        Ok(close(out))
    }

    /// The field rules of `ctReceipt`/`ctReceiptV2` the writer cannot express by construction.
    fn check_fields(&self) -> Result<(), ContractError> {
        let text = |field: &str, value: &str, max: usize| {
            let n = xsd_length(value);
            if n == 0 || n > max {
                return Err(ContractError::new(
                    field,
                    format!("must be 1 to {max} characters"),
                ));
            }
            Ok(())
        };
        let opt = |field: &str, value: &Option<String>, max: usize| {
            value.as_deref().map_or(Ok(()), |v| text(field, v, max))
        };
        text("iuv", &self.iuv, 35)?;
        text("description", &self.description, 140)?;
        text("company_name", &self.company_name, 140)?;
        opt("office_name", &self.office_name, 140)?;
        self.debtor.validate("debtor")?;
        if let Some(payer) = &self.payer {
            payer.validate("payer")?;
        }
        if self.transfers.is_empty() || self.transfers.len() > 5 {
            return Err(ContractError::new("transfers", "must hold 1 to 5 transfers"));
        }
        for (i, t) in self.transfers.iter().enumerate() {
            let f = |name: &str| format!("transfers[{i}].{name}");
            if !(1..=5).contains(&t.id) {
                return Err(ContractError::new(f("id"), "must be 1 to 5"));
            }
            if t.amount_cents == 0 {
                return Err(ContractError::new(f("amount_cents"), "must be at least 1 cent"));
            }
            if !is_digits(&t.fiscal_code, 11) {
                return Err(ContractError::new(f("fiscal_code"), "must be 11 digits"));
            }
            opt(&f("company_name"), &t.company_name, 140)?;
            if let TransferCredit::Iban(iban) = &t.credit {
                text(&f("credit.iban"), iban, 35)?;
            }
            text(&f("remittance_information"), &t.remittance_information, 140)?;
            text(&f("category"), &t.category, 140)?;
            if t.metadata.len() > 15 {
                return Err(ContractError::new(f("metadata"), "at most 15 entries"));
            }
        }
        text("psp.id", &self.psp.id, 35)?;
        opt("psp.fiscal_code", &self.psp.fiscal_code, 70)?;
        opt("psp.vat_number", &self.psp.vat_number, 20)?;
        text("psp.company_name", &self.psp.company_name, 70)?;
        text("psp.channel_id", &self.psp.channel_id, 35)?;
        text("psp.channel_description", &self.psp.channel_description, 35)?;
        opt("payment_method", &self.payment_method, 35)?;
        opt("payment_note", &self.payment_note, 210)?;
        opt("id_bundle", &self.id_bundle, 70)?;
        opt("id_ci_bundle", &self.id_ci_bundle, 70)?;
        if let Some(d) = &self.payment_date_time
            && XsdDateTime::parse(d).is_none()
        {
            return Err(ContractError::new("payment_date_time", "must be an xsd:dateTime"));
        }
        for (field, value) in [
            ("application_date", &self.application_date),
            ("transfer_date", &self.transfer_date),
        ] {
            if let Some(d) = value
                && XsdDate::parse(d).is_none()
            {
                return Err(ContractError::new(field, "must be an xsd:date"));
            }
        }
        if self.metadata.len() > 15 {
            return Err(ContractError::new("metadata", "at most 15 entries"));
        }
        Ok(())
    }
}

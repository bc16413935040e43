//! `paGetPayment` and `paGetPaymentV2`: the PSP activates the payment and the node asks the EC for
//! the full position — IUV, amount, debtor and the 1 to 5 transfers that split it between
//! beneficiaries. The node checks that the transfers add up to the amount (pagopa.md §2.2), so the
//! builder refuses a position where they do not. V2 adds the choice, per transfer, between an IBAN
//! and an @e.bollo revenue stamp; V1 cannot express a stamp and is answered `PAA_SEMANTICA`.

use super::Operation;
use super::contract::{Credit, MapEntry, Payable, PositionRequest, Primitive, TransferType};
use super::notice::NoticeNumber;
use super::request::{QrCode, RequestHeader, write_metadata, write_subject};
use super::response::{ResponseError, close, ok_root, validated};
use super::simple::{Amount, XsdDate};
use super::verify::position_request;
use super::xml::{Node, SyntaxError};

/// Metadata key of the alternate (postal) account for payments started on pagoPA's front-ends.
pub const IBAN_APPOGGIO: &str = "IBANAPPOGGIO";

/// A `paGetPaymentReq` or `paGetPaymentV2Request` (same fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetPaymentRequest {
    /// [`Operation::GetPayment`] or [`Operation::GetPaymentV2`].
    pub operation: Operation,
    pub header: RequestHeader,
    pub qr_code: QrCode,
    /// The amount the PSP is collecting, if it says.
    pub amount: Option<Amount>,
    /// Free text (Checkout's `idCart`), up to 210 characters.
    pub payment_note: Option<String>,
    pub transfer_type: Option<TransferType>,
    pub due_date: Option<XsdDate>,
}

impl GetPaymentRequest {
    pub(crate) fn read(root: &Node<'_>, operation: Operation) -> Result<GetPaymentRequest, SyntaxError> {
        let mut c = root.children()?;
        let header = RequestHeader::read(&mut c)?;
        let qr_code = QrCode::read(&c.required("qrCode")?)?;
        let request = GetPaymentRequest {
            operation,
            header,
            qr_code,
            amount: c.optional("amount")?.map(|n| n.amount()).transpose()?,
            payment_note: c.optional("paymentNote")?.map(|n| n.string(1, 210)).transpose()?,
            transfer_type: c
                .optional("transferType")?
                .map(|n| n.enumeration(&["POSTAL", "PAGOPA"]))
                .transpose()?
                .map(|t| {
                    if t == "POSTAL" {
                        TransferType::Postal
                    } else {
                        TransferType::Pagopa
                    }
                }),
            due_date: c.optional("dueDate")?.map(|n| n.date()).transpose()?,
        };
        c.end()?;
        Ok(request)
    }

    pub fn is_v2(&self) -> bool {
        self.operation == Operation::GetPaymentV2
    }

    /// The `pagopa.position.get` request for the backend.
    pub fn position_request(&self) -> PositionRequest {
        let primitive = if self.is_v2() {
            Primitive::PaGetPaymentV2
        } else {
            Primitive::PaGetPayment
        };
        PositionRequest {
            amount_cents: self.amount.map(Amount::cents),
            payment_note: self.payment_note.clone(),
            transfer_type: self.transfer_type,
            due_date: self.due_date.map(|d| d.to_string()),
            ..position_request(primitive, &self.header, &self.qr_code)
        }
    }

    /// The OK answer for a payable position. The account written for each transfer follows
    /// `transferType` (gpd-payments' rule): POSTAL credits the postal account when the transfer has
    /// one; PAGOPA credits the bank account and names the postal one in `IBANAPPOGGIO` metadata.
    pub fn ok(&self, position: &Payable) -> Result<String, ResponseError> {
        validated(position)?;
        let notice = NoticeNumber::parse(&self.qr_code.notice_number).expect("checked by the reader");
        if position.iuv != notice.iuv() {
            return Err(ResponseError::IuvMismatch);
        }
        if !self.is_v2() && position.has_revenue_stamp() {
            return Err(ResponseError::RevenueStampInV1);
        }
        let amount = Amount::from_cents(position.amount_cents).ok_or(ResponseError::AmountOutOfRange)?;
        let mut out = ok_root(self.operation);
        out.open("data")
            .leaf("creditorReferenceId", &position.iuv)
            .leaf("paymentAmount", amount)
            .leaf("dueDate", &position.due_date)
            .opt_leaf("retentionDate", position.retention_date.as_deref())
            .leaf("description", &position.description)
            .leaf("companyName", &position.company_name)
            .opt_leaf("officeName", position.office_name.as_deref());
        write_subject(&mut out, "debtor", &position.debtor);
        out.open("transferList");
        for (i, t) in position.transfers.iter().enumerate() {
            let amount = Amount::from_cents(t.amount_cents).ok_or(ResponseError::AmountOutOfRange)?;
            out.open("transfer")
                .leaf("idTransfer", i + 1)
                .leaf("transferAmount", amount)
                .leaf("fiscalCodePA", &t.fiscal_code);
            if self.is_v2() {
                out.opt_leaf("companyName", t.company_name.as_deref());
            }
            let mut metadata = t.metadata.clone();
            match &t.credit {
                Credit::Account { iban, postal_iban } => {
                    let credited = match (self.transfer_type, postal_iban) {
                        (Some(TransferType::Postal), Some(postal)) => postal,
                        (Some(TransferType::Pagopa), Some(postal)) => {
                            metadata.push(MapEntry::new(IBAN_APPOGGIO, postal.clone()));
                            iban
                        }
                        _ => iban,
                    };
                    out.leaf("IBAN", credited);
                }
                Credit::RevenueStamp {
                    document_hash,
                    province,
                } => {
                    out.open("richiestaMarcaDaBollo")
                        .leaf("hashDocumento", document_hash)
                        .leaf("tipoBollo", "01")
                        .leaf("provinciaResidenza", province)
                        .close("richiestaMarcaDaBollo");
                }
            }
            if metadata.len() > 15 {
                return Err(ResponseError::TooMuchMetadata(i));
            }
            out.leaf("remittanceInformation", &t.remittance_information)
                .leaf("transferCategory", &t.category);
            write_metadata(&mut out, &metadata);
            out.close("transfer");
        }
        out.close("transferList");
        write_metadata(&mut out, &position.metadata);
        out.close("data");
        Ok(close(out))
    }
}

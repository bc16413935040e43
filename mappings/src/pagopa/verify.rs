//! `paVerifyPaymentNotice`: the node asks whether a notice can be paid, and for how much, before the
//! PSP shows it to the payer. The answer has exactly one payment option (`paymentList` holds one
//! `paymentOptionDescription`, `options` = `EQ`), the amount updated to today, and — although the XSD
//! makes them optional — `paymentDescription`, `fiscalCodePA` and `companyName`, which the node
//! requires in practice (pagopa.md §2.2).

use super::Operation;
use super::contract::{Payable, PositionRequest, Primitive};
use super::notice::NoticeNumber;
use super::request::{QrCode, RequestHeader};
use super::response::{ResponseError, ok_root, validated};
use super::simple::Amount;
use super::xml::{Node, SyntaxError, XmlOut};

/// A `paVerifyPaymentNoticeReq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRequest {
    pub header: RequestHeader,
    pub qr_code: QrCode,
}

impl VerifyRequest {
    pub(crate) fn read(root: &Node<'_>) -> Result<VerifyRequest, SyntaxError> {
        let mut c = root.children()?;
        let header = RequestHeader::read(&mut c)?;
        let qr_code = QrCode::read(&c.required("qrCode")?)?;
        c.end()?;
        Ok(VerifyRequest { header, qr_code })
    }

    /// The `pagopa.position.get` request for the backend.
    pub fn position_request(&self) -> PositionRequest {
        position_request(Primitive::PaVerifyPaymentNotice, &self.header, &self.qr_code)
    }

    /// The OK answer for a payable position.
    pub fn ok(&self, position: &Payable) -> Result<String, ResponseError> {
        validated(position)?;
        let mut out = ok_root(Operation::VerifyPaymentNotice);
        write_payment_list(&mut out, position)?;
        out.leaf("paymentDescription", &position.description)
            .leaf("fiscalCodePA", &self.qr_code.fiscal_code)
            .leaf("companyName", &position.company_name)
            .opt_leaf("officeName", position.office_name.as_deref());
        Ok(super::response::close(out))
    }
}

/// `paymentList` with its one option (shared with paDemandPaymentNotice).
pub(crate) fn write_payment_list(out: &mut XmlOut, position: &Payable) -> Result<(), ResponseError> {
    let amount = Amount::from_cents(position.amount_cents).ok_or(ResponseError::AmountOutOfRange)?;
    out.open("paymentList")
        .open("paymentOptionDescription")
        .leaf("amount", amount)
        .leaf("options", "EQ")
        .leaf("dueDate", &position.due_date)
        .opt_leaf("detailDescription", position.detail_description.as_deref())
        .leaf("allCCP", position.all_ccp())
        .close("paymentOptionDescription")
        .close("paymentList");
    Ok(())
}

pub(crate) fn position_request(primitive: Primitive, header: &RequestHeader, qr: &QrCode) -> PositionRequest {
    let notice = NoticeNumber::parse(&qr.notice_number).expect("the reader checked 18 digits");
    PositionRequest {
        primitive,
        id_pa: header.id_pa.clone(),
        id_broker_pa: header.id_broker_pa.clone(),
        id_station: header.id_station.clone(),
        fiscal_code: qr.fiscal_code.clone(),
        notice_number: qr.notice_number.clone(),
        iuv: notice.iuv().to_owned(),
        amount_cents: None,
        payment_note: None,
        transfer_type: None,
        due_date: None,
    }
}

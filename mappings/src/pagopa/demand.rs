//! `paDemandPaymentNotice`: a citizen asks, through a PSP, for a new notice for a service of the EC's
//! catalogue (pagoPA "modello 4"). The service's data arrive base64-encoded as an XML document per
//! the service's catalogue XSD; a payload that is not such a document breaks a rule beyond the
//! request's own XSD (`PAA_SINTASSI_EXTRAXSD`, the one primitive whose fault table lists both).

use snodo_security::xml::{Limits, parse};

use super::Operation;
use super::contract::{DemandRequest, Payable};
use super::request::{QrCode, RequestHeader};
use super::response::{ResponseError, close, ok_root, validated};
use super::verify::write_payment_list;
use super::xml::{Node, SyntaxError};

/// A `paDemandPaymentNoticeRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemandPaymentRequest {
    pub header: RequestHeader,
    /// `idServizio`, exactly 5 characters.
    pub service_id: String,
    /// `idSoggettoServizio`, exactly 5 characters.
    pub service_subject_id: String,
    /// The decoded `datiSpecificiServizioRequest`: a well-formed XML document.
    pub service_data_xml: String,
}

impl DemandPaymentRequest {
    pub(crate) fn read(root: &Node<'_>) -> Result<DemandPaymentRequest, SyntaxError> {
        let mut c = root.children()?;
        let header = RequestHeader::read(&mut c)?;
        let service_id = c.required("idServizio")?.string(5, 5)?;
        let service_subject_id = c.required("idSoggettoServizio")?.string(5, 5)?;
        let data = c.required("datiSpecificiServizioRequest")?;
        let bytes = data.base64()?;
        c.end()?;
        let xml = String::from_utf8(bytes)
            .map_err(|_| SyntaxError::extra_xsd(data.path(), "the service data are not UTF-8 text"))?;
        parse(xml.as_bytes(), &Limits::default()).map_err(|e| {
            SyntaxError::extra_xsd(
                data.path(),
                format!("the service data are not an XML document: {e}"),
            )
        })?;
        Ok(DemandPaymentRequest {
            header,
            service_id,
            service_subject_id,
            service_data_xml: xml,
        })
    }

    /// The `pagopa.notice.demand` request for the backend.
    pub fn demand_request(&self) -> DemandRequest {
        DemandRequest {
            id_pa: self.header.id_pa.clone(),
            id_broker_pa: self.header.id_broker_pa.clone(),
            id_station: self.header.id_station.clone(),
            service_id: self.service_id.clone(),
            service_subject_id: self.service_subject_id.clone(),
            service_data_xml: self.service_data_xml.clone(),
        }
    }

    /// The OK answer with the new notice (the position's `notice_number`, of the EC `idPA`).
    pub fn ok(&self, position: &Payable) -> Result<String, ResponseError> {
        validated(position)?;
        if !super::simple::is_digits(&self.header.id_pa, 11) {
            return Err(
                super::contract::ContractError::new("id_pa", "fiscalCodePA must be 11 digits").into(),
            );
        }
        let notice_number = position
            .notice_number
            .clone()
            .ok_or(ResponseError::MissingNoticeNumber)?;
        let mut out = ok_root(Operation::DemandPaymentNotice);
        QrCode {
            fiscal_code: self.header.id_pa.clone(),
            notice_number,
        }
        .write(&mut out);
        write_payment_list(&mut out, position)?;
        out.leaf("paymentDescription", &position.description)
            .leaf("fiscalCodePA", &self.header.id_pa)
            .leaf("companyName", &position.company_name)
            .opt_leaf("officeName", position.office_name.as_deref());
        Ok(close(out))
    }
}

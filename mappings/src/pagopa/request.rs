//! The node's requests to the EC: which operation a payload is, the ids every request carries, and
//! the pieces several requests share (`qrCode`, `ctSubject`, `ctMetadata`), read and written.

use snodo_security::xml::Document;

use super::PA_NAMESPACE;
use super::contract::{EntityType, MapEntry, Subject};
use super::fault::{FaultBean, PaFaultCode};
use super::xml::{Node, SyntaxError, XmlOut};
use crate::soap::{Dispatcher, QName};

/// The six operations of `paForNode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    VerifyPaymentNotice,
    GetPayment,
    GetPaymentV2,
    SendRt,
    SendRtV2,
    DemandPaymentNotice,
}

impl Operation {
    pub const ALL: [Operation; 6] = [
        Operation::VerifyPaymentNotice,
        Operation::GetPayment,
        Operation::GetPaymentV2,
        Operation::SendRt,
        Operation::SendRtV2,
        Operation::DemandPaymentNotice,
    ];

    /// The operation name, also the `SOAPAction`.
    pub fn name(self) -> &'static str {
        match self {
            Operation::VerifyPaymentNotice => "paVerifyPaymentNotice",
            Operation::GetPayment => "paGetPayment",
            Operation::GetPaymentV2 => "paGetPaymentV2",
            Operation::SendRt => "paSendRT",
            Operation::SendRtV2 => "paSendRTV2",
            Operation::DemandPaymentNotice => "paDemandPaymentNotice",
        }
    }

    /// The request's root element (the names are not regular: pagopa.md §1).
    pub fn request_element(self) -> &'static str {
        match self {
            Operation::VerifyPaymentNotice => "paVerifyPaymentNoticeReq",
            Operation::GetPayment => "paGetPaymentReq",
            Operation::GetPaymentV2 => "paGetPaymentV2Request",
            Operation::SendRt => "paSendRTReq",
            Operation::SendRtV2 => "paSendRTV2Request",
            Operation::DemandPaymentNotice => "paDemandPaymentNoticeRequest",
        }
    }

    pub fn response_element(self) -> &'static str {
        match self {
            Operation::VerifyPaymentNotice => "paVerifyPaymentNoticeRes",
            Operation::GetPayment => "paGetPaymentRes",
            Operation::GetPaymentV2 => "paGetPaymentV2Response",
            Operation::SendRt => "paSendRTRes",
            Operation::SendRtV2 => "paSendRTV2Response",
            Operation::DemandPaymentNotice => "paDemandPaymentNoticeResponse",
        }
    }

    pub fn request_name(self) -> QName {
        QName::new(PA_NAMESPACE, self.request_element())
    }

    /// Routes every request element to its operation.
    pub fn dispatcher() -> Dispatcher<Operation> {
        Operation::ALL
            .into_iter()
            .fold(Dispatcher::new(), |d, op| d.route(op.request_name(), op))
    }
}

/// `idPA`, `idBrokerPA`, `idStation`: who the node is calling, checked against the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    pub id_pa: String,
    pub id_broker_pa: String,
    pub id_station: String,
}

/// What this endpoint is, for the caller-configuration checks.
#[derive(Debug, Clone, Copy)]
pub struct Station<'a> {
    /// Fiscal codes of the ECs this station serves.
    pub fiscal_codes: &'a [&'a str],
    pub broker_id: &'a str,
    pub station_id: &'a str,
}

impl RequestHeader {
    /// The caller-configuration checks in the order the fault table lists them: the domain (`idPA`
    /// and, when the request names one, the notice's EC), the intermediary, the station.
    pub fn check(&self, station: &Station<'_>, notice_ec: Option<&str>) -> Result<(), FaultBean> {
        let served = |cf: &str| station.fiscal_codes.contains(&cf);
        let fault = |code| Err(FaultBean::new(code, self.fault_id(station)));
        if !served(&self.id_pa) || notice_ec.is_some_and(|cf| !served(cf)) {
            return fault(PaFaultCode::IdDominioErrato);
        }
        if self.id_broker_pa != station.broker_id {
            return fault(PaFaultCode::IdIntermediarioErrato);
        }
        if self.id_station != station.station_id {
            return fault(PaFaultCode::StazioneIntErrata);
        }
        Ok(())
    }

    /// The fault's `id`: the addressed EC when it is one of ours, else the broker.
    fn fault_id(&self, station: &Station<'_>) -> String {
        if station.fiscal_codes.contains(&self.id_pa.as_str()) {
            self.id_pa.clone()
        } else {
            station.broker_id.to_owned()
        }
    }

    pub(crate) fn read(children: &mut super::xml::Children<'_>) -> Result<RequestHeader, SyntaxError> {
        Ok(RequestHeader {
            id_pa: children.required("idPA")?.string(1, 35)?,
            id_broker_pa: children.required("idBrokerPA")?.string(1, 35)?,
            id_station: children.required("idStation")?.string(1, 35)?,
        })
    }
}

/// `ctQrCode`: the EC's fiscal code and the notice number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCode {
    pub fiscal_code: String,
    pub notice_number: String,
}

impl QrCode {
    pub(crate) fn read(node: &Node<'_>) -> Result<QrCode, SyntaxError> {
        let mut c = node.children()?;
        let qr = QrCode {
            fiscal_code: c.required("fiscalCode")?.fiscal_code_pa()?,
            notice_number: c.required("noticeNumber")?.notice_number()?,
        };
        c.end()?;
        Ok(qr)
    }

    pub(crate) fn write(&self, out: &mut XmlOut) {
        out.open("qrCode")
            .leaf("fiscalCode", &self.fiscal_code)
            .leaf("noticeNumber", &self.notice_number)
            .close("qrCode");
    }
}

/// The `idPA` of a payload, read leniently for a fault's `id` when the request itself is refused.
pub(crate) fn lenient_id_pa(doc: &Document, payload: snodo_security::xml::NodeId) -> Option<String> {
    let first = doc.child_elements(payload).next()?;
    let element = doc.element(first)?;
    if !element.name().is(None, "idPA") {
        return None;
    }
    let text = doc.text_content(first);
    (!text.is_empty() && text.chars().count() <= 35).then_some(text)
}

pub(crate) fn read_subject(node: &Node<'_>) -> Result<Subject, SyntaxError> {
    let mut c = node.children()?;
    let mut id = c.required("uniqueIdentifier")?.children()?;
    let entity_type = match id
        .required("entityUniqueIdentifierType")?
        .enumeration(&["F", "G"])?
    {
        "F" => EntityType::F,
        _ => EntityType::G,
    };
    let unique_identifier = id.required("entityUniqueIdentifierValue")?.string(2, 16)?;
    id.end()?;
    let subject = Subject {
        entity_type,
        unique_identifier,
        full_name: c.required("fullName")?.string(1, 70)?,
        street_name: c.optional("streetName")?.map(|n| n.string(1, 70)).transpose()?,
        civic_number: c.optional("civicNumber")?.map(|n| n.string(1, 16)).transpose()?,
        postal_code: c.optional("postalCode")?.map(|n| n.string(1, 16)).transpose()?,
        city: c.optional("city")?.map(|n| n.string(1, 35)).transpose()?,
        state_province_region: c
            .optional("stateProvinceRegion")?
            .map(|n| n.string(1, 35))
            .transpose()?,
        country: c.optional("country")?.map(|n| n.country()).transpose()?,
        email: c.optional("e-mail")?.map(|n| n.email()).transpose()?,
    };
    c.end()?;
    Ok(subject)
}

pub(crate) fn write_subject(out: &mut XmlOut, element: &str, s: &Subject) {
    out.open(element)
        .open("uniqueIdentifier")
        .leaf("entityUniqueIdentifierType", s.entity_type.code())
        .leaf("entityUniqueIdentifierValue", &s.unique_identifier)
        .close("uniqueIdentifier")
        .leaf("fullName", &s.full_name)
        .opt_leaf("streetName", s.street_name.as_deref())
        .opt_leaf("civicNumber", s.civic_number.as_deref())
        .opt_leaf("postalCode", s.postal_code.as_deref())
        .opt_leaf("city", s.city.as_deref())
        .opt_leaf("stateProvinceRegion", s.state_province_region.as_deref())
        .opt_leaf("country", s.country.as_deref())
        .opt_leaf("e-mail", s.email.as_deref())
        .close(element);
}

pub(crate) fn read_metadata(node: Option<Node<'_>>) -> Result<Vec<MapEntry>, SyntaxError> {
    let Some(node) = node else { return Ok(Vec::new()) };
    let mut c = node.children()?;
    let entries = c
        .repeated("mapEntry", 1, 15)?
        .iter()
        .map(|e| {
            let mut kv = e.children()?;
            let entry = MapEntry::new(
                kv.required("key")?.string(1, 140)?,
                kv.required("value")?.string(1, 140)?,
            );
            kv.end()?;
            Ok(entry)
        })
        .collect::<Result<Vec<_>, SyntaxError>>()?;
    c.end()?;
    Ok(entries)
}

pub(crate) fn write_metadata(out: &mut XmlOut, entries: &[MapEntry]) {
    if entries.is_empty() {
        return;
    }
    out.open("metadata");
    for e in entries {
        out.open("mapEntry")
            .leaf("key", &e.key)
            .leaf("value", &e.value)
            .close("mapEntry");
    }
    out.close("metadata");
}

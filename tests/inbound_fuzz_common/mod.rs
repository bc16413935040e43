//! What the inbound fuzz tests share: valid messages for each inbound endpoint, written by Snodo's
//! own node-side writers, so that garbage can be interleaved with messages that must still become
//! their events.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use snodo_mappings::pagopa::contract::{Receipt, ReceiptVersion};
use snodo_mappings::pagopa::{PaRequest, QrCode, RequestHeader, VerifyRequest, read_request};
use snodo_mappings::soap::read_envelope;
use snodo_security::xml::Limits;

pub const TENANT: &str = "015146";
pub const EC_FISCAL_CODE: &str = "01199250158";
pub const STATION: &str = "01199250158_01";
pub const ANPR_NOTIFICATION_NAMESPACE: &str = "http://sogei.it/ANPR/N000AnprService";

pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_owned()
}

/// `shared/` beside the repository: the specifications and fixtures.
pub fn shared() -> PathBuf {
    repository().join("../shared")
}

fn header() -> RequestHeader {
    RequestHeader {
        id_pa: EC_FISCAL_CODE.into(),
        id_broker_pa: EC_FISCAL_CODE.into(),
        id_station: STATION.into(),
    }
}

/// A `paVerifyPaymentNoticeReq` for notice `notice_number` (18 digits) of the development EC.
pub fn verify_request(notice_number: &str) -> String {
    VerifyRequest {
        header: header(),
        qr_code: QrCode {
            fiscal_code: EC_FISCAL_CODE.into(),
            notice_number: notice_number.into(),
        },
    }
    .to_envelope()
    .expect("a valid request")
}

/// A successful payment's receipt for the development station, `paSendRTV2Request` or
/// `paSendRTReq`, with its own `receipt_id` (the event's identity): the pagoPA mock EC's example
/// receipt, addressed to this station and written by the node-side writer.
pub fn receipt(receipt_id: &str, v2: bool) -> String {
    let example = std::fs::read(shared().join("specs/pagopa/examples/pagopa-mock-ec/paSendRTReq_avv4.xml"))
        .expect("the pagoPA mock EC's example receipt in shared/specs");
    let envelope = read_envelope(&example, &Limits::default()).expect("a SOAP envelope");
    let Ok(PaRequest::SendRt(mut receipt)) = read_request(&envelope) else {
        panic!("the example is not a receipt");
    };
    let receipt: &mut Receipt = &mut receipt;
    receipt.id_pa = EC_FISCAL_CODE.into();
    receipt.id_broker_pa = EC_FISCAL_CODE.into();
    receipt.id_station = STATION.into();
    receipt.fiscal_code = EC_FISCAL_CODE.into();
    receipt.receipt_id = receipt_id.into();
    if v2 {
        receipt.version = ReceiptVersion::PaSendRtV2;
    }
    receipt.to_envelope().expect("a receipt the writer accepts")
}

/// A `RichiestaN000` push of notification `id` (digits) of kind `kind` for `tenant`.
pub fn anpr_push(tenant: &str, kind: &str, id: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<n:RichiestaN000 xmlns:n="{ANPR_NOTIFICATION_NAMESPACE}"><testataNotifica><tipoNotifica>{kind}</tipoNotifica>
<codMittente>ANPR00</codMittente><codDestinatario>{tenant}</codDestinatario>
<dataOraRichiesta>2025-03-14T10:00:00</dataOraRichiesta><idOperazioneANPR>{id}</idOperazioneANPR></testataNotifica>
<contenuto>PE4wMTAvPg==</contenuto></n:RichiestaN000></soapenv:Body></soapenv:Envelope>"#
    )
}

//! paSendRT / paSendRTV2 into the `pagopa.receipt.received` event: the official examples, the
//! deterministic message id, the semantic checks, V2's stamp attachment, and the answers.

mod pagopa_common;

use pagopa_common::*;
use snodo_mappings::pagopa::contract::{Receipt, ReceiptVersion, TransferCredit};
use snodo_mappings::pagopa::{
    FaultBean, Operation, PaFaultCode, PaRequest, ReceiptSemanticError, ko, read_request, receipt_ok,
};
use uuid::Uuid;

const NS: Uuid = Uuid::from_u128(0x6b1f_3f4e_2a51_4c0e_9a4e_8d9c_5e37_0b12);

fn receipt(xml: &str) -> Receipt {
    match read_request(&envelope(xml)) {
        Ok(PaRequest::SendRt(r)) => *r,
        other => panic!("not a receipt: {other:?}"),
    }
}

#[test]
fn the_mock_ec_receipt_is_read_field_for_field() {
    let r = receipt(&mock_ec("paSendRTReq_avv4.xml"));
    assert_eq!(r.version, ReceiptVersion::PaSendRt);
    assert_eq!(r.receipt_id, "f43cf6263ddb47248222b039f6d1f1f5");
    assert_eq!(r.notice_number, "311018351493172600");
    assert_eq!((r.amount_cents, r.fee_cents), (1000, Some(200)));
    assert_eq!(
        r.transfers[0].credit,
        TransferCredit::Iban("IT45R0760103200000000001016".into())
    );
    assert_eq!(r.psp.vat_number.as_deref(), Some("piva700000000001"));
    assert_eq!(r.payer.as_ref().unwrap().country.as_deref(), Some("IT"));
    assert_eq!(r.payment_date_time.as_deref(), Some("2021-03-25T17:48:22"));
    assert_eq!(r.metadata[0].value, "22");
    assert!(!r.stand_in);
    r.check_semantics().unwrap();
    // The event body is strict JSON of the contract and survives a round trip.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(serde_json::from_value::<Receipt>(json).unwrap(), r);
}

#[test]
fn the_govpay_receipt_is_read_after_substitution() {
    let r = receipt(&govpay("paSendRTReq.xml", GOVPAY_VALUES));
    assert_eq!(r.iuv, "01000000000000144");
    assert_eq!(r.amount_cents, 10050);
    assert_eq!(r.debtor.full_name, "Mario Rossi");
    r.check_semantics().unwrap();
}

#[test]
fn the_message_id_depends_on_the_receipt_identity_only() {
    let a = receipt(&mock_ec("paSendRTReq_avv4.xml"));
    let mut retried = a.clone();
    retried.stand_in = true;
    retried.psp.channel_description = "another".into();
    assert_eq!(a.message_id(&NS), retried.message_id(&NS));
    for edit in [
        |r: &mut Receipt| r.id_pa = "88888888888".into(),
        |r: &mut Receipt| r.fiscal_code = "88888888888".into(),
        |r: &mut Receipt| r.iuv = "other".into(),
        |r: &mut Receipt| r.receipt_id = "other".into(),
    ] {
        let mut other = a.clone();
        edit(&mut other);
        assert_ne!(a.message_id(&NS), other.message_id(&NS));
    }
    // Separators inside identifiers cannot make two receipts collide.
    let mut x = a.clone();
    x.iuv = "a/b".into();
    x.receipt_id = "c".into();
    let mut y = a.clone();
    y.iuv = "a".into();
    y.receipt_id = "b/c".into();
    assert_ne!(x.message_id(&NS), y.message_id(&NS));
    assert_eq!(a.message_id(&NS).get_version_num(), 5);
}

fn v2_receipt_xml(transfer_credit: &str) -> String {
    mock_ec("paSendRTReq_avv4.xml")
        .replace("paSendRTReq", "paSendRTV2Request")
        .replace("<IBAN>IT45R0760103200000000001016</IBAN>", transfer_credit)
        .replace("<fee>2.00</fee>", "<paymentNote>idCart 1</paymentNote><fee>2.00</fee><primaryCiIncurredFee>0.50</primaryCiIncurredFee><idBundle>b1</idBundle>")
        .replace("</metadata>", "</metadata><standIn>true</standIn>")
}

#[test]
fn a_v2_receipt_carries_the_stamp_attachment_and_stand_in() {
    let xml = v2_receipt_xml("<MBDAttachment>PG1hcmNhRGFCb2xsbz48L21hcmNhRGFCb2xsbz4=</MBDAttachment>");
    validate_payload(pa_schema(), &xml).unwrap();
    let r = receipt(&xml);
    assert_eq!(r.version, ReceiptVersion::PaSendRtV2);
    assert_eq!(
        r.transfers[0].credit,
        TransferCredit::RevenueStampAttachment("PG1hcmNhRGFCb2xsbz48L21hcmNhRGFCb2xsbz4=".into())
    );
    assert_eq!(r.payment_note.as_deref(), Some("idCart 1"));
    assert_eq!(r.primary_ci_incurred_fee_cents, Some(50));
    assert!(r.stand_in);
    // A V1 receipt cannot carry the attachment.
    let v1 = mock_ec("paSendRTReq_avv4.xml").replace(
        "<IBAN>IT45R0760103200000000001016</IBAN>",
        "<MBDAttachment>PG1hcmNhRGFCb2xsbz48L21hcmNhRGFCb2xsbz4=</MBDAttachment>",
    );
    assert!(validate_payload(pa_schema(), &v1).is_err());
    assert!(read_request(&envelope(&v1)).is_err());
}

#[test]
fn semantic_checks_catch_what_the_xsd_cannot() {
    let base = receipt(&mock_ec("paSendRTReq_avv4.xml"));
    let mut ko_outcome = base.clone();
    ko_outcome.outcome = "KO".into();
    assert_eq!(
        ko_outcome.check_semantics(),
        Err(ReceiptSemanticError::OutcomeNotOk)
    );
    let mut sum = base.clone();
    sum.amount_cents = 1001;
    assert!(matches!(
        sum.check_semantics(),
        Err(ReceiptSemanticError::TransfersDoNotAddUp { .. })
    ));
    let mut dup = base.clone();
    let mut second = dup.transfers[0].clone();
    second.amount_cents = 500;
    dup.transfers[0].amount_cents = 500;
    dup.transfers.push(second);
    assert_eq!(
        dup.check_semantics(),
        Err(ReceiptSemanticError::DuplicateTransferId)
    );
}

#[test]
fn receipt_answers_validate() {
    for op in [Operation::SendRt, Operation::SendRtV2] {
        validate_payload(pa_schema(), &receipt_ok(op)).unwrap();
        for code in [
            PaFaultCode::ReceiptDuplicata,
            PaFaultCode::Semantica,
            PaFaultCode::SystemError,
        ] {
            let xml = ko(op, &FaultBean::new(code, "77777777777"));
            validate_payload(pa_schema(), &xml).unwrap();
            assert!(xml.contains(code.code()));
        }
    }
}

#[test]
fn receipt_debug_never_shows_personal_data() {
    let r = receipt(&mock_ec("paSendRTReq_avv4.xml"));
    let shown = format!("{:?}", r.debtor);
    assert!(
        !shown.contains("77777777777") && !shown.contains("name"),
        "{shown}"
    );
}

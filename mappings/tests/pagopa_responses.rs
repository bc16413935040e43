//! Every answer Snodo writes to the node validates against `paForNode.xsd` — with the crate's
//! validator and with `xmllint` — and the builders refuse positions the node would reject.

mod pagopa_common;

use pagopa_common::*;
use snodo_mappings::pagopa::contract::{Credit, MapEntry, PaymentPosition, TransferType};
use snodo_mappings::pagopa::{
    FaultBean, IBAN_APPOGGIO, Operation, PaFaultCode, PaRequest, ResponseError, answer_position, ko,
    read_request, receipt_ok,
};

fn request(xml: &str) -> PaRequest {
    read_request(&envelope(xml)).expect("a valid request")
}

fn verify_request() -> PaRequest {
    request(&govpay("paVerifyPaymentNoticeReq.xml", GOVPAY_VALUES))
}

fn get_payment_request(v2: bool, transfer_type: &str) -> PaRequest {
    let xml = govpay("paGetPaymentReq.xml", GOVPAY_VALUES).replace("PAGOPA", transfer_type);
    let xml = if v2 {
        xml.replace("paGetPaymentReq", "paGetPaymentV2Request")
    } else {
        xml
    };
    request(&xml)
}

fn demand_request() -> PaRequest {
    let data =
        base64_of("<datiSpecifici xmlns=\"http://example.it/servizio\"><anno>2025</anno></datiSpecifici>");
    request(&format!(
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
        <p:paDemandPaymentNoticeRequest xmlns:p="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd">
        <idPA>01199250158</idPA><idBrokerPA>01199250158</idBrokerPA><idStation>01199250158_01</idStation>
        <idServizio>00042</idServizio><idSoggettoServizio>00001</idSoggettoServizio>
        <datiSpecificiServizioRequest>{data}</datiSpecificiServizioRequest>
        </p:paDemandPaymentNoticeRequest></s:Body></s:Envelope>"#
    ))
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn stamp_payable() -> snodo_mappings::pagopa::contract::Payable {
    let mut p = payable();
    p.transfers[1].credit = Credit::RevenueStamp {
        document_hash: "wHpFSLCGZjIvNSXxqtGbxg7275t446DRTk5ZrsdUQ6E=".into(),
        province: "MI".into(),
    };
    p
}

/// Every response the tests write, named, for the one `xmllint` run.
fn all_responses() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let p = PaymentPosition::Payable(payable());
    out.push(("verify-ok".into(), answer_position(&verify_request(), &p)));
    for (v2, tt) in [
        (false, "PAGOPA"),
        (false, "POSTAL"),
        (true, "PAGOPA"),
        (true, "POSTAL"),
    ] {
        out.push((
            format!("get-ok-v2-{v2}-{tt}"),
            answer_position(&get_payment_request(v2, tt), &p),
        ));
    }
    let stamp = PaymentPosition::Payable(stamp_payable());
    out.push((
        "get-v2-stamp".into(),
        answer_position(&get_payment_request(true, "PAGOPA"), &stamp),
    ));
    out.push((
        "get-v1-stamp-refused".into(),
        answer_position(&get_payment_request(false, "PAGOPA"), &stamp),
    ));
    out.push(("demand-ok".into(), answer_position(&demand_request(), &p)));
    for op in Operation::ALL {
        for code in PaFaultCode::ALL {
            let fault = FaultBean::new(code, "01199250158").with_description("detail <&> ]]> text");
            out.push((format!("ko-{}-{}", op.name(), code.code()), ko(op, &fault)));
        }
    }
    out.push(("send-rt-ok".into(), receipt_ok(Operation::SendRt)));
    out.push(("send-rt-v2-ok".into(), receipt_ok(Operation::SendRtV2)));
    out
}

#[test]
fn every_response_validates_against_pa_for_node_with_both_validators() {
    let responses = all_responses();
    for (name, xml) in &responses {
        if let Err(e) = validate_payload(pa_schema(), xml) {
            panic!("{name} does not validate: {e}\n{xml}");
        }
    }
    xmllint_judges(&pa_schema_path(), &responses);
}

#[test]
fn unpayable_positions_are_answered_with_their_fault() {
    let cases = [
        (PaymentPosition::Unknown, "PAA_PAGAMENTO_SCONOSCIUTO"),
        (PaymentPosition::Paid, "PAA_PAGAMENTO_DUPLICATO"),
        (PaymentPosition::Expired, "PAA_PAGAMENTO_SCADUTO"),
        (PaymentPosition::Cancelled, "PAA_PAGAMENTO_ANNULLATO"),
    ];
    for (position, code) in cases {
        let xml = answer_position(&verify_request(), &position);
        assert!(xml.contains("<outcome>KO</outcome>"), "{xml}");
        assert!(xml.contains(&format!("<faultCode>{code}</faultCode>")), "{xml}");
        assert!(xml.contains("<id>01199250158</id>"), "{xml}");
        validate_payload(pa_schema(), &xml).unwrap();
    }
}

#[test]
fn verify_answer_has_one_option_the_updated_amount_and_all_ccp() {
    let xml = answer_position(&verify_request(), &PaymentPosition::Payable(payable()));
    assert_eq!(xml.matches("<paymentOptionDescription>").count(), 1);
    assert!(
        xml.contains("<amount>100.50</amount><options>EQ</options>"),
        "{xml}"
    );
    // The TEFA transfer has no postal account.
    assert!(xml.contains("<allCCP>false</allCCP>"), "{xml}");
    assert!(
        xml.contains("<fiscalCodePA>01199250158</fiscalCodePA><companyName>Comune di Milano</companyName>")
    );
    let mut all_postal = payable();
    all_postal.transfers[1].credit =
        account("IT02A0306909606100000063129", Some("IT02A0760101600000000063129"));
    let xml = answer_position(&verify_request(), &PaymentPosition::Payable(all_postal));
    assert!(xml.contains("<allCCP>true</allCCP>"), "{xml}");
}

#[test]
fn transfer_type_chooses_the_account_as_gpd_payments_does() {
    let p = PaymentPosition::Payable(payable());
    let postal = answer_position(&get_payment_request(false, "POSTAL"), &p);
    assert!(
        postal.contains("<IBAN>IT21Q0760101600000000123456</IBAN>"),
        "{postal}"
    );
    assert!(!postal.contains(IBAN_APPOGGIO));
    let pagopa = answer_position(&get_payment_request(true, "PAGOPA"), &p);
    assert!(
        pagopa.contains("<IBAN>IT60X0542811101000000123456</IBAN>"),
        "{pagopa}"
    );
    assert!(
        pagopa.contains("<key>IBANAPPOGGIO</key><value>IT21Q0760101600000000123456</value>"),
        "{pagopa}"
    );
    // Transfers are numbered in order, and V1 has no per-transfer companyName.
    assert!(pagopa.contains("<idTransfer>2</idTransfer>"));
    let v1 = answer_position(&get_payment_request(false, "PAGOPA"), &p);
    assert!(
        !v1.contains("<companyName>Comune di Milano</companyName><IBAN>"),
        "{v1}"
    );
}

#[test]
fn a_revenue_stamp_is_v2_only() {
    let PaRequest::GetPayment(v1) = get_payment_request(false, "PAGOPA") else {
        unreachable!()
    };
    assert_eq!(v1.ok(&stamp_payable()), Err(ResponseError::RevenueStampInV1));
    let refused = answer_position(
        &PaRequest::GetPayment(v1),
        &PaymentPosition::Payable(stamp_payable()),
    );
    assert!(
        refused.contains("<faultCode>PAA_SEMANTICA</faultCode>"),
        "{refused}"
    );
    let PaRequest::GetPayment(v2) = get_payment_request(true, "PAGOPA") else {
        unreachable!()
    };
    let xml = v2.ok(&stamp_payable()).unwrap();
    assert!(xml.contains("<richiestaMarcaDaBollo><hashDocumento>"), "{xml}");
    assert!(xml.contains("<tipoBollo>01</tipoBollo><provinciaResidenza>MI</provinciaResidenza>"));
}

#[test]
fn builders_refuse_what_the_node_rejects() {
    let PaRequest::GetPayment(get) = get_payment_request(true, "PAGOPA") else {
        unreachable!()
    };
    let refuse = |edit: &dyn Fn(&mut snodo_mappings::pagopa::contract::Payable), field: &str| {
        let mut p = payable();
        edit(&mut p);
        match get.ok(&p) {
            Err(ResponseError::Contract(e)) => {
                assert!(e.field.starts_with(field), "{e} is not about {field}")
            }
            other => panic!("expected a refusal naming {field}, got {other:?}"),
        }
    };
    refuse(&|p| p.amount_cents = 10051, "transfers");
    refuse(&|p| p.transfers.clear(), "transfers");
    refuse(
        &|p| p.transfers = vec![transfer(10, "01199250158", account("IT1", None)); 6],
        "transfers",
    );
    refuse(&|p| p.transfers[0].amount_cents = 0, "transfers[0].amount_cents");
    refuse(&|p| p.description = "x".repeat(141), "description");
    refuse(&|p| p.description.clear(), "description");
    refuse(&|p| p.due_date = "31/12/2025".into(), "due_date");
    refuse(
        &|p| p.transfers[1].fiscal_code = "011992501580".into(),
        "transfers[1].fiscal_code",
    );
    refuse(&|p| p.debtor.country = Some("ITA".into()), "debtor.country");
    refuse(&|p| p.debtor.email = Some("not an e-mail".into()), "debtor.email");
    refuse(&|p| p.metadata = vec![MapEntry::new("k", "v"); 16], "metadata");
    refuse(&|p| p.iuv = "x".repeat(36), "iuv");
    let mut other_iuv = payable();
    other_iuv.iuv = "01000000000000245".into();
    assert_eq!(get.ok(&other_iuv), Err(ResponseError::IuvMismatch));
    let mut full = payable();
    full.transfers[0].metadata = vec![MapEntry::new("k", "v"); 15];
    assert_eq!(get.ok(&full), Err(ResponseError::TooMuchMetadata(0)));
    let mut no_notice = payable();
    no_notice.notice_number = None;
    let PaRequest::Demand(demand) = demand_request() else {
        unreachable!()
    };
    assert_eq!(demand.ok(&no_notice), Err(ResponseError::MissingNoticeNumber));
    // A broken position never becomes an OK: the node gets a system error instead.
    let mut broken = payable();
    broken.amount_cents = 1;
    let xml = answer_position(&PaRequest::GetPayment(get), &PaymentPosition::Payable(broken));
    assert!(xml.contains("<faultCode>PAA_SYSTEM_ERROR</faultCode>"), "{xml}");
}

#[test]
fn text_is_escaped_not_injected() {
    let mut p = payable();
    p.description = "A & B <c>]]> \r".into();
    let xml = answer_position(&verify_request(), &PaymentPosition::Payable(p));
    validate_payload(pa_schema(), &xml).unwrap();
    let env = envelope(&xml);
    let doc = env.document();
    let description = doc
        .child_elements(env.payload())
        .find(|&c| doc.element(c).unwrap().name().local_name() == "paymentDescription")
        .unwrap();
    assert_eq!(doc.text_content(description), "A & B <c>]]> \r");
}

#[test]
fn get_payment_position_request_carries_what_the_psp_said() {
    let PaRequest::GetPayment(get) = get_payment_request(true, "POSTAL") else {
        unreachable!()
    };
    let r = get.position_request();
    assert_eq!(r.amount_cents, Some(10050));
    assert_eq!(r.transfer_type, Some(TransferType::Postal));
    assert_eq!(r.iuv, "01000000000000144");
    assert_eq!(r.payment_note.as_deref(), Some("TARI 2025"));
}

//! The node's side of the pagoPA mappings (what the node simulator writes and reads): every request
//! it writes is read back unchanged by the EC-side reader and validates against `paForNode.xsd`
//! (libxml2 and `xmllint`); the EC's answers written by the EC-side builders are read back by the
//! node-side readers, and the node's semantic checks refuse what the node refuses; reporting flows
//! written by the node are read back by the EC side and validate against their schemas.

mod pagopa_common;

use pagopa_common::*;
use snodo_mappings::pagopa::contract::{Receipt, ReceiptVersion, TransferType};
use snodo_mappings::pagopa::{
    AnswerError, AnsweredCredit, EcAnswer, FaultBean, FlowCaller, FlowRef, GetPaymentRequest,
    NodeForPaRequest, Operation, PaFaultCode, PaRequest, QrCode, RequestHeader, VerifyRequest, XsdDateTime,
    get_flow_answer, ko, list_flows_answer, read_flow, read_get_flow_response, read_get_payment_answer,
    read_list_flows_response, read_node_for_pa_request, read_request, read_send_rt_answer,
    read_verify_answer, receipt_ok, write_flow,
};
use snodo_security::xml::Limits;

fn header() -> RequestHeader {
    RequestHeader {
        id_pa: "01199250158".into(),
        id_broker_pa: "01199250158".into(),
        id_station: "01199250158_01".into(),
    }
}

fn qr() -> QrCode {
    QrCode {
        fiscal_code: "01199250158".into(),
        notice_number: "301000000000000144".into(),
    }
}

fn get_payment(operation: Operation) -> GetPaymentRequest {
    GetPaymentRequest {
        operation,
        header: header(),
        qr_code: qr(),
        amount: snodo_mappings::pagopa::Amount::from_cents(10050),
        payment_note: Some("carrello 42".into()),
        transfer_type: Some(TransferType::Pagopa),
        due_date: snodo_mappings::pagopa::XsdDate::parse("2025-12-31"),
    }
}

fn mock_receipt() -> Receipt {
    match read_request(&envelope(&mock_ec("paSendRTReq_avv4.xml"))) {
        Ok(PaRequest::SendRt(r)) => *r,
        other => panic!("not a receipt: {other:?}"),
    }
}

#[test]
fn requests_the_node_writes_are_read_back_unchanged_and_validate() {
    let verify = VerifyRequest {
        header: header(),
        qr_code: qr(),
    };
    let verify_xml = verify.to_envelope().unwrap();
    assert_eq!(
        read_request(&envelope(&verify_xml)),
        Ok(PaRequest::Verify(verify))
    );
    let mut documents = vec![("verify".to_owned(), verify_xml)];
    for operation in [Operation::GetPayment, Operation::GetPaymentV2] {
        let request = get_payment(operation);
        let xml = request.to_envelope().unwrap();
        assert_eq!(read_request(&envelope(&xml)), Ok(PaRequest::GetPayment(request)));
        documents.push((operation.name().to_owned(), xml));
    }
    let receipt = mock_receipt();
    let xml = receipt.to_envelope().unwrap();
    assert_eq!(
        read_request(&envelope(&xml)),
        Ok(PaRequest::SendRt(Box::new(receipt.clone())))
    );
    documents.push(("send_rt".to_owned(), xml));
    let mut v2 = receipt;
    v2.version = ReceiptVersion::PaSendRtV2;
    v2.stand_in = true;
    v2.payment_note = Some("nota".into());
    let xml = v2.to_envelope().unwrap();
    assert_eq!(read_request(&envelope(&xml)), Ok(PaRequest::SendRt(Box::new(v2))));
    documents.push(("send_rt_v2".to_owned(), xml));
    for (name, xml) in &documents {
        validate_payload(pa_schema(), xml).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    xmllint_judges(&pa_schema_path(), &documents);
}

#[test]
fn a_receipt_that_is_not_a_successful_payment_is_not_written() {
    let mut receipt = mock_receipt();
    receipt.transfers[0].amount_cents += 1;
    assert!(receipt.to_envelope().is_err());
    let mut receipt = mock_receipt();
    receipt.psp.channel_description = "x".repeat(36);
    let error = receipt.to_envelope().unwrap_err().to_string();
    assert!(error.contains("psp.channel_description"), "{error}");
}

#[test]
fn ec_answers_are_read_by_the_node() {
    let position = payable();
    let verify = VerifyRequest {
        header: header(),
        qr_code: qr(),
    };
    let EcAnswer::Ok(answer) = read_verify_answer(&envelope(&verify.ok(&position).unwrap())).unwrap() else {
        panic!("not OK")
    };
    assert_eq!(answer.amount.cents(), 10050);
    assert_eq!(answer.fiscal_code_pa, "01199250158");
    assert!(!answer.all_ccp);

    for operation in [Operation::GetPayment, Operation::GetPaymentV2] {
        let xml = get_payment(operation).ok(&position).unwrap();
        let EcAnswer::Ok(data) =
            read_get_payment_answer(&envelope(&xml), operation, "01000000000000144").unwrap()
        else {
            panic!("not OK")
        };
        assert_eq!(data.amount.cents(), 10050);
        assert_eq!(data.transfers.len(), 2);
        assert_eq!(data.transfers[1].fiscal_code, "80101590153");
        assert!(matches!(data.transfers[0].credit, AnsweredCredit::Iban(_)));
        assert_eq!(data.company_name.as_deref(), Some("Comune di Milano"));
        // The node checks the IUV against the notice it asked for.
        assert_eq!(
            read_get_payment_answer(&envelope(&xml), operation, "01000000000000999"),
            Err(AnswerError::IuvMismatch)
        );
    }
    let rt = read_send_rt_answer(&envelope(&receipt_ok(Operation::SendRt)), Operation::SendRt).unwrap();
    assert_eq!(rt, EcAnswer::Ok(()));
}

#[test]
fn a_ko_is_passed_through_with_its_fault_and_a_ko_without_fault_is_refused() {
    let xml = ko(
        Operation::VerifyPaymentNotice,
        &FaultBean::new(PaFaultCode::PagamentoScaduto, "01199250158"),
    );
    match read_verify_answer(&envelope(&xml)).unwrap() {
        EcAnswer::Ko(fault) => {
            assert_eq!(fault.fault_code, "PAA_PAGAMENTO_SCADUTO");
            assert_eq!(fault.id, "01199250158");
        }
        other => panic!("{other:?}"),
    }
    let bare = xml.replace(
        &xml[xml.find("<fault>").unwrap()..xml.find("</fault>").unwrap() + "</fault>".len()],
        "",
    );
    assert_eq!(
        read_verify_answer(&envelope(&bare)),
        Err(AnswerError::KoWithoutFault)
    );
}

#[test]
fn the_node_refuses_transfers_that_do_not_add_up_and_wrong_answers() {
    let xml = get_payment(Operation::GetPayment).ok(&payable()).unwrap();
    let broken = xml.replacen(
        "<transferAmount>95.00</transferAmount>",
        "<transferAmount>95.01</transferAmount>",
        1,
    );
    assert_ne!(xml, broken);
    assert!(matches!(
        read_get_payment_answer(&envelope(&broken), Operation::GetPayment, "01000000000000144"),
        Err(AnswerError::TransfersDoNotAddUp {
            sum: 10051,
            amount: 10050
        })
    ));
    let twice = xml.replacen("<idTransfer>2</idTransfer>", "<idTransfer>1</idTransfer>", 1);
    assert_eq!(
        read_get_payment_answer(&envelope(&twice), Operation::GetPayment, "01000000000000144"),
        Err(AnswerError::DuplicateTransferId(1))
    );
    // A verify answer for a get-payment call is the wrong element.
    let verify = VerifyRequest {
        header: header(),
        qr_code: qr(),
    }
    .ok(&payable())
    .unwrap();
    assert!(matches!(
        read_get_payment_answer(&envelope(&verify), Operation::GetPayment, "01000000000000144"),
        Err(AnswerError::WrongElement { .. })
    ));
    // Text over its limit breaks the schema.
    let long = xml.replacen("TARI 2025 rata unica", &"x".repeat(141), 1);
    assert!(matches!(
        read_get_payment_answer(&envelope(&long), Operation::GetPayment, "01000000000000144"),
        Err(AnswerError::Syntax(_))
    ));
}

#[test]
fn reporting_requests_answers_and_flows_round_trip() {
    let caller = FlowCaller {
        broker_id: "01199250158".into(),
        station_id: "01199250158_01".into(),
        password: "password01".into(),
        domain_id: Some("01199250158".into()),
        psp_id: None,
    };
    let list = read_node_for_pa_request(&envelope(&caller.list_flows_request().unwrap())).unwrap();
    assert_eq!(list, NodeForPaRequest::ListFlows(caller.clone()));
    let get =
        read_node_for_pa_request(&envelope(&caller.get_flow_request("2025-01-01PSP-1").unwrap())).unwrap();
    assert_eq!(
        get,
        NodeForPaRequest::GetFlow {
            caller,
            flow_id: "2025-01-01PSP-1".into()
        }
    );

    let flows = vec![FlowRef {
        flow_id: "2025-01-01PSP-1".into(),
        date_time: XsdDateTime::parse("2025-01-01T10:00:00").unwrap(),
    }];
    let answer = list_flows_answer(&flows);
    validate_payload(node_schema(), &answer).unwrap();
    assert_eq!(read_list_flows_response(&envelope(&answer)).unwrap(), flows);

    let flow_xml = "<FlussoRiversamento xmlns=\"http://www.digitpa.gov.it/schemas/2011/Pagamenti/\"><versioneOggetto>1.0</versioneOggetto><identificativoFlusso>2025-01-01PSP-1</identificativoFlusso><dataOraFlusso>2025-01-01T10:00:00</dataOraFlusso><identificativoUnivocoRegolamento>TRN1</identificativoUnivocoRegolamento><dataRegolamento>2025-01-01</dataRegolamento><istitutoMittente><identificativoUnivocoMittente><tipoIdentificativoUnivoco>B</tipoIdentificativoUnivoco><codiceIdentificativoUnivoco>BCITITMM</codiceIdentificativoUnivoco></identificativoUnivocoMittente><denominazioneMittente>Banca</denominazioneMittente></istitutoMittente><istitutoRicevente><identificativoUnivocoRicevente><tipoIdentificativoUnivoco>G</tipoIdentificativoUnivoco><codiceIdentificativoUnivoco>01199250158</codiceIdentificativoUnivoco></identificativoUnivocoRicevente></istitutoRicevente><numeroTotalePagamenti>1</numeroTotalePagamenti><importoTotalePagamenti>10.00</importoTotalePagamenti><datiSingoliPagamenti><identificativoUnivocoVersamento>01000000000000144</identificativoUnivocoVersamento><identificativoUnivocoRiscossione>abc</identificativoUnivocoRiscossione><indiceDatiSingoloPagamento>1</indiceDatiSingoloPagamento><singoloImportoPagato>10.00</singoloImportoPagato><codiceEsitoSingoloPagamento>0</codiceEsitoSingoloPagamento><dataEsitoSingoloPagamento>2025-01-01</dataEsitoSingoloPagamento></datiSingoliPagamenti></FlussoRiversamento>";
    let flow = read_flow(flow_xml.as_bytes(), flow_schema(), &Limits::default()).unwrap();
    let written = write_flow(&flow).unwrap();
    flow_schema()
        .validate(written.as_bytes(), &Limits::default())
        .unwrap();
    assert_eq!(
        read_flow(written.as_bytes(), flow_schema(), &Limits::default()).unwrap(),
        flow
    );

    let answer = get_flow_answer(&written);
    validate_payload(node_schema(), &answer).unwrap();
    assert_eq!(
        read_get_flow_response(&envelope(&answer)).unwrap(),
        written.as_bytes()
    );

    let mut uneven = flow.clone();
    uneven.total_amount_cents += 1;
    assert!(write_flow(&uneven).is_err());
}

//! paDemandPaymentNotice from the node's side (pagoPA "modello 4"): the request the node writes is
//! read back unchanged by the EC side and validates against `paForNode.xsd`; the EC's OK answer is
//! read by the node with the new notice and its one payment option; a KO passes through, and an
//! answer whose notice belongs to another EC than `fiscalCodePA` is refused.

mod pagopa_common;

use pagopa_common::*;
use snodo_mappings::pagopa::{
    AnswerError, DemandPaymentRequest, EcAnswer, FaultBean, Operation, PaFaultCode, PaRequest, RequestHeader,
    ko, read_demand_answer, read_request,
};

fn request() -> DemandPaymentRequest {
    DemandPaymentRequest {
        header: RequestHeader {
            id_pa: "01199250158".into(),
            id_broker_pa: "01199250158".into(),
            id_station: "01199250158_01".into(),
        },
        service_id: "00001".into(),
        service_subject_id: "00042".into(),
        service_data_xml: "<service xmlns=\"urn:example:service\"><plate>AB123CD</plate></service>".into(),
    }
}

#[test]
fn the_nodes_demand_request_is_read_back_unchanged_and_validates() {
    let written = request().to_envelope().unwrap();
    validate_payload(pa_schema(), &written).unwrap();
    match read_request(&envelope(&written)).unwrap() {
        PaRequest::Demand(read) => assert_eq!(read, request()),
        other => panic!("read as {other:?}"),
    }
    let mut short = request();
    short.service_id = "0001".into();
    assert!(short.to_envelope().is_err(), "idServizio is exactly 5 characters");
}

#[test]
fn the_ecs_new_notice_is_read_by_the_node() {
    let answer = request().ok(&payable()).unwrap();
    validate_payload(pa_schema(), &answer).unwrap();
    let EcAnswer::Ok(read) = read_demand_answer(&envelope(&answer)).unwrap() else {
        panic!("an OK: {answer}");
    };
    assert_eq!(read.qr_code.notice_number, "301000000000000144");
    assert_eq!(read.qr_code.fiscal_code, "01199250158");
    assert_eq!(read.option.amount.cents(), 10050);
    assert_eq!(read.option.payment_description, "TARI 2025 rata unica");

    let refused = ko(
        Operation::DemandPaymentNotice,
        &FaultBean::new(PaFaultCode::Semantica, "01199250158"),
    );
    match read_demand_answer(&envelope(&refused)).unwrap() {
        EcAnswer::Ko(fault) => assert_eq!(fault.fault_code, "PAA_SEMANTICA"),
        EcAnswer::Ok(_) => panic!("a KO"),
    }

    let foreign = answer.replacen(
        "<fiscalCode>01199250158</fiscalCode>",
        "<fiscalCode>80101590153</fiscalCode>",
        1,
    );
    assert_ne!(foreign, answer);
    assert!(matches!(
        read_demand_answer(&envelope(&foreign)),
        Err(AnswerError::OkWithout(_))
    ));
}

#[test]
fn service_data_the_backend_finds_invalid_are_answered_as_a_syntax_fault_with_its_reason() {
    use snodo_mappings::pagopa::answer_position;
    use snodo_mappings::pagopa::contract::PaymentPosition;
    let position = PaymentPosition::InvalidServiceData {
        reason: "<importo> is an amount of euro with two decimals".into(),
    };
    let answer = answer_position(&PaRequest::Demand(request()), &position);
    validate_payload(pa_schema(), &answer).unwrap();
    match read_demand_answer(&envelope(&answer)).unwrap() {
        EcAnswer::Ko(fault) => {
            assert_eq!(fault.fault_code, "PAA_SINTASSI_EXTRAXSD");
            assert_eq!(
                fault.description.as_deref(),
                Some("<importo> is an amount of euro with two decimals")
            );
        }
        EcAnswer::Ok(_) => panic!("a KO: {answer}"),
    }
}

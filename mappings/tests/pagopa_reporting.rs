//! Reporting flows: the legacy `nodoChiedi…` requests (validated against nodeForPa.xsd), their
//! answers (list, base64 flow, fault), `FlussoRiversamento` validated and mapped, and the REST FdR
//! JSON mapped to the same event.

mod pagopa_common;

use base64::Engine as _;
use pagopa_common::*;
use snodo_mappings::pagopa::contract::{FdrFlow, FdrPaymentsPage, PaymentOutcome, ReportingFlow, SenderKind};
use snodo_mappings::pagopa::{
    FlowCaller, ReportingError, read_flow, read_get_flow_response, read_list_flows_response,
};
use snodo_security::xml::Limits;

fn caller() -> FlowCaller {
    FlowCaller {
        broker_id: "01199250158".into(),
        station_id: "01199250158_01".into(),
        password: "segreta123".into(),
        domain_id: Some("01199250158".into()),
        psp_id: None,
    }
}

const FLOW: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<FlussoRiversamento xmlns="http://www.digitpa.gov.it/schemas/2011/Pagamenti/">
  <versioneOggetto>1.0</versioneOggetto>
  <identificativoFlusso>2025-07-04CIPBITMM-S000000001</identificativoFlusso>
  <dataOraFlusso>2025-07-04T10:00:00</dataOraFlusso>
  <identificativoUnivocoRegolamento>SCT-TRN-0001</identificativoUnivocoRegolamento>
  <dataRegolamento>2025-07-04</dataRegolamento>
  <istitutoMittente>
    <identificativoUnivocoMittente>
      <tipoIdentificativoUnivoco>B</tipoIdentificativoUnivoco>
      <codiceIdentificativoUnivoco>CIPBITMM</codiceIdentificativoUnivoco>
    </identificativoUnivocoMittente>
    <denominazioneMittente>Banca Esempio</denominazioneMittente>
  </istitutoMittente>
  <istitutoRicevente>
    <identificativoUnivocoRicevente>
      <tipoIdentificativoUnivoco>G</tipoIdentificativoUnivoco>
      <codiceIdentificativoUnivoco>01199250158</codiceIdentificativoUnivoco>
    </identificativoUnivocoRicevente>
    <denominazioneRicevente>Comune di Milano</denominazioneRicevente>
  </istitutoRicevente>
  <numeroTotalePagamenti>2</numeroTotalePagamenti>
  <importoTotalePagamenti>105.50</importoTotalePagamenti>
  <datiSingoliPagamenti>
    <identificativoUnivocoVersamento>01000000000000144</identificativoUnivocoVersamento>
    <identificativoUnivocoRiscossione>c3f1b2a0d4e5f607</identificativoUnivocoRiscossione>
    <indiceDatiSingoloPagamento>1</indiceDatiSingoloPagamento>
    <singoloImportoPagato>95.00</singoloImportoPagato>
    <codiceEsitoSingoloPagamento>0</codiceEsitoSingoloPagamento>
    <dataEsitoSingoloPagamento>2025-07-03</dataEsitoSingoloPagamento>
  </datiSingoliPagamenti>
  <datiSingoliPagamenti>
    <identificativoUnivocoVersamento>01000000000000245</identificativoUnivocoVersamento>
    <identificativoUnivocoRiscossione>d4e5f60718293a4b</identificativoUnivocoRiscossione>
    <singoloImportoPagato>10.50</singoloImportoPagato>
    <codiceEsitoSingoloPagamento>9</codiceEsitoSingoloPagamento>
    <dataEsitoSingoloPagamento>2025-07-03</dataEsitoSingoloPagamento>
  </datiSingoliPagamenti>
</FlussoRiversamento>"#;

#[test]
fn requests_validate_against_node_for_pa() {
    let list = caller().list_flows_request().unwrap();
    validate_payload(node_schema(), &list).unwrap();
    let get = caller()
        .get_flow_request("2025-07-04CIPBITMM-S000000001")
        .unwrap();
    validate_payload(node_schema(), &get).unwrap();
    assert!(get.contains("<identificativoFlusso>2025-07-04CIPBITMM-S000000001</identificativoFlusso>"));
    let mut short = caller();
    short.password = "short".into();
    assert!(matches!(
        short.list_flows_request(),
        Err(ReportingError::Field {
            field: "password",
            ..
        })
    ));
    assert!(!format!("{:?}", caller()).contains("segreta123"));
}

#[test]
fn a_flow_is_validated_and_mapped() {
    let flow = read_flow(FLOW.as_bytes(), flow_schema(), &Limits::default()).unwrap();
    assert_eq!(flow.flow_id, "2025-07-04CIPBITMM-S000000001");
    assert_eq!(flow.sender.kind, SenderKind::BicCode);
    assert_eq!(flow.receiver_id, "01199250158");
    assert_eq!((flow.total_payments, flow.total_amount_cents), (2, 10550));
    assert_eq!(flow.payments[0].transfer_index, Some(1));
    assert_eq!(flow.payments[1].outcome, PaymentOutcome::NoRpt);
    assert_eq!(flow.payments[1].amount_cents, 1050);
    assert_eq!(flow.platform_id(), "01199250158/2025-07-04CIPBITMM-S000000001");
    let json = serde_json::to_value(&flow).unwrap();
    assert_eq!(serde_json::from_value::<ReportingFlow>(json).unwrap(), flow);
}

#[test]
fn invalid_flows_are_refused() {
    let cases = [
        FLOW.replace("<codiceEsitoSingoloPagamento>9", "<codiceEsitoSingoloPagamento>4"),
        FLOW.replace("105.50", "105.5"),
        FLOW.replace("S000000001<", "S000000001/<"),
        FLOW.replace("<versioneOggetto>1.0", "<versioneOggetto>2.0"),
        FLOW.replace(r#"xmlns="http://www.digitpa.gov.it/schemas/2011/Pagamenti/""#, ""),
    ];
    for xml in &cases {
        assert!(
            read_flow(xml.as_bytes(), flow_schema(), &Limits::default()).is_err(),
            "{xml}"
        );
    }
    let miscounted = FLOW.replace("<numeroTotalePagamenti>2", "<numeroTotalePagamenti>3");
    assert!(matches!(
        read_flow(miscounted.as_bytes(), flow_schema(), &Limits::default()),
        Err(ReportingError::CountMismatch {
            declared: 3,
            listed: 2
        })
    ));
    let doctype = format!("<!DOCTYPE x []>{}", &FLOW[39..]);
    assert!(matches!(
        read_flow(doctype.as_bytes(), flow_schema(), &Limits::default()),
        Err(ReportingError::FlowXml(_))
    ));
}

fn node_answer(inner: &str, element: &str) -> String {
    format!(
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><ns2:{element} xmlns:ns2="http://ws.pagamenti.telematici.gov/">{inner}</ns2:{element}></soapenv:Body></soapenv:Envelope>"#
    )
}

#[test]
fn answers_of_the_node_are_read() {
    let encoded = base64::engine::general_purpose::STANDARD.encode(FLOW);
    let xml = node_answer(
        &format!("<xmlRendicontazione>{encoded}</xmlRendicontazione>"),
        "nodoChiediFlussoRendicontazioneRisposta",
    );
    validate_payload(node_schema(), &xml).unwrap();
    let bytes = read_get_flow_response(&envelope(&xml)).unwrap();
    assert_eq!(bytes, FLOW.as_bytes());
    read_flow(&bytes, flow_schema(), &Limits::default()).unwrap();

    let list = node_answer(
        "<elencoFlussiRendicontazione><totRestituiti>2</totRestituiti>\
         <idRendicontazione><identificativoFlusso>F1</identificativoFlusso><dataOraFlusso>2025-07-04T10:00:00</dataOraFlusso></idRendicontazione>\
         <idRendicontazione xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:nil=\"true\"/>\
         <idRendicontazione><identificativoFlusso>F2</identificativoFlusso><dataOraFlusso>2025-07-05T10:00:00.123Z</dataOraFlusso></idRendicontazione>\
         </elencoFlussiRendicontazione>",
        "nodoChiediElencoFlussiRendicontazioneRisposta",
    );
    validate_payload(node_schema(), &list).unwrap();
    let flows = read_list_flows_response(&envelope(&list)).unwrap();
    assert_eq!(
        flows.iter().map(|f| f.flow_id.as_str()).collect::<Vec<_>>(),
        ["F1", "F2"]
    );

    let fault = node_answer(
        "<fault><faultCode>PPT_AUTENTICAZIONE</faultCode><faultString>Errore di autenticazione</faultString><id>NodoDeiPagamentiSPC</id></fault>",
        "nodoChiediElencoFlussiRendicontazioneRisposta",
    );
    validate_payload(node_schema(), &fault).unwrap();
    match read_list_flows_response(&envelope(&fault)) {
        Err(ReportingError::NodeFault(f)) => assert_eq!(f.fault_code, "PPT_AUTENTICAZIONE"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        read_get_flow_response(&envelope(&list)),
        Err(ReportingError::UnexpectedAnswer { .. })
    ));
}

#[test]
fn a_rest_fdr_flow_maps_to_the_same_event() {
    let flow: FdrFlow = serde_json::from_str(
        r#"{"status":"PUBLISHED","revision":2,"created":"2025-07-04T10:00:00Z","fdr":"2025-07-0488888888888-0001",
            "fdrDate":"2025-07-04T10:00:00Z","regulation":"SEPA - Bonifico X","regulationDate":"2025-07-04",
            "bicCodePouringBank":"UNCRITMMXXX",
            "sender":{"type":"LEGAL_PERSON","id":"SELBIT2B","pspId":"88888888888","pspName":"PSP Name","pspBrokerId":"70000000001","channelId":"80000000001","password":"password"},
            "receiver":{"id":"APPBIT2B","organizationId":"01199250158","organizationName":"Comune di Milano"},
            "published":"2025-07-04T11:00:00Z","computedTotPayments":2,"computedSumPayments":100.95,"totPayments":2,"sumPayments":100.95}"#,
    )
    .unwrap();
    let page: FdrPaymentsPage = serde_json::from_str(
        r#"{"metadata":{"pageSize":2,"pageNumber":1,"totPage":1},"count":2,"data":[
            {"index":1,"iuv":"01000000000000144","iur":"r1","idTransfer":1,"pay":100.9,"payStatus":"EXECUTED","payDate":"2025-07-03T09:00:00Z"},
            {"index":2,"iuv":"01000000000000245","iur":"r2","idTransfer":2,"pay":0.05,"payStatus":"STAND_IN","payDate":"2025-07-03T09:00:00Z"}]}"#,
    )
    .unwrap();
    let event = ReportingFlow::from_fdr(&flow, &page.data).unwrap();
    assert_eq!(event.total_amount_cents, 10095);
    assert_eq!(event.payments[0].amount_cents, 10090);
    assert_eq!(event.payments[1].amount_cents, 5);
    assert_eq!(event.payments[1].outcome, PaymentOutcome::StandIn);
    assert_eq!(event.revision, Some(2));
    assert_eq!(event.sender.psp_id.as_deref(), Some("88888888888"));
    assert_eq!(event.platform_id(), "01199250158/2025-07-0488888888888-0001/2");

    let mut bad = page.data.clone();
    bad[0].pay = 1.005;
    assert!(ReportingFlow::from_fdr(&flow, &bad).is_err());
    assert!(ReportingFlow::from_fdr(&flow, &page.data[..1]).is_err());
}

//! Reading the node's requests: every official example, the caller-configuration checks, and hostile
//! or invalid requests with the fault each one gets. The Rust reader's verdict is judged against
//! libxml2 on mutated requests: what the XSD refuses, the reader refuses as `PAA_SINTASSI_XSD`.

mod pagopa_common;

use pagopa_common::*;
use snodo_mappings::pagopa::{Operation, PaRequest, RequestError, Station, SyntaxKind, read_request};
use snodo_mappings::soap::read_envelope;
use snodo_security::xml::Limits;

fn read(xml: &str) -> Result<PaRequest, RequestError> {
    read_request(&envelope(xml))
}

#[test]
fn every_mock_ec_get_payment_example_is_read() {
    for n in ["1", "2", "3", "4", "5", "6", "7", "99"] {
        let xml = mock_ec(&format!("paGetPaymentReq_avv{n}.xml"));
        let Ok(PaRequest::GetPayment(r)) = read(&xml) else {
            panic!("avv{n}")
        };
        assert_eq!(r.operation, Operation::GetPayment);
        assert_eq!(r.header.id_station, "77777777777_01");
        assert_eq!(r.amount.unwrap().cents(), 12000);
        assert_eq!(r.qr_code.fiscal_code, "77777777777");
        assert_eq!(r.position_request().iuv, &r.qr_code.notice_number[1..]);
    }
}

#[test]
fn govpay_templates_are_read_after_substitution() {
    let Ok(PaRequest::Verify(v)) = read(&govpay("paVerifyPaymentNoticeReq.xml", GOVPAY_VALUES)) else {
        panic!()
    };
    assert_eq!(v.qr_code.notice_number, "301000000000000144");
    let Ok(PaRequest::GetPayment(g)) = read(&govpay("paGetPaymentReq-dueDate.xml", GOVPAY_VALUES)) else {
        panic!()
    };
    assert_eq!(g.due_date.unwrap().to_string(), "2025-05-13+02:00");
    assert_eq!(g.payment_note.as_deref(), Some("TARI 2025"));
    // The templates as published, with U+00A0 indentation, break the XSD (character content).
    let raw = govpay("paGetPaymentReq.xml", GOVPAY_VALUES);
    let with_nbsp = raw.replacen("<amount>", "\u{a0}<amount>", 1);
    let Err(RequestError::Syntax { error, .. }) = read(&with_nbsp) else {
        panic!()
    };
    assert_eq!(error.kind, SyntaxKind::Xsd);
    assert!(validate_payload(pa_schema(), &with_nbsp).is_err());
}

#[test]
fn a_psp_side_request_is_not_an_ec_operation() {
    let err = read(&mock_ec("verifyPaymentNoticeReq.xml")).unwrap_err();
    assert!(matches!(err, RequestError::UnknownOperation(_)), "{err}");
    assert_eq!(err.ko_response("01199250158"), None);
}

#[test]
fn station_checks_answer_the_caller_configuration_faults() {
    let request = read(&govpay("paVerifyPaymentNoticeReq.xml", GOVPAY_VALUES)).unwrap();
    let station = |cfs: &'static [&'static str], broker: &'static str, id: &'static str| Station {
        fiscal_codes: cfs,
        broker_id: broker,
        station_id: id,
    };
    assert!(
        request
            .check_station(&station(&["01199250158"], "01199250158", "01199250158_01"))
            .is_ok()
    );
    let cases = [
        (
            station(&["80101590153"], "01199250158", "01199250158_01"),
            "PAA_ID_DOMINIO_ERRATO",
        ),
        (
            station(&["01199250158"], "99999999999", "01199250158_01"),
            "PAA_ID_INTERMEDIARIO_ERRATO",
        ),
        (
            station(&["01199250158"], "01199250158", "01199250158_02"),
            "PAA_STAZIONE_INT_ERRATA",
        ),
    ];
    for (s, code) in cases {
        let ko = request.check_station(&s).unwrap_err();
        assert!(ko.contains(&format!("<faultCode>{code}</faultCode>")), "{ko}");
        validate_payload(pa_schema(), &ko).unwrap();
    }
}

/// Mutations of a valid paGetPayment request; each is judged by libxml2 and by the reader.
fn mutations() -> Vec<(&'static str, String)> {
    let base = mock_ec("paGetPaymentReq_avv1.xml");
    let m = |from: &str, to: &str| {
        assert!(base.contains(from), "{from}");
        base.replacen(from, to, 1)
    };
    vec![
        ("unchanged", base.clone()),
        ("unknown element", m("<amount>", "<extra>1</extra><amount>")),
        (
            "qualified child",
            m("<idPA>77777777777</idPA>", "<pafn:idPA>77777777777</pafn:idPA>"),
        ),
        (
            "missing idStation",
            m("<idStation>77777777777_01</idStation>", ""),
        ),
        (
            "order swapped",
            m(
                "<idBrokerPA>77777777777</idBrokerPA>\n      <idStation>77777777777_01</idStation>",
                "<idStation>77777777777_01</idStation><idBrokerPA>77777777777</idBrokerPA>",
            ),
        ),
        ("amount one decimal", m("120.00", "120.0")),
        ("amount comma", m("120.00", "120,00")),
        ("amount padded", m("120.00", " 120.00 ")),
        ("amount zero", m("120.00", "0.00")),
        ("amount too big", m("120.00", "1000000000.00")),
        ("notice 17 digits", m("302009921337126000", "30200992133712600")),
        ("notice padded", m("302009921337126000", " 302009921337126000")),
        (
            "fiscal code letters",
            m("<fiscalCode>77777777777", "<fiscalCode>7777777777A"),
        ),
        ("idPA empty", m("<idPA>77777777777</idPA>", "<idPA></idPA>")),
        (
            "idPA 36 chars",
            m(
                "<idPA>77777777777</idPA>",
                &format!("<idPA>{}</idPA>", "7".repeat(36)),
            ),
        ),
        ("attribute", m("<idPA>", "<idPA foo=\"1\">")),
        ("text between", m("<qrCode>", "x<qrCode>")),
        (
            "child in simple",
            m("<idPA>77777777777</idPA>", "<idPA><b>7</b></idPA>"),
        ),
        (
            "due date",
            m(
                "<amount>120.00</amount>",
                "<amount>120.00</amount><dueDate>2024-02-30</dueDate>",
            ),
        ),
        (
            "due date offset",
            m(
                "<amount>120.00</amount>",
                "<amount>120.00</amount><dueDate>2024-10-05+02:00</dueDate>",
            ),
        ),
        (
            "transfer type",
            m(
                "<amount>120.00</amount>",
                "<amount>120.00</amount><transferType>postal</transferType>",
            ),
        ),
        (
            "payment note 211",
            m(
                "<amount>120.00</amount>",
                &format!(
                    "<amount>120.00</amount><paymentNote>{}</paymentNote>",
                    "n".repeat(211)
                ),
            ),
        ),
        (
            "payment note 210",
            m(
                "<amount>120.00</amount>",
                &format!(
                    "<amount>120.00</amount><paymentNote>{}</paymentNote>",
                    "è".repeat(210)
                ),
            ),
        ),
        (
            "comment inside",
            m("<idPA>77777777777</idPA>", "<idPA>7777777<!-- c -->7777</idPA>"),
        ),
        (
            "two qrCodes",
            m(
                "</qrCode>",
                "</qrCode><qrCode><fiscalCode>77777777777</fiscalCode><noticeNumber>302009921337126000</noticeNumber></qrCode>",
            ),
        ),
    ]
}

#[test]
fn the_reader_agrees_with_libxml2_on_every_mutation() {
    for (name, xml) in mutations() {
        let by_xsd = validate_payload(pa_schema(), &xml);
        let by_reader = read(&xml);
        match (&by_xsd, &by_reader) {
            (Ok(()), Ok(_)) => {}
            (Err(_), Err(RequestError::Syntax { error, .. })) => {
                assert_eq!(error.kind, SyntaxKind::Xsd, "{name}");
                let ko = read(&xml).unwrap_err().ko_response("77777777777").unwrap();
                assert!(
                    ko.contains("<faultCode>PAA_SINTASSI_XSD</faultCode>"),
                    "{name}: {ko}"
                );
                assert!(ko.contains("<description>paGetPaymentReq"), "{name}: {ko}");
                validate_payload(pa_schema(), &ko).unwrap();
            }
            _ => panic!("{name}: libxml2 says {by_xsd:?}, the reader says {by_reader:?}"),
        }
    }
}

#[test]
fn syntax_faults_name_the_element_never_the_value() {
    let xml = mock_ec("paGetPaymentReq_avv1.xml")
        .replace("77777777777_01", "RSSMRA80A01F205X-and-more-than-35-chars");
    let err = read(&xml).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("paGetPaymentReq/idStation"), "{text}");
    assert!(!text.contains("RSSMRA"), "{text}");
    let ko = err.ko_response("broker").unwrap();
    assert!(!ko.contains("RSSMRA"), "{ko}");
    assert!(ko.contains("<id>77777777777</id>"), "{ko}");
}

#[test]
fn demand_service_data_must_be_xml_beyond_the_xsd() {
    use base64::Engine as _;
    let make = |data: &str| {
        format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
            <p:paDemandPaymentNoticeRequest xmlns:p="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd">
            <idPA>01199250158</idPA><idBrokerPA>01199250158</idBrokerPA><idStation>01199250158_01</idStation>
            <idServizio>00042</idServizio><idSoggettoServizio>00001</idSoggettoServizio>
            <datiSpecificiServizioRequest>{data}</datiSpecificiServizioRequest>
            </p:paDemandPaymentNoticeRequest></s:Body></s:Envelope>"#
        )
    };
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let Ok(PaRequest::Demand(d)) = read(&make(&b64("<a>1</a>"))) else {
        panic!()
    };
    assert_eq!(d.demand_request().service_data_xml, "<a>1</a>");
    for bad in ["not xml", "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "<a>"] {
        let xml = make(&b64(bad));
        validate_payload(pa_schema(), &xml).expect("valid against the XSD");
        let Err(RequestError::Syntax { error, .. }) = read(&xml) else {
            panic!("{bad}")
        };
        assert_eq!(error.kind, SyntaxKind::ExtraXsd, "{bad}");
        let ko = read(&xml).unwrap_err().ko_response("x").unwrap();
        assert!(ko.contains("PAA_SINTASSI_EXTRAXSD"), "{ko}");
    }
    let Err(RequestError::Syntax { error, .. }) = read(&make("!!!")) else {
        panic!()
    };
    assert_eq!(error.kind, SyntaxKind::Xsd);
}

#[test]
fn hostile_envelopes_never_reach_the_mapping() {
    let bomb = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">]><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>&lol;</s:Body></s:Envelope>";
    assert!(read_envelope(bomb.as_bytes(), &Limits::default()).is_err());
    let deep = format!(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><p:paSendRTReq xmlns:p=\"http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd\">{}{}</p:paSendRTReq></s:Body></s:Envelope>",
        "<a>".repeat(200),
        "</a>".repeat(200)
    );
    assert!(read_envelope(deep.as_bytes(), &Limits::default()).is_err());
}

//! The SOAP 1.1 layer on the platforms' official example messages and on every malformed shape an
//! endpoint must refuse with a Fault rather than a crash.

use std::path::{Path, PathBuf};

use snodo_mappings::soap::{
    Dispatcher, EnvelopeBuilder, Fault, FaultCode, QName, SOAP11_NAMESPACE, SoapError, escape_attribute,
    escape_text, read_envelope, soap_action,
};
use snodo_security::xml::{Limits, XmlError};

const PA_FOR_NODE: &str = "http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd";

fn specs() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/specs");
    assert!(
        dir.is_dir(),
        "specs not found at {}: shared/ must sit beside the repository",
        dir.display()
    );
    dir
}

fn read(text: &str) -> Result<snodo_mappings::soap::Envelope, SoapError> {
    read_envelope(text.as_bytes(), &Limits::default())
}

#[test]
fn every_official_pagopa_request_reads_and_dispatches_on_its_payload() {
    let dispatcher = Dispatcher::new()
        .route(QName::new(PA_FOR_NODE, "paVerifyPaymentNoticeReq"), "verify")
        .route(QName::new(PA_FOR_NODE, "paGetPaymentReq"), "get")
        .route(QName::new(PA_FOR_NODE, "paSendRTReq"), "send-rt")
        // The PSP-side request the node simulator receives.
        .route(
            QName::new(
                "http://pagopa-api.pagopa.gov.it/node/nodeForPsp.xsd",
                "verifyPaymentNoticeReq",
            ),
            "psp-verify",
        );
    let dir = specs().join("pagopa/examples/pagopa-mock-ec");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let envelope = read_envelope(&std::fs::read(&path).unwrap(), &Limits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(envelope.fault().is_none());
        let op = *dispatcher
            .operation(&envelope)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let expected = if name.starts_with("paGetPayment") {
            "get"
        } else if name.starts_with("paSendRT") {
            "send-rt"
        } else if name.starts_with("paVerify") {
            "verify"
        } else {
            "psp-verify"
        };
        assert_eq!(op, expected, "{name}");
        seen.push(op);
    }
    for op in ["get", "send-rt", "psp-verify"] {
        assert!(seen.contains(&op), "no example for {op}");
    }
}

#[test]
fn prefixes_carry_no_meaning() {
    let default_ns = format!(
        r#"<Envelope xmlns="{SOAP11_NAMESPACE}"><Body><x:paGetPaymentReq xmlns:x="{PA_FOR_NODE}"/></Body></Envelope>"#
    );
    let generated = format!(
        r#"<S:Envelope xmlns:S="{SOAP11_NAMESPACE}"><S:Body><ns2:paGetPaymentReq xmlns:ns2="{PA_FOR_NODE}"><idPA>1</idPA></ns2:paGetPaymentReq></S:Body></S:Envelope>"#
    );
    for text in [default_ns, generated] {
        let envelope = read(&text).unwrap();
        assert_eq!(
            envelope.payload_name(),
            QName::new(PA_FOR_NODE, "paGetPaymentReq")
        );
    }
    // The right local name in the wrong namespace is another element (pagopa.md: an example whose body
    // element is in the nodeForPsp namespace is invalid).
    let wrong = format!(
        r#"<S:Envelope xmlns:S="{SOAP11_NAMESPACE}"><S:Body><n:paGetPaymentReq xmlns:n="http://pagopa-api.pagopa.gov.it/psp/nodeForPsp.xsd"/></S:Body></S:Envelope>"#
    );
    let dispatcher = Dispatcher::new().route(QName::new(PA_FOR_NODE, "paGetPaymentReq"), ());
    let err = dispatcher.operation(&read(&wrong).unwrap()).unwrap_err();
    assert!(matches!(err, SoapError::UnknownOperation { .. }), "{err}");
    assert!(err.to_string().contains("nodeForPsp"), "{err}");
}

#[test]
fn malformed_envelopes_are_refused_with_the_reason_and_a_client_fault() {
    let env = |inner: &str| format!(r#"<s:Envelope xmlns:s="{SOAP11_NAMESPACE}">{inner}</s:Envelope>"#);
    type Expectation = fn(&SoapError) -> bool;
    let cases: Vec<(String, Expectation)> = vec![
        ("<notSoap/>".into(), |e| matches!(e, SoapError::NotAnEnvelope { .. })),
        (
            r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><a/></e:Body></e:Envelope>"#.into(),
            |e| matches!(e, SoapError::VersionMismatch),
        ),
        (env("<s:Header/>"), |e| matches!(e, SoapError::MissingBody)),
        (env("<s:Body/>"), |e| matches!(e, SoapError::EmptyBody)),
        (env("<s:Body>  \n </s:Body>"), |e| matches!(e, SoapError::EmptyBody)),
        (env("<s:Body><a/><b/></s:Body>"), |e| matches!(e, SoapError::SeveralBodyElements { count: 2 })),
        (env("<s:Body>text<a/></s:Body>"), |e| matches!(e, SoapError::TextInBody)),
        (env("<s:Body><a/></s:Body><s:Body><b/></s:Body>"), |e| matches!(e, SoapError::UnexpectedEnvelopeChild { .. })),
        (env("<s:Body><a/></s:Body><s:Header/>"), |e| matches!(e, SoapError::UnexpectedEnvelopeChild { .. })),
        (env("<s:Header/><s:Header/><s:Body><a/></s:Body>"), |e| matches!(e, SoapError::UnexpectedEnvelopeChild { .. })),
        (env("<other/><s:Body><a/></s:Body>"), |e| matches!(e, SoapError::UnexpectedEnvelopeChild { .. })),
        (env("<s:Body><s:Fault><faultstring>x</faultstring></s:Fault></s:Body>"), |e| {
            matches!(e, SoapError::MalformedFault { missing: "faultcode" })
        }),
        (
            format!(r#"<!DOCTYPE s:Envelope [<!ENTITY x "y">]>{}"#, env("<s:Body><a>&x;</a></s:Body>")),
            |e| matches!(e, SoapError::Xml(XmlError::DoctypeForbidden { .. })),
        ),
        (env("<s:Body><a>"), |e| matches!(e, SoapError::Xml(_))),
    ];
    for (text, expected) in cases {
        let err = read(&text).expect_err(&text);
        assert!(expected(&err), "{text}: got {err:?}");
        let fault = err.fault();
        let code_ok = match err {
            SoapError::VersionMismatch => fault.code == FaultCode::VersionMismatch,
            _ => fault.code == FaultCode::Client,
        };
        assert!(code_ok, "{text}: {:?}", fault.code);
        assert_eq!(fault.string, err.to_string());
    }
}

#[test]
fn oversized_input_is_refused_by_the_screening_limits() {
    let big = format!(
        r#"<s:Envelope xmlns:s="{SOAP11_NAMESPACE}"><s:Body><a>{}</a></s:Body></s:Envelope>"#,
        "x".repeat(2 << 20)
    );
    let err = read(&big).unwrap_err();
    assert!(matches!(err, SoapError::Xml(XmlError::TooLarge { .. })), "{err}");
}

#[test]
fn faults_round_trip_and_classify() {
    let faults = [
        Fault::new(FaultCode::Client, "Internal Error (from client)"),
        Fault::new(FaultCode::Server, "Rejected by policy <&> \"quoted\"")
            .with_detail("<x:why xmlns:x=\"urn:x\">busy</x:why>"),
        Fault::new(
            FaultCode::Other(QName::new(SOAP11_NAMESPACE, "Client.Authentication")),
            "who are you",
        ),
        Fault::new(
            FaultCode::Other(QName::new("urn:vendor", "Throttled")),
            "slow down",
        ),
    ];
    for fault in faults {
        let text = EnvelopeBuilder::new().fault(&fault);
        let envelope = read(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let read_back = envelope.fault().expect("a fault");
        assert_eq!(read_back.code, fault.code, "{text}");
        assert_eq!(read_back.string, fault.string);
        assert_eq!(envelope.fault_detail().is_some(), fault.detail.is_some());
    }
    assert!(FaultCode::Client.is_client() && !FaultCode::Client.is_server());
    assert!(FaultCode::Other(QName::new(SOAP11_NAMESPACE, "Server.Busy")).is_server());
    assert!(!FaultCode::Other(QName::new("urn:vendor", "Client.X")).is_client());
}

#[test]
fn a_fault_as_anpr_sends_it_reads_with_its_own_prefix() {
    // The shape of the faults quoted in ANPR's issues: `env:Client`, "Internal Error (from client)".
    let text = r#"<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header/><env:Body><env:Fault><faultcode>env:Client</faultcode><faultstring>Internal Error (from client)</faultstring></env:Fault></env:Body></env:Envelope>"#;
    let envelope = read(text).unwrap();
    let fault = envelope.fault().unwrap();
    assert_eq!(fault.code, FaultCode::Client);
    assert_eq!(fault.string, "Internal Error (from client)");
}

#[test]
fn headers_are_found_by_name_and_must_understand_is_enforced() {
    let wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    let text = EnvelopeBuilder::new()
        .header_block(format!(
            r#"<wsse:Security xmlns:wsse="{wsse}" xmlns:s="{SOAP11_NAMESPACE}" s:mustUnderstand="1"/>"#
        ))
        .header_block(r#"<t:trace xmlns:t="urn:trace">1</t:trace>"#)
        .body(r#"<r:Richiesta3002 xmlns:r="http://sogei.it/ANPR/3000consultazione"/>"#);
    let envelope = read(&text).unwrap();
    let security = QName::new(wsse, "Security");
    assert_eq!(envelope.header_blocks().len(), 2);
    assert!(envelope.header_block(&security).is_some());
    let err = envelope.check_must_understand(&[]).unwrap_err();
    assert!(
        matches!(&err, SoapError::MustUnderstand { block } if *block == security),
        "{err}"
    );
    assert_eq!(err.fault().code, FaultCode::MustUnderstand);
    envelope.check_must_understand(&[security]).unwrap();
}

#[test]
fn written_envelopes_carry_the_payload_unchanged() {
    let payload = format!(
        r#"<p:paVerifyPaymentNoticeRes xmlns:p="{PA_FOR_NODE}"><outcome>OK</outcome><note>{}</note></p:paVerifyPaymentNoticeRes>"#,
        escape_text("a < b & c > d\r\n")
    );
    let text = EnvelopeBuilder::new().body(&payload);
    let envelope = read(&text).unwrap();
    let doc = envelope.document();
    let note = doc.child_elements(envelope.payload()).nth(1).unwrap();
    assert_eq!(doc.text_content(note), "a < b & c > d\r\n");
    let attr = format!(r#"<a v="{}"/>"#, escape_attribute("\"x\"\t\n&"));
    let envelope = read(&EnvelopeBuilder::new().body(&attr)).unwrap();
    let a = envelope.document().element(envelope.payload()).unwrap();
    assert_eq!(a.attribute(None, "v"), Some("\"x\"\t\n&"));
}

#[test]
fn soap_action_quotes_are_optional() {
    assert_eq!(soap_action("\"paVerifyPaymentNotice\""), "paVerifyPaymentNotice");
    assert_eq!(
        soap_action(" paVerifyPaymentNoticeReq "),
        "paVerifyPaymentNoticeReq"
    );
    assert_eq!(soap_action("\"\""), "");
}

#[test]
#[should_panic(expected = "two operations")]
fn two_operations_for_one_element_is_a_wiring_bug() {
    let _ = Dispatcher::new()
        .route(QName::new(PA_FOR_NODE, "a"), 1)
        .route(QName::new(PA_FOR_NODE, "a"), 2);
}

//! Service 6001: certificate requests validate against the official XSD and read back equal; the
//! official sample is read; the PDF and protocol number come back; KO is a rejection.

mod anpr_common;

use anpr_common::samples::*;
use anpr_common::{assert_valid, context, parse_payload, spec_dir};
use snodo_mappings::anpr::certificate::{self, Delivery, Requester};
use snodo_mappings::anpr::{AnprError, AnprMessage, Outcome, Rejection, ResponseHeader};

fn header(outcome: Outcome) -> ResponseHeader {
    let doc = parse_payload(&certificate::write_request(&certificate(), &context("77")).unwrap());
    let (req, _) = certificate::read_request(&doc, doc.document_element()).unwrap();
    ResponseHeader::answering(&req, "555000111", outcome)
}

#[test]
fn requests_validate_and_read_back_equal() {
    let mut data_only = certificate();
    data_only.data_only = true;
    data_only.requester = Requester::PublicAdministration;
    data_only.delivery = Delivery::Counter;
    data_only.stamp_duty_exemption = Some(5);
    data_only.holder.codice_fiscale = None;
    for cmd in [certificate(), data_only] {
        let xml = certificate::write_request(&cmd, &context("77")).unwrap();
        let doc = assert_valid(&xml);
        let (h, back) = certificate::read_request(&doc, doc.document_element()).unwrap();
        assert_eq!(back, cmd);
        assert_eq!(h.operazione_richiesta, "6001");
    }
}

#[test]
fn the_official_sample_request_is_read() {
    let xml =
        std::fs::read_to_string(spec_dir().join("../../soap-client-example/requests/6001_888013_FREE.xml"))
            .unwrap();
    let doc = parse_payload(&xml);
    let (_, cmd) = certificate::read_request(&doc, doc.document_element()).unwrap();
    assert_eq!(cmd.certificate_types, vec![8]);
    assert_eq!(cmd.requester, Requester::Holder);
    assert_eq!(cmd.delivery, Delivery::Counter);
    assert_eq!(cmd.holder.surname.as_deref(), Some("SPERANZA"));
    assert_eq!((cmd.stamp_duty_cents, cmd.fees_cents), (2, 2));
}

#[test]
fn the_pdf_and_protocol_number_come_back() {
    let event = certificate_issued();
    let xml = certificate::write_response(&header(Outcome::Ok), &certificate(), &event).unwrap();
    let doc = assert_valid(&xml);
    assert_eq!(
        certificate::read_response(&doc, doc.document_element())
            .unwrap()
            .unwrap(),
        event
    );

    // base64 folded over lines, as some SOAP stacks write it, is unfolded.
    let folded = parse_payload(&xml.replace("JVBERi0x", "JVBE\r\nRi0x"));
    let back = certificate::read_response(&folded, folded.document_element())
        .unwrap()
        .unwrap();
    assert_eq!(back.pdf_base64.as_deref(), Some("JVBERi0xLjQK"));

    let broken = parse_payload(&xml.replace("JVBERi0xLjQK", "JVBER!0xLjQK"));
    assert!(matches!(
        certificate::read_response(&broken, broken.document_element()),
        Err(AnprError::Invalid { .. })
    ));
}

#[test]
fn ko_is_a_rejection() {
    let r = Rejection {
        header: header(Outcome::Other("XXXX".into())),
        errors: vec![AnprMessage::error("EN042", "Soggetto non presente alla data")],
    };
    let xml = certificate::write_rejection(&r).unwrap();
    let doc = assert_valid(&xml);
    let back = certificate::read_response(&doc, doc.document_element())
        .unwrap()
        .unwrap_err();
    assert_eq!(back.platform_code(), Some("EN042"));
    assert_eq!(back.header.outcome, Outcome::Rejected);
}

#[test]
fn impossible_requests_name_the_field() {
    type BreakIt = fn(&mut certificate::IssueCertificate);
    let cases: [(&str, BreakIt); 5] = [
        ("certificate_types", |c| c.certificate_types.clear()),
        ("certificate_types[1]", |c| c.certificate_types[1] = 21),
        ("stamp_duty_cents", |c| c.stamp_duty_cents = 100_000),
        ("officer.surname", |c| c.officer.surname = String::new()),
        ("holder.codice_fiscale", |c| {
            c.holder.codice_fiscale = Some("RSSMRA80A01F205XY".into())
        }),
    ];
    for (field, break_it) in cases {
        let mut cmd = certificate();
        break_it(&mut cmd);
        match certificate::write_request(&cmd, &context("1")) {
            Err(AnprError::Field { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

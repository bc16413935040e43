//! The independent judge: every payload the ANPR mappings write in the tests (requests and answers,
//! OK and KO) is validated by the `xmllint` CLI against the official XSD, and xmllint is shown to
//! reject a broken one, so the agreement means something.

mod anpr_common;

use std::process::Command;

use anpr_common::samples::*;
use anpr_common::{context, parse_payload, spec_dir, xsd_for};
use snodo_mappings::anpr::bulk::{self, Accepted, PollItem, PollResult, StartBulkLookup};
use snodo_mappings::anpr::lookup::Section;
use snodo_mappings::anpr::{AnprMessage, Outcome, Rejection, ResponseHeader, SchemaV1, certificate, lookup};

fn written() -> Vec<(String, String)> {
    let h = |service: &str, outcome: Outcome| {
        let doc = parse_payload(&lookup::write_request(&lookup_by_cf(), &context("300")).unwrap());
        let (mut req, _) = lookup::read_request(&doc, doc.document_element()).unwrap();
        req.operazione_richiesta = service.into();
        ResponseHeader::answering(&req, "4242", outcome)
    };
    let ko = |service: &str| Rejection {
        header: h(service, Outcome::Rejected),
        errors: vec![AnprMessage::error("EN122", "Nessun risultato & niente <altro>")],
    };
    let chunk = StartBulkLookup {
        schema: SchemaV1,
        codici_fiscali: vec!["RSSMRA80A01F205X".into(), "12345678903".into()],
        sections: vec![Section::FullRecord],
        reference_date: Some(day(2025, 1, 1)),
    }
    .chunks(day(2025, 1, 1))
    .unwrap()
    .remove(0);
    let poll = PollResult {
        status: "1".into(),
        id_operazione_anpr: "4242".into(),
        available_at: "2025-03-14T11:00:00Z".into(),
        page: None,
        items: vec![PollItem {
            id_operazione_anpr: "4243".into(),
            state: None,
            kind: Some("N030".into()),
            content_base64: None,
            format: None,
        }],
    };
    vec![
        (
            "3002-request-cf".into(),
            lookup::write_request(&lookup_by_cf(), &context("1")).unwrap(),
        ),
        (
            "3002-request-name".into(),
            lookup::write_request(&lookup_by_name(), &context("2")).unwrap(),
        ),
        (
            "3002-ok".into(),
            lookup::write_response(&h("3002", Outcome::Ok), &lookup_completed()).unwrap(),
        ),
        ("3002-ko".into(), lookup::write_rejection(&ko("3002")).unwrap()),
        (
            "6001-request".into(),
            certificate::write_request(&certificate(), &context("3")).unwrap(),
        ),
        (
            "6001-ok".into(),
            certificate::write_response(&h("6001", Outcome::Ok), &certificate(), &certificate_issued())
                .unwrap(),
        ),
        (
            "6001-ko".into(),
            certificate::write_rejection(&ko("6001")).unwrap(),
        ),
        (
            "4002-request".into(),
            bulk::write_request(&chunk, &context("4")).unwrap(),
        ),
        (
            "4002-ok".into(),
            bulk::write_response(
                &h("4002", Outcome::Ok),
                &Accepted {
                    id_operazione_anpr: "4242".into(),
                },
            )
            .unwrap(),
        ),
        (
            "4002-ko".into(),
            bulk::write_rejection("4002", &ko("4002")).unwrap(),
        ),
        (
            "4005-request".into(),
            bulk::write_poll_request("4242", 1, &context("5")).unwrap(),
        ),
        (
            "4005-ok".into(),
            bulk::write_poll_response(&h("4005", Outcome::Ok), &poll).unwrap(),
        ),
        (
            "4005-ko".into(),
            bulk::write_rejection("4005", &ko("4005")).unwrap(),
        ),
    ]
}

fn xmllint(name: &str, xml: &str) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("snodo-anpr-xmllint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.xml"));
    std::fs::write(&file, xml).unwrap();
    let doc = parse_payload(xml);
    let ns = doc
        .element(doc.document_element())
        .unwrap()
        .name()
        .namespace()
        .unwrap()
        .to_owned();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(spec_dir().join(xsd_for(&ns)))
        .arg(&file)
        .output()
        .expect("xmllint is installed (scripts/test installs libxml2-utils)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn xmllint_accepts_every_written_payload() {
    for (name, xml) in written() {
        anpr_common::assert_valid(&xml);
        let (ok, stderr) = xmllint(&name, &xml);
        assert!(ok, "xmllint rejects {name}: {stderr}\n{xml}");
    }
}

#[test]
fn xmllint_rejects_a_broken_payload() {
    let xml = lookup::write_request(&lookup_by_cf(), &context("1")).unwrap();
    // tipoInvio is required; without it the request is invalid for both judges.
    let broken = xml.replace("<tipoInvio>TEST</tipoInvio>", "");
    let (ok, _) = xmllint("broken", &broken);
    assert!(!ok, "xmllint must reject a request without tipoInvio");
    let doc = parse_payload(&broken);
    let schema = snodo_security::schema::Schema::compile(spec_dir().join("3000consultazione.xsd")).unwrap();
    assert!(schema.validate_element(&doc, doc.document_element()).is_err());
}

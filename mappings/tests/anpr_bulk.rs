//! Services 4002/4005 and notifications: a job is split into chunks of at most 2,000 (EN101), each
//! 4002 request validates and reads back equal, 4005 answers round-trip, result files and N0xx
//! notifications are told apart, and the embedded codici fiscali file is screened like any input.

mod anpr_common;

use anpr_common::samples::day;
use anpr_common::{assert_valid, context, parse_payload};
use snodo_mappings::anpr::bulk::{self, Accepted, PollItem, PollResult, StartBulkLookup};
use snodo_mappings::anpr::lookup::Section;
use snodo_mappings::anpr::{
    AnprError, AnprMessage, Outcome, Rejection, ResponseHeader, SchemaV1, notification,
};

fn job(n: usize) -> StartBulkLookup {
    StartBulkLookup {
        schema: SchemaV1,
        codici_fiscali: (0..n).map(|i| format!("RSSMRA80A01F{i:04}")).collect(),
        sections: vec![Section::PersonalData, Section::Residence],
        reference_date: None,
    }
}

fn header(service: &str) -> ResponseHeader {
    let doc = parse_payload(&bulk::write_poll_request("991", 1, &context("5")).unwrap());
    let (mut req, _, _) = bulk::read_poll_request(&doc, doc.document_element()).unwrap();
    req.operazione_richiesta = service.into();
    ResponseHeader::answering(&req, "991", Outcome::Ok)
}

#[test]
fn a_job_is_split_into_chunks_of_at_most_2000() {
    let chunks = job(4_500).chunks(day(2025, 3, 14)).unwrap();
    assert_eq!(
        chunks.iter().map(|c| c.codici_fiscali.len()).collect::<Vec<_>>(),
        vec![2_000, 2_000, 500]
    );
    assert!(chunks.iter().all(|c| c.reference_date == day(2025, 3, 14)));
    assert_eq!(job(2_000).chunks(day(2025, 1, 1)).unwrap().len(), 1);
    assert!(
        matches!(job(0).chunks(day(2025, 1, 1)), Err(AnprError::Field { field, .. }) if field == "codici_fiscali")
    );
    let mut bad = job(3);
    bad.codici_fiscali[2] = "RSSMRA80A01F205XXX".into();
    assert!(
        matches!(bad.chunks(day(2025, 1, 1)), Err(AnprError::Field { field, .. }) if field == "codici_fiscali[2]")
    );
}

#[test]
fn a_chunk_request_validates_and_reads_back_equal() {
    let chunks = job(2_001).chunks(day(2025, 3, 14)).unwrap();
    for chunk in &chunks {
        let xml = bulk::write_request(chunk, &context("88")).unwrap();
        let doc = assert_valid(&xml);
        let (h, back) = bulk::read_request(&doc, doc.document_element()).unwrap();
        assert_eq!(&back, chunk);
        assert_eq!(h.operazione_richiesta, "4002");
    }
    let mut too_big = chunks[0].clone();
    too_big.codici_fiscali.push("RSSMRA80A01F205X".into());
    assert!(bulk::write_request(&too_big, &context("88")).is_err());
}

#[test]
fn the_answer_carries_only_the_anpr_operation_id() {
    let xml = bulk::write_response(
        &header("4002"),
        &Accepted {
            id_operazione_anpr: "7001234".into(),
        },
    )
    .unwrap();
    let doc = assert_valid(&xml);
    assert_eq!(
        bulk::read_response(&doc, doc.document_element())
            .unwrap()
            .unwrap()
            .id_operazione_anpr,
        "7001234"
    );

    let ko = Rejection {
        header: header("4002"),
        errors: vec![AnprMessage::error(
            "EN101",
            "Numero massimo di codici fiscali superato",
        )],
    };
    let doc = assert_valid(&bulk::write_rejection("4002", &ko).unwrap());
    assert_eq!(
        bulk::read_response(&doc, doc.document_element())
            .unwrap()
            .unwrap_err()
            .platform_code(),
        Some("EN101")
    );
}

fn poll() -> PollResult {
    PollResult {
        status: "ELABORATA".into(),
        id_operazione_anpr: "7001234".into(),
        available_at: "2025-03-14T11:00:00+01:00".into(),
        page: Some((1, 2)),
        items: vec![
            PollItem {
                id_operazione_anpr: "7001234".into(),
                state: Some(3),
                kind: Some("4002".into()),
                content_base64: Some("PHg+PC94Pg==".into()),
                format: Some("XML".into()),
            },
            PollItem {
                id_operazione_anpr: "9000001".into(),
                state: None,
                kind: Some("N030".into()),
                content_base64: Some("PG4vPg==".into()),
                format: None,
            },
            PollItem {
                id_operazione_anpr: "9000002".into(),
                state: Some(1),
                kind: Some("N010".into()),
                content_base64: None,
                format: None,
            },
        ],
    }
}

#[test]
fn polls_validate_and_round_trip() {
    let xml = bulk::write_poll_request("7001234", 2, &context("89")).unwrap();
    let doc = assert_valid(&xml);
    let (h, id, page) = bulk::read_poll_request(&doc, doc.document_element()).unwrap();
    assert_eq!(
        (h.operazione_richiesta.as_str(), id.as_str(), page),
        ("4005", "7001234", 2)
    );

    let xml = bulk::write_poll_response(&header("4005"), &poll()).unwrap();
    let doc = assert_valid(&xml);
    assert_eq!(
        bulk::read_poll_response(&doc, doc.document_element())
            .unwrap()
            .unwrap(),
        poll()
    );

    let ko = Rejection {
        header: header("4005"),
        errors: vec![AnprMessage::error("EN099", "Elaborazione non ancora disponibile")],
    };
    let doc = assert_valid(&bulk::write_rejection("4005", &ko).unwrap());
    assert_eq!(
        bulk::read_poll_response(&doc, doc.document_element())
            .unwrap()
            .unwrap_err()
            .platform_code(),
        Some("EN099")
    );
}

#[test]
fn results_and_notifications_are_told_apart() {
    let results = bulk::results(4, &poll());
    assert_eq!(results.len(), 1);
    assert_eq!((results[0].chunk, results[0].page, results[0].pages), (4, 1, 2));

    let notes = notification::from_poll(&poll());
    assert_eq!(
        notes.iter().map(|n| n.kind.as_str()).collect::<Vec<_>>(),
        vec!["N030", "N010"]
    );
    assert_eq!(notes[0].platform_key(), "anpr:N030:9000001");
    assert_ne!(notes[0].platform_key(), notes[1].platform_key());
    let json = serde_json::to_string(&notes[1]).unwrap();
    assert_eq!(
        json,
        r#"{"schema":1,"notification_id":"9000002","kind":"N010","state":1}"#
    );
}

#[test]
fn a_hostile_embedded_file_is_refused() {
    use base64::Engine;
    let chunk = &job(2).chunks(day(2025, 3, 14)).unwrap()[0];
    let xml = bulk::write_request(chunk, &context("90")).unwrap();
    let start = xml.find("<xmlFileCodiciFiscali>").unwrap() + "<xmlFileCodiciFiscali>".len();
    let end = xml.find("</xmlFileCodiciFiscali>").unwrap();
    let bomb = "<!DOCTYPE a [<!ENTITY x \"xxxxxxxx\"><!ENTITY y \"&x;&x;&x;&x;\">]><codiciFiscali><codiceFiscale>&y;</codiceFiscale></codiciFiscali>";
    let evil = format!(
        "{}{}{}",
        &xml[..start],
        base64::engine::general_purpose::STANDARD.encode(bomb),
        &xml[end..]
    );
    let doc = parse_payload(&evil);
    assert!(matches!(
        bulk::read_request(&doc, doc.document_element()),
        Err(AnprError::Xml(_))
    ));

    let not_base64 = format!("{}!!{}", &xml[..start], &xml[end..]);
    let doc = parse_payload(&not_base64);
    assert!(matches!(
        bulk::read_request(&doc, doc.document_element()),
        Err(AnprError::Invalid { .. })
    ));
}

//! Service 3002: requests written from commands validate against the official XSD and read back
//! equal; the official sample request is read; answers round-trip; rejections carry the ANPR code.

mod anpr_common;

use anpr_common::samples::*;
use anpr_common::{assert_valid, context, parse_payload, spec_dir};
use snodo_mappings::anpr::lookup::{self, LookupKey, Section};
use snodo_mappings::anpr::{AnprError, AnprMessage, Outcome, Rejection, ResponseHeader};

#[test]
fn requests_validate_and_read_back_equal() {
    for cmd in [lookup_by_cf(), lookup_by_name()] {
        let xml = lookup::write_request(&cmd, &context("1001")).unwrap();
        let doc = assert_valid(&xml);
        let (header, back) = lookup::read_request(&doc, doc.document_element()).unwrap();
        assert_eq!(back, cmd);
        assert_eq!(header.id_operazione_comune, "1001");
        assert_eq!(header.cod_mittente, "015146");
        assert_eq!(header.cod_destinatario, "ANPR05");
        assert_eq!(header.operazione_richiesta, "3002");
        assert_eq!(header.tipo_invio, "TEST");
        assert_eq!(header.data_ora_richiesta, "2025-03-14T10:15:30.250+01:00");
    }
}

#[test]
fn the_reference_date_defaults_to_the_request_day() {
    let mut cmd = lookup_by_cf();
    cmd.reference_date = None;
    let xml = lookup::write_request(&cmd, &context("7")).unwrap();
    assert!(xml.contains("<dataRiferimentoRichiesta>2025-03-14</dataRiferimentoRichiesta>"));
}

#[test]
fn the_official_sample_request_is_read() {
    let xml =
        std::fs::read_to_string(spec_dir().join("../../soap-client-example/requests/3002_888002_FREE.xml"))
            .unwrap();
    let doc = parse_payload(&xml);
    let (header, cmd) = lookup::read_request(&doc, doc.document_element()).unwrap();
    assert_eq!(header.tipo_invio, "FREE");
    assert_eq!(cmd.sections, vec![Section::PersonalData]);
    assert_eq!(cmd.reference_date, Some(day(2017, 3, 27)));
    assert!(matches!(cmd.by, LookupKey::Generalita(ref g) if g.surname == "ROSSI"));
}

fn response_header(outcome: Outcome) -> ResponseHeader {
    let doc = parse_payload(&lookup::write_request(&lookup_by_cf(), &context("42")).unwrap());
    let (req, _) = lookup::read_request(&doc, doc.document_element()).unwrap();
    ResponseHeader::answering(&req, "123456789012", outcome)
}

#[test]
fn answers_validate_and_read_back_equal() {
    let event = lookup_completed();
    let xml = lookup::write_response(&response_header(Outcome::OkWithWarnings), &event).unwrap();
    let doc = assert_valid(&xml);
    let back = lookup::read_response(&doc, doc.document_element())
        .unwrap()
        .unwrap();
    assert_eq!(back, event);
}

#[test]
fn en122_is_a_rejection_with_code_and_italian_text() {
    let rejection = Rejection {
        header: response_header(Outcome::Rejected),
        errors: vec![
            AnprMessage::warning("EN300", "Avviso"),
            AnprMessage::error("EN122", "La ricerca non ha prodotto risultati"),
        ],
    };
    let xml = lookup::write_rejection(&rejection).unwrap();
    let doc = assert_valid(&xml);
    let back = lookup::read_response(&doc, doc.document_element())
        .unwrap()
        .unwrap_err();
    assert_eq!(back, rejection);
    assert_eq!(back.platform_code(), Some("EN122"));
    assert_eq!(
        back.platform_message(),
        Some("La ricerca non ha prodotto risultati")
    );
}

#[test]
fn every_esito_code_seen_in_the_wild_is_accepted() {
    for (code, outcome) in [
        ("0000", Outcome::Ok),
        ("2", Outcome::Ok),
        ("6", Outcome::OkWithWarnings),
        ("3", Outcome::Rejected),
        ("XXXX", Outcome::Rejected),
        ("4", Outcome::Annulled),
        ("9", Outcome::Other("9".into())),
    ] {
        let xml = lookup::write_response(&response_header(Outcome::Ok), &lookup_completed())
            .unwrap()
            .replace(
                "<esitoOperazione>2</esitoOperazione>",
                &format!("<esitoOperazione>{code}</esitoOperazione>"),
            );
        let doc = parse_payload(&xml);
        assert!(
            lookup::read_response(&doc, doc.document_element())
                .unwrap()
                .is_ok()
        );
        assert_eq!(Outcome::from_code(code), outcome);
    }
}

#[test]
fn impossible_requests_name_the_field() {
    let mut cmd = lookup_by_cf();
    cmd.by = LookupKey::CodiceFiscale("RSS-MRA".into());
    let err = lookup::write_request(&cmd, &context("1")).unwrap_err();
    assert!(
        matches!(err, AnprError::Field { ref field, .. } if field == "by.codice_fiscale"),
        "{err}"
    );
    assert!(
        !err.to_string().contains("RSS-MRA"),
        "no value in the message: {err}"
    );

    let mut cmd = lookup_by_cf();
    cmd.sections = vec![Section::FullRecord, Section::Residence];
    assert!(
        matches!(lookup::write_request(&cmd, &context("1")), Err(AnprError::Field { field, .. }) if field == "sections")
    );

    let mut cmd = lookup_by_cf();
    cmd.sections.clear();
    assert!(
        matches!(lookup::write_request(&cmd, &context("1")), Err(AnprError::Field { field, .. }) if field == "sections")
    );

    let mut cmd = lookup_by_name();
    if let LookupKey::Generalita(g) = &mut cmd.by {
        g.surname = "ROSSI<script>".into();
    }
    assert!(
        matches!(lookup::write_request(&cmd, &context("1")), Err(AnprError::Field { field, .. }) if field == "by.generalita.surname")
    );

    assert!(
        matches!(lookup::write_request(&lookup_by_cf(), &context("12-3")), Err(AnprError::Field { field, .. }) if field == "idOperazioneComune")
    );
}

#[test]
fn commands_refuse_unknown_fields_and_other_schema_versions() {
    let ok = r#"{"schema":1,"by":{"codice_fiscale":"RSSMRA80A01F205X"},"sections":["residence"]}"#;
    let cmd: lookup::LookupResident = serde_json::from_str(ok).unwrap();
    assert_eq!(cmd.sections, vec![Section::Residence]);
    assert!(
        serde_json::from_str::<lookup::LookupResident>(&ok.replace("\"schema\":1", "\"schema\":2")).is_err()
    );
    assert!(serde_json::from_str::<lookup::LookupResident>(&ok.replace("}", ",\"extra\":true}")).is_err());
}

#[test]
fn hostile_and_malformed_answers_are_errors_not_panics() {
    let doctype = "<!DOCTYPE x [<!ENTITY a \"b\">]><ns:Risposta3002 xmlns:ns=\"http://sogei.it/ANPR/3000consultazione\"/>";
    assert!(snodo_security::xml::parse(doctype.as_bytes(), &Default::default()).is_err());

    let empty = parse_payload(r#"<ns:Risposta3002 xmlns:ns="http://sogei.it/ANPR/3000consultazione"/>"#);
    assert!(matches!(
        lookup::read_response(&empty, empty.document_element()),
        Err(AnprError::Invalid { .. })
    ));

    let wrong = parse_payload(r#"<ns:Risposta6001 xmlns:ns="http://sogei.it/ANPR/6001certificazione"/>"#);
    assert!(matches!(
        lookup::read_response(&wrong, wrong.document_element()),
        Err(AnprError::UnexpectedElement { .. })
    ));

    let no_header = parse_payload(
        r#"<ns:Risposta3002 xmlns:ns="http://sogei.it/ANPR/3000consultazione"><ns:Risposta3002_OK/></ns:Risposta3002>"#,
    );
    assert!(
        matches!(lookup::read_response(&no_header, no_header.document_element()), Err(AnprError::Missing { path }) if path.ends_with("testataRisposta"))
    );

    let xml = lookup::write_response(&response_header(Outcome::Ok), &lookup_completed()).unwrap();
    let bad_date = parse_payload(&xml.replace(
        "<dataNascita>1980-01-01</dataNascita>",
        "<dataNascita>1980-13-01</dataNascita>",
    ));
    assert!(matches!(
        lookup::read_response(&bad_date, bad_date.document_element()),
        Err(AnprError::Invalid { .. })
    ));
}

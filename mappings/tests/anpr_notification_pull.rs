//! Service 3003 as the notification pull: the request validates against the official XSD (the
//! crate's validator and `xmllint` both judge it), and an answer is read into notifications whose id
//! comes from inside each notification's XML — the id a pushed copy carries — so both copies get the
//! same `message_id`.

mod anpr_common;

use std::process::Command;

use anpr_common::{assert_valid, context, parse_payload, spec_dir};
use base64::Engine;
use chrono::DateTime;
use snodo_mappings::anpr::notification_pull::{self, PullQuery};
use snodo_mappings::anpr::{AnprError, SchemaV1, notification::NotificationReceived};

fn encode_block(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

const NS: &str = "http://sogei.it/ANPR/3000consultazione";

fn query(kind: Option<&str>) -> PullQuery {
    PullQuery {
        kind: kind.map(str::to_owned),
        from: DateTime::parse_from_rfc3339("2025-03-01T00:00:00+01:00").unwrap(),
        to: DateTime::parse_from_rfc3339("2025-03-14T10:15:30+01:00").unwrap(),
    }
}

fn xmllint(name: &str, xml: &str) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("snodo-anpr-3003-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.xml"));
    std::fs::write(&file, xml).unwrap();
    let out = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(spec_dir().join("3000consultazione.xsd"))
        .arg(&file)
        .output()
        .expect("xmllint is installed (scripts/test installs libxml2-utils)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn testata(outcome: &str) -> String {
    "<testataRisposta><idOperazioneComune>77</idOperazioneComune><codMittente>ANPR</codMittente>\
     <codDestinatario>015146</codDestinatario><operazioneRichiesta>3003</operazioneRichiesta>\
     <dataOraRichiesta>2025-03-14T10:15:30.250+01:00</dataOraRichiesta><idOperazioneANPR>5550001</idOperazioneANPR>\
     <esitoOperazione>"
        .to_owned()
        + outcome
        + "</esitoOperazione></testataRisposta>"
}

fn entry(kind: &str, xml: &str) -> String {
    format!(
        "<elencoRisposte><statoLavorazione>1</statoLavorazione><tipoOperazione>{kind}</tipoOperazione>\
         <xmlRisposta>{}</xmlRisposta></elencoRisposte>",
        encode_block(xml.as_bytes())
    )
}

fn ok_answer(entries: &[String]) -> String {
    format!(
        "<ns:Risposta3003 xmlns:ns=\"{NS}\"><ns:Risposta3003_OK>{}<comuneRichiesta><nomeComune>MILANO</nomeComune>\
         <codiceIstat>015146</codiceIstat><siglaProvinciaIstat>MI</siglaProvinciaIstat></comuneRichiesta>{}\
         </ns:Risposta3003_OK></ns:Risposta3003>",
        testata("2"),
        entries.concat()
    )
}

fn ko_answer(code: &str) -> String {
    format!(
        "<ns:Risposta3003 xmlns:ns=\"{NS}\"><ns:rispostaKO>{}<listaErrori><errore>\
         <codiceErroreAnomalia>{code}</codiceErroreAnomalia><tipoErroreAnomalia>E</tipoErroreAnomalia>\
         <testoErroreAnomalia>Errore</testoErroreAnomalia></errore></listaErrori></ns:rispostaKO></ns:Risposta3003>",
        testata("3")
    )
}

fn read(xml: &str) -> Result<Result<notification_pull::Pulled, snodo_mappings::anpr::Rejection>, AnprError> {
    let doc = assert_valid(xml);
    notification_pull::read_response(&doc, doc.document_element())
}

#[test]
fn the_request_is_valid_for_both_validators_with_and_without_a_kind() {
    for (name, q) in [("all", query(None)), ("n010", query(Some("N010")))] {
        let xml = notification_pull::write_request(&q, &context("77")).unwrap();
        let doc = assert_valid(&xml);
        let (ok, stderr) = xmllint(name, &xml);
        assert!(ok, "xmllint rejects the 3003 request: {stderr}\n{xml}");
        let root = doc.document_element();
        assert_eq!(doc.element(root).unwrap().name().local_name(), "Richiesta3003");
        assert!(xml.contains("<operazioneRichiesta>3003</operazioneRichiesta>"));
        assert!(xml.contains("<statoLavorazione>1</statoLavorazione>"));
        assert_eq!(
            xml.contains("<operazioneRichiesta>N010</operazioneRichiesta>"),
            name == "n010"
        );
        assert!(xml.contains("<dataOraIniziale>2025-03-01T00:00:00+01:00</dataOraIniziale>"));
    }
}

#[test]
fn xmllint_rejects_a_request_it_should() {
    let xml = notification_pull::write_request(&query(None), &context("77"))
        .unwrap()
        .replace("<statoLavorazione>1</statoLavorazione>", "");
    let (ok, _) = xmllint("broken", &xml);
    assert!(
        !ok,
        "ricercaElenchiRichieste without statoLavorazione must be refused"
    );
}

#[test]
fn a_bad_query_names_its_field() {
    let bad_kind = notification_pull::write_request(&query(Some("N0100")), &context("77"));
    assert!(matches!(bad_kind, Err(AnprError::Field { field, .. }) if field == "kind"));
    let mut backwards = query(None);
    std::mem::swap(&mut backwards.from, &mut backwards.to);
    let backwards = notification_pull::write_request(&backwards, &context("77"));
    assert!(matches!(backwards, Err(AnprError::Field { field, .. }) if field == "from"));
}

#[test]
fn the_answer_yields_notifications_identified_from_their_own_xml() {
    let n010 = "<notificaN010><testataNotifica><idOperazioneANPR>9000001</idOperazioneANPR></testataNotifica>\
                <esito><idOperazioneANPR>1</idOperazioneANPR></esito></notificaN010>";
    let n030 = "<notifica><idOperazioneANPR>9000002</idOperazioneANPR></notifica>";
    let xml = ok_answer(&[
        entry("N010", n010),
        entry("3002", "<esito>not a notification</esito>"),
        entry("n030", n030),
        entry("N015", "<notifica><senzaId/></notifica>"),
        entry("N031", "this is not XML <"),
    ]);
    let (ok, stderr) = xmllint("answer", &xml);
    assert!(ok, "xmllint rejects the hand-written answer: {stderr}");
    let pulled = read(&xml).unwrap().unwrap();
    assert_eq!(pulled.unidentified, 2);
    assert_eq!(
        pulled.notifications,
        vec![
            NotificationReceived {
                schema: SchemaV1,
                notification_id: "9000001".into(),
                kind: "N010".into(),
                state: Some(1),
                content_base64: Some(encode_block(n010.as_bytes())),
            },
            NotificationReceived {
                schema: SchemaV1,
                notification_id: "9000002".into(),
                kind: "N030".into(),
                state: Some(1),
                content_base64: Some(encode_block(n030.as_bytes())),
            },
        ]
    );
    // The key a pushed N010 with idOperazioneANPR 9000001 gets: the two copies are one message.
    assert_eq!(pulled.notifications[0].platform_key(), "anpr:N010:9000001");
}

#[test]
fn nothing_found_is_an_empty_pull_and_other_refusals_are_rejections() {
    let empty = read(&ko_answer("EN122")).unwrap().unwrap();
    assert!(empty.notifications.is_empty() && empty.unidentified == 0);
    let refused = read(&ko_answer("EN079")).unwrap().unwrap_err();
    assert_eq!(refused.platform_code(), Some("EN079"));
}

#[test]
fn an_answer_for_another_service_is_refused() {
    let doc = parse_payload(&notification_pull::write_request(&query(None), &context("77")).unwrap());
    assert!(notification_pull::read_response(&doc, doc.document_element()).is_err());
}

#[test]
fn an_id_must_be_digits() {
    assert_eq!(
        notification_pull::notification_id(b"<n><idOperazioneANPR> 42 </idOperazioneANPR></n>"),
        Some("42".into())
    );
    assert_eq!(
        notification_pull::notification_id(b"<n><idOperazioneANPR>4a</idOperazioneANPR></n>"),
        None
    );
    assert_eq!(notification_pull::notification_id(b"<n/>"), None);
}

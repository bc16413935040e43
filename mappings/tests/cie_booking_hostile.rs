//! Invalid and hostile input: command JSON that is not its type (unknown fields, other schema
//! versions, wrong types — with values never echoed), envelopes the screening parser refuses, and
//! payloads the XSD refuses being refused by the readers too (the XSD, through the crate's
//! validator, is the judge), while what the XSD allows through whitespace collapsing is read.

mod cie_booking_common;

use cie_booking_common::samples::*;
use cie_booking_common::{parse_payload, request_header, schema};
use serde_json::json;
use snodo_mappings::cie_booking::{
    BookingError, Command, Operation, Response, read_reply, read_request, write_command, write_reply,
};
use snodo_mappings::soap::{SoapError, read_envelope};
use snodo_security::xml::Limits;

fn from_json(kind: &str, value: serde_json::Value) -> Result<Command, BookingError> {
    Command::from_json(kind, &serde_json::to_vec(&value).unwrap())
}

#[test]
fn command_bodies_are_strict_and_errors_do_not_echo_values() {
    let ok = json!({"schema": 1, "booking_code": "CIE7K2M9Q4", "codice_fiscale": CF});
    from_json("cie_booking.appointment.confirm", ok.clone()).unwrap();

    let mut unknown = ok.clone();
    unknown["note"] = json!("x");
    let err = from_json("cie_booking.appointment.confirm", unknown).unwrap_err();
    assert!(err.to_string().contains("unknown field `note`"), "{err}");

    let mut v2 = ok.clone();
    v2["schema"] = json!(2);
    let err = from_json("cie_booking.appointment.confirm", v2).unwrap_err();
    assert!(err.to_string().contains("schema 2 is not supported"), "{err}");

    let err = from_json(
        "cie_booking.appointment.confirm",
        json!({"schema": 1, "booking_code": "CIE7K2M9Q4"}),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("missing field `codice_fiscale`"),
        "{err}"
    );

    // serde would quote the unexpected string: a codice fiscale where an object belongs.
    let err = from_json("cie_booking.appointment.status", json!({"schema": 1, "by": CF})).unwrap_err();
    assert!(
        matches!(err, BookingError::Json { ref command, .. } if command == "cie_booking.appointment.status")
    );
    assert!(!err.to_string().contains("RSSMRA"), "{err}");
    let err = from_json(
        "cie_booking.appointment.book",
        json!({"schema": 1, "slot_id": "S1", "reason": "RSSMRA80\"A01", "citizen": {}}),
    )
    .unwrap_err();
    assert!(
        !err.to_string().contains("RSSMRA") && !err.to_string().contains("A01"),
        "{err}"
    );

    // An unknown variant is the sender's value; an unknown field that is no identifier may be too.
    let err = from_json(
        "cie_booking.appointment.status",
        json!({"schema": 1, "by": {CF: "x"}}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown variant `…`"), "{err}");
    let err = from_json(
        "cie_booking.appointment.cancel",
        json!({"schema": 1, "booking_code": "CIE7K2M9Q4", "codice_fiscale": CF, "cancelled_by": "MARIO"}),
    )
    .unwrap_err();
    assert!(!err.to_string().contains("MARIO"), "{err}");
    let mut odd_key = ok.clone();
    odd_key[CF] = json!(1);
    let err = from_json("cie_booking.appointment.confirm", odd_key).unwrap_err();
    assert!(err.to_string().contains("unknown field `…`"), "{err}");

    let err = Command::from_json("cie_booking.appointment.book", b"{not json").unwrap_err();
    assert!(matches!(err, BookingError::Json { .. }), "{err}");
    for unknown_type in ["cie_booking.appointment.delete", "anpr.resident.lookup", ""] {
        let err = Command::from_json(unknown_type, ok.to_string().as_bytes()).unwrap_err();
        assert!(matches!(err, BookingError::UnknownCommand { .. }), "{err}");
    }
    let reason = json!({"schema": 1, "from": "2025-04-01", "to": "2025-04-02", "reason": "passport"});
    assert!(from_json("cie_booking.availability.search", reason).is_err());
    let date = json!({"schema": 1, "from": "01/04/2025", "to": "2025-04-02", "reason": "theft"});
    assert!(from_json("cie_booking.availability.search", date).is_err());
}

#[test]
fn hostile_envelopes_are_refused_before_any_mapping() {
    let payload = write_command(&Command::Confirm(confirm()), &request_header()).unwrap();
    let envelope = |body: &str| {
        format!(
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"#
        )
    };
    let good = read_envelope(envelope(&payload).as_bytes(), &Limits::default()).unwrap();
    read_request(good.document(), good.payload()).unwrap();

    let bomb = format!(
        r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>{}"#,
        envelope(&payload.replace("CIE7K2M9Q4", "&b;"))
    );
    let external = format!(
        r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>{}"#,
        envelope(&payload.replace("CIE7K2M9Q4", "&e;"))
    );
    let deep = envelope(&format!(
        "{}{}",
        "<a>".repeat(Limits::default().max_depth + 1),
        "</a>".repeat(Limits::default().max_depth + 1)
    ));
    for hostile in [bomb, external, deep] {
        let err = read_envelope(hostile.as_bytes(), &Limits::default()).unwrap_err();
        assert!(matches!(err, SoapError::Xml(_)), "{err}");
    }
}

/// Applies `edit` to a valid payload and checks the XSD refuses the result and so does the reader.
fn both_refuse(xml: &str, from: &str, to: &str, read: impl Fn(&snodo_security::xml::Document) -> bool) {
    assert!(xml.contains(from), "{from} not in\n{xml}");
    let edited = xml.replacen(from, to, 1);
    let doc = parse_payload(&edited);
    let xsd_refuses = schema().validate_element(&doc, doc.document_element()).is_err();
    assert!(xsd_refuses, "the XSD accepts {to}");
    assert!(!read(&doc), "the reader accepts {to}");
}

#[test]
fn requests_the_xsd_refuses_are_refused_by_the_reader() {
    let book = write_command(&Command::Book(book()), &request_header()).unwrap();
    let reads = |doc: &snodo_security::xml::Document| read_request(doc, doc.document_element()).is_ok();
    let cases = [
        (
            "<codiceFiscale>RSSMRA80A01F205X<",
            "<codiceFiscale>rssmra80a01f205x<",
        ),
        (
            "<codiceFiscale>RSSMRA80A01F205X<",
            "<codiceFiscale> RSSMRA80A01F205X<",
        ),
        (
            "<codiceFiscale>RSSMRA80A01F205X<",
            "<codiceFiscale>RSSMRA80Z01F205X<",
        ),
        ("<idOperazione>5f0c", "<idOperazione>5F0C"),
        ("<codMittente>015146<", "<codMittente>F205<"),
        ("+01:00</dataOraRichiesta>", "</dataOraRichiesta>"),
        ("<motivo>1<", "<motivo>6<"),
        ("<email>mario.rossi@example.it<", "<email>mario.rossi@example<"),
        ("<telefono>+393331234567<", "<telefono>333 1234567<"),
        ("<cognome>Rossi", "<cognome>\tRossi"),
        ("<nome>Mário</nome>", "<nome></nome>"),
        ("<idSlot>MI01-20250407-0900<", "<idSlot>MI01/20250407<"),
        (
            "<codIstatComuneResidenza>015146<",
            "<codIstatComuneResidenza>0151460<",
        ),
    ];
    for (from, to) in cases {
        both_refuse(&book, from, to, reads);
    }
    let missing = book.replace(
        &book[book.find("<richiedente>").unwrap()..book.find("<motivo>").unwrap()],
        "",
    );
    let doc = parse_payload(&missing);
    assert!(schema().validate_element(&doc, doc.document_element()).is_err());
    assert_eq!(
        read_request(&doc, doc.document_element()).unwrap_err(),
        BookingError::Missing {
            path: "PrenotaRichiesta/richiedente".into()
        }
    );

    let status = write_command(&Command::Status(status_by_code()), &request_header()).unwrap();
    both_refuse(
        &status,
        "</codicePrenotazione>",
        &format!("</codicePrenotazione><codiceFiscale>{CF}</codiceFiscale>"),
        reads,
    );
    let search = write_command(&Command::SearchAvailability(search()), &request_header()).unwrap();
    both_refuse(&search, "<dataDa>2025-04-01<", "<dataDa>2025-04-31<", reads);
    both_refuse(&search, "<dataDa>2025-04-01<", "<dataDa>2025-04-01Z<", reads);

    let foreign = book.replace("urn:snodo:cie-booking:v1", "urn:snodo:cie-booking:v2");
    let doc = parse_payload(&foreign);
    assert!(matches!(
        read_request(&doc, doc.document_element()),
        Err(BookingError::UnexpectedElement { .. })
    ));
}

#[test]
fn answers_the_xsd_refuses_are_refused_by_the_reader() {
    let book = write_reply(
        Operation::Book,
        &ok(Response::Book(completed(
            snodo_mappings::cie_booking::AppointmentState::Booked,
        ))),
    )
    .unwrap();
    let reads = |op: Operation| {
        move |doc: &snodo_security::xml::Document| read_reply(doc, doc.document_element(), op).is_ok()
    };
    let cases = [
        ("<stato>PRENOTATA<", "<stato>PRENOTATA_X<"),
        ("<durataMinuti>15<", "<durataMinuti>241<"),
        ("<durataMinuti>15<", "<durataMinuti>quindici<"),
        ("<codicePrenotazione>CIE7K2M9Q4<", "<codicePrenotazione>CIE7<"),
        (
            "<dataOra>2025-04-07T09:00:00+02:00<",
            "<dataOra>2025-04-07 09:00:00+02:00<",
        ),
        (
            "<dataOra>2025-04-07T09:00:00+02:00<",
            "<dataOra>2025-04-07T09:00:00<",
        ),
        ("<esito>OK<", "<esito>FORSE<"),
    ];
    for (from, to) in cases {
        both_refuse(&book, from, to, reads(Operation::Book));
    }
    let slots = write_reply(
        Operation::SearchAvailability,
        &ok(Response::SearchAvailability(availability())),
    )
    .unwrap();
    both_refuse(
        &slots,
        "<postiLiberi>3<",
        "<postiLiberi>0<",
        reads(Operation::SearchAvailability),
    );
    both_refuse(
        &slots,
        "<postiLiberi>3<",
        "<postiLiberi>-3<",
        reads(Operation::SearchAvailability),
    );

    let refusal = write_reply(Operation::Book, &ko(slot_full())).unwrap();
    both_refuse(
        &refusal,
        "<codice>SLOT_ESAURITO<",
        "<codice>slot_esaurito<",
        reads(Operation::Book),
    );
    both_refuse(
        &refusal,
        "<campo>idSlot<",
        "<campo>/idSlot<",
        reads(Operation::Book),
    );
    let start = refusal.find("<errore>").unwrap();
    let end = refusal.find("</listaErrori>").unwrap();
    both_refuse(&refusal, &refusal[start..end], "", reads(Operation::Book));
}

#[test]
fn an_outcome_contradicting_its_branch_is_refused() {
    // The XSD allows either esito in either branch; the reader does not guess which one is meant.
    let xml = write_reply(Operation::Book, &ko(slot_full()))
        .unwrap()
        .replace("<esito>KO<", "<esito>OK<");
    let doc = parse_payload(&xml);
    assert!(schema().validate_element(&doc, doc.document_element()).is_ok());
    let err = read_reply(&doc, doc.document_element(), Operation::Book).unwrap_err();
    assert_eq!(
        err,
        BookingError::Invalid {
            path: "PrenotaRisposta/rispostaKO/testataRisposta/esito".into(),
            reason: "must be KO in this branch of the response".into()
        }
    );
}

#[test]
fn what_the_xsd_collapses_is_read_as_the_same_value() {
    let reply = ok(Response::ListOffices(offices()));
    let xml = write_reply(Operation::ListOffices, &reply).unwrap();
    let padded = xml.replacen("<aperta>true<", "<aperta>\n  1 <", 1);
    let slots_reply = ok(Response::SearchAvailability(availability()));
    let slots = write_reply(Operation::SearchAvailability, &slots_reply)
        .unwrap()
        .replacen("<postiLiberi>3<", "<postiLiberi> +003 <", 1)
        .replacen(
            "<dataOra>2025-04-07T09:00:00+02:00<",
            "<dataOra> 2025-04-07T09:00:00+02:00\n<",
            1,
        );
    for (xml, op, expected) in [
        (padded, Operation::ListOffices, reply),
        (slots, Operation::SearchAvailability, slots_reply),
    ] {
        let doc = parse_payload(&xml);
        schema().validate_element(&doc, doc.document_element()).unwrap();
        assert_eq!(read_reply(&doc, doc.document_element(), op).unwrap(), expected);
    }
}

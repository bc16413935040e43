//! The simulator's answers judged by an independent implementation: `xmllint --schema` with the
//! official ANPR schemas, over the payload of each kind of answer — OK and KO, written by the
//! mappings or by hand (3003).

mod anpr_common;

use std::process::Command;

use anpr_common::*;
use snodo_mappings::anpr::SchemaV1;
use snodo_mappings::anpr::bulk::{self, Chunk};
use snodo_mappings::anpr::certificate::{self, Delivery, IssueCertificate, Officer, Requester};
use snodo_mappings::anpr::contract::Person;
use snodo_mappings::anpr::lookup::{self, LookupKey, LookupResident, Section};
use snodo_simulators::anpr::{default_schema_dir, population};

/// The Body's payload, as sent (it declares its own namespace).
fn payload(answer: &Answer) -> String {
    let start = answer.text.find("<soapenv:Body>").expect("a Body") + "<soapenv:Body>".len();
    let end = answer.text.rfind("</soapenv:Body>").expect("a Body");
    answer.text[start..end].to_owned()
}

fn xmllint(xsd: &str, xml: &str) {
    let dir = std::env::temp_dir().join(format!("snodo-anpr-judges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = dir.join(format!("answer-{n}.xml"));
    std::fs::write(&file, xml).unwrap();
    let out = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(default_schema_dir().join(xsd))
        .arg(&file)
        .output()
        .expect("xmllint is installed (scripts/test installs libxml2-utils)");
    assert!(
        out.status.success(),
        "xmllint refuses the answer against {xsd}: {}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn lookup_of(code: &str) -> LookupResident {
    LookupResident {
        schema: SchemaV1,
        by: LookupKey::CodiceFiscale(code.into()),
        sections: vec![Section::FullRecord],
        reference_date: None,
        nationwide: false,
    }
}

#[tokio::test]
async fn every_kind_of_answer_is_valid_against_the_official_schemas() {
    let h = start().await;
    let today = chrono::Utc::now().date_naive();
    let p = population()
        .iter()
        .find(|p| p.is_resident() && p.death_date.is_none() && p.age_at(today) > 18)
        .unwrap();
    let code = p.codice_fiscale.to_string();

    let found = h
        .call(
            LOOKUP_PATH,
            &lookup::write_request(&lookup_of(&code), &h.context(&h.next_id())).unwrap(),
        )
        .await;
    xmllint("3000consultazione.xsd", &payload(&found));
    let nobody = lookup::write_request(&lookup_of("RSSMRA80A01F205X"), &h.context(&h.next_id())).unwrap();
    xmllint(
        "3000consultazione.xsd",
        &payload(&h.call(LOOKUP_PATH, &nobody).await),
    );

    let mut issue = IssueCertificate {
        schema: SchemaV1,
        holder: Person {
            codice_fiscale: Some(code.clone()),
            surname: Some(p.surname.into()),
            given_name: Some(p.given_name.into()),
            ..Person::default()
        },
        certificate_types: vec![8, 12],
        requester: Requester::Holder,
        delivery: Delivery::Internet,
        data_only: false,
        foreign_authority: false,
        stamp_duty_cents: 1600,
        fees_cents: 52,
        stamp_duty_exemption: None,
        officer: Officer {
            surname: "VERDI".into(),
            given_name: "ANNA".into(),
        },
    };
    let issued = certificate::write_request(&issue, &h.context(&h.next_id())).unwrap();
    xmllint(
        "6001certificazione.xsd",
        &payload(&h.call(CERTIFICATE_PATH, &issued).await),
    );
    issue.certificate_types = vec![2];
    let refused = certificate::write_request(&issue, &h.context(&h.next_id())).unwrap();
    let refused = h.call(CERTIFICATE_PATH, &refused).await;
    assert!(refused.text.contains("EN061"), "{}", refused.text);
    xmllint("6001certificazione.xsd", &payload(&refused));

    let chunk = Chunk {
        codici_fiscali: vec![code.clone()],
        sections: vec![Section::PersonalData],
        reference_date: today,
    };
    let accepted = h
        .call(
            BULK_PATH,
            &bulk::write_request(&chunk, &h.context(&h.next_id())).unwrap(),
        )
        .await;
    xmllint("4000estrazione.xsd", &payload(&accepted));
    let job = bulk::read_response(accepted.envelope.document(), accepted.envelope.payload())
        .unwrap()
        .unwrap()
        .id_operazione_anpr;
    let poll = bulk::write_poll_request(&job, 1, &h.context(&h.next_id())).unwrap();
    xmllint("4000estrazione.xsd", &payload(&h.call(BULK_PATH, &poll).await));
    h.clock.advance(chrono::TimeDelta::hours(1)).unwrap();
    let poll = bulk::write_poll_request(&job, 1, &h.context(&h.next_id())).unwrap();
    let ready = h.call(BULK_PATH, &poll).await;
    assert!(ready.text.contains("RispostaMultipla4005"), "{}", ready.text);
    xmllint("4000estrazione.xsd", &payload(&ready));

    let pull = format!(
        "<ns:Richiesta3003 xmlns:ns=\"http://sogei.it/ANPR/3000consultazione\"><testataRichiesta>\
         <idOperazioneComune>{}</idOperazioneComune><codMittente>{ISTAT}</codMittente>\
         <codDestinatario>ANPR05</codDestinatario><operazioneRichiesta>3003</operazioneRichiesta>\
         <dataOraRichiesta>2026-03-02T10:00:00.000+01:00</dataOraRichiesta><tipoOperazione>C</tipoOperazione>\
         <tipoInvio>TEST</tipoInvio></testataRichiesta><ricercaElenchiRichieste><statoLavorazione>1</statoLavorazione>\
         </ricercaElenchiRichieste></ns:Richiesta3003>",
        h.next_id()
    );
    let pulled = h.call(LOOKUP_PATH, &pull).await;
    assert!(
        pulled.text.contains("<tipoOperazione>N030</tipoOperazione>"),
        "{}",
        pulled.text
    );
    xmllint("3000consultazione.xsd", &payload(&pulled));
}

//! The ANPR simulator over real HTTPS with mutual TLS, driven with requests signed as the connector
//! signs them: each service answers from the shared population, registry changes change what later
//! lookups see, idempotency follows ANPR's `idOperazioneComune` rules, and each kind of bad request
//! gets ANPR's answer.

mod anpr_common;

use anpr_common::*;
use snodo_mappings::anpr::bulk::{self, Chunk};
use snodo_mappings::anpr::certificate::{self, Delivery, IssueCertificate, Officer, Requester};
use snodo_mappings::anpr::contract::{Address, Comune, Person};
use snodo_mappings::anpr::lookup::{self, LookupKey, LookupResident, Section};
use snodo_mappings::anpr::registry_change::{Household, HouseholdId};
use snodo_mappings::anpr::residence::{self, ChangeResidence};
use snodo_mappings::anpr::{SchemaV1, death, notification};
use snodo_simulators::anpr::population;
use snodo_simulators::anpr::registry::household_id_anpr;
use snodo_simulators::population::person::Person as PopPerson;

/// An adult resident alive today, with a household: the `n`-th such person.
fn resident(n: usize) -> PopPerson {
    let today = chrono::Utc::now().date_naive();
    population()
        .iter()
        .filter(|p| p.is_resident() && p.death_date.is_none() && p.age_at(today) >= 18)
        .nth(n)
        .expect("enough adult residents")
}

fn lookup_by_code(code: &str, sections: Vec<Section>) -> LookupResident {
    LookupResident {
        schema: SchemaV1,
        by: LookupKey::CodiceFiscale(code.into()),
        sections,
        reference_date: None,
        nationwide: false,
    }
}

async fn lookup(h: &Harness, code: &str) -> Result<lookup::LookupCompleted, snodo_mappings::anpr::Rejection> {
    let payload = lookup::write_request(
        &lookup_by_code(code, vec![Section::PersonalData, Section::Residence]),
        &h.context(&h.next_id()),
    )
    .unwrap();
    let answer = h.call(LOOKUP_PATH, &payload).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    lookup::read_response(answer.envelope.document(), answer.envelope.payload()).expect("a 3002 answer")
}

#[tokio::test]
async fn lookup_by_codice_fiscale_answers_the_population_record() {
    let h = start().await;
    let p = resident(3);
    let done = lookup(&h, p.codice_fiscale.as_str()).await.expect("found");
    assert_eq!(done.persons.len(), 1);
    let found = &done.persons[0];
    assert_eq!(
        found.person.codice_fiscale.as_deref(),
        Some(p.codice_fiscale.as_str())
    );
    assert_eq!(found.person.surname.as_deref(), Some(p.surname));
    assert_eq!(found.person.birth_date, Some(p.birth_date));
    assert!(found.id_anpr.is_some());
    let residence = found.residence.as_ref().expect("residence asked for");
    assert_eq!(residence.comune.istat_code.as_deref(), Some(ISTAT));
}

#[tokio::test]
async fn a_code_nobody_holds_is_en122() {
    let h = start().await;
    let refused = lookup(&h, "RSSMRA80A01F205X").await.expect_err("nobody");
    assert_eq!(refused.platform_code(), Some("EN122"));
}

#[tokio::test]
async fn same_id_same_answer_lower_id_refused_other_service_en079() {
    let h = start().await;
    let p = resident(5);
    let request = lookup_by_code(p.codice_fiscale.as_str(), vec![Section::PersonalData]);
    let payload = lookup::write_request(&request, &h.context("5000")).unwrap();
    let first = h.call(LOOKUP_PATH, &payload).await;
    let again = h.call(LOOKUP_PATH, &payload).await;
    let read = |a: &Answer| {
        lookup::read_response(a.envelope.document(), a.envelope.payload())
            .unwrap()
            .unwrap()
    };
    assert_eq!(
        read(&first).id_operazione_anpr,
        read(&again).id_operazione_anpr,
        "the first answer, again"
    );

    let lower = lookup::write_request(&request, &h.context("4999")).unwrap();
    let refused = h.call(LOOKUP_PATH, &lower).await;
    let refused = lookup::read_response(refused.envelope.document(), refused.envelope.payload()).unwrap();
    assert_eq!(
        refused.unwrap_err().platform_code(),
        Some(snodo_simulators::anpr::ID_NOT_INCREASING)
    );

    let certificate = certificate::write_request(&certificate_for(&p, vec![8]), &h.context("5000")).unwrap();
    let other = h.call(CERTIFICATE_PATH, &certificate).await;
    let other = certificate::read_response(other.envelope.document(), other.envelope.payload()).unwrap();
    assert_eq!(other.unwrap_err().platform_code(), Some("EN079"));
}

fn certificate_for(p: &PopPerson, types: Vec<u32>) -> IssueCertificate {
    IssueCertificate {
        schema: SchemaV1,
        holder: Person {
            codice_fiscale: Some(p.codice_fiscale.to_string()),
            surname: Some(p.surname.into()),
            given_name: Some(p.given_name.into()),
            ..Person::default()
        },
        certificate_types: types,
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
    }
}

#[tokio::test]
async fn a_certificate_is_a_real_pdf_with_a_protocol_number() {
    let h = start().await;
    let p = resident(7);
    let payload =
        certificate::write_request(&certificate_for(&p, vec![8]), &h.context(&h.next_id())).unwrap();
    let answer = h.call(CERTIFICATE_PATH, &payload).await;
    let issued = certificate::read_response(answer.envelope.document(), answer.envelope.payload())
        .unwrap()
        .expect("issued");
    assert!(issued.protocol_number.is_some());
    let pdf = openssl::base64::decode_block(&issued.pdf_base64.expect("a PDF")).unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4"));
    assert!(pdf.ends_with(b"%%EOF\n"));
    let text = String::from_utf8_lossy(&pdf);
    assert!(
        text.contains(p.codice_fiscale.as_str()),
        "the holder's code is printed"
    );
    assert!(text.contains("Certificato di Residenza"));
}

#[tokio::test]
async fn a_change_of_residence_shows_in_the_next_lookup() {
    let h = start().await;
    let p = resident(11);
    let household = household_id_anpr(p.household().expect("a resident"));
    let change = ChangeResidence {
        schema: SchemaV1,
        household: Household {
            id: HouseholdId::Anpr(household),
            cohabitation: false,
        },
        change_kind: 2,
        new_residence: Address {
            kind: 1,
            postal_code: "20121".into(),
            comune: Comune {
                name: "MILANO".into(),
                istat_code: Some(ISTAT.into()),
                province: "MI".into(),
            },
            street_kind: Some("VIA".into()),
            street_name: "DEI MILLE".into(),
            house_number: Some("12".into()),
            since: None,
        },
        members: Vec::new(),
        effective_date: chrono::Utc::now().date_naive(),
    };
    let (payload, _) = residence::write_request(&change, &h.context(&h.next_id())).unwrap();
    let answer = h.call(MUTATION_PATH, &payload).await;
    let updated = residence::read_response(answer.envelope.document(), answer.envelope.payload(), Vec::new())
        .unwrap()
        .expect("registered");
    assert!(
        updated
            .subjects
            .iter()
            .any(|s| s.person.as_ref().and_then(|p| p.codice_fiscale.as_deref())
                == Some(p.codice_fiscale.as_str()))
    );
    let now = lookup(&h, p.codice_fiscale.as_str()).await.expect("found");
    let address = now.persons[0].residence.as_ref().expect("residence");
    assert_eq!(address.street_name, "DEI MILLE");
    assert_eq!(address.house_number.as_deref(), Some("12"));

    // Back to the generated state after a reset.
    h.admin(reqwest::Method::POST, "/reset", None).await;
    let reset = lookup(&h, p.codice_fiscale.as_str()).await.expect("found");
    assert_ne!(
        reset.persons[0].residence.as_ref().unwrap().street_name,
        "DEI MILLE"
    );
}

#[tokio::test]
async fn after_a_death_no_certificate_of_existence_en054() {
    let h = start().await;
    let p = resident(13);
    let cmd = death::RegisterDeath {
        schema: SchemaV1,
        person: Person {
            codice_fiscale: Some(p.codice_fiscale.to_string()),
            surname: Some(p.surname.into()),
            given_name: Some(p.given_name.into()),
            ..Person::default()
        },
        death_date: chrono::Utc::now().date_naive() - chrono::TimeDelta::days(1),
        death_place: None,
        death_record: None,
        presumed: false,
        remaining_household: Vec::new(),
        head_of_household: false,
    };
    let (payload, _) = death::write_request(&cmd, &h.context(&h.next_id())).unwrap();
    let answer = h.call(DEATH_PATH, &payload).await;
    death::read_response(answer.envelope.document(), answer.envelope.payload(), Vec::new())
        .unwrap()
        .expect("registered");
    let payload =
        certificate::write_request(&certificate_for(&p, vec![7]), &h.context(&h.next_id())).unwrap();
    let answer = h.call(CERTIFICATE_PATH, &payload).await;
    let refused = certificate::read_response(answer.envelope.document(), answer.envelope.payload()).unwrap();
    assert_eq!(refused.unwrap_err().platform_code(), Some("EN054"));
}

#[tokio::test]
async fn a_bulk_lookup_is_answered_through_4005_when_ready() {
    let h = start().await;
    let mut codes: Vec<String> = (20..30).map(|i| resident(i).codice_fiscale.to_string()).collect();
    codes.push("RSSMRA80A01F205X".into());
    let chunk = Chunk {
        codici_fiscali: codes,
        sections: vec![Section::PersonalData],
        reference_date: chrono::Utc::now().date_naive(),
    };
    let payload = bulk::write_request(&chunk, &h.context(&h.next_id())).unwrap();
    let answer = h.call(BULK_PATH, &payload).await;
    let accepted = bulk::read_response(answer.envelope.document(), answer.envelope.payload())
        .unwrap()
        .expect("accepted");

    assert_eq!(
        poll(&h, &accepted.id_operazione_anpr)
            .await
            .unwrap_err()
            .platform_code(),
        Some("EN108")
    );
    h.clock.advance(chrono::TimeDelta::seconds(40)).unwrap();
    assert_eq!(
        poll(&h, &accepted.id_operazione_anpr)
            .await
            .unwrap_err()
            .platform_code(),
        Some("EN109")
    );
    h.clock.advance(chrono::TimeDelta::seconds(30)).unwrap();
    let ready = poll(&h, &accepted.id_operazione_anpr).await.expect("ready");
    let files = bulk::results(0, &ready);
    assert_eq!(files.len(), 1);
    let xml = openssl::base64::decode_block(&files[0].content_base64).unwrap();
    let doc = snodo_security::xml::parse(&xml, &Default::default()).unwrap();
    let listed = lookup::read_response(&doc, doc.document_element())
        .unwrap()
        .unwrap();
    assert_eq!(listed.persons.len(), 10);
    assert_eq!(listed.warnings.len(), 1, "the unknown code is an EN122 anomaly");
    let notices = notification::from_poll(&ready);
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].kind, "N030");
}

#[tokio::test]
async fn a_big_bulk_result_comes_in_pages() {
    let mut settings = anpr_common::settings(None);
    settings.bulk_page_size = 4;
    let h = anpr_common::start_with(settings).await;
    let mut codes: Vec<String> = (40..49).map(|i| resident(i).codice_fiscale.to_string()).collect();
    codes.push("RSSMRA80A01F205X".into());
    let chunk = Chunk {
        codici_fiscali: codes,
        sections: vec![Section::PersonalData],
        reference_date: chrono::Utc::now().date_naive(),
    };
    let payload = bulk::write_request(&chunk, &h.context(&h.next_id())).unwrap();
    let answer = h.call(BULK_PATH, &payload).await;
    let accepted = bulk::read_response(answer.envelope.document(), answer.envelope.payload())
        .unwrap()
        .expect("accepted");
    h.clock.advance(chrono::TimeDelta::seconds(61)).unwrap();
    // Ten codes, four a page: pages 1, 2 and 3 of 3; the N030 is listed once, on the first.
    let mut listed = Vec::new();
    for page in 1..=3 {
        let ready = poll_page(&h, &accepted.id_operazione_anpr, page)
            .await
            .expect("ready");
        assert_eq!(ready.page, Some((page, 3)));
        assert_eq!(notification::from_poll(&ready).len(), usize::from(page == 1));
        let files = bulk::results(0, &ready);
        assert_eq!(files.len(), 1);
        assert_eq!((files[0].page, files[0].pages), (page, 3));
        let xml = openssl::base64::decode_block(&files[0].content_base64).unwrap();
        let doc = snodo_security::xml::parse(&xml, &Default::default()).unwrap();
        let answer = lookup::read_response(&doc, doc.document_element())
            .unwrap()
            .unwrap();
        listed.push((answer.persons.len(), answer.warnings.len()));
    }
    assert_eq!(listed, [(4, 0), (4, 0), (1, 1)]);
    let past = poll_page(&h, &accepted.id_operazione_anpr, 4).await.unwrap_err();
    assert_eq!(past.platform_code(), Some("EN122"));
}

async fn poll(h: &Harness, job: &str) -> Result<bulk::PollResult, snodo_mappings::anpr::Rejection> {
    poll_page(h, job, 1).await
}

async fn poll_page(
    h: &Harness,
    job: &str,
    page: u32,
) -> Result<bulk::PollResult, snodo_mappings::anpr::Rejection> {
    let payload = bulk::write_poll_request(job, page, &h.context(&h.next_id())).unwrap();
    let a = h.call(BULK_PATH, &payload).await;
    bulk::read_poll_response(a.envelope.document(), a.envelope.payload()).unwrap()
}

#[tokio::test]
async fn more_than_2000_codes_is_en101() {
    let h = start().await;
    let code = resident(0).codice_fiscale.to_string();
    let chunk = Chunk {
        codici_fiscali: vec![code.clone()],
        sections: vec![Section::PersonalData],
        reference_date: chrono::Utc::now().date_naive(),
    };
    // The mapping refuses more than 2,000 before sending: the simulator gets a hand-made file.
    let one = bulk::write_request(&chunk, &h.context(&h.next_id())).unwrap();
    let entry = format!("<codiceFiscale>{code}</codiceFiscale>");
    let file = |n: usize| {
        openssl::base64::encode_block(
            format!("<codiciFiscali>{}</codiciFiscali>", entry.repeat(n)).as_bytes(),
        )
    };
    let payload = one.replace(&file(1), &file(2_001));
    assert_ne!(payload, one);
    let answer = h.call(BULK_PATH, &payload).await;
    let read = bulk::read_response(answer.envelope.document(), answer.envelope.payload()).unwrap();
    assert_eq!(read.unwrap_err().platform_code(), Some("EN101"));
}

#[tokio::test]
async fn the_connectivity_test_echoes_the_header() {
    let h = start().await;
    let payload = format!(
        "<ns2:RichiestaConnessione xmlns:ns2=\"{}\"><testataRichiesta><idOperazioneComune>1</idOperazioneComune>\
         <codMittente>{ISTAT}</codMittente><codDestinatario>ANPR05</codDestinatario>\
         <operazioneRichiesta>OP01</operazioneRichiesta><dataOraRichiesta>2026-03-02T10:00:00.000+01:00</dataOraRichiesta>\
         <tipoOperazione>C</tipoOperazione><tipoInvio>TEST</tipoInvio></testataRichiesta></ns2:RichiestaConnessione>",
        snodo_simulators::anpr::CONNECTION_NAMESPACE
    );
    let answer = h.call(CONNECTION_PATH, &payload).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.text.contains("RispostaConnessione"));
    assert!(
        answer
            .text
            .contains(&format!("<codDestinatario>{ISTAT}</codDestinatario>"))
    );
}

#[tokio::test]
async fn a_scripted_platform_error_is_a_rispostako() {
    let h = start().await;
    h.admin(
        reqwest::Method::POST,
        "/faults",
        Some(serde_json::json!({"operation": "Richiesta3002", "times": 1,
            "fault": {"kind": "platform_error", "code": "EN043", "message": "Sono presenti piu' soggetti"}})),
    )
    .await;
    let refused = lookup(&h, resident(1).codice_fiscale.as_str()).await.unwrap_err();
    assert_eq!(refused.platform_code(), Some("EN043"));
    assert!(
        lookup(&h, resident(1).codice_fiscale.as_str()).await.is_ok(),
        "only once"
    );
    let exchanges = h
        .admin(reqwest::Method::GET, "/exchanges?operation=Richiesta3002", None)
        .await;
    assert_eq!(exchanges["exchanges"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_search_by_name_finds_one_person_or_says_there_are_several() {
    use snodo_mappings::anpr::lookup::SearchByName;
    let h = start().await;
    let people: Vec<PopPerson> = population().iter().filter(|p| p.is_resident()).collect();
    let count = |p: &PopPerson| {
        people
            .iter()
            .filter(|q| q.surname == p.surname && q.given_name == p.given_name)
            .count()
    };
    let unique = people
        .iter()
        .find(|p| count(p) == 1 && p.death_date.is_none())
        .expect("someone unique");
    let shared = people.iter().find(|p| count(p) > 1).expect("two namesakes");
    let by_name = |p: &PopPerson| LookupResident {
        schema: SchemaV1,
        by: LookupKey::Generalita(SearchByName {
            surname: p.surname.into(),
            given_name: p.given_name.into(),
            sex: None,
            birth_date: None,
            birth_place: None,
        }),
        sections: vec![Section::PersonalData],
        reference_date: None,
        nationwide: false,
    };
    let ask = |p: &PopPerson| lookup::write_request(&by_name(p), &h.context(&h.next_id())).unwrap();
    let one = h.call(LOOKUP_PATH, &ask(unique)).await;
    let one = lookup::read_response(one.envelope.document(), one.envelope.payload())
        .unwrap()
        .unwrap();
    assert_eq!(
        one.persons[0].person.codice_fiscale.as_deref(),
        Some(unique.codice_fiscale.as_str())
    );
    let several = h.call(LOOKUP_PATH, &ask(shared)).await;
    let several = lookup::read_response(several.envelope.document(), several.envelope.payload()).unwrap();
    assert_eq!(several.unwrap_err().platform_code(), Some("EN043"));
}

#[tokio::test]
async fn a_registered_birth_gets_a_codice_fiscale_and_can_be_looked_up() {
    use snodo_mappings::anpr::birth::{self, Joins, RegisterBirth};
    use snodo_mappings::anpr::contract::{Citizenship, Place, Sex};
    let h = start().await;
    let mother = population()
        .iter()
        .find(|p| {
            p.is_resident()
                && p.death_date.is_none()
                && p.sex == snodo_simulators::population::person::Sex::Female
                && p.age_at(chrono::Utc::now().date_naive()) > 20
        })
        .unwrap();
    let today = chrono::Utc::now().date_naive();
    let cmd = RegisterBirth {
        schema: SchemaV1,
        child: Person {
            codice_fiscale: None,
            surname: Some(mother.surname.into()),
            given_name: Some("LUCA".into()),
            sex: Some(Sex::M),
            birth_date: Some(today),
            birth_place: Some(Place::Comune(Comune {
                name: "MILANO".into(),
                istat_code: Some(ISTAT.into()),
                province: "MI".into(),
            })),
        },
        citizenship: Citizenship {
            country_code: "100".into(),
            country_name: "ITALIA".into(),
        },
        birth_record: None,
        father: None,
        mother: Some(Person {
            codice_fiscale: Some(mother.codice_fiscale.to_string()),
            surname: Some(mother.surname.into()),
            given_name: Some(mother.given_name.into()),
            ..Person::default()
        }),
        joins: Joins::Mother,
        household: None,
        relationship: None,
        effective_date: None,
    };
    let (payload, _) = birth::write_request(&cmd, &h.context(&h.next_id())).unwrap();
    let answer = h.call(BIRTH_PATH, &payload).await;
    let registered = birth::read_response(answer.envelope.document(), answer.envelope.payload(), Vec::new())
        .unwrap()
        .expect("answered")
        .registered()
        .expect("registered");
    let code = registered.subjects[0]
        .person
        .as_ref()
        .and_then(|p| p.codice_fiscale.clone())
        .expect("a codice fiscale assigned");
    assert_eq!(code.len(), 16);
    assert!(
        snodo_mappings::codice_fiscale::CodiceFiscale::parse(&code).is_ok(),
        "a valid code"
    );
    let found = lookup(&h, &code).await.expect("the newborn is in the registry");
    assert_eq!(found.persons[0].person.given_name.as_deref(), Some("LUCA"));
    assert_eq!(
        found.persons[0].residence.as_ref().map(|a| a.street_name.clone()),
        lookup(&h, mother.codice_fiscale.as_str()).await.unwrap().persons[0]
            .residence
            .as_ref()
            .map(|a| a.street_name.clone()),
        "the child lives with the mother"
    );
}

#[tokio::test]
async fn a_father_with_namesakes_is_answered_with_the_candidates_and_his_birth_date_settles_it() {
    use snodo_mappings::anpr::birth::{self, Joins, RegisterBirth};
    use snodo_mappings::anpr::birth_candidates::BirthRegistration;
    use snodo_mappings::anpr::contract::{Citizenship, Place, Sex};
    use snodo_simulators::population::person::Sex as PopSex;
    let h = start().await;
    let living_men: Vec<PopPerson> = population()
        .iter()
        .filter(|p| p.death_date.is_none() && p.sex == PopSex::Male)
        .collect();
    let (first, namesakes) = living_men
        .iter()
        .find_map(|p| {
            let same: Vec<&PopPerson> = living_men
                .iter()
                .filter(|q| q.surname == p.surname && q.given_name == p.given_name)
                .collect();
            (same.len() >= 2 && same.iter().filter(|q| q.birth_date == p.birth_date).count() == 1).then(
                || {
                    (
                        p.clone(),
                        same.iter()
                            .map(|q| q.codice_fiscale.to_string())
                            .collect::<Vec<_>>(),
                    )
                },
            )
        })
        .expect("the seeded population has namesakes born on different days");
    let today = chrono::Utc::now().date_naive();
    let birth_of = |father: Person| RegisterBirth {
        schema: SchemaV1,
        child: Person {
            codice_fiscale: None,
            surname: Some(first.surname.into()),
            given_name: Some("PIETRO".into()),
            sex: Some(Sex::M),
            birth_date: Some(today),
            birth_place: Some(Place::Comune(Comune {
                name: "MILANO".into(),
                istat_code: Some(ISTAT.into()),
                province: "MI".into(),
            })),
        },
        citizenship: Citizenship {
            country_code: "100".into(),
            country_name: "ITALIA".into(),
        },
        birth_record: None,
        father: Some(father),
        mother: None,
        joins: Joins::Father,
        household: None,
        relationship: None,
        effective_date: None,
    };
    let by_name = Person {
        surname: Some(first.surname.into()),
        given_name: Some(first.given_name.into()),
        ..Person::default()
    };
    let (payload, _) = birth::write_request(&birth_of(by_name.clone()), &h.context(&h.next_id())).unwrap();
    let answer = h.call(BIRTH_PATH, &payload).await;
    let BirthRegistration::ParentsToChoose(choice) =
        birth::read_response(answer.envelope.document(), answer.envelope.payload(), Vec::new())
            .unwrap()
            .expect("answered")
    else {
        panic!("a father with namesakes is not a registration");
    };
    let mut listed: Vec<String> = choice
        .candidate_fathers
        .iter()
        .map(|c| c.person.codice_fiscale.clone().unwrap())
        .collect();
    listed.sort();
    let mut expected = namesakes;
    expected.sort();
    assert_eq!(listed, expected);
    assert!(choice.candidate_mothers.is_empty());

    // His birth date leaves one candidate: ANPR registers the child.
    let dated = Person {
        birth_date: Some(first.birth_date),
        ..by_name
    };
    let (payload, _) = birth::write_request(&birth_of(dated), &h.context(&h.next_id())).unwrap();
    let answer = h.call(BIRTH_PATH, &payload).await;
    let registered = birth::read_response(answer.envelope.document(), answer.envelope.payload(), Vec::new())
        .unwrap()
        .expect("answered");
    assert!(
        matches!(registered, BirthRegistration::Registered(_)),
        "{registered:?}"
    );
}

//! Services 5005 (change of residence), 1001 (birth) and 2001 (death): every request and answer the
//! mappings write is valid against the official XSD for the crate's validator and for `xmllint`;
//! requests read back equal on the simulator side; answers and KOs read back; the field rules name
//! the JSON field; codici fiscali are validated before sending; places unknown to the comuni archive
//! are warnings carried on the completed event, never refusals.

mod anpr_common;

use std::process::Command;

use anpr_common::samples::{address, day, milano};
use anpr_common::{assert_valid, context, parse_payload, spec_dir, xsd_for};
use snodo_mappings::anpr::birth::{self, Joins, RegisterBirth};
use snodo_mappings::anpr::birth_candidates::{self, BirthRegistration, CandidateParent, ParentsToChoose};
use snodo_mappings::anpr::death::{self, RegisterDeath};
use snodo_mappings::anpr::place_check::PlaceWarning;
use snodo_mappings::anpr::registry_change::{
    ChangedSubject, CivilRecord, Household, HouseholdId, Member, RegistryUpdated, Relationship,
};
use snodo_mappings::anpr::residence::{self, ChangeResidence};
use snodo_mappings::anpr::{
    AnprError, AnprMessage, Citizenship, Comune, ForeignPlace, Outcome, Person, Place, Rejection,
    ResponseHeader, SchemaV1, Sex,
};

fn rossi() -> Person {
    Person {
        codice_fiscale: Some("RSSMRA45D25F205N".into()),
        surname: Some("ROSSI".into()),
        given_name: Some("MARIO".into()),
        sex: Some(Sex::M),
        birth_date: Some(day(1945, 4, 25)),
        birth_place: Some(Place::Comune(milano())),
    }
}

fn anna() -> Person {
    Person {
        codice_fiscale: Some("SGGNNA90R50F839T".into()),
        surname: Some("SOGGETTA".into()),
        given_name: Some("ANNA".into()),
        sex: Some(Sex::F),
        birth_date: Some(day(1990, 10, 10)),
        birth_place: Some(Place::Comune(Comune {
            name: "NAPOLI".into(),
            istat_code: Some("063049".into()),
            province: "NA".into(),
        })),
    }
}

fn move_household() -> ChangeResidence {
    ChangeResidence {
        schema: SchemaV1,
        household: Household {
            id: HouseholdId::Anpr("900001".into()),
            cohabitation: false,
        },
        change_kind: 2,
        new_residence: address(),
        members: vec![Member {
            person: anna(),
            relationship: Relationship {
                code: 1,
                since: day(2025, 3, 1),
            },
        }],
        effective_date: day(2025, 3, 1),
    }
}

fn newborn() -> RegisterBirth {
    RegisterBirth {
        schema: SchemaV1,
        child: Person {
            codice_fiscale: None,
            surname: Some("ROSSI".into()),
            given_name: Some("LUCA".into()),
            sex: Some(Sex::M),
            birth_date: Some(day(2025, 2, 20)),
            birth_place: Some(Place::Comune(milano())),
        },
        citizenship: Citizenship {
            country_code: "100".into(),
            country_name: "ITALIA".into(),
        },
        birth_record: Some(CivilRecord {
            comune: milano(),
            year: 2025,
            part: "1".into(),
            series: Some("A".into()),
            number: "123".into(),
        }),
        father: Some(rossi()),
        mother: Some(anna()),
        joins: Joins::Parents,
        household: None,
        relationship: None,
        effective_date: None,
    }
}

fn in_institution() -> RegisterBirth {
    RegisterBirth {
        child: Person {
            codice_fiscale: Some("RSSLCU25B20F205G".into()),
            ..newborn().child
        },
        father: None,
        mother: Some(anna()),
        joins: Joins::Institution,
        household: Some(Household {
            id: HouseholdId::Comune("CONV42".into()),
            cohabitation: true,
        }),
        relationship: Some(Relationship {
            code: 25,
            since: day(2025, 2, 20),
        }),
        effective_date: Some(day(2025, 2, 22)),
        birth_record: None,
        ..newborn()
    }
}

fn death_of_head() -> RegisterDeath {
    RegisterDeath {
        schema: SchemaV1,
        person: rossi(),
        death_date: day(2025, 1, 5),
        death_place: Some(Place::Comune(milano())),
        death_record: Some(CivilRecord {
            comune: milano(),
            year: 2025,
            part: "1".into(),
            series: None,
            number: "77".into(),
        }),
        presumed: false,
        remaining_household: vec![Member {
            person: anna(),
            relationship: Relationship {
                code: 1,
                since: day(2025, 1, 5),
            },
        }],
        head_of_household: true,
    }
}

fn death_abroad() -> RegisterDeath {
    RegisterDeath {
        death_place: Some(Place::Abroad(ForeignPlace {
            locality: Some("LUGANO".into()),
            country_name: "SVIZZERA".into(),
            country_code: "241".into(),
        })),
        death_record: None,
        presumed: true,
        remaining_household: Vec::new(),
        head_of_household: false,
        ..death_of_head()
    }
}

fn updated(place_warnings: Vec<PlaceWarning>) -> RegistryUpdated {
    RegistryUpdated {
        schema: SchemaV1,
        id_operazione_anpr: Some("4242".into()),
        subjects: vec![ChangedSubject {
            id_anpr: Some("AF41450AS".into()),
            person: Some(anna()),
        }],
        warnings: vec![AnprMessage::warning(
            "EN300",
            "Indirizzo non presente nello stradario",
        )],
        place_warnings,
    }
}

/// A response header answering the request `xml` (as the simulator builds it).
fn answering(header: snodo_mappings::anpr::RequestHeader, outcome: Outcome) -> ResponseHeader {
    ResponseHeader::answering(&header, "4242", outcome)
}

fn xmllint(name: &str, xml: &str) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("snodo-anpr-changes-{}", std::process::id()));
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
        .args(["--noout", "--nonet", "--schema"])
        .arg(spec_dir().join(xsd_for(&ns)))
        .arg(&file)
        .output()
        .expect("xmllint is installed (scripts/test installs libxml2-utils)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Both judges accept `xml`.
fn assert_both_valid(name: &str, xml: &str) {
    assert_valid(xml);
    let (ok, stderr) = xmllint(name, xml);
    assert!(ok, "xmllint rejects {name}: {stderr}\n{xml}");
}

fn ko() -> Vec<AnprMessage> {
    vec![AnprMessage::error("EN122", "Nessun soggetto & niente <altro>")]
}

#[test]
fn change_of_residence_requests_and_answers_are_valid_and_read_back() {
    let mut in_cohabitation = move_household();
    in_cohabitation.household = Household {
        id: HouseholdId::Comune("F123".into()),
        cohabitation: true,
    };
    in_cohabitation.members.clear();
    in_cohabitation.change_kind = 6;
    for (name, cmd) in [
        ("5005-request", move_household()),
        ("5005-request-2", in_cohabitation),
    ] {
        let (xml, warnings) = residence::write_request(&cmd, &context("500")).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(xml.contains(&format!("<tipoMutazione>{:02}</tipoMutazione>", cmd.change_kind)));
        assert_both_valid(name, &xml);
        let doc = parse_payload(&xml);
        let (h, back) = residence::read_request(&doc, doc.document_element()).unwrap();
        assert_eq!(back, cmd);
        assert_eq!(
            (h.operazione_richiesta.as_str(), h.data_decorrenza),
            ("5005", Some(cmd.effective_date))
        );

        let ok = residence::write_response(&answering(h.clone(), Outcome::Ok), &updated(Vec::new())).unwrap();
        assert_both_valid("5005-ok", &ok);
        let doc = parse_payload(&ok);
        let event = residence::read_response(&doc, doc.document_element(), warnings)
            .unwrap()
            .unwrap();
        assert_eq!(event, updated(Vec::new()));

        let r = Rejection {
            header: answering(h, Outcome::Rejected),
            errors: ko(),
        };
        let xml = residence::write_rejection(&r).unwrap();
        assert_both_valid("5005-ko", &xml);
        let doc = parse_payload(&xml);
        let back = residence::read_response(&doc, doc.document_element(), Vec::new())
            .unwrap()
            .unwrap_err();
        assert_eq!(back.platform_code(), Some("EN122"));
    }
}

#[test]
fn birth_requests_and_answers_are_valid_and_read_back() {
    for (name, cmd) in [("1001-request", newborn()), ("1001-request-2", in_institution())] {
        let (xml, warnings) = birth::write_request(&cmd, &context("100")).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        // EN146/EN147: a child without a code is registered asking for one to be assigned.
        assert_eq!(
            xml.contains("<gestioneCF>1</gestioneCF>"),
            cmd.child.codice_fiscale.is_none()
        );
        assert_both_valid(name, &xml);
        let doc = parse_payload(&xml);
        let (h, back) = birth::read_request(&doc, doc.document_element()).unwrap();
        assert_eq!(back, cmd);
        assert_eq!(h.operazione_richiesta, "1001");

        let ok = birth::write_response(
            &answering(h.clone(), Outcome::OkWithWarnings),
            &updated(Vec::new()),
        )
        .unwrap();
        assert_both_valid("1001-ok", &ok);
        let doc = parse_payload(&ok);
        assert_eq!(
            birth::read_response(&doc, doc.document_element(), Vec::new())
                .unwrap()
                .unwrap(),
            BirthRegistration::Registered(updated(Vec::new()))
        );
        let xml = birth::write_rejection(&Rejection {
            header: answering(h, Outcome::Rejected),
            errors: ko(),
        })
        .unwrap();
        assert_both_valid("1001-ko", &xml);
    }
}

/// ANPR's third 1001 answer: two registered women could be the mother, so nothing is registered.
fn two_possible_mothers(place_warnings: Vec<PlaceWarning>) -> ParentsToChoose {
    let mut other = anna();
    other.codice_fiscale = Some("SGGNNA90R50F205X".into());
    other.birth_place = Some(Place::Comune(milano()));
    ParentsToChoose {
        schema: SchemaV1,
        id_operazione_anpr: "4242".into(),
        candidate_fathers: Vec::new(),
        candidate_mothers: vec![
            CandidateParent {
                person: anna(),
                citizenship: Some(Citizenship {
                    country_code: "100".into(),
                    country_name: "ITALIA".into(),
                }),
            },
            CandidateParent {
                person: other,
                citizenship: None,
            },
        ],
        place_warnings,
    }
}

#[test]
fn a_multiple_birth_answer_is_valid_and_carries_the_candidates_in_the_event() {
    let (xml, _) = birth::write_request(&newborn(), &context("101")).unwrap();
    let doc = parse_payload(&xml);
    let (h, _) = birth::read_request(&doc, doc.document_element()).unwrap();
    let choice = two_possible_mothers(Vec::new());
    let multiple = birth_candidates::write_response(&answering(h, Outcome::Ok), &choice).unwrap();
    assert!(multiple.contains("RispostaMultipla1001"), "{multiple}");
    assert_both_valid("1001-multiple", &multiple);

    let doc = parse_payload(&multiple);
    let warned = vec![PlaceWarning {
        field: "child.birth_place.comune".into(),
        reason: "not in the archive".into(),
    }];
    let event = birth::read_response(&doc, doc.document_element(), warned.clone())
        .unwrap()
        .unwrap();
    assert_eq!(
        event,
        BirthRegistration::ParentsToChoose(two_possible_mothers(warned))
    );

    // The JSON the backend chooses from, and that it reads back.
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json["outcome"], "parents_to_choose");
    assert_eq!(
        json["candidate_mothers"][1]["person"]["codice_fiscale"],
        "SGGNNA90R50F205X"
    );
    assert_eq!(json["candidate_mothers"][0]["citizenship"]["country_code"], "100");
    assert!(json.get("candidate_fathers").is_none(), "{json}");
    assert_eq!(serde_json::from_value::<BirthRegistration>(json).unwrap(), event);
}

#[test]
fn a_multiple_birth_answer_without_candidates_is_refused_both_ways() {
    let (xml, _) = birth::write_request(&newborn(), &context("102")).unwrap();
    let doc = parse_payload(&xml);
    let (h, _) = birth::read_request(&doc, doc.document_element()).unwrap();
    let mut empty = two_possible_mothers(Vec::new());
    empty.candidate_mothers.clear();
    let header = answering(h, Outcome::Ok);
    assert!(birth_candidates::write_response(&header, &empty).is_err());

    // An answer whose lists are absent (the XSD allows it) names no one to choose: an error, not an event.
    let mut valid = birth_candidates::write_response(&header, &two_possible_mothers(Vec::new())).unwrap();
    let start = valid.find("<elencoSoggettiMadre>").unwrap();
    let end = valid.find("</elencoSoggettiMadre>").unwrap() + "</elencoSoggettiMadre>".len();
    valid.replace_range(start..end, "");
    assert_both_valid("1001-multiple-empty", &valid);
    let doc = parse_payload(&valid);
    let err = birth::read_response(&doc, doc.document_element(), Vec::new()).unwrap_err();
    assert!(err.to_string().contains("no candidate parent"), "{err}");
}

#[test]
fn death_requests_and_answers_are_valid_and_read_back() {
    for (name, cmd) in [
        ("2001-request", death_of_head()),
        ("2001-request-2", death_abroad()),
    ] {
        let (xml, warnings) = death::write_request(&cmd, &context("200")).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_both_valid(name, &xml);
        let doc = parse_payload(&xml);
        let (h, back) = death::read_request(&doc, doc.document_element()).unwrap();
        assert_eq!(back, cmd);
        assert_eq!(h.operazione_richiesta, "2001");

        let ok = death::write_response(&answering(h.clone(), Outcome::Ok), &updated(Vec::new())).unwrap();
        assert_both_valid("2001-ok", &ok);
        let xml = death::write_rejection(&Rejection {
            header: answering(h, Outcome::Rejected),
            errors: ko(),
        })
        .unwrap();
        assert_both_valid("2001-ko", &xml);
        let doc = parse_payload(&xml);
        let back = death::read_response(&doc, doc.document_element(), Vec::new())
            .unwrap()
            .unwrap_err();
        assert_eq!(back.platform_message(), Some("Nessun soggetto & niente <altro>"));
    }
}

#[test]
fn xmllint_rejects_a_broken_registration_request() {
    let (xml, _) = death::write_request(&death_of_head(), &context("1")).unwrap();
    // ruoloSoggetto is required in datiControllo: without it both judges must refuse.
    let broken = xml.replace("<ruoloSoggetto>1</ruoloSoggetto>", "");
    assert!(!xmllint("2001-broken", &broken).0);
    let doc = parse_payload(&broken);
    let schema = snodo_security::schema::Schema::compile(spec_dir().join("2000cancellazione.xsd")).unwrap();
    assert!(schema.validate_element(&doc, doc.document_element()).is_err());
}

#[test]
fn an_unknown_place_is_a_warning_on_the_event_not_a_rejection() {
    // A comune created after the archive (May 2023) is unknown to it: the request goes all the same.
    let mut cmd = newborn();
    cmd.child.birth_place = Some(Place::Comune(Comune {
        name: "BORGO NUOVO".into(),
        istat_code: Some("099999".into()),
        province: "RN".into(),
    }));
    let (xml, warnings) = birth::write_request(&cmd, &context("101")).unwrap();
    assert_both_valid("1001-unknown-place", &xml);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].field, "child.birth_place.comune");
    assert!(warnings[0].reason.contains("099999"), "{}", warnings[0].reason);
    assert!(
        warnings[0].reason.contains("archive stops"),
        "{}",
        warnings[0].reason
    );

    // The warnings travel on the completed event, next to ANPR's own.
    let doc = parse_payload(&xml);
    let (h, _) = birth::read_request(&doc, doc.document_element()).unwrap();
    let ok = birth::write_response(&answering(h, Outcome::Ok), &updated(Vec::new())).unwrap();
    let doc = parse_payload(&ok);
    let event = birth::read_response(&doc, doc.document_element(), warnings.clone())
        .unwrap()
        .unwrap()
        .registered()
        .expect("registered");
    assert_eq!(event.place_warnings, warnings);
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json["place_warnings"][0]["field"], "child.birth_place.comune");
}

#[test]
fn places_are_checked_at_their_date() {
    // Abbadia Alpina (ISTAT 001801) ceased in 1928: a valid birthplace in 1920, not for a death in 2025.
    let abbadia = Comune {
        name: "ABBADIA ALPINA".into(),
        istat_code: Some("001801".into()),
        province: "TO".into(),
    };
    let mut old = death_abroad();
    old.person.birth_date = Some(day(1920, 3, 3));
    old.person.codice_fiscale = None;
    old.person.birth_place = Some(Place::Comune(abbadia.clone()));
    assert_eq!(death::write_request(&old, &context("3")).unwrap().1, Vec::new());
    old.death_place = Some(Place::Comune(abbadia));
    let (_, warnings) = death::write_request(&old, &context("3")).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].field, "death_place.comune");

    // By name and province when the ISTAT code is absent; a foreign state by its ISTAT code.
    let mut cmd = move_household();
    cmd.new_residence.comune = Comune {
        name: "Milano".into(),
        istat_code: None,
        province: "MI".into(),
    };
    assert!(
        residence::write_request(&cmd, &context("4"))
            .unwrap()
            .1
            .is_empty()
    );
    cmd.new_residence.comune.name = "MILANO DUE".into();
    assert_eq!(
        residence::write_request(&cmd, &context("4")).unwrap().1[0].field,
        "new_residence.comune"
    );
    let mut abroad = death_abroad();
    abroad.death_place = Some(Place::Abroad(ForeignPlace {
        locality: None,
        country_name: "ATLANTIDE".into(),
        country_code: "999".into(),
    }));
    let (_, warnings) = death::write_request(&abroad, &context("5")).unwrap();
    assert_eq!(warnings[0].field, "death_place.abroad.country_code");
}

#[test]
fn codici_fiscali_are_validated_before_sending_and_never_quoted() {
    let bad = "RSSMRA45D25F205A"; // wrong check character
    let mut cmd = move_household();
    cmd.members[0].person.codice_fiscale = Some(bad.into());
    let mut birth_cmd = newborn();
    birth_cmd.mother.as_mut().unwrap().codice_fiscale = Some("12345678901".into());
    let mut death_cmd = death_of_head();
    death_cmd.person.codice_fiscale = Some(bad.into());
    let errors = [
        (
            "members[0].person.codice_fiscale",
            residence::write_request(&cmd, &context("1")).unwrap_err(),
        ),
        (
            "mother.codice_fiscale",
            birth::write_request(&birth_cmd, &context("1")).unwrap_err(),
        ),
        (
            "person.codice_fiscale",
            death::write_request(&death_cmd, &context("1")).unwrap_err(),
        ),
    ];
    for (field, error) in errors {
        match &error {
            AnprError::Field { field: f, .. } => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
        let text = error.to_string();
        assert!(!text.contains(bad) && !text.contains("12345678901"), "{text}");
    }
    // An omocodic variant and an 11-digit code with its check digit are accepted.
    let mut fine = newborn();
    fine.child.codice_fiscale = Some("RSSMRA45D25F2LRT".into());
    fine.father.as_mut().unwrap().codice_fiscale = Some("12345678903".into());
    let verdict = birth::write_request(&fine, &context("1"));
    assert!(verdict.is_ok(), "{verdict:?}");
}

#[test]
fn the_rules_anpr_would_refuse_name_the_field() {
    type BirthBreak = fn(&mut RegisterBirth);
    let births: [(&str, BirthBreak); 6] = [
        ("father", |c| c.father = None),
        ("mother", |c| c.mother = None),
        ("household", |c| c.joins = Joins::OtherFamily),
        ("child.birth_date", |c| c.child.birth_date = None),
        ("birth_record.number", |c| {
            c.birth_record.as_mut().unwrap().number = "12/3".into()
        }),
        ("father", |c| {
            let f = c.father.as_mut().unwrap();
            f.surname = None;
            f.given_name = None;
        }),
    ];
    for (field, break_it) in births {
        let mut cmd = newborn();
        break_it(&mut cmd);
        match birth::write_request(&cmd, &context("1")) {
            Err(AnprError::Field { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let mut not_head = death_of_head();
    not_head.head_of_household = false;
    let mut head_alone = death_abroad();
    head_alone.head_of_household = true;
    let mut too_early = death_abroad();
    too_early.death_date = day(1940, 1, 1);
    for (field, cmd) in [
        ("remaining_household", not_head),
        ("remaining_household", head_alone),
        ("death_date", too_early),
    ] {
        match death::write_request(&cmd, &context("1")) {
            Err(AnprError::Field { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let mut bad_kind = move_household();
    bad_kind.change_kind = 5;
    let mut bad_household = move_household();
    bad_household.household.id = HouseholdId::Anpr("90A".into());
    for (field, cmd) in [("change_kind", bad_kind), ("household.id.anpr", bad_household)] {
        match residence::write_request(&cmd, &context("1")) {
            Err(AnprError::Field { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn commands_reject_unknown_fields_and_other_schema_versions() {
    let mut json = serde_json::to_value(move_household()).unwrap();
    json["moved_by"] = "someone".into();
    assert!(serde_json::from_value::<ChangeResidence>(json).is_err());
    let mut json = serde_json::to_value(newborn()).unwrap();
    json["schema"] = 2.into();
    assert!(serde_json::from_value::<RegisterBirth>(json).is_err());
    let json = serde_json::to_value(death_of_head()).unwrap();
    assert_eq!(
        serde_json::from_value::<RegisterDeath>(json).unwrap(),
        death_of_head()
    );
}

#[test]
fn the_readme_examples_of_the_registrations_are_valid_bodies() {
    let readme = include_str!("../src/anpr/README.md");
    let section = readme
        .split("## Registrations")
        .nth(1)
        .expect("the README has the registrations section");
    let blocks: Vec<&str> = section
        .split("```json")
        .skip(1)
        .map(|b| b.split("```").next().expect("closed block"))
        .collect();
    assert_eq!(blocks.len(), 5);
    let event: RegistryUpdated = serde_json::from_str(blocks[0]).expect("completed event example");
    assert_eq!(event.place_warnings.len(), 1);
    let residence: ChangeResidence = serde_json::from_str(blocks[1]).expect("5005 example");
    let birth: RegisterBirth = serde_json::from_str(blocks[2]).expect("1001 example");
    let choice: BirthRegistration = serde_json::from_str(blocks[3]).expect("1001 multiple example");
    assert_eq!(
        choice,
        BirthRegistration::ParentsToChoose(two_possible_mothers(Vec::new()))
    );
    let death: RegisterDeath = serde_json::from_str(blocks[4]).expect("2001 example");
    // Each example is a command the mappings send without a refusal or a warning.
    for (name, xml) in [
        (
            "readme-5005",
            residence::write_request(&residence, &context("9")).unwrap(),
        ),
        (
            "readme-1001",
            birth::write_request(&birth, &context("9")).unwrap(),
        ),
        (
            "readme-2001",
            death::write_request(&death, &context("9")).unwrap(),
        ),
    ] {
        assert!(xml.1.is_empty(), "{name}: {:?}", xml.1);
        assert_both_valid(name, &xml.0);
    }
}

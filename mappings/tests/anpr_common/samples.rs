//! Sample commands and events (synthetic people) used by the round-trip, validity and xmllint tests.

use chrono::NaiveDate;
use snodo_mappings::anpr::lookup::{
    FamilyLink, Household, LookupCompleted, LookupKey, LookupResident, Resident, SearchByName, Section,
};
use snodo_mappings::anpr::{
    Address, AnprMessage, Citizenship, Comune, ForeignPlace, Person, Place, SchemaV1, Sex,
};

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub fn milano() -> Comune {
    Comune {
        name: "MILANO".into(),
        istat_code: Some("015146".into()),
        province: "MI".into(),
    }
}

pub fn person() -> Person {
    Person {
        codice_fiscale: Some("RSSMRA80A01F205X".into()),
        surname: Some("ROSSI".into()),
        given_name: Some("MARIO".into()),
        sex: Some(Sex::M),
        birth_date: Some(day(1980, 1, 1)),
        birth_place: Some(Place::Comune(milano())),
    }
}

pub fn address() -> Address {
    Address {
        kind: 1,
        postal_code: "20121".into(),
        comune: milano(),
        street_kind: Some("VIA".into()),
        street_name: "DEI MILLE".into(),
        house_number: Some("12".into()),
        since: Some(day(2010, 5, 3)),
    }
}

pub fn lookup_by_cf() -> LookupResident {
    LookupResident {
        schema: SchemaV1,
        by: LookupKey::CodiceFiscale("RSSMRA80A01F205X".into()),
        sections: vec![Section::PersonalData, Section::Residence, Section::Family],
        reference_date: Some(day(2025, 3, 14)),
        nationwide: false,
    }
}

pub fn lookup_by_name() -> LookupResident {
    LookupResident {
        schema: SchemaV1,
        by: LookupKey::Generalita(SearchByName {
            surname: "D'ANGELO".into(),
            given_name: "MARÌA JOSÉ".into(),
            sex: Some(Sex::F),
            birth_date: Some(day(1975, 12, 31)),
            birth_place: Some(Place::Abroad(ForeignPlace {
                locality: Some("BUENOS AIRES".into()),
                country_name: "ARGENTINA".into(),
                country_code: "602".into(),
            })),
        }),
        sections: vec![Section::FullRecord],
        reference_date: Some(day(2024, 1, 31)),
        nationwide: true,
    }
}

pub fn lookup_completed() -> LookupCompleted {
    LookupCompleted {
        schema: SchemaV1,
        id_operazione_anpr: "123456789012".into(),
        persons: vec![
            Resident {
                id_anpr: Some("AF41450AS".into()),
                person: person(),
                civil_status: Some(2),
                citizenships: vec![Citizenship {
                    country_code: "100".into(),
                    country_name: "ITALIA".into(),
                }],
                residence: Some(address()),
                family_link: Some(FamilyLink {
                    relationship: 1,
                    since: day(2010, 5, 3),
                }),
                household: Some(Household {
                    id_anpr: Some("900001".into()),
                    kind: 1,
                }),
            },
            Resident {
                id_anpr: None,
                person: Person {
                    codice_fiscale: None,
                    surname: Some("BIANCHI".into()),
                    given_name: None,
                    sex: None,
                    birth_date: None,
                    birth_place: None,
                },
                civil_status: None,
                citizenships: vec![],
                residence: None,
                family_link: None,
                household: None,
            },
        ],
        warnings: vec![AnprMessage::warning(
            "EN300",
            "Indirizzo non allineato con ANNCSU",
        )],
    }
}

pub fn certificate() -> snodo_mappings::anpr::certificate::IssueCertificate {
    use snodo_mappings::anpr::certificate::*;
    IssueCertificate {
        schema: SchemaV1,
        holder: person(),
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
    }
}

pub fn certificate_issued() -> snodo_mappings::anpr::certificate::CertificateIssued {
    snodo_mappings::anpr::certificate::CertificateIssued {
        schema: SchemaV1,
        id_operazione_anpr: "555000111".into(),
        protocol_number: Some("2025000123".into()),
        // "%PDF-1.4\n" base64-encoded.
        pdf_base64: Some("JVBERi0xLjQK".into()),
        warnings: vec![],
    }
}

//! Shared by the pagoPA mapping tests: the official specs beside the repository, compiled schemas,
//! the govpay template substitution, a sample position, and the `xmllint` judge.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use snodo_mappings::pagopa::contract::{Credit, EntityType, MapEntry, Payable, Subject, Transfer};
use snodo_mappings::soap::{Envelope, read_envelope};
use snodo_security::schema::Schema;
use snodo_security::xml::{Limits, parse};

pub fn specs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/specs/pagopa")
}

pub fn pa_schema_path() -> PathBuf {
    specs().join("wsdl/xsd/paForNode.xsd")
}

pub fn pa_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| Schema::compile(pa_schema_path()).expect("paForNode.xsd compiles"))
}

pub fn node_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| Schema::compile(specs().join("wsdl/xsd/nodeForPa.xsd")).expect("nodeForPa.xsd compiles"))
}

pub fn flow_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::compile(specs().join("xsd-common/FlussoRiversamento_1_0_4.xsd"))
            .expect("the flow XSD compiles")
    })
}

pub fn envelope(xml: &str) -> Envelope {
    read_envelope(xml.as_bytes(), &Limits::default()).expect("a SOAP envelope")
}

/// Validates the payload of a SOAP envelope against `schema`.
pub fn validate_payload(schema: &Schema, xml: &str) -> Result<(), String> {
    let env = envelope(xml);
    schema
        .validate_element(env.document(), env.payload())
        .map_err(|e| e.to_string())
}

/// A govpay Karate template with its `#(name)` placeholders filled and U+00A0 indentation replaced
/// (SOURCES.txt).
pub fn govpay(name: &str, values: &[(&str, &str)]) -> String {
    let mut text =
        std::fs::read_to_string(specs().join("examples/govpay-templates").join(name)).expect("template");
    for (key, value) in values {
        text = text.replace(&format!("#({key})"), value);
    }
    assert!(!text.contains("#("), "{name}: a placeholder is left");
    text.replace('\u{a0}', " ")
}

pub const GOVPAY_VALUES: &[(&str, &str)] = &[
    ("idDominio", "01199250158"),
    ("idIntermediario", "01199250158"),
    ("idStazione", "01199250158_01"),
    ("numeroAvviso", "301000000000000144"),
    ("importo", "100.50"),
    ("causale", "TARI 2025"),
    ("receiptId", "c3f1b2a0d4e5f60718293a4b5c6d7e8f"),
    ("iuv", "01000000000000144"),
    ("ibanAccredito", "IT60X0542811101000000123456"),
];

pub fn mock_ec(name: &str) -> String {
    std::fs::read_to_string(specs().join("examples/pagopa-mock-ec").join(name)).expect("example")
}

pub fn debtor() -> Subject {
    Subject {
        entity_type: EntityType::F,
        unique_identifier: "RSSMRA80A01F205X".into(),
        full_name: "Mario Rossi".into(),
        street_name: Some("Via Roma".into()),
        civic_number: Some("1".into()),
        postal_code: Some("20121".into()),
        city: Some("Milano".into()),
        state_province_region: Some("MI".into()),
        country: Some("IT".into()),
        email: Some("mario.rossi@example.it".into()),
    }
}

pub fn transfer(amount_cents: u64, fiscal_code: &str, credit: Credit) -> Transfer {
    Transfer {
        amount_cents,
        fiscal_code: fiscal_code.into(),
        company_name: Some("Comune di Milano".into()),
        credit,
        remittance_information: "/RFB/01000000000000144/100.50/TXT/TARI".into(),
        category: "9/0101002IM/".into(),
        metadata: vec![MapEntry::new("capitolo", "1234")],
    }
}

pub fn account(iban: &str, postal: Option<&str>) -> Credit {
    Credit::Account {
        iban: iban.into(),
        postal_iban: postal.map(Into::into),
    }
}

/// A TARI + TEFA position for notice `301000000000000144` (IUV `01000000000000144`), 100.50 €.
pub fn payable() -> Payable {
    Payable {
        iuv: "01000000000000144".into(),
        notice_number: Some("301000000000000144".into()),
        amount_cents: 10050,
        due_date: "2025-12-31".into(),
        retention_date: None,
        description: "TARI 2025 rata unica".into(),
        detail_description: Some("Tassa rifiuti".into()),
        company_name: "Comune di Milano".into(),
        office_name: Some("Ufficio Tributi".into()),
        debtor: debtor(),
        transfers: vec![
            transfer(
                9500,
                "01199250158",
                account("IT60X0542811101000000123456", Some("IT21Q0760101600000000123456")),
            ),
            transfer(550, "80101590153", account("IT02A0306909606100000063129", None)),
        ],
        metadata: vec![MapEntry::new("anno", "2025")],
    }
}

/// Runs `xmllint --schema` once over every file: the independent judge of what we write.
pub fn xmllint_judges(schema: &Path, documents: &[(String, String)]) {
    let dir = std::env::temp_dir().join(format!("snodo-pagopa-xmllint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for (name, xml) in documents {
        // xmllint validates whole documents: write the payload alone, with its namespaces in scope.
        let env = envelope(xml);
        let payload = snodo_security::c14n::Canonicalization::new(snodo_security::c14n::Algorithm::Inclusive)
            .subtree(env.document(), env.payload(), &[])
            .unwrap();
        parse(&payload, &Limits::default()).unwrap();
        let path = dir.join(format!("{name}.xml"));
        std::fs::write(&path, payload).unwrap();
        files.push(path);
    }
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .args(&files)
        .output()
        .expect("xmllint is installed (scripts/test installs libxml2-utils)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    std::fs::remove_dir_all(&dir).ok();
    assert!(output.status.success(), "xmllint refused:\n{stderr}");
    assert_eq!(
        stderr.matches(" validates").count(),
        documents.len(),
        "xmllint did not validate every document:\n{stderr}"
    );
}

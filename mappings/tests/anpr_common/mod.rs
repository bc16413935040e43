//! Shared by the `anpr_*` tests: the official schemas, a context, and validation of a written
//! payload by the crate's validator (xmllint judges the same documents in `anpr_xmllint.rs`).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use chrono::DateTime;
use snodo_mappings::anpr::{RequestContext, SendMode};
use snodo_security::schema::Schema;
use snodo_security::xml::{Document, Limits, parse};

pub fn spec_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/specs/anpr/soap/comuni")
}

/// The service schema file for a payload namespace.
pub fn xsd_for(namespace: &str) -> &'static str {
    match namespace {
        "http://sogei.it/ANPR/1000iscrizione" => "1000iscrizione.xsd",
        "http://sogei.it/ANPR/2000cancellazione" => "2000cancellazione.xsd",
        "http://sogei.it/ANPR/3000consultazione" => "3000consultazione.xsd",
        "http://sogei.it/ANPR/4000estrazione" => "4000estrazione.xsd",
        "http://sogei.it/ANPR/5000mutazione" => "5000mutazione.xsd",
        "http://sogei.it/ANPR/6001certificazione" => "6001certificazione.xsd",
        other => panic!("no schema for {other}"),
    }
}

fn schema(file: &'static str) -> &'static Schema {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, &'static Schema>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    cache.entry(file).or_insert_with(|| {
        Box::leak(Box::new(
            Schema::compile(spec_dir().join(file)).expect("official schema compiles"),
        ))
    })
}

pub fn parse_payload(xml: &str) -> Document {
    parse(xml.as_bytes(), &Limits::default()).expect("written payload parses")
}

/// Validates a written payload against its service's official XSD with the crate's validator.
pub fn assert_valid(xml: &str) -> Document {
    let doc = parse_payload(xml);
    let root = doc.document_element();
    let ns = doc.element(root).unwrap().name().namespace().unwrap().to_owned();
    schema(xsd_for(&ns))
        .validate_element(&doc, root)
        .unwrap_or_else(|e| panic!("not valid against {}: {e}\n{xml}", xsd_for(&ns)));
    doc
}

pub fn context(id: &str) -> RequestContext {
    RequestContext {
        id_operazione_comune: id.to_owned(),
        istat_code: "015146".to_owned(),
        mode: SendMode::Test,
        requested_at: DateTime::parse_from_rfc3339("2025-03-14T10:15:30.250+01:00").unwrap(),
    }
}

pub mod samples;

//! Shared by the `cie_booking_*` tests: the contract's schema compiled once, validation of a written
//! payload by the crate's validator, a request header, and (in `samples`) one value of every body.
#![allow(dead_code)]

pub mod samples;

use std::path::PathBuf;
use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset};
use snodo_mappings::cie_booking::{CONTRACT_DIR, OperationId, RequestHeader, ResponseHeader};
use snodo_security::schema::Schema;
use snodo_security::xml::{Document, Limits, parse};

pub fn contract_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(CONTRACT_DIR)
}

pub fn xsd_path() -> PathBuf {
    contract_dir().join("cieBooking.xsd")
}

pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::compile(xsd_path()).expect("cieBooking.xsd compiles"))
}

pub fn parse_payload(xml: &str) -> Document {
    parse(xml.as_bytes(), &Limits::default()).expect("written payload parses")
}

/// Validates a written payload against `cieBooking.xsd` with the crate's validator.
pub fn assert_valid(xml: &str) -> Document {
    let doc = parse_payload(xml);
    schema()
        .validate_element(&doc, doc.document_element())
        .unwrap_or_else(|e| panic!("not valid against cieBooking.xsd: {e}\n{xml}"));
    doc
}

pub fn at(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).unwrap()
}

pub const MESSAGE_ID: &str = "5f0c7f7e-3b7a-4d8e-9a53-0c1d2e3f4a5b";

pub fn request_header() -> RequestHeader {
    RequestHeader::snodo(
        OperationId::from_message_id(MESSAGE_ID).unwrap(),
        "015146",
        at("2025-03-14T10:15:30.250+01:00"),
    )
}

pub fn response_header() -> ResponseHeader {
    ResponseHeader::answering(&request_header(), at("2025-03-14T10:15:30.900+01:00"))
}

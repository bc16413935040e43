//! Property: the readers' field rules agree with `cieBooking.xsd` (judged by libxml2 through the
//! crate's validator) on arbitrary values of the pattern-typed fields of a booking request — a
//! value one accepts and the other refuses would let the simulator and the connector disagree with
//! the contract.

mod cie_booking_common;

use cie_booking_common::samples::*;
use cie_booking_common::{parse_payload, request_header, schema};
use proptest::prelude::*;
use snodo_mappings::cie_booking::{Command, read_request, write_command};
use snodo_mappings::soap::escape_text;

/// The Book request with the text of element `local` (its first occurrence) replaced by `value`.
fn agree(local: &str, value: &str) -> Result<(), TestCaseError> {
    let xml = write_command(&Command::Book(book()), &request_header()).unwrap();
    let open = format!("<{local}>");
    let start = xml.find(&open).unwrap() + open.len();
    let end = start + xml[start..].find('<').unwrap();
    let edited = format!("{}{}{}", &xml[..start], escape_text(value), &xml[end..]);
    let doc = parse_payload(&edited);
    let xsd = schema().validate_element(&doc, doc.document_element()).is_ok();
    let reader = read_request(&doc, doc.document_element()).is_ok();
    prop_assert_eq!(xsd, reader, "{} = {:?}", local, value);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn codice_fiscale(value in "[A-Z0-9LMNPQRSTUVa ]{10,17}|[A-Z]{6}[0-9L-V]{2}[A-Z][0-9L-V]{2}[A-Z][0-9L-V]{3}[A-Z]") {
        agree("codiceFiscale", &value)?;
    }

    #[test]
    fn email(value in "[a-z@. \t]{0,12}") {
        agree("email", &value)?;
    }

    #[test]
    fn phone(value in "[+0-9 ]{0,17}") {
        agree("telefono", &value)?;
    }

    #[test]
    fn name(value in "[a-zà' \t\u{85}\u{9f}\u{a0}-]{0,82}") {
        agree("cognome", &value)?;
    }

    #[test]
    fn slot_id(value in "[A-Za-z0-9_/ -]{0,42}") {
        agree("idSlot", &value)?;
    }

    #[test]
    fn istat(value in "[0-9 a]{4,7}") {
        agree("codIstatComuneResidenza", &value)?;
    }

    #[test]
    fn request_time(value in "20[0-9]{2}-[01][0-9]-[0-3][0-9][T ]([0-2][0-9]:[0-5][0-9]:[0-6][0-9]|24:00:00)(\\.[0-9]{1,3})?(Z|z|[+-][01][0-9]:[0-5][0-9])?") {
        agree("dataOraRichiesta", &value)?;
    }
}

#[test]
fn the_end_of_a_day_is_the_next_midnight_and_offsets_stop_at_14_hours() {
    for (value, read) in [
        ("2025-03-14T24:00:00+01:00", Some("2025-03-15T00:00:00+01:00")),
        ("2025-12-31T24:00:00.000Z", Some("2026-01-01T00:00:00Z")),
        ("2025-03-14T24:00:00.5+01:00", None),
        ("2025-03-14T23:59:60Z", None),
        ("2025-03-14T10:00:00+14:00", Some("2025-03-14T10:00:00+14:00")),
        ("2025-03-14T10:00:00-14:01", None),
    ] {
        agree("dataOraRichiesta", value).unwrap();
        let xml = write_command(&Command::Book(book()), &request_header())
            .unwrap()
            .replace("2025-03-14T10:15:30.250+01:00", value);
        let doc = parse_payload(&xml);
        let header = read_request(&doc, doc.document_element())
            .ok()
            .map(|(h, _)| h.requested_at);
        assert_eq!(header, read.map(cie_booking_common::at), "{value}");
    }
}

//! What ANPR adds to the shared payload writer and reader ([`crate::payload_xml`]): its payload
//! prefix, its error type, text trimmed at the edges, and its dates and small numbers as its service
//! schemas and its own examples write them.

use super::AnprError;
use crate::payload_xml::{self, MissingElement};
use crate::soap::QName;

pub(crate) use crate::payload_xml::XmlOut;

/// ANPR's payload prefix: the root and `ref`'d elements carry the service namespace, every local
/// element is unqualified (`elementFormDefault="unqualified"`).
const PREFIX: &str = "ns";

/// Starts the payload element `local` of the service `namespace`.
pub(crate) fn payload_root(namespace: &str, local: &str) -> XmlOut {
    XmlOut::root(PREFIX, namespace, local)
}

/// One element of a parsed ANPR payload.
pub(crate) type El<'d> = payload_xml::El<'d, AnprError>;

impl MissingElement for AnprError {
    fn missing(path: String) -> AnprError {
        AnprError::Missing { path }
    }
}

impl El<'_> {
    /// Fails unless this element is `{namespace}local`.
    pub(crate) fn expect(&self, namespace: &str, local: &str) -> Result<(), AnprError> {
        let expected = QName::new(namespace, local);
        let found = self.qname();
        if found == expected {
            Ok(())
        } else {
            Err(AnprError::UnexpectedElement {
                expected: expected.to_string(),
                found: found.to_string(),
            })
        }
    }

    /// The element's text, whitespace-trimmed (every ANPR simple type is collapsed or padded in the
    /// wild; none is meaningful at the edges).
    pub(crate) fn text(&self) -> String {
        self.text_content().trim().to_owned()
    }

    pub(crate) fn opt_text(&self, local: &str) -> Option<String> {
        self.child(local).map(|c| c.text())
    }

    pub(crate) fn req_text(&self, local: &str) -> Result<String, AnprError> {
        self.req(local).map(|c| c.text())
    }

    /// An `xs:date`, without the optional timezone ANPR's own examples put on dates
    /// (`2017-03-27+02:00`): a registry date is a calendar day.
    pub(crate) fn opt_date(&self, local: &str) -> Result<Option<chrono::NaiveDate>, AnprError> {
        let Some(child) = self.child(local) else {
            return Ok(None);
        };
        parse_date(&child.text())
            .map(Some)
            .ok_or_else(|| AnprError::invalid(child.path(), "is not an xs:date"))
    }

    pub(crate) fn req_date(&self, local: &str) -> Result<chrono::NaiveDate, AnprError> {
        self.opt_date(local)?.ok_or_else(|| self.missing(local))
    }

    /// A small number (`numerico1`, `numericoMax2`, …).
    pub(crate) fn opt_u32(&self, local: &str) -> Result<Option<u32>, AnprError> {
        let Some(child) = self.child(local) else {
            return Ok(None);
        };
        let text = child.text();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AnprError::invalid(child.path(), "is not a number"));
        }
        text.parse()
            .map(Some)
            .map_err(|_| AnprError::invalid(child.path(), "is out of range"))
    }

    pub(crate) fn req_u32(&self, local: &str) -> Result<u32, AnprError> {
        self.opt_u32(local)?.ok_or_else(|| self.missing(local))
    }
}

/// `YYYY-MM-DD`, optionally followed by `Z` or `±hh:mm`.
pub(crate) fn parse_date(text: &str) -> Option<chrono::NaiveDate> {
    let (day, zone) = text.split_at_checked(10)?;
    let zone_ok = zone.is_empty()
        || zone == "Z"
        || (zone.len() == 6
            && matches!(zone.as_bytes()[0], b'+' | b'-')
            && zone.as_bytes()[3] == b':'
            && zone[1..3]
                .bytes()
                .chain(zone[4..].bytes())
                .all(|b| b.is_ascii_digit()));
    if !zone_ok {
        return None;
    }
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

pub(crate) fn date_text(date: chrono::NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

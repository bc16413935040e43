//! What the booking contract adds to the shared payload writer and reader ([`crate::payload_xml`]):
//! its payload prefix, its error type, and readers that check each value with the field rule of its
//! simple type and report problems by element path.

use chrono::{DateTime, FixedOffset, NaiveDate};

use super::{BookingError, NAMESPACE, rules};
use crate::payload_xml::{self, MissingElement};

pub(crate) use crate::payload_xml::XmlOut;

/// The contract's payload prefix: the root element is in the contract's namespace, every other
/// element unqualified.
const PREFIX: &str = "cb";

/// Starts the payload element `local`.
pub(crate) fn payload_root(local: &str) -> XmlOut {
    XmlOut::root(PREFIX, NAMESPACE, local)
}

/// One element of a parsed booking payload.
pub(crate) type El<'d> = payload_xml::El<'d, BookingError>;

impl MissingElement for BookingError {
    fn missing(path: String) -> BookingError {
        BookingError::Missing { path }
    }
}

impl El<'_> {
    /// The element's text. Not trimmed: the string types of the contract are patterns without
    /// whitespace at the edges, so padding is an error the field rule reports. The types derived
    /// from `xs:date`, `xs:dateTime`, `xs:boolean` and the integers collapse whitespace (XSD Part 2),
    /// so their readers trim.
    pub(crate) fn text(&self) -> String {
        self.text_content()
    }

    /// The text of child `local`, checked by `rule`.
    pub(crate) fn req_checked(
        &self,
        local: &str,
        rule: fn(&str, &str) -> rules::Rule,
    ) -> Result<String, BookingError> {
        let child = self.req(local)?;
        let text = child.text();
        rule(local, &text).map_err(|e| e.at(child.path()))?;
        Ok(text)
    }

    pub(crate) fn opt_checked(
        &self,
        local: &str,
        rule: fn(&str, &str) -> rules::Rule,
    ) -> Result<Option<String>, BookingError> {
        match self.child(local) {
            Some(_) => self.req_checked(local, rule).map(Some),
            None => Ok(None),
        }
    }

    /// Child `local` as one of the codes `parse` knows.
    pub(crate) fn req_code<T>(&self, local: &str, parse: fn(&str) -> Option<T>) -> Result<T, BookingError> {
        let child = self.req(local)?;
        parse(&child.text())
            .ok_or_else(|| BookingError::invalid(child.path(), "is not one of the contract's codes"))
    }

    pub(crate) fn req_date(&self, local: &str) -> Result<NaiveDate, BookingError> {
        let child = self.req(local)?;
        rules::parse_date(child.text().trim())
            .ok_or_else(|| BookingError::invalid(child.path(), "is not a date (YYYY-MM-DD)"))
    }

    pub(crate) fn opt_date_time(&self, local: &str) -> Result<Option<DateTime<FixedOffset>>, BookingError> {
        let Some(child) = self.child(local) else {
            return Ok(None);
        };
        rules::parse_date_time(child.text().trim())
            .map(Some)
            .ok_or_else(|| {
                BookingError::invalid(
                    child.path(),
                    "is not a date-time with an offset (YYYY-MM-DDThh:mm:ss±hh:mm)",
                )
            })
    }

    pub(crate) fn req_date_time(&self, local: &str) -> Result<DateTime<FixedOffset>, BookingError> {
        self.opt_date_time(local)?.ok_or_else(|| self.missing(local))
    }

    /// A non-negative integer (`xs:unsignedShort`, `xs:positiveInteger` and their restrictions),
    /// in `min..=max`.
    pub(crate) fn req_number(&self, local: &str, min: u32, max: u32) -> Result<u32, BookingError> {
        let child = self.req(local)?;
        let text = child.text();
        // The integer lexical space: an optional sign and leading zeros are allowed.
        let digits = text.trim();
        let digits = digits.strip_prefix('+').unwrap_or(digits);
        let significant = digits.trim_start_matches('0');
        let value =
            (!digits.is_empty() && significant.len() <= 10 && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| {
                    if significant.is_empty() {
                        Some(0)
                    } else {
                        significant.parse::<u32>().ok()
                    }
                })
                .flatten()
                .filter(|n| (min..=max).contains(n));
        value.ok_or_else(|| {
            BookingError::invalid(child.path(), format!("is not a whole number from {min} to {max}"))
        })
    }

    pub(crate) fn req_bool(&self, local: &str) -> Result<bool, BookingError> {
        let child = self.req(local)?;
        match child.text().trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(BookingError::invalid(child.path(), "is not a boolean")),
        }
    }
}

//! Why an ANPR mapping refused its input. Commands break a field rule (the connector answers
//! `invalid_message` naming the field); payloads from the wire are missing or malformed elements.
//! No variant quotes a value: codici fiscali and names must not reach logs through error texts.

use snodo_security::xml::XmlError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnprError {
    /// A command field cannot be sent to ANPR as it is (the XSD would reject the request).
    #[error("field `{field}`: {reason}")]
    Field { field: String, reason: String },

    /// A required element is absent from an ANPR payload.
    #[error("ANPR payload: required element `{path}` is missing")]
    Missing { path: String },

    /// An element of an ANPR payload has content the schema does not allow.
    #[error("ANPR payload: element `{path}` {reason}")]
    Invalid { path: String, reason: String },

    /// The payload is not the element this mapping reads.
    #[error("ANPR payload: expected element `{expected}`, found `{found}`")]
    UnexpectedElement { expected: String, found: String },

    /// The bytes are not XML the screening parser accepts.
    #[error("ANPR payload: {0}")]
    Xml(#[from] XmlError),
}

impl AnprError {
    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> AnprError {
        AnprError::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(path: impl Into<String>, reason: impl Into<String>) -> AnprError {
        AnprError::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

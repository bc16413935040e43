//! Why a SOAP message was refused. Each variant maps to the fault a SOAP endpoint answers (see
//! [`SoapError::fault`]), and none quotes text content, which may be personal data.

use snodo_security::xml::XmlError;

use super::QName;
use super::fault::{Fault, FaultCode};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoapError {
    #[error("not XML the screening parser accepts: {0}")]
    Xml(#[from] XmlError),

    #[error("the document element is {found}, not a SOAP 1.1 Envelope")]
    NotAnEnvelope { found: QName },

    #[error("SOAP 1.2 envelope received; this endpoint speaks SOAP 1.1")]
    VersionMismatch,

    #[error("the Envelope has no Body")]
    MissingBody,

    #[error("unexpected {found} in the Envelope: only an optional Header followed by one Body is allowed")]
    UnexpectedEnvelopeChild { found: QName },

    #[error("the Body is empty")]
    EmptyBody,

    #[error("the Body holds {count} elements; document/literal SOAP carries exactly one")]
    SeveralBodyElements { count: usize },

    #[error("the Body holds character data outside its element")]
    TextInBody,

    #[error("a SOAP Fault lacks its {missing}")]
    MalformedFault { missing: &'static str },

    #[error("header block {block} is marked mustUnderstand and this endpoint does not process it")]
    MustUnderstand { block: QName },

    #[error("no operation of this endpoint takes {payload}")]
    UnknownOperation { payload: QName },
}

impl SoapError {
    /// The fault a SOAP endpoint answers with (SOAP 1.1 §4.4.1): the sender's mistakes are `Client`
    /// faults, an unknown mandatory header `MustUnderstand`, a 1.2 envelope `VersionMismatch`.
    pub fn fault(&self) -> Fault {
        let code = match self {
            SoapError::VersionMismatch => FaultCode::VersionMismatch,
            SoapError::MustUnderstand { .. } => FaultCode::MustUnderstand,
            _ => FaultCode::Client,
        };
        Fault::new(code, self.to_string())
    }
}

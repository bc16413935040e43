//! SOAP 1.1 Faults (§4.4), read from a response or written by an endpoint.
//!
//! pagoPA reports application errors inside a normal response (`outcome` KO), not as Faults; ANPR and
//! the SOAP stacks in front of both use Faults for what fails before the application (policy,
//! WS-Security, malformed content). A client classifies on [`FaultCode`]: `Client` means the request
//! must change, `Server` may be transient.

use std::fmt;

use super::QName;
use super::SOAP11_NAMESPACE;

/// The `faultcode`, resolved to its expanded name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultCode {
    VersionMismatch,
    MustUnderstand,
    Client,
    Server,
    /// A code outside the SOAP namespace or a dotted refinement (`Client.Authentication`), kept whole.
    Other(QName),
}

impl FaultCode {
    pub(super) fn from_qname(name: QName) -> FaultCode {
        if name.namespace() == Some(SOAP11_NAMESPACE) {
            match name.local_name() {
                "VersionMismatch" => return FaultCode::VersionMismatch,
                "MustUnderstand" => return FaultCode::MustUnderstand,
                "Client" => return FaultCode::Client,
                "Server" => return FaultCode::Server,
                _ => {}
            }
        }
        FaultCode::Other(name)
    }

    /// True for `Client` and its refinements (`Client.Xyz`): the sender's fault, not worth a retry.
    pub fn is_client(&self) -> bool {
        match self {
            FaultCode::Client => true,
            FaultCode::Other(q) => {
                q.namespace() == Some(SOAP11_NAMESPACE) && q.local_name().starts_with("Client.")
            }
            _ => false,
        }
    }

    /// True for `Server` and its refinements: the receiver failed; the same request may succeed later.
    pub fn is_server(&self) -> bool {
        match self {
            FaultCode::Server => true,
            FaultCode::Other(q) => {
                q.namespace() == Some(SOAP11_NAMESPACE) && q.local_name().starts_with("Server.")
            }
            _ => false,
        }
    }

    /// The local name written after the `soapenv:` prefix, or `None` for a code in another namespace.
    fn soap_local_name(&self) -> Option<&str> {
        match self {
            FaultCode::VersionMismatch => Some("VersionMismatch"),
            FaultCode::MustUnderstand => Some("MustUnderstand"),
            FaultCode::Client => Some("Client"),
            FaultCode::Server => Some("Server"),
            FaultCode::Other(q) if q.namespace() == Some(SOAP11_NAMESPACE) => Some(q.local_name()),
            FaultCode::Other(_) => None,
        }
    }
}

impl fmt::Display for FaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.soap_local_name() {
            Some(local) => write!(f, "soap:{local}"),
            None => match self {
                FaultCode::Other(q) => write!(f, "{q}"),
                _ => unreachable!("every SOAP code has a local name"),
            },
        }
    }
}

/// A SOAP Fault. `detail` is XML text when writing; when reading, the detail is left in the
/// [`Envelope`](super::Envelope)'s tree for the platform's mapping to read ([`Envelope::fault_detail`](super::Envelope::fault_detail)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: FaultCode,
    pub string: String,
    pub actor: Option<String>,
    pub detail: Option<String>,
}

impl Fault {
    pub fn new(code: FaultCode, string: impl Into<String>) -> Fault {
        Fault {
            code,
            string: string.into(),
            actor: None,
            detail: None,
        }
    }

    /// Adds a `detail` element holding this (already well-formed) XML.
    pub fn with_detail(mut self, xml: impl Into<String>) -> Fault {
        self.detail = Some(xml.into());
        self
    }

    /// The `soapenv:Fault` element, for a Body.
    pub(super) fn to_xml(&self, prefix: &str) -> String {
        use super::write::{escape_attribute, escape_text};
        let mut out = format!("<{prefix}:Fault>");
        match self.code.soap_local_name() {
            Some(local) => out.push_str(&format!("<faultcode>{prefix}:{local}</faultcode>")),
            None => {
                let FaultCode::Other(q) = &self.code else {
                    unreachable!("only Other lacks a SOAP name")
                };
                match q.namespace() {
                    Some(ns) => out.push_str(&format!(
                        "<faultcode xmlns:fc=\"{}\">fc:{}</faultcode>",
                        escape_attribute(ns),
                        escape_text(q.local_name())
                    )),
                    None => out.push_str(&format!("<faultcode>{}</faultcode>", escape_text(q.local_name()))),
                }
            }
        }
        out.push_str(&format!(
            "<faultstring>{}</faultstring>",
            escape_text(&self.string)
        ));
        if let Some(actor) = &self.actor {
            out.push_str(&format!("<faultactor>{}</faultactor>", escape_text(actor)));
        }
        if let Some(detail) = &self.detail {
            out.push_str(&format!("<detail>{detail}</detail>"));
        }
        out.push_str(&format!("</{prefix}:Fault>"));
        out
    }
}

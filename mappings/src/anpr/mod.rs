//! ANPR, the national resident population registry: the `anpr.*` JSON contract and the pure
//! JSON⇄XML mappings of the SOAP services the connector calls and the simulator answers. No I/O.
//!
//! Each service file has the same shape (see `README.md` in this folder for the JSON with examples):
//! the command and event types; `write_request` (command + [`RequestContext`] → the `RichiestaNNNN`
//! payload, valid against the official XSD by construction, or an [`AnprError::Field`] naming the
//! JSON field); `read_response` (the `RispostaNNNN` payload → the completed event or a
//! [`Rejection`]); and, for the simulator, `read_request` and `write_response`/`write_rejection`.
//! The SOAP envelope around the payload is [`crate::soap`]'s.

pub mod birth;
pub mod birth_candidates;
pub mod bulk;
pub mod certificate;
pub mod contract;
pub mod death;
mod error;
pub mod header;
pub mod lookup;
pub mod notification;
pub mod notification_pull;
pub mod pdnd;
pub mod place_check;
pub mod registry_change;
pub mod residence;
mod rules;
pub mod schema;
mod xml;

pub use contract::{Address, Citizenship, Comune, ForeignPlace, Person, Place, SchemaV1, Sex};
pub use error::AnprError;
pub use header::{AnprMessage, Outcome, Rejection, RequestContext, RequestHeader, ResponseHeader, SendMode};

use snodo_security::xml::{Document, NodeId};

/// Namespaces of the service schemas (`soap/comuni/*.xsd`, v9.0.3).
pub mod ns {
    pub const ISCRIZIONE: &str = "http://sogei.it/ANPR/1000iscrizione";
    pub const CANCELLAZIONE: &str = "http://sogei.it/ANPR/2000cancellazione";
    pub const CONSULTAZIONE: &str = "http://sogei.it/ANPR/3000consultazione";
    pub const ESTRAZIONE: &str = "http://sogei.it/ANPR/4000estrazione";
    pub const MUTAZIONE: &str = "http://sogei.it/ANPR/5000mutazione";
    pub const CERTIFICAZIONE: &str = "http://sogei.it/ANPR/6001certificazione";
    pub const RISPOSTA_COMUNE: &str = "http://sogei.it/ANPR/rispostaComune";
}

/// What `read_response` yields: the completed event, or ANPR's refusal.
pub type Answer<T> = Result<T, Rejection>;

/// The payload element of `doc` to read: `node`.
fn el(doc: &Document, node: NodeId) -> xml::El<'_> {
    xml::El::new(doc, node)
}

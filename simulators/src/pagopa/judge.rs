//! How the node judges an EC's answer and what it then tells the PSP (pagopa.md §3.2): a valid KO is
//! passed through as `PPT_ERRORE_EMESSO_DA_PAA` with the EC's code as `originalFaultCode`; anything
//! malformed — not HTTP 200, not SOAP, a SOAP Fault, invalid against `paForNode.xsd` (libxml2, through
//! `snodo_security::schema`), or breaking the node's semantic checks (transfer sum, one option, KO
//! without fault…, in the node-side readers of `snodo_mappings::pagopa`) — is
//! `PPT_STAZIONE_INT_PA_ERRORE_RESPONSE`; no answer in time is `PPT_STAZIONE_INT_PA_TIMEOUT`; no
//! connection is `PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE`.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Serialize;
use snodo_mappings::pagopa::{AnswerError, EcAnswer};
use snodo_mappings::soap::{Envelope, read_envelope};
use snodo_security::schema::Schema;
use snodo_security::xml::Limits;

use super::client::CallOutcome;

pub const ERRORE_EMESSO_DA_PAA: &str = "PPT_ERRORE_EMESSO_DA_PAA";
pub const ERRORE_RESPONSE: &str = "PPT_STAZIONE_INT_PA_ERRORE_RESPONSE";
pub const TIMEOUT: &str = "PPT_STAZIONE_INT_PA_TIMEOUT";
pub const IRRAGGIUNGIBILE: &str = "PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE";
pub const SYSTEM_ERROR: &str = "PPT_SYSTEM_ERROR";
pub const PAGAMENTO_DUPLICATO: &str = "PPT_PAGAMENTO_DUPLICATO";
pub const PAGAMENTO_IN_CORSO: &str = "PPT_PAGAMENTO_IN_CORSO";
pub const TOKEN_SCONOSCIUTO: &str = "PPT_TOKEN_SCONOSCIUTO";

/// The node's fault towards the PSP (the extended fault bean: the EC's original code when it sent one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PptFault {
    pub fault_code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_fault_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_fault_string: Option<String>,
    /// Why, in words: what was wrong with the answer (never a personal value).
    pub description: String,
}

impl PptFault {
    pub fn new(fault_code: &'static str, description: impl Into<String>) -> PptFault {
        PptFault {
            fault_code,
            original_fault_code: None,
            original_fault_string: None,
            description: description.into(),
        }
    }
}

/// The compiled `paForNode.xsd`, compiled once on first use.
pub struct Judge {
    specs_dir: PathBuf,
    schema: OnceLock<Result<Schema, String>>,
}

impl Judge {
    pub fn new(specs_dir: PathBuf) -> Judge {
        Judge {
            specs_dir,
            schema: OnceLock::new(),
        }
    }

    fn schema(&self) -> Result<&Schema, PptFault> {
        self.schema
            .get_or_init(|| {
                let path = self.specs_dir.join("wsdl/xsd/paForNode.xsd");
                Schema::compile(&path).map_err(|e| {
                    format!(
                        "the simulator cannot judge answers: {} does not compile ({e}); set SNODO_PAGOPA_SPECS \
                         to the pagoPA specs directory",
                        path.display()
                    )
                })
            })
            .as_ref()
            .map_err(|e| PptFault::new(SYSTEM_ERROR, e.clone()))
    }

    /// Judges one call's outcome with `read`, the node-side reader of the expected answer.
    pub fn judge<T>(
        &self,
        outcome: CallOutcome,
        read: impl FnOnce(&Envelope) -> Result<EcAnswer<T>, AnswerError>,
    ) -> Result<T, PptFault> {
        let body = match outcome {
            CallOutcome::Answered { status: 200, body } => body,
            CallOutcome::Answered { status, .. } => {
                return Err(PptFault::new(
                    ERRORE_RESPONSE,
                    format!("HTTP {status}: an EC answers HTTP 200, even with outcome KO"),
                ));
            }
            CallOutcome::TimedOut => {
                return Err(PptFault::new(TIMEOUT, "no answer within the node's timeout"));
            }
            CallOutcome::Unreachable(reason) => {
                return Err(PptFault::new(IRRAGGIUNGIBILE, format!("no connection: {reason}")));
            }
            CallOutcome::Broken(reason) => {
                return Err(PptFault::new(
                    ERRORE_RESPONSE,
                    format!("the answer was not received whole: {reason}"),
                ));
            }
        };
        let malformed = |what: String| PptFault::new(ERRORE_RESPONSE, what);
        let envelope = read_envelope(&body, &Limits::default())
            .map_err(|e| malformed(format!("not a SOAP 1.1 envelope: {e}")))?;
        if envelope.fault().is_some() {
            return Err(malformed(
                "a SOAP Fault: an EC answers errors with outcome KO and a fault bean".into(),
            ));
        }
        self.schema()?
            .validate_element(envelope.document(), envelope.payload())
            .map_err(|e| malformed(format!("invalid against paForNode.xsd: {e}")))?;
        match read(&envelope) {
            Ok(EcAnswer::Ok(value)) => Ok(value),
            Ok(EcAnswer::Ko(fault)) => Err(PptFault {
                fault_code: ERRORE_EMESSO_DA_PAA,
                description: fault
                    .description
                    .clone()
                    .unwrap_or_else(|| "the EC answered KO".to_owned()),
                original_fault_code: Some(fault.fault_code),
                original_fault_string: Some(fault.fault_string),
            }),
            Err(e) => Err(malformed(e.to_string())),
        }
    }
}

//! What can go wrong when calling a platform, and what the runtime should do about it: the one
//! classification every SOAP connector shares (Vector's `RetryLogic` shape), so "is this worth a
//! retry?" is answered the same way for ANPR and pagoPA.

use snodo_mappings::soap::{Fault, SoapError};
use snodo_queue::runtime::{CommandError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum SoapCallError {
    #[error("cannot connect to {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },

    #[error("TLS with {endpoint} failed: {reason}")]
    Tls { endpoint: String, reason: String },

    #[error("no answer from {endpoint} within {timeout_ms} ms")]
    Timeout { endpoint: String, timeout_ms: u128 },

    #[error("the connection to {endpoint} broke: {reason}")]
    Broken { endpoint: String, reason: String },

    #[error("{endpoint} answered HTTP {status}")]
    Status { endpoint: String, status: u16 },

    #[error("{endpoint} answered with a SOAP fault {}: {}", fault.code, fault.string)]
    Fault {
        endpoint: String,
        status: u16,
        fault: Box<Fault>,
    },

    #[error("{endpoint} answered {size} bytes or more, over the limit of {limit}")]
    TooLarge {
        endpoint: String,
        size: usize,
        limit: usize,
    },

    #[error("{endpoint} answered something that is not a SOAP 1.1 response: {source}")]
    Malformed {
        endpoint: String,
        #[source]
        source: Box<SoapError>,
    },

    #[error("securing the request failed: {reason}")]
    Security { reason: String },
}

impl SoapCallError {
    /// The error a connector reports for this attempt (DESIGN §5). `idempotent` says whether
    /// repeating the operation is safe, which decides whether a timeout or a broken connection —
    /// after which the platform may have acted — is retried.
    pub fn to_command_error(&self, idempotent: bool) -> CommandError {
        let message = self.to_string();
        match self {
            // Nothing reached the platform: always safe to retry.
            SoapCallError::Connect { .. } => CommandError::unavailable(message),
            SoapCallError::Tls { .. } | SoapCallError::Security { .. } => {
                CommandError::new(ErrorCode::Security, message)
            }
            SoapCallError::Timeout { .. } => CommandError::timeout(message, idempotent),
            SoapCallError::Broken { .. } => CommandError {
                retryable: idempotent,
                ..CommandError::unavailable(message)
            },
            SoapCallError::Status { status, .. } => match status {
                429 | 500..=599 => CommandError::unavailable(message),
                // 4xx other than 429: the request itself is wrong (or the endpoint misconfigured);
                // repeating it cannot help.
                _ => CommandError::new(ErrorCode::Rejected, message)
                    .with_platform(format!("HTTP {status}"), message_for_status(*status)),
            },
            SoapCallError::Fault { fault, .. } => {
                let code = fault.code.to_string();
                if fault.code.is_client()
                    || matches!(
                        fault.code,
                        snodo_mappings::soap::FaultCode::MustUnderstand
                            | snodo_mappings::soap::FaultCode::VersionMismatch
                    )
                {
                    CommandError::rejected(code, fault.string.clone())
                } else {
                    // Server faults (and codes we cannot place) come from stacks in front of the
                    // application — policy engines, overloaded back ends: transient.
                    CommandError::unavailable(message).with_platform(code, fault.string.clone())
                }
            }
            // A broken or foreign answer (a proxy's HTML error page) is the platform's problem, and
            // usually passes.
            SoapCallError::TooLarge { .. } | SoapCallError::Malformed { .. } => {
                CommandError::unavailable(message)
            }
        }
    }
}

fn message_for_status(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        _ => "client error",
    }
}

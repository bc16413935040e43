//! The error model of DESIGN §5: one code per kind of failure, whether it is retried, and the JSON shape
//! carried by `.failed` events and dead letters.
//!
//! Connectors classify (they know what their platform's answers mean, like Vector's `RetryLogic`); the
//! runtime decides what happens from the classification alone, identically for every connector.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not valid JSON for its type, breaks a field rule, or names an unknown tenant.
    InvalidMessage,
    /// No connector handles this type.
    UnknownType,
    /// The platform answered with a business error.
    Rejected,
    /// Connection refused or reset, HTTP 5xx, 429, transient SOAP fault.
    Unavailable,
    /// No answer in time.
    Timeout,
    /// Past `x-snodo-deadline`.
    DeadlineExceeded,
    /// Signature, certificate or TLS failure.
    Security,
    /// A bug.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidMessage => "invalid_message",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::Rejected => "rejected",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::DeadlineExceeded => "deadline_exceeded",
            ErrorCode::Security => "security",
            ErrorCode::Internal => "internal",
        }
    }

    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::InvalidMessage,
        ErrorCode::UnknownType,
        ErrorCode::Rejected,
        ErrorCode::Unavailable,
        ErrorCode::Timeout,
        ErrorCode::DeadlineExceeded,
        ErrorCode::Security,
        ErrorCode::Internal,
    ];
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified failure of one attempt at a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
    /// Whether another attempt may succeed. Defaults from the code; a timeout of an operation that is not
    /// idempotent is not retryable.
    pub retryable: bool,
    pub platform_code: Option<String>,
    pub platform_message: Option<String>,
}

impl CommandError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CommandError {
            code,
            message: message.into(),
            retryable: matches!(code, ErrorCode::Unavailable | ErrorCode::Timeout),
            platform_code: None,
            platform_message: None,
        }
    }

    pub fn invalid_message(message: impl Into<String>) -> Self {
        CommandError::new(ErrorCode::InvalidMessage, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        CommandError::new(ErrorCode::Unavailable, message)
    }

    /// A timeout; retried only when repeating the operation is safe.
    pub fn timeout(message: impl Into<String>, idempotent: bool) -> Self {
        CommandError {
            retryable: idempotent,
            ..CommandError::new(ErrorCode::Timeout, message)
        }
    }

    /// A business error from the platform, with the platform's own code and text.
    pub fn rejected(platform_code: impl Into<String>, platform_message: impl Into<String>) -> Self {
        let platform_code = platform_code.into();
        let platform_message = platform_message.into();
        CommandError {
            platform_code: Some(platform_code.clone()),
            platform_message: Some(platform_message.clone()),
            ..CommandError::new(
                ErrorCode::Rejected,
                format!("the platform rejected the request: {platform_code}"),
            )
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        CommandError::new(ErrorCode::Internal, message)
    }

    pub fn with_platform(mut self, code: impl Into<String>, message: impl Into<String>) -> Self {
        self.platform_code = Some(code.into());
        self.platform_message = Some(message.into());
        self
    }

    /// The body of a `.failed` event, and of the error recorded with a dead letter.
    pub fn report(&self, attempts: u32) -> ErrorReport {
        ErrorReport {
            code: self.code,
            message: self.message.clone(),
            retryable: self.retryable,
            attempts,
            platform_code: self.platform_code.clone(),
            platform_message: self.platform_message.clone(),
        }
    }
}

/// `{code, message, retryable, attempts, platform_code?, platform_message?}` (DESIGN §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorReport {
    pub code: ErrorCode,
    pub message: String,
    pub retryable: bool,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_codes_are_retryable_by_default() {
        for code in ErrorCode::ALL {
            let retryable = CommandError::new(code, "x").retryable;
            assert_eq!(
                retryable,
                matches!(code, ErrorCode::Unavailable | ErrorCode::Timeout),
                "{code}"
            );
        }
        assert!(!CommandError::timeout("t", false).retryable);
    }

    #[test]
    fn report_serializes_as_the_design_says() {
        let report = CommandError::rejected("EN122", "soggetto non trovato").report(1);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["code"], "rejected");
        assert_eq!(json["platform_code"], "EN122");
        assert_eq!(json["retryable"], false);
        assert_eq!(json["attempts"], 1);
        let plain = serde_json::to_value(CommandError::unavailable("down").report(2)).unwrap();
        assert!(plain.get("platform_code").is_none());
    }
}

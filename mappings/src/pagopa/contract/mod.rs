//! The internal JSON contract of the pagoPA connector: what flows between Snodo and the Comune's
//! backends over RabbitMQ. Schema version 1 (the `x-snodo-schema` header, DESIGN §2); each type has a
//! generated JSON Schema under `mappings/schemas/pagopa/`.
//!
//! Conventions, the same in every type: field names in `snake_case`; **amounts are integer euro
//! cents** in fields named `*_cents` (as the GPD REST API does, so no backend ever parses a decimal
//! or meets a float); dates in their XSD lexical form (`2025-05-13`, a zone allowed as the node
//! allows it); unknown fields are refused. Every type has a `validate()` that checks the field rules
//! the XSD would check on the wire and names the field that breaks one, so a backend's mistake is
//! reported as `invalid_message` with its cause instead of reaching the node as a malformed answer.

mod common;
mod fdr;
mod position;
mod publish;
mod receipt;
mod reporting;
mod schema;

pub use common::{EntityType, MapEntry, Subject};
pub use fdr::{
    FdrFlow, FdrFlowsPage, FdrPageMetadata, FdrPayment, FdrPaymentsPage, FdrPublishedFlow, FdrReceiver,
    FdrSender,
};
pub use position::{
    Credit, DemandRequest, Payable, PaymentPosition, PositionRequest, Primitive, Transfer, TransferType,
};
pub use publish::{AcaNewDebtPosition, PublishPosition};
pub use receipt::{Psp, Receipt, ReceiptTransfer, ReceiptVersion, TransferCredit, receipt_message_id};
pub use reporting::{FlowPayment, FlowSender, PaymentOutcome, ReportingFlow, SenderKind};
pub use schema::{SCHEMA_VERSION, json_schemas};

/// A contract value breaking a field rule: which field (a JSON path such as `transfers[1].iban`) and
/// which rule. Values are never quoted (they may be personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct ContractError {
    pub field: String,
    pub rule: String,
}

impl ContractError {
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> ContractError {
        ContractError {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

pub(crate) mod check {
    //! Field rules shared by the contract types; each returns the error naming `field`.

    use super::ContractError;
    use crate::pagopa::simple::{
        MAX_AMOUNT_CENTS, XsdDate, XsdDateTime, is_country, is_digits, is_email, xsd_length,
    };

    pub(crate) type Result = std::result::Result<(), ContractError>;

    pub(crate) fn text(field: &str, value: &str, min: usize, max: usize) -> Result {
        let n = xsd_length(value);
        if n < min || n > max {
            return Err(ContractError::new(
                field,
                format!("must be {min} to {max} characters, is {n}"),
            ));
        }
        Ok(())
    }

    pub(crate) fn opt_text(field: &str, value: Option<&str>, min: usize, max: usize) -> Result {
        value.map_or(Ok(()), |v| text(field, v, min, max))
    }

    pub(crate) fn fiscal_code_pa(field: &str, value: &str) -> Result {
        if !is_digits(value, 11) {
            return Err(ContractError::new(
                field,
                "must be the 11-digit fiscal code of an EC",
            ));
        }
        Ok(())
    }

    pub(crate) fn notice_number(field: &str, value: &str) -> Result {
        if !is_digits(value, 18) {
            return Err(ContractError::new(field, "must be an 18-digit notice number"));
        }
        Ok(())
    }

    pub(crate) fn amount(field: &str, cents: u64, min: u64) -> Result {
        if cents < min || cents > MAX_AMOUNT_CENTS {
            return Err(ContractError::new(
                field,
                format!("must be {min} to {MAX_AMOUNT_CENTS} cents"),
            ));
        }
        Ok(())
    }

    pub(crate) fn date(field: &str, value: &str) -> Result {
        XsdDate::parse(value)
            .filter(|_| value == value.trim())
            .map(|_| ())
            .ok_or_else(|| ContractError::new(field, "must be a date, YYYY-MM-DD with an optional zone"))
    }

    pub(crate) fn date_time(field: &str, value: &str) -> Result {
        XsdDateTime::parse(value)
            .filter(|_| value == value.trim())
            .map(|_| ())
            .ok_or_else(|| ContractError::new(field, "must be a date-time, YYYY-MM-DDThh:mm:ss[.s][zone]"))
    }

    pub(crate) fn email(field: &str, value: &str) -> Result {
        if !is_email(value) {
            return Err(ContractError::new(field, "must be an e-mail address"));
        }
        Ok(())
    }

    pub(crate) fn country(field: &str, value: &str) -> Result {
        if !is_country(value) {
            return Err(ContractError::new(
                field,
                "must be two capital letters (ISO 3166 alpha-2)",
            ));
        }
        Ok(())
    }
}

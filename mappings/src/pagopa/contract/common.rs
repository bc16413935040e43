//! Types shared by several contract messages: the debtor/payer and metadata.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ContractError, check};

/// Natural (`F`) or legal (`G`) person, as pagoPA writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum EntityType {
    /// Persona fisica.
    F,
    /// Persona giuridica.
    G,
}

impl EntityType {
    pub fn code(self) -> &'static str {
        match self {
            EntityType::F => "F",
            EntityType::G => "G",
        }
    }
}

/// A debtor or payer (`ctSubject`). Its `Debug` masks every personal field.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    pub entity_type: EntityType,
    /// Codice fiscale, partita IVA or `ANONIMO`: 2 to 16 characters.
    pub unique_identifier: String,
    /// 1 to 70 characters.
    pub full_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub civic_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_province_region: Option<String>,
    /// ISO 3166 alpha-2, capital letters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subject")
            .field("entity_type", &self.entity_type)
            .finish_non_exhaustive()
    }
}

impl Subject {
    pub fn validate(&self, field: &str) -> Result<(), ContractError> {
        let f = |name: &str| format!("{field}.{name}");
        check::text(&f("unique_identifier"), &self.unique_identifier, 2, 16)?;
        check::text(&f("full_name"), &self.full_name, 1, 70)?;
        check::opt_text(&f("street_name"), self.street_name.as_deref(), 1, 70)?;
        check::opt_text(&f("civic_number"), self.civic_number.as_deref(), 1, 16)?;
        check::opt_text(&f("postal_code"), self.postal_code.as_deref(), 1, 16)?;
        check::opt_text(&f("city"), self.city.as_deref(), 1, 35)?;
        check::opt_text(
            &f("state_province_region"),
            self.state_province_region.as_deref(),
            1,
            35,
        )?;
        if let Some(country) = &self.country {
            check::country(&f("country"), country)?;
        }
        if let Some(email) = &self.email {
            check::email(&f("email"), email)?;
        }
        Ok(())
    }
}

/// One `mapEntry` of `ctMetadata`: key and value of 1 to 140 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MapEntry {
    pub key: String,
    pub value: String,
}

impl MapEntry {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> MapEntry {
        MapEntry {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// `ctMetadata` holds 1 to 15 entries; an empty list is simply not written.
pub(crate) fn validate_metadata(field: &str, entries: &[MapEntry]) -> Result<(), ContractError> {
    if entries.len() > 15 {
        return Err(ContractError::new(field, "at most 15 entries"));
    }
    for (i, e) in entries.iter().enumerate() {
        check::text(&format!("{field}[{i}].key"), &e.key, 1, 140)?;
        check::text(&format!("{field}[{i}].value"), &e.value, 1, 140)?;
    }
    Ok(())
}

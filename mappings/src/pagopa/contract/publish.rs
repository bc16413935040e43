//! `pagopa.position.publish`: the backend asks Snodo to load a position into ACA (Archivio
//! Centralizzato Avvisi), which every EC answering the node synchronously must do so that Stand-In
//! can collect when the EC is down (pagopa.md §5). [`AcaNewDebtPosition`] is the body of ACA's
//! `POST /paCreatePosition` (pagopa-api `openapi/paCreatePosition.json`): create and update are the
//! same call, and `amount = 0` cancels or closes the position.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::EntityType;
use super::{ContractError, check};

fn yes() -> bool {
    true
}

/// The body of `pagopa.position.publish` (backend → Snodo).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishPosition {
    /// The EC's fiscal code (11 digits).
    pub fiscal_code: String,
    pub debtor_type: EntityType,
    /// The debtor's codice fiscale or partita IVA.
    pub debtor_fiscal_code: String,
    pub debtor_full_name: String,
    pub iuv: String,
    /// Defaults, at ACA, to `3` followed by the IUV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_number: Option<String>,
    /// In cents; 0 cancels the position (or closes it when paid elsewhere).
    pub amount_cents: u64,
    pub description: String,
    /// RFC 3339 date-time after which the position expires.
    pub expiration: String,
    /// The bank account, 27 characters (an Italian IBAN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iban: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_iban: Option<String>,
    /// Whether ACA should turn the position expired after `expiration`.
    #[serde(default)]
    pub switch_to_expired: bool,
    /// Whether Stand-In may collect it (ACA's default: true).
    #[serde(default = "yes")]
    pub pay_stand_in: bool,
}

impl fmt::Debug for PublishPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishPosition")
            .field("fiscal_code", &self.fiscal_code)
            .field("iuv", &self.iuv)
            .field("amount_cents", &self.amount_cents)
            .finish_non_exhaustive()
    }
}

impl PublishPosition {
    pub fn validate(&self) -> Result<(), ContractError> {
        check::fiscal_code_pa("fiscal_code", &self.fiscal_code)?;
        check::text("debtor_fiscal_code", &self.debtor_fiscal_code, 2, 35)?;
        check::text("debtor_full_name", &self.debtor_full_name, 1, 255)?;
        check::text("iuv", &self.iuv, 1, 35)?;
        if let Some(n) = &self.notice_number {
            check::notice_number("notice_number", n)?;
        }
        check::amount("amount_cents", self.amount_cents, 0)?;
        check::text("description", &self.description, 1, 255)?;
        let is_instant = self
            .expiration
            .split_once('T')
            .is_some_and(|(_, time)| time.ends_with('Z') || time.contains('+') || time.contains('-'));
        check::date_time("expiration", &self.expiration)?;
        if !is_instant {
            return Err(ContractError::new(
                "expiration",
                "must carry a zone (Z or ±hh:mm)",
            ));
        }
        for (field, iban) in [("iban", &self.iban), ("postal_iban", &self.postal_iban)] {
            if let Some(iban) = iban
                && (iban.len() != 27 || !iban.bytes().all(|b| b.is_ascii_alphanumeric()))
            {
                return Err(ContractError::new(
                    field,
                    "must be 27 letters and digits (an Italian IBAN)",
                ));
            }
        }
        if self.amount_cents > 0 && self.iban.is_none() && self.postal_iban.is_none() {
            return Err(ContractError::new(
                "iban",
                "a payable position needs iban or postal_iban",
            ));
        }
        Ok(())
    }

    /// The ACA request body.
    pub fn to_aca(&self) -> AcaNewDebtPosition {
        AcaNewDebtPosition {
            pa_fiscal_code: self.fiscal_code.clone(),
            entity_type: self.debtor_type,
            entity_fiscal_code: self.debtor_fiscal_code.clone(),
            entity_full_name: self.debtor_full_name.clone(),
            iuv: self.iuv.clone(),
            nav: self.notice_number.clone(),
            amount: self.amount_cents,
            description: self.description.clone(),
            expiration_date: self.expiration.clone(),
            iban: self.iban.clone(),
            postal_iban: self.postal_iban.clone(),
            switch_to_expired: self.switch_to_expired,
            pay_stand_in: self.pay_stand_in,
        }
    }
}

/// `NewDebtPositionRequest` of ACA's `POST /paCreatePosition`, field for field.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcaNewDebtPosition {
    pub pa_fiscal_code: String,
    pub entity_type: EntityType,
    pub entity_fiscal_code: String,
    pub entity_full_name: String,
    pub iuv: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nav: Option<String>,
    /// Euro cents (`AmountEuroCents`).
    pub amount: u64,
    pub description: String,
    pub expiration_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iban: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_iban: Option<String>,
    pub switch_to_expired: bool,
    pub pay_stand_in: bool,
}

impl fmt::Debug for AcaNewDebtPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcaNewDebtPosition")
            .field("pa_fiscal_code", &self.pa_fiscal_code)
            .field("iuv", &self.iuv)
            .field("amount", &self.amount)
            .finish_non_exhaustive()
    }
}

//! `pagopa.position.get`: the connector asks the backend (on `snodo.requests`) for the current state
//! of a notice when the node calls `paVerifyPaymentNotice`, `paGetPayment(V2)` or
//! `paDemandPaymentNotice`, and the backend answers with a [`PaymentPosition`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{MapEntry, Subject, validate_metadata};
use super::{ContractError, check};
use crate::pagopa::fault::PaFaultCode;

/// Which node primitive the connector is answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Primitive {
    PaVerifyPaymentNotice,
    PaGetPayment,
    PaGetPaymentV2,
}

/// `transferType` of a paGetPayment request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransferType {
    /// Paid at a postal PSP: transfer 1 must credit a postal account.
    Postal,
    /// Started from pagoPA's own front-ends: bank accounts, with the postal one as `IBANAPPOGGIO`.
    Pagopa,
}

/// The body of `pagopa.position.get` (Snodo → backend).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionRequest {
    pub primitive: Primitive,
    /// The EC the node addressed (`idPA`).
    pub id_pa: String,
    pub id_broker_pa: String,
    pub id_station: String,
    /// The EC owning the notice (`qrCode.fiscalCode`).
    pub fiscal_code: String,
    pub notice_number: String,
    /// The IUV derived from the notice number (the `creditorReferenceId` the answer must carry).
    pub iuv: String,
    /// The amount the PSP is about to collect (paGetPayment only); the backend may update it
    /// (attualizzazione).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_cents: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_type: Option<TransferType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
}

/// The body of `pagopa.notice.demand` (Snodo → backend) for `paDemandPaymentNotice`: the citizen asks
/// for a new notice for a catalogue service. The backend answers with a [`PaymentPosition`] whose
/// payable form carries the new `notice_number`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DemandRequest {
    pub id_pa: String,
    pub id_broker_pa: String,
    pub id_station: String,
    /// `idServizio`: the catalogue service, 5 characters.
    pub service_id: String,
    /// `idSoggettoServizio`, 5 characters.
    pub service_subject_id: String,
    /// `datiSpecificiServizioRequest`, decoded: an XML document per the service's catalogue XSD.
    pub service_data_xml: String,
}

/// The backend's answer: the state of the position. Only `payable` carries data; each other state
/// is answered to the node with its fault ([`PaymentPosition::fault_code`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
// One answer per node call, moved once: boxing `Payable` would only make backends' and tests'
// construction noisier.
#[allow(clippy::large_enum_variant)]
pub enum PaymentPosition {
    /// No such notice for this EC: `PAA_PAGAMENTO_SCONOSCIUTO`.
    Unknown,
    Payable(Payable),
    /// Already paid: `PAA_PAGAMENTO_DUPLICATO`.
    Paid,
    /// Past its due date and no longer payable: `PAA_PAGAMENTO_SCADUTO`.
    Expired,
    /// Cancelled by the EC: `PAA_PAGAMENTO_ANNULLATO`.
    Cancelled,
    /// For a demand: the service data are XML, but not what the catalogue service expects
    /// (`PAA_SINTASSI_EXTRAXSD`, with `reason` as the fault's description — no personal data in it).
    InvalidServiceData {
        reason: String,
    },
}

impl PaymentPosition {
    /// The fault answering a position that cannot be paid; `None` for `payable`.
    pub fn fault_code(&self) -> Option<PaFaultCode> {
        match self {
            PaymentPosition::Unknown => Some(PaFaultCode::PagamentoSconosciuto),
            PaymentPosition::Payable(_) => None,
            PaymentPosition::Paid => Some(PaFaultCode::PagamentoDuplicato),
            PaymentPosition::Expired => Some(PaFaultCode::PagamentoScaduto),
            PaymentPosition::Cancelled => Some(PaFaultCode::PagamentoAnnullato),
            PaymentPosition::InvalidServiceData { .. } => Some(PaFaultCode::SintassiExtraXsd),
        }
    }

    /// The fault answering a position that cannot be paid, for `id_pa`, with the backend's
    /// description where it gave one; `None` for `payable`.
    pub fn fault_bean(&self, id_pa: impl Into<String>) -> Option<crate::pagopa::FaultBean> {
        let bean = crate::pagopa::FaultBean::new(self.fault_code()?, id_pa);
        Some(match self {
            PaymentPosition::InvalidServiceData { reason } => bean.with_description(reason.clone()),
            _ => bean,
        })
    }

    pub fn validate(&self) -> Result<(), ContractError> {
        match self {
            PaymentPosition::Payable(p) => p.validate(),
            _ => Ok(()),
        }
    }
}

/// A position that can be paid now: one payment option, 1 to 5 transfers adding up to its amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Payable {
    /// The IUV (`creditorReferenceId`), 1 to 35 characters.
    pub iuv: String,
    /// Required when answering `paDemandPaymentNotice` (the new notice); ignored otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_number: Option<String>,
    /// The current amount, in cents (1 to 99 999 999 999): the sum of the transfers.
    pub amount_cents: u64,
    pub due_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_date: Option<String>,
    /// What is being paid (1 to 140 characters): `description` / `paymentDescription`.
    pub description: String,
    /// The payment option's own description in paVerifyPaymentNotice (up to 140).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_description: Option<String>,
    /// The EC's name (1 to 140).
    pub company_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office_name: Option<String>,
    pub debtor: Subject,
    pub transfers: Vec<Transfer>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<MapEntry>,
}

/// One beneficiary share (`transfer`); its `idTransfer` is its position in the list, from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    pub amount_cents: u64,
    /// The beneficiary EC's fiscal code (11 digits): another EC for multi-beneficiary positions.
    pub fiscal_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    pub credit: Credit,
    /// SEPA remittance information (1 to 140): no personal data.
    pub remittance_information: String,
    /// Taxonomy code, e.g. `9/0101002IM/` (1 to 140).
    pub category: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<MapEntry>,
}

/// Where a transfer's money goes: an account, or a digital revenue stamp (@e.bollo, V2 only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Credit {
    Account {
        /// The bank account (1 to 35 characters).
        iban: String,
        /// A postal account for the same beneficiary, if any: chosen for `transferType` POSTAL,
        /// sent as `IBANAPPOGGIO` metadata for PAGOPA, and what makes `allCCP` true.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        postal_iban: Option<String>,
    },
    RevenueStamp {
        /// Base64 SHA-256 of the document the stamp is for (4 to 72 characters).
        document_hash: String,
        /// Province of residence, two capital letters.
        province: String,
    },
}

impl Payable {
    pub fn validate(&self) -> Result<(), ContractError> {
        check::text("iuv", &self.iuv, 1, 35)?;
        if let Some(n) = &self.notice_number {
            check::notice_number("notice_number", n)?;
        }
        check::amount("amount_cents", self.amount_cents, 1)?;
        check::date("due_date", &self.due_date)?;
        if let Some(d) = &self.retention_date {
            check::date_time("retention_date", d)?;
        }
        check::text("description", &self.description, 1, 140)?;
        check::opt_text("detail_description", self.detail_description.as_deref(), 1, 140)?;
        check::text("company_name", &self.company_name, 1, 140)?;
        check::opt_text("office_name", self.office_name.as_deref(), 1, 140)?;
        self.debtor.validate("debtor")?;
        if self.transfers.is_empty() || self.transfers.len() > 5 {
            return Err(ContractError::new("transfers", "must hold 1 to 5 transfers"));
        }
        for (i, t) in self.transfers.iter().enumerate() {
            t.validate(&format!("transfers[{i}]"))?;
        }
        let sum: u64 = self.transfers.iter().map(|t| t.amount_cents).sum();
        if sum != self.amount_cents {
            return Err(ContractError::new(
                "transfers",
                format!(
                    "amounts add up to {sum} cents, amount_cents is {}",
                    self.amount_cents
                ),
            ));
        }
        validate_metadata("metadata", &self.metadata)
    }

    /// `allCCP`: every transfer can be credited to a postal account.
    pub fn all_ccp(&self) -> bool {
        self.transfers.iter().all(|t| {
            matches!(
                &t.credit,
                Credit::Account {
                    postal_iban: Some(_),
                    ..
                }
            )
        })
    }

    pub fn has_revenue_stamp(&self) -> bool {
        self.transfers
            .iter()
            .any(|t| matches!(t.credit, Credit::RevenueStamp { .. }))
    }
}

impl Transfer {
    fn validate(&self, field: &str) -> Result<(), ContractError> {
        let f = |name: &str| format!("{field}.{name}");
        check::amount(&f("amount_cents"), self.amount_cents, 1)?;
        check::fiscal_code_pa(&f("fiscal_code"), &self.fiscal_code)?;
        check::opt_text(&f("company_name"), self.company_name.as_deref(), 1, 140)?;
        match &self.credit {
            Credit::Account { iban, postal_iban } => {
                check::text(&f("credit.account.iban"), iban, 1, 35)?;
                check::opt_text(&f("credit.account.postal_iban"), postal_iban.as_deref(), 1, 35)?;
            }
            Credit::RevenueStamp {
                document_hash,
                province,
            } => {
                let decodes =
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, document_hash).is_ok();
                if !decodes || !(4..=72).contains(&document_hash.len()) {
                    return Err(ContractError::new(
                        f("credit.revenue_stamp.document_hash"),
                        "must be base64 of 4 to 72 characters",
                    ));
                }
                check::country(&f("credit.revenue_stamp.province"), province)?;
            }
        }
        check::text(&f("remittance_information"), &self.remittance_information, 1, 140)?;
        check::text(&f("category"), &self.category, 1, 140)?;
        validate_metadata(&f("metadata"), &self.metadata)
    }
}

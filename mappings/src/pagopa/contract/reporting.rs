//! `pagopa.reporting.flow`: one reporting flow (flusso di rendicontazione) — the PSP's statement of
//! the payments it transferred to the EC in one SEPA credit transfer — read either from the legacy
//! SOAP `FlussoRiversamento` XML or from the REST FdR API, in one shape for the backend's
//! reconciliation.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The event body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportingFlow {
    /// `identificativoFlusso` / `fdr`, e.g. `2021-09-02CIPBITMM-E0000000000001`.
    pub flow_id: String,
    /// When the PSP produced the flow (`dataOraFlusso` / `fdrDate`).
    pub flow_date_time: String,
    /// The FdR revision (REST only; the SOAP flow has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// The settlement's id (`identificativoUnivocoRegolamento` / `regulation`), e.g. the SEPA TRN.
    pub regulation_id: String,
    pub regulation_date: String,
    pub sender: FlowSender,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bic_pouring_bank: Option<String>,
    /// The receiving EC's identifier (`istitutoRicevente`): its fiscal code.
    pub receiver_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver_name: Option<String>,
    pub total_payments: u64,
    pub total_amount_cents: u64,
    pub payments: Vec<FlowPayment>,
}

impl ReportingFlow {
    /// The platform identifier of this flow for a deterministic event id: the receiver and the flow
    /// id, plus the revision when the REST API gave one.
    pub fn platform_id(&self) -> String {
        match self.revision {
            Some(r) => format!("{}/{}/{r}", self.receiver_id, self.flow_id),
            None => format!("{}/{}", self.receiver_id, self.flow_id),
        }
    }
}

/// The PSP that sent the flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowSender {
    pub kind: SenderKind,
    /// `identificativoUnivocoMittente.codiceIdentificativoUnivoco`: a fiscal code, ABI or BIC.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The PSP's pagoPA id (REST only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psp_id: Option<String>,
}

/// `tipoIdentificativoUnivoco` of the sender: G, A, B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SenderKind {
    LegalPerson,
    AbiCode,
    BicCode,
}

/// One payment in the flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowPayment {
    pub iuv: String,
    /// `identificativoUnivocoRiscossione`: the receipt id of the payment.
    pub iur: String,
    /// `indiceDatiSingoloPagamento` / `idTransfer`: which transfer of a multi-beneficiary payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_index: Option<u8>,
    pub amount_cents: u64,
    pub outcome: PaymentOutcome,
    /// `dataEsitoSingoloPagamento` / `payDate`.
    pub date: String,
}

/// `codiceEsitoSingoloPagamento` / `payStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentOutcome {
    /// 0, `EXECUTED`.
    Executed,
    /// 3: revoked (SOAP flows 1.0.4 only).
    Revoked,
    /// 4, `STAND_IN`.
    StandIn,
    /// 8, `STAND_IN_NO_RPT`.
    StandInNoRpt,
    /// 9, `NO_RPT`: executed without a payment request.
    NoRpt,
}

impl PaymentOutcome {
    pub fn from_code(code: &str) -> Option<PaymentOutcome> {
        Some(match code {
            "0" => PaymentOutcome::Executed,
            "3" => PaymentOutcome::Revoked,
            "4" => PaymentOutcome::StandIn,
            "8" => PaymentOutcome::StandInNoRpt,
            "9" => PaymentOutcome::NoRpt,
            _ => return None,
        })
    }

    pub fn from_fdr(status: &str) -> Option<PaymentOutcome> {
        Some(match status {
            "EXECUTED" => PaymentOutcome::Executed,
            "STAND_IN" => PaymentOutcome::StandIn,
            "STAND_IN_NO_RPT" => PaymentOutcome::StandInNoRpt,
            "NO_RPT" => PaymentOutcome::NoRpt,
            _ => return None,
        })
    }
}

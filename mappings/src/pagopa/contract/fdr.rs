//! The REST FdR API for organizations (pagopa-api `openapi/fdr_organization.json`), the forward path
//! for reporting flows now that the SOAP primitives are deprecated (pagopa.md §2.3): the published
//! flows list, one flow, and its payments pages, typed as the API writes them (camelCase; amounts
//! are JSON numbers in euro there, converted to cents exactly here). Unknown fields are tolerated:
//! this is pagoPA's contract, and it grows.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ContractError;
use super::reporting::{FlowPayment, FlowSender, PaymentOutcome, ReportingFlow, SenderKind};

/// Pagination metadata of every list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FdrPageMetadata {
    pub page_size: u32,
    pub page_number: u32,
    pub tot_page: u32,
}

/// `GET /organizations/{organizationId}/fdrs`: `PaginatedFlowsResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FdrFlowsPage {
    pub metadata: FdrPageMetadata,
    pub count: u64,
    pub data: Vec<FdrPublishedFlow>,
}

/// `FlowByPSP`: one published flow in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FdrPublishedFlow {
    pub fdr: String,
    pub psp_id: String,
    pub revision: u64,
    pub published: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_date: Option<String>,
}

/// `GET …/fdrs/{fdr}/revisions/{revision}/psps/{pspId}`: `SingleFlowResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FdrFlow {
    pub fdr: String,
    pub revision: u64,
    pub fdr_date: String,
    pub regulation: String,
    pub regulation_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bic_code_pouring_bank: Option<String>,
    pub sender: FdrSender,
    pub receiver: FdrReceiver,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    pub tot_payments: u64,
    /// Euro, as a JSON number with at most two decimals.
    pub sum_payments: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FdrSender {
    /// `LEGAL_PERSON`, `ABI_CODE` or `BIC_CODE`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub psp_id: String,
    pub psp_name: String,
    pub psp_broker_id: String,
    pub channel_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FdrReceiver {
    pub id: String,
    pub organization_id: String,
    pub organization_name: String,
}

/// `GET …/payments`: `PaginatedPaymentsResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FdrPaymentsPage {
    pub metadata: FdrPageMetadata,
    pub count: u64,
    pub data: Vec<FdrPayment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FdrPayment {
    pub index: u64,
    pub iuv: String,
    pub iur: String,
    pub id_transfer: u8,
    /// Euro, as a JSON number with at most two decimals.
    pub pay: f64,
    pub pay_status: String,
    pub pay_date: String,
}

/// Euro as a JSON number (`100.95`) to cents, exactly: through the number's shortest decimal form,
/// never through float arithmetic.
pub(crate) fn euro_number_to_cents(field: &str, euro: f64) -> Result<u64, ContractError> {
    let invalid = || {
        ContractError::new(
            field,
            "must be a non-negative amount of euro with at most two decimals",
        )
    };
    if !euro.is_finite() || euro < 0.0 {
        return Err(invalid());
    }
    let text = format!("{euro}");
    let (units, decimals) = text.split_once('.').unwrap_or((&text, ""));
    if decimals.len() > 2 || units.len() > 12 || !units.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let units: u64 = units.parse().map_err(|_| invalid())?;
    let cents: u64 = format!("{decimals:0<2}").parse().map_err(|_| invalid())?;
    Ok(units * 100 + cents)
}

impl ReportingFlow {
    /// The event for a REST flow and all its payments (every page, in order).
    pub fn from_fdr(flow: &FdrFlow, payments: &[FdrPayment]) -> Result<ReportingFlow, ContractError> {
        let kind = match flow.sender.kind.as_str() {
            "LEGAL_PERSON" => SenderKind::LegalPerson,
            "ABI_CODE" => SenderKind::AbiCode,
            "BIC_CODE" => SenderKind::BicCode,
            _ => {
                return Err(ContractError::new(
                    "sender.type",
                    "must be LEGAL_PERSON, ABI_CODE or BIC_CODE",
                ));
            }
        };
        let payments = payments
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let outcome = PaymentOutcome::from_fdr(&p.pay_status).ok_or_else(|| {
                    ContractError::new(format!("data[{i}].payStatus"), "not a known payment status")
                })?;
                Ok(FlowPayment {
                    iuv: p.iuv.clone(),
                    iur: p.iur.clone(),
                    transfer_index: Some(p.id_transfer),
                    amount_cents: euro_number_to_cents(&format!("data[{i}].pay"), p.pay)?,
                    outcome,
                    date: p.pay_date.clone(),
                })
            })
            .collect::<Result<Vec<_>, ContractError>>()?;
        if payments.len() as u64 != flow.tot_payments {
            return Err(ContractError::new(
                "totPayments",
                format!(
                    "the flow declares {} payments, {} were read",
                    flow.tot_payments,
                    payments.len()
                ),
            ));
        }
        Ok(ReportingFlow {
            flow_id: flow.fdr.clone(),
            flow_date_time: flow.fdr_date.clone(),
            revision: Some(flow.revision),
            regulation_id: flow.regulation.clone(),
            regulation_date: flow.regulation_date.clone(),
            sender: FlowSender {
                kind,
                id: flow.sender.id.clone(),
                name: Some(flow.sender.psp_name.clone()),
                psp_id: Some(flow.sender.psp_id.clone()),
            },
            bic_pouring_bank: flow.bic_code_pouring_bank.clone(),
            receiver_id: flow.receiver.organization_id.clone(),
            receiver_name: Some(flow.receiver.organization_name.clone()),
            total_payments: flow.tot_payments,
            total_amount_cents: euro_number_to_cents("sumPayments", flow.sum_payments)?,
            payments,
        })
    }
}

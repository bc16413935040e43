//! `pagopa.receipt.received`: the event for a payment receipt the node pushed with `paSendRT` or
//! `paSendRTV2`. Its `message_id` is a UUIDv5 of the receipt's identity ([`Receipt::message_id`]),
//! so the node's retries, broadcasts and Stand-In copies of one receipt de-duplicate downstream.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::common::{MapEntry, Subject};

/// Which primitive delivered the receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptVersion {
    PaSendRt,
    PaSendRtV2,
}

/// The receipt of a successful payment (`ctReceipt` / `ctReceiptV2`), as the backend receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub version: ReceiptVersion,
    /// The EC this copy was sent to (`idPA`): the primary EC or a broadcast beneficiary.
    pub id_pa: String,
    pub id_broker_pa: String,
    pub id_station: String,
    /// The payment's unique id (equals the payment token).
    pub receipt_id: String,
    pub notice_number: String,
    /// The EC owning the notice.
    pub fiscal_code: String,
    pub outcome: String,
    /// `creditorReferenceId`.
    pub iuv: String,
    pub amount_cents: u64,
    pub description: String,
    pub company_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office_name: Option<String>,
    pub debtor: Subject,
    pub transfers: Vec<ReceiptTransfer>,
    pub psp: Psp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<Subject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_cents: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_ci_incurred_fee_cents: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_bundle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_ci_bundle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_date: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<MapEntry>,
    /// Paid through Stand-In (the EC was unreachable): the amount may differ from the current debt.
    #[serde(default)]
    pub stand_in: bool,
}

/// The PSP that collected the payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Psp {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiscal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_number: Option<String>,
    pub company_name: String,
    pub channel_id: String,
    pub channel_description: String,
}

/// One transfer of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptTransfer {
    /// `idTransfer`, 1 to 5.
    pub id: u8,
    pub amount_cents: u64,
    pub fiscal_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    pub credit: TransferCredit,
    pub remittance_information: String,
    pub category: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<MapEntry>,
}

/// An account, or (V2) the @e.bollo stamp document the PSP bought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TransferCredit {
    Iban(String),
    /// `MBDAttachment`, still base64: the signed `marcaDaBollo` document.
    RevenueStampAttachment(String),
}

impl Receipt {
    /// The event's `message_id`: UUIDv5 under `namespace` (the connector passes Snodo's id namespace)
    /// of the receiving EC, the owning EC, the IUV and the receipt id. The four are joined as a JSON
    /// array, so no choice of characters inside them can make two receipts collide.
    pub fn message_id(&self, namespace: &Uuid) -> Uuid {
        receipt_message_id(
            namespace,
            &self.id_pa,
            &self.fiscal_code,
            &self.iuv,
            &self.receipt_id,
        )
    }
}

/// [`Receipt::message_id`] from the identifiers alone.
pub fn receipt_message_id(
    namespace: &Uuid,
    id_pa: &str,
    fiscal_code: &str,
    iuv: &str,
    receipt_id: &str,
) -> Uuid {
    let key = serde_json::to_string(&["pagopa.receipt.received", id_pa, fiscal_code, iuv, receipt_id])
        .expect("strings serialize");
    Uuid::new_v5(namespace, key.as_bytes())
}

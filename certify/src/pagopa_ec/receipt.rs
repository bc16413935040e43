//! The receipt the node sends after a PSP paid what the EC answered to paGetPayment[V2]: the EC's
//! own data back (IUV, amount, transfers, debtor), the PSP that collected it, a fresh `receiptId`
//! (the payment token) — what SANP's sendPaymentOutcome → paSendRT[V2] carries. A Stand-In receipt
//! is the same with `standIn=true`, which the EC must accept without having answered the payment
//! (pagopa.md §5).

use chrono::Utc;
use snodo_mappings::pagopa::contract::{Psp, Receipt, ReceiptTransfer, ReceiptVersion, TransferCredit};
use snodo_mappings::pagopa::{AnsweredCredit, NoticeNumber, PaymentData, RequestHeader};

/// The PSP the suite plays: fictional, recognisable in the EC's records.
fn psp() -> Psp {
    Psp {
        id: "SNODOCERT01".into(),
        fiscal_code: Some("00000000000".into()),
        vat_number: None,
        company_name: "PSP di certificazione Snodo".into(),
        channel_id: "SNODOCERT01_01".into(),
        channel_description: "canale di certificazione".into(),
    }
}

/// Why no receipt can be made of an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// An @e.bollo stamp needs a stamp seller's signed document the suite does not produce.
    #[error("transfer {0} asks for an @e.bollo stamp; this suite pays no stamps: give a notice without one")]
    RevenueStamp(u8),
}

/// The receipt of a successful payment of `data` for `notice` of the EC `header` addresses.
pub fn receipt_for(
    header: &RequestHeader,
    notice: &NoticeNumber,
    data: &PaymentData,
    version: ReceiptVersion,
    stand_in: bool,
) -> Result<Receipt, ReceiptError> {
    let transfers = data
        .transfers
        .iter()
        .map(|t| {
            let credit = match &t.credit {
                AnsweredCredit::Iban(iban) => TransferCredit::Iban(iban.clone()),
                AnsweredCredit::RevenueStamp { .. } => return Err(ReceiptError::RevenueStamp(t.id)),
            };
            Ok(ReceiptTransfer {
                id: t.id,
                amount_cents: t.amount.cents(),
                fiscal_code: t.fiscal_code.clone(),
                company_name: t.company_name.clone(),
                credit,
                remittance_information: t.remittance_information.clone(),
                category: t.category.clone(),
                metadata: t.metadata.clone(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let now = Utc::now();
    Ok(Receipt {
        version,
        id_pa: header.id_pa.clone(),
        id_broker_pa: header.id_broker_pa.clone(),
        id_station: header.id_station.clone(),
        receipt_id: uuid::Uuid::new_v4().simple().to_string(),
        notice_number: notice.as_str().to_owned(),
        fiscal_code: header.id_pa.clone(),
        outcome: "OK".into(),
        iuv: data.iuv.clone(),
        amount_cents: data.amount.cents(),
        description: data.description.clone(),
        company_name: data
            .company_name
            .clone()
            .unwrap_or_else(|| format!("Ente creditore {}", header.id_pa)),
        office_name: data.office_name.clone(),
        debtor: data.debtor.clone(),
        transfers,
        psp: psp(),
        payer: Some(data.debtor.clone()),
        payment_method: Some("card".into()),
        payment_note: None,
        fee_cents: Some(100),
        primary_ci_incurred_fee_cents: None,
        id_bundle: None,
        id_ci_bundle: None,
        payment_date_time: Some(now.format("%Y-%m-%dT%H:%M:%S").to_string()),
        application_date: Some(now.date_naive().to_string()),
        transfer_date: Some(now.date_naive().to_string()),
        metadata: Vec::new(),
        stand_in,
    })
}

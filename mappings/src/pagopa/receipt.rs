//! `paSendRT` and `paSendRTV2`: the node pushes the receipt of a successful payment, to the primary
//! EC's station and to every broadcast station of the other beneficiaries, at least once (hourly
//! retries, Stand-In: pagopa.md §5). The receipt becomes a `pagopa.receipt.received` event whose
//! `message_id` depends only on the receipt's identity, and the node is answered OK only once that
//! event is stored (DESIGN §4); a receipt already stored is answered OK again by the connector, or
//! `PAA_RECEIPT_DUPLICATA` where an EC wants the official code.

use super::Operation;
use super::contract::{Psp, Receipt, ReceiptTransfer, ReceiptVersion, TransferCredit};
use super::request::{RequestHeader, read_metadata, read_subject};
use super::transfer::read_transfer_list;
use super::xml::{Node, SyntaxError};

/// A receipt that is well-formed but cannot be a successful payment's receipt: `PAA_SEMANTICA`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptSemanticError {
    #[error("receipt/outcome is KO: paSendRT carries only successful payments")]
    OutcomeNotOk,
    #[error("receipt/transferList amounts add up to {sum} cents, paymentAmount is {amount}")]
    TransfersDoNotAddUp { sum: u64, amount: u64 },
    #[error("receipt/transferList: idTransfer values must be distinct")]
    DuplicateTransferId,
}

pub(crate) fn read(root: &Node<'_>, operation: Operation) -> Result<Receipt, SyntaxError> {
    let v2 = operation == Operation::SendRtV2;
    let mut c = root.children()?;
    let header = RequestHeader::read(&mut c)?;
    let receipt_node = c.required("receipt")?;
    c.end()?;

    let mut r = receipt_node.children()?;
    let receipt_id = r.required("receiptId")?.any_string()?;
    let notice_number = r.required("noticeNumber")?.notice_number()?;
    let fiscal_code = r.required("fiscalCode")?.fiscal_code_pa()?;
    let outcome = r.required("outcome")?.enumeration(&["OK", "KO"])?.to_owned();
    let iuv = r.required("creditorReferenceId")?.string(1, 35)?;
    let amount_cents = r.required("paymentAmount")?.amount()?.cents();
    let description = r.required("description")?.string(1, 140)?;
    let company_name = r.required("companyName")?.string(1, 140)?;
    let office_name = r.optional("officeName")?.map(|n| n.string(1, 140)).transpose()?;
    let debtor = read_subject(&r.required("debtor")?)?;
    let transfers = read_transfers(&r.required("transferList")?, v2)?;
    let psp_id = r.required("idPSP")?.string(1, 35)?;
    let psp_fiscal_code = r
        .optional("pspFiscalCode")?
        .map(|n| n.string(1, 70))
        .transpose()?;
    let psp_vat = r
        .optional("pspPartitaIVA")?
        .map(|n| n.string(1, 20))
        .transpose()?;
    let psp_company = r.required("PSPCompanyName")?.string(1, 70)?;
    let channel_id = r.required("idChannel")?.string(1, 35)?;
    let channel_description = r.required("channelDescription")?.string(1, 35)?;
    let payer = r.optional("payer")?.map(|n| read_subject(&n)).transpose()?;
    let payment_method = r
        .optional("paymentMethod")?
        .map(|n| n.string(1, 35))
        .transpose()?;
    let payment_note = if v2 {
        r.optional("paymentNote")?.map(|n| n.string(1, 210)).transpose()?
    } else {
        None
    };
    let fee_cents = r
        .optional("fee")?
        .map(|n| n.amount())
        .transpose()?
        .map(|a| a.cents());
    let (primary_fee, id_bundle, id_ci_bundle) = if v2 {
        (
            r.optional("primaryCiIncurredFee")?
                .map(|n| n.amount())
                .transpose()?
                .map(|a| a.cents()),
            r.optional("idBundle")?.map(|n| n.string(1, 70)).transpose()?,
            r.optional("idCiBundle")?.map(|n| n.string(1, 70)).transpose()?,
        )
    } else {
        (None, None, None)
    };
    let payment_date_time = r
        .optional("paymentDateTime")?
        .map(|n| n.date_time())
        .transpose()?;
    let application_date = r.optional("applicationDate")?.map(|n| n.date()).transpose()?;
    let transfer_date = r.optional("transferDate")?.map(|n| n.date()).transpose()?;
    let metadata = read_metadata(r.optional("metadata")?)?;
    let stand_in = r
        .optional("standIn")?
        .map(|n| n.boolean())
        .transpose()?
        .unwrap_or(false);
    r.end()?;

    Ok(Receipt {
        version: if v2 {
            ReceiptVersion::PaSendRtV2
        } else {
            ReceiptVersion::PaSendRt
        },
        id_pa: header.id_pa,
        id_broker_pa: header.id_broker_pa,
        id_station: header.id_station,
        receipt_id,
        notice_number,
        fiscal_code,
        outcome,
        iuv,
        amount_cents,
        description,
        company_name,
        office_name,
        debtor,
        transfers,
        psp: Psp {
            id: psp_id,
            fiscal_code: psp_fiscal_code,
            vat_number: psp_vat,
            company_name: psp_company,
            channel_id,
            channel_description,
        },
        payer,
        payment_method,
        payment_note,
        fee_cents,
        primary_ci_incurred_fee_cents: primary_fee,
        id_bundle,
        id_ci_bundle,
        payment_date_time: payment_date_time.map(|d| d.to_string()),
        application_date: application_date.map(|d| d.to_string()),
        transfer_date: transfer_date.map(|d| d.to_string()),
        metadata,
        stand_in,
    })
}

fn read_transfers(list: &Node<'_>, v2: bool) -> Result<Vec<ReceiptTransfer>, SyntaxError> {
    let transfers = read_transfer_list(list, v2, TransferCredit::Iban, |f| {
        let attachment = f.required("MBDAttachment")?;
        attachment.base64()?;
        let text: String = attachment
            .any_string()?
            .chars()
            .filter(|c| !super::simple::is_xml_space(*c))
            .collect();
        Ok(TransferCredit::RevenueStampAttachment(text))
    })?;
    Ok(transfers
        .into_iter()
        .map(|t| ReceiptTransfer {
            id: t.id,
            amount_cents: t.amount.cents(),
            fiscal_code: t.fiscal_code,
            company_name: t.company_name,
            credit: t.credit,
            remittance_information: t.remittance_information,
            category: t.category,
            metadata: t.metadata,
        })
        .collect())
}

impl Receipt {
    /// The checks beyond syntax: a successful outcome, transfers adding up, distinct transfer ids.
    /// Stand-In receipts are checked the same way: their amount may differ from the debt, never from
    /// their own transfers.
    pub fn check_semantics(&self) -> Result<(), ReceiptSemanticError> {
        if self.outcome != "OK" {
            return Err(ReceiptSemanticError::OutcomeNotOk);
        }
        let sum: u64 = self.transfers.iter().map(|t| t.amount_cents).sum();
        if sum != self.amount_cents {
            return Err(ReceiptSemanticError::TransfersDoNotAddUp {
                sum,
                amount: self.amount_cents,
            });
        }
        let mut ids: Vec<u8> = self.transfers.iter().map(|t| t.id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != self.transfers.len() {
            return Err(ReceiptSemanticError::DuplicateTransferId);
        }
        Ok(())
    }
}

//! One transfer of a payment (`ctTransferPA` / `ctTransferPAV2`), read once for the two places that
//! carry a `transferList`: an EC's `paGetPayment[V2]` answer and the node's `paSendRT[V2]` receipt.
//!
//! Both lists hold 1 to 5 transfers of the same sequence; they differ only in what a V2 transfer
//! may carry instead of an IBAN (an @e.bollo request in the answer, the signed stamp in the receipt),
//! which the caller reads.

use super::contract::MapEntry;
use super::request::read_metadata;
use super::simple::Amount;
use super::xml::{Children, Node, SyntaxError};

/// One transfer as the schema orders it; `C` is where the money goes (an IBAN, or in V2 what stands
/// for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferPa<C> {
    pub id: u8,
    pub amount: Amount,
    pub fiscal_code: String,
    pub company_name: Option<String>,
    pub credit: C,
    pub remittance_information: String,
    pub category: String,
    pub metadata: Vec<MapEntry>,
}

/// Reads `transferList`. `iban` makes the credit of a transfer with an `IBAN`; in V2, a transfer
/// without one is passed to `without_iban`, which reads what stands in its place.
pub(crate) fn read_transfer_list<C>(
    list: &Node<'_>,
    v2: bool,
    iban: fn(String) -> C,
    without_iban: impl Fn(&mut Children<'_>) -> Result<C, SyntaxError>,
) -> Result<Vec<TransferPa<C>>, SyntaxError> {
    let mut c = list.children()?;
    let transfers = c
        .repeated("transfer", 1, 5)?
        .iter()
        .map(|t| {
            let mut f = t.children()?;
            let id = f.required("idTransfer")?.integer(1, 5)? as u8;
            let amount = f.required("transferAmount")?.amount_not_zero()?;
            let fiscal_code = f.required("fiscalCodePA")?.fiscal_code_pa()?;
            let company_name = if v2 {
                f.optional("companyName")?.map(|n| n.string(1, 140)).transpose()?
            } else {
                None
            };
            let credit = match f.optional("IBAN")? {
                Some(node) => iban(node.string(1, 35)?),
                None if v2 => without_iban(&mut f)?,
                None => iban(f.required("IBAN")?.string(1, 35)?),
            };
            let transfer = TransferPa {
                id,
                amount,
                fiscal_code,
                company_name,
                credit,
                remittance_information: f.required("remittanceInformation")?.string(1, 140)?,
                category: f.required("transferCategory")?.string(1, 140)?,
                metadata: read_metadata(f.optional("metadata")?)?,
            };
            f.end()?;
            Ok(transfer)
        })
        .collect::<Result<Vec<_>, SyntaxError>>()?;
    c.end()?;
    Ok(transfers)
}

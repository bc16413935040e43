//! Stand-In (SANP "Stand In"): when the EC does not answer verify or activation in time, the node
//! looks the notice up in ACA, the central archive the EC loads with `paCreatePosition`, and lets the
//! PSP collect it as one total to the EC that loaded it (pagopa.md §5; a multi-beneficiary position
//! loaded there is paid to the creating EC alone). The amount is ACA's, which may not be the debt of
//! today: the receipt says `standIn=true` so the EC knows.

use snodo_mappings::pagopa::{Amount, AnsweredCredit, AnsweredTransfer, NoticeNumber, PaymentData, XsdDate};

use super::judge::PptFault;
use super::node::NodeCore;
use super::payment::subject;

/// ACA carries no taxonomy code; a Stand-In receipt's single transfer needs one, and this simulator
/// writes the generic municipal one. [Not from a spec: what the real node writes is not documented.]
pub const STAND_IN_CATEGORY: &str = "9/0101100IM/";
const UNKNOWN: &str = "PPT_PAGAMENTO_SCONOSCIUTO";

/// The position of notice `notice_number` of EC `fiscal_code` as Stand-In pays it.
pub fn position(core: &NodeCore, fiscal_code: &str, notice_number: &str) -> Result<PaymentData, PptFault> {
    let now = core.clock.now();
    let archive = core.archive.lock();
    let entry = archive
        .aca
        .get(&(fiscal_code.to_owned(), notice_number.to_owned()))
        .ok_or_else(|| PptFault::new(UNKNOWN, "Stand-In: the notice is not in the ACA archive"))?;
    let p = &entry.position;
    if !p.pay_stand_in {
        return Err(PptFault::new(
            UNKNOWN,
            "Stand-In: the EC did not allow Stand-In for this notice",
        ));
    }
    if p.amount == 0 {
        return Err(PptFault::new(
            UNKNOWN,
            "Stand-In: the position was cancelled or closed (amount 0)",
        ));
    }
    let expiration = chrono::DateTime::parse_from_rfc3339(&p.expiration_date).ok();
    if p.switch_to_expired && expiration.is_some_and(|e| e < now) {
        return Err(PptFault::new(
            "PPT_PAGAMENTO_SCADUTO",
            "Stand-In: the position expired in ACA",
        ));
    }
    let amount = Amount::from_cents(p.amount)
        .ok_or_else(|| PptFault::new(UNKNOWN, "Stand-In: amount out of range"))?;
    let iban = p
        .iban
        .clone()
        .or_else(|| p.postal_iban.clone())
        .ok_or_else(|| PptFault::new(UNKNOWN, "Stand-In: the ACA position has no account"))?;
    let iuv = NoticeNumber::parse(notice_number)
        .map(|n| n.iuv().to_owned())
        .unwrap_or_else(|_| p.iuv.clone());
    let due_date = expiration
        .map(|e| e.date_naive().to_string())
        .and_then(|d| XsdDate::parse(&d))
        .or_else(|| XsdDate::parse(&now.date_naive().to_string()))
        .expect("a calendar day is an xsd:date");
    let description: String = p.description.chars().take(140).collect();
    Ok(PaymentData {
        iuv,
        amount,
        due_date,
        description: description.clone(),
        company_name: None,
        office_name: None,
        debtor: subject(p.entity_type, &p.entity_fiscal_code, &p.entity_full_name),
        transfers: vec![AnsweredTransfer {
            id: 1,
            amount,
            fiscal_code: p.pa_fiscal_code.clone(),
            company_name: None,
            credit: AnsweredCredit::Iban(iban),
            remittance_information: description,
            category: STAND_IN_CATEGORY.into(),
            metadata: Vec::new(),
        }],
        metadata: Vec::new(),
    })
}

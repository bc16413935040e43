//! The cases themselves, and the prerequisites they share. A case that needs an earlier step (the
//! receipt needs a payment the EC answered, its duplicate the first receipt accepted) does that step
//! itself when it has not run yet — so `--case send-rt-v2-duplicate` works alone — and is reported
//! "not judged" (an error) when the step is refused: the node would never have sent that request.

use std::collections::HashMap;

use snodo_mappings::pagopa::contract::{Receipt, ReceiptVersion};
use snodo_mappings::pagopa::{NoticeNumber, Operation, PaymentData, RequestHeader, VerifyAnswer};
use snodo_simulators::pagopa::judge::{ERRORE_EMESSO_DA_PAA, PptFault, SYSTEM_ERROR};

use super::node::{Call, Node, millis, told_psp};
use super::receipt::receipt_for;
use crate::outcome::Outcome;

/// What earlier cases found, reused by later ones.
#[derive(Default)]
pub struct Found {
    verified: HashMap<NoticeNumber, VerifyAnswer>,
    payments: HashMap<(NoticeNumber, Operation), PaymentData>,
    /// The first receipt of each kind ([`ReceiptKind::key`]) the EC accepted, for its duplicate.
    receipts: HashMap<(bool, bool), Receipt>,
}

/// Which notice pays which way: a notice is paid once.
#[derive(Debug, Clone, Copy)]
pub enum Slot {
    V2,
    V1,
    StandIn,
}

impl Slot {
    fn index(self) -> usize {
        match self {
            Slot::V2 => 0,
            Slot::V1 => 1,
            Slot::StandIn => 2,
        }
    }
}

pub fn notice_for(notices: &[NoticeNumber], slot: Slot) -> Result<&NoticeNumber, Outcome> {
    notices.get(slot.index()).ok_or_else(|| {
        Outcome::error(format!(
            "not run: this case pays notice number {} of --notice and only {} were given (each payment needs a \
             payable notice of its own; give three)",
            slot.index() + 1,
            notices.len()
        ))
    })
}

/// The run's own failure (its schema or request writer), never the EC's.
fn own_error(fault: &PptFault) -> bool {
    fault.fault_code == SYSTEM_ERROR
}

/// `verify`: every notice answered OK.
pub async fn verify_all(node: &Node, found: &mut Found, notices: &[NoticeNumber]) -> Outcome {
    let mut seen = Vec::new();
    let mut failures = Vec::new();
    for notice in notices {
        let envelope = match node.verify_envelope(&node.header, notice) {
            Ok(envelope) => envelope,
            Err(e) => return Outcome::error(e.to_string()),
        };
        let call = node.verify(envelope).await;
        match call.verdict {
            Ok(answer) => {
                seen.push(format!(
                    "{}: OK, {} € ({}), {}",
                    notice.as_str(),
                    answer.amount,
                    answer.options,
                    millis(call.elapsed)
                ));
                found.verified.insert(notice.clone(), answer);
            }
            Err(fault) if own_error(&fault) => return Outcome::error(fault.description),
            Err(fault) => failures.push(format!(
                "{}: the node would tell the PSP {} (after {})",
                notice.as_str(),
                told_psp(&fault),
                millis(call.elapsed)
            )),
        }
    }
    if failures.is_empty() {
        Outcome::pass(seen.join("; "))
    } else {
        Outcome::fail(failures.join("; "))
    }
}

/// A verify with `header`'s ids (or a broken `envelope`) that must be answered a valid KO with one of
/// `expected`.
pub async fn verify_expecting_ko(node: &Node, envelope: String, expected: &[&str]) -> Outcome {
    expect_ko(node.verify(envelope).await, expected)
}

pub fn expect_ko<T>(call: Call<T>, expected: &[&str]) -> Outcome {
    let took = millis(call.elapsed);
    match call.verdict {
        Ok(_) => Outcome::fail(format!(
            "answered outcome OK ({took}); expected a KO with faultCode {}",
            expected.join(" or ")
        )),
        Err(fault) if own_error(&fault) => Outcome::error(fault.description),
        Err(fault) if fault.fault_code == ERRORE_EMESSO_DA_PAA => {
            let code = fault.original_fault_code.clone().unwrap_or_default();
            if expected.contains(&code.as_str()) {
                Outcome::pass(format!(
                    "a valid KO {code} ({took}); the PSP hears {ERRORE_EMESSO_DA_PAA} with originalFaultCode {code}"
                ))
            } else {
                Outcome::fail(format!(
                    "a valid KO, but with faultCode {code}; expected {}",
                    expected.join(" or ")
                ))
            }
        }
        Err(fault) => Outcome::fail(format!(
            "the node would tell the PSP {} ({took}); expected a valid KO with faultCode {}",
            told_psp(&fault),
            expected.join(" or ")
        )),
    }
}

/// The first notice's verify with one id replaced, for the caller-configuration cases.
pub fn header_with(node: &Node, change: impl FnOnce(&mut RequestHeader)) -> RequestHeader {
    let mut header = node.header.clone();
    change(&mut header);
    header
}

/// An 11-digit fiscal code (or an id) that is not `taken`.
pub fn other_id(taken: &str, candidate: &str, fallback: &str) -> String {
    if taken == candidate { fallback } else { candidate }.to_owned()
}

/// The verify envelope of `notice` with a letter in its noticeNumber: invalid against
/// `stNoticeNumber` (18 digits).
pub fn syntax_error_envelope(node: &Node, notice: &NoticeNumber) -> Result<String, Outcome> {
    let envelope = node
        .verify_envelope(&node.header, notice)
        .map_err(|e| Outcome::error(e.to_string()))?;
    let original = format!("<noticeNumber>{}</noticeNumber>", notice.as_str());
    let mut broken = notice.as_str().to_owned();
    broken.replace_range(17..18, "X");
    let broken = format!("<noticeNumber>{broken}</noticeNumber>");
    if !envelope.contains(&original) {
        return Err(Outcome::error(
            "the verify request was not written as expected; cannot break its noticeNumber",
        ));
    }
    Ok(envelope.replacen(&original, &broken, 1))
}

/// The notice's verify answer, asking for it when no case did yet (the amount the PSP activates).
async fn verified(node: &Node, found: &mut Found, notice: &NoticeNumber) -> Result<VerifyAnswer, Outcome> {
    if let Some(answer) = found.verified.get(notice) {
        return Ok(answer.clone());
    }
    let envelope = node
        .verify_envelope(&node.header, notice)
        .map_err(|e| Outcome::error(e.to_string()))?;
    let call = node.verify(envelope).await;
    match call.verdict {
        Ok(answer) => {
            found.verified.insert(notice.clone(), answer.clone());
            Ok(answer)
        }
        Err(fault) => Err(Outcome::error(format!(
            "not judged: the paVerifyPaymentNotice of {} this case needs was refused: {}",
            notice.as_str(),
            told_psp(&fault)
        ))),
    }
}

/// `get-payment-v2` and `get-payment`: the activation of `notice`, judged.
pub async fn get_payment(
    node: &Node,
    found: &mut Found,
    operation: Operation,
    notice: &NoticeNumber,
) -> Outcome {
    let amount = match verified(node, found, notice).await {
        Ok(answer) => answer.amount,
        Err(outcome) => return outcome,
    };
    let call = node.get_payment(operation, notice, Some(amount)).await;
    match call.verdict {
        Ok(data) => {
            let observed = format!(
                "OK: IUV {}, {} € in {} transfer(s) adding up, {}",
                data.iuv,
                data.amount,
                data.transfers.len(),
                millis(call.elapsed)
            );
            found.payments.insert((notice.clone(), operation), data);
            Outcome::pass(observed)
        }
        Err(fault) if own_error(&fault) => Outcome::error(fault.description),
        Err(fault) => Outcome::fail(format!(
            "the node would tell the PSP {} ({}) and the payment stops",
            told_psp(&fault),
            millis(call.elapsed)
        )),
    }
}

/// The activation's data, activating when no case did yet.
async fn payment(
    node: &Node,
    found: &mut Found,
    operation: Operation,
    notice: &NoticeNumber,
) -> Result<PaymentData, Outcome> {
    if let Some(data) = found.payments.get(&(notice.clone(), operation)) {
        return Ok(data.clone());
    }
    let amount = verified(node, found, notice).await?.amount;
    let call = node.get_payment(operation, notice, Some(amount)).await;
    match call.verdict {
        Ok(data) => {
            found.payments.insert((notice.clone(), operation), data.clone());
            Ok(data)
        }
        Err(fault) => Err(Outcome::error(format!(
            "not judged: the {} of {} this case needs was refused, so the node would never send it: {}",
            operation.name(),
            notice.as_str(),
            told_psp(&fault)
        ))),
    }
}

/// `get-payment-v2-repeat`: a second activation answered as the first.
pub async fn get_payment_again(node: &Node, found: &mut Found, notice: &NoticeNumber) -> Outcome {
    let first = match payment(node, found, Operation::GetPaymentV2, notice).await {
        Ok(data) => data,
        Err(outcome) => return outcome,
    };
    let call = node
        .get_payment(Operation::GetPaymentV2, notice, Some(first.amount))
        .await;
    match call.verdict {
        Ok(again) if again.iuv == first.iuv && again.amount == first.amount => Outcome::pass(format!(
            "OK again: IUV {}, {} €, {}",
            again.iuv,
            again.amount,
            millis(call.elapsed)
        )),
        Ok(again) => Outcome::fail(format!(
            "answered IUV {} and {} € the second time, {} and {} € the first: the activation changed the position",
            again.iuv, again.amount, first.iuv, first.amount
        )),
        Err(fault) if own_error(&fault) => Outcome::error(fault.description),
        Err(fault) => Outcome::fail(format!(
            "the second activation: the node would tell the PSP {} ({})",
            told_psp(&fault),
            millis(call.elapsed)
        )),
    }
}

/// How a receipt is paid.
#[derive(Debug, Clone, Copy)]
pub struct ReceiptKind {
    pub version: ReceiptVersion,
    pub stand_in: bool,
}

impl ReceiptKind {
    /// (V2, Stand-In): `ReceiptVersion` is not hashable.
    fn key(self) -> (bool, bool) {
        (self.version == ReceiptVersion::PaSendRtV2, self.stand_in)
    }

    fn activation(self) -> Operation {
        match self.version {
            ReceiptVersion::PaSendRt => Operation::GetPayment,
            ReceiptVersion::PaSendRtV2 => Operation::GetPaymentV2,
        }
    }
}

/// `send-rt-v2`, `send-rt`, `send-rt-v2-stand-in`: the receipt of `notice`, paid as the EC answered.
pub async fn send_receipt(
    node: &Node,
    found: &mut Found,
    kind: ReceiptKind,
    notice: &NoticeNumber,
) -> Outcome {
    let data = match payment(node, found, kind.activation(), notice).await {
        Ok(data) => data,
        Err(outcome) => return outcome,
    };
    let receipt = match receipt_for(&node.header, notice, &data, kind.version, kind.stand_in) {
        Ok(receipt) => receipt,
        Err(e) => return Outcome::error(e.to_string()),
    };
    let call = node.send_receipt(&receipt).await;
    match call.verdict {
        Ok(()) => {
            let observed = format!(
                "OK for receipt {} ({} €), {}",
                receipt.receipt_id,
                data.amount,
                millis(call.elapsed)
            );
            found.receipts.insert(kind.key(), receipt);
            Outcome::pass(observed)
        }
        Err(fault) if own_error(&fault) => Outcome::error(fault.description),
        Err(fault) => Outcome::fail(format!(
            "the node would record {} ({}) and re-send the receipt every hour, 48 times",
            told_psp(&fault),
            millis(call.elapsed)
        )),
    }
}

/// `send-rt-v2-duplicate`, `send-rt-duplicate`: the accepted receipt once more.
pub async fn send_duplicate(
    node: &Node,
    found: &mut Found,
    kind: ReceiptKind,
    notice: &NoticeNumber,
) -> Outcome {
    if !found.receipts.contains_key(&kind.key()) {
        let first = send_receipt(node, found, kind, notice).await;
        if !first.is_pass() {
            return Outcome::error(format!(
                "not judged: the first receipt this case repeats was not accepted: {}",
                first.text()
            ));
        }
    }
    let Some(receipt) = found.receipts.get(&kind.key()).cloned() else {
        return Outcome::error("not judged: no accepted receipt to repeat");
    };
    let call = node.send_receipt(&receipt).await;
    let took = millis(call.elapsed);
    match call.verdict {
        Ok(()) => Outcome::pass(format!("OK again for receipt {} ({took})", receipt.receipt_id)),
        Err(fault) if own_error(&fault) => Outcome::error(fault.description),
        Err(fault)
            if fault.fault_code == ERRORE_EMESSO_DA_PAA
                && fault.original_fault_code.as_deref() == Some("PAA_RECEIPT_DUPLICATA") =>
        {
            Outcome::pass(format!(
                "a valid KO PAA_RECEIPT_DUPLICATA ({took}): the node stops re-sending"
            ))
        }
        Err(fault) => Outcome::fail(format!(
            "the node would record {} ({took}) and re-send the receipt every hour, 48 times; a duplicate is \
             answered OK or PAA_RECEIPT_DUPLICATA",
            told_psp(&fault)
        )),
    }
}

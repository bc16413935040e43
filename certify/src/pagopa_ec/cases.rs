//! The cases themselves, and the prerequisites they share. A case that needs an earlier step (the
//! receipt needs a payment the EC answered, its duplicate the first receipt accepted) does that step
//! itself when it has not run yet — so `--case send-rt-v2-duplicate` works alone — and is reported
//! "not judged" (an error) when the step is refused: the node would never have sent that request.
//! The demand cases ask for new notices of a catalogue service the run is told of (`--demand-*`).

use std::collections::HashMap;

use snodo_mappings::pagopa::contract::{Receipt, ReceiptVersion};
use snodo_mappings::pagopa::{NoticeNumber, Operation, PaymentData, RequestHeader, VerifyAnswer};
use snodo_simulators::pagopa::judge::{ERRORE_EMESSO_DA_PAA, PptFault, SYSTEM_ERROR};

use super::args::DemandSettings;
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

/// The demand cases' inputs, or the reason they cannot run.
pub fn demand_settings(demand: Option<&DemandSettings>) -> Result<&DemandSettings, Outcome> {
    demand.ok_or_else(|| {
        Outcome::error(
            "not run: the demand cases need a catalogue service of the EC: give --demand-service, \
             --demand-subject and --demand-data",
        )
    })
}

/// `demand`: a new notice for a subject the EC knows, of this EC, with right check digits, which the
/// node then verifies as the PSP's payment would.
pub async fn demand(node: &Node, found: &mut Found, demand: &DemandSettings) -> Outcome {
    let envelope =
        match node.demand_envelope(&demand.service_id, &demand.subject_id, &demand.service_data_xml) {
            Ok(envelope) => envelope,
            Err(e) => return Outcome::error(e.to_string()),
        };
    let call = node.demand(envelope).await;
    let took = millis(call.elapsed);
    let answer = match call.verdict {
        Ok(answer) => answer,
        Err(fault) if own_error(&fault) => return Outcome::error(fault.description),
        Err(fault) => {
            return Outcome::fail(format!(
                "the node would tell the PSP {} ({took}) and the citizen gets no notice",
                told_psp(&fault)
            ));
        }
    };
    if answer.qr_code.fiscal_code != node.header.id_pa {
        return Outcome::fail(format!(
            "answered OK with a notice of fiscal code {}, not of this EC ({}): the node refuses it \
             (PPT_SYSTEM_ERROR to the PSP)",
            answer.qr_code.fiscal_code, node.header.id_pa
        ));
    }
    let notice = match NoticeNumber::parse(&answer.qr_code.notice_number)
        .and_then(|n| n.verify_check_digits().map(|()| n))
    {
        Ok(notice) => notice,
        Err(e) => {
            return Outcome::fail(format!(
                "answered OK with noticeNumber {}, which is no valid notice number: {e}",
                answer.qr_code.notice_number
            ));
        }
    };
    let envelope = match node.verify_envelope(&node.header, &notice) {
        Ok(envelope) => envelope,
        Err(e) => return Outcome::error(e.to_string()),
    };
    let verify = node.verify(envelope).await;
    match verify.verdict {
        Ok(verified) if verified.amount == answer.option.amount => {
            let observed = format!(
                "OK: new notice {} of {}, {} € ({took}); its paVerifyPaymentNotice OK for the same amount ({})",
                notice.as_str(),
                answer.qr_code.fiscal_code,
                answer.option.amount,
                millis(verify.elapsed)
            );
            found.verified.insert(notice, verified);
            Outcome::pass(observed)
        }
        Ok(verified) => Outcome::fail(format!(
            "the demand answered {} € for notice {}, its paVerifyPaymentNotice {} €: the PSP would be shown \
             two amounts",
            answer.option.amount,
            notice.as_str(),
            verified.amount
        )),
        Err(fault) if own_error(&fault) => Outcome::error(fault.description),
        Err(fault) => Outcome::fail(format!(
            "the demand answered notice {} ({took}), but its paVerifyPaymentNotice was refused: the node \
             would tell the PSP {} and the citizen cannot pay the notice just created",
            notice.as_str(),
            told_psp(&fault)
        )),
    }
}

/// `demand-unknown-subject`: a subject the EC does not know.
pub async fn demand_unknown_subject(node: &Node, demand: &DemandSettings) -> Outcome {
    match node.demand_envelope(
        &demand.service_id,
        &demand.unknown_subject_id,
        &demand.service_data_xml,
    ) {
        Ok(envelope) => expect_ko(node.demand(envelope).await, &["PAA_PAGAMENTO_SCONOSCIUTO"]),
        Err(e) => Outcome::error(e.to_string()),
    }
}

/// `demand-bad-service-data`: service data that are no XML document (the request itself is valid
/// against paForNode.xsd: the field is base64Binary).
pub async fn demand_bad_service_data(node: &Node, demand: &DemandSettings) -> Outcome {
    match node.demand_envelope(
        &demand.service_id,
        &demand.subject_id,
        "this is not an XML document <",
    ) {
        Ok(envelope) => expect_ko(
            node.demand(envelope).await,
            &["PAA_SINTASSI_EXTRAXSD", "PAA_SINTASSI_XSD"],
        ),
        Err(e) => Outcome::error(e.to_string()),
    }
}

//! Driving one payment the way a PSP does through the node (pagopa.md §2.4): `verifyPaymentNotice`
//! makes the node call `paVerifyPaymentNotice`, `activatePaymentNotice[V2]` (with an idempotency key)
//! makes it call `paGetPayment[V2]` and hand out a payment token, and `sendPaymentOutcome` makes it
//! build the receipt and push it with `paSendRT[V2]`. Each step is reported with the node's verdict.
//!
//! What the node decides itself is decided here too: a notice it knows is paid is
//! `PPT_PAGAMENTO_DUPLICATO` without asking the EC; a live activation under another key is
//! `PPT_PAGAMENTO_IN_CORSO`; the same key within the token's validity gets the same token without a
//! second paGetPayment. The receipt also goes, as a copy, to the broadcast stations of the notice's
//! other beneficiaries ([`super::broadcast`]). When the EC does not answer verify or activation in time (or cannot be
//! reached), the notice is paid in Stand-In from the node's ACA archive, if the EC loaded it there
//! and allowed Stand-In; its receipt carries `standIn=true`. A transfer asking for an @e.bollo stamp is
//! paid by selling one ([`super::stamp`]): the receipt carries the signed stamp for it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use snodo_mappings::pagopa::contract::{
    EntityType, Psp, Receipt, ReceiptTransfer, ReceiptVersion, Subject, TransferCredit,
};
use snodo_mappings::pagopa::{
    Amount, AnsweredCredit, GetPaymentRequest, NoticeNumber, Operation, PaymentData, QrCode, RequestHeader,
    VerifyRequest, read_get_payment_answer, read_verify_answer,
};

use super::archive::{Activation, Delivery, Payment};
use super::broadcast::{BroadcastReport, broadcast};
use super::judge::{self, IRRAGGIUNGIBILE, PptFault, SYSTEM_ERROR, TIMEOUT};
use super::node::{NodeCore, SendOutcome};
use super::{stamp, standin};

/// What to pay, and how.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    pub notice_number: String,
    /// The EC owning the notice; default: the configured station's `id_pa`.
    #[serde(default)]
    pub fiscal_code: Option<String>,
    /// `v2` (default) uses activatePaymentNoticeV2 → paGetPaymentV2 and paSendRTV2.
    #[serde(default)]
    pub version: Version,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(default)]
    pub stand_in: StandIn,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Version {
    V1,
    #[default]
    V2,
}

/// When Stand-In applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StandIn {
    /// When the EC times out or cannot be reached on verify or activation (the node's rule).
    #[default]
    Auto,
    /// The station is in Stand-In (declared down): the EC is not asked at all.
    Always,
    Never,
}

/// One step of a payment as the PSP sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The PSP-side primitive (`verifyPaymentNotice`…) and, when the EC was called, its primitive.
    pub primitive: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ec_primitive: Option<&'static str>,
    pub at: DateTime<Utc>,
    /// Simulated milliseconds the step took.
    pub elapsed_ms: i64,
    /// `OK`, or the node's fault code.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<PptFault>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The whole payment.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentReport {
    pub notice_number: String,
    pub fiscal_code: String,
    /// `paid` (receipt delivered), `paid_receipt_pending` (queued for hourly re-submission) or `failed`.
    pub result: &'static str,
    pub stand_in: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_cents: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfers: Option<usize>,
    pub steps: Vec<Step>,
    /// The receipt's copies sent to other beneficiaries' broadcast stations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub broadcast: Vec<BroadcastReport>,
}

struct Recorder<'a> {
    core: &'a NodeCore,
    steps: Vec<Step>,
}

impl Recorder<'_> {
    fn push(
        &mut self,
        primitive: &'static str,
        ec_primitive: Option<&'static str>,
        started: DateTime<Utc>,
        fault: Option<PptFault>,
        note: Option<String>,
    ) {
        self.steps.push(Step {
            primitive,
            ec_primitive,
            at: started,
            elapsed_ms: (self.core.clock.now() - started).num_milliseconds(),
            outcome: fault
                .as_ref()
                .map_or("OK".to_owned(), |f| f.fault_code.to_owned()),
            fault,
            note,
        });
    }
}

fn unavailable(fault: &PptFault) -> bool {
    fault.fault_code == TIMEOUT || fault.fault_code == IRRAGGIUNGIBILE
}

/// Pays `request` end to end and reports every step.
pub async fn pay(core: &Arc<NodeCore>, request: &PayRequest) -> PaymentReport {
    let ec = core.ec();
    let fiscal_code = request.fiscal_code.clone().unwrap_or_else(|| ec.id_pa.clone());
    let mut report = PaymentReport {
        notice_number: request.notice_number.clone(),
        fiscal_code: fiscal_code.clone(),
        result: "failed",
        stand_in: false,
        payment_token: None,
        amount_cents: None,
        transfers: None,
        steps: Vec::new(),
        broadcast: Vec::new(),
    };
    let mut rec = Recorder {
        core,
        steps: Vec::new(),
    };
    if let Err(e) = NoticeNumber::parse(&request.notice_number) {
        let now = core.clock.now();
        rec.push(
            "verifyPaymentNotice",
            None,
            now,
            Some(PptFault::new("PPT_SINTASSI_EXTRAXSD", e.to_string())),
            None,
        );
        report.steps = rec.steps;
        return report;
    }
    let header = RequestHeader {
        id_pa: ec.id_pa.clone(),
        id_broker_pa: ec.id_broker_pa.clone(),
        id_station: ec.id_station.clone(),
    };
    let qr = QrCode {
        fiscal_code: fiscal_code.clone(),
        notice_number: request.notice_number.clone(),
    };

    // verifyPaymentNotice → paVerifyPaymentNotice
    let started = core.clock.now();
    if core
        .archive
        .lock()
        .paid(&fiscal_code, &request.notice_number)
        .is_some()
    {
        rec.push(
            "verifyPaymentNotice",
            None,
            started,
            Some(PptFault::new(
                judge::PAGAMENTO_DUPLICATO,
                "the node already holds a receipt for this notice",
            )),
            None,
        );
        report.steps = rec.steps;
        return report;
    }
    let mut stand_in = request.stand_in == StandIn::Always;
    let mut amount = None;
    if !stand_in {
        let verified = call_verify(core, &header, &qr).await;
        match verified {
            Ok(answer) => {
                amount = Some(answer.amount);
                rec.push(
                    "verifyPaymentNotice",
                    Some("paVerifyPaymentNotice"),
                    started,
                    None,
                    None,
                );
            }
            Err(fault) if unavailable(&fault) && request.stand_in == StandIn::Auto => {
                rec.push(
                    "verifyPaymentNotice",
                    Some("paVerifyPaymentNotice"),
                    started,
                    Some(fault),
                    None,
                );
                stand_in = true;
            }
            Err(fault) => {
                rec.push(
                    "verifyPaymentNotice",
                    Some("paVerifyPaymentNotice"),
                    started,
                    Some(fault),
                    None,
                );
                report.steps = rec.steps;
                return report;
            }
        }
    }

    // activatePaymentNotice → paGetPayment[V2], or the ACA position in Stand-In
    let operation = get_payment_operation(request.version);
    let activate_name = match request.version {
        Version::V1 => "activatePaymentNotice",
        Version::V2 => "activatePaymentNoticeV2",
    };
    let started = core.clock.now();
    let asked = activate(
        core,
        &ActivationRequest {
            fiscal_code: &fiscal_code,
            notice_number: &request.notice_number,
            version: request.version,
            idempotency_key: request.idempotency_key.as_deref(),
            amount,
            stand_in,
            mode: request.stand_in,
        },
    )
    .await;
    let granted = match asked {
        Ok(granted) => granted,
        Err(refused) => {
            if let Some(fault) = refused.ec_fault {
                rec.push(activate_name, Some(operation.name()), started, Some(fault), None);
            }
            let ec_primitive = refused.ec_called.then_some(operation.name());
            let note = refused.stand_in.then(|| "Stand-In".to_owned());
            rec.push(activate_name, ec_primitive, started, Some(refused.fault), note);
            report.steps = rec.steps;
            return report;
        }
    };
    if let Some(fault) = granted.ec_fault {
        rec.push(activate_name, Some(operation.name()), started, Some(fault), None);
    }
    let note = if granted.replayed {
        Some("idempotent repeat: the same token, paGetPayment not called again".to_owned())
    } else {
        granted
            .stand_in
            .then(|| "Stand-In: the position comes from the node's ACA archive".to_owned())
    };
    let ec_primitive = (!granted.stand_in && !granted.replayed).then_some(operation.name());
    rec.push(activate_name, ec_primitive, started, None, note);
    report.payment_token = Some(granted.token.clone());
    report.amount_cents = Some(granted.data.amount.cents());
    report.transfers = Some(granted.data.transfers.len());
    report.stand_in = granted.stand_in;

    // sendPaymentOutcome → paSendRT[V2]
    let started = core.clock.now();
    let settled = match settle(core, &granted.token).await {
        Ok(settled) => settled,
        Err(fault) => {
            rec.push("sendPaymentOutcome", None, started, Some(fault), None);
            report.steps = rec.steps;
            return report;
        }
    };
    let send_rt = match settled.receipt.version {
        ReceiptVersion::PaSendRt => "paSendRT",
        ReceiptVersion::PaSendRtV2 => "paSendRTV2",
    };
    let note =
        (!settled.sent.delivered).then(|| "the receipt is queued: re-sent every hour, 48 times".to_owned());
    rec.push(
        "sendPaymentOutcome",
        Some(send_rt),
        started,
        settled.sent.fault.clone(),
        note,
    );
    report.broadcast = settled.broadcast;
    report.result = if settled.sent.delivered {
        "paid"
    } else {
        "paid_receipt_pending"
    };
    report.steps = rec.steps;
    report
}

fn get_payment_operation(version: Version) -> Operation {
    match version {
        Version::V1 => Operation::GetPayment,
        Version::V2 => Operation::GetPaymentV2,
    }
}

/// What a PSP's activation asks for.
pub struct ActivationRequest<'a> {
    pub fiscal_code: &'a str,
    pub notice_number: &'a str,
    pub version: Version,
    pub idempotency_key: Option<&'a str>,
    /// The amount the PSP saw at verify (attualizzazione: the EC may answer another).
    pub amount: Option<Amount>,
    /// Stand-In was already decided (station declared down, or verify went unanswered).
    pub stand_in: bool,
    pub mode: StandIn,
}

/// An activation the node granted: the payment token and the EC's (or ACA's) data behind it.
pub struct Granted {
    pub token: String,
    pub data: PaymentData,
    pub stand_in: bool,
    /// The same idempotency key within the token's validity: the first activation's token.
    pub replayed: bool,
    /// The EC's fault that turned this activation to Stand-In.
    pub ec_fault: Option<PptFault>,
}

/// An activation the node refused.
pub struct Refused {
    pub fault: PptFault,
    /// Whether `fault` is the judgement of the EC's answer.
    pub ec_called: bool,
    pub stand_in: bool,
    /// The EC's fault before Stand-In was tried, when Stand-In then failed too.
    pub ec_fault: Option<PptFault>,
}

/// `activatePaymentNotice[V2]` as the node decides it: an idempotent repeat gets the same token, a
/// live activation under another key blocks the notice, otherwise the EC is asked (paGetPayment[V2])
/// — or, when it does not answer in time and Stand-In is allowed, ACA — and a token is handed out.
pub async fn activate(core: &Arc<NodeCore>, request: &ActivationRequest<'_>) -> Result<Granted, Refused> {
    let started = core.clock.now();
    let validity = core.settings.lock().token_validity;
    let key = request.idempotency_key;
    let replayed = key.and_then(|k| {
        core.archive
            .lock()
            .replay(request.fiscal_code, request.notice_number, k, started)
            .cloned()
    });
    if let Some(activation) = replayed {
        return Ok(Granted {
            token: activation.token,
            data: activation.data,
            stand_in: activation.stand_in,
            replayed: true,
            ec_fault: None,
        });
    }
    let refused = |fault, ec_called, stand_in, ec_fault| Refused {
        fault,
        ec_called,
        stand_in,
        ec_fault,
    };
    if core
        .archive
        .lock()
        .in_progress(request.fiscal_code, request.notice_number, key, started)
    {
        let fault = PptFault::new(
            judge::PAGAMENTO_IN_CORSO,
            "another activation of this notice is live",
        );
        return Err(refused(fault, false, false, None));
    }
    let notice = NoticeNumber::parse(request.notice_number).map_err(|e| {
        refused(
            PptFault::new("PPT_SINTASSI_EXTRAXSD", e.to_string()),
            false,
            false,
            None,
        )
    })?;
    let ec = core.ec();
    let mut stand_in = request.stand_in;
    let mut ec_fault = None;
    let mut fetched = None;
    if !stand_in {
        let get = GetPaymentRequest {
            operation: get_payment_operation(request.version),
            header: RequestHeader {
                id_pa: ec.id_pa.clone(),
                id_broker_pa: ec.id_broker_pa.clone(),
                id_station: ec.id_station.clone(),
            },
            qr_code: QrCode {
                fiscal_code: request.fiscal_code.to_owned(),
                notice_number: request.notice_number.to_owned(),
            },
            amount: request.amount,
            payment_note: None,
            transfer_type: None,
            due_date: None,
        };
        match call_get_payment(core, &get, notice.iuv()).await {
            Ok(data) => fetched = Some(data),
            Err(fault) if unavailable(&fault) && request.mode == StandIn::Auto => {
                ec_fault = Some(fault);
                stand_in = true;
            }
            Err(fault) => return Err(refused(fault, true, false, None)),
        }
    }
    let data = match fetched {
        Some(data) => data,
        None => standin::position(core, request.fiscal_code, request.notice_number)
            .map_err(|fault| refused(fault, false, true, ec_fault.clone()))?,
    };
    let token = uuid::Uuid::new_v4().simple().to_string();
    core.archive.lock().activations.insert(
        token.clone(),
        Activation {
            token: token.clone(),
            fiscal_code: request.fiscal_code.to_owned(),
            notice_number: request.notice_number.to_owned(),
            idempotency_key: key.map(str::to_owned),
            data: data.clone(),
            expires: started + validity,
            used: false,
            stand_in,
            version: request.version,
        },
    );
    Ok(Granted {
        token,
        data,
        stand_in,
        replayed: false,
        ec_fault,
    })
}

/// A payment closed with its receipt sent (or queued) and broadcast.
pub struct Settled {
    pub receipt: Receipt,
    pub sent: SendOutcome,
    pub broadcast: Vec<BroadcastReport>,
}

/// `sendPaymentOutcome` OK for the activation `token`: the node builds the receipt (receiptId = the
/// token), archives the payment, sends paSendRT[V2] to the EC (queueing it when that fails) and
/// copies it to the broadcast stations. A token unknown, expired or already closed is refused.
pub async fn settle(core: &Arc<NodeCore>, token: &str) -> Result<Settled, PptFault> {
    let now = core.clock.now();
    let activation = core
        .archive
        .lock()
        .activations
        .get(token)
        .cloned()
        .ok_or_else(|| PptFault::new(judge::TOKEN_SCONOSCIUTO, "no activation has this payment token"))?;
    if activation.used {
        return Err(PptFault::new(
            "PPT_ESITO_GIA_ACQUISITO",
            "the outcome of this payment token was already received",
        ));
    }
    if activation.expires <= now {
        return Err(PptFault::new(
            "PPT_TOKEN_SCADUTO",
            "the payment token expired before the outcome",
        ));
    }
    let (ec, psp) = {
        let s = core.settings.lock();
        (s.ec.clone(), s.psp.clone())
    };
    let version = match activation.version {
        Version::V1 => ReceiptVersion::PaSendRt,
        Version::V2 => ReceiptVersion::PaSendRtV2,
    };
    let receipt = receipt(
        &ec,
        &psp,
        &activation.notice_number,
        &activation.fiscal_code,
        token,
        &activation.data,
        version,
        activation.stand_in,
        now,
    )?;
    {
        let mut archive = core.archive.lock();
        if let Some(a) = archive.activations.get_mut(token) {
            a.used = true;
        }
        archive.payments.push(Payment {
            receipt: receipt.clone(),
            paid_at: now,
            delivery: Delivery::new(),
            reported: false,
        });
    }
    let sent = core.send_receipt(&receipt).await;
    core.record_send(&receipt.receipt_id, &sent);
    let broadcast = broadcast(core, &receipt).await;
    Ok(Settled {
        receipt,
        sent,
        broadcast,
    })
}

/// `sendPaymentOutcome` KO: the PSP could not collect; the token is spent and the notice free again.
pub fn release(core: &NodeCore, token: &str) -> Result<(), PptFault> {
    let mut archive = core.archive.lock();
    let activation = archive
        .activations
        .get_mut(token)
        .ok_or_else(|| PptFault::new(judge::TOKEN_SCONOSCIUTO, "no activation has this payment token"))?;
    if activation.used {
        return Err(PptFault::new(
            "PPT_ESITO_GIA_ACQUISITO",
            "the outcome of this payment token was already received",
        ));
    }
    activation.used = true;
    Ok(())
}

pub async fn call_verify(
    core: &NodeCore,
    header: &RequestHeader,
    qr: &QrCode,
) -> Result<snodo_mappings::pagopa::VerifyAnswer, PptFault> {
    let request = VerifyRequest {
        header: header.clone(),
        qr_code: qr.clone(),
    };
    let envelope = request
        .to_envelope()
        .map_err(|e| PptFault::new(SYSTEM_ERROR, e.to_string()))?;
    let client = core.client()?;
    let limit = core.settings.lock().timeouts.verify;
    let outcome = client
        .call(
            &core.clock,
            Operation::VerifyPaymentNotice.name(),
            envelope,
            limit,
        )
        .await;
    core.judge.judge(outcome, read_verify_answer)
}

async fn call_get_payment(
    core: &NodeCore,
    request: &GetPaymentRequest,
    iuv: &str,
) -> Result<PaymentData, PptFault> {
    let envelope = request
        .to_envelope()
        .map_err(|e| PptFault::new(SYSTEM_ERROR, e.to_string()))?;
    let client = core.client()?;
    let limit = core.settings.lock().timeouts.get_payment;
    let outcome = client
        .call(&core.clock, request.operation.name(), envelope, limit)
        .await;
    core.judge
        .judge(outcome, |e| read_get_payment_answer(e, request.operation, iuv))
}

/// The receipt of a successful payment of `data` (receiptId = the payment token).
#[allow(clippy::too_many_arguments)]
fn receipt(
    ec: &super::settings::EcTarget,
    psp: &super::settings::PspIdentity,
    notice_number: &str,
    fiscal_code: &str,
    token: &str,
    data: &PaymentData,
    version: ReceiptVersion,
    stand_in: bool,
    now: DateTime<Utc>,
) -> Result<Receipt, PptFault> {
    let transfers = data
        .transfers
        .iter()
        .map(|t| {
            let credit = match &t.credit {
                AnsweredCredit::Iban(iban) => TransferCredit::Iban(iban.clone()),
                // The PSP sells the stamp: the receipt carries the signed marcaDaBollo instead of
                // an account.
                AnsweredCredit::RevenueStamp {
                    document_hash,
                    stamp_type,
                    ..
                } => {
                    let iubd = format!("{:014}", uuid::Uuid::new_v4().as_u128() % 100_000_000_000_000);
                    let sale = stamp::StampSale {
                        psp,
                        iubd: &iubd,
                        bought_at: now,
                        amount: t.amount,
                        stamp_type,
                        document_hash,
                    };
                    let attachment =
                        stamp::issue(&sale).map_err(|e| PptFault::new(SYSTEM_ERROR, e.to_string()))?;
                    TransferCredit::RevenueStampAttachment(attachment)
                }
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
        .collect::<Result<Vec<_>, PptFault>>()?;
    // The PSP's commission, as a PSP declares it in sendPaymentOutcome details.
    let fee = Some(100);
    Ok(Receipt {
        version,
        id_pa: ec.id_pa.clone(),
        id_broker_pa: ec.id_broker_pa.clone(),
        id_station: ec.id_station.clone(),
        receipt_id: token.to_owned(),
        notice_number: notice_number.to_owned(),
        fiscal_code: fiscal_code.to_owned(),
        outcome: "OK".into(),
        iuv: data.iuv.clone(),
        amount_cents: data.amount.cents(),
        description: data.description.clone(),
        company_name: data
            .company_name
            .clone()
            .unwrap_or_else(|| format!("Ente creditore {fiscal_code}")),
        office_name: data.office_name.clone(),
        debtor: data.debtor.clone(),
        transfers,
        psp: Psp {
            id: psp.id.clone(),
            fiscal_code: Some(psp.fiscal_code.clone()),
            vat_number: None,
            company_name: psp.company_name.clone(),
            channel_id: psp.channel_id.clone(),
            channel_description: psp.channel_description.clone(),
        },
        payer: Some(data.debtor.clone()),
        payment_method: Some("card".into()),
        payment_note: None,
        fee_cents: fee,
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

/// A subject for Stand-In receipts built from ACA's flat fields.
pub fn subject(entity_type: EntityType, unique_identifier: &str, full_name: &str) -> Subject {
    Subject {
        entity_type,
        unique_identifier: unique_identifier.to_owned(),
        full_name: full_name.chars().take(70).collect(),
        street_name: None,
        civic_number: None,
        postal_code: None,
        city: None,
        state_province_region: None,
        country: None,
        email: None,
    }
}

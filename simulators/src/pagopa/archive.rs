//! What the simulated node remembers: the central notice archive (ACA) an EC loads with
//! `paCreatePosition` and Stand-In pays from, the activations (payment tokens and idempotency keys),
//! the payments it made with the delivery state of each receipt (sent, or pending re-submission with
//! its attempts) and of each broadcast copy sent to another beneficiary's station, and the reporting
//! flows it generated from those payments. In memory: a reset
//! (`POST /admin/reset`) empties it.

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use serde::Serialize;
use snodo_mappings::pagopa::PaymentData;
use snodo_mappings::pagopa::contract::{
    AcaNewDebtPosition, FlowPayment, FlowSender, PaymentOutcome, Receipt, ReportingFlow, SenderKind,
};

use super::judge::PptFault;
use super::settings::{EcTarget, PspIdentity};

/// One ACA position, keyed by (EC fiscal code, notice number).
#[derive(Debug, Clone)]
pub struct AcaEntry {
    pub position: AcaNewDebtPosition,
    pub nav: String,
    pub updated: DateTime<Utc>,
}

/// An activation: the token the node gave the PSP and the EC's data behind it.
#[derive(Debug, Clone)]
pub struct Activation {
    pub token: String,
    pub fiscal_code: String,
    pub notice_number: String,
    pub idempotency_key: Option<String>,
    pub data: PaymentData,
    pub expires: DateTime<Utc>,
    /// The outcome was received (paid, or KO): the token is spent.
    pub used: bool,
    /// Granted from ACA: the receipt will say `standIn`.
    pub stand_in: bool,
    /// paGetPayment or paGetPaymentV2, hence paSendRT or paSendRTV2.
    pub version: super::payment::Version,
}

/// Where a receipt is in its delivery to the EC (the node's `NOTICE_SENT` / `NOTICE_PENDING`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Sent,
    /// Queued for re-submission at `next_at`.
    Pending,
    /// Every retry failed: it stays queued until someone re-submits it (SANP: PagoPA support).
    Exhausted,
}

#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub state: DeliveryState,
    /// Sends so far, the first included.
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_fault: Option<PptFault>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A payment the node completed, with its receipt.
#[derive(Debug, Clone)]
pub struct Payment {
    pub receipt: Receipt,
    pub paid_at: DateTime<Utc>,
    pub delivery: Delivery,
    pub reported: bool,
}

/// A receipt's copy for a secondary beneficiary, sent to the station it configured as broadcast
/// (SANP "Integrazione tramite API asincrone"): the same receipt, addressed to that EC.
#[derive(Debug, Clone)]
pub struct BroadcastCopy {
    pub receipt: Receipt,
    pub target: EcTarget,
    pub delivery: Delivery,
}

/// Which delivery a re-submission is for: the primary EC's, or a broadcast copy's (by station).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryKey {
    pub receipt_id: String,
    pub broadcast_station: Option<String>,
}

impl Delivery {
    pub fn new() -> Delivery {
        Delivery {
            state: DeliveryState::Pending,
            attempts: 0,
            next_at: None,
            last_fault: None,
            delivered_at: None,
        }
    }

    /// Records one send: delivered, or due again `every` from `now` while attempts remain (the first
    /// send plus `retries` re-submissions). Returns whether it is pending.
    pub fn record(
        &mut self,
        delivered: bool,
        fault: Option<PptFault>,
        now: DateTime<Utc>,
        retries: u32,
        every: TimeDelta,
    ) -> bool {
        self.attempts += 1;
        if delivered {
            self.state = DeliveryState::Sent;
            self.next_at = None;
            self.last_fault = None;
            self.delivered_at = Some(now);
        } else {
            self.last_fault = fault;
            if self.attempts > retries {
                self.state = DeliveryState::Exhausted;
                self.next_at = None;
            } else {
                self.state = DeliveryState::Pending;
                self.next_at = Some(now + every);
            }
        }
        self.state == DeliveryState::Pending
    }
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery::new()
    }
}

/// A reporting flow the node published for one EC.
#[derive(Debug, Clone)]
pub struct PublishedFlow {
    pub flow: ReportingFlow,
    pub psp_id: String,
    pub published: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct Archive {
    pub aca: HashMap<(String, String), AcaEntry>,
    pub activations: HashMap<String, Activation>,
    pub payments: Vec<Payment>,
    pub broadcasts: Vec<BroadcastCopy>,
    pub flows: Vec<PublishedFlow>,
    flow_sequence: u64,
}

impl Archive {
    /// The payment of a notice already paid, if any.
    pub fn paid(&self, fiscal_code: &str, notice_number: &str) -> Option<&Payment> {
        self.payments
            .iter()
            .find(|p| p.receipt.fiscal_code == fiscal_code && p.receipt.notice_number == notice_number)
    }

    pub fn payment_mut(&mut self, receipt_id: &str) -> Option<&mut Payment> {
        self.payments
            .iter_mut()
            .find(|p| p.receipt.receipt_id == receipt_id)
    }

    /// A live activation of the notice under another idempotency key: the node blocks it
    /// (`PPT_PAGAMENTO_IN_CORSO`).
    pub fn in_progress(
        &self,
        fiscal_code: &str,
        notice_number: &str,
        key: Option<&str>,
        now: DateTime<Utc>,
    ) -> bool {
        self.activations.values().any(|a| {
            a.fiscal_code == fiscal_code
                && a.notice_number == notice_number
                && !a.used
                && a.expires > now
                && (key.is_none() || a.idempotency_key.as_deref() != key)
        })
    }

    /// The live activation made with `key` for this notice (an idempotent repeat of the activation).
    pub fn replay(
        &self,
        fiscal_code: &str,
        notice_number: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Option<&Activation> {
        self.activations.values().find(|a| {
            a.fiscal_code == fiscal_code
                && a.notice_number == notice_number
                && a.idempotency_key.as_deref() == Some(key)
                && a.expires > now
        })
    }

    /// The delivery of `key`, primary or broadcast copy.
    pub fn delivery_mut(&mut self, key: &DeliveryKey) -> Option<&mut Delivery> {
        match &key.broadcast_station {
            None => self.payment_mut(&key.receipt_id).map(|p| &mut p.delivery),
            Some(station) => self
                .broadcasts
                .iter_mut()
                .find(|b| b.receipt.receipt_id == key.receipt_id && b.target.id_station == *station)
                .map(|b| &mut b.delivery),
        }
    }

    /// The pending receipt (or copy) due first, with when.
    pub fn next_due(&self) -> Option<(DeliveryKey, DateTime<Utc>)> {
        let primary = self
            .payments
            .iter()
            .filter(|p| p.delivery.state == DeliveryState::Pending)
            .filter_map(|p| {
                let key = DeliveryKey {
                    receipt_id: p.receipt.receipt_id.clone(),
                    broadcast_station: None,
                };
                p.delivery.next_at.map(|at| (key, at))
            });
        let copies = self
            .broadcasts
            .iter()
            .filter(|b| b.delivery.state == DeliveryState::Pending)
            .filter_map(|b| {
                let key = DeliveryKey {
                    receipt_id: b.receipt.receipt_id.clone(),
                    broadcast_station: Some(b.target.id_station.clone()),
                };
                b.delivery.next_at.map(|at| (key, at))
            });
        primary.chain(copies).min_by_key(|(_, at)| *at)
    }

    /// Publishes a flow per (PSP, beneficiary EC) for every payment not yet reported: one line per
    /// transfer credited to that EC, as the PSP's statement of what it poured. Returns how many.
    pub fn publish_flows(&mut self, psp: &PspIdentity, now: DateTime<Utc>) -> usize {
        let mut groups: Vec<(String, Option<String>, Vec<FlowPayment>)> = Vec::new();
        for payment in self.payments.iter_mut().filter(|p| !p.reported) {
            payment.reported = true;
            let r = &payment.receipt;
            for t in &r.transfers {
                let line = FlowPayment {
                    iuv: r.iuv.clone(),
                    iur: r.receipt_id.clone(),
                    transfer_index: Some(t.id),
                    amount_cents: t.amount_cents,
                    outcome: if r.stand_in {
                        PaymentOutcome::StandIn
                    } else {
                        PaymentOutcome::Executed
                    },
                    date: payment.paid_at.date_naive().to_string(),
                };
                let name = if t.fiscal_code == r.fiscal_code {
                    Some(r.company_name.clone())
                } else {
                    t.company_name.clone()
                };
                match groups.iter_mut().find(|(cf, _, _)| *cf == t.fiscal_code) {
                    Some((_, _, lines)) => lines.push(line),
                    None => groups.push((t.fiscal_code.clone(), name, vec![line])),
                }
            }
        }
        let published = groups.len();
        for (receiver, receiver_name, payments) in groups {
            self.flow_sequence += 1;
            let date = now.date_naive();
            let flow = ReportingFlow {
                flow_id: format!("{date}{}-{:010}", psp.id, self.flow_sequence),
                flow_date_time: now.format("%Y-%m-%dT%H:%M:%S").to_string(),
                revision: Some(1),
                regulation_id: format!("SIMTRN{:010}", self.flow_sequence),
                regulation_date: (now + TimeDelta::days(1)).date_naive().to_string(),
                sender: FlowSender {
                    kind: SenderKind::BicCode,
                    id: psp.bic.clone(),
                    name: Some(psp.company_name.clone()),
                    psp_id: Some(psp.id.clone()),
                },
                bic_pouring_bank: None,
                receiver_id: receiver,
                receiver_name,
                total_payments: payments.len() as u64,
                total_amount_cents: payments.iter().map(|p| p.amount_cents).sum(),
                payments,
            };
            self.flows.push(PublishedFlow {
                flow,
                psp_id: psp.id.clone(),
                // FdR writes `published` in milliseconds and ECs page with `publishedGt` = the last
                // one they saw: a finer instant here would list that flow again.
                published: now.trunc_subsecs(3),
            });
        }
        published
    }
}

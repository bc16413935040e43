//! The simulated node's shared core: settings, clock, judge, archive and the client towards the EC
//! station — and the delivery of receipts, which is the node's one piece of persistence towards an
//! EC: a paSendRT that fails (timeout, error answer, unreachable) puts the receipt in the
//! re-submission queue, retried every hour for 48 attempts on the simulator clock (SANP "Best
//! practice — Coda delle receipt da risottomettere"), by one background task that runs while
//! something is pending. Broadcast copies of a receipt, sent to the stations other beneficiaries
//! configured as broadcast, are delivered and re-submitted the same way, each on its own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use serde::Serialize;
use snodo_mappings::pagopa::contract::{Receipt, ReceiptVersion};
use snodo_mappings::pagopa::{Operation, read_send_rt_answer};

use super::archive::{Archive, DeliveryKey, DeliveryState};
use super::client::{EcClient, sleep_until};
use super::judge::{Judge, PptFault, SYSTEM_ERROR};
use super::settings::{EcTarget, NodeSettings};
use crate::framework::SimClock;

pub struct NodeCore {
    pub clock: SimClock,
    pub settings: Mutex<NodeSettings>,
    pub judge: Judge,
    pub archive: Mutex<Archive>,
    /// Built on first use (the development PKI may need generating), rebuilt when the EC changes.
    client: Mutex<Option<EcClient>>,
    /// Clients of broadcast stations, by URL.
    broadcast_clients: Mutex<HashMap<String, EcClient>>,
    retrying: AtomicBool,
}

/// How one paSendRT went.
#[derive(Debug, Clone, Serialize)]
pub struct SendOutcome {
    pub delivered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<PptFault>,
}

impl NodeCore {
    pub fn new(clock: SimClock, settings: NodeSettings) -> Arc<NodeCore> {
        Arc::new(NodeCore {
            clock,
            judge: Judge::new(settings.specs_dir.clone()),
            settings: Mutex::new(settings),
            archive: Mutex::new(Archive::default()),
            client: Mutex::new(None),
            broadcast_clients: Mutex::new(HashMap::new()),
            retrying: AtomicBool::new(false),
        })
    }

    pub fn ec(&self) -> EcTarget {
        self.settings.lock().ec.clone()
    }

    pub fn set_ec(&self, ec: EcTarget) {
        self.settings.lock().ec = ec;
        *self.client.lock() = None;
    }

    pub fn client(&self) -> Result<EcClient, PptFault> {
        if let Some(client) = self.client.lock().as_ref() {
            return Ok(client.clone());
        }
        let (ec, dir) = {
            let settings = self.settings.lock();
            (settings.ec.clone(), settings.dev_pki_dir.clone())
        };
        let client = EcClient::build(&ec, &dir).map_err(|e| PptFault::new(SYSTEM_ERROR, e.to_string()))?;
        *self.client.lock() = Some(client.clone());
        Ok(client)
    }

    fn broadcast_client(&self, target: &EcTarget) -> Result<EcClient, PptFault> {
        if let Some(client) = self.broadcast_clients.lock().get(&target.url) {
            return Ok(client.clone());
        }
        let dir = self.settings.lock().dev_pki_dir.clone();
        let client = EcClient::build(target, &dir).map_err(|e| PptFault::new(SYSTEM_ERROR, e.to_string()))?;
        self.broadcast_clients
            .lock()
            .insert(target.url.clone(), client.clone());
        Ok(client)
    }

    /// Sends `receipt` once to the primary EC's station and judges the answer.
    pub async fn send_receipt(&self, receipt: &Receipt) -> SendOutcome {
        let client = match self.client() {
            Ok(client) => client,
            Err(fault) => {
                return SendOutcome {
                    delivered: false,
                    fault: Some(fault),
                };
            }
        };
        self.send_with(&client, receipt).await
    }

    /// Sends a broadcast copy (already addressed to `target`'s EC) once and judges the answer.
    pub async fn send_copy(&self, target: &EcTarget, receipt: &Receipt) -> SendOutcome {
        match self.broadcast_client(target) {
            Ok(client) => self.send_with(&client, receipt).await,
            Err(fault) => SendOutcome {
                delivered: false,
                fault: Some(fault),
            },
        }
    }

    async fn send_with(&self, client: &EcClient, receipt: &Receipt) -> SendOutcome {
        let operation = match receipt.version {
            ReceiptVersion::PaSendRt => Operation::SendRt,
            ReceiptVersion::PaSendRtV2 => Operation::SendRtV2,
        };
        let failed = |fault| SendOutcome {
            delivered: false,
            fault: Some(fault),
        };
        let envelope = match receipt.to_envelope() {
            Ok(envelope) => envelope,
            Err(e) => return failed(PptFault::new(SYSTEM_ERROR, e.to_string())),
        };
        let limit = self.settings.lock().timeouts.send_rt;
        let outcome = client.call(&self.clock, operation.name(), envelope, limit).await;
        match self.judge.judge(outcome, |e| read_send_rt_answer(e, operation)) {
            Ok(()) => SendOutcome {
                delivered: true,
                fault: None,
            },
            Err(fault) => failed(fault),
        }
    }

    /// Records the result of a send of the primary receipt `receipt_id`: delivered, or scheduled for
    /// the next hourly attempt (or exhausted after the last one). Starts the retry task when something
    /// is pending.
    pub fn record_send(self: &Arc<Self>, receipt_id: &str, outcome: &SendOutcome) {
        let key = DeliveryKey {
            receipt_id: receipt_id.to_owned(),
            broadcast_station: None,
        };
        self.record_delivery(&key, outcome);
    }

    /// As [`NodeCore::record_send`], for any delivery.
    pub fn record_delivery(self: &Arc<Self>, key: &DeliveryKey, outcome: &SendOutcome) {
        let now = self.clock.now();
        let retry = self.settings.lock().retry;
        let pending = {
            let mut archive = self.archive.lock();
            let Some(delivery) = archive.delivery_mut(key) else {
                return;
            };
            delivery.record(
                outcome.delivered,
                outcome.fault.clone(),
                now,
                retry.attempts,
                retry.every,
            )
        };
        if pending {
            self.ensure_retrying();
        }
    }

    /// Starts the re-submission task unless it runs.
    pub fn ensure_retrying(self: &Arc<Self>) {
        if self.retrying.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(retry_loop(weak));
    }

    /// Back to the seeded state: nothing archived, no pending receipt.
    pub fn reset(&self) {
        *self.archive.lock() = Archive::default();
    }
}

/// Re-submits pending receipts when due; ends when none is pending (or the node is gone).
async fn retry_loop(node: Weak<NodeCore>) {
    loop {
        let Some(core) = node.upgrade() else { return };
        let next = core.archive.lock().next_due();
        let Some((key, at)) = next else {
            core.retrying.store(false, Ordering::Release);
            // Something may have become pending between the look and the store.
            if core.archive.lock().next_due().is_some() && !core.retrying.swap(true, Ordering::AcqRel) {
                continue;
            }
            return;
        };
        let clock = core.clock.clone();
        drop(core);
        // Wakes at most every few milliseconds to look again: an earlier receipt may arrive, a reset
        // may empty the queue, an admin call may move the clock.
        let wait = sleep_until(&clock, at);
        tokio::select! {
            _ = wait => {}
            _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => continue,
        }
        let Some(core) = node.upgrade() else { return };
        let due = {
            let archive = core.archive.lock();
            match &key.broadcast_station {
                None => archive
                    .payments
                    .iter()
                    .find(|p| {
                        p.receipt.receipt_id == key.receipt_id && p.delivery.state == DeliveryState::Pending
                    })
                    .map(|p| (p.receipt.clone(), None)),
                Some(station) => archive
                    .broadcasts
                    .iter()
                    .find(|b| {
                        b.receipt.receipt_id == key.receipt_id
                            && b.target.id_station == *station
                            && b.delivery.state == DeliveryState::Pending
                    })
                    .map(|b| (b.receipt.clone(), Some(b.target.clone()))),
            }
        };
        let Some((receipt, target)) = due else { continue };
        let outcome = match &target {
            None => core.send_receipt(&receipt).await,
            Some(target) => core.send_copy(target, &receipt).await,
        };
        core.record_delivery(&key, &outcome);
    }
}

//! Broadcast receipts (SANP "Integrazione tramite API asincrone", pagopa.md §2.2): a receipt goes to
//! the primary EC's station and to every station configured as broadcast by the other beneficiaries
//! of the notice (the TEFA of a TARI notice), each copy addressed to that EC (`idPA`, `idBrokerPA`,
//! `idStation` of its station) and otherwise the same receipt — same `receiptId`, same notice. An EC
//! must accept such a receipt without having verified the notice. Each copy is delivered and
//! re-submitted on its own ([`super::node`]).

use std::sync::Arc;

use serde::Serialize;
use snodo_mappings::pagopa::contract::Receipt;

use super::archive::{BroadcastCopy, Delivery, DeliveryKey};
use super::judge::PptFault;
use super::node::NodeCore;
use super::settings::EcTarget;

/// How one copy went.
#[derive(Debug, Clone, Serialize)]
pub struct BroadcastReport {
    pub id_pa: String,
    pub id_station: String,
    pub delivered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<PptFault>,
}

/// The broadcast stations of `receipt`'s secondary beneficiaries, one per station.
fn targets(core: &NodeCore, receipt: &Receipt) -> Vec<EcTarget> {
    let mut targets: Vec<EcTarget> = Vec::new();
    for target in &core.settings.lock().broadcast {
        let beneficiary =
            target.id_pa != receipt.id_pa && receipt.transfers.iter().any(|t| t.fiscal_code == target.id_pa);
        if beneficiary && targets.iter().all(|t| t.id_station != target.id_station) {
            targets.push(target.clone());
        }
    }
    targets
}

/// Sends a copy of `receipt` to each secondary beneficiary's broadcast station.
pub async fn broadcast(core: &Arc<NodeCore>, receipt: &Receipt) -> Vec<BroadcastReport> {
    let mut reports = Vec::new();
    for target in targets(core, receipt) {
        let mut copy = receipt.clone();
        copy.id_pa = target.id_pa.clone();
        copy.id_broker_pa = target.id_broker_pa.clone();
        copy.id_station = target.id_station.clone();
        core.archive.lock().broadcasts.push(BroadcastCopy {
            receipt: copy.clone(),
            target: target.clone(),
            delivery: Delivery::new(),
        });
        let outcome = core.send_copy(&target, &copy).await;
        let key = DeliveryKey {
            receipt_id: copy.receipt_id.clone(),
            broadcast_station: Some(target.id_station.clone()),
        };
        core.record_delivery(&key, &outcome);
        reports.push(BroadcastReport {
            id_pa: target.id_pa,
            id_station: target.id_station,
            delivered: outcome.delivered,
            fault: outcome.fault,
        });
    }
    reports
}

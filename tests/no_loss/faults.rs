//! What the harness does to the platforms while the commands flow: fault windows through each
//! simulator's admin API (`/admin/faults`: slow answers, 5xx, dropped connections for a few seconds;
//! platform refusals for a few calls), and payments the pagoPA node simulator drives at the station
//! through the load balancer, whose receipts must each become one distinct event.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value, json};
use snodo_mappings::pagopa::NoticeNumber;
use tokio_util::sync::CancellationToken;

use super::Cluster;
use super::workloads::{Workload, transport_faults};

/// Counts of what was injected, for the printed figures.
#[derive(Default, Debug)]
pub struct Injected {
    pub windows: BTreeMap<String, u32>,
    pub payments_tried: u32,
    pub payments_passed: u32,
}

/// Fault windows until `stop`: each window faults one simulator for `window`, then a pause of the
/// same length. Platform refusals are added once per workload that has one, early in the run.
pub async fn inject(
    cluster: Arc<Cluster>,
    workloads: Arc<Vec<Box<dyn Workload>>>,
    window: Duration,
    injected: Arc<Mutex<Injected>>,
    stop: CancellationToken,
) {
    // Each simulator once, however many workloads reach it.
    let mut targets: Vec<&'static str> = Vec::new();
    for sim in workloads.iter().filter_map(|w| w.simulator()) {
        if !targets.contains(&sim) {
            targets.push(sim);
        }
    }
    for w in workloads.iter() {
        if let (Some(sim), Some(refusal)) = (w.simulator(), w.platform_error()) {
            let rule = json!({"times": refusal.times, "fault": refusal.fault});
            cluster.admin_post(sim, "/admin/faults", &rule).await;
            *injected
                .lock()
                .windows
                .entry(format!("{sim}: {}", refusal.label))
                .or_default() += 1;
        }
    }
    let kinds = transport_faults();
    let mut turn = 0usize;
    while !stop.is_cancelled() {
        let sim = targets[turn % targets.len()];
        let kind = &kinds[(turn / targets.len()) % kinds.len()];
        turn += 1;
        let added = cluster
            .admin_post(sim, "/admin/faults", &json!({"fault": kind.fault}))
            .await;
        let id = added["rules"][0]["id"].as_u64();
        *injected
            .lock()
            .windows
            .entry(format!("{sim}: {}", kind.label))
            .or_default() += 1;
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(window) => {}
        }
        if let Some(id) = id {
            cluster.admin_delete(sim, &format!("/admin/faults/{id}")).await;
        }
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(window) => {}
        }
    }
    for sim in targets {
        cluster.admin_delete(sim, "/admin/faults").await;
    }
}

/// Pays `count` notices through the node simulator, `parallel` at a time, paced over the run. The
/// backend answers them payable; whether each payment passes depends on the faults of the moment
/// (an instance killed, the broker away): the proof is about the receipts the node did deliver.
pub async fn drive_payments(
    cluster: Arc<Cluster>,
    count: u32,
    pace: Duration,
    injected: Arc<Mutex<Injected>>,
    stop: CancellationToken,
) {
    for i in 0..count {
        if stop.is_cancelled() {
            break;
        }
        let notice = NoticeNumber::aux3(1, 7_700_000_000 + u64::from(i))
            .expect("a valid notice number")
            .to_string();
        cluster.payable.lock().insert(notice.clone());
        let report = cluster
            .admin_post(
                "pagopa",
                "/admin/pagopa/scenarios",
                &json!({"scenario": "pay_notice", "notice_number": notice}),
            )
            .await;
        {
            let mut figures = injected.lock();
            figures.payments_tried += 1;
            if report["passed"] == true {
                figures.payments_passed += 1;
            }
        }
        tokio::time::sleep(pace).await;
    }
}

/// After the run: re-submits every receipt the node still holds (as PagoPA support would), until
/// each is delivered or `attempts` rounds pass; answers the receipts delivered and those not.
pub async fn settle_receipts(cluster: &Cluster, attempts: u32) -> (Vec<String>, Vec<Value>) {
    for _ in 0..attempts {
        let payments = payments(cluster).await;
        let pending: Vec<&Value> = payments
            .iter()
            .filter(|p| p["delivery"]["state"] != "sent")
            .collect();
        if pending.is_empty() {
            break;
        }
        for p in pending {
            let id = p["receipt_id"].as_str().unwrap_or_default();
            cluster
                .admin_post(
                    "pagopa",
                    &format!("/admin/pagopa/receipts/{id}/resend"),
                    &json!({}),
                )
                .await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let payments = payments(cluster).await;
    let (sent, not): (Vec<Value>, Vec<Value>) = payments
        .into_iter()
        .partition(|p| p["delivery"]["state"] == "sent");
    (
        sent.iter()
            .map(|p| p["receipt_id"].as_str().unwrap_or_default().to_owned())
            .collect(),
        not,
    )
}

async fn payments(cluster: &Cluster) -> Vec<Value> {
    cluster.admin_get("pagopa", "/admin/pagopa/payments").await["payments"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

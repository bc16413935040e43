//! The node simulator's own admin calls, under `/admin/pagopa/` beside the framework's (never faulted
//! nor recorded): the scenario runner that drives payments against the EC and reports every step,
//! the EC station the node calls, and views of what the node archived.
//!
//! | call | does |
//! |---|---|
//! | `POST /admin/pagopa/scenarios` | runs `{"scenario", "notice_number", "fiscal_code"?, "version"?: "v1"\|"v2", "idempotency_key"?}`: `pay_notice`, `pay_with_stand_in`, `pay_tari_tefa` (5 transfers, at least 2 beneficiaries), `duplicate_receipt` (the receipt sent twice); answers `{"scenario", "passed", "payment", "duplicate"?}` |
//! | `POST /admin/pagopa/demand` | `{"service_id", "service_subject_id", "service_data_xml", "then_pay"?, "version"?}`: a PSP's `demandPaymentNotice` → `paDemandPaymentNotice`, then (with `then_pay`) the new notice paid; answers the node's verdict, the notice and the payment |
//! | `GET /admin/pagopa/stamp-seller` | the PEM certificate the simulator signs @e.bollo stamps with |
//! | `GET` / `POST /admin/pagopa/broadcast` | the broadcast stations of other ECs (a list of stations as for `ec`); a receipt with a transfer to one of them is copied there |
//! | `GET` / `POST /admin/pagopa/ec` | the EC station the node calls (`url`, `id_pa`, `id_broker_pa`, `id_station`, `tls`) |
//! | `GET /admin/pagopa/payments` | the payments made, each receipt's delivery (`sent`, `pending` with `next_at` and `attempts`, `exhausted`) |
//! | `POST /admin/pagopa/receipts/{receipt_id}/resend` | re-submits one receipt now (what PagoPA support does for an exhausted one) |
//! | `GET /admin/pagopa/aca` | the positions ECs loaded with `paCreatePosition` |
//! | `GET` / `POST /admin/pagopa/flows` | the reporting flows; `POST` publishes one per beneficiary for every payment not yet reported |

// Handlers short-circuit with the finished error answer (`Err(Response)`); boxing it would only add
// noise to code that runs once per request.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::archive::DeliveryState;
use super::demand::{DemandRequest, demand};
use super::node::NodeCore;
use super::payment::{PayRequest, PaymentReport, StandIn, Version, pay};
use super::settings::EcTarget;
use super::stamp::seller_certificate_pem;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Scenario {
    PayNotice,
    PayWithStandIn,
    PayTariTefa,
    DuplicateReceipt,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioRequest {
    scenario: Scenario,
    notice_number: String,
    #[serde(default)]
    fiscal_code: Option<String>,
    #[serde(default)]
    version: Version,
    #[serde(default)]
    idempotency_key: Option<String>,
}

pub fn router(core: Arc<NodeCore>) -> Router {
    Router::new()
        .route("/admin/pagopa/scenarios", post(run_scenario))
        .route("/admin/pagopa/demand", post(run_demand))
        .route("/admin/pagopa/stamp-seller", get(stamp_seller))
        .route("/admin/pagopa/ec", get(get_ec).post(set_ec))
        .route("/admin/pagopa/broadcast", get(get_broadcast).post(set_broadcast))
        .route("/admin/pagopa/payments", get(payments))
        .route("/admin/pagopa/receipts/{receipt_id}/resend", post(resend))
        .route("/admin/pagopa/aca", get(aca))
        .route("/admin/pagopa/flows", get(flows).post(publish_flows))
        .with_state(core)
}

type Shared = State<Arc<NodeCore>>;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| error(StatusCode::BAD_REQUEST, format!("{what}: {e}")))
}

async fn run_scenario(State(core): Shared, body: Bytes) -> Response {
    let request: ScenarioRequest = match parse(&body, "scenario") {
        Ok(r) => r,
        Err(e) => return e,
    };
    let pay_request = PayRequest {
        notice_number: request.notice_number.clone(),
        fiscal_code: request.fiscal_code.clone(),
        version: request.version,
        idempotency_key: request.idempotency_key.clone(),
        stand_in: if request.scenario == Scenario::PayWithStandIn {
            StandIn::Always
        } else {
            StandIn::Auto
        },
    };
    let payment = pay(&core, &pay_request).await;
    let paid = payment.result == "paid";
    let (passed, duplicate) = match request.scenario {
        Scenario::PayNotice => (paid, None),
        Scenario::PayWithStandIn => (paid && payment.stand_in, None),
        Scenario::PayTariTefa => (
            paid && payment.transfers == Some(5) && beneficiaries(&core, &payment) >= 2,
            None,
        ),
        Scenario::DuplicateReceipt => {
            let receipt = payment.payment_token.as_ref().and_then(|token| {
                let archive = core.archive.lock();
                archive
                    .payments
                    .iter()
                    .find(|p| p.receipt.receipt_id == *token)
                    .map(|p| p.receipt.clone())
            });
            match receipt {
                Some(receipt) if paid => {
                    // The same receipt again, as a retry or a broadcast copy reaches the EC: it must
                    // be answered OK (or PAA_RECEIPT_DUPLICATA), never an error that makes it retried.
                    let again = core.send_receipt(&receipt).await;
                    let accepted = again.delivered
                        || again
                            .fault
                            .as_ref()
                            .and_then(|f| f.original_fault_code.as_deref())
                            == Some("PAA_RECEIPT_DUPLICATA");
                    (accepted, Some(again))
                }
                _ => (false, None),
            }
        }
    };
    let mut answer = json!({
        "scenario": request.scenario_name(),
        "passed": passed,
        "payment": payment,
    });
    if let Some(again) = duplicate {
        answer["duplicate"] = json!(again);
    }
    (StatusCode::OK, axum::Json(answer)).into_response()
}

async fn run_demand(State(core): Shared, body: Bytes) -> Response {
    let request: DemandRequest = match parse(&body, "demand") {
        Ok(r) => r,
        Err(e) => return e,
    };
    axum::Json(demand(&core, &request).await).into_response()
}

async fn stamp_seller() -> Response {
    match seller_certificate_pem() {
        Ok(pem) => (StatusCode::OK, [("content-type", "application/x-pem-file")], pem).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

impl ScenarioRequest {
    fn scenario_name(&self) -> &'static str {
        match self.scenario {
            Scenario::PayNotice => "pay_notice",
            Scenario::PayWithStandIn => "pay_with_stand_in",
            Scenario::PayTariTefa => "pay_tari_tefa",
            Scenario::DuplicateReceipt => "duplicate_receipt",
        }
    }
}

/// How many distinct ECs share the payment's transfers.
fn beneficiaries(core: &NodeCore, payment: &PaymentReport) -> usize {
    let Some(token) = &payment.payment_token else {
        return 0;
    };
    let archive = core.archive.lock();
    let Some(p) = archive.payments.iter().find(|p| p.receipt.receipt_id == *token) else {
        return 0;
    };
    let mut codes: Vec<&str> = p
        .receipt
        .transfers
        .iter()
        .map(|t| t.fiscal_code.as_str())
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes.len()
}

async fn get_ec(State(core): Shared) -> Response {
    axum::Json(describe(&core.ec())).into_response()
}

async fn set_ec(State(core): Shared, body: Bytes) -> Response {
    let ec: EcTarget = match parse(&body, "EC station") {
        Ok(ec) => ec,
        Err(e) => return e,
    };
    if !(ec.url.starts_with("https://") || ec.url.starts_with("http://")) {
        return error(StatusCode::BAD_REQUEST, "url must be an http or https URL");
    }
    core.set_ec(ec);
    get_ec(State(core)).await
}

fn describe(ec: &EcTarget) -> serde_json::Value {
    json!({
        "url": ec.url,
        "id_pa": ec.id_pa,
        "id_broker_pa": ec.id_broker_pa,
        "id_station": ec.id_station,
        "tls": format!("{:?}", ec.tls),
    })
}

async fn get_broadcast(State(core): Shared) -> Response {
    let stations: Vec<_> = core.settings.lock().broadcast.iter().map(describe).collect();
    axum::Json(json!({ "stations": stations })).into_response()
}

async fn set_broadcast(State(core): Shared, body: Bytes) -> Response {
    let stations: Vec<EcTarget> = match parse(&body, "broadcast stations") {
        Ok(s) => s,
        Err(e) => return e,
    };
    if let Some(bad) = stations
        .iter()
        .find(|s| !(s.url.starts_with("https://") || s.url.starts_with("http://")))
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("{}: url must be an http or https URL", bad.id_station),
        );
    }
    core.settings.lock().broadcast = stations;
    get_broadcast(State(core)).await
}

async fn payments(State(core): Shared) -> Response {
    let archive = core.archive.lock();
    let list: Vec<_> = archive
        .payments
        .iter()
        .map(|p| {
            json!({
                "receipt_id": p.receipt.receipt_id,
                "notice_number": p.receipt.notice_number,
                "fiscal_code": p.receipt.fiscal_code,
                "iuv": p.receipt.iuv,
                "amount_cents": p.receipt.amount_cents,
                "stand_in": p.receipt.stand_in,
                "paid_at": p.paid_at,
                "reported": p.reported,
                "delivery": p.delivery,
            })
        })
        .collect();
    let copies: Vec<_> = archive
        .broadcasts
        .iter()
        .map(|b| {
            json!({
                "receipt_id": b.receipt.receipt_id,
                "id_pa": b.receipt.id_pa,
                "id_station": b.receipt.id_station,
                "delivery": b.delivery,
            })
        })
        .collect();
    axum::Json(json!({ "payments": list, "broadcasts": copies })).into_response()
}

async fn resend(State(core): Shared, Path(receipt_id): Path<String>) -> Response {
    let receipt = {
        let archive = core.archive.lock();
        archive
            .payments
            .iter()
            .find(|p| p.receipt.receipt_id == receipt_id)
            .map(|p| (p.receipt.clone(), p.delivery.state.clone()))
    };
    let Some((receipt, state)) = receipt else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no payment has receipt {receipt_id}"),
        );
    };
    if state == DeliveryState::Sent {
        return error(
            StatusCode::CONFLICT,
            format!("receipt {receipt_id} was already delivered"),
        );
    }
    if state == DeliveryState::Exhausted
        && let Some(p) = core.archive.lock().payment_mut(&receipt_id)
    {
        // Support restarts the count: the next failure schedules a new round of retries.
        p.delivery.attempts = 0;
    }
    let outcome = core.send_receipt(&receipt).await;
    core.record_send(&receipt_id, &outcome);
    axum::Json(json!(outcome)).into_response()
}

async fn aca(State(core): Shared) -> Response {
    let archive = core.archive.lock();
    let list: Vec<_> = archive
        .aca
        .values()
        .map(|e| json!({ "nav": e.nav, "updated": e.updated, "position": e.position }))
        .collect();
    axum::Json(json!({ "positions": list })).into_response()
}

async fn flows(State(core): Shared) -> Response {
    let archive = core.archive.lock();
    let list: Vec<_> = archive
        .flows
        .iter()
        .map(|f| json!({ "psp_id": f.psp_id, "published": f.published, "flow": f.flow }))
        .collect();
    axum::Json(json!({ "flows": list })).into_response()
}

async fn publish_flows(State(core): Shared) -> Response {
    let psp = core.settings.lock().psp.clone();
    let now = core.clock.now();
    let published = core.archive.lock().publish_flows(&psp, now);
    axum::Json(json!({ "published": published })).into_response()
}

//! The node-side APIs an EC calls (pagopa.md §2.3, §2.5, §6), behind the subscription-key check
//! pagoPA's API gateway makes (`Ocp-Apim-Subscription-Key`, or the `subscription-key` query
//! parameter; a missing or wrong key is the gateway's 401):
//!
//! - ACA `POST /aca/paCreatePosition`: create or update a position in the central archive that
//!   Stand-In pays from; amount 0 cancels it.
//! - FdR REST `GET /fdr-org/service/v1/organizations/{cf}/fdrs` (`page`, `size`, `publishedGt`),
//!   `…/fdrs/{fdr}/revisions/{rev}/psps/{psp}` and `…/payments`: the flows generated from the
//!   payments this node made.
//! - SOAP `POST /nodo-auth/node-for-pa/v1`: the legacy `nodoChiediElencoFlussiRendicontazione` and
//!   `nodoChiediFlussoRendicontazione` over the same flows, with the station, broker and `password`
//!   checked as the node does.

// Handlers short-circuit with the finished error answer (`Err(Response)`); boxing it would only add
// noise to code that runs once per request.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use snodo_mappings::pagopa::contract::{
    AcaNewDebtPosition, FdrFlow, FdrFlowsPage, FdrPageMetadata, FdrPayment, FdrPaymentsPage,
    FdrPublishedFlow, FdrReceiver, FdrSender, PaymentOutcome, SenderKind,
};
use snodo_mappings::pagopa::{
    FlowRef, NodeFault, NodeForPaRequest, NodeRequestError, NoticeNumber, XsdDateTime, get_flow_answer,
    list_flows_answer, node_fault_answer, read_node_for_pa_request, write_flow,
};

use super::archive::{AcaEntry, PublishedFlow};
use super::node::NodeCore;
use super::soap::{client_fault, open_envelope, soap};

pub const ACA_PATH: &str = "/aca/paCreatePosition";
pub const FDR_BASE: &str = "/fdr-org/service/v1";
pub const NODE_FOR_PA_PATH: &str = "/nodo-auth/node-for-pa/v1";
const KEY_HEADER: &str = "Ocp-Apim-Subscription-Key";

pub fn router(core: Arc<NodeCore>) -> Router {
    Router::new()
        .route(ACA_PATH, post(create_position))
        .route(&format!("{FDR_BASE}/organizations/{{org}}/fdrs"), get(list_fdrs))
        .route(
            &format!("{FDR_BASE}/organizations/{{org}}/fdrs/{{fdr}}/revisions/{{rev}}/psps/{{psp}}"),
            get(get_fdr),
        )
        .route(
            &format!("{FDR_BASE}/organizations/{{org}}/fdrs/{{fdr}}/revisions/{{rev}}/psps/{{psp}}/payments"),
            get(get_fdr_payments),
        )
        .route(NODE_FOR_PA_PATH, post(node_for_pa))
        .with_state(core)
}

type Shared = State<Arc<NodeCore>>;

/// API Management's answer when the key is missing or not one the node issued.
pub(super) fn key_check(
    core: &NodeCore,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<(), Response> {
    let presented = headers
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query.get("subscription-key").cloned());
    let message = match presented {
        None => {
            "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."
        }
        Some(key) if core.settings.lock().subscription_keys.contains(&key) => return Ok(()),
        Some(_) => {
            "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."
        }
    };
    Err((
        StatusCode::UNAUTHORIZED,
        axum::Json(serde_json::json!({ "statusCode": 401, "message": message })),
    )
        .into_response())
}

fn problem(status: StatusCode, detail: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({
            "title": status.canonical_reason().unwrap_or("error"),
            "status": status.as_u16(),
            "detail": detail.into(),
        })),
    )
        .into_response()
}

async fn create_position(
    State(core): Shared,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Err(denied) = key_check(&core, &headers, &query) {
        return denied;
    }
    let position: AcaNewDebtPosition = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                format!("not a NewDebtPositionRequest: {e}"),
            );
        }
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(&position.pa_fiscal_code, 11) {
        return problem(StatusCode::BAD_REQUEST, "paFiscalCode must be 11 digits");
    }
    if position.iuv.is_empty() || position.iuv.len() > 35 {
        return problem(StatusCode::BAD_REQUEST, "iuv must be 1 to 35 characters");
    }
    if chrono::DateTime::parse_from_rfc3339(&position.expiration_date).is_err() {
        return problem(
            StatusCode::BAD_REQUEST,
            "expirationDate must be an RFC 3339 date-time",
        );
    }
    if position.amount > 0 && position.iban.is_none() && position.postal_iban.is_none() {
        return problem(
            StatusCode::BAD_REQUEST,
            "a payable position needs iban or postalIban",
        );
    }
    // ACA's default notice number: aux digit 3 followed by the IUV.
    let nav = position
        .nav
        .clone()
        .unwrap_or_else(|| format!("3{}", position.iuv));
    if NoticeNumber::parse(&nav).is_err() {
        return problem(
            StatusCode::BAD_REQUEST,
            "nav must be 18 digits (or iuv 17 digits without nav)",
        );
    }
    let now = core.clock.now();
    let key = (position.pa_fiscal_code.clone(), nav.clone());
    core.archive.lock().aca.insert(
        key,
        AcaEntry {
            position,
            nav: nav.clone(),
            updated: now,
        },
    );
    (StatusCode::OK, axum::Json(serde_json::json!({ "nav": nav }))).into_response()
}

fn page_of(query: &HashMap<String, String>) -> Result<(usize, usize), Response> {
    let number = |name: &str, default: usize| match query.get(name) {
        None => Ok(default),
        Some(v) => v.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            problem(
                StatusCode::BAD_REQUEST,
                format!("{name} must be a positive integer"),
            )
        }),
    };
    Ok((number("page", 1)?, number("size", 1000)?))
}

fn metadata(page: usize, size: usize, total: usize) -> FdrPageMetadata {
    FdrPageMetadata {
        page_size: size as u32,
        page_number: page as u32,
        tot_page: total.div_ceil(size).max(1) as u32,
    }
}

fn euro(cents: u64) -> f64 {
    cents as f64 / 100.0
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn list_fdrs(
    State(core): Shared,
    Path(org): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(denied) = key_check(&core, &headers, &query) {
        return denied;
    }
    let (page, size) = match page_of(&query) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let after = match query.get("publishedGt") {
        None => None,
        Some(t) => match chrono::DateTime::parse_from_rfc3339(t) {
            Ok(t) => Some(t.with_timezone(&chrono::Utc)),
            Err(_) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "publishedGt must be an RFC 3339 date-time",
                );
            }
        },
    };
    let archive = core.archive.lock();
    let flows: Vec<&PublishedFlow> = archive
        .flows
        .iter()
        .filter(|f| f.flow.receiver_id == org && after.is_none_or(|a| f.published > a))
        .collect();
    let data = flows
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|f| FdrPublishedFlow {
            fdr: f.flow.flow_id.clone(),
            psp_id: f.psp_id.clone(),
            revision: f.flow.revision.unwrap_or(1),
            published: rfc3339(f.published),
            flow_date: Some(f.flow.flow_date_time.clone()),
        })
        .collect();
    axum::Json(FdrFlowsPage {
        metadata: metadata(page, size, flows.len()),
        count: flows.len() as u64,
        data,
    })
    .into_response()
}

/// The flow `fdr` revision `rev` of `psp` for `org`, or the API's 404.
fn find_flow<'a>(
    flows: &'a [PublishedFlow],
    org: &str,
    fdr: &str,
    rev: &str,
    psp: &str,
) -> Result<&'a PublishedFlow, Response> {
    flows
        .iter()
        .find(|f| {
            f.flow.receiver_id == org
                && f.flow.flow_id == fdr
                && f.psp_id == psp
                && f.flow.revision.unwrap_or(1).to_string() == rev
        })
        .ok_or_else(|| {
            problem(
                StatusCode::NOT_FOUND,
                format!("no flow {fdr} revision {rev} of PSP {psp} for {org}"),
            )
        })
}

type FlowPath = Path<(String, String, String, String)>;

async fn get_fdr(
    State(core): Shared,
    Path((org, fdr, rev, psp)): FlowPath,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(denied) = key_check(&core, &headers, &query) {
        return denied;
    }
    let settings_psp = core.settings.lock().psp.clone();
    let archive = core.archive.lock();
    let f = match find_flow(&archive.flows, &org, &fdr, &rev, &psp) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let flow = &f.flow;
    axum::Json(FdrFlow {
        fdr: flow.flow_id.clone(),
        revision: flow.revision.unwrap_or(1),
        fdr_date: flow.flow_date_time.clone(),
        regulation: flow.regulation_id.clone(),
        regulation_date: flow.regulation_date.clone(),
        bic_code_pouring_bank: flow.bic_pouring_bank.clone(),
        sender: FdrSender {
            kind: match flow.sender.kind {
                SenderKind::LegalPerson => "LEGAL_PERSON",
                SenderKind::AbiCode => "ABI_CODE",
                SenderKind::BicCode => "BIC_CODE",
            }
            .into(),
            id: flow.sender.id.clone(),
            psp_id: f.psp_id.clone(),
            psp_name: settings_psp.company_name,
            psp_broker_id: settings_psp.broker_id,
            channel_id: settings_psp.channel_id,
        },
        receiver: FdrReceiver {
            id: flow.receiver_id.clone(),
            organization_id: flow.receiver_id.clone(),
            organization_name: flow
                .receiver_name
                .clone()
                .unwrap_or_else(|| flow.receiver_id.clone()),
        },
        published: Some(rfc3339(f.published)),
        tot_payments: flow.total_payments,
        sum_payments: euro(flow.total_amount_cents),
    })
    .into_response()
}

async fn get_fdr_payments(
    State(core): Shared,
    Path((org, fdr, rev, psp)): FlowPath,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(denied) = key_check(&core, &headers, &query) {
        return denied;
    }
    let (page, size) = match page_of(&query) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let archive = core.archive.lock();
    let f = match find_flow(&archive.flows, &org, &fdr, &rev, &psp) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let all = &f.flow.payments;
    let data = all
        .iter()
        .enumerate()
        .skip((page - 1) * size)
        .take(size)
        .map(|(i, p)| FdrPayment {
            index: i as u64 + 1,
            iuv: p.iuv.clone(),
            iur: p.iur.clone(),
            id_transfer: p.transfer_index.unwrap_or(1),
            pay: euro(p.amount_cents),
            pay_status: match p.outcome {
                PaymentOutcome::StandIn => "STAND_IN",
                PaymentOutcome::StandInNoRpt => "STAND_IN_NO_RPT",
                PaymentOutcome::NoRpt => "NO_RPT",
                PaymentOutcome::Executed | PaymentOutcome::Revoked => "EXECUTED",
            }
            .into(),
            pay_date: p.date.clone(),
        })
        .collect();
    axum::Json(FdrPaymentsPage {
        metadata: metadata(page, size, all.len()),
        count: all.len() as u64,
        data,
    })
    .into_response()
}

/// The node's `ctRisposta` fault.
fn ppt(element: &str, code: &str, string: &str, description: Option<String>) -> Response {
    let fault = NodeFault {
        fault_code: code.into(),
        fault_string: string.into(),
        id: "NodoDeiPagamentiSPC".into(),
        description,
    };
    soap(StatusCode::OK, node_fault_answer(element, &fault))
}

async fn node_for_pa(
    State(core): Shared,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let envelope = match open_envelope(&core, &headers, &query, &body) {
        Ok(e) => e,
        Err(refused) => return refused,
    };
    let request = match read_node_for_pa_request(&envelope) {
        Ok(r) => r,
        Err(NodeRequestError::UnknownOperation(name)) => {
            return client_fault(format!("no nodeForPa operation takes {name}"));
        }
        Err(NodeRequestError::Syntax(e)) => {
            let local = envelope.payload_name().local_name().to_owned();
            return ppt(
                &format!("{local}Risposta"),
                "PPT_SINTASSI_XSD",
                "Errore di sintassi XSD",
                Some(e.to_string()),
            );
        }
    };
    let element = request.answer_element();
    let caller = request.caller();
    let (ec, password, psp) = {
        let s = core.settings.lock();
        (s.ec.clone(), s.legacy_password.clone(), s.psp.clone())
    };
    if caller.broker_id != ec.id_broker_pa {
        return ppt(
            element,
            "PPT_INTERMEDIARIO_PA_SCONOSCIUTO",
            "Identificativo intermediario PA sconosciuto",
            None,
        );
    }
    if caller.station_id != ec.id_station {
        return ppt(
            element,
            "PPT_STAZIONE_INT_PA_SCONOSCIUTA",
            "Identificativo stazione PA sconosciuto",
            None,
        );
    }
    if caller.password != password {
        return ppt(element, "PPT_AUTENTICAZIONE", "Errore di autenticazione", None);
    }
    let domain = caller.domain_id.clone().unwrap_or_else(|| ec.id_pa.clone());
    let archive = core.archive.lock();
    let known_domain = domain == ec.id_pa || archive.flows.iter().any(|f| f.flow.receiver_id == domain);
    if !known_domain {
        return ppt(
            element,
            "PPT_DOMINIO_SCONOSCIUTO",
            "Identificativo dominio sconosciuto",
            None,
        );
    }
    let mine = |f: &&PublishedFlow| {
        f.flow.receiver_id == domain && caller.psp_id.as_ref().is_none_or(|p| *p == f.psp_id)
    };
    match &request {
        NodeForPaRequest::ListFlows(_) => {
            let flows: Vec<FlowRef> = archive
                .flows
                .iter()
                .filter(mine)
                .filter_map(|f| {
                    Some(FlowRef {
                        flow_id: f.flow.flow_id.clone(),
                        date_time: XsdDateTime::parse(&f.flow.flow_date_time)?,
                    })
                })
                .collect();
            soap(StatusCode::OK, list_flows_answer(&flows))
        }
        NodeForPaRequest::GetFlow { flow_id, .. } => {
            let Some(f) = archive
                .flows
                .iter()
                .filter(mine)
                .find(|f| f.flow.flow_id == *flow_id)
            else {
                return ppt(
                    element,
                    "PPT_ID_FLUSSO_SCONOSCIUTO",
                    "Identificativo flusso sconosciuto",
                    None,
                );
            };
            match write_flow(&f.flow) {
                Ok(xml) => soap(StatusCode::OK, get_flow_answer(&xml)),
                Err(e) => ppt(
                    element,
                    "PPT_SYSTEM_ERROR",
                    "Errore generico",
                    Some(format!("the flow of {} cannot be written: {e}", psp.id)),
                ),
            }
        }
    }
}

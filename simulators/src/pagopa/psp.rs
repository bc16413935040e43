//! The node's SOAP service for PSPs, `POST /nodo-auth/node-for-psp/v1` (`nodeForPsp`, pagopa.md
//! §2.4): what a PSP (or a test playing one) calls to pay a notice, each primitive driving the EC's
//! as the real node does —
//!
//! - `verifyPaymentNotice` → `paVerifyPaymentNotice` (or, the EC silent, the ACA position in
//!   Stand-In, `standin=true`);
//! - `activatePaymentNotice[V2]` → `paGetPayment[V2]`, handing out the payment token (idempotent
//!   per `idempotencyKey`, `PPT_PAGAMENTO_IN_CORSO` while another activation lives);
//! - `sendPaymentOutcome[V2]` OK → the receipt by `paSendRT[V2]` to the EC (queued and re-sent
//!   hourly when it fails) and its broadcast copies; KO releases the notice.
//!
//! Behind the API gateway's subscription key, like the EC-facing APIs; every request is validated
//! against `nodeForPsp.xsd` (`PPT_SINTASSI_XSD`), then the PSP, its broker, channel and password are
//! checked against the PSP the simulator plays. Errors are HTTP 200 with `outcome` KO and the node's
//! fault bean (the EC's code as `originalFaultCode` when it was the EC's KO).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use snodo_mappings::pagopa::{
    NODE_FOR_PSP_NAMESPACE, PaymentData, PspFault, PspOperation, PspRequest, PspRequestError, QrCode,
    RequestHeader, VerifyAnswer, activate_psp_ok, psp_ko, psp_ok, read_psp_request, verify_psp_ok,
};
use snodo_mappings::soap::{Envelope, QName};
use snodo_security::schema::Schema;

use super::judge::{self, IRRAGGIUNGIBILE, PptFault, TIMEOUT};
use super::node::NodeCore;
use super::payment::{ActivationRequest, StandIn, Version, activate, call_verify, release, settle};
use super::soap::{client_fault, open_envelope, soap};
use super::standin;

pub const NODE_FOR_PSP_PATH: &str = "/nodo-auth/node-for-psp/v1";

pub fn router(core: Arc<NodeCore>) -> Router {
    Router::new()
        .route(NODE_FOR_PSP_PATH, post(node_for_psp))
        .with_state(core)
}

/// The node's fault to the PSP, from its verdict.
pub fn to_psp_fault(fault: &PptFault) -> PspFault {
    PspFault {
        fault_code: fault.fault_code.to_owned(),
        fault_string: fault
            .original_fault_string
            .clone()
            .unwrap_or_else(|| fault.fault_code.to_owned()),
        description: Some(fault.description.clone()),
        original_fault_code: fault.original_fault_code.clone(),
        original_fault_string: fault.original_fault_string.clone(),
    }
}

fn ko(operation: PspOperation, code: &'static str, description: impl Into<String>) -> Response {
    soap(
        StatusCode::OK,
        psp_ko(operation, &to_psp_fault(&PptFault::new(code, description))),
    )
}

/// `nodeForPsp.xsd`, compiled once from the node's specs directory.
fn schema(core: &NodeCore) -> Result<&'static Schema, String> {
    static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let path = core.settings.lock().specs_dir.join("wsdl/xsd/nodeForPsp.xsd");
            Schema::compile(&path).map_err(|e| format!("{} does not compile: {e}", path.display()))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The operation a payload asks for, by its expanded name.
fn operation_of(envelope: &Envelope) -> Option<PspOperation> {
    let name = envelope.payload_name();
    PspOperation::ALL
        .into_iter()
        .find(|op| name == QName::new(NODE_FOR_PSP_NAMESPACE, op.request_element()))
}

async fn node_for_psp(
    State(core): State<Arc<NodeCore>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let envelope = match open_envelope(&core, &headers, &query, &body) {
        Ok(e) => e,
        Err(refused) => return refused,
    };
    let Some(operation) = operation_of(&envelope) else {
        return client_fault(format!(
            "no nodeForPsp operation the simulator serves takes {}",
            envelope.payload_name()
        ));
    };
    let schema = match schema(&core) {
        Ok(s) => s,
        Err(e) => return ko(operation, judge::SYSTEM_ERROR, e),
    };
    if let Err(e) = schema.validate_element(envelope.document(), envelope.payload()) {
        return ko(operation, "PPT_SINTASSI_XSD", e.to_string());
    }
    let request = match read_psp_request(&envelope) {
        Ok(r) => r,
        Err(PspRequestError::UnknownOperation(name)) => return client_fault(format!("{name}")),
        Err(PspRequestError::Syntax { error, .. }) => {
            return ko(operation, "PPT_SINTASSI_EXTRAXSD", error.to_string());
        }
    };
    let psp = core.settings.lock().psp.clone();
    let caller = request.caller();
    let refusal = if caller.id_psp != psp.id {
        Some(("PPT_PSP_SCONOSCIUTO", "idPSP is not a PSP of this node"))
    } else if caller.id_broker_psp != psp.broker_id {
        Some((
            "PPT_INTERMEDIARIO_PSP_SCONOSCIUTO",
            "idBrokerPSP is not the PSP's broker",
        ))
    } else if caller.id_channel != psp.channel_id {
        Some(("PPT_CANALE_SCONOSCIUTO", "idChannel is not the PSP's channel"))
    } else if caller.password != psp.password {
        Some(("PPT_AUTENTICAZIONE", "wrong password for the channel"))
    } else {
        None
    };
    if let Some((code, why)) = refusal {
        return ko(operation, code, why);
    }
    let answer = match &request {
        PspRequest::Verify { qr_code, .. } => verify(&core, qr_code).await,
        PspRequest::Activate {
            v2,
            idempotency_key,
            qr_code,
            amount,
            ..
        } => {
            activation(
                &core,
                operation,
                qr_code,
                if *v2 { Version::V2 } else { Version::V1 },
                idempotency_key.as_deref(),
                *amount,
            )
            .await
        }
        PspRequest::SendOutcome {
            payment_tokens, paid, ..
        } => outcome(&core, payment_tokens, *paid)
            .await
            .map(|()| psp_ok(operation)),
    };
    match answer {
        Ok(body) => soap(StatusCode::OK, body),
        Err(fault) => soap(StatusCode::OK, psp_ko(operation, &to_psp_fault(&fault))),
    }
}

fn unavailable(fault: &PptFault) -> bool {
    fault.fault_code == TIMEOUT || fault.fault_code == IRRAGGIUNGIBILE
}

/// The notice must be the configured EC's, and not already paid at the node.
fn check_notice(core: &NodeCore, qr_code: &QrCode) -> Result<(), PptFault> {
    if qr_code.fiscal_code != core.ec().id_pa {
        return Err(PptFault::new(
            "PPT_DOMINIO_SCONOSCIUTO",
            "no station of this node serves the notice's EC",
        ));
    }
    if core
        .archive
        .lock()
        .paid(&qr_code.fiscal_code, &qr_code.notice_number)
        .is_some()
    {
        return Err(PptFault::new(
            judge::PAGAMENTO_DUPLICATO,
            "the node already holds a receipt for this notice",
        ));
    }
    Ok(())
}

async fn verify(core: &Arc<NodeCore>, qr_code: &QrCode) -> Result<String, PptFault> {
    check_notice(core, qr_code)?;
    let ec = core.ec();
    let header = RequestHeader {
        id_pa: ec.id_pa.clone(),
        id_broker_pa: ec.id_broker_pa.clone(),
        id_station: ec.id_station.clone(),
    };
    match call_verify(core, &header, qr_code).await {
        Ok(answer) => Ok(verify_psp_ok(&answer, false)),
        Err(fault) if unavailable(&fault) => {
            // Stand-In: ACA answers for the silent EC, or the EC's silence is the answer.
            let data =
                standin::position(core, &qr_code.fiscal_code, &qr_code.notice_number).map_err(|_| fault)?;
            Ok(verify_psp_ok(&stand_in_answer(&qr_code.fiscal_code, &data), true))
        }
        Err(fault) => Err(fault),
    }
}

/// What verify tells the PSP of an ACA position.
fn stand_in_answer(fiscal_code: &str, data: &PaymentData) -> VerifyAnswer {
    VerifyAnswer {
        amount: data.amount,
        options: "EQ".into(),
        due_date: Some(data.due_date),
        detail_description: None,
        all_ccp: false,
        payment_description: data.description.clone(),
        fiscal_code_pa: fiscal_code.to_owned(),
        company_name: data
            .company_name
            .clone()
            .unwrap_or_else(|| format!("Ente creditore {fiscal_code}")),
        office_name: data.office_name.clone(),
    }
}

async fn activation(
    core: &Arc<NodeCore>,
    operation: PspOperation,
    qr_code: &QrCode,
    version: Version,
    idempotency_key: Option<&str>,
    amount: snodo_mappings::pagopa::Amount,
) -> Result<String, PptFault> {
    check_notice(core, qr_code)?;
    let granted = activate(
        core,
        &ActivationRequest {
            fiscal_code: &qr_code.fiscal_code,
            notice_number: &qr_code.notice_number,
            version,
            idempotency_key,
            amount: Some(amount),
            stand_in: false,
            mode: StandIn::Auto,
        },
    )
    .await
    .map_err(|refused| refused.fault)?;
    let company_name = granted
        .data
        .company_name
        .clone()
        .unwrap_or_else(|| format!("Ente creditore {}", qr_code.fiscal_code));
    Ok(activate_psp_ok(
        operation,
        &granted.data,
        &qr_code.fiscal_code,
        &company_name,
        &granted.token,
        granted.stand_in,
    ))
}

/// Closes every token: paid (receipt sent or queued — the PSP's answer does not wait on the EC), or
/// released.
async fn outcome(core: &Arc<NodeCore>, tokens: &[String], paid: bool) -> Result<(), PptFault> {
    for token in tokens {
        if paid {
            settle(core, token).await?;
        } else {
            release(core, token)?;
        }
    }
    Ok(())
}

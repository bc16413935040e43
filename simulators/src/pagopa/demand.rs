//! `demandPaymentNotice` (pagoPA "modello 4", pagopa.md §2.4): a citizen asks a PSP for a new notice
//! for one of the EC's catalogue services; the node calls `paDemandPaymentNotice` on the station with
//! the service's data (an XML document per the service's catalogue XSD, sent base64), judges the
//! answer as it judges verify's (`paForNode.xsd`, one payment option, KO with a complete fault), and
//! gives the PSP the new notice — which the PSP then pays like any other (`then_pay`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use snodo_mappings::pagopa::{DemandPaymentRequest, Operation, RequestHeader, read_demand_answer};

use super::judge::{PptFault, SYSTEM_ERROR};
use super::node::NodeCore;
use super::payment::{PayRequest, PaymentReport, StandIn, Version, pay};

/// What the PSP asks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandRequest {
    /// `idServizio`, 5 characters (e.g. `00001`).
    pub service_id: String,
    /// `idSoggettoServizio`, 5 characters.
    pub service_subject_id: String,
    /// The service's data: an XML document per its catalogue XSD.
    pub service_data_xml: String,
    /// Pay the new notice at once (verify, activation, receipt).
    #[serde(default)]
    pub then_pay: bool,
    #[serde(default)]
    pub version: Version,
}

/// How it went, as the PSP sees it.
#[derive(Debug, Clone, Serialize)]
pub struct DemandReport {
    /// `OK`, or the node's fault code.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<PptFault>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fiscal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_cents: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentReport>,
}

impl DemandReport {
    fn failed(fault: PptFault) -> DemandReport {
        DemandReport {
            outcome: fault.fault_code.to_owned(),
            fault: Some(fault),
            notice_number: None,
            fiscal_code: None,
            amount_cents: None,
            description: None,
            payment: None,
        }
    }
}

/// Asks the station for a new notice, and pays it when asked to.
pub async fn demand(core: &Arc<NodeCore>, request: &DemandRequest) -> DemandReport {
    let ec = core.ec();
    let call = DemandPaymentRequest {
        header: RequestHeader {
            id_pa: ec.id_pa.clone(),
            id_broker_pa: ec.id_broker_pa.clone(),
            id_station: ec.id_station.clone(),
        },
        service_id: request.service_id.clone(),
        service_subject_id: request.service_subject_id.clone(),
        service_data_xml: request.service_data_xml.clone(),
    };
    let envelope = match call.to_envelope() {
        Ok(e) => e,
        // What the PSP sent breaks nodeForPsp's own limits: the node refuses it without a call.
        Err(e) => return DemandReport::failed(PptFault::new("PPT_SINTASSI_EXTRAXSD", e.to_string())),
    };
    let client = match core.client() {
        Ok(c) => c,
        Err(fault) => return DemandReport::failed(fault),
    };
    let limit = core.settings.lock().timeouts.verify;
    let outcome = client
        .call(
            &core.clock,
            Operation::DemandPaymentNotice.name(),
            envelope,
            limit,
        )
        .await;
    let answer = match core.judge.judge(outcome, read_demand_answer) {
        Ok(a) => a,
        Err(fault) => return DemandReport::failed(fault),
    };
    if answer.qr_code.fiscal_code != ec.id_pa {
        return DemandReport::failed(PptFault::new(
            SYSTEM_ERROR,
            "the station created a notice of another EC",
        ));
    }
    let payment = if request.then_pay {
        let pay_request = PayRequest {
            notice_number: answer.qr_code.notice_number.clone(),
            fiscal_code: Some(answer.qr_code.fiscal_code.clone()),
            version: request.version,
            idempotency_key: None,
            stand_in: StandIn::Never,
        };
        Some(pay(core, &pay_request).await)
    } else {
        None
    };
    DemandReport {
        outcome: "OK".into(),
        fault: None,
        notice_number: Some(answer.qr_code.notice_number),
        fiscal_code: Some(answer.qr_code.fiscal_code),
        amount_cents: Some(answer.option.amount.cents()),
        description: Some(answer.option.payment_description),
        payment,
    }
}

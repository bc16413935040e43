//! The node's side of the legacy reporting primitives (`nodeForPa`): reading an EC's
//! `nodoChiediElencoFlussiRendicontazione` / `nodoChiediFlussoRendicontazione`, answering them, and
//! writing the `FlussoRiversamento` document a flow is (SACI "Flusso di Rendicontazione"). The EC
//! side of the same exchange is [`super::reporting`]; the node simulator serves these, and what is
//! written here is read back there in the tests and validated against `nodeForPa.xsd` and
//! `FlussoRiversamento_1_0_4.xsd`.

use base64::Engine as _;

use super::contract::{ContractError, PaymentOutcome, ReportingFlow, SenderKind};
use super::reporting::{FlowCaller, FlowRef, NodeFault};
use super::simple::{Amount, XsdDate, XsdDateTime, xsd_length};
use super::xml::{Node, SyntaxError, XmlOut};
use super::{FLOW_NAMESPACE, NODE_FOR_PA_NAMESPACE};
use crate::soap::{Envelope, EnvelopeBuilder, QName};

const PREFIX: &str = "nodo";
const LIST: &str = "nodoChiediElencoFlussiRendicontazione";
const GET: &str = "nodoChiediFlussoRendicontazione";
const FLOW_PREFIX: &str = "pay_i";

/// A reporting request from an EC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeForPaRequest {
    ListFlows(FlowCaller),
    GetFlow { caller: FlowCaller, flow_id: String },
}

impl NodeForPaRequest {
    pub fn caller(&self) -> &FlowCaller {
        match self {
            NodeForPaRequest::ListFlows(caller) | NodeForPaRequest::GetFlow { caller, .. } => caller,
        }
    }

    /// The answer's element name (`…Risposta`).
    pub fn answer_element(&self) -> &'static str {
        match self {
            NodeForPaRequest::ListFlows(_) => "nodoChiediElencoFlussiRendicontazioneRisposta",
            NodeForPaRequest::GetFlow { .. } => "nodoChiediFlussoRendicontazioneRisposta",
        }
    }
}

/// Why a `nodeForPa` request could not be read: the node answers `PPT_SINTASSI_XSD` (or, for an
/// element it has no operation for, a SOAP Client fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeRequestError {
    #[error("no nodeForPa reporting operation takes {0}")]
    UnknownOperation(QName),
    #[error("the request breaks nodeForPa.xsd: {0}")]
    Syntax(#[from] SyntaxError),
}

/// Reads a reporting request: dispatch on the payload's expanded name, then its XSD sequence.
pub fn read_node_for_pa_request(envelope: &Envelope) -> Result<NodeForPaRequest, NodeRequestError> {
    let name = envelope.payload_name();
    let list = name == QName::new(NODE_FOR_PA_NAMESPACE, LIST);
    if !list && name != QName::new(NODE_FOR_PA_NAMESPACE, GET) {
        return Err(NodeRequestError::UnknownOperation(name));
    }
    let root = Node::root(envelope.document(), envelope.payload())?;
    let mut c = root.children()?;
    let caller = FlowCaller {
        broker_id: c.required("identificativoIntermediarioPA")?.string(1, 35)?,
        station_id: c
            .required("identificativoStazioneIntermediarioPA")?
            .string(1, 35)?,
        password: c.required("password")?.string(8, 15)?,
        domain_id: c
            .optional("identificativoDominio")?
            .map(|n| n.string(1, 35))
            .transpose()?,
        psp_id: c
            .optional("identificativoPSP")?
            .map(|n| n.string(1, 35))
            .transpose()?,
    };
    let request = if list {
        NodeForPaRequest::ListFlows(caller)
    } else {
        let flow_id = c.required("identificativoFlusso")?.any_string()?;
        NodeForPaRequest::GetFlow { caller, flow_id }
    };
    c.end()?;
    Ok(request)
}

fn answer(element: &str, body: impl FnOnce(&mut XmlOut)) -> String {
    let mut out = XmlOut::root(PREFIX, NODE_FOR_PA_NAMESPACE, element);
    body(&mut out);
    EnvelopeBuilder::new().body(&out.finish())
}

/// The `nodoChiediElencoFlussiRendicontazioneRisposta` listing `flows`.
pub fn list_flows_answer(flows: &[FlowRef]) -> String {
    answer("nodoChiediElencoFlussiRendicontazioneRisposta", |out| {
        out.open("elencoFlussiRendicontazione")
            .leaf("totRestituiti", flows.len());
        for flow in flows {
            out.open("idRendicontazione")
                .leaf("identificativoFlusso", &flow.flow_id)
                .leaf("dataOraFlusso", &flow.date_time)
                .close("idRendicontazione");
        }
        out.close("elencoFlussiRendicontazione");
    })
}

/// The `nodoChiediFlussoRendicontazioneRisposta` carrying the `FlussoRiversamento` document.
pub fn get_flow_answer(flow_xml: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(flow_xml.as_bytes());
    answer("nodoChiediFlussoRendicontazioneRisposta", |out| {
        out.leaf("xmlRendicontazione", encoded);
    })
}

/// A `ctRisposta` holding only `fault` (the node's `PPT_*` codes), for `element`.
pub fn node_fault_answer(element: &str, fault: &NodeFault) -> String {
    answer(element, |out| {
        out.open("fault")
            .leaf("faultCode", &fault.fault_code)
            .leaf("faultString", &fault.fault_string)
            .leaf("id", &fault.id)
            .opt_leaf("description", fault.description.as_deref())
            .close("fault");
    })
}

/// The `FlussoRiversamento` document (version 1.0) of `flow`. Stand-In outcomes have no code in
/// `FlussoRiversamento_1_0_4` (4 and 8 exist only on the develop branch's schema): they are written
/// as `0`, executed, which is what they are to the EC reconciling the flow.
pub fn write_flow(flow: &ReportingFlow) -> Result<String, ContractError> {
    let text = |field: &str, value: &str, min: usize, max: usize| {
        let n = xsd_length(value);
        if n < min || n > max {
            return Err(ContractError::new(
                field,
                format!("must be {min} to {max} characters"),
            ));
        }
        Ok(())
    };
    let flow_id_ok = (1..=35).contains(&flow.flow_id.len())
        && flow
            .flow_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !flow_id_ok {
        return Err(ContractError::new("flow_id", "must be 1 to 35 of [a-zA-Z0-9-_]"));
    }
    let date_time = XsdDateTime::parse(&flow.flow_date_time)
        .ok_or_else(|| ContractError::new("flow_date_time", "must be an xsd:dateTime"))?;
    let regulation_date = XsdDate::parse(&flow.regulation_date)
        .ok_or_else(|| ContractError::new("regulation_date", "must be an xsd:date"))?;
    text("regulation_id", &flow.regulation_id, 1, 35)?;
    text("sender.id", &flow.sender.id, 1, 35)?;
    if let Some(name) = &flow.sender.name {
        text("sender.name", name, 3, 70)?;
    }
    text("receiver_id", &flow.receiver_id, 1, 35)?;
    if let Some(name) = &flow.receiver_name {
        text("receiver_name", name, 1, 140)?;
    }
    if flow.payments.is_empty() || flow.payments.len() as u64 != flow.total_payments {
        return Err(ContractError::new(
            "payments",
            "must list total_payments payments, at least one",
        ));
    }
    let sum: u64 = flow.payments.iter().map(|p| p.amount_cents).sum();
    if sum != flow.total_amount_cents {
        return Err(ContractError::new(
            "total_amount_cents",
            format!("is not the sum of the payments, {sum} cents"),
        ));
    }
    let amount = |field: &str, cents: u64| {
        Amount::from_cents(cents).ok_or_else(|| ContractError::new(field, "amount out of range"))
    };
    let q = |local: &str| format!("{FLOW_PREFIX}:{local}");
    let mut out = XmlOut::root(FLOW_PREFIX, FLOW_NAMESPACE, "FlussoRiversamento");
    out.leaf(&q("versioneOggetto"), "1.0")
        .leaf(&q("identificativoFlusso"), &flow.flow_id)
        .leaf(&q("dataOraFlusso"), date_time)
        .leaf(&q("identificativoUnivocoRegolamento"), &flow.regulation_id)
        .leaf(&q("dataRegolamento"), regulation_date)
        .open(&q("istitutoMittente"))
        .open(&q("identificativoUnivocoMittente"))
        .leaf(
            &q("tipoIdentificativoUnivoco"),
            match flow.sender.kind {
                SenderKind::LegalPerson => "G",
                SenderKind::AbiCode => "A",
                SenderKind::BicCode => "B",
            },
        )
        .leaf(&q("codiceIdentificativoUnivoco"), &flow.sender.id)
        .close(&q("identificativoUnivocoMittente"))
        .opt_leaf(&q("denominazioneMittente"), flow.sender.name.as_deref())
        .close(&q("istitutoMittente"))
        .opt_leaf(
            &q("codiceBicBancaDiRiversamento"),
            flow.bic_pouring_bank.as_deref(),
        )
        .open(&q("istitutoRicevente"))
        .open(&q("identificativoUnivocoRicevente"))
        .leaf(&q("tipoIdentificativoUnivoco"), "G")
        .leaf(&q("codiceIdentificativoUnivoco"), &flow.receiver_id)
        .close(&q("identificativoUnivocoRicevente"))
        .opt_leaf(&q("denominazioneRicevente"), flow.receiver_name.as_deref())
        .close(&q("istitutoRicevente"))
        .leaf(&q("numeroTotalePagamenti"), flow.total_payments)
        .leaf(
            &q("importoTotalePagamenti"),
            amount("total_amount_cents", flow.total_amount_cents)?,
        );
    for (i, p) in flow.payments.iter().enumerate() {
        let f = |name: &str| format!("payments[{i}].{name}");
        text(&f("iuv"), &p.iuv, 1, 35)?;
        text(&f("iur"), &p.iur, 1, 35)?;
        if p.amount_cents == 0 {
            return Err(ContractError::new(f("amount_cents"), "must be at least 1 cent"));
        }
        let date =
            XsdDate::parse(&p.date).ok_or_else(|| ContractError::new(f("date"), "must be an xsd:date"))?;
        let code = match p.outcome {
            PaymentOutcome::Executed | PaymentOutcome::StandIn | PaymentOutcome::StandInNoRpt => "0",
            PaymentOutcome::Revoked => "3",
            PaymentOutcome::NoRpt => "9",
        };
        out.open(&q("datiSingoliPagamenti"))
            .leaf(&q("identificativoUnivocoVersamento"), &p.iuv)
            .leaf(&q("identificativoUnivocoRiscossione"), &p.iur)
            .opt_leaf(&q("indiceDatiSingoloPagamento"), p.transfer_index)
            .leaf(
                &q("singoloImportoPagato"),
                amount(&f("amount_cents"), p.amount_cents)?,
            )
            .leaf(&q("codiceEsitoSingoloPagamento"), code)
            .leaf(&q("dataEsitoSingoloPagamento"), date)
            .close(&q("datiSingoliPagamenti"));
    }
    Ok(out.finish())
}

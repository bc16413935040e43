//! Reporting flows over the legacy SOAP path (`nodeForPa`, deprecated from 30 June 2026 in favour of
//! the REST FdR API, whose JSON is in [`super::contract`]): the EC lists the flows the node holds for
//! it (`nodoChiediElencoFlussiRendicontazione`) and fetches each one
//! (`nodoChiediFlussoRendicontazione`), whose answer is a `FlussoRiversamento` document in base64.
//! The document is validated against `FlussoRiversamento_1_0_4.xsd` before a value is read from it.

use std::fmt;

use snodo_security::schema::{Schema, SchemaError};
use snodo_security::xml::{Document, Limits, XmlError, parse};

use super::contract::{FlowPayment, FlowSender, PaymentOutcome, ReportingFlow, SenderKind};
use super::simple::{XsdDateTime, xsd_length};
use super::xml::{Node, SyntaxError, XmlOut};
use super::{FLOW_NAMESPACE, NODE_FOR_PA_NAMESPACE};
use crate::soap::{Envelope, EnvelopeBuilder, QName};

const PREFIX: &str = "ws";
const LIST: &str = "nodoChiediElencoFlussiRendicontazione";
const GET: &str = "nodoChiediFlussoRendicontazione";

/// Who asks: the EC's intermediary and station, with the legacy password the XSD still requires.
/// `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct FlowCaller {
    pub broker_id: String,
    pub station_id: String,
    pub password: String,
    /// Restrict to one EC (`identificativoDominio`).
    pub domain_id: Option<String>,
    /// Restrict to one PSP (`identificativoPSP`).
    pub psp_id: Option<String>,
}

impl fmt::Debug for FlowCaller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowCaller")
            .field("broker_id", &self.broker_id)
            .field("station_id", &self.station_id)
            .field("password", &"…")
            .field("domain_id", &self.domain_id)
            .field("psp_id", &self.psp_id)
            .finish()
    }
}

/// What went wrong on the legacy reporting path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportingError {
    #[error("{field} must be {min} to {max} characters")]
    Field {
        field: &'static str,
        min: usize,
        max: usize,
    },
    #[error("the node answered with fault {}: {}", .0.fault_code, .0.fault_string)]
    NodeFault(NodeFault),
    #[error("the answer is {found}, expected {expected}")]
    UnexpectedAnswer { expected: &'static str, found: QName },
    #[error("the answer does not follow nodeForPa.xsd: {0}")]
    Syntax(#[from] SyntaxError),
    #[error("the answer has neither a fault nor {0}")]
    Empty(&'static str),
    #[error("the reporting flow is not XML the screening parser accepts: {0}")]
    FlowXml(#[from] XmlError),
    #[error("the reporting flow does not conform to FlussoRiversamento: {0}")]
    FlowSchema(#[from] SchemaError),
    #[error("the reporting flow's document element is {0}, not FlussoRiversamento")]
    NotAFlow(QName),
    #[error("the reporting flow declares {declared} payments and lists {listed}")]
    CountMismatch { declared: u64, listed: usize },
}

/// A `ctFaultBean` the node answered with (its codes are `PPT_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFault {
    pub fault_code: String,
    pub fault_string: String,
    pub id: String,
    pub description: Option<String>,
}

/// One flow in the node's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRef {
    pub flow_id: String,
    pub date_time: XsdDateTime,
}

impl FlowCaller {
    fn check(&self) -> Result<(), ReportingError> {
        let field = |field, value: &str, min, max| {
            let n = xsd_length(value);
            if n < min || n > max {
                return Err(ReportingError::Field { field, min, max });
            }
            Ok(())
        };
        field("broker_id", &self.broker_id, 1, 35)?;
        field("station_id", &self.station_id, 1, 35)?;
        field("password", &self.password, 8, 15)?;
        if let Some(d) = &self.domain_id {
            field("domain_id", d, 1, 35)?;
        }
        if let Some(p) = &self.psp_id {
            field("psp_id", p, 1, 35)?;
        }
        Ok(())
    }

    fn write(&self, out: &mut XmlOut) {
        out.leaf("identificativoIntermediarioPA", &self.broker_id)
            .leaf("identificativoStazioneIntermediarioPA", &self.station_id)
            .leaf("password", &self.password)
            .opt_leaf("identificativoDominio", self.domain_id.as_deref())
            .opt_leaf("identificativoPSP", self.psp_id.as_deref());
    }

    /// The `nodoChiediElencoFlussiRendicontazione` request envelope.
    pub fn list_flows_request(&self) -> Result<String, ReportingError> {
        self.check()?;
        let mut out = XmlOut::root(PREFIX, NODE_FOR_PA_NAMESPACE, LIST);
        self.write(&mut out);
        Ok(EnvelopeBuilder::new().body(&out.finish()))
    }

    /// The `nodoChiediFlussoRendicontazione` request envelope for `flow_id`.
    pub fn get_flow_request(&self, flow_id: &str) -> Result<String, ReportingError> {
        self.check()?;
        if flow_id.is_empty() {
            return Err(ReportingError::Field {
                field: "flow_id",
                min: 1,
                max: 35,
            });
        }
        let mut out = XmlOut::root(PREFIX, NODE_FOR_PA_NAMESPACE, GET);
        self.write(&mut out);
        out.leaf("identificativoFlusso", flow_id);
        Ok(EnvelopeBuilder::new().body(&out.finish()))
    }
}

/// Opens a `ctRisposta` answer named `expected`: its payload children after the fault, or the fault.
fn answer<'d>(
    envelope: &'d Envelope,
    expected: &'static str,
) -> Result<super::xml::Children<'d>, ReportingError> {
    let found = envelope.payload_name();
    if found != QName::new(NODE_FOR_PA_NAMESPACE, expected) {
        return Err(ReportingError::UnexpectedAnswer { expected, found });
    }
    let root = Node::root(envelope.document(), envelope.payload())?;
    let mut c = root.children()?;
    if let Some(fault) = c.optional("fault")? {
        let mut f = fault.children()?;
        let node_fault = NodeFault {
            fault_code: f.required("faultCode")?.any_string()?,
            fault_string: f.required("faultString")?.any_string()?,
            id: f.required("id")?.any_string()?,
            description: f.optional("description")?.map(|n| n.any_string()).transpose()?,
        };
        return Err(ReportingError::NodeFault(node_fault));
    }
    Ok(c)
}

/// Reads a `nodoChiediElencoFlussiRendicontazioneRisposta`: the flows listed (nil entries skipped).
pub fn read_list_flows_response(envelope: &Envelope) -> Result<Vec<FlowRef>, ReportingError> {
    let mut c = answer(envelope, "nodoChiediElencoFlussiRendicontazioneRisposta")?;
    let list = c
        .optional("elencoFlussiRendicontazione")?
        .ok_or(ReportingError::Empty("elencoFlussiRendicontazione"))?;
    c.end()?;
    let mut l = list.children()?;
    l.required("totRestituiti")?
        .integer(i64::from(i32::MIN), i64::from(i32::MAX))?;
    let flows = l
        .repeated_nillable("idRendicontazione")?
        .into_iter()
        .flatten()
        .map(|entry| {
            let mut e = entry.children()?;
            let flow = FlowRef {
                flow_id: e.required("identificativoFlusso")?.any_string()?,
                date_time: e.required("dataOraFlusso")?.date_time()?,
            };
            e.end()?;
            Ok(flow)
        })
        .collect::<Result<Vec<_>, SyntaxError>>()?;
    l.end()?;
    Ok(flows)
}

/// Reads a `nodoChiediFlussoRendicontazioneRisposta`: the decoded `FlussoRiversamento` bytes.
pub fn read_get_flow_response(envelope: &Envelope) -> Result<Vec<u8>, ReportingError> {
    let mut c = answer(envelope, "nodoChiediFlussoRendicontazioneRisposta")?;
    let xml = c
        .optional("xmlRendicontazione")?
        .ok_or(ReportingError::Empty("xmlRendicontazione"))?;
    c.end()?;
    Ok(xml.base64()?)
}

/// Parses and validates a `FlussoRiversamento` document against `schema` (the compiled
/// `FlussoRiversamento_1_0_4.xsd`) and maps it to the `pagopa.reporting.flow` event.
pub fn read_flow(xml: &[u8], schema: &Schema, limits: &Limits) -> Result<ReportingFlow, ReportingError> {
    let doc = parse(xml, limits)?;
    let root_id = doc.document_element();
    let name = QName::of(&doc, root_id).expect("an element");
    if name != QName::new(FLOW_NAMESPACE, "FlussoRiversamento") {
        return Err(ReportingError::NotAFlow(name));
    }
    schema.validate_element(&doc, root_id)?;
    map_flow(&doc, root_id)
}

fn map_flow(doc: &Document, id: snodo_security::xml::NodeId) -> Result<ReportingFlow, ReportingError> {
    let root = Node::qualified_root(doc, id, FLOW_NAMESPACE)?;
    let mut c = root.children()?;
    c.required("versioneOggetto")?;
    let flow_id = c.required("identificativoFlusso")?.string(1, 35)?;
    let flow_date_time = c.required("dataOraFlusso")?.date_time()?.to_string();
    let regulation_id = c.required("identificativoUnivocoRegolamento")?.string(1, 35)?;
    let regulation_date = c.required("dataRegolamento")?.date()?.to_string();

    let mut sender = c.required("istitutoMittente")?.children()?;
    let mut sender_id = sender.required("identificativoUnivocoMittente")?.children()?;
    let kind = match sender_id
        .required("tipoIdentificativoUnivoco")?
        .enumeration(&["G", "A", "B"])?
    {
        "G" => SenderKind::LegalPerson,
        "A" => SenderKind::AbiCode,
        _ => SenderKind::BicCode,
    };
    let sender_code = sender_id.required("codiceIdentificativoUnivoco")?.string(1, 35)?;
    let sender_name = sender
        .optional("denominazioneMittente")?
        .map(|n| n.string(3, 70))
        .transpose()?;

    let bic_pouring_bank = c
        .optional("codiceBicBancaDiRiversamento")?
        .map(|n| n.string(1, 35))
        .transpose()?;
    let mut receiver = c.required("istitutoRicevente")?.children()?;
    let mut receiver_id = receiver.required("identificativoUnivocoRicevente")?.children()?;
    receiver_id.required("tipoIdentificativoUnivoco")?;
    let receiver_code = receiver_id
        .required("codiceIdentificativoUnivoco")?
        .string(1, 35)?;
    let receiver_name = receiver
        .optional("denominazioneRicevente")?
        .map(|n| n.string(1, 140))
        .transpose()?;

    let total_text = c.required("numeroTotalePagamenti")?.any_string()?;
    // xsd:decimal with fractionDigits 0: `12`, `+12` and `12.00` are the same count.
    let total_text = total_text.trim().trim_start_matches('+');
    let (units, fraction) = total_text.split_once('.').unwrap_or((total_text, ""));
    let total_payments = units
        .parse::<u64>()
        .ok()
        .filter(|_| fraction.bytes().all(|b| b == b'0'))
        .ok_or_else(|| SyntaxError::xsd("FlussoRiversamento/numeroTotalePagamenti", "not a count"))?;
    let total_amount_cents = c.required("importoTotalePagamenti")?.amount()?.cents();
    let payments = c
        .repeated("datiSingoliPagamenti", 1, usize::MAX)?
        .iter()
        .map(|p| {
            let mut f = p.children()?;
            let payment = FlowPayment {
                iuv: f.required("identificativoUnivocoVersamento")?.string(1, 35)?,
                iur: f.required("identificativoUnivocoRiscossione")?.string(1, 35)?,
                transfer_index: f
                    .optional("indiceDatiSingoloPagamento")?
                    .map(|n| n.integer(1, 5))
                    .transpose()?
                    .map(|i| i as u8),
                amount_cents: f.required("singoloImportoPagato")?.amount_not_zero()?.cents(),
                outcome: {
                    let node = f.required("codiceEsitoSingoloPagamento")?;
                    let code = node.any_string()?;
                    PaymentOutcome::from_code(&code)
                        .ok_or_else(|| SyntaxError::xsd(node.path(), "not a payment outcome code"))?
                },
                date: f.required("dataEsitoSingoloPagamento")?.date()?.to_string(),
            };
            f.end()?;
            Ok(payment)
        })
        .collect::<Result<Vec<_>, SyntaxError>>()?;
    c.end()?;
    if payments.len() as u64 != total_payments {
        return Err(ReportingError::CountMismatch {
            declared: total_payments,
            listed: payments.len(),
        });
    }
    Ok(ReportingFlow {
        flow_id,
        flow_date_time,
        revision: None,
        regulation_id,
        regulation_date,
        sender: FlowSender {
            kind,
            id: sender_code,
            name: sender_name,
            psp_id: None,
        },
        bic_pouring_bank,
        receiver_id: receiver_code,
        receiver_name,
        total_payments,
        total_amount_cents,
        payments,
    })
}

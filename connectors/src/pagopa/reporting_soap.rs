//! The legacy reporting path (`nodeForPa`, deprecated from 30 June 2026 but still what many stations
//! use, pagopa.md §2.3): the EC lists the flows the node holds for it with
//! `nodoChiediElencoFlussiRendicontazione` and fetches each new one with
//! `nodoChiediFlussoRendicontazione`, whose answer is a `FlussoRiversamento` document in base64,
//! validated against `FlussoRiversamento_1_0_4.xsd` before a value is read (`snodo_mappings::pagopa`).
//! Chosen with `[pagopa.reporting] api = "soap"`; the REST FdR feed is [`super::reporting`].
//!
//! The list has no "since": the node lists what it holds for the EC (GovPay keeps the downloaded ids
//! in its database for the same reason). The cursor is therefore the set of listed flow ids already
//! turned into events, pruned to what the node still lists, so it stays as small as the node's own
//! list. Should that set outgrow what the store keeps for a cursor (about a thousand flows listed at
//! once), the oldest are replaced by a watermark: flows listed with an older `dataOraFlusso` count as
//! seen.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use snodo_mappings::pagopa::contract::ReportingFlow;
use snodo_mappings::pagopa::{
    FlowCaller, FlowRef, ReportingError, read_flow, read_get_flow_response, read_list_flows_response,
};
use snodo_mappings::soap::{Envelope, SOAP11_CONTENT_TYPE, read_envelope};
use snodo_queue::runtime::ErrorCode;
use snodo_queue::runtime::journal::{PlatformAttempt, record_platform_attempt};
use snodo_security::schema::Schema;
use snodo_security::xml::Limits;

use super::aca::{NodeApi, SUBSCRIPTION_KEY_HEADER};
use super::reporting::REPORTING_FLOW;
use crate::schedule::{Feed, FeedError, FeedItem, Poll};

/// The node's `nodeForPa` SOAP service, relative to the node's base URL.
pub const NODE_FOR_PA_PATH: &str = "/nodo-auth/node-for-pa/v1";
const LIST: &str = "nodoChiediElencoFlussiRendicontazione";
const GET: &str = "nodoChiediFlussoRendicontazione";
/// Flows fetched in one poll at most; the scheduler polls again at once when more are waiting.
const FLOWS_PER_POLL: usize = 20;
/// The cursor's budget, under the store's 64 KiB for a value.
const MAX_CURSOR_BYTES: usize = 48 * 1024;

/// One outbound call that did not give a usable answer.
#[derive(Debug, thiserror::Error)]
pub enum LegacyCallError {
    #[error("{operation}: cannot reach {url}: {reason}")]
    Unreachable {
        operation: &'static str,
        url: String,
        reason: String,
    },
    #[error("{operation}: {url} answered HTTP {status}")]
    Status {
        operation: &'static str,
        url: String,
        status: u16,
    },
    #[error("{operation}: {url} answered something that is not a SOAP 1.1 envelope: {reason}")]
    NotSoap {
        operation: &'static str,
        url: String,
        reason: String,
    },
    #[error("{operation}: {source}")]
    Answer {
        operation: &'static str,
        #[source]
        source: Box<ReportingError>,
    },
    #[error("flow {flow_id}: {source}")]
    Flow {
        flow_id: String,
        #[source]
        source: Box<ReportingError>,
    },
    #[error("flow {flow_id} is for EC {receiver}, not {expected}")]
    ForeignFlow {
        flow_id: String,
        receiver: String,
        expected: String,
    },
}

impl LegacyCallError {
    /// Whether the node may answer better later. Its own `PPT_SYSTEM_ERROR` is transient; the other
    /// `PPT_*` codes (authentication, unknown station or domain) and broken flows need a person.
    fn transient(&self) -> bool {
        match self {
            LegacyCallError::Unreachable { .. } | LegacyCallError::NotSoap { .. } => true,
            LegacyCallError::Status { status, .. } => *status == 429 || *status >= 500,
            LegacyCallError::Answer { source, .. } => {
                matches!(&**source, ReportingError::NodeFault(f) if f.fault_code == "PPT_SYSTEM_ERROR")
            }
            LegacyCallError::Flow { .. } | LegacyCallError::ForeignFlow { .. } => false,
        }
    }

    fn code(&self) -> ErrorCode {
        match self {
            LegacyCallError::Unreachable { .. } => ErrorCode::Unavailable,
            _ if self.transient() => ErrorCode::Unavailable,
            _ => ErrorCode::Rejected,
        }
    }

    fn platform_code(&self) -> Option<String> {
        match self {
            LegacyCallError::Answer { source, .. } => match &**source {
                ReportingError::NodeFault(fault) => Some(fault.fault_code.clone()),
                _ => None,
            },
            LegacyCallError::Status { status, .. } => Some(format!("HTTP {status}")),
            _ => None,
        }
    }
}

impl From<LegacyCallError> for FeedError {
    fn from(e: LegacyCallError) -> FeedError {
        if e.transient() {
            FeedError::Unavailable(e.to_string())
        } else {
            FeedError::Invalid(e.to_string())
        }
    }
}

/// What the feed remembers between polls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    /// Listed flow ids already published, oldest first.
    #[serde(default)]
    seen: Vec<String>,
    /// Flows listed with a `dataOraFlusso` at or before this count as seen (set only when `seen`
    /// outgrew the cursor's budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    through: Option<String>,
}

impl Cursor {
    fn read(text: Option<&str>) -> Result<Cursor, FeedError> {
        match text.filter(|t| !t.is_empty()) {
            None => Ok(Cursor::default()),
            Some(t) => serde_json::from_str(t)
                .map_err(|e| FeedError::Invalid(format!("the legacy reporting cursor is not ours: {e}"))),
        }
    }

    fn is_seen(&self, seen: &HashSet<&str>, flow: &FlowRef) -> bool {
        seen.contains(flow.flow_id.as_str())
            || self
                .through
                .as_deref()
                .is_some_and(|t| flow.date_time.as_str() <= t)
    }

    fn write(mut self, listed: &[FlowRef]) -> String {
        loop {
            let text = serde_json::to_string(&self).expect("a cursor serializes");
            if text.len() <= MAX_CURSOR_BYTES || self.seen.is_empty() {
                return text;
            }
            let dropped = self.seen.remove(0);
            if let Some(flow) = listed.iter().find(|f| f.flow_id == dropped) {
                let at = flow.date_time.as_str();
                if self.through.as_deref().is_none_or(|t| at > t) {
                    self.through = Some(at.to_owned());
                }
            }
        }
    }
}

/// The legacy feed of one EC: `identificativoDominio` is its fiscal code, the caller its
/// intermediary and station.
pub struct SoapFlowFeed {
    name: String,
    node: NodeApi,
    tenant: String,
    organization: String,
    caller: FlowCaller,
    schema: Arc<Schema>,
}

impl SoapFlowFeed {
    /// `caller.domain_id` is set to `organization`.
    pub fn new(
        node: NodeApi,
        tenant: impl Into<String>,
        organization: impl Into<String>,
        mut caller: FlowCaller,
        schema: Arc<Schema>,
    ) -> SoapFlowFeed {
        let tenant = tenant.into();
        let organization = organization.into();
        caller.domain_id = Some(organization.clone());
        SoapFlowFeed {
            name: format!("pagopa-flows-soap.{tenant}"),
            node,
            tenant,
            organization,
            caller,
            schema,
        }
    }

    /// One SOAP exchange with the node, recorded in the journal (without its body: the request
    /// carries the station's password).
    async fn call<T>(
        &self,
        operation: &'static str,
        envelope: String,
        business_ids: Vec<String>,
        read: impl FnOnce(&Envelope) -> Result<T, ReportingError>,
    ) -> Result<T, LegacyCallError> {
        let url = self.node.url(NODE_FOR_PA_PATH);
        let started = Instant::now();
        let (status, result) = self.exchange(operation, &url, envelope, read).await;
        record_platform_attempt(PlatformAttempt {
            platform: super::NAME,
            operation: operation.to_owned(),
            endpoint: url,
            status,
            outcome: result.as_ref().map(|_| ()).map_err(LegacyCallError::code),
            platform_code: result.as_ref().err().and_then(LegacyCallError::platform_code),
            elapsed: started.elapsed(),
            request: None,
            response: None,
            business_ids,
        });
        result
    }

    async fn exchange<T>(
        &self,
        operation: &'static str,
        url: &str,
        envelope: String,
        read: impl FnOnce(&Envelope) -> Result<T, ReportingError>,
    ) -> (Option<u16>, Result<T, LegacyCallError>) {
        let sent = self
            .node
            .http()
            .post(url)
            .header(SUBSCRIPTION_KEY_HEADER, self.node.subscription_key())
            .header(reqwest::header::CONTENT_TYPE, SOAP11_CONTENT_TYPE)
            .header("SOAPAction", format!("\"{operation}\""))
            .body(envelope)
            .send()
            .await;
        let unreachable = |e: reqwest::Error| LegacyCallError::Unreachable {
            operation,
            url: url.to_owned(),
            reason: error_chain(&e),
        };
        let response = match sent {
            Ok(r) => r,
            Err(e) => return (None, Err(unreachable(e))),
        };
        let status = response.status().as_u16();
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return (Some(status), Err(unreachable(e))),
        };
        if status != 200 {
            let error = LegacyCallError::Status {
                operation,
                url: url.to_owned(),
                status,
            };
            return (Some(status), Err(error));
        }
        let answer = read_envelope(&body, &envelope_limits())
            .map_err(|e| LegacyCallError::NotSoap {
                operation,
                url: url.to_owned(),
                reason: e.to_string(),
            })
            .and_then(|envelope| {
                read(&envelope).map_err(|source| LegacyCallError::Answer {
                    operation,
                    source: Box::new(source),
                })
            });
        (Some(status), answer)
    }

    async fn list(&self) -> Result<Vec<FlowRef>, LegacyCallError> {
        let request = self
            .caller
            .list_flows_request()
            .map_err(|source| LegacyCallError::Answer {
                operation: LIST,
                source: Box::new(source),
            })?;
        self.call(LIST, request, Vec::new(), read_list_flows_response)
            .await
    }

    async fn fetch(&self, flow: &FlowRef) -> Result<ReportingFlow, LegacyCallError> {
        let flow_id = flow.flow_id.clone();
        let request = self
            .caller
            .get_flow_request(&flow_id)
            .map_err(|source| LegacyCallError::Answer {
                operation: GET,
                source: Box::new(source),
            })?;
        let xml = self
            .call(GET, request, vec![flow_id.clone()], read_get_flow_response)
            .await?;
        let read = read_flow(&xml, &self.schema, &flow_limits()).map_err(|source| LegacyCallError::Flow {
            flow_id: flow_id.clone(),
            source: Box::new(source),
        })?;
        // The domain was asked for; a flow for another EC must not reach this tenant's backend.
        if read.receiver_id != self.organization {
            return Err(LegacyCallError::ForeignFlow {
                flow_id,
                receiver: read.receiver_id,
                expected: self.organization.clone(),
            });
        }
        Ok(read)
    }
}

#[async_trait]
impl Feed for SoapFlowFeed {
    fn name(&self) -> &str {
        &self.name
    }

    async fn poll(&self, cursor: Option<&str>) -> Result<Poll, FeedError> {
        let cursor = Cursor::read(cursor)?;
        let mut listed = self.list().await?;
        // Oldest first, as the flows were produced; an id listed twice counts once.
        listed.sort_by(|a, b| (a.date_time.as_str(), &a.flow_id).cmp(&(b.date_time.as_str(), &b.flow_id)));
        let mut ids = HashSet::new();
        listed.retain(|f| ids.insert(f.flow_id.clone()));

        let seen: HashSet<&str> = cursor.seen.iter().map(String::as_str).collect();
        let fresh: Vec<&FlowRef> = listed.iter().filter(|f| !cursor.is_seen(&seen, f)).collect();
        let take = fresh.len().min(FLOWS_PER_POLL);
        let mut items = Vec::with_capacity(take);
        for entry in &fresh[..take] {
            let flow = self.fetch(entry).await?;
            items.push(FeedItem {
                platform_id: flow.platform_id(),
                kind: REPORTING_FLOW.parse().expect("a valid constant type"),
                tenant: Some(self.tenant.clone()),
                body: serde_json::to_value(&flow).expect("contract types serialize"),
            });
        }
        let taken: HashSet<&str> = fresh[..take].iter().map(|f| f.flow_id.as_str()).collect();
        // What the node no longer lists cannot come back: forget it.
        let next = Cursor {
            seen: listed
                .iter()
                .filter(|f| seen.contains(f.flow_id.as_str()) || taken.contains(f.flow_id.as_str()))
                .map(|f| f.flow_id.clone())
                .collect(),
            through: cursor.through.clone(),
        };
        Ok(Poll {
            items,
            next_cursor: next.write(&listed),
            more: take < fresh.len(),
        })
    }
}

/// A `nodoChiediFlussoRendicontazioneRisposta` carries a whole flow in one base64 text node.
fn envelope_limits() -> Limits {
    Limits {
        max_document_bytes: 32 << 20,
        max_text_bytes: 32 << 20,
        ..Limits::default()
    }
}

/// A flow lists one `datiSingoliPagamenti` (seven nodes or so) per payment: room for 100,000.
fn flow_limits() -> Limits {
    Limits {
        max_document_bytes: 24 << 20,
        max_nodes: 2_000_000,
        ..Limits::default()
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use snodo_mappings::pagopa::XsdDateTime;

    fn flow(id: &str, at: &str) -> FlowRef {
        FlowRef {
            flow_id: id.into(),
            date_time: XsdDateTime::parse(at).unwrap(),
        }
    }

    #[test]
    fn an_empty_or_absent_cursor_has_seen_nothing() {
        assert_eq!(Cursor::read(None).unwrap(), Cursor::default());
        assert_eq!(Cursor::read(Some("")).unwrap(), Cursor::default());
        assert!(matches!(
            Cursor::read(Some("2025-07-04T10:00:00Z")),
            Err(FeedError::Invalid(_))
        ));
    }

    #[test]
    fn a_cursor_over_budget_keeps_the_newest_ids_and_a_watermark_for_the_rest() {
        let listed: Vec<FlowRef> = (0..2000)
            .map(|i| {
                flow(
                    &format!("2025-07-04CIPBITMM-S{i:010}"),
                    &format!(
                        "2025-07-{:02}T{:02}:{:02}:00",
                        1 + i / 1440 % 28,
                        i / 60 % 24,
                        i % 60
                    ),
                )
            })
            .collect();
        let cursor = Cursor {
            seen: listed.iter().map(|f| f.flow_id.clone()).collect(),
            through: None,
        };
        let text = cursor.write(&listed);
        assert!(text.len() <= MAX_CURSOR_BYTES);
        let back = Cursor::read(Some(&text)).unwrap();
        assert!(back.seen.len() < 2000);
        let seen: HashSet<&str> = back.seen.iter().map(String::as_str).collect();
        assert!(
            listed.iter().all(|f| back.is_seen(&seen, f)),
            "nothing listed is new again"
        );
        assert!(!back.is_seen(
            &seen,
            &flow("2025-07-04CIPBITMM-S9999999999", "2025-08-01T00:00:00")
        ));
    }
}

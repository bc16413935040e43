//! `/anpr/{tenant}/notifications`: the notifications ANPR pushes to a comune that exposes an endpoint
//! (N010, N015, N030, …; platform notes §1.2 — the push contract is only Sogei's 2017 draft
//! `N000serviziNotifiche.wsdl`, so the 4005 pull stays the primary path).
//!
//! A `RichiestaN000` (`testataNotifica` with `tipoNotifica`, `codDestinatario`, `idOperazioneANPR`,
//! and the notification as base64 `contenuto`) becomes `anpr.notification.received`, with the same
//! `message_id` as the pulled copy of the same notification; ANPR gets `RispostaN000` with
//! `codiceEsito` 0 only after the broker confirmed the event. A broker that is slow or away gets a
//! Server fault within [`PUSH_DEADLINE`], which ANPR retries (5 attempts, 5 minutes apart).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use snodo_mappings::anpr::SchemaV1;
use snodo_mappings::anpr::notification::{EVENT, NotificationReceived};
use snodo_mappings::soap::escape_text;
use snodo_security::xml::{Document, NodeId};

use crate::inbound::{InboundEvent, InboundPublisher};
use crate::soap::{Fault, FaultCode, SoapEndpoint, SoapEndpointConfig, SoapHandler, SoapReply, SoapRequest};
use crate::tenants::Tenants;

/// Namespace of the draft push service.
pub const NOTIFICATION_NAMESPACE: &str = "http://sogei.it/ANPR/N000AnprService";

/// How long storing a pushed notification may take before ANPR is told to retry: well inside the
/// 30 s a SOAP client typically waits.
pub const PUSH_DEADLINE: Duration = Duration::from_secs(10);

/// The push endpoint's handler.
pub struct NotificationEndpoint {
    tenants: Arc<Tenants>,
    events: InboundPublisher,
    within: Duration,
}

impl NotificationEndpoint {
    pub fn new(tenants: Arc<Tenants>, events: InboundPublisher, within: Duration) -> NotificationEndpoint {
        NotificationEndpoint {
            tenants,
            events,
            within,
        }
    }
}

/// The route `/anpr/{tenant}/notifications` of the inbound listener.
pub fn notification_router(tenants: Arc<Tenants>, events: InboundPublisher, within: Duration) -> Router {
    SoapEndpoint::router(
        "/anpr/{tenant}/notifications",
        Arc::new(NotificationEndpoint::new(tenants, events, within)),
        SoapEndpointConfig::default(),
    )
}

fn client_fault(reason: impl Into<String>) -> SoapReply {
    SoapReply::Fault(Fault::new(FaultCode::Client, reason))
}

/// The text of the child `local` of `parent`, when present.
fn child_text(doc: &Document, parent: NodeId, local: &str) -> Option<String> {
    doc.child_elements(parent)
        .find(|&c| doc.element(c).is_some_and(|e| e.name().local_name() == local))
        .map(|c| doc.text_content(c).trim().to_owned())
}

/// The notification of a `RichiestaN000`, or why it is not one.
fn read_notification(doc: &Document, payload: NodeId) -> Result<(String, NotificationReceived), String> {
    let root = doc.element(payload).ok_or("the Body holds no element")?;
    if root.name().local_name() != "RichiestaN000" {
        return Err(format!(
            "expected RichiestaN000, found {}",
            root.name().local_name()
        ));
    }
    let header = doc
        .child_elements(payload)
        .find(|&c| {
            doc.element(c)
                .is_some_and(|e| e.name().local_name() == "testataNotifica")
        })
        .ok_or("testataNotifica is missing")?;
    let kind = child_text(doc, header, "tipoNotifica").ok_or("testataNotifica/tipoNotifica is missing")?;
    if kind.len() != 4 || !kind.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("tipoNotifica must be 4 letters or digits".into());
    }
    let id =
        child_text(doc, header, "idOperazioneANPR").ok_or("testataNotifica/idOperazioneANPR is missing")?;
    if id.is_empty() || id.len() > 30 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err("idOperazioneANPR must be 1 to 30 digits".into());
    }
    let recipient =
        child_text(doc, header, "codDestinatario").ok_or("testataNotifica/codDestinatario is missing")?;
    let content: Option<String> = child_text(doc, payload, "contenuto")
        .map(|c| c.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    if let Some(c) = &content
        && base64_invalid(c)
    {
        return Err("contenuto is not base64".into());
    }
    Ok((
        recipient,
        NotificationReceived {
            schema: SchemaV1,
            notification_id: id,
            kind: kind.to_ascii_uppercase(),
            state: None,
            content_base64: content.filter(|c| !c.is_empty()),
        },
    ))
}

fn base64_invalid(text: &str) -> bool {
    !text.len().is_multiple_of(4)
        || !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

fn answer(code: &str, text: &str) -> SoapReply {
    SoapReply::Payload(format!(
        "<n:RispostaN000 xmlns:n=\"{NOTIFICATION_NAMESPACE}\"><codiceEsito>{}</codiceEsito><esito>{}</esito></n:RispostaN000>",
        escape_text(code),
        escape_text(text)
    ))
}

#[async_trait]
impl SoapHandler for NotificationEndpoint {
    async fn handle(&self, request: SoapRequest) -> SoapReply {
        let tenant = match self
            .tenants
            .from_header(request.path.get("tenant").map(String::as_str))
        {
            Ok(t) if t.anpr.is_some() => t.istat.clone(),
            Ok(_) => return client_fault("this tenant does not use ANPR"),
            Err(e) => return client_fault(e.to_string()),
        };
        let (recipient, notification) =
            match read_notification(request.envelope.document(), request.envelope.payload()) {
                Ok(n) => n,
                Err(reason) => return client_fault(format!("not an ANPR notification: {reason}")),
            };
        if recipient != tenant {
            return client_fault(format!(
                "codDestinatario {recipient:?} is not the tenant of this endpoint"
            ));
        }
        let event = InboundEvent {
            kind: EVENT.parse().expect("a well-formed event type"),
            tenant: Some(tenant),
            platform_id: notification.platform_key(),
            body: serde_json::to_value(&notification).expect("contract types always serialize"),
        };
        match self.events.store(&event, self.within).await {
            Ok(_) => answer("0", "OK"),
            Err(e) => {
                tracing::warn!(error = %e, "ANPR notification not stored; ANPR will push it again.");
                SoapReply::Fault(Fault::new(
                    FaultCode::Server,
                    "the notification could not be stored now; send it again",
                ))
            }
        }
    }
}

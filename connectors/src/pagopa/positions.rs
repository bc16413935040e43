//! Asking the owning backend for a debt position while the node waits: `pagopa.position.get` (verify,
//! get-payment) and `pagopa.notice.demand` (demand) on `snodo.requests`, request/reply through the
//! instance's [`Requester`], and the answer turned into the node's response.
//!
//! The node gives up after 7 s and expects 98% of answers within 2 s (pagopa.md §5), so the question
//! has a deadline (`position_timeout`), and it travels as the message's AMQP `expiration` and
//! `x-snodo-deadline` too: a backend that was down and comes back does not spend itself on questions
//! nobody is waiting for. Whatever goes wrong — silence, a `.failed` reply, a position that cannot be
//! written as a valid answer — the node gets `PAA_SYSTEM_ERROR`, never an invalid OK; when the backend's
//! answer was the problem, a `pagopa.position.rejected` event tells the backend why.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use snodo_mappings::pagopa::contract::PaymentPosition;
use snodo_mappings::pagopa::{FaultBean, Operation, PaFaultCode, PaRequest, ResponseError, ko};
use snodo_queue::Names;
use snodo_queue::envelope::{Envelope, MessageType};
use snodo_queue::request::{RequestError, Requester};
use uuid::Uuid;

use crate::inbound::{InboundEvent, InboundPublisher};

/// Request type of verify and get-payment questions.
pub const POSITION_GET: &str = "pagopa.position.get";
/// Request type of paDemandPaymentNotice questions.
pub const NOTICE_DEMAND: &str = "pagopa.notice.demand";
/// Event telling the backend its answer could not be sent to the node.
pub const POSITION_REJECTED: &str = "pagopa.position.rejected";

/// Why no position came back.
#[derive(Debug, thiserror::Error)]
pub enum PositionError {
    #[error("the backend did not answer {kind} within {timeout:?}")]
    Silent { kind: &'static str, timeout: Duration },
    #[error("the {kind} request could not be sent: {source}")]
    NotSent {
        kind: &'static str,
        #[source]
        source: RequestError,
    },
    #[error("the backend answered {kind} with {reply_type}: {reason}")]
    Failed {
        kind: &'static str,
        reply_type: String,
        reason: String,
    },
    /// The backend answered, but not with a usable position: it must learn why.
    #[error("the backend's answer to {kind} is not a valid position: {reason}")]
    Unusable { kind: &'static str, reason: String },
}

/// Asks backends for positions.
#[derive(Clone)]
pub struct PositionSource {
    requester: Arc<Requester>,
    exchange: String,
    publisher: InboundPublisher,
    timeout: Duration,
}

impl PositionSource {
    pub fn new(
        requester: Arc<Requester>,
        names: &Names,
        publisher: InboundPublisher,
        timeout: Duration,
    ) -> PositionSource {
        PositionSource {
            requester,
            exchange: names.requests_exchange(),
            publisher,
            timeout,
        }
    }

    /// Answers a verify, get-payment or demand request: the OK envelope for a payable position, the
    /// state's KO otherwise, `PAA_SYSTEM_ERROR` when no usable answer came in time.
    pub async fn answer(&self, tenant: &str, request: &PaRequest) -> String {
        let operation = request.operation();
        let id_pa = request.header().id_pa;
        let (kind, body) = match request {
            PaRequest::Verify(r) => (POSITION_GET, serde_json::to_value(r.position_request())),
            PaRequest::GetPayment(r) => (POSITION_GET, serde_json::to_value(r.position_request())),
            PaRequest::Demand(r) => (NOTICE_DEMAND, serde_json::to_value(r.demand_request())),
            // A receipt is no question about a position: the endpoint routes it to the receipts.
            PaRequest::SendRt(_) => return ko(operation, &FaultBean::new(PaFaultCode::Semantica, id_pa)),
        };
        let body = body.expect("contract types serialize");
        let position = match self.ask(kind, tenant, &body).await {
            Ok(p) => p,
            Err(error) => {
                tracing::warn!(%error, operation = operation.name(), "pagoPA: no position for the node.");
                if let PositionError::Unusable { reason, .. } = &error {
                    self.tell_backend(tenant, operation, &body, reason.clone());
                }
                return system_error(operation, &id_pa);
            }
        };
        let PaymentPosition::Payable(payable) = &position else {
            let fault = position
                .fault_bean(id_pa)
                .expect("only a payable position has no fault");
            return ko(operation, &fault);
        };
        let written = match request {
            PaRequest::Verify(r) => r.ok(payable),
            PaRequest::GetPayment(r) => r.ok(payable),
            PaRequest::Demand(r) => r.ok(payable),
            PaRequest::SendRt(_) => return ko(operation, &FaultBean::new(PaFaultCode::Semantica, id_pa)),
        };
        match written {
            Ok(envelope) => envelope,
            Err(error) => {
                if error.fault_code() == PaFaultCode::SystemError {
                    tracing::warn!(%error, operation = operation.name(), "pagoPA: the backend's position cannot be answered.");
                    self.tell_backend(tenant, operation, &body, error.to_string());
                }
                ko(
                    operation,
                    &FaultBean::new(error.fault_code(), id_pa).with_description(describe(&error)),
                )
            }
        }
    }

    async fn ask(
        &self,
        kind: &'static str,
        tenant: &str,
        body: &serde_json::Value,
    ) -> Result<PaymentPosition, PositionError> {
        let deadline =
            Utc::now() + chrono::Duration::from_std(self.timeout).expect("a timeout of seconds fits chrono");
        let envelope = Envelope::command(kind.parse::<MessageType>().expect("a valid constant type"))
            .with_tenant(tenant)
            .with_deadline(deadline);
        let mut message = envelope.to_message(serde_json::to_vec(body).expect("JSON"));
        // A question nobody waits for any more is dropped by the broker, not answered.
        message.properties.expiration = Some(self.timeout.as_millis().max(1).to_string());
        let reply = self
            .requester
            .request(&self.exchange, kind, message, self.timeout)
            .await
            .map_err(|source| match source {
                RequestError::Timeout(timeout) => PositionError::Silent { kind, timeout },
                source => PositionError::NotSent { kind, source },
            })?;
        let reply_type = reply.properties.kind.clone().unwrap_or_default();
        if !reply_type.ends_with(".completed") {
            let reason = serde_json::from_slice::<serde_json::Value>(&reply.body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_else(|| "no error text".into());
            return Err(PositionError::Failed {
                kind,
                reply_type,
                reason,
            });
        }
        let position: PaymentPosition =
            serde_json::from_slice(&reply.body).map_err(|e| PositionError::Unusable {
                kind,
                reason: format!("the reply body does not fit the payment position contract: {e}"),
            })?;
        position.validate().map_err(|e| PositionError::Unusable {
            kind,
            reason: e.to_string(),
        })?;
        Ok(position)
    }

    /// Publishes `pagopa.position.rejected` in the background: the node's answer does not wait for it.
    fn tell_backend(&self, tenant: &str, operation: Operation, request: &serde_json::Value, reason: String) {
        let event = InboundEvent {
            kind: POSITION_REJECTED.parse().expect("a valid constant type"),
            tenant: Some(tenant.to_owned()),
            platform_id: Uuid::new_v4().to_string(),
            body: serde_json::json!({
                "primitive": operation.name(),
                "request": request,
                "reason": reason,
            }),
        };
        let publisher = self.publisher.clone();
        tokio::spawn(async move {
            if let Err(error) = publisher.store(&event, Duration::from_secs(30)).await {
                tracing::error!(%error, "pagoPA: the backend could not be told its position was unusable.");
            }
        });
    }
}

/// The node forwards a fault's description to PSPs and apps: only the rule, never a value.
fn describe(error: &ResponseError) -> String {
    match error {
        ResponseError::Contract(e) => format!("the EC's position breaks a rule at {}", e.field),
        other => other.to_string(),
    }
}

pub(crate) fn system_error(operation: Operation, id_pa: &str) -> String {
    ko(operation, &FaultBean::new(PaFaultCode::SystemError, id_pa))
}

//! `paSendRT` / `paSendRTV2`: the receipt becomes a `pagopa.receipt.received` event, and the node
//! hears OK only once the broker has confirmed that event into a durable queue (DESIGN §4).
//!
//! Snodo keeps no receipt archive. The event's `message_id` is a UUIDv5 of (receiving `idPA`, EC
//! fiscal code, IUV, receiptId) — `Receipt::message_id` under Snodo's id namespace — so the node's
//! hourly retries, the copies broadcast to several stations and a Stand-In receipt for a notice
//! never verified all carry one id, and the backend (which owns the positions) de-duplicates by it.
//! A duplicate is therefore stored again and answered OK: answering `PAA_RECEIPT_DUPLICATA` would need
//! an archive that could disagree with the backend's, and the node retries a KO for 48 hours.
//! A receipt that cannot be stored in time gets `PAA_SYSTEM_ERROR`, which the node retries.

use std::time::Duration;

use snodo_mappings::pagopa::contract::Receipt;
use snodo_mappings::pagopa::{FaultBean, Operation, PaFaultCode, ko, receipt_ok};
use snodo_queue::envelope::SNODO_ID_NAMESPACE;
use uuid::Uuid;

use crate::inbound::{InboundEvent, InboundPublisher};

/// The event type of a receipt.
pub const RECEIPT_RECEIVED: &str = "pagopa.receipt.received";

/// Stores receipts as events.
#[derive(Clone, Debug)]
pub struct ReceiptSink {
    publisher: InboundPublisher,
    within: Duration,
}

impl ReceiptSink {
    pub fn new(publisher: InboundPublisher, within: Duration) -> ReceiptSink {
        ReceiptSink { publisher, within }
    }

    /// The event's `message_id` for `receipt`.
    pub fn message_id(receipt: &Receipt) -> Uuid {
        receipt.message_id(&SNODO_ID_NAMESPACE)
    }

    /// Stores the receipt and returns the node's answer.
    pub async fn accept(&self, tenant: &str, operation: Operation, receipt: &Receipt) -> String {
        // A well-formed receipt that cannot be a successful payment's (KO outcome, transfers that do
        // not add up) is the node's mistake: storing it would mislead the backend.
        if let Err(error) = receipt.check_semantics() {
            return ko(
                operation,
                &FaultBean::new(PaFaultCode::Semantica, receipt.id_pa.clone())
                    .with_description(error.to_string()),
            );
        }
        let message_id = ReceiptSink::message_id(receipt);
        let event = InboundEvent {
            kind: RECEIPT_RECEIVED.parse().expect("a valid constant type"),
            tenant: Some(tenant.to_owned()),
            platform_id: message_id.to_string(),
            body: serde_json::to_value(receipt).expect("contract types serialize"),
        };
        match self
            .publisher
            .store_with_id(&event, message_id, self.within)
            .await
        {
            Ok(_) => receipt_ok(operation),
            Err(error) => {
                tracing::error!(%error, "pagoPA: receipt not stored; the node will retry.");
                ko(
                    operation,
                    &FaultBean::new(PaFaultCode::SystemError, receipt.id_pa.clone())
                        .with_description("the receipt could not be stored now: retry"),
                )
            }
        }
    }
}

//! `anpr.notification.received`: what ANPR tells the comune on its own initiative — N010 (a resident
//! moved to another comune), N015, N030 (an asynchronous result such as a 4002 job is ready), … —
//! whether pulled with 4005 on a schedule (the primary path) or pushed. Each becomes one event whose
//! `message_id` derives from [`NotificationReceived::platform_key`], so a notification seen twice
//! (a re-poll after failover, a retried push) is the same message.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SchemaV1;
use super::bulk::PollResult;

pub const EVENT: &str = "anpr.notification.received";

/// Event `anpr.notification.received`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationReceived {
    pub schema: SchemaV1,
    /// ANPR's identifier of the notification (`idOperazioneANPR`).
    pub notification_id: String,
    /// The notification code: `N010`, `N015`, `N030`, …
    pub kind: String,
    /// `statoLavorazione`, when ANPR gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<u32>,
    /// The notification's own XML, base64, as ANPR sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_base64: Option<String>,
}

impl NotificationReceived {
    /// The platform identity the event's `message_id` (UUIDv5) is derived from.
    pub fn platform_key(&self) -> String {
        format!("anpr:{}:{}", self.kind, self.notification_id)
    }
}

/// The notifications in a 4005 answer: its entries whose `tipoOperazione` is a notification code.
pub fn from_poll(poll: &PollResult) -> Vec<NotificationReceived> {
    poll.items
        .iter()
        .filter_map(|i| {
            let kind = i.kind.as_deref()?;
            let is_notification = kind.len() == 4
                && (kind.starts_with('N') || kind.starts_with('n'))
                && kind[1..].chars().all(|c| c.is_ascii_alphanumeric());
            is_notification.then(|| NotificationReceived {
                schema: SchemaV1,
                notification_id: i.id_operazione_anpr.clone(),
                kind: kind.to_ascii_uppercase(),
                state: i.state,
                content_base64: i.content_base64.clone(),
            })
        })
        .collect()
}

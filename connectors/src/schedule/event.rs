//! One feed item as one event: its envelope, with a `message_id` that depends only on what the platform
//! said (DESIGN §4: inbound ids are UUIDv5 of the platform's identifiers), so every re-poll of the item —
//! after a failover, a lost confirm or a crash before the cursor moved — yields the same id.

use chrono::Utc;
use snodo_queue::Message;
use snodo_queue::envelope::{Envelope, MessageType, SNODO_ID_NAMESPACE};
use uuid::Uuid;

use super::FeedItem;

/// The `message_id` of the event for the item `platform_id` of type `kind` and `tenant`. Inbound endpoints
/// that receive the same item pushed by the platform (e.g. ANPR notifications) must use this too, so
/// that a pushed and a polled copy de-duplicate.
pub fn item_message_id(kind: &MessageType, tenant: Option<&str>, platform_id: &str) -> Uuid {
    Uuid::new_v5(
        &SNODO_ID_NAMESPACE,
        format!("inbound/{kind}/{}/{platform_id}", tenant.unwrap_or("-")).as_bytes(),
    )
}

/// The event message for `item`.
pub fn item_event(item: &FeedItem, app_id: &str) -> Message {
    let envelope = Envelope {
        message_id: item_message_id(&item.kind, item.tenant.as_deref(), &item.platform_id),
        correlation_id: None,
        kind: item.kind.clone(),
        schema: 1,
        tenant: item.tenant.clone(),
        deadline: None,
        attempt: 1,
        external_key: None,
        reply_to: None,
        app_id: Some(app_id.to_owned()),
        timestamp: Some(Utc::now().timestamp().max(0) as u64),
    };
    envelope.to_message(serde_json::to_vec(&item.body).expect("a JSON value always serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(platform_id: &str, tenant: Option<&str>) -> FeedItem {
        FeedItem {
            platform_id: platform_id.into(),
            kind: "anpr.notification.received".parse().unwrap(),
            tenant: tenant.map(str::to_owned),
            body: serde_json::json!({ "id": platform_id }),
        }
    }

    #[test]
    fn the_same_item_always_gets_the_same_message_id() {
        let a = item_event(&item("N-1", Some("015146")), "snodo");
        let b = item_event(&item("N-1", Some("015146")), "snodo");
        assert_eq!(a.properties.message_id, b.properties.message_id);
        let parsed = Envelope::parse(&a).unwrap();
        assert_eq!(parsed.kind.as_str(), "anpr.notification.received");
        assert_eq!(parsed.tenant.as_deref(), Some("015146"));
        assert_eq!(parsed.correlation_id, None);
    }

    #[test]
    fn different_items_tenants_or_types_get_different_ids() {
        let kind: MessageType = "anpr.notification.received".parse().unwrap();
        let other: MessageType = "pagopa.flow.received".parse().unwrap();
        let base = item_message_id(&kind, Some("015146"), "N-1");
        assert_ne!(base, item_message_id(&kind, Some("015146"), "N-2"));
        assert_ne!(base, item_message_id(&kind, Some("058091"), "N-1"));
        assert_ne!(base, item_message_id(&kind, None, "N-1"));
        assert_ne!(base, item_message_id(&other, Some("015146"), "N-1"));
    }
}

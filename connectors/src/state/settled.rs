//! The consumer runtime's settled-attempts ledger (`snodo_queue::runtime::settled`) on the coordination
//! store: in Redis, so that an attempt settled by one instance is recognised when the broker redelivers it
//! to another; in process for the embedded mode, whose one process is the only consumer.
//!
//! One key per attempt, `<p>:settled:<message_id>:<attempt>`, written with `PX` = the settled retention
//! (a few days), so Redis forgets it by itself. The value is irrelevant; presence is the record.

use std::sync::Arc;

use async_trait::async_trait;
use snodo_queue::runtime::{LedgerUnavailable, MemoryLedger, SettledLedger, SharedLedger};
use uuid::Uuid;

use super::{RedisStore, SharedStore, StateError, StateSettings, check_ttl};

impl RedisStore {
    fn settled_key(&self, message_id: Uuid, attempt: u32) -> String {
        format!("{}:settled:{message_id}:{attempt}", self.settings.prefix)
    }
}

/// A store error as the runtime sees it: the runtime only needs to know that it got no answer, and
/// handles the delivery (at-least-once). The reason names keys by structure only (no personal data).
fn unavailable(e: StateError) -> LedgerUnavailable {
    LedgerUnavailable {
        reason: e.to_string(),
    }
}

#[async_trait]
impl SettledLedger for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn is_settled(&self, message_id: Uuid, attempt: u32) -> Result<bool, LedgerUnavailable> {
        let key = self.settled_key(message_id, attempt);
        let found: i64 = redis::cmd("EXISTS")
            .arg(&key)
            .query_async(&mut self.connection.clone())
            .await
            .map_err(|e| unavailable(super::redis_store::classify("settled", e)))?;
        Ok(found > 0)
    }

    async fn record_settled(&self, message_id: Uuid, attempt: u32) -> Result<(), LedgerUnavailable> {
        let retention =
            check_ttl("settled retention", self.settings.settled_retention).map_err(unavailable)?;
        let key = self.settled_key(message_id, attempt);
        redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("PX")
            .arg(retention)
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(|e| unavailable(super::redis_store::classify("settled", e)))
    }
}

/// The store and the settled-attempts ledger of `snodo up`: both on one Redis connection when `redis_url`
/// is set, both in process otherwise.
pub async fn connect_with_ledger(
    redis_url: Option<&str>,
    settings: StateSettings,
) -> Result<(SharedStore, SharedLedger), StateError> {
    match redis_url {
        Some(url) => {
            let store = Arc::new(RedisStore::connect(url, settings).await?);
            Ok((store.clone(), store))
        }
        None => {
            let retention = settings.settled_retention;
            Ok((
                Arc::new(super::MemoryStore::new(settings)),
                Arc::new(MemoryLedger::new(retention)),
            ))
        }
    }
}

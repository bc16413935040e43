//! The journal's place on Redis, one for both of its stores (the records and the dead-letter index):
//! the connection with its timeouts, the instance group's key prefix under which every journal key
//! lives, the retention that becomes each value's expiry, and the one way a Redis error is reported.

use std::fmt::Display;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::JournalError;

pub(super) struct JournalRedis {
    connection: ConnectionManager,
    prefix: String,
    retention: Duration,
}

pub(super) fn unavailable(e: redis::RedisError) -> JournalError {
    // redis-rs may quote the URL with its credentials in connection errors: keep only the kind.
    JournalError::Unavailable(format!("Redis error ({:?})", e.kind()))
}

impl JournalRedis {
    pub(super) async fn connect(url: &str, prefix: &str, retention: Duration) -> Result<Self, JournalError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(3);
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        Ok(JournalRedis {
            connection,
            prefix: prefix.to_owned(),
            retention,
        })
    }

    /// A handle for one operation; every clone multiplexes the one connection.
    pub(super) fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// `{prefix}:journal:{name}`.
    pub(super) fn key(&self, name: impl Display) -> String {
        format!("{}:journal:{name}", self.prefix)
    }

    pub(super) fn retention(&self) -> Duration {
        self.retention
    }

    /// The retention as a Redis expiry: whole seconds, at least one (zero would be refused).
    pub(super) fn expiry_secs(&self) -> u64 {
        self.retention.as_secs().max(1)
    }
}

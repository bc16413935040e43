//! The coordination store on Redis, shared by every Snodo instance of a deployment.
//!
//! Every operation that reads and then writes is one Lua script, so it is atomic without WATCH loops and
//! cannot interleave with another instance's. One multiplexed connection (redis-rs `ConnectionManager`)
//! serves the whole process and reconnects by itself; failures that may pass are
//! [`StateError::Unavailable`]. Expiry is Redis's own (`PX`, `PEXPIRE`), so it holds across instances.
//!
//! Keys, under the configured prefix: `<p>:counter:<counter>:<tenant>` and its allocation records
//! `…:msg:<message_id>`, `<p>:token:<kind>:<token>`, `<p>:seen:<kind>:<id>`, `<p>:cursor:<name>`,
//! `<p>:lease:<name>` (a hash: holder, fence), `<p>:fence:<name>` and the runtime's settled attempts
//! `<p>:settled:<message_id>:<attempt>` (`settled.rs`). Names never contain `:` (they are
//! checked), so no two keys of different meaning can collide. Scripts touch keys of different names, so
//! this targets a single Redis (with replicas), not Redis Cluster.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, RetryMethod, Script};
use uuid::Uuid;

use super::{
    Lease, MAX_ID_LEN, StateError, StateSettings, StateStore, check_len, check_name, check_ttl, replay_ttl,
};

/// How long one command may wait for its answer before the store is reported unavailable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// KEYS: allocation record, counter. ARGV: retention in ms. An existing record wins; otherwise the counter
/// moves on and the record is written before the number leaves Redis.
static ALLOCATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local existing = redis.call('GET', KEYS[1])
if existing then return tonumber(existing) end
local n = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], n, 'PX', ARGV[1])
return n
",
    )
});

/// KEYS: lease, fence counter. ARGV: holder, ttl ms. Returns the fencing token, or 0 while another holds it.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local holder = redis.call('HGET', KEYS[1], 'holder')
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('HGET', KEYS[1], 'fence'))
end
if holder then return 0 end
local fence = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'fence', fence)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return fence
",
    )
});

/// KEYS: lease. ARGV: holder, fence, ttl ms. 1 when renewed.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local l = redis.call('HMGET', KEYS[1], 'holder', 'fence')
if l[1] ~= ARGV[1] or l[2] ~= ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
",
    )
});

/// KEYS: lease. ARGV: holder, fence. 1 when released.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local l = redis.call('HMGET', KEYS[1], 'holder', 'fence')
if l[1] ~= ARGV[1] or l[2] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
return 1
",
    )
});

/// KEYS: cursor, lease. ARGV: value, holder, fence. 1 when written.
static SET_CURSOR_FENCED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local l = redis.call('HMGET', KEYS[2], 'holder', 'fence')
if l[1] ~= ARGV[2] or l[2] ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
",
    )
});

/// KEYS: cursor. ARGV: '1' when a value is expected (then ARGV[2]) or '0' for "not set", new value.
static COMPARE_AND_SET_CURSOR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
",
    )
});

/// The Redis store. Cloning shares the connection.
#[derive(Clone)]
pub struct RedisStore {
    pub(super) settings: StateSettings,
    pub(super) connection: ConnectionManager,
}

impl RedisStore {
    /// Connects to `url` (`redis://` or `rediss://`, optionally with credentials) and checks that Redis
    /// answers. The connection reconnects by itself afterwards.
    pub async fn connect(url: &str, settings: StateSettings) -> Result<RedisStore, StateError> {
        let address = redacted_address(url);
        // redis-rs's text for a bad URL may quote the URL, credentials included: say what is expected instead.
        let client = redis::Client::open(url).map_err(|e| StateError::Store {
            key: "(connection)".into(),
            reason: format!(
                "the Redis URL for {address} is not usable ({:?}): expected redis://[user:password@]host[:port][/db] or rediss://…",
                e.kind()
            ),
        })?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(3);
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| classify(&format!("(connecting to {address})"), e))?;
        let store = RedisStore { settings, connection };
        let mut con = store.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut con)
            .await
            .map_err(|e| classify(&format!("(PING to {address})"), e))?;
        Ok(store)
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut key = self.settings.prefix.clone();
        for part in parts {
            key.push(':');
            key.push_str(part);
        }
        key
    }

    fn check_value(&self, what: &'static str, value: &[u8]) -> Result<(), StateError> {
        check_len(what, value, self.settings.max_value_len, true)
    }
}

/// The text of a Redis error for our messages: redis-rs's own (`Connection refused (os error 111)`,
/// `LOADING …`), cut short. Keys in our messages name their structure only, never a token or replay id.
trait KindText {
    fn kind_text(&self) -> String;
}

impl KindText for RedisError {
    fn kind_text(&self) -> String {
        self.to_string().chars().take(300).collect()
    }
}

/// "Unavailable, try again" versus an answer that retrying will not change.
pub(super) fn classify(key: &str, e: RedisError) -> StateError {
    let transient = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || (e.kind() != ErrorKind::AuthenticationFailed && !matches!(e.retry_method(), RetryMethod::NoRetry));
    if transient {
        StateError::Unavailable {
            reason: format!("{key}: {}", e.kind_text()),
        }
    } else {
        StateError::Store {
            key: key.to_owned(),
            reason: e.kind_text(),
        }
    }
}

/// `host:port` of a Redis URL, without credentials, for messages.
fn redacted_address(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split(['/', '?']).next().unwrap_or_default().to_owned()
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl StateStore for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn allocate(&self, counter: &str, tenant: &str, message_id: Uuid) -> Result<u64, StateError> {
        check_name("counter", counter)?;
        check_name("tenant", tenant)?;
        let retention = check_ttl("allocation retention", self.settings.allocation_retention)?;
        let counter_key = self.key(&["counter", counter, tenant]);
        let record = format!("{counter_key}:msg:{message_id}");
        let n: i64 = ALLOCATE
            .key(&record)
            .key(&counter_key)
            .arg(retention)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|e| classify(&counter_key, e))?;
        u64::try_from(n)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| StateError::Store {
                key: counter_key,
                reason: format!("the counter holds {n}, not a positive number"),
            })
    }

    async fn put_token(
        &self,
        kind: &str,
        token: &str,
        value: Bytes,
        ttl: Duration,
    ) -> Result<(), StateError> {
        check_name("token kind", kind)?;
        check_len("token", token.as_bytes(), MAX_ID_LEN, false)?;
        self.check_value("token value", &value)?;
        let ttl = check_ttl("a token", ttl)?;
        let written: Option<String> = redis::cmd("SET")
            .arg(self.key(&["token", kind, token]))
            .arg(value.as_ref())
            .arg("NX")
            .arg("PX")
            .arg(ttl)
            .query_async(&mut self.connection.clone())
            .await
            .map_err(|e| classify(&self.key(&["token", kind, "…"]), e))?;
        match written {
            Some(_) => Ok(()),
            None => Err(StateError::TokenExists {
                kind: kind.to_owned(),
            }),
        }
    }

    async fn take_token(&self, kind: &str, token: &str) -> Result<Option<Bytes>, StateError> {
        check_name("token kind", kind)?;
        check_len("token", token.as_bytes(), MAX_ID_LEN, false)?;
        let value: Option<Vec<u8>> = redis::cmd("GETDEL")
            .arg(self.key(&["token", kind, token]))
            .query_async(&mut self.connection.clone())
            .await
            .map_err(|e| classify(&self.key(&["token", kind, "…"]), e))?;
        Ok(value.map(Bytes::from))
    }

    async fn remember_once(&self, kind: &str, id: &str, until: DateTime<Utc>) -> Result<bool, StateError> {
        check_name("replay kind", kind)?;
        check_len("replay id", id.as_bytes(), MAX_ID_LEN, false)?;
        let written: Option<String> = redis::cmd("SET")
            .arg(self.key(&["seen", kind, id]))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ms(replay_ttl(until)))
            .query_async(&mut self.connection.clone())
            .await
            .map_err(|e| classify(&self.key(&["seen", kind, "…"]), e))?;
        Ok(written.is_some())
    }

    async fn cursor(&self, name: &str) -> Result<Option<String>, StateError> {
        check_name("cursor", name)?;
        let key = self.key(&["cursor", name]);
        redis::cmd("GET")
            .arg(&key)
            .query_async(&mut self.connection.clone())
            .await
            .map_err(|e| classify(&key, e))
    }

    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StateError> {
        check_name("cursor", name)?;
        self.check_value("cursor value", value.as_bytes())?;
        let key = self.key(&["cursor", name]);
        redis::cmd("SET")
            .arg(&key)
            .arg(value)
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(|e| classify(&key, e))
    }

    async fn compare_and_set_cursor(
        &self,
        name: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StateError> {
        check_name("cursor", name)?;
        self.check_value("cursor value", value.as_bytes())?;
        let key = self.key(&["cursor", name]);
        let done: i64 = COMPARE_AND_SET_CURSOR
            .key(&key)
            .arg(if expected.is_some() { "1" } else { "0" })
            .arg(expected.unwrap_or_default())
            .arg(value)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|e| classify(&key, e))?;
        Ok(done == 1)
    }

    async fn set_cursor_fenced(&self, name: &str, value: &str, lease: &Lease) -> Result<(), StateError> {
        check_name("cursor", name)?;
        check_name("lease", &lease.name)?;
        self.check_value("cursor value", value.as_bytes())?;
        let key = self.key(&["cursor", name]);
        let done: i64 = SET_CURSOR_FENCED
            .key(&key)
            .key(self.key(&["lease", &lease.name]))
            .arg(value)
            .arg(&lease.holder)
            .arg(lease.fence)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|e| classify(&key, e))?;
        if done == 1 {
            Ok(())
        } else {
            Err(StateError::LeaseLost {
                name: lease.name.clone(),
                fence: lease.fence,
            })
        }
    }

    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>, StateError> {
        check_name("lease", name)?;
        check_len("lease holder", holder.as_bytes(), MAX_ID_LEN, false)?;
        let ttl = check_ttl("a lease", ttl)?;
        let key = self.key(&["lease", name]);
        let fence: i64 = ACQUIRE
            .key(&key)
            .key(self.key(&["fence", name]))
            .arg(holder)
            .arg(ttl)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|e| classify(&key, e))?;
        match u64::try_from(fence) {
            Ok(0) => Ok(None),
            Ok(fence) => Ok(Some(Lease {
                name: name.to_owned(),
                holder: holder.to_owned(),
                fence,
            })),
            Err(_) => Err(StateError::Store {
                key,
                reason: format!("the lease holds fencing token {fence}, not a positive number"),
            }),
        }
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StateError> {
        check_name("lease", &lease.name)?;
        let ttl = check_ttl("a lease", ttl)?;
        let key = self.key(&["lease", &lease.name]);
        let done: i64 = RENEW
            .key(&key)
            .arg(&lease.holder)
            .arg(lease.fence)
            .arg(ttl)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|e| classify(&key, e))?;
        Ok(done == 1)
    }

    async fn release(&self, lease: &Lease) -> Result<bool, StateError> {
        check_name("lease", &lease.name)?;
        let key = self.key(&["lease", &lease.name]);
        let done: i64 = RELEASE
            .key(&key)
            .arg(&lease.holder)
            .arg(lease.fence)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|e| classify(&key, e))?;
        Ok(done == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_messages_carry_no_credentials() {
        assert_eq!(
            redacted_address("redis://user:secret@redis.example:6380/2"),
            "redis.example:6380"
        );
        assert_eq!(redacted_address("rediss://:p@ss@h:1"), "h:1");
        assert_eq!(redacted_address("redis://127.0.0.1:6379"), "127.0.0.1:6379");
    }
}

//! Isolated coordination stores for tests, behind the `testing` feature: each test gets a namespace of its
//! own (a unique key prefix on the shared Redis, or a fresh in-process store), so tests run in parallel
//! against one Redis and leave nothing behind.
//!
//! Redis is found at `SNODO_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`); a test that needs it fails,
//! never skips, when it is not there — `scripts/test` starts it.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use snodo_queue::runtime::{MemoryLedger, SharedLedger};

use super::{MemoryStore, RedisStore, SharedStore, StateSettings};

pub const DEFAULT_TEST_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Which implementation a test runs against.
#[derive(Debug, Clone)]
pub enum TestBackend {
    InProcess,
    Redis { url: String },
}

impl TestBackend {
    /// Redis at `SNODO_TEST_REDIS_URL`, or the local default.
    pub fn redis() -> TestBackend {
        TestBackend::Redis {
            url: std::env::var("SNODO_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_TEST_REDIS_URL.to_owned()),
        }
    }

    /// A new, empty namespace with `settings` (their prefix is replaced by a unique one).
    pub fn namespace(&self, settings: StateSettings) -> TestNamespace {
        let settings = StateSettings {
            prefix: format!("snodo-test-{}", &Uuid::new_v4().simple().to_string()[..12]),
            ..settings
        };
        let backend = match self {
            TestBackend::InProcess => Namespaced::InProcess(
                Arc::new(MemoryStore::new(settings.clone())),
                Arc::new(MemoryLedger::new(settings.settled_retention)),
            ),
            TestBackend::Redis { url } => Namespaced::Redis { url: url.clone() },
        };
        TestNamespace { backend, settings }
    }
}

/// One test's share of a store. Every [`TestNamespace::connect`] sees the same data; on Redis each is a
/// connection of its own, as two Snodo instances would have.
pub struct TestNamespace {
    backend: Namespaced,
    settings: StateSettings,
}

enum Namespaced {
    /// The in-process store and ledger are the namespace: each test has its own.
    InProcess(Arc<MemoryStore>, Arc<MemoryLedger>),
    Redis {
        url: String,
    },
}

impl TestNamespace {
    pub fn settings(&self) -> &StateSettings {
        &self.settings
    }

    pub async fn connect(&self) -> SharedStore {
        match &self.backend {
            Namespaced::InProcess(memory, _) => memory.clone(),
            Namespaced::Redis { url } => Arc::new(self.connect_redis(url).await),
        }
    }

    /// The settled-attempts ledger of this namespace, as `connect_with_ledger` gives it to `snodo up`;
    /// on Redis a connection of its own.
    pub async fn ledger(&self) -> SharedLedger {
        match &self.backend {
            Namespaced::InProcess(_, ledger) => ledger.clone(),
            Namespaced::Redis { url } => Arc::new(self.connect_redis(url).await),
        }
    }

    async fn connect_redis(&self, url: &str) -> RedisStore {
        match tokio::time::timeout(
            Duration::from_secs(15),
            RedisStore::connect(url, self.settings.clone()),
        )
        .await
        {
            Ok(Ok(store)) => store,
            Ok(Err(e)) => panic!("Redis for the tests is not usable at {url} (scripts/test starts it): {e}"),
            Err(_) => panic!("Redis for the tests did not answer within 15 s at {url}"),
        }
    }
}

impl Drop for TestNamespace {
    /// Removes the namespace's keys from Redis, counters and cursors included (they never expire).
    fn drop(&mut self) {
        let Namespaced::Redis { url } = &self.backend else {
            return;
        };
        let Ok(client) = redis::Client::open(url.as_str()) else {
            return;
        };
        let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
            return;
        };
        let pattern = format!("{}:*", self.settings.prefix);
        let mut cursor: u64 = 0;
        loop {
            let Ok((next, keys)) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query::<(u64, Vec<String>)>(&mut con)
            else {
                return;
            };
            if !keys.is_empty() {
                let _ = redis::cmd("DEL").arg(&keys).query::<i64>(&mut con);
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }
}

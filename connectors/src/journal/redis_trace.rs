//! The journal's records on Redis, shared by every instance: one JSON value per record with the
//! retention as its expiry, a sorted set per trace key (message id, correlation id, keyed hash of a
//! business id) of record ids by time — the small index that lets a trace skip the rest of the
//! retention period — and a capped sorted set of recent failures for the `/ops` page.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::AsyncCommands;

use super::JournalError;
use super::redis_space::{JournalRedis, unavailable};
use super::trace::{TraceRecord, TraceStore};

/// Failures kept for the page beyond which the oldest go (they stay findable by trace).
const MAX_FAILURES: isize = 10_000;

pub struct RedisTrace {
    redis: JournalRedis,
}

impl RedisTrace {
    pub async fn connect(url: &str, prefix: &str, retention: Duration) -> Result<Self, JournalError> {
        Ok(RedisTrace {
            redis: JournalRedis::connect(url, prefix, retention).await?,
        })
    }

    fn record_key(&self, id: &str) -> String {
        self.redis.key(format_args!("rec:{id}"))
    }

    fn index_key(&self, key: &str) -> String {
        self.redis.key(format_args!("key:{key}"))
    }

    fn failures_key(&self) -> String {
        self.redis.key("failures")
    }

    /// Reads the hash key that [`super::writer`] keeps on Redis when no key file is configured:
    /// the first instance to start sets it, the others read it.
    pub async fn shared_hmac_key(&self, candidate: &[u8]) -> Result<Vec<u8>, JournalError> {
        let mut con = self.redis.connection();
        let key = self.redis.key("hmac-key");
        let _: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(candidate)
            .arg("NX")
            .query_async(&mut con)
            .await
            .map_err(unavailable)?;
        let stored: Vec<u8> = con.get(&key).await.map_err(unavailable)?;
        Ok(stored)
    }

    async fn read(&self, ids: &[String]) -> Result<Vec<(String, Option<TraceRecord>)>, JournalError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut con = self.redis.connection();
        let keys: Vec<String> = ids.iter().map(|id| self.record_key(id)).collect();
        let values: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut con)
            .await
            .map_err(unavailable)?;
        ids.iter()
            .zip(values)
            .map(|(id, v)| {
                let record = v
                    .map(|raw| {
                        serde_json::from_str(&raw).map_err(|e| JournalError::Corrupt(format!("{id}: {e}")))
                    })
                    .transpose()?;
                Ok((id.clone(), record))
            })
            .collect()
    }
}

#[async_trait]
impl TraceStore for RedisTrace {
    async fn append(&self, records: &[TraceRecord]) -> Result<(), JournalError> {
        let ttl = self.redis.expiry_secs();
        let mut pipe = redis::pipe();
        for r in records {
            let json = serde_json::to_string(r).map_err(|e| JournalError::Corrupt(e.to_string()))?;
            let score = r.at.timestamp_millis();
            pipe.set_ex(self.record_key(&r.id), json, ttl).ignore();
            for k in &r.keys {
                let index = self.index_key(k);
                pipe.zadd(&index, &r.id, score).ignore();
                pipe.expire(&index, ttl as i64).ignore();
            }
            if r.kind.is_failure() {
                pipe.zadd(self.failures_key(), &r.id, score).ignore();
            }
        }
        let cutoff = (Utc::now()
            - chrono::Duration::from_std(self.redis.retention()).unwrap_or(chrono::Duration::MAX))
        .timestamp_millis();
        pipe.zrembyscore(self.failures_key(), "-inf", format!("({cutoff}"))
            .ignore();
        pipe.zremrangebyrank(self.failures_key(), 0, -(MAX_FAILURES + 1))
            .ignore();
        let mut con = self.redis.connection();
        pipe.query_async::<()>(&mut con).await.map_err(unavailable)
    }

    async fn find(&self, keys: &[String]) -> Result<Vec<TraceRecord>, JournalError> {
        let mut con = self.redis.connection();
        let mut ids: Vec<String> = Vec::new();
        for k in keys {
            let found: Vec<String> = con.zrange(self.index_key(k), 0, -1).await.map_err(unavailable)?;
            ids.extend(found);
        }
        ids.sort();
        ids.dedup();
        let mut out: Vec<TraceRecord> = self
            .read(&ids)
            .await?
            .into_iter()
            .filter_map(|(_, r)| r)
            .collect();
        out.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        Ok(out)
    }

    async fn delete(&self, records: &[TraceRecord]) -> Result<u64, JournalError> {
        let mut con = self.redis.connection();
        let mut deleted = 0;
        for r in records {
            let mut pipe = redis::pipe();
            pipe.atomic().del(self.record_key(&r.id));
            for k in &r.keys {
                pipe.zrem(self.index_key(k), &r.id).ignore();
            }
            pipe.zrem(self.failures_key(), &r.id).ignore();
            let (n,): (u64,) = pipe.query_async(&mut con).await.map_err(unavailable)?;
            deleted += n;
        }
        Ok(deleted)
    }

    async fn failures(&self, since: DateTime<Utc>) -> Result<Vec<TraceRecord>, JournalError> {
        let mut con = self.redis.connection();
        let ids: Vec<String> = con
            .zrangebyscore(self.failures_key(), since.timestamp_millis(), "+inf")
            .await
            .map_err(unavailable)?;
        Ok(self
            .read(&ids)
            .await?
            .into_iter()
            .filter_map(|(_, r)| r)
            .collect())
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}

//! The dead-letter index on Redis, shared by every instance: one JSON value per entry with the
//! retention as its expiry, a sorted set of ids by failure time to list them in order, and a claim key
//! (`SET NX` with an expiry) so that two operators never replay one entry twice.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;

use super::redis_space::{JournalRedis, unavailable};
use super::{CLAIM_TTL, DeadLetter, DeadLetterFilter, DeadLetterIndex, JournalError, Replay};

pub struct RedisDeadLetters {
    redis: JournalRedis,
}

impl RedisDeadLetters {
    pub async fn connect(url: &str, prefix: &str, retention: Duration) -> Result<Self, JournalError> {
        Ok(RedisDeadLetters {
            redis: JournalRedis::connect(url, prefix, retention).await?,
        })
    }

    fn entry_key(&self, id: &str) -> String {
        self.redis.key(format_args!("dlq:{id}"))
    }

    fn claim_key(&self, id: &str) -> String {
        self.redis.key(format_args!("dlq-claim:{id}"))
    }

    fn index_key(&self) -> String {
        self.redis.key("dlq-index")
    }

    async fn write(&self, entry: &DeadLetter) -> Result<(), JournalError> {
        let json = serde_json::to_string(entry).map_err(|e| JournalError::Corrupt(e.to_string()))?;
        let mut con = self.redis.connection();
        redis::pipe()
            .atomic()
            .set_ex(self.entry_key(&entry.id), json, self.redis.expiry_secs())
            .zadd(self.index_key(), &entry.id, entry.failed_at.timestamp_millis())
            .query_async::<()>(&mut con)
            .await
            .map_err(unavailable)
    }
}

#[async_trait]
impl DeadLetterIndex for RedisDeadLetters {
    async fn put(&self, entry: &DeadLetter) -> Result<(), JournalError> {
        self.write(entry).await
    }

    async fn get(&self, id: &str) -> Result<DeadLetter, JournalError> {
        let mut con = self.redis.connection();
        let raw: Option<String> = con.get(self.entry_key(id)).await.map_err(unavailable)?;
        let raw = raw.ok_or_else(|| JournalError::NotFound(id.to_owned()))?;
        serde_json::from_str(&raw).map_err(|e| JournalError::Corrupt(format!("{id}: {e}")))
    }

    async fn list(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>, JournalError> {
        let mut con = self.redis.connection();
        let min = filter
            .since
            .map(|t| t.timestamp_millis().to_string())
            .unwrap_or("-inf".into());
        let max = filter
            .until
            .map(|t| format!("({}", t.timestamp_millis()))
            .unwrap_or("+inf".into());
        let ids: Vec<String> = con
            .zrangebyscore(self.index_key(), min, max)
            .await
            .map_err(unavailable)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.entry_key(id)).collect();
        let values: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut con)
            .await
            .map_err(unavailable)?;
        let mut out = Vec::new();
        let mut expired = Vec::new();
        for (id, value) in ids.into_iter().zip(values) {
            match value {
                Some(raw) => {
                    let e: DeadLetter = serde_json::from_str(&raw)
                        .map_err(|e| JournalError::Corrupt(format!("{id}: {e}")))?;
                    if filter.matches(&e) {
                        out.push(e);
                    }
                }
                None => expired.push(id),
            }
        }
        if !expired.is_empty() {
            // The entries expired with the retention; their ids leave the index now.
            let _: () = con.zrem(self.index_key(), expired).await.map_err(unavailable)?;
        }
        Ok(out)
    }

    async fn claim(&self, id: &str) -> Result<DeadLetter, JournalError> {
        let entry = self.get(id).await?;
        if let Some(r) = entry.replayed {
            return Err(JournalError::AlreadyReplayed {
                id: id.to_owned(),
                by: r.by,
                at: r.at,
            });
        }
        let mut con = self.redis.connection();
        let taken: Option<String> = redis::cmd("SET")
            .arg(self.claim_key(id))
            .arg("1")
            .arg("NX")
            .arg("EX")
            .arg(CLAIM_TTL.as_secs())
            .query_async(&mut con)
            .await
            .map_err(unavailable)?;
        if taken.is_none() {
            return Err(JournalError::Busy(id.to_owned()));
        }
        // Read again under the claim: another operator may have replayed it just before.
        let entry = self.get(id).await?;
        if let Some(r) = entry.replayed {
            return Err(JournalError::AlreadyReplayed {
                id: id.to_owned(),
                by: r.by,
                at: r.at,
            });
        }
        Ok(entry)
    }

    async fn release(&self, id: &str) -> Result<(), JournalError> {
        let mut con = self.redis.connection();
        con.del::<_, ()>(self.claim_key(id)).await.map_err(unavailable)
    }

    async fn mark_replayed(&self, id: &str, replay: Replay) -> Result<(), JournalError> {
        let mut entry = self.get(id).await?;
        entry.replayed = Some(replay);
        // The claim is left to lapse: until then nobody can claim, afterwards the mark refuses.
        self.write(&entry).await
    }

    async fn remove(&self, id: &str) -> Result<bool, JournalError> {
        let mut con = self.redis.connection();
        let (removed, _): (u64, u64) = redis::pipe()
            .atomic()
            .del(self.entry_key(id))
            .zrem(self.index_key(), id)
            .query_async(&mut con)
            .await
            .map_err(unavailable)?;
        Ok(removed > 0)
    }
}

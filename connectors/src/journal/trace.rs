//! The journal's records — commands, attempts at platforms, inbound calls, events — and where they are
//! kept: a [`TraceStore`] indexed by trace keys (a message id, a correlation id, or the keyed hash of a
//! business id), with a retention after which records and index entries expire.
//!
//! Records are written by [`super::writer::Journal`] and read back by `snodo ops trace`; they never
//! carry a business id in clear except inside a raw body, and raw bodies are there only when the
//! operator configured them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::JournalError;

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    CommandReceived,
    CommandCompleted,
    RetryScheduled,
    CommandFailed,
    PlatformAttempt,
    InboundCall,
    EventPublished,
}

impl RecordKind {
    pub fn is_failure(self) -> bool {
        matches!(self, RecordKind::CommandFailed)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceRecord {
    /// Unique per record.
    pub id: String,
    pub at: DateTime<Utc>,
    pub kind: RecordKind,
    /// The connector (runtime label) or platform that recorded it.
    pub source: String,
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    pub tenant: Option<String>,
    pub attempt: Option<u32>,
    /// Platform operation or inbound endpoint.
    pub operation: Option<String>,
    pub endpoint: Option<String>,
    pub status: Option<u16>,
    pub duration_ms: Option<u64>,
    /// `ok` or a DESIGN §5 code.
    pub outcome: Option<String>,
    pub platform_code: Option<String>,
    /// The error text, codici fiscali masked.
    pub detail: Option<String>,
    pub retry_in_ms: Option<u64>,
    /// Raw bodies, only when `journal.raw_bodies` is on.
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    /// The trace keys this record is indexed under (message ids and keyed hashes, never clear
    /// business ids), so that erasing removes it from every index.
    pub keys: Vec<String>,
}

impl TraceRecord {
    /// The record as listings show it: no raw bodies.
    pub fn summary(&self) -> TraceRecord {
        TraceRecord {
            request_body: None,
            response_body: None,
            ..self.clone()
        }
    }
}

/// The trace key of a message or correlation id.
pub fn id_key(id: &str) -> String {
    format!("id:{}", id.trim().to_ascii_lowercase())
}

/// Where records are kept. Implementations agree on semantics: a record is found through every key
/// it names until its retention passes or it is erased.
#[async_trait]
pub trait TraceStore: Send + Sync + 'static {
    async fn append(&self, records: &[TraceRecord]) -> Result<(), JournalError>;
    /// Records indexed under any of `keys`, oldest first, without duplicates.
    async fn find(&self, keys: &[String]) -> Result<Vec<TraceRecord>, JournalError>;
    /// Deletes records by id (and their index entries); returns how many existed.
    async fn delete(&self, records: &[TraceRecord]) -> Result<u64, JournalError>;
    /// Failed commands since `since`, oldest first (the `/ops` page groups them by code).
    async fn failures(&self, since: DateTime<Utc>) -> Result<Vec<TraceRecord>, JournalError>;
    fn kind(&self) -> &'static str;
}

/// The embedded transport's store: records under one lock, expiry on every access, and a cap so
/// that a development instance left running does not grow without end.
pub struct MemoryTrace {
    retention: Duration,
    max_records: usize,
    inner: Mutex<MemoryInner>,
}

#[derive(Default)]
struct MemoryInner {
    records: BTreeMap<String, TraceRecord>,
    /// key → record ids.
    index: BTreeMap<String, BTreeSet<String>>,
    /// (time, id) in arrival order, for expiry and the cap.
    order: BTreeSet<(DateTime<Utc>, String)>,
}

impl MemoryInner {
    fn remove(&mut self, id: &str) -> bool {
        let Some(r) = self.records.remove(id) else {
            return false;
        };
        self.order.remove(&(r.at, r.id.clone()));
        for k in &r.keys {
            if let Some(set) = self.index.get_mut(k) {
                set.remove(id);
                if set.is_empty() {
                    self.index.remove(k);
                }
            }
        }
        true
    }
}

pub const DEFAULT_MEMORY_RECORDS: usize = 200_000;

impl MemoryTrace {
    pub fn new(retention: Duration, max_records: usize) -> Self {
        MemoryTrace {
            retention,
            max_records,
            inner: Mutex::new(MemoryInner::default()),
        }
    }

    fn live(&self) -> parking_lot::MutexGuard<'_, MemoryInner> {
        let cutoff = Utc::now() - chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::MAX);
        let mut inner = self.inner.lock();
        let expired: Vec<String> = inner
            .order
            .iter()
            .take_while(|(at, _)| *at < cutoff)
            .map(|(_, id)| id.clone())
            .collect();
        for id in expired {
            inner.remove(&id);
        }
        inner
    }
}

#[async_trait]
impl TraceStore for MemoryTrace {
    async fn append(&self, records: &[TraceRecord]) -> Result<(), JournalError> {
        let mut inner = self.live();
        for r in records {
            for k in &r.keys {
                inner.index.entry(k.clone()).or_default().insert(r.id.clone());
            }
            inner.order.insert((r.at, r.id.clone()));
            inner.records.insert(r.id.clone(), r.clone());
        }
        while inner.records.len() > self.max_records {
            let Some((_, id)) = inner.order.first().cloned() else {
                break;
            };
            inner.remove(&id);
        }
        Ok(())
    }

    async fn find(&self, keys: &[String]) -> Result<Vec<TraceRecord>, JournalError> {
        let inner = self.live();
        let ids: BTreeSet<&String> = keys.iter().filter_map(|k| inner.index.get(k)).flatten().collect();
        let mut v: Vec<TraceRecord> = ids
            .into_iter()
            .filter_map(|id| inner.records.get(id).cloned())
            .collect();
        v.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        Ok(v)
    }

    async fn delete(&self, records: &[TraceRecord]) -> Result<u64, JournalError> {
        let mut inner = self.live();
        Ok(records.iter().filter(|r| inner.remove(&r.id)).count() as u64)
    }

    async fn failures(&self, since: DateTime<Utc>) -> Result<Vec<TraceRecord>, JournalError> {
        let inner = self.live();
        Ok(inner
            .order
            .range((since, String::new())..)
            .filter_map(|(_, id)| inner.records.get(id))
            .filter(|r| r.kind.is_failure())
            .cloned()
            .collect())
    }

    fn kind(&self) -> &'static str {
        "in-process"
    }
}

//! Bulk lookup jobs after submission: the record of each job's chunks in the coordination store, and
//! the per-tenant [`Feed`] that polls 4005 for their results on the scheduler — so no delivery is ever
//! held open waiting for ANPR (issue 5).
//!
//! Store layout (cursor values, JSON): `anpr-bulk.<istat>.jobs` lists the pending jobs (changed by
//! compare-and-set, since handlers on several instances add to it); `anpr-bulk.<istat>.<job>` holds a
//! job's chunks. The feed's own cursor records which chunks already had their results published and
//! which jobs are finished: it is written by the scheduler only after every event of a poll is
//! confirmed, so a crash re-polls and re-publishes with the same `message_id`s rather than losing a
//! result. A finished job leaves the pending list on the poll after its completed event was confirmed.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use snodo_mappings::anpr::SchemaV1;
use snodo_mappings::anpr::bulk::{self, BulkLookupCompleted, PollResult};
use snodo_mappings::anpr::notification::{self, NotificationReceived};
use snodo_queue::envelope::MessageType;
use uuid::Uuid;

use super::config::AnprTenant;
use super::soap::{allocate, exchange};
use crate::schedule::{Feed, FeedError, FeedItem, Poll};
use crate::state::{SharedStore, StateError};

pub const RESULT_EVENT: &str = "anpr.bulk_lookup.result";
pub const COMPLETED_EVENT: &str = "anpr.bulk_lookup.completed";

/// How much result content one poll gathers before it stops and lets the scheduler publish it and
/// poll again at once: a job over a whole city is gigabytes of results, which must never sit in
/// memory together.
const POLL_BUDGET_BYTES: usize = 32 << 20;

/// ANPR's "not ready yet" answers to 4005 (§1.7: EN099, EN108, EN109): poll again later.
const NOT_READY: &[&str] = &["EN099", "EN108", "EN109"];

/// A submitted job, as recorded for the poller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub job: Uuid,
    pub chunks: Vec<JobChunk>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobChunk {
    pub id_operazione_anpr: String,
    pub codici_fiscali: u32,
}

/// The pending jobs of every tenant, in the coordination store.
#[derive(Clone)]
pub struct BulkJobs {
    store: SharedStore,
}

fn jobs_key(istat: &str) -> String {
    format!("anpr-bulk.{istat}.jobs")
}

fn job_key(istat: &str, job: Uuid) -> String {
    format!("anpr-bulk.{istat}.{}", job.simple())
}

fn corrupt(key: &str, e: serde_json::Error) -> StateError {
    StateError::Store {
        key: key.to_owned(),
        reason: format!("not the JSON the ANPR connector writes: {e}"),
    }
}

impl BulkJobs {
    pub fn new(store: SharedStore) -> BulkJobs {
        BulkJobs { store }
    }

    /// Records `job` (idempotent: a retried command records the same chunks again) and adds it to
    /// the tenant's pending list.
    pub async fn register(&self, istat: &str, job: &Job) -> Result<(), StateError> {
        let record = serde_json::to_string(job).expect("a job always serializes");
        self.store.set_cursor(&job_key(istat, job.job), &record).await?;
        self.update_pending(istat, |jobs| {
            if !jobs.contains(&job.job) {
                jobs.push(job.job);
            }
        })
        .await
    }

    /// The tenant's pending jobs.
    pub async fn pending(&self, istat: &str) -> Result<Vec<Uuid>, StateError> {
        let key = jobs_key(istat);
        match self.store.cursor(&key).await? {
            None => Ok(Vec::new()),
            Some(text) => serde_json::from_str(&text).map_err(|e| corrupt(&key, e)),
        }
    }

    pub async fn job(&self, istat: &str, job: Uuid) -> Result<Option<Job>, StateError> {
        let key = job_key(istat, job);
        match self.store.cursor(&key).await? {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| corrupt(&key, e)),
        }
    }

    async fn forget(&self, istat: &str, finished: &[Uuid]) -> Result<(), StateError> {
        self.update_pending(istat, |jobs| jobs.retain(|j| !finished.contains(j)))
            .await
    }

    async fn update_pending(&self, istat: &str, change: impl Fn(&mut Vec<Uuid>)) -> Result<(), StateError> {
        let key = jobs_key(istat);
        loop {
            let current = self.store.cursor(&key).await?;
            let mut jobs: Vec<Uuid> = match &current {
                None => Vec::new(),
                Some(text) => serde_json::from_str(text).map_err(|e| corrupt(&key, e))?,
            };
            change(&mut jobs);
            let next = serde_json::to_string(&jobs).expect("ids always serialize");
            if self
                .store
                .compare_and_set_cursor(&key, current.as_deref(), &next)
                .await?
            {
                return Ok(());
            }
        }
    }
}

/// What the feed's cursor remembers between polls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Progress {
    /// Per pending job: chunk index → result files published.
    #[serde(default)]
    done: BTreeMap<Uuid, BTreeMap<u32, u32>>,
    /// Jobs whose completed event is confirmed: removed from the pending list on the next poll.
    #[serde(default)]
    finished: Vec<Uuid>,
}

/// The 4005 poller of one tenant's bulk jobs.
pub struct BulkResultsFeed {
    name: String,
    tenant: Arc<AnprTenant>,
    store: SharedStore,
    jobs: BulkJobs,
}

impl BulkResultsFeed {
    pub fn new(tenant: Arc<AnprTenant>, store: SharedStore) -> BulkResultsFeed {
        BulkResultsFeed {
            name: format!("anpr-bulk.{}", tenant.istat),
            jobs: BulkJobs::new(store.clone()),
            tenant,
            store,
        }
    }

    /// One page of the results of `id_operazione_anpr`; `None` while ANPR is still working.
    async fn fetch(&self, id_operazione_anpr: &str, page: u32) -> Result<Option<PollResult>, FeedError> {
        // A read: a fresh number for every poll, never reused (a repeat would replay an old answer).
        let key = Uuid::new_v4();
        let id = allocate(&self.tenant, &self.store, key)
            .await
            .map_err(|e| FeedError::Unavailable(e.message))?;
        let answer = exchange(
            &self.tenant,
            &self.store,
            bulk::POLL_SERVICE,
            key,
            id,
            |ctx| bulk::write_poll_request(id_operazione_anpr, page, ctx),
            bulk::read_poll_response,
        )
        .await
        .map_err(|e| FeedError::Unavailable(e.message))?;
        match answer {
            Ok(result) => Ok(Some(result)),
            Err(r) if r.platform_code().is_some_and(|c| NOT_READY.contains(&c)) => Ok(None),
            Err(r) => {
                // Not the feed's failure: the other jobs of the tenant must not wait behind this
                // one. The chunk stays pending and is asked again at the next poll.
                tracing::error!(
                    operation = id_operazione_anpr,
                    code = r.platform_code().unwrap_or("KO"),
                    "ANPR refused the 4005 poll of a bulk chunk; it will be asked again."
                );
                Ok(None)
            }
        }
    }
}

fn kind(name: &str) -> MessageType {
    name.parse().expect("the connector's event types are well formed")
}

fn item(kind_name: &str, tenant: &str, platform_id: String, body: &impl Serialize) -> FeedItem {
    FeedItem {
        platform_id,
        kind: kind(kind_name),
        tenant: Some(tenant.to_owned()),
        body: serde_json::to_value(body).expect("contract types always serialize"),
    }
}

/// The notification entries of a 4005 answer, as events that de-duplicate with pushed copies.
pub fn notification_items(tenant: &str, poll: &PollResult) -> Vec<FeedItem> {
    notification::from_poll(poll)
        .into_iter()
        .map(|n: NotificationReceived| item(notification::EVENT, tenant, n.platform_key(), &n))
        .collect()
}

#[async_trait]
impl Feed for BulkResultsFeed {
    fn name(&self) -> &str {
        &self.name
    }

    async fn poll(&self, cursor: Option<&str>) -> Result<Poll, FeedError> {
        let istat = self.tenant.istat.clone();
        let unavailable = |e: StateError| FeedError::Unavailable(e.to_string());
        let mut progress: Progress = match cursor {
            None => Progress::default(),
            Some(text) => serde_json::from_str(text)
                .map_err(|e| FeedError::Invalid(format!("the feed's cursor is not its JSON: {e}")))?,
        };
        if !progress.finished.is_empty() {
            self.jobs
                .forget(&istat, &progress.finished)
                .await
                .map_err(unavailable)?;
            for job in std::mem::take(&mut progress.finished) {
                progress.done.remove(&job);
            }
        }
        let mut items = Vec::new();
        let mut gathered = 0usize;
        'jobs: for job_id in self.jobs.pending(&istat).await.map_err(unavailable)? {
            let Some(job) = self.jobs.job(&istat, job_id).await.map_err(unavailable)? else {
                continue;
            };
            let done = progress.done.entry(job_id).or_default();
            for (index, chunk) in job.chunks.iter().enumerate() {
                let index = index as u32;
                if done.contains_key(&index) {
                    continue;
                }
                if gathered >= POLL_BUDGET_BYTES {
                    // The rest on the next poll, right after this one's events are confirmed.
                    break 'jobs;
                }
                let Some(first) = self.fetch(&chunk.id_operazione_anpr, 1).await? else {
                    continue;
                };
                let mut pages = vec![first];
                let total = pages[0].page.map_or(1, |(_, of)| of);
                for page in 2..=total {
                    match self.fetch(&chunk.id_operazione_anpr, page).await? {
                        Some(p) => pages.push(p),
                        None => break,
                    }
                }
                let results: Vec<_> = pages.iter().flat_map(|p| bulk::results(index, p)).collect();
                for p in &pages {
                    items.extend(notification_items(&istat, p));
                }
                if results.is_empty() || pages.len() < total as usize {
                    // Answered, but without the files yet (or not every page): not done.
                    continue;
                }
                for (n, r) in results.iter().enumerate() {
                    gathered += r.content_base64.len();
                    let id = format!("{}:{}:{n}", r.id_operazione_anpr, r.page);
                    items.push(item(RESULT_EVENT, &istat, id, r));
                }
                done.insert(index, results.len() as u32);
            }
            if done.len() == job.chunks.len() {
                let completed = BulkLookupCompleted {
                    schema: SchemaV1,
                    chunks: job.chunks.len() as u32,
                    codici_fiscali: job.chunks.iter().map(|c| c.codici_fiscali).sum(),
                    result_files: done.values().sum(),
                };
                items.push(item(COMPLETED_EVENT, &istat, job_id.to_string(), &completed));
                progress.finished.push(job_id);
            }
        }
        Ok(Poll {
            items,
            next_cursor: serde_json::to_string(&progress).expect("progress always serializes"),
            more: gathered >= POLL_BUDGET_BYTES,
        })
    }
}

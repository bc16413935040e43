//! The asynchronous 4002 operations: accepted at once with an `idOperazioneANPR`, processed for a
//! while on the simulator clock (4005 answers EN108, then EN109, meanwhile: platform notes §1.7),
//! then ready with their result file and an N030 notification.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use snodo_mappings::anpr::bulk::Chunk;

/// One accepted 4002 request.
#[derive(Debug, Clone)]
pub struct BulkJob {
    /// The comune that asked: only it may poll the results.
    pub comune: String,
    pub chunk: Chunk,
    pub accepted_at: DateTime<Utc>,
    /// When 4005 starts answering with the results.
    pub ready_at: DateTime<Utc>,
    /// The `idOperazioneANPR` of the N030 notification that announces the results.
    pub notification_id: String,
}

/// Where a job stands at a given time.
pub enum JobState {
    /// No such operation for this comune.
    Unknown,
    /// Accepted, not started (the first half of its processing time).
    Waiting,
    /// Being processed (the second half).
    Working,
    Ready(BulkJob),
}

/// Every accepted job, by `idOperazioneANPR`.
#[derive(Default)]
pub struct BulkJobs {
    jobs: Mutex<HashMap<String, BulkJob>>,
}

impl BulkJobs {
    pub fn insert(&self, id: String, job: BulkJob) {
        self.jobs.lock().insert(id, job);
    }

    /// The job `id` of `comune` at `now`.
    pub fn state(&self, id: &str, comune: &str, now: DateTime<Utc>) -> JobState {
        let jobs = self.jobs.lock();
        let Some(job) = jobs.get(id).filter(|j| j.comune == comune) else {
            return JobState::Unknown;
        };
        if now >= job.ready_at {
            return JobState::Ready(job.clone());
        }
        if now < job.accepted_at + (job.ready_at - job.accepted_at) / 2 {
            return JobState::Waiting;
        }
        JobState::Working
    }

    pub fn get(&self, id: &str) -> Option<BulkJob> {
        self.jobs.lock().get(id).cloned()
    }

    pub fn clear(&self) {
        self.jobs.lock().clear();
    }
}

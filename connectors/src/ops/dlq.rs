//! Dead letters for operators: the indexer that drains every `snodo.<connector>.dead` queue into the
//! journal's index (see `journal` for why an index), and list, show, replay and purge over it — the
//! `/ops/dlq` API that `snodo ops dlq` and the `/ops` page use.
//!
//! Replay is safe by order: claim the entry (one operator wins), publish the command back to its
//! connector's command queue with a publisher confirm, and only then mark the entry replayed with who
//! and when. A failed publish releases the claim and changes nothing. The replayed command keeps its
//! `message_id` and `x-snodo-external-key` (DESIGN §4: the platform idempotency key of the first
//! attempt), and starts again from the first attempt without the broker's `x-death` history.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use snodo_queue::message::Message;
use snodo_queue::transport::{ConsumeOptions, Publish, SharedTransport};
use snodo_queue::{Names, envelope::HEADER_FAILED_AT};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::OpsState;
use crate::journal::{DeadLetter, DeadLetterFilter, JournalError, Replay, SharedDeadLetterIndex};

/// Ids of indexed dead letters derive from what identifies one parking of one message, so that a
/// message redelivered after its ack was lost is indexed once.
const INDEX_NAMESPACE: Uuid = Uuid::from_u128(0x6d1f_3b0c_9a4e_4c2b_8f51_2e7d_a0c4_9b13);

pub fn entry_id(queue: &str, message: &Message) -> String {
    let death_count = message
        .header("x-death")
        .and_then(|d| d.as_array())
        .and_then(|a| a.first())
        .and_then(|t| t.as_table())
        .and_then(|t| t.get("count"))
        .and_then(|c| c.as_i64())
        .unwrap_or(0);
    let key = format!(
        "{queue}\n{}\n{}\n{death_count}\n{}",
        message.properties.message_id.as_deref().unwrap_or("-"),
        message.header_str(HEADER_FAILED_AT).unwrap_or("-"),
        message.body.len()
    );
    Uuid::new_v5(&INDEX_NAMESPACE, key.as_bytes()).to_string()
}

/// Drains dead-letter queues into the index: stored first, acknowledged after, so that a crash in
/// between indexes the message again under the same id instead of losing it.
pub struct Indexer {
    pub transport: SharedTransport,
    pub index: SharedDeadLetterIndex,
    /// (connector, dead-letter queue).
    pub queues: Vec<(String, String)>,
}

impl Indexer {
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), String> {
        let mut tasks = tokio::task::JoinSet::new();
        for (connector, queue) in self.queues {
            let mut consumer = self
                .transport
                .consume(&queue, ConsumeOptions { prefetch: 16 })
                .await
                .map_err(|e| format!("the dead-letter indexer cannot consume {queue}: {e}"))?;
            let index = self.index.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move {
                loop {
                    let delivery = tokio::select! {
                        _ = stop.cancelled() => break,
                        d = consumer.next() => d,
                    };
                    let Some(delivery) = delivery else { break };
                    let id = entry_id(&queue, &delivery.message);
                    let entry = DeadLetter::from_message(id, &connector, &queue, &delivery.message);
                    match index.put(&entry).await {
                        Ok(()) => {
                            if let Err(e) = delivery.ack().await {
                                tracing::warn!(queue = %queue, error = %e, "Dead letter indexed but not acknowledged; it will be indexed again.");
                            }
                        }
                        Err(e) => {
                            // Dropped unsettled: the broker keeps it; the indexer tries again shortly.
                            tracing::warn!(queue = %queue, error = %e, "Dead letter not indexed; left in its queue.");
                            drop(delivery);
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the replay of {id} to {queue} was not confirmed by the broker: {reason}; nothing changed")]
    NotPublished {
        id: String,
        queue: String,
        reason: String,
    },
}

/// Replays one dead letter to its connector's command queue (see the module documentation).
pub async fn replay(
    transport: &SharedTransport,
    names: &Names,
    index: &SharedDeadLetterIndex,
    id: &str,
    by: &str,
) -> Result<Replay, ReplayError> {
    let entry = index.claim(id).await?;
    let queue = names.command_queue(&entry.connector);
    let publish = Publish::to_queue(queue.clone(), entry.replay_message());
    if let Err(e) = transport.publish(publish).await {
        index.release(id).await?;
        return Err(ReplayError::NotPublished {
            id: id.to_owned(),
            queue,
            reason: e.to_string(),
        });
    }
    let replay = Replay {
        by: by.to_owned(),
        at: Utc::now(),
        queue,
    };
    index.mark_replayed(id, replay.clone()).await?;
    tracing::info!(dead_letter = %id, by = %by, "Dead letter replayed.");
    Ok(replay)
}

/// Removes every entry matching `filter`; returns how many.
pub async fn purge(index: &SharedDeadLetterIndex, filter: &DeadLetterFilter) -> Result<u64, JournalError> {
    let mut n = 0;
    for e in index.list(filter).await? {
        if index.remove(&e.id).await? {
            n += 1;
        }
    }
    Ok(n)
}

// ------------------------------------------------------------------------------------ HTTP API

fn journal_error(e: &JournalError) -> Response {
    let code = match e {
        JournalError::NotFound(_) => StatusCode::NOT_FOUND,
        JournalError::AlreadyReplayed { .. } | JournalError::Busy(_) => StatusCode::CONFLICT,
        JournalError::Unavailable(_) | JournalError::Corrupt(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    (code, Json(serde_json::json!({"error": e.to_string()}))).into_response()
}

/// `GET /ops/dlq?connector=&type=&error_code=&message_id=&since=&until=&only_pending=`: summaries,
/// error texts masked, no bodies.
pub async fn list(State(state): State<Arc<OpsState>>, Query(filter): Query<DeadLetterFilter>) -> Response {
    match state.dead_letters.list(&filter).await {
        Ok(v) => Json(v.iter().map(DeadLetter::summary).collect::<Vec<_>>()).into_response(),
        Err(e) => journal_error(&e),
    }
}

/// `GET /ops/dlq/{id}`: the whole entry, body and headers included.
pub async fn show(State(state): State<Arc<OpsState>>, Path(id): Path<String>) -> Response {
    match state.dead_letters.get(&id).await {
        Ok(e) => Json(e).into_response(),
        Err(e) => journal_error(&e),
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Who replays, for the record (`snodo ops dlq replay` sends the user and host).
    pub by: String,
}

/// `POST /ops/dlq/{id}/replay` with `{"by": …}`.
pub async fn replay_handler(
    State(state): State<Arc<OpsState>>,
    Path(id): Path<String>,
    Json(request): Json<ReplayRequest>,
) -> Response {
    let by = request.by.trim();
    if by.is_empty() || by.len() > 200 {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "`by` must name who replays (1 to 200 characters)"})),
        )
            .into_response();
    }
    match replay(&state.transport, &state.names, &state.dead_letters, &id, by).await {
        Ok(r) => Json(r).into_response(),
        Err(ReplayError::Journal(e)) => journal_error(&e),
        Err(e @ ReplayError::NotPublished { .. }) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

/// `POST /ops/dlq/purge` with a filter as the body; answers `{"purged": n}`.
pub async fn purge_handler(
    State(state): State<Arc<OpsState>>,
    Json(filter): Json<DeadLetterFilter>,
) -> Response {
    match purge(&state.dead_letters, &filter).await {
        Ok(n) => Json(serde_json::json!({"purged": n})).into_response(),
        Err(e) => journal_error(&e),
    }
}

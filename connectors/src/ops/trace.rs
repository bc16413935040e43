//! The journal over HTTP, for `snodo ops trace`, `snodo ops erase` and the `/ops` page: the whole
//! story of a message id, correlation id or business id in time order; recent failures grouped by
//! code; and the erasure of one person's records — journal records and the dead letters of the same
//! commands — for a data subject's request (GDPR art. 17) or the end of an investigation.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::OpsState;
use crate::journal::{DeadLetterFilter, JournalError, TraceRecord};

fn error(e: &JournalError) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({"error": e.to_string()})),
    )
        .into_response()
}

/// `GET /ops/trace/{id}`: every record of the story, oldest first.
pub async fn trace(State(state): State<Arc<OpsState>>, Path(id): Path<String>) -> Response {
    let id = id.trim();
    if id.is_empty() || id.len() > 128 {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "give a message id, correlation id or business id (1 to 128 characters)"})),
        )
            .into_response();
    }
    match state.journal.trace(id).await {
        Ok(records) => Json(records).into_response(),
        Err(e) => error(&e),
    }
}

#[derive(Debug, Deserialize)]
pub struct FailuresQuery {
    /// How far back, in hours (default 24).
    pub hours: Option<u32>,
}

/// One group of recent failures.
#[derive(Debug, Serialize, PartialEq)]
pub struct FailureGroup {
    pub code: String,
    pub count: u64,
    pub last_at: chrono::DateTime<Utc>,
    /// The most recent failed commands of the group (message id, type, masked detail).
    pub recent: Vec<FailureExample>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct FailureExample {
    pub message_id: Option<String>,
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    pub platform_code: Option<String>,
    pub detail: Option<String>,
}

pub fn group_failures(records: &[TraceRecord]) -> Vec<FailureGroup> {
    let mut groups: BTreeMap<String, FailureGroup> = BTreeMap::new();
    for r in records {
        let code = r.outcome.clone().unwrap_or_else(|| "unknown".into());
        let g = groups.entry(code.clone()).or_insert_with(|| FailureGroup {
            code,
            count: 0,
            last_at: r.at,
            recent: Vec::new(),
        });
        g.count += 1;
        g.last_at = g.last_at.max(r.at);
        g.recent.push(FailureExample {
            message_id: r.message_id.clone(),
            message_type: r.message_type.clone(),
            platform_code: r.platform_code.clone(),
            detail: r.detail.clone(),
        });
    }
    let mut v: Vec<FailureGroup> = groups.into_values().collect();
    for g in &mut v {
        g.recent.reverse();
        g.recent.truncate(5);
    }
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(&b.code)));
    v
}

/// `GET /ops/failures?hours=24`: failed commands grouped by DESIGN §5 code, largest group first.
pub async fn failures(State(state): State<Arc<OpsState>>, Query(q): Query<FailuresQuery>) -> Response {
    let since = Utc::now() - chrono::Duration::hours(i64::from(q.hours.unwrap_or(24).min(24 * 90)));
    match state.journal.failures(since).await {
        Ok(records) => Json(group_failures(&records)).into_response(),
        Err(e) => error(&e),
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// The person's business id (codice fiscale, …), never logged.
    pub business_id: String,
    /// Who erases, for the log.
    pub by: String,
}

#[derive(Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Erased {
    pub records: u64,
    pub commands: u64,
    pub dead_letters: u64,
}

/// `POST /ops/journal/erase` with `{"business_id", "by"}`.
pub async fn erase(State(state): State<Arc<OpsState>>, Json(request): Json<EraseRequest>) -> Response {
    if request.business_id.trim().is_empty() || request.by.trim().is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "`business_id` and `by` are both needed"})),
        )
            .into_response();
    }
    let (records, message_ids) = match state.journal.erase(&request.business_id).await {
        Ok(v) => v,
        Err(e) => return error(&e),
    };
    let mut dead_letters = 0;
    for message_id in &message_ids {
        let filter = DeadLetterFilter {
            message_id: Some(message_id.clone()),
            ..Default::default()
        };
        match super::dlq::purge(&state.dead_letters, &filter).await {
            Ok(n) => dead_letters += n,
            Err(e) => return error(&e),
        }
    }
    let erased = Erased {
        records,
        commands: message_ids.len() as u64,
        dead_letters,
    };
    // The id itself is personal data: the log says who erased how much, not whom.
    tracing::info!(by = %request.by, records, commands = erased.commands, dead_letters,
        "One person's journal records erased.");
    Json(erased).into_response()
}

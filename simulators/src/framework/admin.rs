//! The admin API every simulator serves under `/admin/` (documented in the module doc of
//! [`super`]): faults, exchanges, clock, health and reset, JSON in and out, errors as
//! `{"error": "…"}` that say what was wrong with the call.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use super::clock::ClockChange;
use super::faults::{FaultRuleSpec, RuleError};
use super::recorder::ExchangeFilter;
use super::replies::json_error;
use super::{ClockError, Instance};

pub(super) fn router(instance: Arc<Instance>) -> Router {
    Router::new()
        .route("/admin/health", get(health))
        .route(
            "/admin/faults",
            get(list_faults).post(add_faults).delete(clear_faults),
        )
        .route("/admin/faults/{id}", delete(remove_fault))
        .route("/admin/exchanges", get(exchanges).delete(clear_exchanges))
        .route("/admin/clock", get(clock).post(set_clock))
        .route("/admin/reset", post(reset))
        .route("/admin", get(unknown).post(unknown).delete(unknown))
        .route(
            "/admin/{*rest}",
            get(unknown).post(unknown).delete(unknown).put(unknown),
        )
        .method_not_allowed_fallback(|uri: Uri| async move {
            json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "{} does not accept this method; see the admin API in the README",
                    uri.path()
                ),
            )
        })
        .with_state(instance)
}

type Shared = State<Arc<Instance>>;

fn json(status: StatusCode, value: serde_json::Value) -> Response {
    (status, axum::Json(value)).into_response()
}

async fn unknown(uri: Uri) -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        format!(
            "no admin endpoint {}: there are /admin/health, /admin/faults, /admin/exchanges, /admin/clock \
             and /admin/reset",
            uri.path()
        ),
    )
}

async fn health(State(instance): Shared) -> Response {
    json(
        StatusCode::OK,
        serde_json::json!({
            "status": "ok",
            "simulator": instance.simulator.name(),
            "now": instance.clock.now(),
            "uptime_ms": instance.started.elapsed().as_millis() as u64,
            "rules": instance.faults.list().len(),
            "exchanges": instance.recorder.query(&ExchangeFilter::default()).exchanges.len(),
        }),
    )
}

async fn list_faults(State(instance): Shared) -> Response {
    json(
        StatusCode::OK,
        serde_json::json!({ "rules": instance.faults.list() }),
    )
}

/// One rule object or an array of them.
async fn add_faults(State(instance): Shared, body: Bytes) -> Response {
    let parsed: Result<Vec<FaultRuleSpec>, serde_json::Error> = match serde_json::from_slice(&body) {
        Ok(serde_json::Value::Array(items)) => items.into_iter().map(serde_json::from_value).collect(),
        Ok(value) => serde_json::from_value(value).map(|rule| vec![rule]),
        Err(e) => Err(e),
    };
    let specs = match parsed {
        Ok(specs) if specs.is_empty() => {
            return json_error(StatusCode::BAD_REQUEST, "fault rule: the array holds no rule");
        }
        Ok(specs) => specs,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                format!("fault rule: not a valid rule or array of rules: {e}"),
            );
        }
    };
    match instance.faults.add(specs) {
        Ok(added) => json(StatusCode::CREATED, serde_json::json!({ "rules": added })),
        Err(e) => json_error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn clear_faults(State(instance): Shared) -> Response {
    instance.faults.clear();
    json(StatusCode::OK, serde_json::json!({ "rules": [] }))
}

async fn remove_fault(State(instance): Shared, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return json_error(
            StatusCode::BAD_REQUEST,
            format!("fault rule id {id:?} is not a number"),
        );
    };
    match instance.faults.remove(id) {
        Ok(()) => json(StatusCode::OK, serde_json::json!({ "removed": id })),
        Err(e @ RuleError::NotFound { .. }) => json_error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e) => json_error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExchangeQuery {
    operation: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
}

async fn exchanges(State(instance): Shared, uri: Uri) -> Response {
    let query = match Query::<ExchangeQuery>::try_from_uri(&uri) {
        Ok(Query(q)) => q,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                format!(
                    "exchanges: {} (parameters: operation, since, limit)",
                    e.body_text()
                ),
            );
        }
    };
    let since = match query.since.as_deref().map(DateTime::parse_from_rfc3339) {
        None => None,
        Some(Ok(t)) => Some(t.with_timezone(&Utc)),
        Some(Err(e)) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                format!("exchanges: since must be an RFC 3339 instant such as 2026-01-31T10:00:00Z: {e}"),
            );
        }
    };
    let page = instance.recorder.query(&ExchangeFilter {
        operation: query.operation,
        since,
        limit: query.limit,
    });
    json(
        StatusCode::OK,
        serde_json::to_value(page).expect("exchanges serialize"),
    )
}

async fn clear_exchanges(State(instance): Shared) -> Response {
    instance.recorder.clear();
    json(
        StatusCode::OK,
        serde_json::json!({ "exchanges": [], "dropped": 0 }),
    )
}

async fn clock(State(instance): Shared) -> Response {
    json(
        StatusCode::OK,
        serde_json::to_value(instance.clock.status()).expect("clock serializes"),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    set: Option<String>,
    offset_ms: Option<i64>,
    speed: Option<f64>,
    advance: Option<String>,
}

async fn set_clock(State(instance): Shared, body: Bytes) -> Response {
    let change: ClockBody = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                format!("clock: expected some of set, offset_ms, speed, advance: {e}"),
            );
        }
    };
    if change.set.is_none()
        && change.offset_ms.is_none()
        && change.speed.is_none()
        && change.advance.is_none()
    {
        return json_error(
            StatusCode::BAD_REQUEST,
            "clock: nothing to change; give set, offset_ms, speed or advance",
        );
    }
    // Parse everything before changing anything; the clock applies the change as one step.
    let set = match change.set.as_deref().map(DateTime::parse_from_rfc3339) {
        None => None,
        Some(Ok(t)) => Some(t.with_timezone(&Utc)),
        Some(Err(e)) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                format!("clock: set must be an RFC 3339 instant such as 2027-01-31T10:00:00Z: {e}"),
            );
        }
    };
    let advance = match change.advance.as_deref().map(humantime::parse_duration) {
        None => None,
        Some(Ok(d)) => match TimeDelta::from_std(d) {
            Ok(d) => Some(d),
            Err(_) => {
                return clock_error(ClockError::TooFar {
                    requested: format!("{d:?}"),
                });
            }
        },
        Some(Err(e)) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                format!("clock: advance must be a duration such as \"90s\", \"36h\" or \"30days\": {e}"),
            );
        }
    };
    let offset = match change.offset_ms.map(|ms| (ms, TimeDelta::try_milliseconds(ms))) {
        None => None,
        Some((_, Some(offset))) => Some(offset),
        Some((ms, None)) => {
            return clock_error(ClockError::TooFar {
                requested: format!("{ms} ms"),
            });
        }
    };
    let change = ClockChange {
        set,
        offset,
        speed: change.speed,
        advance,
    };
    match instance.clock.apply(&change) {
        Ok(()) => json(
            StatusCode::OK,
            serde_json::to_value(instance.clock.status()).expect("clock serializes"),
        ),
        Err(e) => clock_error(e),
    }
}

fn clock_error(e: ClockError) -> Response {
    json_error(StatusCode::BAD_REQUEST, format!("clock: {e}"))
}

async fn reset(State(instance): Shared) -> Response {
    instance.reset();
    json(
        StatusCode::OK,
        serde_json::json!({ "reset": true, "clock": instance.clock.status() }),
    )
}

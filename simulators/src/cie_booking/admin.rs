//! The booking simulator's own admin calls, under `/admin/cie_booking/` beside the framework's (and
//! like them neither faulted nor recorded): the changes the Ministry's side makes on its own, which
//! no SOAP operation can cause — closing an office for some days, an operator's cancellation, a
//! clearance refused (or granted early) by the comune of residence. Each appears in the change feed.
//!
//! | call | body | does |
//! |---|---|---|
//! | `POST /admin/cie_booking/closures` | `{"office_id", "from", "to"}` (dates) | closes the office; answers the bookings cancelled |
//! | `POST /admin/cie_booking/bookings/{code}/operator-cancellation` | — | `ANNULLAMENTO_OPERATORE` |
//! | `POST /admin/cie_booking/bookings/{code}/clearance` | `{"granted": false}` | `NULLA_OSTA_NEGATO` (`true`: `NULLA_OSTA_CONCESSO`) |

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::Deserialize;

use super::Shared;
use super::ministry::MinistryError;

/// The prefix of these calls.
pub const ADMIN_PREFIX: &str = "/admin/cie_booking";

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(&format!("{ADMIN_PREFIX}/closures"), post(close_office))
        .route(
            &format!("{ADMIN_PREFIX}/bookings/{{code}}/operator-cancellation"),
            post(cancel_as_operator),
        )
        .route(
            &format!("{ADMIN_PREFIX}/bookings/{{code}}/clearance"),
            post(decide_clearance),
        )
        .with_state(shared)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClosureBody {
    office_id: String,
    from: NaiveDate,
    to: NaiveDate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClearanceBody {
    granted: bool,
}

fn refused(error: MinistryError) -> Response {
    let status = match error {
        MinistryError::UnknownOffice(_) | MinistryError::UnknownBooking(_) => StatusCode::NOT_FOUND,
        MinistryError::EmptyRange { .. } => StatusCode::BAD_REQUEST,
        MinistryError::NotActive { .. } | MinistryError::NotAwaitingClearance { .. } => StatusCode::CONFLICT,
    };
    (status, Json(serde_json::json!({"error": error.to_string()}))).into_response()
}

/// The call's JSON body, whatever its content type (as the framework's admin calls read theirs,
/// so `curl -d` works), or the answer saying what is wrong with it.
fn read_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(
            (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": format!("not a valid body for this call: {e}")})),
            )
                .into_response(),
        )
    })
}

async fn close_office(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let body: ClosureBody = match read_body(&body) {
        Ok(body) => body,
        Err(answer) => return *answer,
    };
    match shared
        .engine
        .close_office(&body.office_id, body.from, body.to, shared.clock.now())
    {
        Ok(cancelled) => Json(serde_json::json!({
            "office_id": body.office_id, "from": body.from, "to": body.to, "cancelled": cancelled,
        }))
        .into_response(),
        Err(e) => refused(e),
    }
}

async fn cancel_as_operator(State(shared): State<Arc<Shared>>, Path(code): Path<String>) -> Response {
    match shared.engine.cancel_as_operator(&code, shared.clock.now()) {
        Ok(change) => Json(change).into_response(),
        Err(e) => refused(e),
    }
}

async fn decide_clearance(
    State(shared): State<Arc<Shared>>,
    Path(code): Path<String>,
    body: Bytes,
) -> Response {
    let body: ClearanceBody = match read_body(&body) {
        Ok(body) => body,
        Err(answer) => return *answer,
    };
    match shared
        .engine
        .decide_clearance(&code, body.granted, shared.clock.now())
    {
        Ok(change) => Json(change).into_response(),
        Err(e) => refused(e),
    }
}

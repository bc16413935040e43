//! The operations listener (DESIGN §6, default `http://127.0.0.1:9400`): liveness, readiness, metrics,
//! queue depths, and `POST /ops/send` for `snodo send` against an embedded-transport instance. It binds
//! to localhost by default; other routers (the demo backend's `/demo`) are merged in by the assembly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use snodo_queue::request::Requester;
use snodo_queue::runtime::ConnectorMetrics;
use snodo_queue::{Names, QueueStats, SharedTransport};
use tokio_util::sync::CancellationToken;

pub mod auth;
pub mod calls;
pub mod dlq;
pub mod health;
pub mod metrics;
pub mod page;
pub mod preflight;
pub mod send;
pub mod telemetry;
pub mod trace;

pub use calls::PlatformCall;
pub use telemetry::{SharedTelemetry, Telemetry};

use crate::state::SharedStore;

/// What the listener reports on.
pub struct OpsState {
    pub transport: SharedTransport,
    pub names: Names,
    pub queues: Vec<String>,
    pub connectors: Vec<(String, Arc<ConnectorMetrics>)>,
    pub requester: Arc<Requester>,
    pub topology_declared: AtomicBool,
    /// Set once every connector runtime was started; each runtime's own `consuming` flag says whether
    /// it still holds its consumer.
    pub consuming: AtomicBool,
    pub telemetry: SharedTelemetry,
    /// The coordination store, checked by `/readyz` (Redis reachable).
    pub store: SharedStore,
    /// The journal's index of dead letters (`/ops/dlq`).
    pub dead_letters: crate::journal::SharedDeadLetterIndex,
    /// Who may use `/ops` and `/ops/*` (see [`auth`]).
    pub access: auth::OpsAccess,
    /// The message journal (`/ops/trace`, `/ops/failures`, `/ops/journal/erase`).
    pub journal: Arc<crate::journal::Journal>,
}

pub fn router(state: Arc<OpsState>) -> Router {
    let access = state.access.clone();
    let login_access = access.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics_text))
        .route("/ops/queues", get(queues))
        .route("/ops/send", post(send_handler))
        .route("/ops/dlq", get(dlq::list))
        .route("/ops/dlq/purge", post(dlq::purge_handler))
        .route("/ops/dlq/{id}", get(dlq::show))
        .route("/ops/dlq/{id}/replay", post(dlq::replay_handler))
        .route("/ops", get(page::page))
        .route("/ops/trace/{id}", get(trace::trace))
        .route("/ops/failures", get(trace::failures))
        .route("/ops/journal/erase", post(trace::erase))
        .route(
            auth::LOGIN_PATH,
            post(move |body| auth::login(State(login_access.clone()), body)),
        )
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(access, auth::require_token))
}

/// Serves `router` on `addr` until `shutdown`.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        let result = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "The operations listener failed.");
        }
    });
    Ok(bound)
}

pub(crate) async fn queue_stats(state: &OpsState) -> Vec<(String, Option<QueueStats>)> {
    let mut out = Vec::with_capacity(state.queues.len());
    for q in &state.queues {
        out.push((q.clone(), state.transport.queue_stats(q).await.ok()));
    }
    out
}

async fn metrics_text(State(state): State<Arc<OpsState>>) -> Response {
    let queues = queue_stats(&state).await;
    let text = metrics::render(&metrics::Scrape {
        connectors: &state.connectors,
        queues: &queues,
        telemetry: &state.telemetry,
        journal: Some(&state.journal),
        now: std::time::SystemTime::now(),
    });
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

#[derive(Serialize)]
pub struct QueueRow {
    pub queue: String,
    pub messages: Option<u64>,
    pub consumers: Option<u32>,
}

async fn queues(State(state): State<Arc<OpsState>>) -> axum::Json<Vec<QueueRow>> {
    let rows = queue_stats(&state)
        .await
        .into_iter()
        .map(|(queue, s)| QueueRow {
            queue,
            messages: s.map(|s| s.messages),
            consumers: s.map(|s| s.consumers),
        })
        .collect();
    axum::Json(rows)
}

async fn send_handler(
    State(state): State<Arc<OpsState>>,
    body: Result<axum::Json<send::SendRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let axum::Json(request) = match body {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e.body_text()).into_response(),
    };
    match send::send_command(&state.requester, &state.names, request).await {
        Ok(outcome) => axum::Json(outcome).into_response(),
        Err(send::SendError::Invalid(e)) => (StatusCode::BAD_REQUEST, e).into_response(),
        Err(send::SendError::Timeout(t)) => {
            (StatusCode::GATEWAY_TIMEOUT, format!("no outcome within {t:?}")).into_response()
        }
        Err(send::SendError::Transport(e)) => (StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
    }
}

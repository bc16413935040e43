//! `/readyz`: whether this instance can do its work now — the broker connected and not blocking
//! publishers (a memory or disk alarm), the topology declared, the coordination store reachable, every
//! enabled connector holding its consumer — with a JSON body naming what is not ready, so that an
//! operator (or a load balancer's log) sees the reason and not only a 503.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::OpsState;

/// A readiness probe must answer quickly even when Redis hangs.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// A cursor nobody writes: reading it is the cheapest round trip the store offers.
const PROBE_CURSOR: &str = "ops.readiness-probe";

#[derive(Debug, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub transport: String,
    pub broker_connected: bool,
    pub broker_blocked: Option<String>,
    pub topology_declared: bool,
    /// `redis` or `in-process`.
    pub store: String,
    pub store_reachable: bool,
    pub connectors: Vec<ConnectorReadiness>,
    /// One sentence per problem; empty when ready.
    pub not_ready: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ConnectorReadiness {
    pub connector: String,
    pub consuming: bool,
}

pub async fn readiness(state: &OpsState) -> Readiness {
    let status = state.transport.status();
    let declared = state.topology_declared.load(Ordering::Relaxed);
    let started = state.consuming.load(Ordering::Relaxed);
    let mut not_ready = Vec::new();
    if !status.connected {
        not_ready.push("the broker is not connected".to_owned());
    }
    if let Some(reason) = &status.blocked {
        not_ready.push(format!("the broker blocks publishers: {reason}"));
    }
    if !declared {
        not_ready.push("the topology is not declared".to_owned());
    }
    let store_reachable =
        match tokio::time::timeout(STORE_CHECK_TIMEOUT, state.store.cursor(PROBE_CURSOR)).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                not_ready.push(format!("the {} store is not reachable: {e}", state.store.kind()));
                false
            }
            Err(_) => {
                not_ready.push(format!(
                    "the {} store did not answer within {STORE_CHECK_TIMEOUT:?}",
                    state.store.kind()
                ));
                false
            }
        };
    let connectors: Vec<ConnectorReadiness> = state
        .connectors
        .iter()
        .map(|(name, m)| ConnectorReadiness {
            connector: name.clone(),
            consuming: started && m.consuming.load(Ordering::Relaxed),
        })
        .collect();
    for c in connectors.iter().filter(|c| !c.consuming) {
        not_ready.push(format!("connector {} is not consuming", c.connector));
    }
    Readiness {
        ready: not_ready.is_empty(),
        transport: state.transport.kind().to_string(),
        broker_connected: status.connected,
        broker_blocked: status.blocked,
        topology_declared: declared,
        store: state.store.kind().to_owned(),
        store_reachable,
        connectors,
        not_ready,
    }
}

pub async fn readyz(State(state): State<Arc<OpsState>>) -> Response {
    let body = readiness(&state).await;
    let code = if body.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}
